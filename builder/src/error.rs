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
    #[error("{message}")]
    Tool {
        message: String,
        hint: Option<String>,
    },

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
    #[error("{message}")]
    LockState { message: String, hint: String },

    /// A resolver's output was not what prisn reads (a newer tool, or a bug).
    #[error("unexpected output from {tool}: {detail}")]
    ResolverOutput { tool: &'static str, detail: String },

    /// A store entry was deleted by a `prisn gc` running at the same time.
    #[error("{} was deleted by a `prisn gc` running at the same time", path.display())]
    CollectedMeanwhile { path: PathBuf },

    /// The files of a script's directory cannot be listed.
    #[error("cannot list the files of {}: {message}", root.display())]
    Walk { root: PathBuf, message: String },

    /// A registry auth file (`auth.json`, docker's `config.json`) cannot be used.
    #[error("{}: {message}", file.display())]
    AuthFile { file: PathBuf, message: String },

    /// A layer entry path that is absolute or has `.`/`..` segments (a bug in the caller).
    #[error("bad path for a layer entry: {path:?} (want a relative path without `.` or `..`)")]
    LayerPath { path: String },

    /// A file name that is not UTF-8 cannot be written into a layer.
    #[error("{} is not valid UTF-8; rename it to ship it in an image", path.display())]
    NotUtf8Path { path: PathBuf },

    /// Writing a layer's tar stream failed.
    #[error("writing a layer tar: {message}")]
    LayerWrite { message: String },

    /// A multi-platform image without the platform asked for.
    #[error("{reference} has no image for {platform} (it has: {})", have.join(", "))]
    NoPlatform {
        reference: String,
        platform: String,
        have: Vec<String>,
    },

    /// A manifest media type the registry client cannot send.
    #[error("odd manifest media type {media_type:?}")]
    MediaType { media_type: String },

    /// A blob needed for a push is neither cached nor available upstream.
    #[error(
        "blob {digest} is not in the local cache ({}) and has no known source; build the image again",
        cache.display()
    )]
    BlobNotCached { digest: String, cache: PathBuf },

    /// A base pinned to an index digest instead of an image manifest.
    #[error("{base}@{digest} is an index, not an image; pin the platform's manifest instead")]
    BaseIsIndex { base: String, digest: String },

    /// JSON (a manifest, an index, an image config) that does not parse as expected.
    #[error("{what}: {expected}: {message}")]
    Malformed {
        what: String,
        expected: &'static str,
        message: String,
    },

    /// A base layer that cannot be read while inspecting the base.
    #[error("reading layer {layer} of {base}: {message}")]
    BaseLayer {
        layer: String,
        base: String,
        message: String,
    },

    /// An OCI layout entry that is an index (prisn handles single-platform images).
    #[error("{name} is an image index; prisn handles single-platform images only")]
    LayoutIsIndex { name: String },

    /// A directory without an `oci-layout` file.
    #[error("{} is not an OCI image layout (no oci-layout file)", dir.display())]
    NotALayout { dir: PathBuf },

    /// No image, or not exactly one, matches in a layout.
    #[error("{}", layout_pick(dir, wanted.as_deref(), names))]
    LayoutPick {
        dir: PathBuf,
        wanted: Option<String>,
        names: Vec<String>,
    },

    /// `--output DIR` names a directory that holds something else.
    #[error("{} exists and is not an OCI image layout; give an empty or new directory", dir.display())]
    LayoutTarget { dir: PathBuf },

    /// A blob to write into a layout is not in the blob store.
    #[error("blob {digest} is not in {}; cannot write the layout", from.display())]
    LayoutBlobMissing { digest: String, from: PathBuf },

    /// A digest that is not `sha256:` and 64 lowercase hex digits.
    #[error("not a sha256 digest: {digest:?} (want sha256: and 64 lowercase hex digits)")]
    BadDigest { digest: String },

    /// A bundle file that is not what `prisn export` writes.
    #[error("{}: {message}", bundle.display())]
    Bundle { bundle: PathBuf, message: String },

    /// `prisn push SOURCE`: neither a layout directory nor a bundle file.
    #[error("{path} is neither an OCI layout directory nor a bundle file")]
    NotASource { path: String },

    /// An image in a bundle without an `org.opencontainers.image.ref.name`.
    #[error("image {digest} in the bundle has no name (org.opencontainers.image.ref.name)")]
    BundleUnnamed { digest: String },

    /// A Docker schema 1 manifest.
    #[error(
        "{what}: Docker schema 1 manifests are not supported; push the image again with a current tool"
    )]
    SchemaV1 { what: String },

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

    /// `prisn rebase` refuses: not a prisn image, or a base the image cannot move to.
    #[error("cannot rebase {image}: {message}")]
    Rebase {
        image: String,
        message: String,
        hint: String,
    },

    /// Work moved off the async executor (packing, uv) panicked or was cancelled: a bug.
    #[error("{what} did not finish: {message}")]
    Task { what: &'static str, message: String },

    /// A Debian archive (mirror, InRelease, Packages index, .deb) or base.lock failed a check.
    #[error("{what}: {message}")]
    Archive {
        what: String,
        message: String,
        hint: Option<String>,
    },

    /// `--offline` was given and something needed is not in the local caches.
    #[error("offline build: {message}")]
    Offline { message: String, hint: String },
}

impl Error {
    /// [`Error::Tool`]: `message` says which tool failed and how, `hint` how to get it.
    pub fn tool(message: String, hint: Option<String>) -> Error {
        Error::Tool { message, hint }
    }

    /// [`Error::LockState`]: what is wrong with prisn.lock, and the command that fixes it.
    pub fn lock_state(message: String, hint: String) -> Error {
        Error::LockState { message, hint }
    }

    /// [`Error::Offline`]: what would need the network, and how to fill the caches.
    pub fn offline(message: String, hint: String) -> Error {
        Error::Offline { message, hint }
    }

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
            Error::Tool { hint, .. } => hint.clone(),
            Error::Resolve { .. } => Some("fix the requirement named above, then run `prisn lock` again".into()),
            Error::Install { .. } => Some("nothing was written to the store; run the command again (add -v to see the installer's output)".into()),
            Error::LockCorrupt { .. } => Some("run `prisn lock SCRIPT`: it moves the broken file aside to prisn.lock.broken and writes a fresh one".into()),
            Error::LockState { hint, .. } => Some(hint.clone()),
            Error::DigestMismatch { .. } => Some("the content was changed after it was written; get a fresh copy (re-export the bundle, or delete the cached blob under $PRISN_HOME/cache/blobs)".into()),
            Error::Reference { .. } => Some("write it as REGISTRY/REPOSITORY[:TAG][@sha256:DIGEST], e.g. 127.0.0.1:5000/team/app:v1".into()),
            Error::Registry { hint, .. } => hint.clone(),
            Error::Unauthorized { registry, .. } => Some(format!("run `prisn login {registry}` (or `docker login {registry}`), then try again")),
            Error::Base { hint, .. } => Some(hint.clone()),
            Error::Rebase { hint, .. } => Some(hint.clone()),
            Error::Offline { hint, .. } => Some(hint.clone()),
            Error::Archive { hint, .. } => hint.clone(),
            Error::CollectedMeanwhile { .. } => Some("run the command again: it rebuilds the entry".into()),
            Error::ResolverOutput { tool, .. } => Some(format!("check that {tool} is a supported version (`prisn run -v` prints the tool's output)")),
            Error::Walk { .. } => Some("check the directory's permissions and its .prisnignore patterns".into()),
            Error::Io { .. }
            | Error::Task { .. }
            | Error::AuthFile { .. }
            | Error::LayerPath { .. }
            | Error::NotUtf8Path { .. }
            | Error::LayerWrite { .. }
            | Error::NoPlatform { .. }
            | Error::MediaType { .. }
            | Error::BlobNotCached { .. }
            | Error::BaseIsIndex { .. }
            | Error::Malformed { .. }
            | Error::BaseLayer { .. }
            | Error::LayoutIsIndex { .. }
            | Error::NotALayout { .. }
            | Error::LayoutPick { .. }
            | Error::LayoutTarget { .. }
            | Error::LayoutBlobMissing { .. }
            | Error::BadDigest { .. }
            | Error::Bundle { .. }
            | Error::NotASource { .. }
            | Error::BundleUnnamed { .. }
            | Error::SchemaV1 { .. } => None,
        }
    }
}

/// The message of [`Error::LayoutPick`]: which image was asked for and what the layout has.
fn layout_pick(dir: &std::path::Path, wanted: Option<&str>, names: &[String]) -> String {
    let dir = dir.display();
    match (wanted, names.len()) {
        (Some(n), _) => format!(
            "{dir} has no image named {n:?} (it has: {})",
            names.join(", ")
        ),
        (None, 0) => format!("{dir} holds no image"),
        (None, count) => format!(
            "{dir} holds {count} images ({}); say which one with DIR:NAME",
            names.join(", ")
        ),
    }
}

impl prisn_api::Hint for Error {
    fn hint(&self) -> Option<String> {
        Error::hint(self)
    }
}
