//! `prisn operator install`: apply the CRDs and the operator's objects (the very YAML
//! `prisn operator manifests` prints, in one namespace) by server-side apply, then wait until
//! the operator's Deployment has rolled out and is Ready — what `kubectl apply -f` followed by
//! `kubectl rollout status` does, with the image pinned by digest.

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

#[cfg(test)]
mod tests {
    use super::*;

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
