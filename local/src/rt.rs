//! The async runtime of the daemon and of a `logs -f` client: one thread (the daemon's work
//! is IO and its processes; a follower reads one stream), built the same way for both.

use crate::error::{Error, Result};

/// A current-thread tokio runtime with IO and timers.
///
/// # Errors
/// The OS refused what the runtime needs (an epoll instance, a timer).
pub(crate) fn current_thread() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| Error::System {
            what: "start the async runtime",
            source,
        })
}
