//! Pure: PrisnApp → Deployment, Service, Ingress, PVCs and the inline-code ConfigMap.

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy};
use k8s_openapi::api::core::v1::{
    ConfigMap, PersistentVolumeClaim, Service, ServicePort, ServiceSpec,
};
use k8s_openapi::api::networking::v1::{
    HTTPIngressPath, HTTPIngressRuleValue, Ingress, IngressBackend, IngressRule,
    IngressServiceBackend, IngressSpec, IngressTLS, ServiceBackendPort,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::config::OperatorConfig;
use crate::crd::{PrisnApp, PrisnAppSpec};
use crate::error::{Error, Problem};
use crate::labels::{self, Kind};

use super::pod::{self, PodInput};
use super::source::ResolvedSource;
use super::{child_meta, inline_config_map, pvc};

/// Everything a PrisnApp should own.
#[derive(Clone, Debug)]
pub struct AppChildren {
    pub deployment: Deployment,
    /// `Some` when `port` is set.
    pub service: Option<Service>,
    /// `Some` when `ingress` is set.
    pub ingress: Option<Ingress>,
    /// One per storage entry without `existingClaim`.
    pub pvcs: Vec<PersistentVolumeClaim>,
    /// `Some` for `inline` sources.
    pub inline: Option<ConfigMap>,
    /// Things worth an Event of type Warning (e.g. several replicas on a ReadWriteOnce claim).
    pub warnings: Vec<String>,
}

/// The replicas the Deployment should have: 0 when suspended, else `spec.replicas` (default 1).
pub fn desired_replicas(spec: &PrisnAppSpec) -> i32 {
    if spec.suspend {
        0
    } else {
        spec.replicas.unwrap_or(1).max(0)
    }
}

/// Builds the children of `app`.
///
/// # Errors
/// `Err(Ok(Problem))`-style split: a [`Problem`] (in the inner `Result`) for invalid spec values,
/// an [`Error`] when the object lacks metadata the API server always sets.
pub fn app_children(
    app: &PrisnApp,
    src: &ResolvedSource,
    config: &OperatorConfig,
) -> Result<Result<AppChildren, Problem>, Error> {
    let name = app
        .metadata
        .name
        .as_deref()
        .ok_or(Error::MissingObjectKey(".metadata.name"))?;
    let ns = app
        .metadata
        .namespace
        .as_deref()
        .ok_or(Error::MissingObjectKey(".metadata.namespace"))?;
    let owner = owner_ref(app)?;
    Ok(build(app, name, ns, &owner, src, config))
}

/// The controller owner reference pointing at a custom resource.
///
/// # Errors
/// When the object has no uid (it was not read from the API server).
pub fn owner_ref<K: kube::Resource<DynamicType = ()>>(obj: &K) -> Result<OwnerReference, Error> {
    obj.controller_owner_ref(&())
        .ok_or(Error::MissingObjectKey(".metadata.uid"))
}

fn build(
    app: &PrisnApp,
    name: &str,
    ns: &str,
    owner: &OwnerReference,
    src: &ResolvedSource,
    config: &OperatorConfig,
) -> Result<AppChildren, Problem> {
    let spec = &app.spec;
    if spec.health_check.is_some() && spec.port.is_none() {
        return Err(Problem::spec(
            "HealthCheckWithoutPort",
            "healthCheck: set port as well",
        ));
    }
    let template = pod::template(&PodInput {
        name,
        kind: Kind::App,
        own_labels: app.metadata.labels.as_ref(),
        source: src,
        args: &spec.args,
        env: &spec.env,
        env_from: &spec.env_from,
        resources: spec.resources.as_ref(),
        port: spec.port,
        health_check: spec.health_check.as_ref(),
        storage: &spec.storage,
        service_account_name: spec.service_account_name.as_deref(),
        image_pull_secrets: &spec.image_pull_secrets,
        node_selector: &spec.node_selector,
        tolerations: &spec.tolerations,
        restart_policy: "Always",
        git_image: &config.git_image,
    })?;

    let mut pvcs = Vec::new();
    for s in &spec.storage {
        if let Some(c) = pvc::claim(name, ns, owner, s)? {
            pvcs.push(c);
        }
    }
    let replicas = desired_replicas(spec);
    let mut warnings = Vec::new();
    let single_writer: Vec<&str> = spec
        .storage
        .iter()
        .filter(|s| s.existing_claim.is_some() || s.access_mode.unwrap_or_default().single_writer())
        .map(|s| s.name.as_str())
        .collect();
    if spec.replicas.unwrap_or(1) > 1 && !single_writer.is_empty() {
        warnings.push(format!(
            "storage {:?}: {} replicas share claims that only one node can mount read-write; use accessMode ReadWriteMany for multi-replica apps",
            single_writer,
            spec.replicas.unwrap_or(1)
        ));
    }
    // Two pods of one app cannot both hold a ReadWriteOnce claim on different nodes; replace
    // the old pod before starting the new one instead of rolling.
    let strategy = (!single_writer.is_empty()).then(|| DeploymentStrategy {
        type_: Some("Recreate".into()),
        rolling_update: None,
    });

    let deployment = Deployment {
        metadata: child_meta(name, ns, name, Kind::App, Some(owner)),
        spec: Some(DeploymentSpec {
            replicas: Some(replicas),
            selector: LabelSelector {
                match_labels: Some(labels::selector_labels(name, Kind::App)),
                match_expressions: None,
            },
            template,
            strategy,
            revision_history_limit: Some(3),
            ..Default::default()
        }),
        status: None,
    };

    let service = spec.port.map(|port| Service {
        metadata: child_meta(name, ns, name, Kind::App, Some(owner)),
        spec: Some(ServiceSpec {
            selector: Some(labels::selector_labels(name, Kind::App)),
            ports: Some(vec![ServicePort {
                name: Some("http".into()),
                port,
                target_port: Some(IntOrString::String("http".into())),
                protocol: Some("TCP".into()),
                ..Default::default()
            }]),
            type_: Some("ClusterIP".into()),
            ..Default::default()
        }),
        status: None,
    });

    let ingress = match (&spec.ingress, spec.port) {
        (Some(ing), Some(port)) => {
            let mut meta = child_meta(name, ns, name, Kind::App, Some(owner));
            meta.annotations = (!ing.annotations.is_empty()).then(|| ing.annotations.clone());
            Some(Ingress {
                metadata: meta,
                spec: Some(IngressSpec {
                    ingress_class_name: ing.class_name.clone(),
                    rules: Some(vec![IngressRule {
                        host: Some(ing.host.clone()),
                        http: Some(HTTPIngressRuleValue {
                            paths: vec![HTTPIngressPath {
                                path: Some(ing.path.clone().unwrap_or_else(|| "/".into())),
                                path_type: "Prefix".into(),
                                backend: IngressBackend {
                                    service: Some(IngressServiceBackend {
                                        name: name.to_string(),
                                        port: Some(ServiceBackendPort {
                                            number: Some(port),
                                            name: None,
                                        }),
                                    }),
                                    resource: None,
                                },
                            }],
                        }),
                    }]),
                    tls: ing.tls.then(|| {
                        vec![IngressTLS {
                            hosts: Some(vec![ing.host.clone()]),
                            secret_name: Some(
                                ing.tls_secret_name
                                    .clone()
                                    .unwrap_or_else(|| format!("{name}-tls")),
                            ),
                        }]
                    }),
                    default_backend: None,
                }),
                status: None,
            })
        }
        (Some(_), None) => {
            return Err(Problem::spec(
                "IngressWithoutPort",
                "ingress: set port as well",
            ));
        }
        _ => None,
    };

    Ok(AppChildren {
        deployment,
        service,
        ingress,
        pvcs,
        inline: inline_config_map(ns, name, Kind::App, owner, src),
        warnings,
    })
}
