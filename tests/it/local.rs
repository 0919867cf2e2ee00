//! Local mode: real daemons (one per test, each in its own PRISN_HOME), real processes, real
//! HTTP on 127.0.0.1. Every test stops its daemon and whatever it started when it ends.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Output;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::*;

/// A test home with a daemon that is stopped — with every process it started — on drop.
pub struct Local {
    pub t: TestContext,
}

impl Local {
    pub fn new() -> Local {
        Local {
            t: TestContext::new(),
        }
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.t.run(args)
    }

    #[track_caller]
    pub fn ok(&self, args: &[&str]) -> String {
        ok(&self.run(args))
    }

    #[track_caller]
    pub fn fails(&self, args: &[&str]) -> String {
        fails(&self.run(args))
    }

    /// `prisn status NAME -o json`.
    #[track_caller]
    pub fn status(&self, name: &str) -> Value {
        serde_json::from_str(&self.ok(&["status", name, "-o", "json"])).expect("status is JSON")
    }

    /// The pid of the app's process (None while none runs).
    pub fn pid(&self, name: &str) -> Option<i32> {
        // A number in the JSON, as in `daemon status -o json`; an app without a process has none.
        self.status(name)["extra"]["pid"].as_i64().map(|p| p as i32)
    }

    pub fn daemon_pid(&self) -> i32 {
        let health: Value =
            serde_json::from_str(&self.ok(&["daemon", "status", "-o", "json"])).unwrap();
        health["pid"].as_i64().unwrap() as i32
    }

    /// Processes of this test's home: the daemon (PRISN_HOME in its environment), shims and
    /// scripts (the home in their command line).
    pub fn processes(&self) -> Vec<(i32, String)> {
        let home = self.t.home.path().to_string_lossy().into_owned();
        let env_home = format!("PRISN_HOME={home}");
        let mut out = Vec::new();
        for e in std::fs::read_dir("/proc").unwrap().flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
                continue;
            };
            let Ok(raw) = std::fs::read(e.path().join("cmdline")) else {
                continue;
            };
            let cmd = String::from_utf8_lossy(&raw).replace('\0', " ");
            let state = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
            let zombie = state
                .rsplit(')')
                .next()
                .is_some_and(|r| r.trim_start().starts_with('Z'));
            let environ = std::fs::read(e.path().join("environ")).unwrap_or_default();
            let ours =
                cmd.contains(&home) || environ.split(|b| *b == 0).any(|v| v == env_home.as_bytes());
            if ours && !zombie {
                out.push((pid, cmd));
            }
        }
        out
    }
}

impl Drop for Local {
    fn drop(&mut self) {
        let _ = self.t.prisn().args(["daemon", "stop"]).output();
        // Whatever is left (a test that killed the daemon, a failed stop) goes too.
        for (pid, _) in self.processes() {
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

/// Wait for `f` to hold, up to `secs` seconds; panic naming `what` otherwise.
#[track_caller]
pub fn eventually(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out after {secs}s waiting for: {what}");
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `GET path` on 127.0.0.1:port; the body of a 200 answer.
pub fn http_get(port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut answer = String::new();
    s.read_to_string(&mut answer).ok()?;
    let (head, body) = answer.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200").then(|| body.to_string())
}

pub fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        !s.rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z')
    })
}

#[test]
fn an_api_is_served_restarted_after_a_kill_and_deleted_without_a_trace() {
    let l = Local::new();
    l.t.example("api.py");
    let port = free_port();
    let out = l.ok(&["deploy", "api.py", "--port", &port.to_string()]);
    assert_eq!(out, "app/api created\n");
    let body = http_get(port, "/hello/Ada").expect("the api answers");
    assert!(body.contains("\"greeting\":\"hello, Ada\""), "{body}");

    let status = l.status("api");
    assert_eq!(status["phase"], "Running");
    assert_eq!(status["port"], port);
    assert_eq!(
        (status["ready"].as_u64(), status["restarts"].as_u64()),
        (Some(1), Some(0))
    );
    let pid = l.pid("api").expect("a pid");
    // Redeploying the same thing changes nothing.
    assert_eq!(
        l.ok(&["deploy", "api.py", "--port", &port.to_string()]),
        "app/api unchanged\n"
    );
    assert_eq!(l.pid("api"), Some(pid));

    unsafe { libc::kill(pid, libc::SIGKILL) };
    eventually("a new process that answers", 30, || {
        l.pid("api").is_some_and(|p| p != pid) && http_get(port, "/healthz").is_some()
    });
    let status = l.status("api");
    assert_eq!(status["restarts"], 1);
    assert_eq!(status["last_exit"]["signal"], 9, "{status}");
    assert!(!alive(pid));

    let table = l.ok(&["get", "apps"]);
    assert!(
        table.starts_with("NAME")
            && table.contains("api")
            && table.contains("1/1")
            && table.contains("Running"),
        "{table}"
    );

    let new_pid = l.pid("api").unwrap();
    assert_eq!(l.ok(&["delete", "api", "--yes"]), "api deleted\n");
    assert!(!alive(new_pid));
    assert!(http_get(port, "/healthz").is_none());
    assert!(!l.t.home.path().join("logs/api.log").exists());
    assert!(!l.t.home.path().join("run/api").exists());
    let code: Vec<_> = std::fs::read_dir(l.t.home.path().join("code"))
        .unwrap()
        .collect();
    assert!(code.is_empty(), "snapshots left: {code:?}");
    assert!(
        std::fs::read_dir(l.t.home.path().join("gcroots")).map_or(true, |mut d| d.next().is_none())
    );
    let err = l.fails(&["status", "api"]);
    assert!(
        err.contains("no app, job or cron job named \"api\""),
        "{err}"
    );
    // Only the daemon is left.
    let left = l.processes();
    assert!(
        left.len() == 1 && left[0].1.contains("daemon run"),
        "{left:?}"
    );
}

#[test]
fn a_crash_loop_and_an_app_that_exits_at_once_show_in_status_with_their_output() {
    let l = Local::new();
    l.t.write("crash.py", "import sys\nprint('starting up')\nprint('boom: no config', file=sys.stderr)\nsys.exit(3)\n");
    let err = l.fails(&["deploy", "crash.py"]);
    assert!(
        err.contains("crash is CrashLoopBackOff: exited with code 3"),
        "{err}"
    );
    assert!(
        err.contains("boom: no config") && err.contains("prisn logs crash"),
        "{err}"
    );
    eventually("a few restarts", 30, || {
        l.status("crash")["restarts"].as_u64() >= Some(2)
    });
    let s = l.status("crash");
    assert_eq!(s["last_exit"]["code"], 3);
    assert_eq!(s["last_exit"]["reason"], "Error");
    let output: Vec<&str> = s["output"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        output.ends_with(&["starting up", "boom: no config"]),
        "{output:?}"
    );
    let text = l.ok(&["status", "crash"]);
    assert!(
        text.contains("Restarts:")
            && text.contains("Last output:\n")
            && text.contains("  boom: no config"),
        "{text}"
    );

    // An app that finishes is told it should have been a job.
    l.t.write("done.py", "print('all done')\n");
    let err = l.fails(&["deploy", "done.py"]);
    assert!(
        err.contains("exited with code 0") && err.contains("--once"),
        "{err}"
    );
    assert!(err.contains("all done"), "{err}");
}

#[test]
fn the_script_sees_only_its_own_processes_and_can_write_only_to_tmp() {
    let l = Local::new();
    let probe = "import os, sys, time\n\
        name = os.environ['PROBE']\n\
        print('pids', sorted(int(p) for p in os.listdir('/proc') if p.isdigit()))\n\
        for d in ['/tmp', os.getcwd(), os.path.expanduser('~'), '/var/tmp']:\n\
        \x20   path = os.path.join(d, name)\n\
        \x20   try:\n\
        \x20       open(path, 'w').write('x'); print('wrote', path)\n\
        \x20   except OSError as e:\n\
        \x20       print('refused', path, e.strerror)\n\
        print('done', flush=True)\n\
        time.sleep(600)\n";
    l.t.write("probe.py", probe);
    let name = format!("prisn-probe-{}", std::process::id());
    let host_tmp = std::path::Path::new("/tmp").join(&name);
    let env = format!("PROBE={name}");
    l.ok(&["deploy", "probe.py", "-e", &env]);
    eventually("the probe's output", 30, || {
        l.ok(&["logs", "probe"]).contains("done")
    });
    let out = l.ok(&["logs", "probe"]);
    assert!(out.starts_with("pids [1, 2]\n"), "{out}");
    assert!(out.contains(&format!("wrote /tmp/{name}\n")), "{out}");
    assert_eq!(out.matches("refused ").count(), 3, "{out}");
    assert_eq!(out.matches("Read-only file system").count(), 3, "{out}");
    // Its /tmp is its own.
    assert!(!host_tmp.exists());
    assert_eq!(l.status("probe")["extra"]["isolation"], "namespaces");
    let text = l.ok(&["status", "probe"]);
    assert!(
        text.contains("Isolation:   namespaces (pid, mount): read-only /, private /tmp"),
        "{text}"
    );

    // --isolation none: the host's processes and the host's /tmp.
    l.ok(&[
        "deploy",
        "probe.py",
        "--name",
        "plain",
        "--isolation",
        "none",
        "-e",
        &env,
    ]);
    eventually("the plain probe's output", 30, || {
        l.ok(&["logs", "plain"]).contains("done")
    });
    let out = l.ok(&["logs", "plain"]);
    let pids = out.lines().next().unwrap();
    assert!(pids.matches(',').count() > 5, "{pids}");
    assert!(host_tmp.exists());
    assert_eq!(l.status("plain")["extra"]["isolation"], "none");
    for d in ["/tmp", "/var/tmp"] {
        let _ = std::fs::remove_file(std::path::Path::new(d).join(&name));
    }
    if let Some(home) = std::env::var_os("HOME") {
        let _ = std::fs::remove_file(std::path::Path::new(&home).join(&name));
    }
}

#[test]
fn logs_follow_new_output_and_tail_and_rotate() {
    let l = Local::new();
    l.t.write("ticker.py", "import itertools, time\nfor i in itertools.count():\n    print('tick', i, 'x' * 40, flush=True)\n    time.sleep(0.05)\n");
    // Small log files, so rotation happens within the test.
    let out =
        l.t.prisn()
            .args(["deploy", "ticker.py"])
            .env("PRISN_LOG_MAX_BYTES", "4096")
            .output()
            .unwrap();
    ok(&out);
    let mut follow =
        l.t.prisn()
            .args(["logs", "ticker", "-f", "--tail", "1"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(follow.stdout.take().unwrap()));
    let first: u64 = tick(&lines.next().unwrap().unwrap());
    // New lines arrive in order, with no gap, across rotations.
    for expected in first + 1..first + 150 {
        let line = lines.next().unwrap().unwrap();
        assert_eq!(tick(&line), expected, "{line}");
    }
    follow.kill().unwrap();
    follow.wait().unwrap();
    assert!(l.t.home.path().join("logs/ticker.log.1").exists());
    let tail = l.ok(&["logs", "ticker", "--tail", "3"]);
    assert_eq!(tail.lines().count(), 3, "{tail}");
    let stamped = l.ok(&["logs", "ticker", "--tail", "1", "--timestamps"]);
    assert!(
        stamped.starts_with("20") && stamped.contains("Z tick "),
        "{stamped}"
    );

    // --since, without a clock window: stop the ticker, wait until all of its output is
    // more than 1 s old (--since 1s prints nothing), start it again and wait for new output.
    l.ok(&["scale", "ticker", "0"]);
    let old = l.ok(&["logs", "ticker", "--timestamps"]);
    let newest_old = old.lines().filter_map(stamp).max().expect("stamped lines");
    eventually("the stopped ticker's output to be over 1 s old", 30, || {
        l.ok(&["logs", "ticker", "--since", "1s"]).is_empty()
    });
    l.ok(&["scale", "ticker", "1"]);
    eventually("--since 1s to show the new output", 30, || {
        let recent = l.ok(&["logs", "ticker", "--since", "1s", "--timestamps"]);
        // Whatever it shows, it never shows the old lines: they only got older.
        for line in recent.lines() {
            let at = stamp(line).unwrap_or_else(|| panic!("not stamped: {line:?}"));
            assert!(at > newest_old, "--since 1s printed an old line: {line}");
        }
        !recent.is_empty()
    });
}

/// The RFC 3339 stamp that `logs --timestamps` puts first.
fn stamp(line: &str) -> Option<&str> {
    line.split_once(' ')
        .map(|(at, _)| at)
        .filter(|at| at.ends_with('Z'))
}

fn tick(line: &str) -> u64 {
    line.split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("not a tick: {line:?}"))
}

#[test]
fn run_detach_starts_a_one_off_job_with_its_own_name() {
    let l = Local::new();
    l.t.example("job.sh");
    let name = l
        .ok(&["run", "--detach", "job.sh", "--", "x"])
        .trim()
        .to_string();
    assert!(
        name.starts_with("job-") && name.len() == "job-".len() + 5,
        "{name}"
    );
    eventually("the job to succeed", 30, || {
        l.status(&name)["phase"] == "Succeeded"
    });
    assert!(l.ok(&["logs", &name]).contains("with 1 args: x"));
    let other = l.ok(&["run", "--detach", "job.sh"]).trim().to_string();
    assert_ne!(name, other);
    let jobs = l.ok(&["get", "jobs"]);
    assert!(
        jobs.contains(&name) && jobs.contains(&other) && jobs.contains("Succeeded"),
        "{jobs}"
    );
    // A failing job is Failed, with its exit code; -f ends when the job does.
    l.t.write("fail.sh", "echo failing; exit 4\n");
    l.ok(&["deploy", "fail.sh", "--once", "--no-wait"]);
    let followed = l.ok(&["logs", "fail", "-f"]);
    assert_eq!(followed, "failing\n");
    eventually("the job to fail", 30, || {
        l.status("fail")["phase"] == "Failed"
    });
    assert_eq!(l.status("fail")["last_exit"]["code"], 4);
}

#[test]
fn scale_stops_and_starts_an_app_and_more_than_one_needs_kubernetes() {
    let l = Local::new();
    l.t.write("sleeper.sh", "echo up; exec sleep 600\n");
    l.ok(&["deploy", "sleeper.sh"]);
    let pid = l.pid("sleeper").unwrap();
    let err = l.fails(&["scale", "sleeper", "3"]);
    assert!(
        err.contains("single instance")
            && err.contains("Kubernetes context")
            && err.contains("prisn context add"),
        "{err}"
    );
    assert_eq!(
        l.ok(&["scale", "sleeper", "0"]),
        "app/sleeper scaled to 0\n"
    );
    assert!(!alive(pid));
    assert_eq!(l.status("sleeper")["phase"], "Stopped");
    l.ok(&["scale", "sleeper", "1"]);
    eventually("it to run again", 30, || {
        l.pid("sleeper").is_some_and(|p| p != pid)
    });
}

/// A directory with a symlinked sub-directory deploys as it runs (issue 13, item 18), and a
/// traceback in `logs` and `status` names the user's files, not the daemon's snapshot.
#[test]
fn a_symlinked_package_deploys_and_its_traceback_names_the_users_file() {
    let l = Local::new();
    l.t.write(
        "shared/mod.py",
        "def boom():\n    raise ValueError('boom from the shared package')\n",
    );
    l.t.write("shared/__init__.py", "");
    l.t.write("app/main.py", "from lib.mod import boom\nboom()\n");
    std::os::unix::fs::symlink("../shared", l.t.path("app/lib")).unwrap();
    let err = l.fails(&[
        "deploy",
        "app",
        "--entrypoint",
        "main.py",
        "--once",
        "--wait",
        "--name",
        "tb",
    ]);
    assert!(err.contains("boom from the shared package"), "{err}");
    let app = std::fs::canonicalize(l.t.path("app")).unwrap();
    let want = format!("{}/lib/mod.py", app.display());
    let logs = l.ok(&["logs", "tb"]);
    assert!(logs.contains(&want), "logs name {want}? {logs}");
    assert!(!logs.contains("/code/"), "a snapshot path in logs: {logs}");
    let status = l.status("tb");
    let output = status["output"].to_string();
    assert!(
        output.contains(&want) && !output.contains("/code/"),
        "{output}"
    );
}
