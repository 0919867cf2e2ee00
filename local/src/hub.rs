//! The daemon's shared state, as every part of it sees it: [`Daemon`] (paths, tunables,
//! state.db, the workers), a worker's [`Live`] view of its runs, and the [`Msg`]s it takes.
//! A leaf: it knows no part of the daemon that uses it (start-up is `daemon`, the workers
//! `supervisor`, the API `server` and `ops`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};

use crate::api::{self, Kind};
use crate::paths::Paths;
use crate::shim;
use crate::state::{Db, recovery};
use crate::{Error, Result, logs};

/// Tunables (tests and benchmarks may shorten them through the environment).
#[derive(Debug, Clone)]
pub struct Config {
    /// The program started as `<shim_exe> daemon shim RUN_DIR` (the prisn binary).
    pub shim_exe: PathBuf,
    pub log_max_bytes: u64,
    pub log_keep: u32,
    /// SIGTERM → SIGKILL.
    pub stop_grace: Duration,
    /// First restart delay; doubles per consecutive failure up to `backoff_cap`.
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
    /// A run this long resets the failure count.
    pub backoff_reset: Duration,
    /// Finished runs kept per workload.
    pub history: usize,
    /// Releases kept per workload (their code and environments stay for rollbacks):
    /// `PRISN_KEEP_RELEASES`, default 10.
    pub releases: usize,
}

impl Config {
    /// Defaults, with `PRISN_LOG_MAX_BYTES` and `PRISN_STOP_GRACE` (e.g. `2s`) honoured.
    pub fn from_env(shim_exe: PathBuf) -> Config {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        Config {
            shim_exe,
            log_max_bytes: env("PRISN_LOG_MAX_BYTES")
                .and_then(|v| v.parse().ok())
                .unwrap_or(logs::MAX_BYTES),
            log_keep: logs::KEEP,
            stop_grace: env("PRISN_STOP_GRACE")
                .and_then(|v| humantime::parse_duration(&v).ok())
                .unwrap_or(Duration::from_secs(10)),
            backoff_base: Duration::from_millis(250),
            backoff_cap: Duration::from_secs(30),
            backoff_reset: Duration::from_secs(60),
            history: 20,
            releases: env("PRISN_KEEP_RELEASES")
                .and_then(|v| v.parse::<usize>().ok())
                .filter(|n| *n > 0)
                .unwrap_or(crate::state::releases::KEEP),
        }
    }
}

/// Run blocking work (file trees, port probes, log files) on tokio's blocking threads: the
/// daemon's executor is a single thread that every request and worker shares.
///
/// # Errors
/// When the task panicked.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|source| Error::Task {
            what: "blocking",
            source,
        })
}

/// Messages to a workload's worker.
pub(crate) enum Msg {
    /// The record changed (deploy, scale): look again.
    Reload,
    /// Stop every run, then end.
    Delete(oneshot::Sender<()>),
    /// The daemon ends: stop every run unless `keep`, then end.
    Shutdown {
        keep: bool,
        done: oneshot::Sender<()>,
    },
}

/// A run in progress, as the worker and the status see it.
#[derive(Debug, Clone)]
pub(crate) struct Active {
    pub generation: i64,
    pub shim_pid: i32,
    pub started_ms: i64,
    pub code_dir: PathBuf,
    pub started: Option<shim::Started>,
    pub stopping: bool,
}

/// What the worker knows beyond state.db.
#[derive(Debug, Clone, Default)]
pub(crate) struct Live {
    pub active: BTreeMap<i64, Active>,
    pub backoff_until_ms: Option<i64>,
    pub consecutive_failures: u32,
    pub next_run_ms: Option<i64>,
    pub last_error: Option<String>,
}

pub(crate) struct Worker {
    pub tx: mpsc::UnboundedSender<Msg>,
    pub live: Arc<Mutex<Live>>,
}

/// The daemon's shared state.
pub struct Daemon {
    pub(crate) paths: Paths,
    pub(crate) config: Config,
    pub(crate) home_id: String,
    pub(crate) db: Mutex<Db>,
    pub(crate) workers: Mutex<BTreeMap<String, Worker>>,
    /// Deploys, deletes and code GC one at a time.
    pub(crate) deploy_lock: tokio::sync::Mutex<()>,
    pub(crate) started_ms: i64,
    /// `Some(keep_apps)` once shutdown was asked for.
    pub(crate) shutdown: watch::Sender<Option<bool>>,
    /// Ports that answered lately, so views don't each probe the app.
    pub(crate) answered: crate::probe::PortMemo,
}

impl Daemon {
    /// Run `f` with the database (short, synchronous statements only).
    pub(crate) fn db<T>(&self, f: impl FnOnce(&mut Db) -> Result<T>) -> Result<T> {
        let mut db = self.db.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut db)
    }

    pub(crate) fn live(&self, name: &str) -> Live {
        self.workers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .map(|w| w.live.lock().unwrap_or_else(|p| p.into_inner()).clone())
            .unwrap_or_default()
    }

    pub(crate) fn notify(&self, name: &str) {
        if let Some(w) = self
            .workers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
        {
            let _ = w.tx.send(Msg::Reload);
        }
    }

    pub(crate) fn shutting_down(&self) -> bool {
        self.shutdown.borrow().is_some()
    }

    /// Ask the worker to stop everything and end; wait for it.
    pub(crate) async fn stop_worker(&self, name: &str) {
        let worker = self
            .workers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name);
        if let Some(w) = worker {
            let (ack, done) = oneshot::channel();
            if w.tx.send(Msg::Delete(ack)).is_ok() {
                let _ = done.await;
            }
        }
    }

    pub(crate) fn health(&self) -> api::Health {
        let workers = self.workers.lock().unwrap_or_else(|p| p.into_inner());
        let running = workers
            .values()
            .map(|w| {
                w.live
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .active
                    .len()
            })
            .sum();
        api::Health {
            version: env!("CARGO_PKG_VERSION").to_string(),
            pid: std::process::id(),
            home: self.paths.root().to_path_buf(),
            socket: self.paths.socket(),
            started: api::rfc3339(self.started_ms),
            workloads: workers.len(),
            running,
            rss_bytes: crate::proc::rss_bytes(std::process::id()),
        }
    }

    /// Save `name`'s record in its run directory, so a lost state.db can be rebuilt (see
    /// `state::recovery`); remove the file when the workload is gone.
    pub(crate) fn save_record(&self, name: &str) {
        let dir = self.paths.runs(name);
        let file = dir.join(recovery::WORKLOAD);
        let result = match self.db(|db| db.get(name)) {
            Ok(Some(rec)) => crate::paths::create_private_dir(&dir)
                .and_then(|()| shim::write_json(&file, &recovery::SavedRecord::of(&rec))),
            Ok(None) => match std::fs::remove_file(&file) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            },
            Err(e) => Err(std::io::Error::other(e.to_string())),
        };
        if let Err(e) = result {
            tracing::warn!("{name}: cannot save its record in {}: {e}", file.display());
        }
    }

    /// The kind of `name`, or NotFound.
    pub(crate) fn kind_of(&self, name: &str) -> Result<Kind> {
        self.db(|db| db.get(name))?
            .map(|r| r.kind)
            .ok_or_else(|| Error::NotFound(name.to_string()))
    }
}
