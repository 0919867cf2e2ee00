//! The supervisor daemon: one per `$PRISN_HOME`, holding `daemon.lock` for its lifetime.
//!
//! Start-up: take the lock, open state.db (checked, backed up, migrated), put back workloads
//! a lost database forgot (from `run/<name>/workload.json`), re-adopt the runs whose shims
//! survived (pid + start time from /proc; never a second process for one run), finish the
//! ones that ended meanwhile from their `exited.json`, start a worker per workload, then serve
//! the API on `daemon.sock` (0600).
//!
//! Shutdown: `POST /v1/shutdown` stops every run (or, with `keep_apps`, leaves them to the
//! next daemon); SIGTERM/SIGINT leave them running, as a restart of the daemon should.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use prisn_builder::fslock::FileLock;
use tokio::sync::{oneshot, watch};

use crate::api::now_ms;
pub use crate::hub::{Config, Daemon};
use crate::hub::{Msg, Worker};
use crate::paths::Paths;
use crate::shim::{self, ShimSpec};
use crate::state::recovery::{self, LiveRun};
use crate::state::{Db, Run};
use crate::{Error, Result, limits, supervisor};

/// Runs of every workload, adopted or finished, and a worker per workload.
async fn recover(d: &Arc<Daemon>) -> Result<()> {
    let records = d.db(|db| db.list())?;
    let open = d.db(|db| db.open_runs())?;
    let mut adopted: BTreeMap<String, Vec<Run>> = BTreeMap::new();
    for mut run in open {
        let dir = d.paths.run_dir(&run.workload, run.id);
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
            let ending = supervisor::ending_from_files(&dir, None);
            if let Some(spec) = shim::read_json::<ShimSpec>(&dir.join(shim::SPEC)) {
                spec.limits.remove();
            }
            tracing::info!(
                "{} run {} ended while the daemon was away: {}",
                run.workload,
                run.id,
                ending.reason
            );
            d.db(|db| db.finish_run(run.id, &ending))?;
        }
    }
    let mut keep_cgroups = Vec::new();
    for runs in adopted.values() {
        for run in runs {
            let dir = d.paths.run_dir(&run.workload, run.id);
            if let Some(spec) = shim::read_json::<ShimSpec>(&dir.join(shim::SPEC)) {
                keep_cgroups.extend(spec.limits.memory_cgroup.clone());
                keep_cgroups.extend(spec.limits.cpu_cgroup.clone());
            }
        }
    }
    limits::sweep(&d.home_id, &keep_cgroups);
    for rec in records {
        let runs = adopted.remove(&rec.name).unwrap_or_default();
        supervisor::spawn(d, &rec.name, runs);
    }
    Ok(())
}

/// Put back the workloads state.db does not know but whose run directory holds their record
/// (a database moved aside, or restored from an older backup), with their live runs.
fn restore_from_runs(d: &Arc<Daemon>) {
    let Ok(names) = std::fs::read_dir(d.paths.root().join("run")) else {
        return;
    };
    for dir in names.flatten().map(|e| e.path()) {
        let Some(saved) = recovery::read_saved(&dir) else {
            continue;
        };
        if matches!(d.db(|db| db.get(&saved.name)), Ok(Some(_))) {
            continue;
        }
        let runs = live_runs(&dir);
        match d.db(|db| db.restore(&saved, &runs)) {
            Ok(true) => tracing::warn!(
                "{}: restored from {} (state.db did not know it), with {} running process(es)",
                saved.name,
                dir.display(),
                runs.len()
            ),
            Ok(false) => {}
            Err(e) => tracing::error!("{}: cannot restore it: {e}", saved.name),
        }
    }
}

/// The runs in `run/<name>/` whose shim still lives.
fn live_runs(dir: &std::path::Path) -> Vec<LiveRun> {
    let mut out = Vec::new();
    let Ok(ids) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in ids.flatten() {
        let run_dir = e.path();
        let Some(id) = e.file_name().to_str().and_then(|s| s.parse::<i64>().ok()) else {
            continue;
        };
        let Some(started) = shim::read_json::<shim::Started>(&run_dir.join(shim::STARTED)) else {
            continue;
        };
        let ours = crate::proc::cmdline(started.shim_pid)
            .is_some_and(|c| c.contains(&*run_dir.to_string_lossy()));
        let Some(start) = crate::proc::start_time(started.shim_pid).filter(|_| ours) else {
            continue;
        };
        let generation = recovery::read_saved(dir).map_or(0, |s| s.generation);
        out.push(LiveRun {
            id,
            generation,
            started_ms: started.started_ms,
            shim_pid: started.shim_pid,
            shim_start: start,
        });
    }
    out
}

/// `prisn daemon run`: serve until shut down. Blocks.
///
/// # Errors
/// Another daemon holds the lock, state.db cannot be used, or the socket cannot be bound.
pub fn run(paths: Paths, config: Config) -> Result<()> {
    paths.secure().map_err(Error::io("secure", paths.root()))?;
    let lock = FileLock::try_exclusive(&paths.daemon_lock())?;
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
    let runtime = crate::rt::current_thread()?;
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
        answered: Default::default(),
    });
    restore_from_runs(&daemon);
    recover(&daemon).await?;
    if let Err(e) = crate::gc::collect_code(&daemon).await {
        tracing::warn!("code snapshots not collected: {e}");
    }

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
        .map_err(|source| Error::System {
            what: "serve the API",
            source,
        })?;

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
