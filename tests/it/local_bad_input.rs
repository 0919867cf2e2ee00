//! Local mode: bad input gets a clear message naming the value and what to do, and changes
//! nothing.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;

use serde_json::{Value, json};

use crate::common::*;
use crate::local::*;

#[test]
fn a_port_in_use_is_refused_naming_the_process() {
    let l = Local::new();
    l.t.write("web.sh", "exec sleep 600\n");
    let taken = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let err = l.fails(&["deploy", "web.sh", "--port", &port]);
    let me = std::process::id();
    assert!(
        err.contains(&format!("port {port} is already in use by pid {me}")),
        "{err}"
    );
    assert!(err.contains("choose another --port"), "{err}");
    assert!(l.ok(&["get"]).is_empty());
    // A port another app of ours holds names that app.
    drop(taken);
    l.ok(&["deploy", "web.sh", "--port", &port, "--no-wait"]);
    let err = l.fails(&["deploy", "web.sh", "--name", "web2", "--port", &port]);
    assert!(
        err.contains(&format!("port {port} is already used by app web")),
        "{err}"
    );
}

#[test]
fn invalid_schedules_names_quantities_and_replicas_are_refused_before_anything_runs() {
    let l = Local::new();
    l.t.example("job.sh");
    let err = l.fails(&["deploy", "job.sh", "--schedule", "61 * * * *"]);
    assert!(
        err.contains("invalid schedule \"61 * * * *\"") && err.contains("*/5 * * * *"),
        "{err}"
    );
    let err = l.fails(&["deploy", "job.sh", "--schedule", "every day"]);
    assert!(
        err.contains("invalid schedule \"every day\": it has 2 fields"),
        "{err}"
    );
    let err = l.fails(&["deploy", "job.sh", "--name", "My_Job"]);
    assert!(
        err.contains("invalid name \"My_Job\"") && err.contains("--name my-job"),
        "{err}"
    );
    l.t.write("2fa.sh", "echo\n");
    let err = l.fails(&["deploy", "2fa.sh"]);
    assert!(
        err.contains("cannot derive a name from \"2fa\"") && err.contains("--name"),
        "{err}"
    );
    let err = l.fails(&["deploy", "job.sh", "--memory", "lots"]);
    assert!(
        err.contains("invalid --memory \"lots\"") && err.contains("256Mi"),
        "{err}"
    );
    let err = l.fails(&["deploy", "job.sh", "--replicas", "2"]);
    assert!(
        err.contains("single instance") && err.contains("Kubernetes context"),
        "{err}"
    );
    let err = l.fails(&["deploy", "job.sh", "--storage", "data"]);
    assert!(err.contains("invalid --storage \"data\""), "{err}");
    // None of these started the daemon's workloads.
    assert!(l.ok(&["get"]).is_empty());
}

#[test]
fn unknown_names_say_so_everywhere() {
    let l = Local::new();
    for args in [
        vec!["status", "nope"],
        vec!["logs", "nope"],
        vec!["scale", "nope", "1"],
        vec!["delete", "nope", "--yes"],
        vec!["get", "apps", "nope"],
    ] {
        let err = l.fails(&args);
        assert!(
            err.contains("no app, job or cron job named \"nope\""),
            "{args:?}: {err}"
        );
        assert!(err.contains("hint: `prisn get` lists"), "{args:?}: {err}");
    }
    ok(&l.run(&["delete", "nope", "--yes", "--ignore-not-found"]));
}

#[test]
fn a_name_belongs_to_one_kind() {
    let l = Local::new();
    l.t.example("job.sh");
    l.ok(&["deploy", "job.sh", "--once"]);
    let err = l.fails(&["deploy", "job.sh", "--schedule", "* * * * *"]);
    assert!(err.contains("the name \"job\" is taken by a job"), "{err}");
    let err = l.fails(&["scale", "job", "1"]);
    assert!(err.contains("job is a job: it runs once"), "{err}");
}

/// One request over the daemon's unix socket: (status, JSON body).
fn api(l: &Local, method: &str, path: &str, body: &Value) -> (u16, Value) {
    let mut s = UnixStream::connect(l.t.home.path().join("daemon.sock")).unwrap();
    let payload = if body.is_null() {
        String::new()
    } else {
        body.to_string()
    };
    // One write: a server that answers before reading a body must not see half a request.
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: prisn\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{payload}",
        payload.len()
    );
    s.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    // Small answers are sent whole (Content-Length), never chunked.
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

#[test]
fn two_deploys_of_one_name_at_once_one_wins_the_other_gets_a_conflict() {
    let l = Local::new();
    l.t.write("s.sh", "exec sleep 600\n");
    l.ok(&["daemon", "start"]);
    let socket = l.t.home.path().join("daemon.sock");
    let mode = std::fs::metadata(&socket)
        .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()))
        .unwrap();
    assert_eq!(mode & 0o777, 0o600);
    // Both CLIs found the name free while they prepared, then sent their deploy.
    let deploy = |arg: &str| {
        json!({
            "kind": "app",
            "source": "s.sh",
            "code": {"root": l.t.work.path(), "entrypoint": "s.sh", "files": ["s.sh"], "runtime": "bash", "is_dir": false},
            "env_dir": l.t.work.path(),
            "args": [arg],
            "expect": "absent",
        })
    };
    let (first, reply) = api(&l, "PUT", "/v1/workloads/twin", &deploy("a"));
    assert_eq!(first, 201, "{reply}");
    assert_eq!(reply["created"], true);
    let (second, reply) = api(&l, "PUT", "/v1/workloads/twin", &deploy("b"));
    assert_eq!(second, 409, "{reply}");
    assert!(
        reply["error"]
            .as_str()
            .unwrap()
            .contains("deployed by another prisn"),
        "{reply}"
    );
    assert!(
        reply["hint"]
            .as_str()
            .unwrap()
            .contains("run the deploy again"),
        "{reply}"
    );
    // A deploy prepared against an older generation loses too.
    let mut stale = deploy("c");
    stale["expect"] = json!({"generation": 7});
    let (code, reply) = api(&l, "PUT", "/v1/workloads/twin", &stale);
    assert_eq!(code, 409, "{reply}");
    // The winner's spec is what runs.
    let (code, view) = api(&l, "GET", "/v1/workloads/twin", &Value::Null);
    assert_eq!(
        (code, view["generation"].as_i64()),
        (200, Some(1)),
        "{view}"
    );
    let (code, reply) = api(&l, "GET", "/v1/nowhere", &Value::Null);
    assert_eq!(code, 404, "{reply}");
    let (code, reply) = api(&l, "PUT", "/v1/workloads/twin", &json!({"kind": "app"}));
    assert_eq!(code, 400, "{reply}");
    assert!(
        reply["error"]
            .as_str()
            .unwrap()
            .contains("invalid request body"),
        "{reply}"
    );

    // Two CLIs at once: both finish, at least one wins, and a loser says why.
    let children: Vec<_> = ["A", "B"]
        .iter()
        .map(|v| {
            l.t.prisn()
                .args([
                    "deploy",
                    "s.sh",
                    "--name",
                    "race",
                    "--no-wait",
                    "-e",
                    &format!("V={v}"),
                ])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outs: Vec<_> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    assert!(outs.iter().any(|o| o.status.success()), "{outs:?}");
    for o in outs.iter().filter(|o| !o.status.success()) {
        let err = stderr(o);
        assert!(
            err.contains("another prisn") || err.contains("another deploy"),
            "{err}"
        );
    }
}

#[test]
fn a_corrupt_state_db_is_refused_and_kept() {
    let l = Local::new();
    std::fs::create_dir_all(l.t.home.path()).unwrap();
    let db = l.t.home.path().join("state.db");
    let garbage = b"not sqlite, but somebody's bytes\n".repeat(200);
    std::fs::write(&db, &garbage).unwrap();
    let err = l.fails(&["get"]);
    assert!(err.contains("the prisn daemon did not start"), "{err}");
    assert!(
        err.contains("state.db is not a readable prisn state database"),
        "{err}"
    );
    assert!(
        err.contains("hint: prisn has not changed it") && err.contains(".corrupt"),
        "{err}"
    );
    assert_eq!(std::fs::read(&db).unwrap(), garbage);
}

#[test]
fn a_locked_state_db_names_who_holds_it() {
    let l = Local::new();
    l.ok(&["daemon", "start"]);
    l.ok(&["daemon", "stop"]);
    let db = l.t.home.path().join("state.db");
    let mut holder = std::process::Command::new("python3")
        .args([
            "-c",
            "import sqlite3, sys, time\nc = sqlite3.connect(sys.argv[1], isolation_level=None)\nc.execute('BEGIN EXCLUSIVE')\nprint('locked', flush=True)\ntime.sleep(60)\n",
        ])
        .arg(&db)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(holder.stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line, "locked\n");
    let err = l.fails(&["get"]);
    let _ = holder.kill();
    let _ = holder.wait();
    assert!(err.contains("state.db is locked by pid"), "{err}");
    assert!(err.contains("python3"), "{err}");
    assert!(err.contains("close whatever holds it"), "{err}");
    // Once it is free, everything works again.
    l.ok(&["get"]);
}
