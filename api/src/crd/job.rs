//! `PrisnJob`: a script run to completion, reconciled into a batch Job.

use k8s_openapi::api::core::v1::EnvVar;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{DURATION_PATTERN, Resources, Runtime, Source};

/// A script or image run to completion: a batch Job `<name>`.
///
/// The Job is created once per spec and code: when the spec or the code (the referenced
/// ConfigMap's or Secret's data, the inline text, the image) changes, the old Job is deleted and
/// a new one runs. A finished run is never repeated, even after `ttlSecondsAfterFinished`
/// removed its Job.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "prisn.io",
    version = "v1alpha1",
    kind = "PrisnJob",
    plural = "prisnjobs",
    singular = "prisnjob",
    shortname = "pj",
    category = "prisn",
    namespaced,
    status = "PrisnJobStatus",
    derive = "PartialEq",
    derive = "Default",
    doc = "A script or image run to completion (a batch Job).",
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(name = "Succeeded", type_ = "integer", json_path = ".status.succeeded"),
    printcolumn(name = "Failed", type_ = "integer", json_path = ".status.failed"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    validation = kube::core::Rule::new("size(self.metadata.name) <= 63 && self.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')").message("metadata.name: a PrisnJob name must be a DNS label of at most 63 characters")
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "has(self.source.image) || has(self.runtime)", "message": "runtime is required for code sources (configMapRef, secretRef, inline, git)", "fieldPath": ".runtime"}
]))]
pub struct PrisnJobSpec {
    /// Where the code comes from.
    pub source: Source,
    /// Interpreter for code sources; required unless `source.image` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<Runtime>,
    /// Arguments passed after the entrypoint.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// Environment variables (the core EnvVar, `valueFrom` included).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<EnvVar>,
    /// CPU and memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
    /// Longest run time (`90s`, `30m`, `1h`, `1h30m`, `2d`): the Job's `activeDeadlineSeconds`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = DURATION_PATTERN))]
    pub timeout: Option<String>,
    /// Retries before the Job is Failed (Kubernetes' default: 6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 100))]
    pub backoff_limit: Option<i32>,
    /// Seconds after which the finished Job (not this PrisnJob) is deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub ttl_seconds_after_finished: Option<i32>,
}

/// Observed state of a PrisnJob.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PrisnJobStatus {
    /// The `.metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Pending, Running, Succeeded, Failed or Degraded (the PrisnJob itself is invalid).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// When the Job started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Time>,
    /// When the Job finished (succeeded or failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_time: Option<Time>,
    /// Pods that succeeded.
    #[serde(default)]
    pub succeeded: i32,
    /// Pods that failed.
    #[serde(default)]
    pub failed: i32,
    /// Pods running now.
    #[serde(default)]
    pub active: i32,
    /// The image the pods run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Hash of the spec the current Job was made from; a new hash means a new Job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec_hash: Option<String>,
    /// Complete, Failed, Degraded and SourceReady.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// Human-readable summary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}
