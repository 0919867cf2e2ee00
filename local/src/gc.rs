//! Collecting code snapshots (`$PRISN_HOME/code/<digest>/`) that nothing uses.
//!
//! A snapshot is kept when a workload's record or a kept release names it, a run directory's `spec.json` names
//! it (a process may run from it, also one the database no longer knows), a live worker runs
//! it, or any process on the machine has its working directory in it. When any of these cannot
//! be read, nothing is deleted: gc fails closed. Deletion walks directory trees, so it runs on
//! a blocking thread, never on the async executor.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::hub::Daemon;
use crate::shim::{self, ShimSpec};
use crate::{Error, Result};

/// Remove the snapshots nothing uses (see the module docs). Returns the removed directories.
///
/// # Errors
/// Why it could not tell what is in use; then nothing was removed.
pub(crate) async fn collect_code(d: &Arc<Daemon>) -> Result<Vec<PathBuf>> {
    let d = d.clone();
    tokio::task::spawn_blocking(move || collect_code_blocking(&d))
        .await
        .map_err(|source| Error::Task {
            what: "code gc",
            source,
        })?
}

fn collect_code_blocking(d: &Daemon) -> Result<Vec<PathBuf>> {
    let used = in_use(d)?;
    let code = d.paths.code();
    let entries = match std::fs::read_dir(&code) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("read", &code)(e)),
    };
    let mut removed = Vec::new();
    for e in entries.flatten() {
        let path = e.path();
        let in_flight = e.file_name().to_string_lossy().starts_with(".tmp-");
        if !in_flight && !used.contains(&path) {
            crate::code::remove(&path);
            removed.push(path);
        }
    }
    if !removed.is_empty() {
        tracing::info!("removed {} unused code snapshot(s)", removed.len());
    }
    Ok(removed)
}

/// Every snapshot directory something may use.
fn in_use(d: &Daemon) -> Result<BTreeSet<PathBuf>> {
    let mut used: BTreeSet<PathBuf> = d
        .db(|db| db.list())?
        .into_iter()
        .map(|r| r.spec.code_dir)
        .collect();
    // The releases kept for rollbacks keep their code.
    used.extend(
        d.db(|db| db.all_releases())?
            .into_iter()
            .map(|r| r.spec.code_dir),
    );
    for w in d.workers.lock().unwrap_or_else(|p| p.into_inner()).values() {
        let live = w.live.lock().unwrap_or_else(|p| p.into_inner());
        used.extend(live.active.values().map(|a| a.code_dir.clone()));
    }
    used.extend(named_by_runs(&d.paths.root().join("run"))?);
    used.extend(working_dirs(&d.paths.code()));
    Ok(used)
}

/// The code directories of every run directory's spec (`run/<name>/<id>/spec.json`).
fn named_by_runs(runs: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let names = match std::fs::read_dir(runs) {
        Ok(n) => n,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(Error::io("read", runs)(e)),
    };
    for name in names {
        let name = name.map_err(Error::io("read", runs))?.path();
        if let Some(saved) = crate::state::recovery::read_saved(&name) {
            out.push(saved.spec.code_dir);
        }
        let Ok(ids) = std::fs::read_dir(&name) else {
            continue; // workload.json, or a file: no runs
        };
        for id in ids.flatten() {
            let spec = id.path().join(shim::SPEC);
            if spec.is_file() {
                match shim::read_json::<ShimSpec>(&spec) {
                    Some(s) => out.push(s.cwd),
                    None => {
                        return Err(Error::State {
                            message: format!(
                                "cannot read {}: not collecting code while a run's code is unknown",
                                spec.display()
                            ),
                            hint: None,
                        });
                    }
                }
            }
        }
    }
    Ok(out)
}

/// Snapshot directories that are a process's working directory right now.
fn working_dirs(code: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return out;
    };
    let real = std::fs::canonicalize(code).unwrap_or_else(|_| code.to_path_buf());
    for p in procs.flatten() {
        if let Ok(cwd) = std::fs::read_link(p.path().join("cwd"))
            && let Ok(rest) = cwd.strip_prefix(&real)
            && let Some(first) = rest.components().next()
        {
            out.push(code.join(first));
        }
    }
    out
}
