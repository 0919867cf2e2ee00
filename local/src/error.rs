//! One error type for local mode. Every variant says what failed and on what; [`Error::hint`]
//! says what to do next, and [`Error::status`] is the HTTP status the API answers with, so
//! the same value crosses the wire as `{"error": …, "hint": …}` and comes back intact.

use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing a file failed.
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// No workload has this name.
    #[error("no app, job or cron job named {0:?}")]
    NotFound(String),

    /// The request is invalid (name, schedule, quantity, port, limit…).
    #[error("{message}")]
    Invalid {
        message: String,
        hint: Option<String>,
    },

    /// The request clashes with what exists (a port, a name, a concurrent deploy).
    #[error("{message}")]
    Conflict {
        message: String,
        hint: Option<String>,
    },

    /// state.db cannot be used (locked, corrupt, newer schema).
    #[error("{message}")]
    State {
        message: String,
        hint: Option<String>,
    },

    /// The daemon cannot be started or reached.
    #[error("{message}")]
    Unavailable {
        message: String,
        hint: Option<String>,
    },

    /// An error answer from the daemon's API.
    #[error("{message}")]
    Api {
        status: u16,
        message: String,
        hint: Option<String>,
    },

    /// Anything else: a bug or an unexpected system failure.
    #[error("{0}")]
    Internal(String),
}

impl Error {
    /// A closure for `map_err` that names the action and the path.
    pub fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io {
            action,
            path,
            source,
        }
    }

    pub fn invalid(message: impl Into<String>, hint: impl Into<Option<String>>) -> Error {
        Error::Invalid {
            message: message.into(),
            hint: hint.into(),
        }
    }

    pub fn conflict(message: impl Into<String>, hint: impl Into<Option<String>>) -> Error {
        Error::Conflict {
            message: message.into(),
            hint: hint.into(),
        }
    }

    /// What to do next, if we know.
    pub fn hint(&self) -> Option<&str> {
        match self {
            Error::NotFound(_) => Some("`prisn get` lists what is deployed in this context"),
            Error::Invalid { hint, .. }
            | Error::Conflict { hint, .. }
            | Error::State { hint, .. }
            | Error::Unavailable { hint, .. }
            | Error::Api { hint, .. } => hint.as_deref(),
            Error::Io { .. } | Error::Internal(_) => None,
        }
    }

    /// The HTTP status this error maps to.
    pub fn status(&self) -> u16 {
        match self {
            Error::NotFound(_) => 404,
            Error::Invalid { .. } => 400,
            Error::Conflict { .. } => 409,
            Error::State { .. } | Error::Unavailable { .. } => 503,
            Error::Api { status, .. } => *status,
            Error::Io { .. } | Error::Internal(_) => 500,
        }
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Error {
        let busy = matches!(
            e.sqlite_error_code(),
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
        );
        Error::State {
            message: format!("state.db: {e}"),
            hint: busy.then(|| {
                "another process holds a lock on $PRISN_HOME/state.db (an sqlite3 shell, a backup tool?); close it and retry".to_string()
            }),
        }
    }
}

impl prisn_api::Hint for Error {
    fn hint(&self) -> Option<String> {
        Error::hint(self).map(str::to_string)
    }
}
