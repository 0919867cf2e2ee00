//! `prisn base` against Debian's real archive (reached through the package registry
//! access): the python3 base runs under runc as the nonroot user, one base.lock gives one
//! digest from two empty caches, and a local mirror copy with a tampered InRelease or a
//! `.deb` that does not match its sha256 is refused with errors that name the file.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;

use prisn_testsupport::registry::Registry;
use serde_json::Value;

use crate::common::*;

const ARCHIVE: &str = "http://deb.debian.org/debian";

/// The config of the only image in an OCI layout.
fn layout_config(dir: &Path) -> Value {
    let index: Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    let blob = |d: &str| {
        dir.join("blobs/sha256")
            .join(d.trim_start_matches("sha256:"))
    };
    let m: Value = serde_json::from_slice(
        &std::fs::read(blob(index["manifests"][0]["digest"].as_str().unwrap())).unwrap(),
    )
    .unwrap();
    serde_json::from_slice(&std::fs::read(blob(m["config"]["digest"].as_str().unwrap())).unwrap())
        .unwrap()
}

/// Unpack image `name` of `layout` with umoci and run `args` in it with runc as
/// uid/gid 65532 (HOME from /etc/passwd's nonroot entry). Returns (exit code, stdout, stderr).
fn run_as_nonroot(layout: &Path, name: &str, args: &[&str]) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("bundle");
    let out = Command::new("umoci")
        .args(["unpack", "--image"])
        .arg(format!("{}:{name}", layout.display()))
        .arg(&bundle)
        .output()
        .expect("umoci runs");
    assert!(out.status.success(), "umoci unpack: {}", stderr(&out));
    let passwd = std::fs::read_to_string(bundle.join("rootfs/etc/passwd")).unwrap();
    let home = passwd
        .lines()
        .find_map(|l| l.strip_prefix("nonroot:x:65532:65532:nonroot:"))
        .and_then(|rest| rest.split(':').next())
        .expect("a nonroot user 65532 in /etc/passwd")
        .to_string();
    let path = bundle.join("config.json");
    let mut config: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    config["process"]["terminal"] = Value::Bool(false);
    config["process"]["user"] = serde_json::json!({"uid": 65532, "gid": 65532});
    config["process"]["args"] = serde_json::json!(args);
    let env = config["process"]["env"].as_array_mut().unwrap();
    env.retain(|e| !e.as_str().unwrap_or("").starts_with("HOME="));
    env.push(Value::String(format!("HOME={home}")));
    std::fs::write(&path, serde_json::to_vec(&config).unwrap()).unwrap();
    let id = format!("prisn-it-base-{}-{}", std::process::id(), name);
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

const CHECK: &str = "import os, ssl, zoneinfo, sqlite3, pathlib
stats = ssl.create_default_context().cert_store_stats()
assert stats['x509_ca'] > 100, stats
zoneinfo.ZoneInfo('Europe/Paris')
pathlib.Path(os.path.expanduser('~/written')).write_text('home')
pathlib.Path('/tmp/written').write_text('tmp')
print('uid', os.getuid(), 'gid', os.getgid(), 'home', os.path.expanduser('~'))";

#[test]
fn python3_base_runs_as_nonroot_and_one_lock_gives_one_digest_anywhere() {
    let a = TestContext::new();
    let digest = ok(&a.run(&["base", "python3", "--output", "layout"]))
        .trim()
        .to_string();
    assert!(
        digest.starts_with("sha256:") && digest.len() == 71,
        "{digest}"
    );
    let lock = std::fs::read_to_string(a.path("base.lock")).unwrap();
    for field in [
        "[base.python3.archive]",
        "in-release = \"sha256:",
        "name = \"python3\"",
        "filename = \"pool/main/",
    ] {
        assert!(lock.contains(field), "base.lock lacks {field}:\n{lock}");
    }

    // Runs as the nonroot user: CA roots, tzdata, a writable home and /tmp, /usr/bin/env.
    let (code, out, err) = run_as_nonroot(
        &a.path("layout"),
        "python3",
        &["/usr/bin/env", "python3", "-c", CHECK],
    );
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    assert_eq!(out.trim(), "uid 65532 gid 65532 home /home/nonroot");

    let cfg = layout_config(&a.path("layout"));
    assert_eq!(cfg["config"]["Cmd"], serde_json::json!(["python3"]));
    assert!(
        cfg["config"]["Env"][0]
            .as_str()
            .unwrap()
            .starts_with("PATH=/usr/local/sbin:")
    );
    let labels = &cfg["config"]["Labels"];
    assert_eq!(labels["io.prisn.base.runtime"], "python3");
    assert!(
        labels["io.prisn.base.runtime-version"]
            .as_str()
            .unwrap()
            .starts_with("3."),
        "{labels}"
    );
    assert_eq!(cfg["created"], "1970-01-01T00:00:00Z");
    // What `prisn build` reads from a base instead of scanning its layer, checked against
    // what the lock says of the packages: Python's minor version, glibc's, the interpreter.
    let info: Value = serde_json::from_str(labels["io.prisn.base.info"].as_str().unwrap()).unwrap();
    let minor = |v: &str| v.split(['.', '-']).take(2).collect::<Vec<_>>().join(".");
    let libc6 = lock
        .split("name = \"libc6\"\nversion = \"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("libc6 in base.lock");
    // And the installed Debian packages, which the SBOM of an image on the base lists
    // without reading its layer: every package base.lock pins.
    let parsed: toml::Value = toml::from_str(&lock).unwrap();
    let pins = parsed["base"]["python3"]["package"].as_array().unwrap();
    let mut debs: Vec<Value> = pins
        .iter()
        .map(|p| {
            serde_json::json!({
                "name": p["name"].as_str().unwrap(),
                "version": p["version"].as_str().unwrap(),
                "architecture": p["architecture"].as_str().unwrap(),
            })
        })
        .collect();
    let key =
        |v: &Value| ["name", "version", "architecture"].map(|k| v[k].as_str().unwrap().to_string());
    debs.sort_by_key(key);
    assert_eq!(
        info,
        serde_json::json!({
            "diff_ids": cfg["rootfs"]["diff_ids"],
            "python": minor(labels["io.prisn.base.runtime-version"].as_str().unwrap()),
            "libc": "glibc",
            "libc_version": minor(libc6),
            "interpreter": "/usr/bin/python3",
            "debs": debs,
        }),
        "{labels}"
    );
    // The base's own SBOM sits beside it in the layout (the base stays the first image).
    let index: Value =
        serde_json::from_slice(&std::fs::read(a.path("layout/index.json")).unwrap()).unwrap();
    assert_eq!(
        index["manifests"][1]["artifactType"], "application/spdx+json",
        "{index}"
    );

    // Another machine: an empty cache, the same lock, --locked → the same digest.
    let b = TestContext::new();
    std::fs::write(b.path("base.lock"), &lock).unwrap();
    let again = ok(&b.run(&["base", "python3", "--locked", "--output", "layout"]));
    assert_eq!(
        again.trim(),
        digest,
        "same lock, same digest from an empty cache"
    );
    assert_eq!(
        std::fs::read_to_string(b.path("base.lock")).unwrap(),
        lock,
        "--locked leaves base.lock alone"
    );

    // Warm: nothing to fetch or unpack, pushed to a real registry, same digest.
    let reg = Registry::start().expect("docker-registry starts");
    let target = format!("{}/base/python3:test", reg.host());
    let json = ok(&a.run(&["base", "python3", "--image", &target, "-o", "json"]));
    let record: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(record["cached"], true, "{record}");
    assert_eq!(record["digest"], digest.as_str());
    assert!(
        record["reference"].as_str().unwrap().ends_with(&digest),
        "{record}"
    );
    // Pushed with its SBOM: every pinned package, with the sha256 base.lock pins for it.
    assert!(
        record["sbom"].as_str().unwrap().starts_with("sha256:"),
        "{record}"
    );
    let doc = ok(&a.run(&["sbom", &target]));
    crate::image_sbom::validate(doc.as_bytes(), a.work.path())
        .unwrap_or_else(|e| panic!("pyspdxtools: {e}"));
    let doc: Value = serde_json::from_str(&doc).unwrap();
    let listed = crate::image_sbom::debs(&doc);
    assert_eq!(listed.len(), pins.len(), "every pinned package, no other");
    let pin = pins
        .iter()
        .find(|p| p["name"].as_str() == Some("libc6"))
        .unwrap();
    let sbom_libc = listed.iter().find(|p| p["name"] == "libc6").unwrap();
    assert_eq!(sbom_libc["versionInfo"].as_str(), pin["version"].as_str());
    assert_eq!(
        sbom_libc["checksums"][0]["checksumValue"].as_str(),
        pin["sha256"].as_str(),
        "{sbom_libc}"
    );
    assert_eq!(doc["documentDescribes"][0], "SPDXRef-Image");
    let image = doc["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["SPDXID"] == "SPDXRef-Image")
        .unwrap();
    assert_eq!(image["versionInfo"].as_str(), Some(digest.as_str()));

    // --frozen builds a stale lock as it is (here: from the warm cache, no index needed).
    let frozen = ok(&a.run(&[
        "base",
        "python3",
        "--frozen",
        "--packages",
        "python3",
        "--output",
        "frozen",
    ]));
    assert_eq!(
        frozen.trim(),
        digest,
        "--frozen ignores the changed request"
    );

    // A request that differs from the lock: --locked refuses and says why.
    let err = fails(&b.run(&[
        "base",
        "python3",
        "--locked",
        "--packages",
        "python3,tzdata",
        "--output",
        "other",
    ]));
    assert!(
        err.contains("base.lock is stale for base python3") && err.contains("packages were"),
        "{err}"
    );
    assert!(!b.path("other").exists(), "nothing written after a refusal");
    let err = fails(&b.run(&["base", "node", "--locked", "--output", "other"]));
    assert!(err.contains("no section for base node"), "{err}");
}

/// A static HTTP server on 127.0.0.1 serving `files` (URL path → bytes); every other path
/// under `/debian/pool/` gets `garbage` (a mirror that serves a changed .deb). Returns the
/// mirror URL.
fn serve(files: Vec<(String, Vec<u8>)>, garbage: Option<Vec<u8>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut req = Vec::new();
            let mut buf = [0u8; 4096];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") && req.len() < 65536 {
                match conn.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => req.extend_from_slice(&buf[..n]),
                }
            }
            let line = String::from_utf8_lossy(&req)
                .lines()
                .next()
                .unwrap_or("")
                .to_string();
            let path = line.split(' ').nth(1).unwrap_or("").to_string();
            let body = files
                .iter()
                .find(|(p, _)| *p == path)
                .map(|(_, b)| b.clone())
                .or_else(|| {
                    garbage
                        .clone()
                        .filter(|_| path.starts_with("/debian/pool/"))
                });
            let head = match &body {
                Some(b) => format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    b.len()
                ),
                None => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    .into(),
            };
            let _ = conn.write_all(head.as_bytes());
            if let Some(b) = body {
                let _ = conn.write_all(&b);
            }
        }
    });
    format!("http://{addr}/debian")
}

/// A file of the real archive, fetched with curl.
fn archive_file(path: &str) -> Vec<u8> {
    let out = Command::new("curl")
        .args(["-sSf", "--retry", "3"])
        .arg(format!("{ARCHIVE}/{path}"))
        .output()
        .expect("curl runs");
    assert!(
        out.status.success(),
        "curl {path}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn a_tampered_in_release_is_refused_and_names_it() {
    let mut in_release = archive_file("dists/bookworm/InRelease");
    // One byte of the signed text: "Codename: bookworm" → "Codename: bookwarm".
    let at = in_release
        .windows(18)
        .position(|w| w == b"Codename: bookworm")
        .expect("a Codename line");
    in_release[at + 15] = b'a';
    let mirror = serve(
        vec![("/debian/dists/bookworm/InRelease".into(), in_release)],
        None,
    );
    let t = TestContext::new();
    let err = fails(&t.run(&["base", "bash", "--mirror", &mirror, "--output", "layout"]));
    assert!(
        err.contains(&format!("{mirror}/dists/bookworm/InRelease")),
        "{err}"
    );
    assert!(
        err.contains("signature check failed") && err.contains("BAD signature"),
        "{err}"
    );
    assert!(
        !t.path("base.lock").exists() && !t.path("layout").exists(),
        "nothing written"
    );
}

#[test]
fn a_deb_with_a_wrong_sha256_is_refused_and_names_it() {
    let files = vec![
        (
            "/debian/dists/bookworm/InRelease".to_string(),
            archive_file("dists/bookworm/InRelease"),
        ),
        (
            "/debian/dists/bookworm/main/binary-amd64/Packages.xz".to_string(),
            archive_file("dists/bookworm/main/binary-amd64/Packages.xz"),
        ),
    ];
    let mirror = serve(
        files,
        Some(b"!<arch>\nnot the package the archive signed".to_vec()),
    );
    let t = TestContext::new();
    // base-files alone (its awk dependency excluded): one .deb, served changed.
    let err = fails(&t.run(&[
        "base",
        "bash",
        "--packages",
        "base-files",
        "--exclude",
        "awk",
        "--mirror",
        &mirror,
        "--output",
        "layout",
    ]));
    assert!(
        err.contains("pool/main/b/base-files/base-files_") && err.contains(".deb (base-files "),
        "{err}"
    );
    assert!(err.contains("sha256 mismatch"), "{err}");
    assert!(!t.path("layout").exists(), "no image from a bad package");
    let cached: Vec<_> = std::fs::read_dir(t.home.path().join("cache/debian-v1/sha256"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with(".tmp"))
        .collect();
    assert_eq!(
        cached.len(),
        1,
        "only the (verified) index is cached: {cached:?}"
    );
}
