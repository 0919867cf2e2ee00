//! One worker task per workload: it starts runs, watches them end, restarts apps with
//! exponential backoff, fires cron slots, and stops runs on redeploy, scale, delete and
//! shutdown. state.db is the source of truth; the worker re-reads it on every turn.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::io::unix::AsyncFd;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::api::{ConcurrencyPolicy, Kind, now_ms};
use crate::cron;
use crate::hub::{Active, Daemon, Live, Msg, Worker};
use crate::shim::{self, ShimSpec};
use crate::state::{Ending, Record, Run};

/// A watched run that is over.
struct RunEnd {
    id: i64,
    ending: Ending,
    started_ms: i64,
}

fn lock(live: &Mutex<Live>) -> MutexGuard<'_, Live> {
    live.lock().unwrap_or_else(|p| p.into_inner())
}

/// Start the worker of `name` (no-op when it runs), adopting `runs`.
pub(crate) fn spawn(d: &Arc<Daemon>, name: &str, adopted: Vec<Run>) {
    let mut workers = d.workers.lock().unwrap_or_else(|p| p.into_inner());
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
    tokio::spawn(worker(d.clone(), name.to_string(), rx, live, adopted));
}

async fn worker(
    d: Arc<Daemon>,
    name: String,
    mut rx: mpsc::UnboundedReceiver<Msg>,
    live: Arc<Mutex<Live>>,
    adopted: Vec<Run>,
) {
    let mut runs: JoinSet<RunEnd> = JoinSet::new();
    let code_dir = d
        .db(|db| db.get(&name))
        .ok()
        .flatten()
        .map(|r| r.spec.code_dir)
        .unwrap_or_default();
    for run in adopted {
        let Some(shim_pid) = run.shim_pid else {
            continue;
        };
        lock(&live).active.insert(
            run.id,
            Active {
                generation: run.generation,
                shim_pid,
                started_ms: run.started_ms,
                code_dir: code_dir.clone(),
                started: run
                    .report
                    .as_deref()
                    .and_then(|r| serde_json::from_str(r).ok()),
                stopping: false,
            },
        );
        runs.spawn(watch(
            d.clone(),
            name.clone(),
            run.id,
            shim_pid,
            run.started_ms,
            live.clone(),
        ));
    }
    let mut last_generation = None;
    loop {
        let rec = match d.db(|db| db.get(&name)) {
            Ok(Some(rec)) => rec,
            Ok(None) => {
                stop_all(&d, &name, &live, &mut runs).await;
                return;
            }
            Err(e) => {
                tracing::error!("{name}: cannot read state: {e}");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if last_generation != Some(rec.generation) {
            // A new spec starts with a clean slate.
            let mut l = lock(&live);
            l.backoff_until_ms = None;
            l.consecutive_failures = 0;
            l.last_error = None;
            last_generation = Some(rec.generation);
        }
        let wake = reconcile(&d, &rec, &live, &mut runs);
        let sleep = async {
            match wake {
                Some(ms) => {
                    tokio::time::sleep(Duration::from_millis((ms - now_ms()).max(0) as u64)).await
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            Some(res) = runs.join_next(), if !runs.is_empty() => {
                if let Ok(end) = res {
                    finished(&d, &name, Some(&rec), &live, end);
                }
            }
            msg = rx.recv() => match msg {
                Some(Msg::Reload) => {}
                Some(Msg::Delete(ack)) => {
                    stop_all(&d, &name, &live, &mut runs).await;
                    let _ = ack.send(());
                    return;
                }
                None => {
                    stop_all(&d, &name, &live, &mut runs).await;
                    return;
                }
                Some(Msg::Shutdown { keep, done }) => {
                    if !keep {
                        stop_all(&d, &name, &live, &mut runs).await;
                    }
                    let _ = done.send(());
                    return;
                }
            },
            _ = sleep => {}
        }
    }
}

/// Start and stop runs so they match `rec`; returns when to look again, if at a set time.
fn reconcile(
    d: &Arc<Daemon>,
    rec: &Record,
    live: &Arc<Mutex<Live>>,
    runs: &mut JoinSet<RunEnd>,
) -> Option<i64> {
    let now = now_ms();
    let (busy, any_stopping) = {
        let l = lock(live);
        let busy: Vec<(i64, i64)> = l
            .active
            .iter()
            .filter(|(_, a)| !a.stopping)
            .map(|(id, a)| (*id, a.generation))
            .collect();
        (busy, l.active.values().any(|a| a.stopping))
    };
    match rec.kind {
        Kind::App => {
            let desired = rec.replicas.min(1);
            let mut running = 0;
            for (id, generation) in busy {
                if generation != rec.generation || desired == 0 {
                    request_stop(d, live, id);
                } else {
                    running += 1;
                }
            }
            // Recreate, not rolling: the old process must free its port first.
            if desired == 1 && running == 0 && !any_stopping {
                if let Some(until) = lock(live).backoff_until_ms
                    && until > now
                {
                    return Some(until);
                }
                return start(d, rec, None, live, runs);
            }
            None
        }
        Kind::Job => {
            let mut running = 0;
            for (id, generation) in busy {
                if generation != rec.generation {
                    request_stop(d, live, id);
                } else {
                    running += 1;
                }
            }
            let ran = d
                .db(|db| db.runs(&rec.name, 1))
                .unwrap_or_default()
                .first()
                .is_some_and(|r| r.generation == rec.generation);
            if !ran && running == 0 && !any_stopping {
                start(d, rec, None, live, runs);
            }
            None
        }
        Kind::CronJob => {
            if rec.replicas == 0 {
                lock(live).next_run_ms = None;
                return None;
            }
            let schedule = match cron::parse(rec.spec.schedule.as_deref().unwrap_or_default()) {
                Ok(s) => s,
                Err(e) => {
                    lock(live).last_error = Some(e.to_string());
                    return None;
                }
            };
            let after = rec.last_schedule_ms.unwrap_or(rec.created_ms);
            let due = cron::due(&schedule, ms_to_time(after), SystemTime::now());
            if let Some(slot) = due.run {
                let slot_ms = time_to_ms(slot);
                if let Err(e) = d.db(|db| db.set_last_schedule(&rec.name, slot_ms)) {
                    tracing::error!("{}: cannot record the cron slot: {e}", rec.name);
                }
                let policy = rec.spec.concurrency;
                if busy.is_empty() || policy == ConcurrencyPolicy::Allow {
                    start(d, rec, Some(slot_ms), live, runs);
                } else if policy == ConcurrencyPolicy::Replace {
                    for (id, _) in busy {
                        request_stop(d, live, id);
                    }
                    start(d, rec, Some(slot_ms), live, runs);
                } else {
                    let ending = Ending {
                        ended_ms: now,
                        reason: "Skipped".into(),
                        message: Some(
                            "the previous run was still running (concurrency policy Forbid)".into(),
                        ),
                        ..Ending::default()
                    };
                    let _ = d.db(|db| {
                        db.record_ended_run(&rec.name, rec.generation, Some(slot_ms), &ending)
                    });
                }
            }
            let next = due.next.map(time_to_ms);
            lock(live).next_run_ms = next;
            next
        }
    }
}

/// Start a run and watch it; on failure record it (and back off, for apps).
fn start(
    d: &Arc<Daemon>,
    rec: &Record,
    slot: Option<i64>,
    live: &Arc<Mutex<Live>>,
    runs: &mut JoinSet<RunEnd>,
) -> Option<i64> {
    match crate::spawn::start_run(d, rec, slot) {
        Ok((id, shim_pid, started_ms)) => {
            let mut l = lock(live);
            l.active.insert(
                id,
                Active {
                    generation: rec.generation,
                    shim_pid,
                    started_ms,
                    code_dir: rec.spec.code_dir.clone(),
                    started: None,
                    stopping: false,
                },
            );
            l.last_error = None;
            runs.spawn(watch(
                d.clone(),
                rec.name.clone(),
                id,
                shim_pid,
                started_ms,
                live.clone(),
            ));
            None
        }
        Err((id, e)) => {
            let message = e.to_string();
            tracing::warn!("{}: cannot start: {message}", rec.name);
            let ending = Ending {
                ended_ms: now_ms(),
                reason: "FailedToStart".into(),
                message: Some(message.clone()),
                ..Ending::default()
            };
            let _ = d.db(|db| match id {
                Some(id) => db.finish_run(id, &ending),
                None => db
                    .record_ended_run(&rec.name, rec.generation, slot, &ending)
                    .map(|_| ()),
            });
            let mut l = lock(live);
            l.last_error = Some(message);
            if rec.kind == Kind::App {
                l.consecutive_failures += 1;
                let until = now_ms() + backoff(d, l.consecutive_failures).as_millis() as i64;
                l.backoff_until_ms = Some(until);
                return Some(until);
            }
            None
        }
    }
}

/// Record the end of a run; an app that ended on its own is restarted after a backoff.
fn finished(
    d: &Arc<Daemon>,
    name: &str,
    rec: Option<&Record>,
    live: &Arc<Mutex<Live>>,
    mut end: RunEnd,
) {
    let was = lock(live).active.remove(&end.id);
    let stopped = was.as_ref().is_some_and(|a| a.stopping);
    if stopped {
        end.ending.reason = "Stopped".into();
    }
    if let Err(e) = d.db(|db| db.finish_run(end.id, &end.ending)) {
        tracing::error!("{name}: cannot record the end of run {}: {e}", end.id);
    }
    tracing::info!(
        "{name}: run {} ended: {} (code {:?}, signal {:?})",
        end.id,
        end.ending.reason,
        end.ending.exit_code,
        end.ending.signal
    );
    if let Some(rec) = rec
        && rec.kind == Kind::App
        && !stopped
        && rec.replicas > 0
        && was.as_ref().is_some_and(|a| a.generation == rec.generation)
    {
        let _ = d.db(|db| db.add_restart(name));
        let ran = Duration::from_millis((end.ending.ended_ms - end.started_ms).max(0) as u64);
        let mut l = lock(live);
        l.consecutive_failures = if ran >= d.config.backoff_reset {
            1
        } else {
            l.consecutive_failures + 1
        };
        l.backoff_until_ms = Some(now_ms() + backoff(d, l.consecutive_failures).as_millis() as i64);
    }
    if let Ok(pruned) = d.db(|db| db.prune_runs(name, d.config.history)) {
        let dirs: Vec<_> = pruned.iter().map(|id| d.paths.run_dir(name, *id)).collect();
        // Tree deletion blocks: not on the executor (nothing waits for it).
        tokio::task::spawn_blocking(move || {
            for dir in dirs {
                let _ = std::fs::remove_dir_all(dir);
            }
        });
    }
}

fn backoff(d: &Daemon, failures: u32) -> Duration {
    let factor = 2u32.saturating_pow(failures.saturating_sub(1).min(16));
    d.config
        .backoff_base
        .saturating_mul(factor)
        .min(d.config.backoff_cap)
}

/// SIGTERM to the run's shim, which forwards it and kills the run after the grace period.
fn request_stop(d: &Arc<Daemon>, live: &Arc<Mutex<Live>>, id: i64) {
    let pid = {
        let mut l = lock(live);
        let Some(a) = l.active.get_mut(&id) else {
            return;
        };
        if a.stopping {
            return;
        }
        a.stopping = true;
        a.shim_pid
    };
    let start = crate::proc::start_time(pid);
    // SAFETY: kill(2).
    unsafe { libc::kill(pid, libc::SIGTERM) };
    // A backstop in case the shim itself hangs.
    let after = d.config.stop_grace + Duration::from_secs(5);
    tokio::spawn(async move {
        tokio::time::sleep(after).await;
        if let Some(start) = start
            && crate::proc::is_alive(pid, start)
        {
            tracing::warn!("shim {pid} did not stop in time; killing it");
            // SAFETY: kill(2) of the process we verified by start time.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    });
}

async fn stop_all(
    d: &Arc<Daemon>,
    name: &str,
    live: &Arc<Mutex<Live>>,
    runs: &mut JoinSet<RunEnd>,
) {
    let ids: Vec<i64> = lock(live).active.keys().copied().collect();
    for id in ids {
        request_stop(d, live, id);
    }
    while let Some(res) = runs.join_next().await {
        if let Ok(end) = res {
            finished(d, name, None, live, end);
        }
    }
}

/// Follow one run: its `started.json`, then its end (a pidfd on the shim, which works for
/// adopted shims too), then `exited.json`.
async fn watch(
    d: Arc<Daemon>,
    name: String,
    id: i64,
    shim_pid: i32,
    started_ms: i64,
    live: Arc<Mutex<Live>>,
) -> RunEnd {
    let dir = d.paths.run_dir(&name, id);
    let plan = shim::read_json::<ShimSpec>(&dir.join(shim::SPEC))
        .map(|s| s.limits)
        .unwrap_or_default();
    let fd = crate::proc::pidfd_open(shim_pid)
        .ok()
        // SAFETY: an OwnedFd is valid, open and keeps its number until the AsyncFd drops it.
        .and_then(|fd| unsafe { AsyncFd::register(fd) }.ok());
    let mut seen = lock(&live)
        .active
        .get(&id)
        .is_some_and(|a| a.started.is_some());
    let mut delay = Duration::from_millis(2);
    let mut exited = fd.is_none();
    while !seen && !exited {
        seen = record_started(&d, &dir, id, &live);
        if seen {
            break;
        }
        if let Some(fd) = &fd {
            tokio::select! {
                _ = fd.readable() => exited = true,
                _ = tokio::time::sleep(delay) => {}
            }
        }
        delay = (delay * 2).min(Duration::from_millis(100));
    }
    if let Some(fd) = &fd {
        let _ = fd.readable().await;
    }
    if !seen {
        record_started(&d, &dir, id, &live);
    }
    // Reap it when it is our child (an adopted shim is reaped by init).
    // SAFETY: waitpid with WNOHANG on a pid that has exited.
    unsafe { libc::waitpid(shim_pid, std::ptr::null_mut(), libc::WNOHANG) };
    let ending = ending_from_files(&dir, Some(plan.oom_kills()));
    plan.remove();
    RunEnd {
        id,
        ending,
        started_ms,
    }
}

fn record_started(d: &Daemon, dir: &Path, id: i64, live: &Mutex<Live>) -> bool {
    let Some(started) = shim::read_json::<shim::Started>(&dir.join(shim::STARTED)) else {
        return false;
    };
    let report = serde_json::to_string(&started).unwrap_or_default();
    let _ = d.db(|db| db.set_run_started(id, started.pid, &report));
    if let Some(a) = lock(live).active.get_mut(&id) {
        a.started = Some(started);
    }
    true
}

pub(crate) fn ms_to_time(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64)
}

pub(crate) fn time_to_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
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
