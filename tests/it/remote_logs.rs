//! `prisn logs -f` through proxies (issue 11): the log stream as Server-Sent Events with
//! heartbeats, resumable by position. A real server over TLS, the real CLI, and between them
//! a TCP relay in the test that can cut or freeze its connections: the faults a proxy
//! causes, caused for real (and a server restart).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use crate::common::*;
use crate::local::eventually;
use crate::remote::{Remote, all_text};

/// The daemons' heartbeat interval in these tests (the default is 15 s).
const HEARTBEAT_MS: &str = "300";

/// An app that prints `n 1`, `n 2`, … every 20 ms.
const COUNT: &str = "import itertools, time\nfor i in itertools.count(1):\n    print('n', i, flush=True)\n    time.sleep(0.02)\n";

/// An app that prints three lines and then nothing.
const QUIET: &str =
    "import time\nprint('q 1')\nprint('q 2')\nprint('q 3', flush=True)\ntime.sleep(100000)\n";

fn server() -> Remote {
    Remote::build(
        TestContext::new(),
        &[],
        vec![("PRISN_LOG_HEARTBEAT_MS".into(), HEARTBEAT_MS.into())],
        None,
    )
}

/// A TCP relay on loopback in front of `to`, forwarding each connection both ways until
/// told to cut or freeze the connections open at that moment (new ones are forwarded).
struct Relay {
    port: u16,
    conns: Arc<Mutex<Vec<Conn>>>,
}

struct Conn {
    client: TcpStream,
    server: TcpStream,
    frozen: Arc<AtomicBool>,
}

impl Relay {
    fn start(to: u16) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let conns: Arc<Mutex<Vec<Conn>>> = Arc::default();
        let list = conns.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(("127.0.0.1", to)) else {
                    continue;
                };
                let frozen = Arc::new(AtomicBool::new(false));
                pipe(&client, &server, &frozen);
                pipe(&server, &client, &frozen);
                list.lock().unwrap().push(Conn {
                    client,
                    server,
                    frozen,
                });
            }
        });
        Relay { port, conns }
    }

    /// Close every connection open now, both ways (a proxy that dropped them).
    fn cut(&self) {
        for c in self.conns.lock().unwrap().drain(..) {
            let _ = c.client.shutdown(Shutdown::Both);
            let _ = c.server.shutdown(Shutdown::Both);
        }
    }

    /// Stop forwarding on every connection open now, leaving them open (a proxy that hangs).
    fn freeze(&self) {
        for c in self.conns.lock().unwrap().iter() {
            c.frozen.store(true, Ordering::SeqCst);
        }
    }
}

/// Copy `from` to `to` (dropping the bytes once frozen); at the end close both ways.
fn pipe(from: &TcpStream, to: &TcpStream, frozen: &Arc<AtomicBool>) {
    let (mut from, mut to, frozen) = (
        from.try_clone().unwrap(),
        to.try_clone().unwrap(),
        frozen.clone(),
    );
    std::thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) if frozen.load(Ordering::SeqCst) => {}
                Ok(n) => {
                    if to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = to.shutdown(Shutdown::Both);
    });
}

/// The lines a child writes, as they come.
struct Lines(mpsc::Receiver<String>);

impl Lines {
    fn of(r: impl Read + Send + 'static) -> Lines {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(r).split(b'\n') {
                let Ok(line) = line else { break };
                let line = String::from_utf8_lossy(&line);
                if tx.send(line.trim_end_matches('\r').to_string()).is_err() {
                    break;
                }
            }
        });
        Lines(rx)
    }

    /// The lines up to and including the first that `stop` accepts.
    #[track_caller]
    fn until(&self, what: &str, stop: impl Fn(&str) -> bool) -> Vec<String> {
        let mut out = Vec::new();
        loop {
            match self.0.recv_timeout(Duration::from_secs(60)) {
                Ok(line) => {
                    let done = stop(&line);
                    out.push(line);
                    if done {
                        return out;
                    }
                }
                Err(e) => panic!("waiting for {what} ({e}); got {out:#?}"),
            }
        }
    }

    /// The lines until the child closes its output.
    fn rest(&self) -> Vec<String> {
        self.0.iter().collect()
    }
}

/// A child killed when the test ends early (a failing assertion must not leave it running).
struct Guard(Option<Child>);

impl Guard {
    fn take(&mut self) -> Child {
        self.0.take().expect("the child")
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn number(line: &str) -> u64 {
    line.split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("not a numbered line: {line:?}"))
}

#[test]
fn logs_follow_through_a_relay_that_cuts_and_freezes_prints_every_line_once() {
    let mut r = server();
    r.t.write("count.py", COUNT);
    r.ok(&["deploy", "count.py"]);
    let relay = Relay::start(r.port);
    r.write_context_via("relay", "production", &r.token, relay.port);
    let mut child =
        r.t.prisn()
            .args(["--context", "relay", "logs", "count", "-f"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
    let lines = Lines::of(child.stdout.take().unwrap());
    let mut child = Guard(Some(child));
    let mut seen = lines.until("n 20", |l| l == "n 20");
    relay.cut();
    seen.extend(lines.until("n 60 after the cut", |l| l == "n 60"));
    relay.freeze();
    seen.extend(lines.until("n 100 after the freeze", |l| l == "n 100"));
    // The server restarts: SIGTERM ends its streams (a graceful shutdown would wait for
    // them forever), and the client retries while nothing listens and resumes from the new
    // server.
    let mut old = r.server.take().unwrap();
    unsafe { libc::kill(old.id() as i32, libc::SIGTERM) };
    eventually("the server to stop on SIGTERM", 30, || {
        old.try_wait().unwrap().is_some()
    });
    r.start();
    seen.extend(lines.until("n 140 after the restart", |l| l == "n 140"));
    // A clean end: the workload is deleted, the stream says so, `logs -f` exits 0.
    r.ok(&["delete", "count", "--yes"]);
    seen.extend(lines.rest());
    let out = child.take().wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let numbers: Vec<u64> = seen
        .iter()
        .map(|l| {
            l.strip_prefix("n ")
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("not a numbered line: {l:?} in {seen:?}; {err}"))
        })
        .collect();
    let expected: Vec<u64> = (1..=numbers.len() as u64).collect();
    assert_eq!(
        numbers, expected,
        "every line exactly once, in order; {err}"
    );
    let target = format!(
        "reconnecting to the prisn server https://127.0.0.1:{} (resuming at position ",
        relay.port
    );
    assert_eq!(
        err.matches(&target).count(),
        3,
        "one note a reconnect: {err}"
    );
    assert!(err.contains("not even a heartbeat"), "{err}");
}

/// `curl -N` of `path` with `headers` (and the token and namespace), streaming: the child and
/// its output lines (response headers first).
fn stream(r: &Remote, path: &str, headers: &[&str]) -> (Guard, Lines) {
    let mut cmd = Command::new("curl");
    cmd.args([
        "-skiN",
        "-H",
        &r.bearer(&r.token),
        "-H",
        "prisn-namespace: production",
    ]);
    for h in headers {
        cmd.args(["-H", h]);
    }
    cmd.arg(format!("https://127.0.0.1:{}{path}", r.port))
        .stdout(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let lines = Lines::of(child.stdout.take().unwrap());
    (Guard(Some(child)), lines)
}

const SSE: &str = "Accept: text/event-stream";

/// The numbers of the `n X` lines in `text` (the data lines of events, or plain text).
fn numbers(text: &str) -> Vec<u64> {
    text.lines()
        .map(|l| l.strip_prefix("data: ").unwrap_or(l))
        .filter(|l| l.starts_with("n "))
        .map(number)
        .collect()
}

#[track_caller]
fn assert_follows(numbers: &[u64], after: u64, what: &str) {
    assert!(!numbers.is_empty(), "{what}: no output");
    let expected: Vec<u64> = (after + 1..after + 1 + numbers.len() as u64).collect();
    assert_eq!(numbers, expected, "{what}");
}

#[test]
fn the_event_stream_has_heartbeats_resumes_by_cursor_refuses_garbage_ends_and_gives_up() {
    let mut r = server();
    r.t.write("quiet.py", QUIET);
    r.t.write("count.py", COUNT);
    r.ok(&["deploy", "quiet.py"]);
    r.ok(&["deploy", "count.py"]);
    eventually("the quiet app's lines", 60, || {
        r.ok(&["logs", "quiet"]).contains("q 3")
    });

    // Heartbeats through the server while the app is quiet; then its deletion ends the
    // stream with an `end` event.
    let (mut curl, lines) = stream(&r, "/v1/workloads/quiet/logs?follow=true", &[SSE]);
    let head = lines
        .until("the response headers", str::is_empty)
        .join("\n");
    let head = head.to_ascii_lowercase();
    for h in [
        " 200",
        "content-type: text/event-stream",
        "cache-control: no-cache",
        "x-accel-buffering: no",
        &format!("x-prisn-heartbeat-ms: {HEARTBEAT_MS}"),
    ] {
        assert!(head.contains(h), "{h} in {head}");
    }
    let history = lines.until("the history event", str::is_empty);
    assert!(history[0].starts_with("id: "), "{history:?}");
    assert_eq!(
        &history[1..],
        ["data: q 1", "data: q 2", "data: q 3", "data: ", ""]
    );
    for _ in 0..2 {
        lines.until("a heartbeat", |l| l == ": heartbeat");
    }
    r.ok(&["delete", "quiet", "--yes"]);
    let rest = lines.rest().join("\n");
    assert!(rest.contains("event: end\ndata: deleted\n"), "{rest}");
    assert!(curl.take().wait().unwrap().success());

    // A cursor from the middle of a stream: the second event after the history.
    let (curl, lines) = stream(&r, "/v1/workloads/count/logs?follow=true", &[SSE]);
    lines.until("the response headers", str::is_empty);
    lines.until("the history event", str::is_empty);
    lines.until("an event", str::is_empty);
    let event = lines.until("another event", str::is_empty);
    drop(curl);
    let cursor = event[0]
        .strip_prefix("id: ")
        .expect("an id first")
        .to_string();
    let last = *numbers(&event.join("\n"))
        .last()
        .expect("output in the event");
    let auth = r.bearer(&r.token);
    let ns = "prisn-namespace: production";
    let last_event_id = format!("Last-Event-ID: {cursor}");
    // The app has written past the cursor (on a loaded machine it may not have yet, and a
    // resume with nothing after the cursor rightly returns no lines).
    eventually("a line after the cursor", 60, || {
        numbers(&r.ok(&["logs", "count"]))
            .last()
            .is_some_and(|n| *n > last)
    });

    let (code, body) = r.curl(
        "GET",
        "/v1/workloads/count/logs",
        &[&auth, ns, SSE, &last_event_id],
        None,
    );
    assert_eq!(code, 200, "{body}");
    assert_follows(&numbers(&body), last, "Last-Event-ID: only later lines");
    assert!(body.ends_with("event: end\ndata: done\n\n"), "{body}");
    let (code, body) = r.curl(
        "GET",
        &format!("/v1/workloads/count/logs?from={cursor}&tail=1"),
        &[&auth, ns],
        None,
    );
    assert_eq!(code, 200, "{body}");
    assert_follows(&numbers(&body), last, "?from= in plain text, tail ignored");
    // Last-Event-ID wins over `from` (a reconnecting browser keeps its first URL).
    let (code, body) = r.curl(
        "GET",
        "/v1/workloads/count/logs?from=0-0-0",
        &[&auth, ns, &last_event_id],
        None,
    );
    assert_eq!(code, 200, "{body}");
    assert_follows(&numbers(&body), last, "Last-Event-ID over from");

    // Garbage cursors: 400 naming the value, by header and by query, and nothing breaks.
    let huge = "9".repeat(300);
    for bad in [
        "../../etc/passwd",
        "-1-0-0",
        "1-0--5",
        "18446744073709551616-0-0",
        huge.as_str(),
        "1-2",
        "1-2-3-4",
        "0x10-0-0",
    ] {
        let header = format!("Last-Event-ID: {bad}");
        let shown: String = bad.chars().take(64).collect();
        let (code, body) = r.curl(
            "GET",
            "/v1/workloads/count/logs",
            &[&auth, ns, SSE, &header],
            None,
        );
        assert_eq!(code, 400, "{bad}: {body}");
        assert!(
            body.contains("invalid log position") && body.contains(&shown),
            "{body}"
        );
        let (code, body) = r.curl(
            "GET",
            &format!("/v1/workloads/count/logs?from={bad}"),
            &[&auth, ns],
            None,
        );
        assert_eq!(code, 400, "{bad}: {body}");
        assert!(body.contains(&shown), "{body}");
    }
    assert!(r.ok(&["get"]).contains("count"), "the daemon still answers");

    // A server that does not come back: `logs -f` gives up after its 30 s of retrying, with
    // an error naming the server and the last position.
    let mut follow =
        r.t.prisn()
            .args(["--context", "prod", "logs", "count", "-f"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
    let lines = Lines::of(follow.stdout.take().unwrap());
    let mut follow = Guard(Some(follow));
    lines.until("a line", |l| l.starts_with("n "));
    r.kill();
    let child = follow.0.as_mut().unwrap();
    let mut status = None;
    eventually("logs -f to give up", 90, || {
        status = child.try_wait().unwrap();
        status.is_some()
    });
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(!status.unwrap().success(), "{err}");
    let server = format!("the prisn server https://127.0.0.1:{}", r.port);
    assert!(
        err.contains(&format!("the log stream from {server} broke"))
            && err.contains("could not be resumed within 30s; last position ")
            && err.contains(&format!("reconnecting to {server} (resuming at position ")),
        "{err}"
    );

    // The token is in no log and no file of the server.
    let secret = r.token.rsplit('_').next().unwrap();
    let server_log = std::fs::read_to_string(r.log_file()).unwrap();
    assert!(
        !server_log.contains(secret),
        "the token is in the server's log"
    );
    assert!(
        !all_text(r.data.path()).contains(secret),
        "the token is in the server's data"
    );
}
