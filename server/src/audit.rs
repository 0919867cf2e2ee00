//! The audit log's writer: group commit.
//!
//! Every guarded request waits until its audit entry (and its token's last use) is written
//! before it is answered, so an answer a client saw is in the log, also when the server is
//! killed right after (when the log cannot be written, the answer still goes out and the
//! server's own log says why). The writes used to be two SQLite commits per request, each
//! fsynced, taken in turn under the database's lock on the async workers: 50 concurrent
//! clients queued behind each other's fsyncs (p99 470 ms). Now one thread owns a connection
//! of its own ([`Db::open_audit_writer`]: written, not fsynced per commit) and commits
//! whatever entries arrived meanwhile in one transaction.
//!
//! ```text
//! guard ─(entry, reply)→ channel → writer thread: take all queued → BEGIN … COMMIT → reply to each
//! ```

use std::path::Path;
use std::sync::mpsc;

use tokio::sync::oneshot;

use crate::db::{Db, Entry};
use crate::{Error, Result};

/// At most this many entries per transaction (a bound on one commit's size, not a target).
const MAX_BATCH: usize = 512;

type Job = (Entry, oneshot::Sender<std::result::Result<(), String>>);

/// A handle to the writer thread; cheap to clone.
#[derive(Debug, Clone)]
pub struct AuditLog {
    tx: mpsc::Sender<Job>,
}

impl AuditLog {
    /// Open the server's database at `data` a second time and start the writer on it.
    ///
    /// # Errors
    /// The database cannot be opened.
    pub fn start(data: &Path) -> Result<AuditLog> {
        let db = Db::open_audit_writer(data)?;
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("audit-writer".into())
            .spawn(move || write_loop(&db, &rx))
            .map_err(|source| Error::System {
                what: "start the audit writer",
                source,
            })?;
        Ok(AuditLog { tx })
    }

    /// Record `entry`; returns once it is committed.
    ///
    /// # Errors
    /// The database refused the write (disk full, …) or the writer is gone.
    pub async fn record(&self, entry: Entry) -> Result<()> {
        let (reply, done) = oneshot::channel();
        let gone = || Error::State {
            message: "the audit writer has stopped".into(),
            hint: Some("restart the server; its log says why".into()),
        };
        self.tx.send((entry, reply)).map_err(|_| gone())?;
        done.await
            .map_err(|_| gone())?
            .map_err(|message| Error::State {
                message: format!("cannot write the audit log: {message}"),
                hint: None,
            })
    }
}

/// Until every handle is dropped: block for one entry, take the others already queued, commit
/// them together, answer each.
fn write_loop(db: &Db, rx: &mpsc::Receiver<Job>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let entries: Vec<&Entry> = batch.iter().map(|(e, _)| e).collect();
        let outcome = db.record(&entries).map_err(|e| e.to_string());
        for (_, reply) in batch {
            // A request that went away meanwhile does not need the answer.
            let _ = reply.send(outcome.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(i: usize) -> Entry {
        Entry {
            token: "-".into(),
            namespace: "default".into(),
            action: format!("GET /v1/workloads/{i}"),
            status: 200,
        }
    }

    /// Entries recorded concurrently are all there once each `record` returned, each once.
    #[test]
    fn concurrent_entries_are_all_committed_before_their_answer() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::start(dir.path()).unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        rt.block_on(async {
            let tasks: Vec<_> = (0..200)
                .map(|i| {
                    let log = log.clone();
                    tokio::spawn(async move { log.record(entry(i)).await })
                })
                .collect();
            for t in tasks {
                t.await.unwrap().unwrap();
            }
        });
        let all = Db::open(dir.path()).unwrap().audit_since(0, None).unwrap();
        let mut actions: Vec<String> = all.into_iter().map(|e| e.action).collect();
        actions.sort();
        let mut want: Vec<String> = (0..200).map(|i| entry(i).action).collect();
        want.sort();
        assert_eq!(actions, want);
    }
}
