//! prisn-builder: turns a script into a locked, content-addressed environment and a
//! reproducible OCI image. No Kubernetes, no terminal: progress goes through [`Reporter`].
//!
//! ```text
//! hello.py ─script::read→ Script ─analyze→ Requirements ─lock::resolve→ LockSection ─lock::file→ prisn.lock
//! LockSection + Interpreter ─store::ensure→ Env (in $PRISN_HOME/store)
//! Env / code ─layer::from_dir→ Layer{digest, diff_id}   (deps, then code)
//! base@digest + layers ─image::assemble→ Image ─publish→ repo@sha256:…   (or layout::write)
//! ```
//!
//! Each stage is one module with one input type and one output type. Pure stages (script,
//! analyze, layer, image) touch no network; IO stages (lock::resolve, store, publish) do.

pub mod analyze;
pub mod atomic;
pub mod base;
pub mod cache;
pub mod deb;
pub mod digest;
pub mod env;
pub mod error;
pub mod fslock;
pub mod home;
pub mod image;
pub mod interpreter;
pub mod lock;
pub mod prepare;
pub mod reporter;
pub mod sbom;
pub mod script;
pub mod store;
pub mod timings;

pub use error::{Error, Result};
pub use image::{BuiltImage, ImageOptions, build_image};
pub use reporter::{Event, NoReporter, Reporter};
