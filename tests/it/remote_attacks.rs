//! Remote mode under attack: garbage, oversized bodies, `../` paths, forged uploads, a
//! tenant's script that goes looking for the server's secrets and another tenant's code,
//! and a server killed in the middle of an upload.

use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::common::*;
use crate::local::eventually;
use crate::remote::Remote;

pub fn digest(bytes: &[u8]) -> String {
    let out = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(bytes)?;
            c.wait_with_output()
        })
        .unwrap();
    format!(
        "sha256:{}",
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .next()
            .unwrap()
    )
}

/// A deploy body by manifest with `files` (path, digest) and `entrypoint`.
fn deploy_body(files: &[(&str, &str)], entrypoint: &str) -> Vec<u8> {
    let manifest: Vec<Value> = files
        .iter()
        .map(|(p, d)| json!({"path": p, "digest": d, "size": 10}))
        .collect();
    serde_json::to_vec(&json!({
        "manifest": {"files": manifest},
        "deploy": {
            "kind": "job",
            "source": "x.sh",
            "code": {"root": "/", "entrypoint": entrypoint,
                     "files": files.iter().map(|f| f.0).collect::<Vec<_>>(),
                     "runtime": "bash", "is_dir": true},
            "env_dir": "/"
        }
    }))
    .unwrap()
}

#[test]
fn garbage_paths_forgeries_and_oversized_uploads_get_clear_4xx() {
    let r = Remote::with_args(&["--max-blob-bytes", "1000", "--max-deploy-bytes", "3000"]);
    let auth = r.bearer(&r.token);
    let h = [auth.as_str(), "prisn-namespace: production"];

    // Malformed bodies: 400 naming the problem.
    let (code, body) = r.curl("PUT", "/v1/workloads/x", &h, Some(b"{not json"));
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("invalid request body"), "{body}");
    let (code, body) = r.curl(
        "POST",
        "/v1/blobs/missing",
        &h,
        Some(br#"{"digests":["md5:1"]}"#),
    );
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("md5:1"), "{body}");
    let (code, _) = r.curl("PUT", "/v1/workloads/Not_A_Name", &h, Some(b"{}"));
    assert_eq!(code, 400);

    // A forged upload: bytes that do not hash to the digest named.
    let good = b"echo hi\n".to_vec();
    let d = digest(&good);
    let (code, body) = r.curl(
        "PUT",
        &format!("/v1/blobs/{}", digest(b"other")),
        &h,
        Some(&good),
    );
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("hash to"), "{body}");
    let (code, _) = r.curl("PUT", &format!("/v1/blobs/{d}"), &h, Some(&good));
    assert_eq!(code, 201);

    // Paths that leave the code root, absolute entrypoints: 400 naming the value.
    for (files, entry, what, why) in [
        (
            vec![("../escape.sh", d.as_str())],
            "../escape.sh",
            "../escape.sh",
            "would leave the code root",
        ),
        (
            vec![("a/../../b.sh", d.as_str())],
            "a/../../b.sh",
            "a/../../b.sh",
            "would leave the code root",
        ),
        (
            vec![("main.sh", d.as_str())],
            "/etc/passwd",
            "/etc/passwd",
            "absolute path",
        ),
        (
            vec![("/abs.sh", d.as_str())],
            "/abs.sh",
            "/abs.sh",
            "absolute path",
        ),
        (
            vec![("main.sh", d.as_str())],
            "other.sh",
            "other.sh",
            "not among the manifest",
        ),
    ] {
        let (code, body) = r.curl(
            "PUT",
            "/v1/workloads/evil",
            &h,
            Some(&deploy_body(&files, entry)),
        );
        assert_eq!(code, 400, "{what}: {body}");
        assert!(body.contains(what) && body.contains(why), "{what}: {body}");
    }
    // A manifest naming content the server does not have.
    let (code, body) = r.curl(
        "PUT",
        "/v1/workloads/evil",
        &h,
        Some(&deploy_body(
            &[("main.sh", &digest(b"never sent"))],
            "main.sh",
        )),
    );
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("not on the server"), "{body}");
    assert!(!r.data.path().join("ns/production/src/evil").exists());

    // Oversized: 413 naming the limit, before and while reading the body.
    let big = vec![b'#'; 1500];
    let (code, body) = r.curl(
        "PUT",
        &format!("/v1/blobs/{}", digest(&big)),
        &h,
        Some(&big),
    );
    assert_eq!(code, 413, "{body}");
    assert!(
        body.contains("max_blob_bytes") && body.contains("1000"),
        "{body}"
    );
    let mut chunked = h.to_vec();
    chunked.push("Transfer-Encoding: chunked");
    let (code, body) = r.curl(
        "PUT",
        &format!("/v1/blobs/{}", digest(&big)),
        &chunked,
        Some(&big),
    );
    assert_eq!(code, 413, "{body}");
    let huge = vec![b' '; 5 << 20];
    let (code, body) = r.curl("PUT", "/v1/workloads/x", &h, Some(&huge));
    assert_eq!(code, 413, "{body}");
    assert!(body.contains("max_json_bytes"), "{body}");
    // Through the CLI: the error names the limit.
    r.t.write(
        "big/main.sh",
        &format!("#!/bin/bash\n# {}\necho big\n", "x".repeat(1200)),
    );
    let err = r.fails(&["deploy", "big", "--once"]);
    assert!(
        err.contains("413") || err.contains("max_blob_bytes"),
        "{err}"
    );
    assert!(err.contains("max_blob_bytes"), "{err}");
    for i in 0..4 {
        r.t.write(&format!("many/f{i}.sh"), &"#".repeat(900));
    }
    r.t.write("many/main.sh", "echo many\n");
    let err = r.fails(&["deploy", "many", "--once"]);
    assert!(err.contains("max_deploy_bytes"), "{err}");

    // A server runs nothing unsandboxed.
    r.t.write("ok.sh", "#!/bin/bash\necho ok\n");
    let err = r.fails(&["deploy", "ok.sh", "--once", "--isolation", "none"]);
    assert!(err.contains("sandboxed"), "{err}");
    // Plain HTTP off loopback is refused at start.
    let out = r.admin(&["--insecure-http", "--listen", "0.0.0.0:1"]);
    assert!(fails(&out).contains("only allowed on loopback"));
}

#[test]
fn a_tenant_sees_neither_the_servers_secrets_nor_another_tenants_code() {
    let r = Remote::new();
    let other = ok(&r.admin(&[
        "token",
        "create",
        "--namespace",
        "other",
        "--role",
        "deploy",
    ]));
    r.write_context("other", "other", other.trim());
    r.t.write(
        "secret/main.sh",
        "#!/bin/bash\necho the-other-tenants-secret\n",
    );
    ok(&r.t.run(&[
        "--context",
        "other",
        "deploy",
        "secret",
        "--once",
        "--name",
        "secret",
    ]));

    let data = r.data.path().display().to_string();
    r.t.write(
        "snoop.sh",
        "#!/bin/bash\nfor f in \"$D/server.db\" \"$D/tls/server.key\" \"$D/tls/ca.key\" \"$D/ns/other/src/secret/main.sh\" \"$D/ns/other/home/state.db\"; do\n  if cat \"$f\" >/dev/null 2>&1; then echo \"READ $f\"; else echo \"denied $f\"; fi\ndone\necho \"listing: $(ls -A \"$D\" \"$D/ns\" 2>/dev/null | tr '\\n' ' ')end\"\n",
    );
    let out = r.run(&[
        "deploy",
        "snoop.sh",
        "--once",
        "--wait",
        "-e",
        &format!("D={data}"),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let mut logs = String::new();
    eventually("the snoop job's output", 30, || {
        logs = r.ok(&["logs", "snoop"]);
        logs.contains("listing:")
    });
    assert_eq!(logs.matches("denied").count(), 5, "{logs}");
    assert!(!logs.contains("READ"), "{logs}");
    // The data directory's entries stay unlisted (0711). Where the sandbox hides the tree the
    // data lives in (under /root, as in CI), the run sees only the skeleton the sandbox made
    // to reach its own code: never the server's files or the other namespace.
    let listing = logs
        .lines()
        .find_map(|l| l.strip_prefix("listing: "))
        .unwrap_or_default();
    for secret in ["server.db", "tls", "other"] {
        assert!(
            !listing.split_whitespace().any(|e| e == secret),
            "{secret} listed: {logs}"
        );
    }
    // And the names are the namespace's own: `production` does not see `secret`.
    assert!(!r.ok(&["get"]).contains("secret"));
}

#[test]
fn a_server_killed_during_an_upload_leaves_no_half_blob() {
    let mut r = Remote::new();
    let auth = r.bearer(&r.token);
    let body = vec![b'x'; 4 << 20];
    let d = digest(&body);
    let file = r.t.write("blob", &String::from_utf8(body).unwrap());
    // A slow upload (curl's own rate limit), cut by kill -9 once the server writes it.
    let mut curl = Command::new("curl")
        .args([
            "-sk",
            "--limit-rate",
            "256k",
            "-X",
            "PUT",
            "-H",
            &auth,
            "-H",
            "prisn-namespace: production",
        ])
        .arg("--data-binary")
        .arg(format!("@{}", file.display()))
        .arg(format!("https://127.0.0.1:{}/v1/blobs/{d}", r.port))
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let tmp = r.data.path().join("ns/production/blobs/tmp");
    eventually("the upload is being written", 60, || {
        std::fs::read_dir(&tmp).is_ok_and(|mut d| {
            d.next()
                .is_some_and(|e| e.unwrap().metadata().unwrap().len() > 0)
        })
    });
    r.kill();
    let _ = curl.wait();
    let hex = d.trim_start_matches("sha256:");
    assert!(
        !r.data
            .path()
            .join("ns/production/blobs/sha256")
            .join(hex)
            .exists()
    );
    r.start();
    // Swept at start; the server still lacks the blob and says so.
    let leftovers = std::fs::read_dir(&tmp).map(|d| d.count()).unwrap_or(0);
    assert_eq!(leftovers, 0);
    let h = [auth.as_str(), "prisn-namespace: production"];
    let ask = serde_json::to_vec(&json!({ "digests": [d] })).unwrap();
    let (code, answer) = r.curl("POST", "/v1/blobs/missing", &h, Some(&ask));
    assert_eq!(code, 200);
    assert!(answer.contains(hex), "{answer}");
}
