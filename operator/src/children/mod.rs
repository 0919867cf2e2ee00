//! Pure builders: a custom resource (+ its resolved source) → the Kubernetes objects that run it.
//!
//! Nothing here talks to the API server, so every child can be unit-tested. The reconcilers in
//! [`crate::reconcile`] resolve the source, call these builders, and apply the results.

pub mod app;
pub mod cronjob;
pub mod job;
pub mod pod;
pub mod pvc;
pub mod source;
pub mod validate;

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

use crate::labels::{self, Kind};
pub use app::{AppChildren, app_children};
pub use source::{Code, ResolvedSource, resolve};

/// Metadata of a child: name, namespace, the standard labels and a controller owner reference.
pub fn child_meta(
    name: &str,
    namespace: &str,
    owner_name: &str,
    kind: Kind,
    owner: Option<&OwnerReference>,
) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_string()),
        namespace: Some(namespace.to_string()),
        labels: Some(labels::child_labels(owner_name, kind)),
        owner_references: owner.map(|o| vec![o.clone()]),
        ..Default::default()
    }
}

/// The ConfigMap holding an `inline` source's text, if the source is inline.
pub fn inline_config_map(
    namespace: &str,
    owner_name: &str,
    kind: Kind,
    owner: &OwnerReference,
    src: &ResolvedSource,
) -> Option<ConfigMap> {
    let Code::Inline {
        config_map,
        key,
        text,
    } = &src.code
    else {
        return None;
    };
    Some(ConfigMap {
        metadata: child_meta(config_map, namespace, owner_name, kind, Some(owner)),
        data: Some(BTreeMap::from([(key.clone(), text.clone())])),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests;
