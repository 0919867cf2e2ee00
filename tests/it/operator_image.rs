//! `prisn operator image`: the operator's image from prisn's own image code on a `prisn
//! base` base. Two builds by "two users" — another umask, time zone, build directory, home,
//! binary path, mode and mtime — give one digest; another binary gives another; the image
//! goes to a real registry under the same digest; bad input is named.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use prisn_testsupport::registry::{Registry, base_layout};

use crate::common::*;

/// A stand-in for the operator binary: the image code only sees bytes (the real binary goes
/// through the same path in tests/run.sh and runs as a pod in the node tests).
fn fake_binary(dir: &Path, mode: u32, seed: u8) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join("prisn-operator");
    let bytes: Vec<u8> = (0..1_500_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8 ^ seed)
        .collect();
    std::fs::write(&path, bytes).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path
}

/// `prisn operator image` under `umask` and `tz`, from `cwd`, with its own PRISN_HOME.
fn build(base: &Path, binary: &Path, out: &Path, umask: &str, tz: &str, cwd: &Path) -> String {
    let ctx = TestContext::new();
    let script = format!(
        "umask {umask} && exec \"$0\" --quiet operator image --base \"$1\" --binary \"$2\" --output \"$3\""
    );
    let out = Command::new("sh")
        .args(["-c", &script, env!("CARGO_BIN_EXE_prisn")])
        .arg(base)
        .arg(binary)
        .arg(out)
        .env("PRISN_HOME", ctx.home.path())
        .env("TZ", tz)
        .env_remove("SOURCE_DATE_EPOCH")
        .current_dir(cwd)
        .output()
        .unwrap();
    ok(&out).trim().to_string()
}

#[test]
fn two_users_builds_give_one_digest_and_another_binary_another() {
    let base = base_layout("bash").expect("the test bases (tests/run.sh)");
    let t = tempfile::tempdir().unwrap();
    let bin_a = fake_binary(&t.path().join("alice/target/release"), 0o755, 0);
    let bin_b = fake_binary(&t.path().join("bob/src/prisn/t/debug"), 0o700, 0);
    // Another mtime for Bob's copy.
    let old = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000_000);
    std::fs::File::options()
        .write(true)
        .open(&bin_b)
        .unwrap()
        .set_modified(old)
        .unwrap();

    let a = build(
        &base,
        &bin_a,
        &t.path().join("a-oci"),
        "022",
        "UTC",
        t.path(),
    );
    let b = build(
        &base,
        &bin_b,
        &t.path().join("bob/out-oci"),
        "077",
        "Pacific/Chatham",
        &t.path().join("bob"),
    );
    assert!(a.starts_with("sha256:"), "{a}");
    assert_eq!(a, b, "same base and binary, other user: same digest");
    assert_eq!(
        std::fs::read(t.path().join("a-oci/index.json")).unwrap(),
        std::fs::read(t.path().join("bob/out-oci/index.json")).unwrap()
    );

    let bin_c = fake_binary(&t.path().join("carol"), 0o755, 1);
    let c = build(
        &base,
        &bin_c,
        &t.path().join("c-oci"),
        "022",
        "UTC",
        t.path(),
    );
    assert_ne!(a, c, "another binary must give another digest");
}

#[test]
fn the_image_runs_the_binary_as_nonroot_and_pushes_under_the_same_digest() {
    let base = base_layout("bash").expect("the test bases (tests/run.sh)");
    let ctx = TestContext::new();
    let bin = fake_binary(&ctx.path("bin"), 0o755, 7);
    let layout = ctx.path("oci");
    let digest = ok(&ctx.run(&[
        "--quiet",
        "operator",
        "image",
        "--base",
        base.to_str().unwrap(),
        "--binary",
        bin.to_str().unwrap(),
        "--output",
        layout.to_str().unwrap(),
    ]));
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let m = &index["manifests"][0];
    assert_eq!(m["digest"].as_str(), Some(digest.trim()));
    assert_eq!(
        m["annotations"]["org.opencontainers.image.ref.name"].as_str(),
        Some("prisn-operator")
    );
    // What other tools see: skopeo reads the layout's config.
    let out = Command::new("skopeo")
        .args(["inspect", "--config"])
        .arg(format!("oci:{}:prisn-operator", layout.display()))
        .output()
        .unwrap();
    let cfg: serde_json::Value = serde_json::from_str(&ok(&out)).unwrap();
    assert_eq!(cfg["config"]["User"], "65532:65532");
    assert_eq!(
        cfg["config"]["Entrypoint"],
        serde_json::json!(["/usr/local/bin/prisn-operator"])
    );

    let registry = Registry::start().unwrap();
    let pushed = ok(&ctx.run(&[
        "--quiet",
        "operator",
        "image",
        "--base",
        base.to_str().unwrap(),
        "--binary",
        bin.to_str().unwrap(),
        "--image",
        &format!("{}/prisn-operator:0.1.0", registry.host()),
    ]));
    assert_eq!(
        pushed.trim(),
        format!("{}/prisn-operator@{}", registry.host(), digest.trim())
    );

    // Its SBOM, beside it in the layout and attached in the registry: the binary by its
    // sha256 and the base's Debian packages, the same document in both places.
    assert_eq!(
        index["manifests"][1]["artifactType"], "application/spdx+json",
        "{index}"
    );
    let doc = ok(&ctx.run(&["sbom", pushed.trim()]));
    crate::image_sbom::validate(doc.as_bytes(), ctx.work.path())
        .unwrap_or_else(|e| panic!("pyspdxtools: {e}"));
    let v: serde_json::Value = serde_json::from_str(&doc).unwrap();
    let sha = prisn_builder::digest::sha256_hex(&std::fs::read(&bin).unwrap());
    let binary = crate::image_sbom::packages(&v)
        .iter()
        .find(|p| {
            p["externalRefs"][0]["referenceLocator"]
                .as_str()
                .is_some_and(|l| l.starts_with("pkg:generic/prisn-operator@"))
        })
        .expect("the binary in the SBOM");
    assert_eq!(crate::image_sbom::sha256s(binary), [sha.as_str()]);
    assert!(
        crate::image_sbom::debs(&v)
            .iter()
            .any(|p| p["name"] == "dash"),
        "{doc}"
    );
    let from_layout = sbom_in_layout(&layout);
    assert_eq!(
        from_layout, doc,
        "one document in the layout and the registry"
    );

    // A base from before the label listed its packages: read from its layers, same list.
    let old_base = crate::image_common::base_layout_with_config("bash", |config| {
        let labels = config["config"]["Labels"].as_object_mut().unwrap();
        let mut info: serde_json::Value =
            serde_json::from_str(labels["io.prisn.base.info"].as_str().unwrap()).unwrap();
        assert!(info.as_object_mut().unwrap().remove("debs").is_some());
        labels.insert("io.prisn.base.info".into(), info.to_string().into());
    });
    let old = ctx.path("oci-old");
    ok(&ctx.run(&[
        "--quiet",
        "operator",
        "image",
        "--base",
        old_base.path().to_str().unwrap(),
        "--binary",
        bin.to_str().unwrap(),
        "--output",
        old.to_str().unwrap(),
    ]));
    let old_doc: serde_json::Value = serde_json::from_str(&sbom_in_layout(&old)).unwrap();
    let names = |v: &serde_json::Value| -> Vec<String> {
        crate::image_sbom::debs(v)
            .iter()
            .map(|p| format!("{} {}", p["name"], p["versionInfo"]))
            .collect()
    };
    assert_eq!(names(&old_doc), names(&v));
    assert!(
        old_doc["creationInfo"]["comment"]
            .as_str()
            .unwrap()
            .contains("/var/lib/dpkg/status"),
        "{old_doc}"
    );
}

/// The SBOM document an OCI layout holds beside its image (the artifact's one layer).
fn sbom_in_layout(layout: &Path) -> String {
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let blob = |d: &str| {
        layout
            .join("blobs/sha256")
            .join(d.trim_start_matches("sha256:"))
    };
    let art: serde_json::Value = serde_json::from_slice(
        &std::fs::read(blob(index["manifests"][1]["digest"].as_str().unwrap())).unwrap(),
    )
    .unwrap();
    std::fs::read_to_string(blob(art["layers"][0]["digest"].as_str().unwrap())).unwrap()
}

#[test]
fn a_missing_base_or_binary_is_named() {
    let ctx = TestContext::new();
    let bin = fake_binary(&ctx.path("bin"), 0o755, 0);
    let err = fails(&ctx.run(&[
        "operator",
        "image",
        "--base",
        ctx.path("no-such-base").to_str().unwrap(),
        "--binary",
        bin.to_str().unwrap(),
        "--output",
        ctx.path("oci").to_str().unwrap(),
    ]));
    assert!(err.contains("no-such-base"), "{err}");
    let base = base_layout("bash").expect("the test bases (tests/run.sh)");
    let err = fails(&ctx.run(&[
        "operator",
        "image",
        "--base",
        base.to_str().unwrap(),
        "--binary",
        ctx.path("nope").to_str().unwrap(),
        "--output",
        ctx.path("oci").to_str().unwrap(),
    ]));
    assert!(err.contains("nope"), "{err}");
    assert!(!ctx.path("oci").exists(), "no half-written layout");
}

/// `kubectl apply -f operator/config/…` and `prisn operator manifests | kubectl apply -f -`
/// install the same objects: the committed files, CRDs first, are what the CLI prints.
#[test]
fn committed_manifests_are_what_prisn_operator_manifests_prints() {
    let ctx = TestContext::new();
    let printed = ok(&ctx.run(&[
        "operator",
        "manifests",
        "--image",
        prisn_api::manifests::DEFAULT_IMAGE,
    ]));
    let config = repo_root().join("operator/config");
    let mut files: Vec<PathBuf> = std::fs::read_dir(config.join("crd/bases"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort_by_key(|p| {
        // The CLI's order: apps, jobs, cronjobs.
        ["prisnapps", "prisnjobs", "prisncronjobs"]
            .iter()
            .position(|k| p.to_string_lossy().contains(&format!("_{k}.")))
            .unwrap_or(usize::MAX)
    });
    files.push(config.join("manager/manager.yaml"));
    let docs = |text: &str| -> Vec<String> {
        text.split("\n---\n")
            .map(|d| {
                d.lines()
                    .filter(|l| !l.starts_with('#'))
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .filter(|d| !d.trim().is_empty())
            .collect()
    };
    let committed: Vec<String> = files
        .iter()
        .flat_map(|f| docs(&std::fs::read_to_string(f).unwrap()))
        .collect();
    let printed = docs(&printed);
    assert_eq!(
        committed.len(),
        3 + 8,
        "3 CRDs and 8 manager objects committed"
    );
    assert_eq!(
        printed, committed,
        "operator/config/ differs from `prisn operator manifests --image prisn-operator:latest`; run `cargo run -p prisn-operator --bin crdgen -- --write`"
    );
}

/// `prisn version` and `prisn --version`: the version, the git revision this binary was built
/// from (the checkout's HEAD when the tests build it in one) and what it knows of the
/// operator image.
#[test]
fn version_names_the_version_the_git_revision_and_the_operator_image() {
    let ctx = TestContext::new();
    let text = ok(&ctx.run(&["version"]));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines.first().copied(),
        Some(format!("prisn {}", env!("CARGO_PKG_VERSION")).as_str()),
        "{text}"
    );
    let rev = lines
        .iter()
        .find_map(|l| l.strip_prefix("git revision: "))
        .unwrap_or_else(|| panic!("no git revision line: {text}"));
    let head = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(repo_root())
        .output()
        .unwrap();
    if head.status.success() {
        // The binary may be older than HEAD only if cargo did not rebuild it after a commit:
        // build.rs watches HEAD, so it is not.
        assert_eq!(rev, stdout(&head).trim(), "{text}");
    } else {
        assert!(rev.starts_with("unknown"), "{text}");
    }
    let op = lines
        .iter()
        .find_map(|l| l.strip_prefix("operator image: "))
        .unwrap_or_else(|| panic!("no operator image line: {text}"));
    assert!(
        op.contains("@sha256:") || op.starts_with("not recorded"),
        "{text}"
    );
    assert_eq!(
        ok(&ctx.run(&["--version"])),
        text,
        "--version says the same"
    );
}

/// `prisn operator install` refuses, before touching any cluster, an image that is not
/// pinned by digest and a call that names no image at all (this build records none).
#[test]
fn install_refuses_an_unpinned_image_or_none() {
    let ctx = TestContext::new();
    let out = ctx
        .prisn()
        .env("KUBECONFIG", ctx.path("no-such-kubeconfig"))
        .args([
            "operator",
            "install",
            "--image",
            "registry.example/prisn-operator:latest",
        ])
        .output()
        .unwrap();
    let err = fails(&out);
    assert!(err.contains("not pinned by digest"), "{err}");
    let out = ctx.run(&["operator", "install"]);
    let err = fails(&out);
    if !prisn::version::OPERATOR_IMAGE.contains("@sha256:") {
        assert!(
            err.contains("--base DIR") && err.contains("not recorded"),
            "{err}"
        );
    }
}

/// build.rs, run as cargo runs it: the revision of the checkout it builds, `unknown` outside
/// one (a tarball) — also when that tarball sits inside some other git repository — and
/// `PRISN_GIT_REVISION` when a packager sets it.
#[test]
fn build_script_records_the_revision_or_says_unknown() {
    let t = tempfile::tempdir().unwrap();
    let exe = t.path().join("build-script");
    let out = Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
        .args(["--edition", "2024", "-O", "-o"])
        .arg(&exe)
        .arg(repo_root().join("build.rs"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let run = |dir: &Path, rev: Option<&str>| -> String {
        let mut c = Command::new(&exe);
        c.env("CARGO_MANIFEST_DIR", dir)
            .env_remove("PRISN_OPERATOR_IMAGE");
        match rev {
            Some(r) => c.env("PRISN_GIT_REVISION", r),
            None => c.env_remove("PRISN_GIT_REVISION"),
        };
        let out = c.output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out)
    };
    let tarball = t.path().join("prisn-0.1.0");
    std::fs::create_dir_all(&tarball).unwrap();
    let said = run(&tarball, None);
    assert!(
        said.contains("PRISN_GIT_REVISION=unknown (built outside a git checkout"),
        "{said}"
    );
    assert!(
        said.contains("PRISN_BUILD_OPERATOR_IMAGE=not recorded"),
        "{said}"
    );
    // Inside another repository: still not that repository's revision.
    let outer = t.path().join("outer");
    let inner = outer.join("vendor/prisn");
    std::fs::create_dir_all(&inner).unwrap();
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .args([
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@t",
                "-c",
                "commit.gpgsign=false",
            ])
            .args(args)
            .current_dir(&outer)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out)
    };
    git(&["init", "-q"]);
    git(&["commit", "-q", "--allow-empty", "-m", "outer"]);
    let outer_rev = git(&["rev-parse", "HEAD"]);
    let said = run(&inner, None);
    assert!(!said.contains(outer_rev.trim()), "{said}");
    assert!(said.contains("PRISN_GIT_REVISION=unknown"), "{said}");
    // The repository's own root: its HEAD.
    let said = run(&outer, None);
    assert!(
        said.contains(&format!("PRISN_GIT_REVISION={}", outer_rev.trim())),
        "{said}"
    );
    let said = run(&tarball, Some("v0.1.0-nix"));
    assert!(said.contains("PRISN_GIT_REVISION=v0.1.0-nix\n"), "{said}");
}
