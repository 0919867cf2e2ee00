//! state.db: the daemon's memory across restarts. Only the daemon opens it.
//!
//! SQLite in WAL mode; every change is one transaction, so a crash never leaves half a
//! deploy. Opening checks the file (a corrupt or foreign file is refused, never repaired),
//! backs it up before a migration, and refuses a schema newer than this prisn knows.

mod migrations;
pub mod recovery;
pub mod releases;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};

use crate::api::{self, Expect, Kind, Spec};
use crate::{Error, Result};

pub use migrations::MIGRATIONS;
pub use releases::{Release, ReleaseMeta};

/// How long a write waits for a lock held by another process before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(2);

/// A workload row.
#[derive(Debug, Clone)]
pub struct Record {
    pub name: String,
    pub kind: Kind,
    pub spec: Spec,
    pub generation: i64,
    pub replicas: u32,
    pub created_ms: i64,
    pub updated_ms: i64,
    pub restarts: u32,
    pub last_schedule_ms: Option<i64>,
}

/// A run row.
#[derive(Debug, Clone, Default)]
pub struct Run {
    pub id: i64,
    pub workload: String,
    pub generation: i64,
    pub slot_ms: Option<i64>,
    pub started_ms: i64,
    pub shim_pid: Option<i32>,
    pub shim_start: Option<u64>,
    pub pid: Option<i32>,
    pub report: Option<String>,
    pub ended_ms: Option<i64>,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub reason: Option<String>,
    pub message: Option<String>,
}

/// How a run ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ending {
    pub ended_ms: i64,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub reason: String,
    pub message: Option<String>,
}

/// What a put did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PutOutcome {
    pub generation: i64,
    pub created: bool,
    pub spec_changed: bool,
    pub changed: bool,
}

/// The open database.
pub struct Db {
    conn: Connection,
    path: PathBuf,
}

impl Db {
    /// Open (or create) state.db, check it and bring its schema up to date.
    ///
    /// # Errors
    /// [`Error::State`] for a locked, corrupt, foreign or too-new file, naming the file and
    /// what to do; the file itself is never modified in those cases.
    pub fn open(path: &Path) -> Result<Db> {
        Db::open_with(path, MIGRATIONS)
    }

    /// [`Db::open`] with an explicit migration list (tests add one to exercise backups).
    pub fn open_with(path: &Path, migrations: &[&str]) -> Result<Db> {
        private_files(path)?;
        let conn = Connection::open(path).map_err(|e| classify(path, e))?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| classify(path, e))?;
        let mut db = Db {
            conn,
            path: path.to_path_buf(),
        };
        db.check()?;
        db.migrate(migrations)?;
        // The daemon must be able to write (it records every start and exit): find out now,
        // not at the first crash. WAL readers never block, so only a write probe tells.
        db.conn
            .execute_batch("BEGIN IMMEDIATE; ROLLBACK;")
            .map_err(|e| classify(path, e))?;
        db.conn
            .pragma_update(None, "journal_mode", "WAL")
            .map_err(|e| classify(path, e))?;
        db.conn
            .pragma_update(None, "foreign_keys", "ON")
            .map_err(|e| classify(path, e))?;
        db.conn
            .pragma_update(None, "synchronous", "NORMAL")
            .map_err(|e| classify(path, e))?;
        Ok(db)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A quick integrity check: refuse files SQLite cannot read or finds damaged.
    fn check(&self) -> Result<()> {
        let result: String = self
            .conn
            .query_row("PRAGMA quick_check", [], |r| r.get(0))
            .map_err(|e| classify(&self.path, e))?;
        if result != "ok" {
            return Err(corrupt(&self.path, &result));
        }
        Ok(())
    }

    fn migrate(&mut self, migrations: &[&str]) -> Result<()> {
        let version: i64 = self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| classify(&self.path, e))?;
        let target = migrations.len() as i64;
        if version > target {
            return Err(Error::State {
                message: format!(
                    "{} has schema version {version}, but this prisn knows versions up to {target}",
                    self.path.display()
                ),
                hint: Some(
                    "a newer prisn wrote it; use that prisn (or restore a state.db.v*.bak backup)"
                        .into(),
                ),
            });
        }
        if version == target {
            return Ok(());
        }
        let tables: i64 = self
            .conn
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
            .map_err(|e| classify(&self.path, e))?;
        if version == 0 && tables > 0 {
            return Err(Error::State {
                message: format!(
                    "{} is a SQLite database, but not prisn's (it has tables and no prisn schema version)",
                    self.path.display()
                ),
                hint: Some(format!(
                    "move it aside (mv {0} {0}.foreign) and run the command again",
                    self.path.display()
                )),
            });
        }
        if version > 0 {
            self.backup(version)?;
        }
        for (i, sql) in migrations.iter().enumerate().skip(version as usize) {
            let tx = self
                .conn
                .transaction()
                .map_err(|e| classify(&self.path, e))?;
            tx.execute_batch(sql).map_err(|e| classify(&self.path, e))?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)
                .map_err(|e| classify(&self.path, e))?;
            tx.commit().map_err(|e| classify(&self.path, e))?;
            tracing::info!("state.db migrated to schema version {}", i + 1);
        }
        Ok(())
    }

    /// A consistent copy next to the file (`VACUUM INTO` sees a committed snapshot).
    fn backup(&self, version: i64) -> Result<PathBuf> {
        let stamp = api::now_ms();
        let backup = self
            .path
            .with_file_name(format!("state.db.v{version}-{stamp}.bak"));
        self.conn
            .execute("VACUUM INTO ?1", params![backup.to_string_lossy()])
            .map_err(|e| Error::State {
                message: format!(
                    "cannot back up {} to {} before migrating it: {e}",
                    self.path.display(),
                    backup.display()
                ),
                hint: Some("nothing was changed; free some disk space and retry".into()),
            })?;
        set_private(&backup)?;
        tracing::info!("backed up state.db to {}", backup.display());
        Ok(backup)
    }

    // --- workloads ---

    pub fn get(&self, name: &str) -> Result<Option<Record>> {
        self.conn
            .query_row(
                "SELECT name, kind, spec, generation, replicas, created_ms, updated_ms, restarts, last_schedule_ms
                 FROM workloads WHERE name = ?1",
                params![name],
                record,
            )
            .optional()?
            .transpose()
    }

    pub fn list(&self) -> Result<Vec<Record>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT name, kind, spec, generation, replicas, created_ms, updated_ms, restarts, last_schedule_ms
             FROM workloads ORDER BY name",
        )?;
        let rows = stmt.query_map([], record)?;
        let mut out = Vec::new();
        for row in rows {
            out.push(row??);
        }
        Ok(out)
    }

    /// Create or replace `name` in one transaction, checking `expect` against what is there.
    ///
    /// # Errors
    /// [`Error::Conflict`] when the name belongs to another kind or `expect` does not hold.
    pub fn put(
        &mut self,
        name: &str,
        spec: &Spec,
        replicas: u32,
        expect: Expect,
    ) -> Result<PutOutcome> {
        self.put_release(name, spec, replicas, expect, &ReleaseMeta::default())
    }

    /// [`Db::put`] that records a release described by `meta` when the spec changes (in the
    /// same transaction: a workload never runs a spec its history does not show).
    ///
    /// # Errors
    /// As [`Db::put`].
    pub fn put_release(
        &mut self,
        name: &str,
        spec: &Spec,
        replicas: u32,
        expect: Expect,
        meta: &ReleaseMeta,
    ) -> Result<PutOutcome> {
        let now = api::now_ms();
        let json = serde_json::to_string(spec).map_err(|source| Error::Encode {
            what: "the workload's spec",
            source,
        })?;
        let tx = self.conn.transaction()?;
        let current: Option<(String, String, i64, u32)> = tx
            .query_row(
                "SELECT kind, spec, generation, replicas FROM workloads WHERE name = ?1",
                params![name],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        let outcome = match current {
            None => {
                if let Expect::Generation(g) = expect {
                    return Err(Error::conflict(
                        format!(
                            "{name} was deleted while this deploy was being prepared (it was at generation {g})"
                        ),
                        Some("run the deploy again to create it".to_string()),
                    ));
                }
                tx.execute(
                    "INSERT INTO workloads (name, kind, spec, generation, replicas, created_ms, updated_ms)
                     VALUES (?1, ?2, ?3, 1, ?4, ?5, ?5)",
                    params![name, spec.kind.as_str(), json, replicas, now],
                )?;
                PutOutcome {
                    generation: 1,
                    created: true,
                    spec_changed: true,
                    changed: true,
                }
            }
            Some((_, old_json, generation, old_replicas))
                if replicas == old_replicas
                    && serde_json::from_str::<Spec>(&old_json).is_ok_and(|old| old == *spec) =>
            {
                // Exactly this is there already (a retried request, a repeated deploy):
                // nothing to do, whatever the request expected to replace.
                PutOutcome {
                    generation,
                    created: false,
                    spec_changed: false,
                    changed: false,
                }
            }
            Some((kind, old_json, generation, old_replicas)) => {
                if kind != spec.kind.as_str() {
                    let taken_by =
                        Kind::parse(&kind).map_or(kind.clone(), |k| k.a_noun().to_string());
                    return Err(Error::conflict(
                        format!(
                            "the name {name:?} is taken by {taken_by} (names are unique across apps, jobs and cron jobs)"
                        ),
                        Some(format!(
                            "choose another --name, or `prisn delete {name}` first"
                        )),
                    ));
                }
                match expect {
                    Expect::Absent => {
                        return Err(Error::conflict(
                            format!(
                                "{name} was deployed by another prisn while this deploy was being prepared"
                            ),
                            Some("run the deploy again to replace it".to_string()),
                        ));
                    }
                    Expect::Generation(g) if g != generation => {
                        return Err(Error::conflict(
                            format!(
                                "{name} was changed by another deploy while this one was being prepared (generation {g} → {generation})"
                            ),
                            Some("run the deploy again to replace it".to_string()),
                        ));
                    }
                    _ => {}
                }
                let old: Option<Spec> = serde_json::from_str(&old_json).ok();
                let spec_changed = old.as_ref() != Some(spec);
                let generation = generation + i64::from(spec_changed);
                let changed = spec_changed || old_replicas != replicas;
                if changed {
                    tx.execute(
                        "UPDATE workloads SET spec = ?2, generation = ?3, replicas = ?4, updated_ms = ?5 WHERE name = ?1",
                        params![name, json, generation, replicas, now],
                    )?;
                }
                if spec_changed {
                    // A new spec starts a new history of restarts, like a new ReplicaSet.
                    tx.execute(
                        "UPDATE workloads SET restarts = 0 WHERE name = ?1",
                        params![name],
                    )?;
                }
                PutOutcome {
                    generation,
                    created: false,
                    spec_changed,
                    changed,
                }
            }
        };
        if outcome.spec_changed {
            releases::insert(&tx, name, outcome.generation, &json, meta, now)?;
        }
        tx.commit()?;
        Ok(outcome)
    }

    pub fn set_replicas(&self, name: &str, replicas: u32) -> Result<bool> {
        let n = self.conn.execute(
            "UPDATE workloads SET replicas = ?2, updated_ms = ?3 WHERE name = ?1",
            params![name, replicas, api::now_ms()],
        )?;
        Ok(n > 0)
    }

    pub fn add_restart(&self, name: &str) -> Result<()> {
        self.conn.execute(
            "UPDATE workloads SET restarts = restarts + 1 WHERE name = ?1",
            params![name],
        )?;
        Ok(())
    }

    pub fn set_last_schedule(&self, name: &str, slot_ms: i64) -> Result<()> {
        self.conn.execute(
            "UPDATE workloads SET last_schedule_ms = ?2 WHERE name = ?1",
            params![name, slot_ms],
        )?;
        Ok(())
    }

    /// Remove a workload and its runs.
    pub fn delete(&self, name: &str) -> Result<bool> {
        let n = self
            .conn
            .execute("DELETE FROM workloads WHERE name = ?1", params![name])?;
        Ok(n > 0)
    }

    // --- runs ---

    pub fn insert_run(&self, name: &str, generation: i64, slot_ms: Option<i64>) -> Result<i64> {
        self.conn.execute(
            "INSERT INTO runs (workload, generation, slot_ms, started_ms) VALUES (?1, ?2, ?3, ?4)",
            params![name, generation, slot_ms, api::now_ms()],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    pub fn set_run_shim(&self, id: i64, shim_pid: i32, shim_start: u64) -> Result<()> {
        self.conn.execute(
            "UPDATE runs SET shim_pid = ?2, shim_start = ?3 WHERE id = ?1",
            params![id, shim_pid, shim_start as i64],
        )?;
        Ok(())
    }

    pub fn set_run_started(&self, id: i64, pid: Option<i32>, report: &str) -> Result<()> {
        self.conn.execute(
            "UPDATE runs SET pid = ?2, report = ?3 WHERE id = ?1",
            params![id, pid, report],
        )?;
        Ok(())
    }

    pub fn finish_run(&self, id: i64, end: &Ending) -> Result<()> {
        self.conn.execute(
            "UPDATE runs SET ended_ms = ?2, exit_code = ?3, signal = ?4, reason = ?5, message = ?6
             WHERE id = ?1 AND ended_ms IS NULL",
            params![
                id,
                end.ended_ms,
                end.exit_code,
                end.signal,
                end.reason,
                end.message
            ],
        )?;
        Ok(())
    }

    /// A run that never started a process (a skipped cron slot, a failed start).
    pub fn record_ended_run(
        &self,
        name: &str,
        generation: i64,
        slot_ms: Option<i64>,
        end: &Ending,
    ) -> Result<i64> {
        let id = self.insert_run(name, generation, slot_ms)?;
        self.finish_run(id, end)?;
        Ok(id)
    }

    /// Runs without an end, of every workload (to adopt after a restart).
    pub fn open_runs(&self) -> Result<Vec<Run>> {
        self.runs_where("ended_ms IS NULL", params![], None)
    }

    /// The newest runs of `name`, newest first.
    pub fn runs(&self, name: &str, limit: usize) -> Result<Vec<Run>> {
        self.runs_where("workload = ?1", params![name], Some(limit))
    }

    /// Keep the newest `keep` finished runs of `name`.
    pub fn prune_runs(&self, name: &str, keep: usize) -> Result<Vec<i64>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id FROM runs WHERE workload = ?1 AND ended_ms IS NOT NULL ORDER BY id DESC LIMIT -1 OFFSET ?2",
        )?;
        let ids: Vec<i64> = stmt
            .query_map(params![name, keep as i64], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        for id in &ids {
            self.conn
                .execute("DELETE FROM runs WHERE id = ?1", params![id])?;
        }
        Ok(ids)
    }

    fn runs_where(
        &self,
        cond: &str,
        p: &[&dyn rusqlite::ToSql],
        limit: Option<usize>,
    ) -> Result<Vec<Run>> {
        let sql = format!(
            "SELECT id, workload, generation, slot_ms, started_ms, shim_pid, shim_start, pid, report,
                    ended_ms, exit_code, signal, reason, message
             FROM runs WHERE {cond} ORDER BY id DESC LIMIT {}",
            limit.map_or(-1, |l| l as i64)
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(p, |r| {
            Ok(Run {
                id: r.get(0)?,
                workload: r.get(1)?,
                generation: r.get(2)?,
                slot_ms: r.get(3)?,
                started_ms: r.get(4)?,
                shim_pid: r.get(5)?,
                shim_start: r.get::<_, Option<i64>>(6)?.map(|v| v as u64),
                pid: r.get(7)?,
                report: r.get(8)?,
                ended_ms: r.get(9)?,
                exit_code: r.get(10)?,
                signal: r.get(11)?,
                reason: r.get(12)?,
                message: r.get(13)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

/// state.db holds every workload's environment (its secrets): the file is created 0600
/// before SQLite opens it, and SQLite gives `-wal` and `-shm` the mode of the database.
/// Files an older prisn left readable are tightened.
fn private_files(path: &Path) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(Error::io("create", path))?;
    for suffix in ["", "-wal", "-shm"] {
        let mut file = path.as_os_str().to_owned();
        file.push(suffix);
        let file = PathBuf::from(file);
        if file.exists() {
            set_private(&file)?;
        }
    }
    Ok(())
}

fn set_private(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(Error::io("chmod 0600", path))
}

/// A row of state.db that this version cannot read (written by a newer prisn, or edited).
fn unreadable(name: &str, why: String) -> Error {
    Error::State {
        message: format!("workload {name} in state.db: {why}"),
        hint: Some(format!(
            "`prisn delete {name}` removes it; a newer prisn may have written it"
        )),
    }
}

fn record(r: &rusqlite::Row<'_>) -> rusqlite::Result<Result<Record>> {
    let name: String = r.get(0)?;
    let kind: String = r.get(1)?;
    let spec: String = r.get(2)?;
    let parsed = Kind::parse(&kind)
        .ok_or_else(|| unreadable(&name, format!("unknown kind {kind:?}")))
        .and_then(|kind| {
            serde_json::from_str::<Spec>(&spec)
                .map(|spec| (kind, spec))
                .map_err(|e| unreadable(&name, format!("unreadable spec: {e}")))
        });
    let (kind, spec) = match parsed {
        Ok(v) => v,
        Err(e) => return Ok(Err(e)),
    };
    Ok(Ok(Record {
        name,
        kind,
        spec,
        generation: r.get(3)?,
        replicas: r.get(4)?,
        created_ms: r.get(5)?,
        updated_ms: r.get(6)?,
        restarts: r.get(7)?,
        last_schedule_ms: r.get(8)?,
    }))
}

/// Turn SQLite's errors at open into messages that name the file and the way out.
fn classify(path: &Path, e: rusqlite::Error) -> Error {
    use rusqlite::ErrorCode;
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
            let holders = crate::proc::holders_of(path);
            let who = if holders.is_empty() {
                "another process".to_string()
            } else {
                holders
                    .iter()
                    .map(|(pid, cmd)| format!("pid {pid} ({cmd})"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            Error::State {
                message: format!(
                    "{} is locked by {who} (waited {}s)",
                    path.display(),
                    BUSY_TIMEOUT.as_secs()
                ),
                hint: Some("close whatever holds it (an sqlite3 shell, a backup tool) and run the command again".into()),
            }
        }
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => corrupt(path, &e.to_string()),
        _ => Error::State {
            message: format!("cannot use {}: {e}", path.display()),
            hint: None,
        },
    }
}

fn corrupt(path: &Path, detail: &str) -> Error {
    let backups = backups(path);
    let restore = match backups.last() {
        Some(newest) => format!(
            " Or restore the newest backup: `cp {} {}` (backups: {})",
            newest.display(),
            path.display(),
            backups
                .iter()
                .map(|b| b.file_name().unwrap_or_default().to_string_lossy())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        None => String::new(),
    };
    Error::State {
        message: format!(
            "{} is not a readable prisn state database ({detail}); the daemon will not start with it",
            path.display()
        ),
        hint: Some(format!(
            "prisn has not changed it. Keep it for inspection and start fresh with `mv {0} {0}.corrupt` (and {0}-wal, {0}-shm likewise, when present): the next daemon restores every workload from its run directory (run/<name>/workload.json) and adopts its running processes.{restore}",
            path.display()
        )),
    }
}

/// The `state.db.v<N>-<time>.bak` backups beside `path` that exist, oldest first.
fn backups(path: &Path) -> Vec<PathBuf> {
    let Some(dir) = path.parent() else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|r| {
            r.flatten()
                .map(|e| e.path())
                .filter(|p| {
                    let n = p.file_name().unwrap_or_default().to_string_lossy();
                    n.starts_with("state.db.v") && n.ends_with(".bak")
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
    out
}

#[cfg(test)]
mod tests;
