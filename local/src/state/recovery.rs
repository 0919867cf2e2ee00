//! Putting back what a lost state.db held, from the run directories (issue 13, item 3).
//!
//! Every change of a workload also writes its record to `run/<name>/workload.json` (0600), and
//! every run directory keeps its `started.json`. A daemon that starts on a state.db without a
//! workload that has such a file (the database was moved aside after corruption, or restored
//! from an older backup) inserts the record again, and the runs whose shim still lives as
//! open runs, so the usual re-adoption takes them over: no second process, no lost code.

use std::path::Path;

use rusqlite::params;

use super::{Db, Record};
use crate::api::Spec;
use crate::{Error, Result};

/// What `run/<name>/workload.json` holds.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct SavedRecord {
    pub name: String,
    pub spec: Spec,
    pub generation: i64,
    pub replicas: u32,
    pub created_ms: i64,
    pub updated_ms: i64,
}

impl SavedRecord {
    pub fn of(rec: &Record) -> SavedRecord {
        SavedRecord {
            name: rec.name.clone(),
            spec: rec.spec.clone(),
            generation: rec.generation,
            replicas: rec.replicas,
            created_ms: rec.created_ms,
            updated_ms: rec.updated_ms,
        }
    }
}

/// A run whose shim outlived the database.
#[derive(Debug, Clone)]
pub struct LiveRun {
    pub id: i64,
    pub generation: i64,
    pub started_ms: i64,
    pub shim_pid: i32,
    pub shim_start: u64,
}

impl Db {
    /// Insert `saved` unless its name exists; true when it was inserted.
    ///
    /// # Errors
    /// The database refused the write.
    pub fn restore(&mut self, saved: &SavedRecord, runs: &[LiveRun]) -> Result<bool> {
        let json = serde_json::to_string(&saved.spec).map_err(|source| Error::Encode {
            what: "the workload's spec",
            source,
        })?;
        let tx = self.conn.transaction()?;
        let inserted = tx.execute(
            "INSERT OR IGNORE INTO workloads (name, kind, spec, generation, replicas, created_ms, updated_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                saved.name,
                saved.spec.kind.as_str(),
                json,
                saved.generation,
                saved.replicas,
                saved.created_ms,
                saved.updated_ms
            ],
        )? == 1;
        if inserted {
            for r in runs {
                tx.execute(
                    "INSERT OR IGNORE INTO runs (id, workload, generation, started_ms, shim_pid, shim_start)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![
                        r.id,
                        saved.name,
                        r.generation,
                        r.started_ms,
                        r.shim_pid,
                        r.shim_start as i64
                    ],
                )?;
            }
        }
        tx.commit()?;
        Ok(inserted)
    }
}

/// Read `run/<name>/workload.json`.
pub fn read_saved(dir: &Path) -> Option<SavedRecord> {
    serde_json::from_slice(&std::fs::read(dir.join(WORKLOAD)).ok()?).ok()
}

/// The file name of a saved record in `run/<name>/`.
pub const WORKLOAD: &str = "workload.json";
