//! Releases: one row per spec a workload was given (by a deploy or a rollback), so
//! `prisn history` can list them and `prisn rollback` can make one current again without
//! building anything. The newest `keep` per workload are kept (and their code and
//! environments with them, see `ops` and `gc`); rows go with their workload.

use rusqlite::{Transaction, params};

use super::Db;
use crate::api::Spec;
use crate::{Error, Result};

/// How many releases each workload keeps unless configured (`PRISN_KEEP_RELEASES`).
pub const KEEP: usize = 10;

/// What a release records beyond the spec.
#[derive(Debug, Clone, Default)]
pub struct ReleaseMeta {
    pub lock_digest: Option<String>,
    pub who: Option<String>,
    /// A rollback: the revision whose spec this is.
    pub rollback_of: Option<i64>,
}

/// A release row.
#[derive(Debug, Clone)]
pub struct Release {
    pub revision: i64,
    pub spec: Spec,
    pub lock_digest: Option<String>,
    pub who: Option<String>,
    pub created_ms: i64,
    pub rollback_of: Option<i64>,
}

pub(super) fn insert(
    tx: &Transaction<'_>,
    name: &str,
    revision: i64,
    spec_json: &str,
    meta: &ReleaseMeta,
    now: i64,
) -> Result<()> {
    tx.execute(
        "INSERT OR REPLACE INTO releases (workload, revision, spec, lock_digest, who, created_ms, rollback_of)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            name,
            revision,
            spec_json,
            meta.lock_digest,
            meta.who,
            now,
            meta.rollback_of
        ],
    )?;
    Ok(())
}

impl Db {
    /// The releases of `name`, newest first.
    pub fn releases(&self, name: &str) -> Result<Vec<Release>> {
        self.releases_where("workload = ?1", params![name])
    }

    /// Every release of every workload (what pins and code gc must keep).
    pub fn all_releases(&self) -> Result<Vec<Release>> {
        self.releases_where("1", params![])
    }

    /// Keep the newest `keep` releases of `name` (at least one); returns the removed ones.
    pub fn prune_releases(&self, name: &str, keep: usize) -> Result<Vec<Release>> {
        let gone: Vec<Release> = self.releases(name)?.into_iter().skip(keep.max(1)).collect();
        for r in &gone {
            self.conn.execute(
                "DELETE FROM releases WHERE workload = ?1 AND revision = ?2",
                params![name, r.revision],
            )?;
        }
        Ok(gone)
    }

    fn releases_where(&self, cond: &str, p: &[&dyn rusqlite::ToSql]) -> Result<Vec<Release>> {
        let sql = format!(
            "SELECT workload, revision, spec, lock_digest, who, created_ms, rollback_of
             FROM releases WHERE {cond} ORDER BY workload, revision DESC"
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        type Row = (
            String,
            i64,
            String,
            Option<String>,
            Option<String>,
            i64,
            Option<i64>,
        );
        let rows = stmt.query_map(p, |r| -> rusqlite::Result<Row> {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (name, revision, json, lock_digest, who, created_ms, rollback_of) = row?;
            let spec = serde_json::from_str(&json).map_err(|e| {
                Error::State {
                    message: format!(
                        "workload {name}: unreadable spec of revision {revision} in state.db: {e}"
                    ),
                    hint: Some(format!(
                        "`prisn delete {name}` removes it and its releases; a newer prisn may have written it"
                    )),
                }
            })?;
            out.push(Release {
                revision,
                spec,
                lock_digest,
                who,
                created_ms,
                rollback_of,
            });
        }
        Ok(out)
    }
}
