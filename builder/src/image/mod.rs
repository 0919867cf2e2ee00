//! Script + lock → a byte-reproducible OCI image, pushed or written to disk.
//!
//! ```text
//! base@digest ─base::resolve→ BaseImage (manifest, config, python, libc, platform)
//! lock + base ─deps_layer→ Layer   (cached by lock section, base digest, platform)
//! script files ─code_layer→ Layer
//! BaseImage + layers ─config::assemble→ Image (config + manifest bytes, canonical JSON)
//! Image ─publish::push→ repo@sha256:…      Image ─layout::write→ DIR (OCI image layout)
//! ```
//!
//! Every step is deterministic: the same script, lock and base digest give the same manifest
//! digest on any machine, any day (mtime = SOURCE_DATE_EPOCH or 0, sorted entries, fixed modes,
//! canonical JSON, gzip with mtime 0 from the pure-Rust deflate).

pub mod auth;
pub mod base;
pub mod blobs;
pub mod gzip;
pub mod layer;
pub mod manifest;
pub mod reference;
pub mod registry;

pub use blobs::BlobStore;
pub use layer::{Layer, LayerSpec};
pub use reference::Reference;
