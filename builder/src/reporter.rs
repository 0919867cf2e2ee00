//! Libraries report, the CLI renders: the builder emits [`Event`]s and the CLI draws them
//! (progress bars on a TTY, nothing otherwise).

/// Something long-running started, advanced or finished.
#[derive(Debug, Clone)]
pub enum Event {
    /// Dependency resolution of `script` started with `tool`.
    ResolveStart { script: String, tool: String },
    /// Resolution finished with `packages` pinned.
    ResolveDone { script: String, packages: usize },
    /// Installing `packages` packages into a new environment started.
    InstallStart { name: String, packages: usize },
    /// The environment is complete at `path`.
    InstallDone { name: String },
    /// Packing a layer started; `total` is the uncompressed size in bytes when known.
    LayerStart { name: String, total: Option<u64> },
    /// Packing a layer finished.
    LayerDone {
        name: String,
        digest: String,
        size: u64,
    },
    /// Pushing an image to `target` started (after it was built).
    PushStart { target: String },
    /// A blob upload started (`total` bytes).
    UploadStart { digest: String, total: u64 },
    /// `bytes` more bytes of a blob went out.
    UploadProgress { digest: String, bytes: u64 },
    /// A blob is in the registry; `skipped` when it was there already or was mounted.
    UploadDone { digest: String, skipped: bool },
    /// A free-form note worth showing to a person (not an error).
    Note(String),
}

/// Receives progress events. Implementations must be cheap and never fail.
pub trait Reporter: Send + Sync {
    fn report(&self, event: Event);
}

/// Drops every event.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoReporter;

impl Reporter for NoReporter {
    fn report(&self, _event: Event) {}
}
