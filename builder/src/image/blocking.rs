//! Blocking work (uv, tar, gzip, big file writes, tree deletion) goes to tokio's blocking pool,
//! so the executor's threads keep serving the registry I/O of other tasks meanwhile.

use crate::{Error, Result};

/// Run blocking work (uv, tar, gzip, file writes) on tokio's blocking pool, so the executor's
/// threads keep serving the registry I/O of other tasks meanwhile.
pub(crate) async fn run<T: Send + 'static>(
    what: &'static str,
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| Error::Task {
            what,
            message: e.to_string(),
        })?
}
