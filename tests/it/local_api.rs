//! Local mode: the daemon's API refuses bodies that would run something outside the code or
//! hand an app the machine's files (issue 13, item 10), talking raw HTTP on its socket.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;

use serde_json::{Value, json};

use crate::local::*;

/// `method path` with a JSON body on the daemon's socket: (status, body).
pub fn request(socket: &Path, method: &str, path: &str, body: &Value) -> (u16, String) {
    let body = body.to_string();
    let mut s = UnixStream::connect(socket).expect("the daemon's socket");
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: prisn\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    let status = answer[9..12].parse().unwrap();
    let body = answer.split_once("\r\n\r\n").map(|(_, b)| b.to_string());
    (status, body.unwrap_or_default())
}

#[test]
fn bodies_with_paths_outside_the_code_or_unknown_fields_are_refused() {
    let l = Local::new();
    l.t.write("a.sh", "exec sleep 600\n");
    l.ok(&["deploy", "a.sh"]);
    let socket = l.t.home.path().join("daemon.sock");
    let view: Value = serde_json::from_str(&l.ok(&["status", "a", "-o", "json"])).unwrap();
    let env_dir = view["extra"]["env_dir"]
        .as_str()
        .or_else(|| view["env_dir"].as_str())
        .map(str::to_string)
        .unwrap_or_else(|| {
            // The environment is the only store entry of this home.
            let store = l.t.home.path().join("store");
            std::fs::read_dir(&store)
                .unwrap()
                .flatten()
                .map(|e| e.path())
                .find(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
                .unwrap()
                .to_string_lossy()
                .into_owned()
        });
    let work = l.t.work.path().to_string_lossy().into_owned();
    let body = |root: &str, entrypoint: &str, files: &[&str]| {
        json!({
            "kind": "app",
            "source": "x",
            "code": {"root": root, "entrypoint": entrypoint, "files": files, "runtime": "bash", "is_dir": false},
            "env_dir": env_dir,
        })
    };
    // The body the CLI would send is accepted (so the refusals below are about one field).
    let (status, answer) = request(
        &socket,
        "PUT",
        "/v1/workloads/good",
        &body(&work, "a.sh", &["a.sh"]),
    );
    assert_eq!(status, 201, "{answer}");

    let mut unknown = body(&work, "a.sh", &["a.sh"]);
    unknown["isolaton"] = json!("none");
    let home_link = l.t.work.path().join("home-link");
    std::os::unix::fs::symlink(l.t.home.path().join("state.db"), &home_link).unwrap();
    let mut bad_env = body(&work, "a.sh", &["a.sh"]);
    bad_env["env_dir"] = json!(l.t.home.path());
    let mut system_env = body(&work, "a.sh", &["a.sh"]);
    system_env["env_dir"] = json!("/etc");
    let cases = [
        (
            body(&work, "../../etc/passwd", &["a.sh"]),
            "code.entrypoint \"../../etc/passwd\"",
        ),
        (
            body(&work, "/etc/hostname", &["a.sh"]),
            "code.entrypoint \"/etc/hostname\"",
        ),
        (body(&work, "b.sh", &["a.sh"]), "is not one of code.files"),
        (
            body("/etc", "hostname", &["hostname"]),
            "code.root /etc is a system directory",
        ),
        (
            body(&work, "home-link", &["home-link"]),
            "in prisn's own home",
        ),
        (unknown, "unknown field `isolaton`"),
        (
            bad_env,
            "in prisn's home but not an environment of its store",
        ),
        (system_env, "env_dir /etc is a system directory"),
    ];
    for (i, (b, words)) in cases.iter().enumerate() {
        let (status, answer) = request(&socket, "PUT", &format!("/v1/workloads/bad{i}"), b);
        assert_eq!(status, 400, "case {i} ({words}): {answer}");
        let error: Value = serde_json::from_str(&answer).unwrap();
        let error = error["error"].as_str().unwrap();
        assert!(error.contains(words), "case {i}: {error}");
    }
    let (status, answer) = request(
        &socket,
        "PUT",
        "/v1/workloads/a/scale",
        &json!({"replicas": 0, "force": true}),
    );
    assert_eq!(status, 400, "{answer}");
    assert!(answer.contains("unknown field `force`"), "{answer}");
    // Nothing of it was created.
    let listed = l.ok(&["get"]);
    assert!(!listed.contains("bad"), "{listed}");
}
