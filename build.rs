//! Records what `prisn version` prints about this build: the git revision (from `git`, else
//! `PRISN_GIT_REVISION` as a packager sets it for a tarball or a Nix build, else "unknown")
//! and the operator image the release was built with (`PRISN_OPERATOR_IMAGE`, set by whoever
//! built and pushed that image first; else "not recorded"). Never fails the build.

use std::path::Path;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
}

fn main() {
    println!("cargo:rerun-if-env-changed=PRISN_GIT_REVISION");
    println!("cargo:rerun-if-env-changed=PRISN_OPERATOR_IMAGE");
    let from_env = std::env::var("PRISN_GIT_REVISION")
        .ok()
        .filter(|s| !s.is_empty());
    // Only this checkout's own git: a tarball unpacked inside some other repository must
    // not report that repository's revision.
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
    let ours = git(&["-C", &manifest_dir, "rev-parse", "--show-toplevel"])
        .is_some_and(|top| Path::new(&top) == Path::new(&manifest_dir));
    let revision = match (from_env, ours) {
        (Some(r), _) => r,
        (None, true) => {
            // Rebuild when HEAD moves (a commit, a checkout).
            for p in ["HEAD", "packed-refs"] {
                if let Some(path) = git(&["-C", &manifest_dir, "rev-parse", "--git-path", p]) {
                    println!(
                        "cargo:rerun-if-changed={}",
                        Path::new(&manifest_dir).join(path).display()
                    );
                }
            }
            if let Some(r) = git(&["-C", &manifest_dir, "symbolic-ref", "-q", "HEAD"])
                .and_then(|r| git(&["-C", &manifest_dir, "rev-parse", "--git-path", &r]))
            {
                println!(
                    "cargo:rerun-if-changed={}",
                    Path::new(&manifest_dir).join(r).display()
                );
            }
            git(&["-C", &manifest_dir, "rev-parse", "HEAD"])
                .unwrap_or_else(|| "unknown (git rev-parse failed)".into())
        }
        (None, false) => "unknown (built outside a git checkout; set PRISN_GIT_REVISION)".into(),
    };
    let operator = std::env::var("PRISN_OPERATOR_IMAGE")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| {
            "not recorded (this build was not given PRISN_OPERATOR_IMAGE; `prisn operator image` prints the digest for a binary)".into()
        });
    println!("cargo:rustc-env=PRISN_GIT_REVISION={revision}");
    println!("cargo:rustc-env=PRISN_BUILD_OPERATOR_IMAGE={operator}");
}
