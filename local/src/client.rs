//! The client side of the API, blocking (the CLI is synchronous): over the daemon's unix
//! socket here; the same calls work against `prisn server` over HTTPS once a base URL and a
//! token are given. [`connect_or_start`] starts the daemon on demand.

use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use prisn_builder::fslock::FileLock;
use reqwest::blocking::{RequestBuilder, Response};

use crate::api::{
    DeployBody, DeployReply, ErrorBody, Health, Kind, LogQuery, ReleaseView, RollbackBody,
    RollbackReply, ScaleBody, ShutdownBody, WorkloadView,
};
use crate::paths::Paths;
use crate::{Error, Result};

mod follow;

/// How long ordinary calls may take (delete and scale wait for processes to stop).
const CALL_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a fresh daemon may take to answer.
const START_TIMEOUT: Duration = Duration::from_secs(15);

/// A connection to a daemon's API.
pub struct Client {
    http: reqwest::blocking::Client,
    /// How to reach it again, for the async client a followed log stream uses.
    transport: Transport,
    base: String,
    /// What the client talks to, for messages: the daemon's socket or the server's URL.
    target: String,
    hint: String,
}

impl Client {
    /// A client of the daemon listening on `socket` (no request is made yet).
    ///
    /// # Errors
    /// When the HTTP client cannot be built.
    pub fn unix(socket: &Path) -> Result<Client> {
        // reqwest is built without a TLS provider of its own; prisn uses ring everywhere.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let transport = Transport::Unix(socket.to_path_buf());
        Ok(Client {
            http: transport.blocking()?,
            transport,
            base: "http://prisn".into(),
            target: format!("the prisn daemon on {}", socket.display()),
            hint: "`prisn daemon status` checks it; its log is in $PRISN_HOME/logs/daemon.log"
                .into(),
        })
    }

    /// A client of a `prisn server` at `base` (`https://host:port`), sending `headers` (the
    /// token, the namespace) with every request, over `tls` (remote mode pins the server's
    /// key there). No request is made yet.
    ///
    /// # Errors
    /// When the HTTP client cannot be built.
    pub fn remote(
        base: &str,
        headers: reqwest::header::HeaderMap,
        tls: rustls::ClientConfig,
    ) -> Result<Client> {
        let transport = Transport::Remote {
            headers,
            tls: Box::new(tls),
        };
        Ok(Client {
            http: transport.blocking()?,
            transport,
            base: base.trim_end_matches('/').to_string(),
            target: format!("the prisn server {base}"),
            hint: "is the server running at this address (`prisn context list`)? A changed server key is refused until the context pins the new one".into(),
        })
    }

    /// `PUT`/`POST` a JSON body to `path` and read the JSON answer (remote mode's own routes).
    ///
    /// # Errors
    /// As every call: the API's error answer, or an unreachable server.
    pub fn send_json<B: serde::Serialize, T: for<'de> serde::Deserialize<'de>>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &B,
    ) -> Result<T> {
        self.json(self.http.request(method, self.url(path)).json(body))
    }

    /// `GET` `path` and read the JSON answer (remote mode's own routes).
    ///
    /// # Errors
    /// As every call.
    pub fn get_json<T: for<'de> serde::Deserialize<'de>>(&self, path: &str) -> Result<T> {
        self.json(self.http.get(self.url(path)).timeout(CALL_TIMEOUT))
    }

    /// `PUT` raw bytes to `path` (an upload); the answer's body is dropped.
    ///
    /// # Errors
    /// As every call.
    pub fn put_bytes(&self, path: &str, bytes: Vec<u8>) -> Result<()> {
        self.send(
            self.http
                .put(self.url(path))
                .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                .body(bytes)
                .timeout(CALL_TIMEOUT),
        )
        .map(drop)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn send(&self, req: RequestBuilder) -> Result<Response> {
        let resp = req.send().map_err(|e| self.unreachable(&e))?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status().as_u16();
        Err(self.error_answer(status, &resp.text().unwrap_or_default()))
    }

    /// The request did not get an answer.
    fn unreachable(&self, e: &reqwest::Error) -> Error {
        Error::Unavailable {
            message: format!("cannot reach {}: {}", self.target, chain(e)),
            hint: Some(self.hint.clone()),
        }
    }

    /// An error answer: the API's `{"error", "hint"}`, or whatever else came.
    fn error_answer(&self, status: u16, text: &str) -> Error {
        match serde_json::from_str::<ErrorBody>(text) {
            Ok(b) => Error::Api {
                status,
                message: b.error,
                hint: b.hint,
            },
            Err(_) => Error::Api {
                status,
                message: format!("{} answered {status}: {}", self.target, text.trim()),
                hint: None,
            },
        }
    }

    fn json<T: for<'de> serde::Deserialize<'de>>(&self, req: RequestBuilder) -> Result<T> {
        let resp = self.send(req.timeout(CALL_TIMEOUT))?;
        resp.json()
            .map_err(|e| Error::BadAnswer { detail: chain(&e) })
    }

    pub fn health(&self) -> Result<Health> {
        self.json(self.http.get(self.url("/v1/health")))
    }

    pub fn list(&self, kind: Option<Kind>) -> Result<Vec<WorkloadView>> {
        let path = match kind {
            None => "/v1/workloads".to_string(),
            Some(k) => format!("/v1/workloads?kind={k}"),
        };
        self.json(self.http.get(self.url(&path)))
    }

    /// The workload's status with recent runs and output; None when there is none.
    pub fn get(&self, name: &str) -> Result<Option<WorkloadView>> {
        match self.json(self.http.get(self.url(&format!("/v1/workloads/{name}")))) {
            Ok(v) => Ok(Some(v)),
            Err(Error::Api { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub fn deploy(&self, name: &str, body: &DeployBody) -> Result<DeployReply> {
        self.json(
            self.http
                .put(self.url(&format!("/v1/workloads/{name}")))
                .json(body),
        )
    }

    /// Delete `name`; false when it did not exist. Returns notes (kept storage).
    pub fn delete(&self, name: &str) -> Result<Option<Vec<String>>> {
        match self
            .json::<serde_json::Value>(self.http.delete(self.url(&format!("/v1/workloads/{name}"))))
        {
            Ok(v) => Ok(Some(
                v["notes"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|n| n.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default(),
            )),
            Err(Error::Api { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub fn scale(&self, name: &str, replicas: u32) -> Result<WorkloadView> {
        self.json(
            self.http
                .put(self.url(&format!("/v1/workloads/{name}/scale")))
                .json(&ScaleBody { replicas }),
        )
    }

    /// The workload's releases, newest first.
    pub fn releases(&self, name: &str) -> Result<Vec<ReleaseView>> {
        self.json(
            self.http
                .get(self.url(&format!("/v1/workloads/{name}/releases"))),
        )
    }

    pub fn rollback(&self, name: &str, body: &RollbackBody) -> Result<RollbackReply> {
        self.json(
            self.http
                .post(self.url(&format!("/v1/workloads/{name}/rollback")))
                .json(body),
        )
    }

    /// Copy the workload's output to `out` as it arrives; with `follow`, as events until
    /// their end, reconnecting where a connection broke (see [`follow`]; its notes go to
    /// stderr).
    pub fn logs(&self, name: &str, q: &LogQuery, out: &mut dyn Write) -> Result<()> {
        if q.follow {
            return follow::follow(self, name, q, out);
        }
        let mut resp = self.send(self.http.get(self.logs_url(name, q)).timeout(CALL_TIMEOUT))?;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match resp.read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(Error::Unavailable {
                        message: format!("the log stream from {} broke: {e}", self.target),
                        hint: None,
                    });
                }
            };
            // A closed stdout (`prisn logs … | head`) ends the stream quietly.
            if out.write_all(&buf[..n]).and_then(|()| out.flush()).is_err() {
                return Ok(());
            }
        }
    }

    /// The URL of `name`'s logs as `q` asks for them.
    fn logs_url(&self, name: &str, q: &LogQuery) -> String {
        let mut params = vec![
            format!("follow={}", q.follow),
            format!("timestamps={}", q.timestamps),
        ];
        if let Some(t) = q.tail {
            params.push(format!("tail={t}"));
        }
        if let Some(s) = q.since_seconds {
            params.push(format!("since_seconds={s}"));
        }
        self.url(&format!("/v1/workloads/{name}/logs?{}", params.join("&")))
    }

    pub fn shutdown(&self, keep_apps: bool) -> Result<()> {
        self.send(
            self.http
                .post(self.url("/v1/shutdown"))
                .json(&ShutdownBody { keep_apps })
                .timeout(CALL_TIMEOUT),
        )
        .map(drop)
    }
}

/// How a [`Client`] reaches its daemon or server.
#[derive(Clone)]
enum Transport {
    Unix(std::path::PathBuf),
    Remote {
        headers: reqwest::header::HeaderMap,
        tls: Box<rustls::ClientConfig>,
    },
}

/// How long a log follower waits for a connection (a request has no timeout: answers and
/// streams take what they take).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// `builder` set up to reach `transport`: reqwest's blocking and async builders have these
/// methods alike but share no trait, so both clients of a transport are made through this.
macro_rules! reaching {
    ($builder:expr, $transport:expr) => {
        match $transport {
            Transport::Unix(socket) => $builder.unix_socket(socket.clone()),
            Transport::Remote { headers, tls } => $builder
                .tls_backend_preconfigured((**tls).clone())
                .default_headers(headers.clone()),
        }
    };
}

impl Transport {
    /// The client of every request but `logs -f`.
    fn blocking(&self) -> Result<reqwest::blocking::Client> {
        let b = reqwest::blocking::Client::builder().timeout(None::<Duration>);
        reaching!(b, self).build().map_err(Error::Client)
    }

    /// The client of `logs -f` (client::follow), which reconnects on its own.
    fn streaming(&self) -> Result<reqwest::Client> {
        let b = reqwest::Client::builder().connect_timeout(CONNECT_TIMEOUT);
        reaching!(b, self).build().map_err(Error::Client)
    }
}

/// `e: cause: cause` in one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let text = c.to_string();
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        cur = c.source();
    }
    s
}

/// A client of the running daemon, or None when none answers.
pub fn connect(paths: &Paths) -> Result<Option<(Client, Health)>> {
    let socket = paths.socket();
    if !socket.exists() {
        return Ok(None);
    }
    let client = Client::unix(&socket)?;
    match client.health() {
        Ok(h) => Ok(Some((client, h))),
        Err(Error::Unavailable { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Run `call`, and when the daemon went away while answering (it crashed, or was killed),
/// reconnect — starting a daemon — and run it once more. Only for idempotent calls (deploy,
/// delete, scale): the second call finds the change already made and says so, so the caller
/// reports what happened instead of a failure for a change that was applied.
///
/// # Errors
/// The second call's error, or the first one's when it was not about reaching the daemon.
pub fn idempotent<T>(
    paths: &Paths,
    exe: &Path,
    client: &Client,
    mut call: impl FnMut(&Client) -> Result<T>,
) -> Result<T> {
    match call(client) {
        Err(Error::Unavailable { message, .. }) => {
            tracing::warn!("{message}; reconnecting to check the outcome");
            let again = connect_or_start(paths, exe)?;
            call(&again)
        }
        other => other,
    }
}

/// A client of the running daemon, starting one (`<exe> daemon run`, detached) when none
/// answers. A file lock makes concurrent CLIs start exactly one.
///
/// # Errors
/// When the daemon cannot be started; its own error (e.g. about state.db) is quoted.
pub fn connect_or_start(paths: &Paths, exe: &Path) -> Result<Client> {
    if let Some((c, _)) = connect(paths)? {
        return Ok(c);
    }
    paths.secure().map_err(Error::io("secure", paths.root()))?;
    let _lock = FileLock::exclusive(&paths.start_lock())?;
    // Someone else may have started it while we waited for the lock.
    if let Some((c, _)) = connect(paths)? {
        return Ok(c);
    }
    let log_path = paths.daemon_log();
    rotate_daemon_log(&log_path);
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&log_path)
        .map_err(Error::io("open", &log_path))?;
    let offset = log.metadata().map(|m| m.len()).unwrap_or(0);
    let err_log = log.try_clone().map_err(Error::io("open", &log_path))?;
    let mut cmd = Command::new(exe);
    cmd.args(["daemon", "run", "-v"])
        .env("PRISN_HOME", paths.root())
        // daemon.log is a file: no terminal colours in it.
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(err_log);
    // SAFETY: setsid(2) is async-signal-safe. A session of its own: the daemon outlives us.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(|e| Error::Unavailable {
        message: format!(
            "cannot start the prisn daemon ({} daemon run): {e}",
            exe.display()
        ),
        hint: None,
    })?;
    let started = Instant::now();
    let mut pause = Duration::from_millis(1);
    loop {
        if let Some((c, _)) = connect(paths)? {
            return Ok(c);
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(startup_failure(
                &log_path,
                offset,
                &format!("it exited ({status})"),
            ));
        }
        if started.elapsed() > START_TIMEOUT {
            return Err(startup_failure(
                &log_path,
                offset,
                &format!("it did not answer within {}s", START_TIMEOUT.as_secs()),
            ));
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}

/// The daemon's own words about why it did not start, with its hint.
fn startup_failure(log: &Path, offset: u64, what: &str) -> Error {
    let text = std::fs::read(log)
        .map(|b| String::from_utf8_lossy(b.get(offset as usize..).unwrap_or_default()).into_owned())
        .unwrap_or_default();
    let mut hint = None;
    let mut lines = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if let Some(h) = line.strip_prefix("hint: ") {
            hint = Some(h.to_string());
        } else {
            lines.push(line.trim_start_matches("error: ").to_string());
        }
    }
    let said = if lines.is_empty() {
        String::new()
    } else {
        format!(": {}", lines.join("; "))
    };
    Error::Unavailable {
        message: format!("the prisn daemon did not start ({what}){said}"),
        hint: hint.or_else(|| Some(format!("its log is {}", log.display()))),
    }
}

/// Keep daemon.log from growing without bound: past 10 MiB it becomes daemon.log.1.
fn rotate_daemon_log(path: &Path) {
    if std::fs::metadata(path).is_ok_and(|m| m.len() > 10 * 1024 * 1024) {
        let _ = std::fs::rename(path, path.with_extension("log.1"));
    }
}

/// Stop the daemon (and, unless `keep_apps`, every run) and wait until it is gone.
///
/// # Errors
/// When it does not stop within `timeout`.
pub fn stop(paths: &Paths, keep_apps: bool, timeout: Duration) -> Result<Option<u32>> {
    let Some((client, health)) = connect(paths)? else {
        return Ok(None);
    };
    client.shutdown(keep_apps)?;
    let started = Instant::now();
    let pid = health.pid as i32;
    let start = crate::proc::start_time(pid);
    while start.is_some()
        && crate::proc::start_time(pid) == start
        && crate::proc::state(pid) != Some('Z')
    {
        if started.elapsed() > timeout {
            return Err(Error::Unavailable {
                message: format!(
                    "the prisn daemon (pid {pid}) did not stop within {}s",
                    timeout.as_secs()
                ),
                hint: Some(format!(
                    "kill {pid} stops it; its apps keep running and the next daemon adopts them"
                )),
            });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(Some(health.pid))
}
