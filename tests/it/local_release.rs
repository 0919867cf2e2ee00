//! Every deploy is a release (issue 15), local mode: `prisn history` lists them, `prisn
//! rollback` returns to one without building anything, and `deploy --rollback-on-failure`
//! returns to the previous release when the new one does not become ready.

use serde_json::Value;

use crate::common::*;
use crate::local::{Local, free_port, http_get};

/// An app that answers `GET /` with its version and the version of `six` it imports: a
/// dependency that differs between the releases proves which environment runs.
pub fn app(version: u32, six: &str) -> String {
    format!(
        r#"# /// script
# dependencies = ["six=={six}"]
# ///
import os, six
from http.server import BaseHTTPRequestHandler, HTTPServer

class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        body = f"v{version} six {{six.__version__}}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

HTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
"#
    )
}

fn history(l: &Local, name: &str) -> Vec<Value> {
    let out = l.ok(&["history", name, "-o", "json"]);
    serde_json::from_str::<Vec<Value>>(&out).expect("history is a JSON list")
}

#[test]
fn rollback_serves_an_old_release_with_its_dependencies_and_a_broken_deploy_is_undone() {
    let l = Local::new();
    let port = free_port().to_string();
    let deploy = |version: u32, six: &str| {
        l.t.write("web.py", &app(version, six));
        l.ok(&["deploy", "web.py", "--port", &port, "--timeout", "120s"]);
        assert_eq!(
            http_get(port.parse().unwrap(), "/").as_deref(),
            Some(format!("v{version} six {six}").as_str())
        );
    };
    deploy(1, "1.15.0");
    deploy(2, "1.16.0");
    deploy(3, "1.17.0");

    let h = history(&l, "web");
    let revisions: Vec<i64> = h.iter().map(|r| r["revision"].as_i64().unwrap()).collect();
    assert_eq!(revisions, [3, 2, 1], "{h:?}");
    assert_eq!(h[0]["current"], true);
    assert!(
        h.iter()
            .all(|r| r["available"] == true && r["who"].is_string())
    );
    assert!(
        h[0]["flags"]
            .as_array()
            .unwrap()
            .contains(&Value::from(format!("--port {port}")))
    );
    let locks: Vec<&str> = h
        .iter()
        .map(|r| r["lock_digest"].as_str().unwrap())
        .collect();
    assert!(locks[0] != locks[1] && locks[1] != locks[2], "{locks:?}");

    // Nothing may be rebuilt: the environments of older releases survive a full gc (they are
    // pinned), and the script on disk is v3 now.
    l.ok(&["gc", "--keep", "0s"]);
    let out = l.ok(&["rollback", "web", "--to", "1"]);
    assert!(
        out.contains("rolled back to revision 1 (now revision 4)"),
        "{out}"
    );
    assert_eq!(
        http_get(port.parse().unwrap(), "/").as_deref(),
        Some("v1 six 1.15.0")
    );
    let h = history(&l, "web");
    assert_eq!(h[0]["revision"], 4);
    assert_eq!(h[0]["rollback_of"], 1);
    assert_eq!(h[0]["current"], true);
    assert_eq!(h[0]["lock_digest"], h[3]["lock_digest"]);
    assert_eq!(h[0]["artifact"], h[3]["artifact"]);
    let table = l.ok(&["history", "web"]);
    assert!(
        table.starts_with("REVISION") && table.contains("4*") && table.contains("rollback to 1"),
        "{table}"
    );

    // Back to v3 (the release before the current is 3), then a broken v4 is undone.
    let out = l.ok(&["rollback", "web"]);
    assert!(
        out.contains("rolled back to revision 3 (now revision 5)"),
        "{out}"
    );
    assert_eq!(
        http_get(port.parse().unwrap(), "/").as_deref(),
        Some("v3 six 1.17.0")
    );
    l.t.write(
        "web.py",
        "# /// script\n# dependencies = [\"six==1.16.0\"]\n# ///\nraise SystemExit('v4 is broken')\n",
    );
    let err = fails(&l.run(&[
        "deploy",
        "web.py",
        "--port",
        &port,
        "--timeout",
        "60s",
        "--rollback-on-failure",
    ]));
    assert!(
        err.contains("did not become ready; rolled back to revision 5 (now revision 7)")
            && err.contains("v4 is broken"),
        "{err}"
    );
    assert_eq!(
        http_get(port.parse().unwrap(), "/").as_deref(),
        Some("v3 six 1.17.0")
    );
    let h = history(&l, "web");
    assert_eq!(
        (h[0]["revision"].as_i64(), h[0]["rollback_of"].as_i64()),
        (Some(7), Some(5))
    );
    assert_eq!(h[1]["revision"], 6);
}

#[test]
fn history_and_rollback_name_what_is_wrong() {
    let l = Local::new();
    let err = l.fails(&["history", "nope"]);
    assert!(err.contains("nope"), "{err}");
    l.t.write("j.sh", "echo one\n");
    l.ok(&["deploy", "j.sh", "--once"]);
    let err = l.fails(&["rollback", "j"]);
    assert!(err.contains("no release before revision 1"), "{err}");
    let err = l.fails(&["rollback", "j", "--to", "9"]);
    assert!(err.contains("has no revision 9 (kept: 1)"), "{err}");
    let err = l.fails(&["rollback", "nope"]);
    assert!(err.contains("nope"), "{err}");
    let image = format!("127.0.0.1:9/team/web@sha256:{}", "0".repeat(64));
    let err = l.fails(&["deploy", "--image", &image]);
    assert!(err.contains("needs a Kubernetes context"), "{err}");
}

#[test]
fn only_the_newest_releases_are_kept() {
    let l = Local::new();
    for i in 0..4 {
        l.t.write("j.sh", &format!("echo {i}\n"));
        ok(&l
            .t
            .prisn()
            .env("PRISN_KEEP_RELEASES", "2")
            .args(["deploy", "j.sh", "--once", "--wait"])
            .output()
            .unwrap());
    }
    let h = history(&l, "j");
    let revisions: Vec<i64> = h.iter().map(|r| r["revision"].as_i64().unwrap()).collect();
    assert_eq!(revisions, [4, 3], "{h:?}");
    let err = l.fails(&["rollback", "j", "--to", "2"]);
    assert!(err.contains("has no revision 2 (kept: 4, 3)"), "{err}");
    let out = l.ok(&["rollback", "j", "--to", "3", "--no-wait"]);
    assert!(
        out.contains("rolled back to revision 3 (now revision 5)"),
        "{out}"
    );
}

#[test]
fn a_context_can_make_rollback_on_failure_the_default() {
    let l = Local::new();
    l.ok(&[
        "context",
        "add",
        "safe",
        "--mode",
        "local",
        "--rollback-on-failure",
        "--use",
    ]);
    l.t.write("loop.sh", "echo up\nwhile true; do sleep 1; done\n");
    l.ok(&["deploy", "loop.sh"]);
    l.t.write("loop.sh", "echo broken\nexit 3\n");
    let err = l.fails(&["deploy", "loop.sh", "--timeout", "60s"]);
    assert!(
        err.contains("did not become ready; rolled back to revision 1 (now revision 3)")
            && err.contains("it is running"),
        "{err}"
    );
    assert_eq!(l.status("loop")["phase"], "Running");
    // The flag wins over the context.
    let err = l.fails(&[
        "deploy",
        "loop.sh",
        "--timeout",
        "60s",
        "--no-rollback-on-failure",
    ]);
    assert!(!err.contains("rolled back"), "{err}");
    let h = history(&l, "loop");
    assert_eq!(
        (h[0]["revision"].as_i64(), h[0]["rollback_of"].as_i64()),
        (Some(4), None)
    );
}
