//! `prisn operator install`: apply the CRDs and the operator's objects (the very YAML
//! `prisn operator manifests` prints, in one namespace) by server-side apply, then wait until
//! the operator's Deployment has rolled out and is Ready — what `kubectl apply -f` followed by
//! `kubectl rollout status` does, with the image pinned by digest.
//!
//! Also the version check: the operator's Deployment carries the prisn version whose
//! manifests installed it ([`prisn_api::manifests::VERSION_ANNOTATION`]); a CLI newer than
//! that warns, because the resources it writes follow its own, newer CRDs.

use std::time::Duration;

use anyhow::{Context as _, bail};
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::runtime::wait::{Condition, await_condition};
use prisn_api::manifests::{self, DEPLOYMENT_NAME};
use prisn_builder::{Event, Reporter};

use crate::deploy::apply::FIELD_MANAGER;

/// What an install did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Installed {
    pub image: String,
    pub namespace: String,
    /// `Kind/name` of every object applied, in order.
    pub applied: Vec<String>,
}

/// Every object of the install for operator `image` in `namespace`: CRDs first.
///
/// # Errors
/// Only if the generated YAML does not parse back (a bug).
pub fn objects(image: &str, namespace: &str) -> anyhow::Result<Vec<DynamicObject>> {
    let yaml = format!(
        "{}---\n{}",
        manifests::crds_yaml()?,
        manifests::manager_yaml_in(image, namespace, true)?
    );
    serde_saphyr::from_multiple::<DynamicObject>(&yaml)
        .context("the generated install YAML does not parse back (a bug)")
}

fn api_for(client: &kube::Client, obj: &DynamicObject) -> anyhow::Result<Api<DynamicObject>> {
    let types = obj
        .types
        .as_ref()
        .context("an install object without apiVersion/kind (a bug)")?;
    let gvk = GroupVersionKind::try_from(types)?;
    let ar = ApiResource::from_gvk(&gvk);
    Ok(match obj.metadata.namespace.as_deref() {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
        None => Api::all_with(client.clone(), &ar),
    })
}

/// Apply everything, then wait (at most `timeout`) until the operator is Ready.
///
/// # Errors
/// RBAC refusals (installing needs cluster-admin rights: CRDs and ClusterRoles), an
/// operator that does not become Ready in time (with what its Deployment says).
pub async fn install(
    client: &kube::Client,
    image: &str,
    namespace: &str,
    timeout: Duration,
    reporter: &dyn Reporter,
) -> anyhow::Result<Installed> {
    let pp = PatchParams::apply(FIELD_MANAGER).force();
    let mut applied = Vec::new();
    for obj in objects(image, namespace)? {
        let kind = obj
            .types
            .as_ref()
            .map_or("", |t| t.kind.as_str())
            .to_string();
        let name = obj.metadata.name.clone().unwrap_or_default();
        api_for(client, &obj)?
            .patch(&name, &pp, &Patch::Apply(&obj))
            .await
            .with_context(|| {
                format!("cannot apply {kind} {name} (installing needs cluster-admin rights)")
            })?;
        applied.push(format!("{kind}/{name}"));
    }
    reporter.report(Event::Note(format!(
        "applied {} objects; waiting for deployment {namespace}/{DEPLOYMENT_NAME} to be Ready",
        applied.len()
    )));
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), namespace);
    let ready = await_condition(deployments.clone(), DEPLOYMENT_NAME, rolled_out());
    match tokio::time::timeout(timeout, ready).await {
        Ok(r) => {
            r.context("watching the operator's Deployment")?;
        }
        Err(_) => {
            let status = deployments
                .get(DEPLOYMENT_NAME)
                .await
                .ok()
                .and_then(|d| d.status)
                .map(|s| format!("{s:?}"))
                .unwrap_or_else(|| "no status".into());
            bail!(
                "the operator in {namespace} is not Ready after {}: {status}; see `kubectl -n {namespace} describe deployment {DEPLOYMENT_NAME}`",
                humantime::format_duration(timeout)
            );
        }
    }
    Ok(Installed {
        image: image.to_string(),
        namespace: namespace.to_string(),
        applied,
    })
}

/// `kubectl rollout status`: the controller saw the latest spec, every replica is updated and
/// available, and no old replica is left.
fn rolled_out() -> impl Condition<Deployment> {
    |d: Option<&Deployment>| {
        let Some(d) = d else { return false };
        let (Some(spec), Some(status)) = (&d.spec, &d.status) else {
            return false;
        };
        let want = spec.replicas.unwrap_or(1);
        status.observed_generation >= d.metadata.generation
            && status.updated_replicas.unwrap_or(0) == want
            && status.available_replicas.unwrap_or(0) == want
            && status.replicas.unwrap_or(0) == want
    }
}

use crate::version::VERSION;

/// A warning when the operator in [`manifests::NAMESPACE`] was installed by an older prisn
/// than this one. `None` when it is as new, or cannot be read (not installed there, or RBAC:
/// a user who may deploy apps need not see prisn-system — the check is advice, not a gate).
pub async fn version_warning(client: &kube::Client) -> Option<String> {
    let api: Api<Deployment> = Api::namespaced(client.clone(), manifests::NAMESPACE);
    let d = api.get_opt(DEPLOYMENT_NAME).await.ok()??;
    let installed = d
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(manifests::VERSION_ANNOTATION))
        .map(String::as_str);
    older(installed, VERSION)
}

/// The warning for operator version `installed` (None: unannotated, from before the
/// annotation existed) and CLI version `cli`.
pub fn older(installed: Option<&str>, cli: &str) -> Option<String> {
    let parse = |v: &str| -> Option<Vec<u64>> {
        v.split(['-', '+'])
            .next()?
            .split('.')
            .map(|n| n.parse().ok())
            .collect()
    };
    let hint = "upgrade it with `prisn operator install` (or apply `prisn operator manifests`)";
    match installed {
        None => Some(format!(
            "the prisn operator in {} has no {} annotation: it predates this prisn ({cli}) and may ignore fields of the CRDs this prisn writes; {hint}",
            manifests::NAMESPACE,
            manifests::VERSION_ANNOTATION
        )),
        Some(v) => match (parse(v), parse(cli)) {
            (Some(a), Some(b)) if a >= b => None,
            (Some(_), Some(_)) => Some(format!(
                "the prisn operator in {} is version {v}, older than this prisn ({cli}): it may ignore fields of the CRDs this prisn writes; {hint}",
                manifests::NAMESPACE
            )),
            _ => Some(format!(
                "the prisn operator in {} has version {v:?}, which is not MAJOR.MINOR.PATCH; this prisn is {cli}",
                manifests::NAMESPACE
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_older_or_unversioned_operator_is_warned_about_and_a_newer_one_not() {
        assert_eq!(older(Some("0.1.0"), "0.1.0"), None);
        assert_eq!(older(Some("0.2.0"), "0.1.9"), None);
        assert_eq!(
            older(Some("0.10.0"), "0.9.0"),
            None,
            "numeric, not text, order"
        );
        let w = older(Some("0.1.0"), "0.2.0").unwrap();
        assert!(
            w.contains("0.1.0") && w.contains("0.2.0") && w.contains("prisn operator install"),
            "{w}"
        );
        assert!(older(None, "0.1.0").unwrap().contains("prisn.io/version"));
        assert!(
            older(Some("latest"), "0.1.0")
                .unwrap()
                .contains("\"latest\"")
        );
    }

    #[test]
    fn the_install_objects_are_the_manifests_in_the_namespace_crds_first() {
        let objs = objects("r.example/prisn-operator@sha256:00", "ops").unwrap();
        let kinds: Vec<_> = objs
            .iter()
            .map(|o| o.types.as_ref().unwrap().kind.clone())
            .collect();
        assert_eq!(&kinds[..3], ["CustomResourceDefinition"; 3]);
        assert!(kinds.contains(&"Deployment".to_string()));
        for o in &objs[3..] {
            let kind = &o.types.as_ref().unwrap().kind;
            match kind.as_str() {
                "Namespace" => assert_eq!(o.metadata.name.as_deref(), Some("ops")),
                "ClusterRole" | "ClusterRoleBinding" => assert!(o.metadata.namespace.is_none()),
                _ => assert_eq!(o.metadata.namespace.as_deref(), Some("ops"), "{kind}"),
            }
        }
        let deployment = objs
            .iter()
            .find(|o| o.types.as_ref().unwrap().kind == "Deployment");
        let text = serde_json::to_string(deployment.unwrap()).unwrap();
        assert!(
            text.contains("r.example/prisn-operator@sha256:00"),
            "{text}"
        );
    }
}
