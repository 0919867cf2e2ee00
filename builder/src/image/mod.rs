//! Script + lock → a byte-reproducible OCI image, pushed or written to disk.
//!
//! ```text
//! base@digest ─base::resolve→ Base (manifest + config cached) ─base::inspect→ BaseInfo
//! lock + BaseInfo ─deps_layer::build→ Layer   (cached by lock section, base digest, platform)
//! script files ─code_layer::spec→ LayerSpec ─pack→ Layer
//! Base + layers ─assemble→ Image (config + manifest, canonical JSON)
//! Image ─publish::push→ repo@sha256:…      Image ─layout::write→ DIR (OCI image layout)
//! refs ─bundle::export→ bundle.tar ─bundle::unpack→ Layout ─bundle::import→ registry
//! image + new base ─rebase::rebase→ the same layers on the new base (nothing rebuilt)
//! ```
//!
//! Every step is deterministic: the same script, lock and base digest give the same manifest
//! digest on any machine, any day (mtime = SOURCE_DATE_EPOCH or 0, sorted entries, fixed modes,
//! canonical JSON, gzip with mtime 0 from the pure-Rust deflate in fixed-size blocks).
//! [`build::build_image`] runs the whole pipeline.

pub mod assemble;
pub mod auth;
pub mod base;
pub mod blobs;
pub(crate) mod blocking;
pub mod build;
pub mod bundle;
pub mod bytecode;
pub mod code_layer;
pub mod deps_layer;
pub mod gzip;
pub mod layer;
pub mod layout;
pub mod manifest;
pub mod operator;
pub mod publish;
pub mod rebase;
pub mod reference;
pub mod referrers;
pub mod registry;
mod registry_errors;

/// Where Python packages live in the image (on PYTHONPATH): the dependency layer's directory,
/// and the one path the bytecode sandbox can write.
pub const SITE_PACKAGES: &str = "/opt/prisn/site-packages";

pub use blobs::BlobStore;
pub use build::{BuiltImage, ImageOptions, Staged, build_image, stage_image};
pub use deps_layer::Bytecode;
pub use layer::{Layer, LayerSpec};
pub use publish::{Pushed, push};
pub use reference::Reference;
pub use registry::{Registries, RegistryOptions};
