//! The supervisor daemon: one per `$PRISN_HOME`, holding `daemon.lock` for its lifetime.
//!
//! Start-up: take the lock, open state.db (checked, backed up, migrated), re-adopt the runs
//! whose shims survived (pid + start time from /proc; never a second process for one run),
//! finish the ones that ended meanwhile from their `exited.json`, start a worker per
//! workload, then serve the API on `daemon.sock` (0600).
//!
//! Shutdown: `POST /v1/shutdown` stops every run (or, with `keep_apps`, leaves them to the
//! next daemon); SIGTERM/SIGINT leave them running, as a restart of the daemon should.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prisn_builder::fslock::FileLock;
use tokio::sync::{mpsc, oneshot, watch};

use crate::api::{self, Kind, now_ms};
use crate::paths::Paths;
use crate::shim::{self, ShimSpec};
use crate::state::{Db, Ending, Run};
use crate::{Error, Result, limits, logs, supervisor};

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
        }
    }
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
    db: Mutex<Db>,
    pub(crate) workers: Mutex<BTreeMap<String, Worker>>,
    /// Deploys, deletes and code GC one at a time.
    pub(crate) deploy_lock: tokio::sync::Mutex<()>,
    pub(crate) started_ms: i64,
    /// `Some(keep_apps)` once shutdown was asked for.
    pub(crate) shutdown: watch::Sender<Option<bool>>,
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

    /// Start the worker of `name` (no-op when it runs), adopting `runs`.
    pub(crate) fn spawn_worker(self: &Arc<Self>, name: &str, adopted: Vec<Run>) {
        let mut workers = self.workers.lock().unwrap_or_else(|p| p.into_inner());
        if workers.contains_key(name) {
            return;
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let live = Arc::new(Mutex::new(Live::default()));
        workers.insert(
            name.to_string(),
            Worker {
                tx,
                live: live.clone(),
            },
        );
        tokio::spawn(supervisor::worker(
            self.clone(),
            name.to_string(),
            rx,
            live,
            adopted,
        ));
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

    /// Runs of every workload, adopted or finished, and a worker per workload.
    async fn recover(self: &Arc<Self>) -> Result<()> {
        let records = self.db(|db| db.list())?;
        let open = self.db(|db| db.open_runs())?;
        let mut adopted: BTreeMap<String, Vec<Run>> = BTreeMap::new();
        for mut run in open {
            let dir = self.paths.run_dir(&run.workload, run.id);
            if run.shim_pid.is_none() {
                // Killed between spawning the shim and recording it: the shim wrote its pid.
                if let Some(s) = shim::read_json::<shim::Started>(&dir.join(shim::STARTED))
                    && crate::proc::cmdline(s.shim_pid)
                        .is_some_and(|c| c.contains(&*dir.to_string_lossy()))
                {
                    run.shim_pid = Some(s.shim_pid);
                    run.shim_start = crate::proc::start_time(s.shim_pid);
                }
            }
            let alive = match (run.shim_pid, run.shim_start) {
                (Some(pid), Some(start)) => crate::proc::is_alive(pid, start),
                _ => false,
            };
            if alive {
                tracing::info!(
                    "adopting {} run {} (shim pid {:?})",
                    run.workload,
                    run.id,
                    run.shim_pid
                );
                adopted.entry(run.workload.clone()).or_default().push(run);
            } else {
                let ending = ending_from_files(&dir, None);
                if let Some(spec) = shim::read_json::<ShimSpec>(&dir.join(shim::SPEC)) {
                    spec.limits.remove();
                }
                tracing::info!(
                    "{} run {} ended while the daemon was away: {}",
                    run.workload,
                    run.id,
                    ending.reason
                );
                self.db(|db| db.finish_run(run.id, &ending))?;
            }
        }
        let mut keep_cgroups = Vec::new();
        for runs in adopted.values() {
            for run in runs {
                let dir = self.paths.run_dir(&run.workload, run.id);
                if let Some(spec) = shim::read_json::<ShimSpec>(&dir.join(shim::SPEC)) {
                    keep_cgroups.extend(spec.limits.memory_cgroup.clone());
                    keep_cgroups.extend(spec.limits.cpu_cgroup.clone());
                }
            }
        }
        limits::sweep(&self.home_id, &keep_cgroups);
        for rec in records {
            let runs = adopted.remove(&rec.name).unwrap_or_default();
            self.spawn_worker(&rec.name, runs);
        }
        Ok(())
    }

    /// Remove code snapshots no workload and no run uses any more.
    pub(crate) fn gc_code(&self) {
        let mut used: Vec<PathBuf> = self
            .db(|db| db.list())
            .unwrap_or_default()
            .into_iter()
            .map(|r| r.spec.code_dir)
            .collect();
        for w in self
            .workers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
        {
            let live = w.live.lock().unwrap_or_else(|p| p.into_inner());
            used.extend(live.active.values().map(|a| a.code_dir.clone()));
        }
        let Ok(entries) = std::fs::read_dir(self.paths.code()) else {
            return;
        };
        for e in entries.flatten() {
            let path = e.path();
            let in_flight = e.file_name().to_string_lossy().starts_with(".tmp-");
            if !in_flight && !used.contains(&path) {
                crate::code::remove(&path);
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

    /// The kind of `name`, or NotFound.
    pub(crate) fn kind_of(&self, name: &str) -> Result<Kind> {
        self.db(|db| db.get(name))?
            .map(|r| r.kind)
            .ok_or_else(|| Error::NotFound(name.to_string()))
    }
}

/// How a run ended, from its files (`exited.json`), or `Lost` when the shim left none.
pub(crate) fn ending_from_files(dir: &std::path::Path, oom_kills: Option<u64>) -> Ending {
    let now = now_ms();
    match shim::read_json::<shim::Exited>(&dir.join(shim::EXITED)) {
        Some(e) => {
            let (reason, message) = if let Some(err) = e.error {
                ("FailedToStart".to_string(), Some(err))
            } else if e.signal == Some(libc::SIGKILL) && oom_kills.unwrap_or(0) > 0 {
                (
                    "OOMKilled".to_string(),
                    Some("killed by the kernel: the memory limit was reached".into()),
                )
            } else if e.signal.is_some() {
                ("Killed".to_string(), None)
            } else if e.code == Some(0) {
                ("Completed".to_string(), None)
            } else {
                ("Error".to_string(), None)
            };
            Ending {
                ended_ms: e.ended_ms,
                exit_code: e.code,
                signal: e.signal,
                reason,
                message,
            }
        }
        None => Ending {
            ended_ms: now,
            exit_code: None,
            signal: None,
            reason: "Lost".into(),
            message: Some("its supervising process ended without recording how (killed, or the machine restarted)".into()),
        },
    }
}

/// `prisn daemon run`: serve until shut down. Blocks.
///
/// # Errors
/// Another daemon holds the lock, state.db cannot be used, or the socket cannot be bound.
pub fn run(paths: Paths, config: Config) -> Result<()> {
    paths.secure().map_err(Error::io("secure", paths.root()))?;
    let lock = FileLock::try_exclusive(&paths.daemon_lock())
        .map_err(|e| Error::Internal(e.to_string()))?;
    let Some(_lock) = lock else {
        let pid = std::fs::read_to_string(paths.pid_file()).unwrap_or_default();
        return Err(Error::Unavailable {
            message: format!(
                "a prisn daemon already runs for {} (pid {})",
                paths.root().display(),
                pid.trim()
            ),
            hint: Some("`prisn daemon status` shows it; `prisn daemon stop` stops it".into()),
        });
    };
    std::fs::write(paths.pid_file(), std::process::id().to_string())
        .map_err(Error::io("write", paths.pid_file()))?;
    let db = Db::open(&paths.state_db())?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Internal(format!("cannot start the async runtime: {e}")))?;
    let result = runtime.block_on(serve(paths.clone(), config, db));
    let _ = std::fs::remove_file(paths.socket());
    let _ = std::fs::remove_file(paths.pid_file());
    result
}

async fn serve(paths: Paths, config: Config, db: Db) -> Result<()> {
    let (shutdown, mut shutdown_rx) = watch::channel(None);
    let daemon = Arc::new(Daemon {
        home_id: paths.home_id(),
        paths: paths.clone(),
        config,
        db: Mutex::new(db),
        workers: Mutex::new(BTreeMap::new()),
        deploy_lock: tokio::sync::Mutex::new(()),
        started_ms: now_ms(),
        shutdown,
    });
    daemon.recover().await?;
    daemon.gc_code();

    let socket = paths.socket();
    let _ = std::fs::remove_file(&socket);
    // 0600 from the start: no window in which another user could connect.
    // SAFETY: umask(2) is always safe; restored right after bind.
    let old = unsafe { libc::umask(0o177) };
    let listener = tokio::net::UnixListener::bind(&socket);
    unsafe { libc::umask(old) };
    let listener = listener.map_err(|e| {
        let too_long = socket.as_os_str().len() >= 108;
        Error::Unavailable {
            message: format!("cannot listen on {}: {e}", socket.display()),
            hint: too_long.then(|| {
                "unix socket paths are limited to 107 bytes; set PRISN_HOME to a shorter directory"
                    .to_string()
            }),
        }
    })?;
    tracing::info!(
        "prisn daemon {} serving on {}",
        std::process::id(),
        socket.display()
    );

    let signals = {
        let d = daemon.clone();
        async move {
            use tokio::signal::unix::{SignalKind, signal};
            let (Ok(mut term), Ok(mut int)) = (
                signal(SignalKind::terminate()),
                signal(SignalKind::interrupt()),
            ) else {
                return;
            };
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            // A signal restarts the daemon, not the apps: the next daemon adopts them.
            d.shutdown.send_replace(Some(true));
        }
    };
    tokio::spawn(signals);

    let app = crate::server::router(daemon.clone());
    let until = async move {
        let _ = shutdown_rx.wait_for(Option::is_some).await;
    };
    axum::serve(listener, app)
        .with_graceful_shutdown(until)
        .await
        .map_err(|e| Error::Internal(format!("serving the API failed: {e}")))?;

    let keep = daemon.shutdown.borrow().unwrap_or(true);
    let workers: Vec<(String, Worker)> =
        std::mem::take(&mut *daemon.workers.lock().unwrap_or_else(|p| p.into_inner()))
            .into_iter()
            .collect();
    let mut waits = Vec::new();
    for (_, w) in workers {
        let (done, wait) = oneshot::channel();
        if w.tx.send(Msg::Shutdown { keep, done }).is_ok() {
            waits.push(wait);
        }
    }
    for w in waits {
        let _ = w.await;
    }
    tracing::info!(
        "prisn daemon {} stopped{}",
        std::process::id(),
        if keep { " (apps left running)" } else { "" }
    );
    Ok(())
}
