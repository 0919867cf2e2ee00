//! What `get` and `status` show: the phase and its explanation, computed from the record,
//! the worker's live state, the recorded runs and — for apps with a port — whether the port
//! answers on 127.0.0.1.

use crate::api::{ExitView, Kind, RunView, WorkloadView, now_ms, rfc3339};
use crate::hub::{Daemon, Live};
use crate::probe;
use crate::shim::Started;
use crate::state::{Record, Run};
use std::time::Duration;

/// Lines of output `status` shows.
const OUTPUT_LINES: usize = 10;
/// Runs `status` lists.
const RUNS_SHOWN: usize = 10;

pub(crate) fn view(d: &Daemon, rec: &Record, detail: bool) -> WorkloadView {
    let live = d.live(&rec.name);
    let runs = d
        .db(|db| db.runs(&rec.name, if detail { 50 } else { 20 }))
        .unwrap_or_default();
    build(d, rec, &live, &runs, detail)
}

fn build(d: &Daemon, rec: &Record, live: &Live, runs: &[Run], detail: bool) -> WorkloadView {
    let now = now_ms();
    let current = live
        .active
        .iter()
        .rev()
        .find(|(_, a)| !a.stopping)
        .or_else(|| live.active.iter().next_back());
    let started: Option<Started> = current.and_then(|(_, a)| a.started.clone()).or_else(|| {
        runs.iter().find_map(|r| {
            r.report
                .as_deref()
                .and_then(|j| serde_json::from_str(j).ok())
        })
    });
    let pid = current.and_then(|(_, a)| a.started.as_ref().and_then(|s| s.pid));
    let finished: Vec<&Run> = runs
        .iter()
        .filter(|r| r.ended_ms.is_some() && r.reason.as_deref() != Some("Skipped"))
        .collect();
    let last_exit = finished.first().map(|r| exit_view(r));
    let active = live.active.values().filter(|a| !a.stopping).count() as u32;
    let stopping = live.active.values().any(|a| a.stopping);
    let port_open = rec
        .spec
        .port
        .is_some_and(|p| d.answered.answers(p, pid, probe::answers));

    let (phase, desired, ready, message) = match rec.kind {
        Kind::App => {
            let desired = rec.replicas.min(1);
            if desired == 0 {
                let phase = if active > 0 || stopping {
                    "Stopping"
                } else {
                    "Stopped"
                };
                (
                    phase.to_string(),
                    0,
                    0,
                    Some("scaled to 0; `prisn scale NAME 1` starts it".into()),
                )
            } else if active > 0 && (pid.is_none() || (rec.spec.port.is_some() && !port_open)) {
                let msg = match rec.spec.port {
                    Some(p) if pid.is_some() => Some(format!("waiting for port {p} to answer")),
                    _ => None,
                };
                ("Starting".to_string(), 1, 0, msg)
            } else if active > 0 {
                ("Running".to_string(), 1, 1, None)
            } else if let Some(until) = live.backoff_until_ms.filter(|u| *u > now) {
                let wait = (until - now) as f64 / 1000.0;
                let why = live
                    .last_error
                    .clone()
                    .or_else(|| finished.first().map(|r| describe_exit(r, true)))
                    .unwrap_or_else(|| "it exited".into());
                (
                    "CrashLoopBackOff".to_string(),
                    1,
                    0,
                    Some(format!("{why}; restarting in {wait:.1}s")),
                )
            } else if stopping {
                ("Restarting".to_string(), 1, 0, None)
            } else {
                ("Pending".to_string(), 1, 0, live.last_error.clone())
            }
        }
        Kind::Job => {
            let this = runs.iter().find(|r| r.generation == rec.generation);
            match this {
                _ if active > 0 => ("Running".to_string(), 1, 1, None),
                Some(r) if r.ended_ms.is_some() => {
                    let ok = r.exit_code == Some(0) && r.reason.as_deref() == Some("Completed");
                    let phase = if ok { "Succeeded" } else { "Failed" };
                    (
                        phase.to_string(),
                        1,
                        0,
                        (!ok).then(|| describe_exit(r, false)),
                    )
                }
                _ => ("Pending".to_string(), 1, 0, live.last_error.clone()),
            }
        }
        Kind::CronJob => {
            let desired = rec.replicas.min(1);
            let last = finished.first();
            let msg = last.map(|r| format!("last run: {}", describe_exit(r, false)));
            if desired == 0 {
                ("Suspended".to_string(), 0, 0, msg)
            } else if active > 0 {
                ("Running".to_string(), 1, active, msg)
            } else {
                (
                    "Scheduled".to_string(),
                    1,
                    0,
                    live.last_error.clone().or(msg),
                )
            }
        }
    };
    let last_run = runs
        .iter()
        .find(|r| r.reason.as_deref() != Some("Skipped"))
        .map(|r| rfc3339(r.started_ms));
    WorkloadView {
        name: rec.name.clone(),
        kind: rec.kind,
        source: rec.spec.source.clone(),
        generation: rec.generation,
        phase,
        message,
        desired,
        ready,
        restarts: rec.restarts,
        port: rec.spec.port,
        schedule: rec.spec.schedule.clone(),
        created: rfc3339(rec.created_ms),
        updated: rfc3339(rec.updated_ms),
        pid,
        started: current.map(|(_, a)| rfc3339(a.started_ms)),
        last_exit,
        last_run: (rec.kind == Kind::CronJob).then_some(last_run).flatten(),
        next_run: live.next_run_ms.map(rfc3339),
        active,
        isolation: started.as_ref().map(|s| s.isolation.clone()),
        limits: started.map(|s| s.limits).unwrap_or_default(),
        code_dir: rec.spec.code_dir.clone(),
        source_dir: source_dir(&rec.spec),
        env_dir: rec.spec.env_dir.clone(),
        log_file: d.paths.log_file(&rec.name),
        runs: if detail {
            runs.iter().take(RUNS_SHOWN).map(run_view).collect()
        } else {
            Vec::new()
        },
        output: if detail {
            crate::logs::last_lines(&d.paths.log_file(&rec.name), OUTPUT_LINES)
        } else {
            Vec::new()
        },
    }
}

/// The origin (root joined with the entrypoint) less the entrypoint's components.
fn source_dir(spec: &crate::api::Spec) -> Option<std::path::PathBuf> {
    let depth = std::path::Path::new(&spec.entrypoint).components().count();
    spec.origin.as_ref()?.ancestors().nth(depth).map(Into::into)
}

fn exit_view(r: &Run) -> ExitView {
    ExitView {
        code: r.exit_code,
        signal: r.signal,
        reason: r.reason.clone().unwrap_or_else(|| "Unknown".into()),
        finished: rfc3339(r.ended_ms.unwrap_or(r.started_ms)),
        ran_ms: (r.ended_ms.unwrap_or(r.started_ms) - r.started_ms).max(0) as u64,
        message: r.message.clone(),
    }
}

fn run_view(r: &Run) -> RunView {
    RunView {
        id: r.id,
        generation: r.generation,
        started: rfc3339(r.started_ms),
        pid: r.pid,
        scheduled_for: r.slot_ms.map(rfc3339),
        exit: r.ended_ms.is_some().then(|| exit_view(r)),
    }
}

/// "exited with code 1 after 0.2s", "killed by signal 9 (SIGKILL) after 3s", …
pub(crate) fn describe_exit(r: &Run, service: bool) -> String {
    let ran = (r.ended_ms.unwrap_or(r.started_ms) - r.started_ms).max(0) as f64 / 1000.0;
    let after = if ran < 60.0 {
        format!("{ran:.1}s")
    } else {
        humantime::format_duration(Duration::from_secs(ran as u64)).to_string()
    };
    let reason = r.reason.as_deref().unwrap_or("");
    let mut text = match (reason, r.exit_code, r.signal) {
        ("FailedToStart", _, _) => format!(
            "failed to start: {}",
            r.message.as_deref().unwrap_or("unknown reason")
        ),
        ("Lost", _, _) => r.message.clone().unwrap_or_else(|| "lost".into()),
        ("OOMKilled", _, _) => format!("killed for exceeding its memory limit after {after}"),
        (_, _, Some(sig)) => format!(
            "killed by signal {sig} ({}) after {after}",
            signal_name(sig)
        ),
        (_, Some(code), None) => format!("exited with code {code} after {after}"),
        _ => format!("ended after {after}"),
    };
    if service && r.exit_code == Some(0) && r.signal.is_none() && reason == "Completed" {
        text.push_str(" (an app must keep running: deploy with --once for a one-off job or --schedule for a cron job)");
    }
    text
}

fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGABRT => "SIGABRT",
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGTERM => "SIGTERM",
        libc::SIGBUS => "SIGBUS",
        _ => "signal",
    }
}
