//! An air-gapped server (issue 11): server and client in one network namespace with only
//! loopback (`unshare -n`), the client's caches warmed beforehand outside it. The server's
//! index setting points at a recording HTTP server inside the namespace, so "it made no
//! index request" is a count, and the same server turned to that index shows the recorder
//! does see an install that asks it.

use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

use crate::common::*;
use crate::local::eventually;
use crate::remote::Remote;

/// A job that prints the version of `six` it imports.
fn six_job(version: &str) -> String {
    format!(
        "# /// script\n# dependencies = [\"six=={version}\"]\n# ///\nimport six\nprint(\"six\", six.__version__)\n"
    )
}

/// A process holding a network namespace with only loopback, up.
struct Netns(Child);

impl Netns {
    fn new() -> Netns {
        let child = Command::new("unshare")
            .args(["-n", "sleep", "3600"])
            .spawn()
            .expect("unshare runs");
        let pid = child.id().to_string();
        eventually("the namespace exists", 30, || {
            std::fs::read_link(format!("/proc/{pid}/ns/net")).ok()
                != std::fs::read_link("/proc/self/ns/net").ok()
        });
        let up = Command::new("nsenter")
            .args(["-t", &pid, "-n", "ip", "link", "set", "lo", "up"])
            .output()
            .unwrap();
        assert!(up.status.success(), "{}", stderr(&up));
        Netns(child)
    }

    fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// An HTTP server that answers 404 to everything and appends `METHOD PATH` of each request
/// to `log`.
const RECORDER: &str = r#"
import http.server, sys
log = open(sys.argv[2], "a")
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        log.write(self.command + " " + self.path + "\n"); log.flush()
        self.send_response(404); self.end_headers()
    do_HEAD = do_POST = do_GET
    def log_message(self, *a): pass
s = http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H)
open(sys.argv[3], "w").write("ready")
s.serve_forever()
"#;

struct Recorder {
    child: Child,
    log: std::path::PathBuf,
}

impl Recorder {
    fn start(netns: &Netns, port: u16, dir: &Path) -> Recorder {
        let (log, ready) = (dir.join("requests.log"), dir.join("ready"));
        let child = Command::new("nsenter")
            .args([
                "-t",
                &netns.pid().to_string(),
                "-n",
                "python3",
                "-c",
                RECORDER,
            ])
            .arg(port.to_string())
            .arg(&log)
            .arg(&ready)
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        eventually("the recorder listens", 30, || ready.exists());
        Recorder { child, log }
    }

    fn requests(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn an_air_gapped_server_installs_only_the_wheels_its_client_ships() {
    // Warm the client outside the namespace: a server told it has no index (`--offline`)
    // makes this client download the wheel for it into its cache, and lock a second job.
    let mut warm = Remote::with_args(&["--offline"]);
    warm.t.write("job.py", &six_job("1.16.0"));
    let out = warm.run(&["deploy", "job.py", "--once", "--wait"]);
    assert!(
        out.status.success(),
        "{}{}",
        stderr(&out),
        stdout(&warm.run(&["logs", "job"]))
    );
    assert!(stderr(&out).contains("1 wheel shipped"), "{}", stderr(&out));
    assert!(warm.ok(&["logs", "job"]).contains("six 1.16.0"));
    warm.t.write("old.py", &six_job("1.15.0"));
    ok(&warm.t.run(&["lock", "old.py"]));

    // The server checks every wheel against the lock: a "wheel" whose sha256 the lock does
    // not record for six is refused, naming the package.
    forged_wheel_is_refused(&warm);

    let t = std::mem::replace(&mut warm.t, TestContext::new());
    drop(warm);
    // The client's caches stay; its context will name the new server.
    std::fs::remove_file(t.home.path().join("config.toml")).unwrap();

    let netns = Netns::new();
    let scratch = tempfile::tempdir().unwrap();
    // Any port: the namespace is this test's alone.
    let index_port = 8000;
    let recorder = Recorder::start(&netns, index_port, scratch.path());
    let index = format!("http://127.0.0.1:{index_port}/simple");
    let uv_cache = tempfile::tempdir().unwrap();
    let env = vec![
        ("UV_INDEX_URL".to_string(), index.clone()),
        // A cold uv cache: what gets installed can only come from the shipped wheels.
        (
            "UV_CACHE_DIR".to_string(),
            uv_cache.path().display().to_string(),
        ),
    ];
    let mut r = Remote::build(t, &["--offline"], env, Some(netns.pid()));

    let (code, body) = r.curl("GET", "/v1/info", &[], None);
    assert_eq!(code, 200, "{body}");
    let info: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(info["index_reachable"], false, "{info}");
    assert_eq!(info["index"], index.as_str(), "{info}");
    assert!(!info["python"].as_array().unwrap().is_empty(), "{info}");

    // The deploy succeeds from the client's cache: the client has no network either.
    let out = r.run(&["deploy", "job.py", "--once", "--wait"]);
    assert!(
        out.status.success(),
        "{}{}",
        stderr(&out),
        stdout(&r.run(&["logs", "job"]))
    );
    assert!(stderr(&out).contains("1 wheel shipped"), "{}", stderr(&out));
    assert!(r.ok(&["logs", "job"]).contains("six 1.16.0"));
    assert_eq!(recorder.requests(), "", "the server asked the index");
    // The server says what the build took (bench/remote.sh reads this line).
    let log = std::fs::read_to_string(r.log_file()).unwrap();
    assert!(
        log.contains("built the environment of job.py in ")
            && log.contains(" ms (1 wheel shipped by the client)"),
        "{log}"
    );

    // A cached wheel whose bytes changed is refused by the client, naming the package.
    let cached = find_file(&r.t.home.path().join("cache/wheels"), ".whl").unwrap();
    std::fs::write(&cached, b"not the wheel").unwrap();
    r.t.write("job.py", &format!("{}# changed\n", six_job("1.16.0")));
    let err = fails(&r.run(&["deploy", "job.py", "--once"]));
    assert!(
        err.contains("package six") && err.contains("hashes to"),
        "{err}"
    );

    // Broken on purpose: the same server allowed to use its index (the recorder answers a
    // connection, so the probe calls it reachable) gets no wheels and asks the index, which
    // the recorder sees.
    r.kill();
    r.extra_args.clear();
    r.start();
    let (_, body) = r.curl("GET", "/v1/info", &[], None);
    assert!(body.contains("\"index_reachable\":true"), "{body}");
    let err = fails(&r.run(&["deploy", "old.py", "--once"]));
    assert!(err.contains("six"), "{err}");
    assert!(
        recorder.requests().contains("/simple/six/"),
        "the recorder saw: {:?}",
        recorder.requests()
    );
}

/// `PUT /v1/workloads/forged` with a real lock of six 1.16.0 and a wheel whose bytes are
/// not six's: 400 naming the package.
fn forged_wheel_is_refused(r: &Remote) {
    let auth = r.bearer(&r.token);
    let h = [auth.as_str(), "prisn-namespace: production"];
    let put = |bytes: &[u8]| {
        let d = crate::remote_attacks::digest(bytes);
        let (code, body) = r.curl("PUT", &format!("/v1/blobs/{d}"), &h, Some(bytes));
        assert!(code == 201 || code == 200, "{code} {body}");
        d
    };
    let script = std::fs::read(r.t.path("job.py")).unwrap();
    let lock = std::fs::read(r.t.path("prisn.lock")).unwrap();
    let fake = b"PK not six".to_vec();
    let (sd, ld, fd) = (put(&script), put(&lock), put(&fake));
    let body = serde_json::to_vec(&json!({
        "manifest": {
            "files": [{"path": "job.py", "digest": sd, "size": script.len()}],
            "lock": ld,
            "wheels": [{"package": "six", "filename": "six-1.16.0-py2.py3-none-any.whl",
                        "digest": fd, "size": fake.len()}],
        },
        "deploy": {
            "kind": "job", "source": "job.py",
            "code": {"root": "/", "entrypoint": "job.py", "files": ["job.py"],
                     "runtime": "python3", "is_dir": false},
            "env_dir": "/"
        }
    }))
    .unwrap();
    let (code, body) = r.curl("PUT", "/v1/workloads/forged", &h, Some(&body));
    assert_eq!(code, 400, "{body}");
    assert!(
        body.contains("of package six") && body.contains("not one the lock records"),
        "{body}"
    );
}

fn find_file(dir: &Path, suffix: &str) -> Option<std::path::PathBuf> {
    for e in std::fs::read_dir(dir).ok()?.flatten() {
        let p = e.path();
        if p.is_dir() {
            if let Some(f) = find_file(&p, suffix) {
                return Some(f);
            }
        } else if p.to_string_lossy().ends_with(suffix) {
            return Some(p);
        }
    }
    None
}
