//! One error type for the builder. Every variant says what failed, on which file, field
//! or reference, and [`Error::hint`] says what to do next.

use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing a file failed.
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The script (or directory) to run does not exist.
    #[error("script not found: {0}")]
    ScriptNotFound(PathBuf),

    /// No runtime could be inferred from the extension or shebang.
    #[error("cannot tell which runtime runs {path}: unknown extension and no shebang")]
    UnknownRuntime { path: PathBuf },

    /// A directory was given but no entrypoint file was found in it.
    #[error("no entrypoint in directory {dir}: looked for {tried}")]
    NoEntrypoint { dir: PathBuf, tried: String },

    /// A dependency declaration is malformed (PEP 723 block, requirements.txt, pyproject, package.json).
    #[error("{file}:{line}: {message}")]
    Declaration {
        file: PathBuf,
        line: usize,
        message: String,
        hint: Option<String>,
    },

    /// The interpreter does not satisfy requires-python.
    #[error("{interpreter} is Python {version}, but {file} requires-python {wanted}")]
    PythonMismatch {
        interpreter: PathBuf,
        version: String,
        wanted: String,
        file: PathBuf,
    },

    /// An interpreter or tool could not be found or probed.
    #[error("{0}")]
    Tool(String, Option<String>),

    /// The resolver (uv, pip or npm) refused the requirements. `output` is its own explanation.
    #[error("could not resolve the dependencies of {script} with {tool}:\n{output}")]
    Resolve {
        script: String,
        tool: String,
        output: String,
    },

    /// Installing the locked packages failed.
    #[error("installing the environment for {script} with {tool} failed: {output}")]
    Install {
        script: String,
        tool: String,
        output: String,
    },

    /// prisn.lock is unreadable or of an unknown version.
    #[error("{path} is not a valid prisn lock: {message}")]
    LockCorrupt { path: PathBuf, message: String },

    /// `--locked` or `--frozen` was given and the lock is missing or stale.
    #[error("{0}")]
    LockState(String, String),

    /// The content-addressed store is inconsistent or cannot be used.
    #[error("store: {0}")]
    Store(String),

    /// Assembling, reading or writing an image, layout or bundle failed.
    #[error("{0}")]
    Image(String),

    /// Bytes did not hash to the digest that names them (tampered or corrupt blob).
    #[error("digest mismatch for {what}: expected {expected}, got {actual}")]
    DigestMismatch {
        what: String,
        expected: String,
        actual: String,
    },

    /// An image reference could not be parsed.
    #[error("invalid image reference {reference:?}: {message}")]
    Reference { reference: String, message: String },

    /// A registry could not be reached or refused a request.
    #[error("registry {registry}: {message}")]
    Registry {
        registry: String,
        message: String,
        hint: Option<String>,
    },

    /// The registry wants credentials we do not have, or refused the ones we sent.
    #[error(
        "registry {registry} answered 401 Unauthorized to {operation}; credentials tried: {tried}"
    )]
    Unauthorized {
        registry: String,
        operation: String,
        tried: String,
    },

    /// The base image cannot run this script (no Python, another version, no wheel, …).
    #[error("base image {base}: {message}")]
    Base {
        base: String,
        message: String,
        hint: String,
    },

    /// `--offline` was given and something needed is not in the local caches.
    #[error("offline build: {0}")]
    Offline(String, String),
}

impl Error {
    /// Wrap an IO error with the action and the path it concerned.
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

    /// What the user should do next, when we know.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::ScriptNotFound(_) => Some("check the path; prisn runs a script file or a directory with an entrypoint".into()),
            Error::UnknownRuntime { .. } => Some(
                "use a .py, .js/.mjs/.cjs or .sh extension, or start the file with a shebang such as `#!/usr/bin/env python3`".into(),
            ),
            Error::NoEntrypoint { .. } => Some("name the file with --entrypoint FILE".into()),
            Error::Declaration { hint, .. } => hint.clone(),
            Error::PythonMismatch { .. } => Some("point prisn at another interpreter with --python PATH (or PRISN_PYTHON), or relax requires-python".into()),
            Error::Tool(_, hint) => hint.clone(),
            Error::Resolve { .. } => Some("fix the requirement named above, then run `prisn lock` again".into()),
            Error::Install { .. } => Some("nothing was written to the store; run the command again (add -v to see the installer's output)".into()),
            Error::LockCorrupt { .. } => Some("run `prisn lock SCRIPT`: it moves the broken file aside to prisn.lock.broken and writes a fresh one".into()),
            Error::LockState(_, hint) => Some(hint.clone()),
            Error::DigestMismatch { .. } => Some("the content was changed after it was written; get a fresh copy (re-export the bundle, or delete the cached blob under $PRISN_HOME/cache/blobs)".into()),
            Error::Reference { .. } => Some("write it as REGISTRY/REPOSITORY[:TAG][@sha256:DIGEST], e.g. 127.0.0.1:5000/team/app:v1".into()),
            Error::Registry { hint, .. } => hint.clone(),
            Error::Unauthorized { registry, .. } => Some(format!("run `prisn login {registry}` (or `docker login {registry}`), then try again")),
            Error::Base { hint, .. } => Some(hint.clone()),
            Error::Offline(_, hint) => Some(hint.clone()),
            Error::Io { .. } | Error::Store(_) | Error::Image(_) => None,
        }
    }
}
