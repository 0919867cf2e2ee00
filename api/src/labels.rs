//! Label and annotation conventions shared by the operator and the `prisn` CLI.
//!
//! Every child object and every pod carries:
//! - `app.kubernetes.io/managed-by: prisn`
//! - `app.kubernetes.io/name: <resource name>` and `app.kubernetes.io/instance: <resource name>`
//! - `prisn.io/app: <resource name>` (also on Job and CronJob pods, so `prisn logs <name>` can
//!   select pods with `prisn.io/app=<name>`)
//! - `prisn.io/kind: app | job | cronjob`
//!
//! Pods also carry the resource's own `metadata.labels` (ours win on a clash).

use std::collections::BTreeMap;

/// `app.kubernetes.io/managed-by`.
pub const MANAGED_BY_KEY: &str = "app.kubernetes.io/managed-by";
/// The value of `app.kubernetes.io/managed-by` on everything prisn makes.
pub const MANAGED_BY: &str = "prisn";
/// `app.kubernetes.io/name`.
pub const NAME_KEY: &str = "app.kubernetes.io/name";
/// `app.kubernetes.io/instance`.
pub const INSTANCE_KEY: &str = "app.kubernetes.io/instance";
/// `prisn.io/app: <name>` on children and pods of every kind.
pub const APP_KEY: &str = "prisn.io/app";
/// `prisn.io/kind: app | job | cronjob`.
pub const KIND_KEY: &str = "prisn.io/kind";
/// `prisn.io/revision: <n>` on a release record (ConfigMap `<name>-rev-<n>`, Kubernetes mode).
pub const REVISION_KEY: &str = "prisn.io/revision";
/// Pod-template annotation: hash of what the pods run (image, code data, git coordinates).
/// A new value rolls the Deployment.
pub const CODE_HASH_ANNOTATION: &str = "prisn.io/code-hash";
/// Annotation on a Job: hash of the PrisnJob spec it was made from.
pub const SPEC_HASH_ANNOTATION: &str = "prisn.io/spec-hash";
/// Field manager of the operator's server-side applies.
pub const FIELD_MANAGER: &str = "prisn-operator";
/// Label selector matching everything the operator manages (used to narrow its watches).
pub const MANAGED_SELECTOR: &str = "app.kubernetes.io/managed-by=prisn";

/// Which prisn kind a child belongs to (value of [`KIND_KEY`]): the one [`Kind`].
pub use crate::Kind;

/// The labels every child object of `name` carries.
pub fn child_labels(name: &str, kind: Kind) -> BTreeMap<String, String> {
    BTreeMap::from([
        (MANAGED_BY_KEY.to_string(), MANAGED_BY.to_string()),
        (NAME_KEY.to_string(), name.to_string()),
        (INSTANCE_KEY.to_string(), name.to_string()),
        (APP_KEY.to_string(), name.to_string()),
        (KIND_KEY.to_string(), kind.as_str().to_string()),
    ])
}

/// The immutable selector of an app's Deployment (and its Service).
pub fn selector_labels(name: &str, kind: Kind) -> BTreeMap<String, String> {
    BTreeMap::from([
        (APP_KEY.to_string(), name.to_string()),
        (KIND_KEY.to_string(), kind.as_str().to_string()),
    ])
}

/// [`selector_labels`] as a label-selector string, e.g. `prisn.io/app=web,prisn.io/kind=app`.
pub fn selector_string(name: &str, kind: Kind) -> String {
    selector_labels(name, kind)
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Pod labels: the resource's own labels, overlaid with [`child_labels`].
pub fn pod_labels(
    own: Option<&BTreeMap<String, String>>,
    name: &str,
    kind: Kind,
) -> BTreeMap<String, String> {
    let mut labels = own.cloned().unwrap_or_default();
    labels.extend(child_labels(name, kind));
    labels
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selector_string_is_sorted_and_stable() {
        assert_eq!(
            selector_string("web", Kind::App),
            "prisn.io/app=web,prisn.io/kind=app"
        );
    }

    #[test]
    fn own_labels_cannot_override_ours() {
        let own = BTreeMap::from([
            ("team".to_string(), "a".to_string()),
            (APP_KEY.to_string(), "other".to_string()),
        ]);
        let l = pod_labels(Some(&own), "web", Kind::App);
        assert_eq!(l["team"], "a");
        assert_eq!(l[APP_KEY], "web");
        assert_eq!(l[MANAGED_BY_KEY], "prisn");
    }
}
