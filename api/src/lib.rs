//! # prisn-api
//!
//! prisn's vocabulary and its rules: every domain word is defined once, here, and every other
//! crate (the CLI, `prisn-builder`, `prisn-local`, `prisn-operator`) uses it. Types and pure
//! functions only: no client, no runtime, no IO (kube-core's layer in kube-rs).
//!
//! ## Brief overview
//!
//! - Words: [`Kind`] (app, job, cron job), [`Runtime`] (python3, node, bash), [`Isolation`],
//!   [`Concurrency`], the phases in [`phase`].
//! - Rules, one validator each: [`name`] (DNS-1035 labels), [`quantity`] (Kubernetes
//!   quantities), [`schedule`] (cron; the seconds field is an explicit local-only option).
//! - Kubernetes (feature `crd`, on by default): the custom resources in [`crd`] with their
//!   conditions, the [`labels`], the code ConfigMap key scheme in [`source`], and the install
//!   YAML in [`manifests`].
//! - Local mode: the daemon's wire types in [`daemon`].
//! - [`Hint`]: the trait every crate's errors implement to say what to do next.
//!
//! `prisn-builder` and `prisn-local` depend on this crate without the `crd` feature, so they
//! do not link kube or k8s-openapi.

pub mod daemon;
pub mod hint;
pub mod invalid;
pub mod kind;
pub mod labels;
pub mod name;
pub mod phase;
pub mod quantity;
pub mod remote;
pub mod runtime;
pub mod schedule;
pub mod source;
pub mod workload;

#[cfg(feature = "crd")]
pub mod crd;
#[cfg(feature = "crd")]
pub mod manifests;

pub use hint::Hint;
pub use invalid::Invalid;
pub use kind::Kind;
pub use runtime::Runtime;
pub use workload::{Concurrency, Isolation, Network};
