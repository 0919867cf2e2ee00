//! `DATA/server.db` (SQLite, WAL): the tokens (only a hash of each secret) and the audit
//! log. The audit table is append-only: triggers refuse UPDATE and DELETE. The CLI
//! (`prisn server token …`, `prisn server audit`) opens the same file beside a running
//! server; WAL and a busy timeout let both work.

use std::path::Path;
use std::time::Duration;

use prisn_api::daemon::{now_ms, rfc3339};
use prisn_api::remote::AuditEntry;
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use crate::{Error, Result};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS tokens (
    id TEXT PRIMARY KEY,
    namespace TEXT NOT NULL,
    role TEXT NOT NULL,
    secret_sha256 TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    expires_ms INTEGER,
    revoked_ms INTEGER,
    last_used_ms INTEGER,
    description TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms INTEGER NOT NULL,
    token TEXT NOT NULL,
    namespace TEXT NOT NULL,
    action TEXT NOT NULL,
    status INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_at ON audit(at_ms);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
";

/// What a token may do, each role including the ones before it (what `token` checks;
/// defined here, where it is stored, so the modules form no cycle).
/// The audit log's `token` when the request had no valid token.
pub const NO_TOKEN: &str = "-";

/// One request, as the audit log records it.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The token's id (never the token), or [`NO_TOKEN`].
    pub token: String,
    pub namespace: String,
    /// `METHOD /path`.
    pub action: String,
    /// The answer's HTTP status.
    pub status: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// List, status, logs, info.
    Read,
    /// Also deploy, scale, delete, upload.
    Deploy,
    /// Also read the namespace's audit log over the API.
    Admin,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "read" => Some(Role::Read),
            "deploy" => Some(Role::Deploy),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Deploy => "deploy",
            Role::Admin => "admin",
        }
    }
}

/// A token as stored, without its secret.
#[derive(Debug, Clone, Serialize)]
pub struct TokenRecord {
    pub id: String,
    pub namespace: String,
    pub role: Role,
    pub created_ms: i64,
    pub expires_ms: Option<i64>,
    pub revoked_ms: Option<i64>,
    pub last_used_ms: Option<i64>,
    pub description: String,
}

/// The server's database.
pub struct Db {
    conn: Connection,
}

impl Db {
    /// Open (creating, 0600) `data/server.db`.
    ///
    /// # Errors
    /// When it cannot be opened or is not a prisn server database.
    pub fn open(data: &Path) -> Result<Db> {
        prisn_local::paths::create_private_dir(data).map_err(Error::io("create", data))?;
        let path = data.join("server.db");
        // SAFETY: umask(2) is always safe; the database and its -wal/-shm are born 0600.
        let old = unsafe { libc::umask(0o077) };
        let conn = Connection::open(&path);
        let conn = conn.and_then(|c| {
            c.busy_timeout(Duration::from_secs(10))?;
            c.pragma_update(None, "journal_mode", "WAL")?;
            c.execute_batch(SCHEMA)?;
            Ok(c)
        });
        unsafe { libc::umask(old) };
        let conn = conn.map_err(|e| Error::State {
            message: format!("{}: {e}", path.display()),
            hint: None,
        })?;
        Ok(Db { conn })
    }

    /// The audit writer's connection ([`crate::audit`]): commits are written to the OS but
    /// not each fsynced (SQLite's `synchronous = NORMAL` in WAL mode; checkpoints still sync).
    /// An entry then survives a killed server but not necessarily a power loss in the second
    /// after it, the durability of kube-apiserver's and Vault's file audit logs; one fsync per
    /// request put the disk's fsync tail (tens of ms here) on every answer. Token changes go
    /// through other connections, fully synced.
    ///
    /// # Errors
    /// As [`Db::open`].
    pub fn open_audit_writer(data: &Path) -> Result<Db> {
        let db = Db::open(data)?;
        db.conn
            .pragma_update(None, "synchronous", "NORMAL")
            .map_err(|e| Error::State {
                message: format!("{}: {e}", data.join("server.db").display()),
                hint: None,
            })?;
        Ok(db)
    }

    pub fn insert_token(&self, t: &TokenRecord, secret_sha256: &str) -> Result<()> {
        self.conn.execute(
            "INSERT INTO tokens (id, namespace, role, secret_sha256, created_ms, expires_ms, description)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                t.id,
                t.namespace,
                t.role.as_str(),
                secret_sha256,
                t.created_ms,
                t.expires_ms,
                t.description
            ],
        )?;
        Ok(())
    }

    /// The token `id` and the hash of its secret.
    pub fn token(&self, id: &str) -> Result<Option<(TokenRecord, String)>> {
        Ok(self
            .conn
            .query_row(
                "SELECT id, namespace, role, created_ms, expires_ms, revoked_ms, last_used_ms, description, secret_sha256
                 FROM tokens WHERE id = ?1",
                [id],
                |r| Ok((record(r)?, r.get::<_, String>(8)?)),
            )
            .optional()?)
    }

    pub fn tokens(&self) -> Result<Vec<TokenRecord>> {
        let mut stmt = self.conn.prepare(
            "SELECT id, namespace, role, created_ms, expires_ms, revoked_ms, last_used_ms, description
             FROM tokens ORDER BY created_ms, id",
        )?;
        let rows = stmt.query_map([], record)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Revoke `id`; false when there is no such token.
    pub fn revoke(&self, id: &str) -> Result<bool> {
        let n = self.conn.execute(
            "UPDATE tokens SET revoked_ms = ?2 WHERE id = ?1 AND revoked_ms IS NULL",
            params![id, now_ms()],
        )?;
        Ok(n > 0 || self.token(id)?.is_some())
    }

    /// `entries` in one transaction (one fsync): each into the audit log, and its token's
    /// last use set to now. See [`crate::audit`].
    pub fn record(&self, entries: &[&Entry]) -> Result<()> {
        let tx = self.conn.unchecked_transaction()?;
        let now = now_ms();
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO audit (at_ms, token, namespace, action, status) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            let mut touch =
                tx.prepare_cached("UPDATE tokens SET last_used_ms = ?2 WHERE id = ?1")?;
            for e in entries {
                insert.execute(params![now, e.token, e.namespace, e.action, e.status])?;
                if e.token != NO_TOKEN {
                    touch.execute(params![e.token, now])?;
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Entries since `since_ms` (all namespaces when `namespace` is None), oldest first.
    pub fn audit_since(&self, since_ms: i64, namespace: Option<&str>) -> Result<Vec<AuditEntry>> {
        let mut stmt = self.conn.prepare(
            "SELECT id, at_ms, token, namespace, action, status FROM audit
             WHERE at_ms >= ?1 AND (?2 IS NULL OR namespace = ?2) ORDER BY id",
        )?;
        let rows = stmt.query_map(params![since_ms, namespace], |r| {
            Ok(AuditEntry {
                id: r.get(0)?,
                at: rfc3339(r.get(1)?),
                token: r.get(2)?,
                namespace: r.get(3)?,
                action: r.get(4)?,
                status: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

fn record(r: &rusqlite::Row<'_>) -> rusqlite::Result<TokenRecord> {
    let role: String = r.get(2)?;
    Ok(TokenRecord {
        id: r.get(0)?,
        namespace: r.get(1)?,
        role: Role::parse(&role).unwrap_or(Role::Read),
        created_ms: r.get(3)?,
        expires_ms: r.get(4)?,
        revoked_ms: r.get(5)?,
        last_used_ms: r.get(6)?,
        description: r.get(7)?,
    })
}
