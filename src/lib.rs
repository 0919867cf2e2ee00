//! # prisn (library)
//!
//! Everything the `prisn` command does, without the command line: the `prisn` binary
//! (`src/main.rs`, `cli/`, `commands/`, `printer.rs`, `reporter.rs`) parses flags into the
//! typed requests below, calls this library and prints what comes back. Nothing here knows
//! clap or writes to stdout/stderr; progress goes to a [`prisn_builder::Reporter`].
//!
//! ```text
//! flags ─cli→ typed request ─settings (context, registry, CA, base; once)→
//!   build:  script ─prepare→ lock + env ─image::plan→ ImageOptions ─image::build→ repo@sha256
//!   deploy: request::check (mode's grammar) → backend::for_context → Backend::deploy
//!           local: env → daemon;  kube: image plan → objects → apply → wait
//! ```
//!
//! - [`settings`]: `$PRISN_HOME`, config.toml and the context in effect, resolved once.
//! - [`image`]: the one image plan, used by `build --image` and `deploy`.
//! - [`request`]: typed requests and their checks (name, schedule per mode, quantities).
//! - [`backend`]: the [`backend::Backend`] trait and its modes (`local`, `kube`; `remote` next).
//! - [`deploy`]: Kubernetes objects (pure), server-side apply and the wait.
//! - [`context`]: contexts in config.toml.
//! - [`transfer`]: push a layout or bundle, export and import bundles.
//! - [`verify`]: rebuild an image and compare its digest (`prisn verify`).
//! - [`hint`]: the `hint:` of an error chain.
//! - [`operator`]: `prisn operator install` (apply the manifests, wait until Ready).
//! - [`version`]: version, git revision and recorded operator image of this build.

// The library reports; only the binary prints.
#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod backend;
pub mod context;
pub mod deploy;
pub mod hint;
pub mod image;
pub mod operator;
pub mod optimise;
pub mod request;
pub mod settings;
pub mod transfer;
pub mod verify;
pub mod version;
