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

    /// A task on the blocking pool panicked or was cancelled (a bug).
    #[error("the {what} task failed: {source}")]
    Task {
        what: &'static str,
        #[source]
        source: tokio::task::JoinError,
    },

    /// A system resource the daemon needs (its async runtime, its listening socket) failed.
    #[error("cannot {what}: {source}")]
    System {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },

    /// A value could not be written as JSON (a bug: every value prisn stores is serialisable).
    #[error("cannot encode {what} as JSON: {source}")]
    Encode {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },

    /// The HTTP client for the daemon's socket cannot be built.
    #[error("cannot build the HTTP client: {0}")]
    Client(#[source] reqwest::Error),

    /// The daemon answered with something that is not the API's JSON (another program on the
    /// socket, or a daemon of another version).
    #[error("unexpected answer from the daemon: {detail}")]
    BadAnswer { detail: String },

    /// A failure in the store or file locks shared with the builder.
    #[error(transparent)]
    Builder(#[from] prisn_builder::Error),
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
            Error::BadAnswer { .. } => Some(
                "restart the daemon with `prisn daemon stop`; if another program owns $PRISN_HOME/prisn.sock, stop it",
            ),
            Error::Io { .. }
            | Error::Task { .. }
            | Error::System { .. }
            | Error::Encode { .. }
            | Error::Client(_)
            | Error::Builder(_) => None,
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
            Error::Io { .. }
            | Error::Task { .. }
            | Error::System { .. }
            | Error::Encode { .. }
            | Error::Client(_)
            | Error::BadAnswer { .. }
            | Error::Builder(_) => 500,
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
        match self {
            Error::Builder(e) => e.hint(),
            other => Error::hint(other).map(str::to_string),
        }
    }
}
