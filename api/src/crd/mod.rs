//! The custom resources of group `prisn.io`, version `v1alpha1`, typed in Rust.
//!
//! The CRD YAML in `operator/config/crd/bases/` is generated from these types by the operator's
//! `crdgen` binary (see [`crate::manifests`]); a test in `prisn-operator` fails when the
//! committed files differ.
//!
//! What the API server can check is put in the schema (enums, ranges, patterns, CEL
//! `x-kubernetes-validations`), so a bad object is refused at `kubectl apply` time with a message
//! naming the field. What it cannot check (an image without a digest when the operator requires
//! one, a missing ConfigMap, a cron expression croner rejects) is reported in `.status`.

pub mod app;
pub mod common;
pub mod conditions;
pub mod cronjob;
pub mod job;

pub use app::{
    AppIngress, HealthCheck, PrisnApp, PrisnAppSpec, PrisnAppStatus, Storage, StorageAccessMode,
    StorageReclaimPolicy,
};
pub use common::{GitSource, NameRef, ResourceRequests, Resources, Runtime, Source, SourceKind};
pub use conditions::{ConditionStatus, ConditionType};
pub use cronjob::{ConcurrencyPolicy, PrisnCronJob, PrisnCronJobSpec, PrisnCronJobStatus};
pub use job::{PrisnJob, PrisnJobSpec, PrisnJobStatus};

/// The API group of every prisn resource.
pub const GROUP: &str = "prisn.io";
/// The API version served and stored.
pub const VERSION: &str = "v1alpha1";
/// `apiVersion` as written in manifests.
pub const API_VERSION: &str = "prisn.io/v1alpha1";
