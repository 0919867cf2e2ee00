//! # prisn-operator
//!
//! The `PrisnApp`, `PrisnJob` and `PrisnCronJob` custom resources (group `prisn.io`, version
//! `v1alpha1`) and the controllers that reconcile them into Kubernetes objects.
//!
//! ## Brief overview
//!
//! ```text
//! PrisnApp     ─reconcile::app→     Deployment + Service? + Ingress? + PVCs + ConfigMap(inline)?
//! PrisnJob     ─reconcile::job→     batch Job
//! PrisnCronJob ─reconcile::cronjob→ batch CronJob (Kubernetes schedules it)
//! ```
//!
//! - [`crd`]: the resource types (used by the `prisn` CLI too).
//! - [`source`]: the ConfigMap key scheme for multi-file code ([`source::configmap_key`]).
//! - [`labels`]: label and annotation conventions (`prisn.io/app=<name>` on every pod).
//! - [`children`] (pure): resource + resolved source → child objects.
//! - [`status`] (pure): observed children → `.status` and conditions.
//! - [`reconcile`]: resolve the source, apply the children, write the status.
//! - [`controller`]: the kube-runtime controllers, metrics and leader election.
//! - [`manifests`]: CRD and operator-deployment YAML ([`manifests::render`]).

pub mod children;
pub mod config;
pub mod controller;
pub mod crd;
pub mod error;
pub mod labels;
pub mod leader;
pub mod manifests;
pub mod metrics;
pub mod reconcile;
pub mod source;
pub mod status;

pub use config::OperatorConfig;
pub use crd::{
    PrisnApp, PrisnAppSpec, PrisnAppStatus, PrisnCronJob, PrisnCronJobSpec, PrisnCronJobStatus,
    PrisnJob, PrisnJobSpec, PrisnJobStatus, Runtime, Source,
};
pub use error::{Error, Problem};
