//! A Kubernetes client for a context: `KUBECONFIG` read as kubectl reads it (several paths
//! are merged), the context's `kube_context` (else the kubeconfig's current one), else the
//! in-cluster service account.

use anyhow::anyhow;
use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::context::Context;

/// A client and the namespace to act in.
pub struct Cluster {
    pub client: kube::Client,
    pub namespace: String,
}

/// Connect as `ctx` says.
///
/// # Errors
/// "failed to create K8s client", naming the kubeconfig paths and the context tried.
pub async fn connect(ctx: &Context) -> anyhow::Result<Cluster> {
    let paths = std::env::var("KUBECONFIG")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "~/.kube/config".into());
    let wanted = (!ctx.kube_context.is_empty()).then(|| ctx.kube_context.clone());
    let tried = wanted
        .clone()
        .unwrap_or_else(|| "its current context".into());
    let fail = |e: &dyn std::fmt::Display| {
        anyhow!("failed to create K8s client from kubeconfig {paths} with {tried}: {e}")
    };
    let config = match Kubeconfig::read() {
        Ok(kubeconfig) => {
            let options = KubeConfigOptions {
                context: wanted.clone(),
                ..Default::default()
            };
            kube::Config::from_custom_kubeconfig(kubeconfig, &options)
                .await
                .map_err(|e| fail(&e))?
        }
        // No kubeconfig: inside a pod, the service account is the usual way.
        Err(read_err) => kube::Config::incluster().map_err(|_| fail(&read_err))?,
    };
    let namespace = if ctx.namespace.is_empty() {
        config.default_namespace.clone()
    } else {
        ctx.namespace.clone()
    };
    let client = kube::Client::try_from(config).map_err(|e| fail(&e))?;
    Ok(Cluster { client, namespace })
}

/// A Kubernetes API call that failed, by what it means for the user.
#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    /// The prisn CRDs are not installed (a 404 on a prisn resource).
    #[error("CRD not found: {resource}.prisn.io is not installed in this cluster")]
    CrdMissing { resource: String },
    /// RBAC refused the call.
    #[error("forbidden by RBAC: cannot {verb} {resource} in namespace {namespace}: {message}")]
    Forbidden {
        verb: String,
        resource: String,
        namespace: String,
        message: String,
    },
    /// Any other failure of the call.
    #[error("cannot {verb} {resource} in namespace {namespace}")]
    Call {
        verb: String,
        resource: String,
        namespace: String,
        #[source]
        source: kube::Error,
    },
}

impl prisn_api::Hint for KubeError {
    fn hint(&self) -> Option<String> {
        match self {
            KubeError::CrdMissing { .. } => Some(
                "install the CRDs with `kubectl apply -f operator/config/crd/bases/` (or `prisn operator manifests --image REF | kubectl apply -f -`)".into(),
            ),
            KubeError::Forbidden { .. } => Some("ask for a Role that allows it".into()),
            KubeError::Call { .. } => None,
        }
    }
}

/// Turn API errors into errors that say what to do: CRDs missing, RBAC refusals.
pub fn explain(err: kube::Error, verb: &str, resource: &str, namespace: &str) -> anyhow::Error {
    let e = match err {
        kube::Error::Api(status) if status.code == 404 && resource.starts_with("prisn") => {
            KubeError::CrdMissing {
                resource: resource.to_string(),
            }
        }
        kube::Error::Api(status) if status.code == 403 => KubeError::Forbidden {
            verb: verb.to_string(),
            resource: resource.to_string(),
            namespace: namespace.to_string(),
            message: status.message,
        },
        source => KubeError::Call {
            verb: verb.to_string(),
            resource: resource.to_string(),
            namespace: namespace.to_string(),
            source,
        },
    };
    e.into()
}

/// Whether an error is a 404.
pub fn is_not_found(err: &kube::Error) -> bool {
    matches!(err, kube::Error::Api(s) if s.code == 404)
}

/// `Context` for `anyhow` results from kube calls.
pub trait KubeResult<T> {
    fn explain(self, verb: &str, resource: &str, namespace: &str) -> anyhow::Result<T>;
}

impl<T> KubeResult<T> for Result<T, kube::Error> {
    fn explain(self, verb: &str, resource: &str, namespace: &str) -> anyhow::Result<T> {
        self.map_err(|e| explain(e, verb, resource, namespace))
    }
}
