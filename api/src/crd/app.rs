//! `PrisnApp`: a long-running script, reconciled into a Deployment (+ Service, Ingress, PVCs).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{EnvFromSource, EnvVar, LocalObjectReference, Toleration};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{DNS_SUBDOMAIN_PATTERN, QUANTITY_PATTERN, Resources, Runtime, Source};

/// A long-running script or image: a Deployment, plus a Service when `port` is set, an Ingress
/// when `ingress` is set and a PersistentVolumeClaim per `storage` entry.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "prisn.io",
    version = "v1alpha1",
    kind = "PrisnApp",
    plural = "prisnapps",
    singular = "prisnapp",
    shortname = "pa",
    category = "prisn",
    namespaced,
    status = "PrisnAppStatus",
    derive = "PartialEq",
    derive = "Default",
    doc = "A script or image run as a long-lived app (Deployment, Service, Ingress, PVCs).",
    scale(
        spec_replicas_path = ".spec.replicas",
        status_replicas_path = ".status.replicas",
        label_selector_path = ".status.selector"
    ),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(name = "Ready", type_ = "integer", json_path = ".status.readyReplicas"),
    printcolumn(name = "Desired", type_ = "integer", json_path = ".spec.replicas"),
    printcolumn(name = "Image", type_ = "string", json_path = ".status.image", priority = 1),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    validation = kube::core::Rule::new("size(self.metadata.name) <= 63 && self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$')").message("metadata.name: a PrisnApp name must be a DNS-1035 label of at most 63 characters (it names the Service)")
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "has(self.source.image) || has(self.runtime)", "message": "runtime is required for code sources (configMapRef, secretRef, inline, git)", "fieldPath": ".runtime"},
    {"rule": "!has(self.ingress) || has(self.port)", "message": "ingress needs port", "fieldPath": ".ingress"},
    {"rule": "!has(self.healthCheck) || has(self.port)", "message": "healthCheck needs port", "fieldPath": ".healthCheck"}
]))]
pub struct PrisnAppSpec {
    /// Where the code comes from.
    pub source: Source,
    /// Interpreter for code sources; required unless `source.image` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<Runtime>,
    /// Port the app listens on; creates a Service `<name>` and a TCP startup probe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: Option<i32>,
    /// Number of pods (default 1; 0 scales to zero). Also set by `kubectl scale` and HPAs.
    // The API server fills in the default: the scale subresource needs `.spec.replicas` to exist.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 10000), extend("default" = 1))]
    pub replicas: Option<i32>,
    /// Arguments passed after the entrypoint.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// Environment variables (the core EnvVar, `valueFrom` included).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<EnvVar>,
    /// Environment from ConfigMaps and Secrets.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env_from: Vec<EnvFromSource>,
    /// CPU and memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
    /// Persistent volumes; each gets a PVC `<name>-<storage.name>` that is kept when the app is
    /// deleted unless `reclaimPolicy: Delete`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    pub storage: Vec<Storage>,
    /// Expose the app through an Ingress `<name>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress: Option<AppIngress>,
    /// HTTP health check (readiness and liveness; startup checks it every second).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheck>,
    /// ServiceAccount the pods run as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253), regex(pattern = DNS_SUBDOMAIN_PATTERN))]
    pub service_account_name: Option<String>,
    /// Secrets used to pull the image.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub image_pull_secrets: Vec<LocalObjectReference>,
    /// Node labels the pods must match.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,
    /// Tolerations of the pods.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tolerations: Vec<Toleration>,
    /// Stop all pods (the Deployment is scaled to 0) while keeping `replicas`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suspend: bool,
}

/// A persistent volume mounted into the app's pods.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "has(self.size) || has(self.existingClaim)", "message": "storage: set size (a new claim) or existingClaim"}
]))]
pub struct Storage {
    /// Short name; the claim is `<app>-<name>`.
    #[schemars(
        length(min = 1, max = 63),
        regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    )]
    pub name: String,
    /// Absolute mount path in the container.
    #[schemars(length(min = 2, max = 1024), regex(pattern = r"^/[^:]*$"))]
    pub mount_path: String,
    /// Size of a new claim, e.g. `1Gi`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = QUANTITY_PATTERN))]
    pub size: Option<String>,
    /// StorageClass of a new claim (default: the cluster's default class).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class_name: Option<String>,
    /// Access mode of a new claim (default ReadWriteOnce; apps with more than one replica need
    /// ReadWriteMany).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_mode: Option<StorageAccessMode>,
    /// Mount this existing claim instead of creating one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253), regex(pattern = DNS_SUBDOMAIN_PATTERN))]
    pub existing_claim: Option<String>,
    /// `Retain` (default) keeps the claim when the app is deleted; `Delete` removes it with the app.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reclaim_policy: Option<StorageReclaimPolicy>,
}

/// Access mode of a storage claim.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum StorageAccessMode {
    #[default]
    ReadWriteOnce,
    ReadOnlyMany,
    ReadWriteMany,
    ReadWriteOncePod,
}

impl StorageAccessMode {
    pub fn as_str(self) -> &'static str {
        match self {
            StorageAccessMode::ReadWriteOnce => "ReadWriteOnce",
            StorageAccessMode::ReadOnlyMany => "ReadOnlyMany",
            StorageAccessMode::ReadWriteMany => "ReadWriteMany",
            StorageAccessMode::ReadWriteOncePod => "ReadWriteOncePod",
        }
    }

    /// Whether only one node (or pod) may mount a claim of this mode read-write.
    pub fn single_writer(self) -> bool {
        matches!(
            self,
            StorageAccessMode::ReadWriteOnce | StorageAccessMode::ReadWriteOncePod
        )
    }
}

/// What happens to a storage claim when its app is deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum StorageReclaimPolicy {
    /// Keep the claim (and its data); no owner reference is set on it.
    #[default]
    Retain,
    /// Delete the claim with the app (owner reference, garbage-collected).
    Delete,
}

/// Ingress for the app's Service.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppIngress {
    /// Host name, e.g. `app.example.com`.
    #[schemars(
        length(min = 1, max = 253),
        regex(
            pattern = r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
        )
    )]
    pub host: String,
    /// Path prefix (default `/`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^/.*$"))]
    pub path: Option<String>,
    /// IngressClass (default: the cluster's default class).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class_name: Option<String>,
    /// Serve TLS for `host` with Secret `tlsSecretName` (default `<name>-tls`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tls: bool,
    /// Secret holding the certificate when `tls` is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253), regex(pattern = DNS_SUBDOMAIN_PATTERN))]
    pub tls_secret_name: Option<String>,
    /// Annotations for the Ingress (e.g. for cert-manager or the ingress controller).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// HTTP health check on the app's `port`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HealthCheck {
    /// HTTP path, e.g. `/healthz`.
    #[schemars(length(min = 1, max = 1024), regex(pattern = r"^/.*$"))]
    pub path: String,
    /// Seconds between readiness/liveness checks (default 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 3600))]
    pub period_seconds: Option<i32>,
    /// Consecutive failures before the pod is marked unready / restarted (default 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100))]
    pub failure_threshold: Option<i32>,
}

/// Observed state of a PrisnApp.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PrisnAppStatus {
    /// The `.metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Pods of the Deployment (the scale subresource's status replicas).
    #[serde(default)]
    pub replicas: i32,
    /// Ready pods.
    #[serde(default)]
    pub ready_replicas: i32,
    /// Label selector of the pods, for the scale subresource (`kubectl scale`, HPA).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,
    /// The image the pods run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Pending, Progressing, Running, ScaledToZero, Suspended or Degraded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// Ready, Progressing, Degraded and SourceReady.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// Human-readable summary, e.g. the reason the app is Degraded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}
