//! Namespaces separate workloads. The design: **a namespace is a local-mode home**,
//! `DATA/ns/<namespace>/home/`, with its own prisn daemon (state.db, supervision, restarts, cron,
//! logs and their rotation, the sandbox), its own store of environments, its uploaded blobs
//! and the code of its workloads. The server starts each namespace's daemon on first use
//! (exactly as the CLI starts the local daemon) and forwards the daemon's routes to it over
//! its unix socket. So names are unique per namespace, one tenant's runs see only their own
//! code and environment (the daemon's sandbox), and a server killed with -9 loses nothing:
//! the daemons keep supervising, and the next server finds them again (or starts them, and
//! they re-adopt their runs).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use futures::StreamExt as _;
use prisn_builder::home::Home;
use prisn_local::Paths;

use crate::{Error, Result};

/// Check a namespace's name: a DNS label, like workload names.
///
/// # Errors
/// 400 naming the value.
pub fn validate(ns: &str) -> Result<()> {
    prisn_api::name::validate(ns).map_err(|e| {
        Error::invalid(
            format!("namespace: {}", e.to_string().replace("name", "namespace")),
            None,
        )
    })
}

/// The directory of namespace `ns`: its uploads (`blobs/`), its workloads' code (`src/`)
/// and its daemon's home (`home/`; the daemon refuses code that lies in its own home).
pub fn dir(data: &Path, ns: &str) -> PathBuf {
    data.join("ns").join(ns)
}

/// The local-mode home of namespace `ns`'s daemon.
pub fn home(data: &Path, ns: &str) -> Home {
    Home::at(dir(data, ns).join("home"))
}

/// The request headers forwarded to a daemon: what a log stream is asked for with (events,
/// and the cursor to resume after; see `prisn_local::logstream`).
const PASSED: [&str; 2] = ["accept", prisn_local::logstream::LAST_EVENT_ID];

/// The answer headers handed back: the type, and what keeps a log stream flowing through
/// proxies (no caching, no buffering, the heartbeat interval).
const RETURNED: [&str; 4] = [
    "content-type",
    "cache-control",
    "x-accel-buffering",
    prisn_local::logstream::HEARTBEAT_HEADER,
];

/// The daemons of the namespaces, started on demand.
pub struct Namespaces {
    data: PathBuf,
    /// The prisn executable, run as `prisn daemon run` with `PRISN_HOME` = the namespace.
    exe: PathBuf,
    clients: Mutex<HashMap<String, reqwest::Client>>,
    /// Turns true when the server stops: answers still streaming (`logs -f`) end then, or
    /// the graceful shutdown would wait for them forever. An event stream cut so has no
    /// `end` event, so its client resumes from the restarted server.
    stopping: tokio::sync::watch::Receiver<bool>,
}

/// Create `DATA/ns/<ns>/` (and `DATA/ns/`) with mode 0711: a sandboxed run must pass
/// through them to reach its code and environment (bound back into its view of the
/// namespace's home), but may not list them; what they hold stays 0700/0600.
///
/// # Errors
/// IO.
pub fn prepare(data: &Path, ns: &str) -> Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = dir(data, ns);
    for d in [data.join("ns"), dir.clone()] {
        prisn_local::paths::create_private_dir(&d).map_err(Error::io("create", &d))?;
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o711))
            .map_err(Error::io("chmod", &d))?;
    }
    Ok(dir)
}

impl Namespaces {
    pub fn new(
        data: &Path,
        exe: PathBuf,
        stopping: tokio::sync::watch::Receiver<bool>,
    ) -> Namespaces {
        Namespaces {
            data: data.to_path_buf(),
            exe,
            clients: Mutex::new(HashMap::new()),
            stopping,
        }
    }

    /// The prisn executable the server runs its helpers with.
    pub fn exe(&self) -> &Path {
        &self.exe
    }

    pub fn home(&self, ns: &str) -> Home {
        home(&self.data, ns)
    }

    pub fn dir(&self, ns: &str) -> PathBuf {
        dir(&self.data, ns)
    }

    /// A client of `ns`'s daemon, starting the daemon when it does not answer.
    async fn client(&self, ns: &str, fresh: bool) -> Result<reqwest::Client> {
        if !fresh && let Some(c) = self.lock().get(ns) {
            return Ok(c.clone());
        }
        let paths = Paths::new(&self.home(ns));
        let exe = self.exe.clone();
        let socket = paths.socket();
        tokio::task::spawn_blocking(move || prisn_local::client::connect_or_start(&paths, &exe))
            .await
            .map_err(|source| Error::Task {
                what: "namespace daemon start",
                source,
            })??;
        let client = reqwest::Client::builder()
            .unix_socket(socket)
            .build()
            .map_err(Error::Client)?;
        self.lock().insert(ns.to_string(), client.clone());
        Ok(client)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, reqwest::Client>> {
        self.clients.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Send a request to `ns`'s daemon and hand its answer back as it comes, unbuffered (log
    /// streams too). Of the caller's headers only those in [`PASSED`] go along (never
    /// `Authorization`: the daemon trusts its socket); of the answer's, those in [`RETURNED`].
    /// A daemon that went away is started again and asked once more: every route forwarded
    /// is idempotent.
    ///
    /// # Errors
    /// 503 when the daemon cannot be reached or started.
    pub async fn forward(
        &self,
        ns: &str,
        method: Method,
        path_and_query: &str,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Result<Response> {
        let mut fresh = false;
        let resp = loop {
            let client = self.client(ns, fresh).await?;
            let mut req = client
                .request(method.clone(), format!("http://prisn{path_and_query}"))
                .header(header::CONTENT_TYPE, "application/json")
                .body(body.clone());
            for (name, value) in headers.iter().filter(|(n, _)| PASSED.contains(&n.as_str())) {
                req = req.header(name.as_str(), value.as_bytes());
            }
            match req.send().await {
                Ok(r) => break r,
                Err(e) if !fresh => {
                    tracing::warn!("namespace {ns}: its daemon did not answer ({e}); starting it");
                    fresh = true;
                }
                Err(e) => {
                    return Err(Error::Unavailable {
                        message: format!("namespace {ns}: its daemon does not answer: {e}"),
                        hint: Some("the server's log says why".into()),
                    });
                }
            }
        };
        let status = StatusCode::from_u16(resp.status().as_u16())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let returned: Vec<(HeaderName, HeaderValue)> = RETURNED
            .iter()
            .filter_map(|name| {
                let v = resp.headers().get(*name)?;
                Some((
                    HeaderName::from_static(name),
                    HeaderValue::from_bytes(v.as_bytes()).ok()?,
                ))
            })
            .collect();
        let mut stopping = self.stopping.clone();
        let stopped = async move {
            let _ = stopping.wait_for(|s| *s).await;
        };
        let body = resp.bytes_stream().take_until(stopped);
        let mut out = Response::new(Body::from_stream(body));
        *out.status_mut() = status;
        out.headers_mut().extend(returned);
        Ok(out)
    }
}
