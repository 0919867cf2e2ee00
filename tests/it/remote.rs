//! Remote mode: a real `prisn server` process (TLS on 127.0.0.1, its own data directory),
//! the real CLI as its client, the seed's context file. Every test stops its server, the
//! namespaces' daemons and whatever they started when it ends.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use serde_json::Value;

use crate::common::*;
use crate::local::{alive, eventually, free_port, http_get};

/// A server with its data directory, and a client home whose context `prod` points at it.
pub struct Remote {
    /// The client's home and work directory.
    pub t: TestContext,
    pub data: tempfile::TempDir,
    pub port: u16,
    pub server: Option<Child>,
    /// The admin token `server init` made for namespace `production`.
    pub token: String,
    pub fingerprint: String,
    /// `prisn server`'s extra arguments (kept for restarts).
    pub extra_args: Vec<String>,
    /// Environment of the server process.
    pub server_env: Vec<(String, String)>,
    /// A process whose network namespace the server, the client and curl run in
    /// (`nsenter -t PID -n`); `None`: this test's own.
    pub netns: Option<u32>,
}

impl Remote {
    /// `server init` for namespace `production`, a server on a free port, and the seed's
    /// context file (plus the fingerprint) in the client's home.
    pub fn new() -> Remote {
        Remote::with_args(&[])
    }

    pub fn with_args(extra: &[&str]) -> Remote {
        Remote::build(TestContext::new(), extra, Vec::new(), None)
    }

    /// A server for the client `t` (its home and work directory kept), started with `extra`
    /// arguments and `env`, in the network namespace of `netns` when given.
    pub fn build(
        t: TestContext,
        extra: &[&str],
        env: Vec<(String, String)>,
        netns: Option<u32>,
    ) -> Remote {
        // Not under /tmp: a run's /tmp is private, which would hide the data directory from
        // the sandbox tests for the wrong reason.
        let data = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
        let mut r = Remote {
            t,
            data,
            port: free_port(),
            server: None,
            token: String::new(),
            fingerprint: String::new(),
            extra_args: extra.iter().map(|s| s.to_string()).collect(),
            server_env: env,
            netns,
        };
        let line = ok(&r.admin(&["init", "--namespace", "production"]));
        r.token = field(&line, "--token");
        r.fingerprint = field(&line, "--fingerprint");
        assert!(
            r.token.starts_with("sk_") && r.fingerprint.starts_with("sha256:"),
            "{line}"
        );
        r.start();
        r.write_context("prod", "production", &r.token.clone());
        r
    }

    /// `prisn server ARGS --data DATA` (the server-side CLI).
    pub fn admin(&self, args: &[&str]) -> Output {
        let mut cmd = self.t.prisn();
        cmd.arg("server")
            .args(args)
            .arg("--data")
            .arg(self.data.path());
        cmd.output().unwrap()
    }

    pub fn log_file(&self) -> PathBuf {
        self.data.path().with_extension("server.log")
    }

    /// Start the server and wait until it answers.
    pub fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_file())
            .unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_prisn"));
        cmd.args(["server", "-vv", "--listen"])
            .arg(format!("127.0.0.1:{}", self.port))
            .arg("--data")
            .arg(self.data.path())
            .args(&self.extra_args)
            .env("PRISN_HOME", self.data.path().join("server-home"))
            .envs(self.server_env.iter().map(|(k, v)| (k, v)))
            .env_remove("RUST_LOG");
        let mut cmd = self.wrap(cmd);
        cmd.stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        let server = cmd.spawn().unwrap();
        // The state file names the pid of a server that listens (in any network namespace).
        let (pid, state) = (server.id(), self.data.path().join("server.json"));
        self.server = Some(server);
        eventually("the server listens", 30, || {
            std::fs::read_to_string(&state)
                .is_ok_and(|s| serde_json::from_str::<Value>(&s).is_ok_and(|v| v["pid"] == pid))
        });
    }

    /// `cmd` in this server's network namespace (itself when there is none): program,
    /// arguments, environment and directory (set stdio on the result).
    pub fn wrap(&self, cmd: Command) -> Command {
        let Some(pid) = self.netns else {
            return cmd;
        };
        let mut out = Command::new("nsenter");
        out.args(["-t", &pid.to_string(), "-n", "--"])
            .arg(cmd.get_program())
            .args(cmd.get_args());
        for (k, v) in cmd.get_envs() {
            match v {
                Some(v) => out.env(k, v),
                None => out.env_remove(k),
            };
        }
        if let Some(dir) = cmd.get_current_dir() {
            out.current_dir(dir);
        }
        out
    }

    /// kill -9 the server (its namespaces' daemons live on).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.server.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The seed's context (issue 11), pointed at this server, plus the fingerprint.
    pub fn write_context(&self, name: &str, namespace: &str, token: &str) {
        self.write_context_via(name, namespace, token, self.port);
    }

    /// A context for this server reached at `port` on loopback (a relay in front of it).
    pub fn write_context_via(&self, name: &str, namespace: &str, token: &str, port: u16) {
        let path = self.t.home.path().join("config.toml");
        let mut text = std::fs::read_to_string(&path).unwrap_or_default();
        text.push_str(&format!(
            "\n[contexts.{name}]\nname = \"{name}\"\nmode = \"remote\"\nserver = \"127.0.0.1:{port}\"\nnamespace = \"{namespace}\"\ntoken = \"{token}\"\nfingerprint = \"{}\"\n",
            self.fingerprint
        ));
        std::fs::write(&path, text).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }

    /// `prisn --context prod ARGS`.
    pub fn run(&self, args: &[&str]) -> Output {
        let mut cmd = self.t.prisn();
        cmd.args(["--context", "prod"]).args(args);
        self.wrap(cmd).output().unwrap()
    }

    #[track_caller]
    pub fn ok(&self, args: &[&str]) -> String {
        ok(&self.run(args))
    }

    #[track_caller]
    pub fn fails(&self, args: &[&str]) -> String {
        fails(&self.run(args))
    }

    #[track_caller]
    pub fn status(&self, name: &str) -> Value {
        serde_json::from_str(&self.ok(&["status", name, "-o", "json"])).unwrap()
    }

    pub fn pid(&self, name: &str) -> Option<i32> {
        self.status(name)["extra"]["pid"].as_i64().map(|p| p as i32)
    }

    /// `curl` against the server: (HTTP status, body). `-k`: these requests test the
    /// server's answers, not the client's pinning (the CLI tests that).
    pub fn curl(
        &self,
        method: &str,
        path: &str,
        headers: &[&str],
        body: Option<&[u8]>,
    ) -> (u16, String) {
        let mut cmd = Command::new("curl");
        cmd.args(["-sk", "-o", "-", "-w", "\n%{http_code}", "-X", method]);
        for h in headers {
            cmd.args(["-H", h]);
        }
        if body.is_some() {
            cmd.args(["--data-binary", "@-"]);
        }
        cmd.arg(format!("https://127.0.0.1:{}{path}", self.port));
        let mut cmd = self.wrap(cmd);
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped());
        let mut child = cmd.spawn().expect("curl runs");
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().unwrap();
            if let Some(b) = body {
                stdin.write_all(b).unwrap();
            }
        }
        let out = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
        (code.trim().parse().unwrap_or(0), body.to_string())
    }

    pub fn bearer(&self, token: &str) -> String {
        format!("Authorization: Bearer {token}")
    }

    /// Processes of this server: the server, the namespaces' daemons, shims, scripts.
    fn processes(&self) -> Vec<i32> {
        let data = self.data.path().to_string_lossy().into_owned();
        let mut out = Vec::new();
        for e in std::fs::read_dir("/proc").unwrap().flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
                continue;
            };
            let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            let env = std::fs::read(e.path().join("environ")).unwrap_or_default();
            let has = |b: &[u8]| String::from_utf8_lossy(b).contains(&data);
            if (has(&cmd) || has(&env)) && pid != std::process::id() as i32 {
                out.push(pid);
            }
        }
        out
    }
}

impl Drop for Remote {
    fn drop(&mut self) {
        self.kill();
        if let Ok(dirs) = std::fs::read_dir(self.data.path().join("ns")) {
            for d in dirs.flatten() {
                let _ = Command::new(env!("CARGO_BIN_EXE_prisn"))
                    .args(["daemon", "stop"])
                    .env("PRISN_HOME", d.path().join("home"))
                    .output();
            }
        }
        for pid in self.processes() {
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        let _ = std::fs::remove_file(self.log_file());
    }
}

/// The value after `flag` in a printed command line.
fn field(line: &str, flag: &str) -> String {
    let mut words = line.split_whitespace();
    words.find(|w| *w == flag);
    words.next().unwrap_or_default().to_string()
}

/// Every file under `dir`, read (for greps for a secret).
pub fn all_text(dir: &Path) -> String {
    let mut out = String::new();
    for e in walk(dir) {
        if let Ok(b) = std::fs::read(&e) {
            out.push_str(&String::from_utf8_lossy(&b));
        }
    }
    out
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let p = e.path();
        match e.file_type() {
            Ok(t) if t.is_dir() => out.extend(walk(&p)),
            Ok(t) if t.is_file() => out.push(p),
            _ => {}
        }
    }
    out
}

#[test]
fn the_seed_context_deploys_gets_logs_scales_and_deletes_like_local_mode() {
    let r = Remote::new();
    r.t.example("api.py");
    let port = free_port();
    let out = r.ok(&["deploy", "api.py", "--port", &port.to_string()]);
    assert_eq!(out, "app/api created\n");
    let body = http_get(port, "/hello/Ada").expect("the api answers");
    assert!(body.contains("\"greeting\":\"hello, Ada\""), "{body}");
    // The server byte-compiles the environment it built, in the background: runs can't
    // write bytecode into the store, so without it every start compiles flask again.
    let store = r.data.path().join("ns/production/home/store");
    eventually("bytecode for flask in the server's environment", 60, || {
        walk(&store).iter().any(|p| {
            p.extension().is_some_and(|e| e == "pyc")
                && p.parent()
                    .and_then(|d| d.parent())
                    .is_some_and(|d| d.ends_with("site-packages/flask"))
        })
    });

    let status = r.status("api");
    assert_eq!(status["phase"], "Running", "{status}");
    assert_eq!(status["port"], port);
    let table = r.ok(&["get"]);
    assert!(
        table.starts_with("NAME")
            && table.contains("api")
            && table.contains("1/1")
            && table.contains("Running"),
        "{table}"
    );
    // The same redeploy changes nothing and uploads nothing.
    let again = r.run(&["deploy", "api.py", "--port", &port.to_string()]);
    assert_eq!(stdout(&again), "app/api unchanged\n");
    assert!(
        stderr(&again).contains("uploaded 0 of 2 files (0 bytes)"),
        "{}",
        stderr(&again)
    );

    // A code-only change uploads that file only.
    let code = std::fs::read_to_string(r.t.path("api.py")).unwrap();
    r.t.write("api.py", &format!("{code}\n# changed\n"));
    let changed = r.run(&["deploy", "api.py", "--port", &port.to_string()]);
    assert_eq!(
        stdout(&changed),
        "app/api configured\n",
        "{}",
        stderr(&changed)
    );
    let size = std::fs::metadata(r.t.path("api.py")).unwrap().len();
    assert!(
        stderr(&changed).contains(&format!("uploaded 1 of 2 files ({size} bytes)")),
        "{}",
        stderr(&changed)
    );
    eventually("the new code answers", 30, || {
        http_get(port, "/healthz").is_some()
    });

    let logs = r.ok(&["logs", "api", "--tail", "50"]);
    assert!(logs.contains("GET /hello/Ada"), "{logs}");

    // Releases name the token that made them (the server sets `who`; the client's
    // $USER claim counts for nothing), also a rollback's.
    r.ok(&["rollback", "api"]);
    let history: Value = serde_json::from_str(&r.ok(&["history", "api", "-o", "json"])).unwrap();
    let admin = format!("token {}", r.token.split('_').nth(1).unwrap());
    let releases = history.as_array().unwrap();
    assert!(
        releases.len() >= 3 && releases.iter().all(|x| x["who"] == admin.as_str()),
        "{history}"
    );
    assert_eq!(r.ok(&["scale", "api", "0"]), "app/api scaled to 0\n");
    assert!(http_get(port, "/healthz").is_none());
    r.ok(&["scale", "api", "1"]);
    eventually("it answers again", 30, || {
        http_get(port, "/healthz").is_some()
    });
    let pid = r.pid("api").unwrap();
    assert_eq!(r.ok(&["delete", "api", "--yes"]), "api deleted\n");
    assert!(!alive(pid));
    assert!(!r.ok(&["get"]).contains("api"), "deleted");
}

#[test]
fn jobs_and_cron_jobs_run_on_the_server_and_logs_follow_to_the_end() {
    let r = Remote::new();
    r.t.write(
        "count.sh",
        "#!/bin/bash\nfor i in 1 2 3; do echo line $i; done\n",
    );
    let out = r.run(&["deploy", "count.sh", "--once", "--name", "count"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let logs = r.ok(&["logs", "count", "-f"]);
    assert_eq!(logs, "line 1\nline 2\nline 3\n");
    eventually("the job succeeded", 30, || {
        r.status("count")["phase"] == "Succeeded"
    });

    // A failed `--once --wait` job: its exit code, and the same notes as local mode (one
    // finishing step): its message and last output, with the user's paths.
    r.t.write(
        "fail.sh",
        "#!/bin/bash\necho about to fail\necho \"in $0\" >&2\nexit 3\n",
    );
    let out = r.run(&["deploy", "fail.sh", "--once", "--wait", "--name", "fail"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("job fail:") && err.contains("last output:") && err.contains("about to fail"),
        "{err}"
    );
    assert!(err.contains("isolation:"), "{err}");

    r.t.write("tick.sh", "#!/bin/bash\necho tick\n");
    let out = r.ok(&[
        "deploy",
        "tick.sh",
        "--schedule",
        "*/1 * * * * *",
        "--name",
        "tick",
    ]);
    assert_eq!(out, "cronjob/tick created\n");
    eventually("a scheduled run", 30, || {
        r.ok(&["logs", "tick"]).contains("tick")
    });
    let get = r.ok(&["get", "cronjobs"]);
    assert!(
        get.contains("tick") && get.contains("*/1 * * * * *"),
        "{get}"
    );
}

#[test]
fn tokens_are_scoped_revocable_and_never_shown() {
    let r = Remote::new();
    r.t.write("hello.sh", "#!/bin/bash\necho hello\n");
    // Wrong namespace: the admin token of `production` in `staging`.
    r.write_context("staging", "staging", &r.token);
    let out = r.t.run(&["--context", "staging", "get"]);
    let err = fails(&out);
    assert!(
        err.contains("forbidden") && err.contains("\"production\""),
        "{err}"
    );

    // A read token lists but cannot deploy.
    let read = ok(&r.admin(&[
        "token",
        "create",
        "--namespace",
        "production",
        "--role",
        "read",
    ]));
    let read = read.trim().to_string();
    r.write_context("reader", "production", &read);
    ok(&r.t.run(&["--context", "reader", "get"]));
    let err = fails(&r.t.run(&["--context", "reader", "deploy", "hello.sh", "--once"]));
    assert!(
        err.contains("forbidden") && err.contains("needs deploy"),
        "{err}"
    );

    // Revoked: refused on the next request.
    let id = read.split('_').nth(1).unwrap().to_string();
    ok(&r.admin(&["token", "revoke", &id]));
    let err = fails(&r.t.run(&["--context", "reader", "get"]));
    assert!(err.contains("not authenticated"), "{err}");

    // Expired: refused once its time is up (the server's clock decides).
    let short = ok(&r.admin(&[
        "token",
        "create",
        "--namespace",
        "production",
        "--role",
        "read",
        "--expires",
        "1s",
    ]));
    r.write_context("short", "production", short.trim());
    let list: Value =
        serde_json::from_str(&ok(&r.admin(&["token", "list", "-o", "json"]))).unwrap();
    let expires = list
        .as_array()
        .unwrap()
        .iter()
        .find_map(|t| t["expires_ms"].as_i64())
        .unwrap();
    while prisn_api_now_ms() <= expires {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let err = fails(&r.t.run(&["--context", "short", "get"]));
    assert!(err.contains("not authenticated"), "{err}");

    // No token, a malformed one: 401.
    assert_eq!(r.curl("GET", "/v1/workloads", &[], None).0, 401);
    assert_eq!(
        r.curl(
            "GET",
            "/v1/workloads",
            &["Authorization: Bearer nonsense"],
            None
        )
        .0,
        401
    );
    // A token anywhere but the Authorization header counts for nothing.
    let q = format!("/v1/workloads?token={}", r.token);
    assert_eq!(r.curl("GET", &q, &[], None).0, 401);
    // The last use is recorded.
    let list: Value =
        serde_json::from_str(&ok(&r.admin(&["token", "list", "-o", "json"]))).unwrap();
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|t| t["last_used_ms"].is_i64()),
        "{list}"
    );

    // The audit log names who did what, by token id; no secret appears in it, in the
    // server's log, in its data, or in `context list -o json`.
    let audit = ok(&r.admin(&["audit", "--since", "1h", "-o", "json"]));
    let entries: Value = serde_json::from_str(&audit).unwrap();
    let admin_id = r.token.split('_').nth(1).unwrap();
    assert!(
        entries
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["token"] == admin_id && e["status"] == 403),
        "{audit}"
    );
    assert!(
        entries
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["token"] == "-" && e["status"] == 401)
    );
    let text = ok(&r.admin(&["audit"]));
    let contexts = r.ok(&["context", "list", "-o", "json"]);
    assert!(contexts.contains("<redacted>"), "{contexts}");
    let server_log = std::fs::read_to_string(r.log_file()).unwrap();
    assert!(server_log.contains("serving https"), "{server_log}");
    for secret in [&r.token, &read, short.trim()] {
        let s = secret.rsplit('_').next().unwrap();
        for (what, hay) in [
            ("the audit log", &audit),
            ("the audit table", &text),
            ("context list", &contexts),
            ("the server's log", &server_log),
        ] {
            assert!(!hay.contains(s), "a token's secret is in {what}");
        }
        assert!(
            !all_text(r.data.path()).contains(s),
            "a token's secret is in the server's data"
        );
    }
    let mode = std::fs::metadata(r.t.home.path().join("config.toml")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(mode.permissions().mode() & 0o777, 0o600);
}

fn prisn_api_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[test]
fn a_changed_server_key_is_refused_and_server_status_reports() {
    let mut r = Remote::new();
    ok(&r.run(&["get"]));
    let status: Value = serde_json::from_str(&ok(&r.admin(&["status", "-o", "json"]))).unwrap();
    assert_eq!(status["running"], true);
    assert_eq!(status["fingerprint"], r.fingerprint.as_str());
    assert!(
        status["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["name"] == "production")
    );

    r.kill();
    let out = r.admin(&["status"]);
    assert!(!out.status.success(), "status of a stopped server exits 1");
    let line = ok(&r.admin(&["init", "--force"]));
    let new = field(&line, "--fingerprint");
    assert_ne!(new, r.fingerprint);
    r.start();
    let err = fails(&r.run(&["get"]));
    assert!(
        err.contains("TLS key changed") && err.contains(&new) && err.contains(&r.fingerprint),
        "{err}"
    );
}

#[test]
fn workloads_survive_a_killed_server_and_a_killed_daemon() {
    let mut r = Remote::new();
    r.t.example("api.py");
    let port = free_port();
    r.ok(&["deploy", "api.py", "--port", &port.to_string()]);
    let pid = r.pid("api").unwrap();

    // kill -9 during a deploy: while the server builds the new environment, after it laid
    // out the code.
    let code = std::fs::read_to_string(r.t.path("api.py")).unwrap();
    r.t.write(
        "api.py",
        &code.replace("\"flask>=3.0,<4\",", "\"flask>=3.0,<4\", \"itsdangerous\","),
    );
    let mut deploy = r.t.prisn();
    deploy
        .args([
            "--context",
            "prod",
            "deploy",
            "api.py",
            "--port",
            &port.to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = deploy.spawn().unwrap();
    // Waiting for the event (a build in the store's temp directory), polled tightly: the
    // window is the length of an install.
    let building = r.data.path().join("ns/production/home/store/.tmp");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !std::fs::read_dir(&building).is_ok_and(|mut d| d.next().is_some()) {
        assert!(
            std::time::Instant::now() < deadline,
            "the server never built an environment"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the deploy ended before its build was seen"
        );
        std::thread::sleep(std::time::Duration::from_micros(500));
    }
    r.kill();
    let _ = child.wait();
    r.start();
    // The old app still runs, unchanged; nothing half-built is used.
    assert_eq!(r.pid("api"), Some(pid));
    assert!(http_get(port, "/healthz").is_some());
    r.ok(&["deploy", "api.py", "--port", &port.to_string()]);
    eventually("the new deploy answers", 60, || {
        http_get(port, "/healthz").is_some()
    });
    let pid = r.pid("api").unwrap();

    // kill -9 of the server and the namespace's daemon: the next server starts the daemon
    // again, which re-adopts the running app (same process).
    r.kill();
    let daemon: Value = {
        let out = Command::new(env!("CARGO_BIN_EXE_prisn"))
            .args(["daemon", "status", "-o", "json"])
            .env("PRISN_HOME", r.data.path().join("ns/production/home"))
            .output()
            .unwrap();
        serde_json::from_str(&ok(&out)).unwrap()
    };
    unsafe { libc::kill(daemon["pid"].as_i64().unwrap() as i32, libc::SIGKILL) };
    assert!(
        http_get(port, "/healthz").is_some(),
        "the app outlives both"
    );
    r.start();
    assert_eq!(r.pid("api"), Some(pid), "re-adopted, not restarted");
    assert_eq!(r.status("api")["restarts"], 0);
}

/// An app without dependencies that answers every GET with `body`, on `$PORT`.
pub fn named_app(body: &str) -> String {
    format!(
        r#"import http.server, os
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        b = b"{body}"
        self.send_response(200); self.send_header("Content-Length", str(len(b))); self.end_headers()
        self.wfile.write(b)
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
"#
    )
}

#[test]
fn twenty_concurrent_deploys_of_different_apps_all_succeed() {
    let r = Remote::new();
    let apps: Vec<(String, u16)> = (0..20).map(|i| (format!("app{i}"), free_port())).collect();
    let deploys: Vec<_> = apps
        .iter()
        .map(|(name, port)| {
            r.t.write(&format!("{name}.py"), &named_app(name));
            let mut cmd = r.t.prisn();
            cmd.args(["--context", "prod", "deploy", &format!("{name}.py")])
                .args(["--port", &port.to_string()])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            cmd.spawn().unwrap()
        })
        .collect();
    for ((name, _), child) in apps.iter().zip(deploys) {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{name}: {}", stderr(&out));
        assert_eq!(stdout(&out), format!("app/{name} created\n"));
    }
    for (name, port) in &apps {
        eventually("each app answers with its own code", 30, || {
            http_get(*port, "/").is_some_and(|b| b.ends_with(name.as_str()))
        });
    }
    let list: Value = serde_json::from_str(&r.ok(&["get", "-o", "json"])).unwrap();
    let running = list
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["phase"] == "Running")
        .count();
    assert_eq!(running, 20, "{list}");
}
