//! Helpers for the image tests: a registry with the test base images pushed, and running an
//! image for real (skopeo copy → umoci unpack → runc run).

#![allow(dead_code)]

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use prisn_testsupport::registry::{Registry, base_layout};
use serde_json::Value;

use crate::common::*;

/// The test base for a runtime, as tests/run.sh names it (`prisn base NAME`).
pub fn base_name(runtime: &str) -> &'static str {
    match runtime {
        "python3" => "python3",
        "node" => "node",
        _ => "bash",
    }
}

/// A plain registry with the base for `runtime` pushed as `base/<name>:test`.
/// Returns the registry and the base reference.
pub fn registry_with_base(runtime: &str) -> (Registry, String) {
    let reg = Registry::start().expect("docker-registry starts");
    let base = push_base(&reg, runtime);
    (reg, base)
}

pub fn push_base(reg: &Registry, runtime: &str) -> String {
    let name = base_name(runtime);
    let layout = base_layout(name).expect("base images are built (tests/run.sh: prisn base)");
    reg.push_layout(&layout, name, &format!("base/{name}:test"))
        .expect("skopeo pushes the base")
}

/// A copy of the test base `name`'s layout (blobs linked, not copied) whose image config
/// `edit` has changed: a base as another tool or an older prisn would have made it.
pub fn base_layout_with_config(name: &str, edit: impl FnOnce(&mut Value)) -> tempfile::TempDir {
    let from = base_layout(name).unwrap();
    let to = tempfile::tempdir().unwrap();
    let (src, dst) = (from.join("blobs/sha256"), to.path().join("blobs/sha256"));
    std::fs::create_dir_all(&dst).unwrap();
    for e in std::fs::read_dir(&src).unwrap() {
        let e = e.unwrap();
        std::os::unix::fs::symlink(e.path(), dst.join(e.file_name())).unwrap();
    }
    std::fs::copy(from.join("oci-layout"), to.path().join("oci-layout")).unwrap();
    let read = |d: &str| -> Value {
        serde_json::from_slice(&std::fs::read(src.join(d.trim_start_matches("sha256:"))).unwrap())
            .unwrap()
    };
    let write = |v: &Value| {
        let bytes = serde_json::to_vec(v).unwrap();
        let digest = format!("sha256:{}", prisn_builder::digest::sha256_hex(&bytes));
        let path = dst.join(&digest[7..]);
        let _ = std::fs::remove_file(&path);
        std::fs::write(&path, &bytes).unwrap();
        (digest, bytes.len())
    };
    let mut index: Value =
        serde_json::from_slice(&std::fs::read(from.join("index.json")).unwrap()).unwrap();
    // The base alone (a layout may hold its SBOM beside it).
    index["manifests"].as_array_mut().unwrap().truncate(1);
    let mut manifest = read(index["manifests"][0]["digest"].as_str().unwrap());
    let mut config = read(manifest["config"]["digest"].as_str().unwrap());
    edit(&mut config);
    let (digest, size) = write(&config);
    manifest["config"]["digest"] = digest.into();
    manifest["config"]["size"] = size.into();
    let (digest, size) = write(&manifest);
    index["manifests"][0]["digest"] = digest.into();
    index["manifests"][0]["size"] = size.into();
    std::fs::write(
        to.path().join("index.json"),
        serde_json::to_vec(&index).unwrap(),
    )
    .unwrap();
    to
}

/// The single stdout line `HOST/REPO@sha256:…`, checked for shape; returns it.
#[track_caller]
pub fn image_line(out: &std::process::Output, host: &str) -> String {
    let text = ok(out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "stdout must be exactly one line: {text:?}");
    let line = lines[0].to_string();
    let (name, digest) = line.split_once("@sha256:").expect("REF@sha256:…");
    assert!(name.starts_with(&format!("{host}/")), "{line}");
    assert_eq!(digest.len(), 64, "{line}");
    line
}

pub fn digest_of(reference: &str) -> String {
    reference
        .split_once('@')
        .map(|(_, d)| d.to_string())
        .expect("a pinned reference")
}

/// `skopeo inspect --raw`: the manifest as the registry serves it, and its sha256.
pub fn raw_manifest(reg: &Registry, reference: &str) -> (Value, String) {
    let mut cmd = Command::new("skopeo");
    cmd.args(["inspect", "--raw"]);
    match reg.tls_files() {
        Some(t) => {
            cmd.arg(format!(
                "--cert-dir={}",
                t.cert_dir.join(reg.host()).display()
            ))
            .arg(format!(
                "--creds={}:{}",
                prisn_testsupport::registry::USER,
                prisn_testsupport::registry::PASSWORD
            ));
        }
        None => {
            cmd.arg("--tls-verify=false");
        }
    }
    let out = cmd.arg(format!("docker://{reference}")).output().unwrap();
    assert!(out.status.success(), "skopeo inspect: {}", stderr(&out));
    let digest = format!("sha256:{}", prisn_builder::digest::sha256_hex(&out.stdout));
    (serde_json::from_slice(&out.stdout).unwrap(), digest)
}

static CONTAINERS: AtomicUsize = AtomicUsize::new(0);

/// Unpack `reference` with skopeo + umoci and run it with runc. `args` replaces the image's
/// entrypoint when given. Returns (exit code, stdout, stderr).
pub fn run_image(reg: &Registry, reference: &str, args: Option<&[&str]>) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    reg.pull_to_layout(reference, &dir.path().join("oci"), "img")
        .expect("skopeo copies the image into a layout");
    run_layout(&dir.path().join("oci"), "img", args)
}

/// Run image `name` of an OCI layout with runc.
pub fn run_layout(layout: &Path, name: &str, args: Option<&[&str]>) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("bundle");
    let out = Command::new("umoci")
        .args(["unpack", "--image"])
        .arg(format!("{}:{name}", layout.display()))
        .arg(&bundle)
        .output()
        .expect("umoci runs");
    assert!(out.status.success(), "umoci unpack: {}", stderr(&out));
    let config_path = bundle.join("config.json");
    let mut config: Value = serde_json::from_slice(&std::fs::read(&config_path).unwrap()).unwrap();
    config["process"]["terminal"] = Value::Bool(false);
    if let Some(a) = args {
        config["process"]["args"] = serde_json::json!(a);
    }
    std::fs::write(&config_path, serde_json::to_vec(&config).unwrap()).unwrap();
    let id = format!(
        "prisn-it-{}-{}",
        std::process::id(),
        CONTAINERS.fetch_add(1, Ordering::SeqCst)
    );
    let out = Command::new("runc")
        .args(["run", "--bundle"])
        .arg(&bundle)
        .arg(&id)
        .output()
        .expect("runc runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `prisn build SCRIPT --image HOST/REPO --base BASE [extra…]`.
pub fn build_image(
    t: &TestContext,
    script: &str,
    image: &str,
    base: &str,
    extra: &[&str],
) -> std::process::Output {
    let mut args = vec!["build", script, "--image", image, "--base", base];
    args.extend_from_slice(extra);
    t.run(&args)
}

/// The push record of `-o json`.
pub fn push_record(out: &std::process::Output) -> Value {
    let v: Value = serde_json::from_str(&ok(out)).expect("-o json prints JSON");
    v["push"].clone()
}

/// What the test base `python3` (`prisn base python3` in tests/run.sh, from Debian's
/// bookworm archive) really ships, asked of the base itself: its `python3` run with runc.
#[derive(Debug, Clone)]
pub struct BaseFacts {
    pub python: PythonVersion,
    /// glibc `major.minor`, e.g. `2.36`.
    pub glibc: String,
}

impl BaseFacts {
    /// uv's platform for packages that run on this base: `x86_64-manylinux_2_36`. uv knows
    /// manylinux tags up to 2_40, and a newer glibc runs those wheels, so it stops there.
    pub fn manylinux(&self) -> String {
        let minor: u32 = self
            .glibc
            .strip_prefix("2.")
            .and_then(|m| m.parse().ok())
            .unwrap_or_else(|| panic!("not a glibc 2.x: {}", self.glibc));
        format!("{}-manylinux_2_{}", std::env::consts::ARCH, minor.min(40))
    }
}

pub fn python_base_facts() -> BaseFacts {
    static FACTS: std::sync::OnceLock<BaseFacts> = std::sync::OnceLock::new();
    FACTS
        .get_or_init(|| {
            let layout =
                base_layout("python3").expect("base images are built (tests/run.sh: prisn base)");
            let (code, out, err) = run_layout(
                &layout,
                "python3",
                Some(&[
                    "python3",
                    "-c",
                    "import platform, sys; print('%d.%d' % sys.version_info[:2], platform.libc_ver()[1])",
                ]),
            );
            assert_eq!(code, 0, "python3 in the base: {err}");
            let (python, glibc) = out
                .trim()
                .split_once(' ')
                .unwrap_or_else(|| panic!("python3 in the base printed {out:?}"));
            BaseFacts {
                python: PythonVersion::parse(python),
                glibc: glibc.to_string(),
            }
        })
        .clone()
}
