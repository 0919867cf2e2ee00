//! `PrisnCronJob`: a PrisnJob on a schedule, reconciled into a batch CronJob (Kubernetes does
//! the scheduling; the operator only translates).

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::job::PrisnJobSpec;

/// Pattern of a schedule: 5 cron fields or one of the `@` macros Kubernetes accepts. croner
/// checks the fields themselves at reconcile time; the API server checks them again on the
/// CronJob.
pub const SCHEDULE_PATTERN: &str = r"^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|[0-9*?/,A-Za-z-]+( +[0-9*?/,A-Za-z-]+){4})$";

/// A PrisnJob run on a schedule: a batch CronJob `<name>`.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "prisn.io",
    version = "v1alpha1",
    kind = "PrisnCronJob",
    plural = "prisncronjobs",
    singular = "prisncronjob",
    shortname = "pcj",
    category = "prisn",
    namespaced,
    status = "PrisnCronJobStatus",
    derive = "PartialEq",
    derive = "Default",
    doc = "A script or image run on a schedule (a batch CronJob).",
    printcolumn(name = "Schedule", type_ = "string", json_path = ".spec.schedule"),
    printcolumn(name = "Suspend", type_ = "boolean", json_path = ".spec.suspend"),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(name = "Last Schedule", type_ = "date", json_path = ".status.lastScheduleTime"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    // A CronJob's name is limited to 52 characters: the Jobs it makes append 11.
    validation = kube::core::Rule::new("size(self.metadata.name) <= 52 && self.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')").message("metadata.name: a PrisnCronJob name must be a DNS label of at most 52 characters (CronJobs append 11 for their Jobs)")
)]
#[serde(rename_all = "camelCase")]
pub struct PrisnCronJobSpec {
    /// 5-field cron expression (`*/5 * * * *`) or `@hourly`, `@daily`, `@weekly`, `@monthly`,
    /// `@yearly`.
    #[schemars(length(min = 1, max = 256), regex(pattern = SCHEDULE_PATTERN))]
    pub schedule: String,
    /// IANA time zone of the schedule, e.g. `Europe/Berlin` (default: the controller-manager's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 1, max = 64),
        regex(pattern = r"^[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*$")
    )]
    pub time_zone: Option<String>,
    /// The job to run.
    pub job_template: PrisnJobSpec,
    /// What to do when a run is due while the previous one still runs (default Forbid).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency_policy: Option<ConcurrencyPolicy>,
    /// Stop scheduling new runs.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suspend: bool,
    /// Finished successful Jobs to keep (default 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 100))]
    pub successful_jobs_history_limit: Option<i32>,
    /// Finished failed Jobs to keep (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 100))]
    pub failed_jobs_history_limit: Option<i32>,
    /// A run missed by more than this many seconds is skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub starting_deadline_seconds: Option<i64>,
}

/// The CronJob concurrency policy (one definition, in [`crate::workload`]).
pub use crate::workload::Concurrency as ConcurrencyPolicy;

/// Observed state of a PrisnCronJob.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PrisnCronJobStatus {
    /// The `.metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Scheduled, Suspended or Degraded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// When a Job was last started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_schedule_time: Option<Time>,
    /// When a Job last succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_successful_time: Option<Time>,
    /// Jobs running now.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub active: Vec<ObjectReference>,
    /// The image the pods run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Ready, Degraded and SourceReady.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// Human-readable summary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}
