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

/// The API server the process talks to, for errors that cannot reach it (one cluster per
/// process: a command acts in one context).
static SERVER: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Connect as `ctx` says.
///
/// # Errors
/// "failed to create K8s client", naming the kubeconfig paths and the context tried; a
/// `kube_context` the kubeconfig does not have, with the ones it has.
pub async fn connect(ctx: &Context) -> anyhow::Result<Cluster> {
    let (paths, kubeconfig) = read_kubeconfig()?;
    let shown = paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(":");
    let wanted = (!ctx.kube_context.is_empty()).then(|| ctx.kube_context.clone());
    let tried = wanted
        .clone()
        .unwrap_or_else(|| "its current context".into());
    let fail = |e: &dyn std::fmt::Display| {
        anyhow!("failed to create K8s client from kubeconfig {shown} with {tried}: {e}")
    };
    let config = match kubeconfig {
        Some(kubeconfig) => {
            if let Some(name) = &wanted {
                check_context(&kubeconfig, name, &ctx.name, &shown)?;
            }
            let options = KubeConfigOptions {
                context: wanted.clone(),
                ..Default::default()
            };
            kube::Config::from_custom_kubeconfig(kubeconfig, &options)
                .await
                .map_err(|e| fail(&e))?
        }
        // No kubeconfig: inside a pod, the service account is the usual way.
        None => kube::Config::incluster().map_err(|_| fail(&"no kubeconfig file exists"))?,
    };
    let _ = SERVER.set(config.cluster_url.to_string());
    let namespace = if ctx.namespace.is_empty() {
        config.default_namespace.clone()
    } else {
        ctx.namespace.clone()
    };
    let client = kube::Client::try_from(config).map_err(|e| fail(&e))?;
    Ok(Cluster { client, namespace })
}

/// The kubeconfig as kubectl reads it: the files of `KUBECONFIG` merged (first wins), missing
/// ones skipped; else `~/.kube/config`. `None` when no file exists.
fn read_kubeconfig() -> anyhow::Result<(Vec<std::path::PathBuf>, Option<Kubeconfig>)> {
    let listed: Vec<std::path::PathBuf> = match std::env::var_os("KUBECONFIG") {
        Some(v) if !v.is_empty() => std::env::split_paths(&v)
            .filter(|p| !p.as_os_str().is_empty())
            .collect(),
        _ => std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(|h| vec![std::path::Path::new(&h).join(".kube/config")])
            .unwrap_or_default(),
    };
    let mut merged: Option<Kubeconfig> = None;
    for path in listed.iter().filter(|p| p.exists()) {
        let next = Kubeconfig::read_from(path)
            .map_err(|e| anyhow!("cannot read kubeconfig {}: {e}", path.display()))?;
        merged = Some(match merged {
            None => next,
            Some(m) => m
                .merge(next)
                .map_err(|e| anyhow!("cannot merge kubeconfig {}: {e}", path.display()))?,
        });
    }
    Ok((listed, merged))
}

/// A context's `kube_context` that the kubeconfig does not define.
#[derive(Debug, thiserror::Error)]
#[error(
    "prisn context {context:?} names kube_context {wanted:?}, which kubeconfig {paths} does not have (it has: {have})"
)]
pub struct NoKubeContext {
    context: String,
    wanted: String,
    paths: String,
    have: String,
}

impl prisn_api::Hint for NoKubeContext {
    fn hint(&self) -> Option<String> {
        Some(format!(
            "pick one of them: `prisn context add {} --mode kubernetes --kube-context NAME`, or set KUBECONFIG to the file that has it",
            self.context
        ))
    }
}

fn check_context(
    kubeconfig: &Kubeconfig,
    wanted: &str,
    context: &str,
    paths: &str,
) -> Result<(), NoKubeContext> {
    if kubeconfig.contexts.iter().any(|c| c.name == wanted) {
        return Ok(());
    }
    let have: Vec<&str> = kubeconfig
        .contexts
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    Err(NoKubeContext {
        context: context.to_string(),
        wanted: wanted.to_string(),
        paths: paths.to_string(),
        have: if have.is_empty() {
            "none".into()
        } else {
            have.join(", ")
        },
    })
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
    /// The API server cannot be reached at all.
    #[error("cannot reach the Kubernetes API server {server} to {verb} {resource}")]
    Unreachable {
        server: String,
        verb: String,
        resource: String,
        #[source]
        source: kube::Error,
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
            KubeError::Unreachable { .. } => Some(
                "check that the cluster is up and that KUBECONFIG (or the context's kube_context) points at it: `kubectl cluster-info`".into(),
            ),
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
        source @ (kube::Error::Service(_) | kube::Error::HyperError(_)) => KubeError::Unreachable {
            server: SERVER.get().cloned().unwrap_or_else(|| "(unknown)".into()),
            verb: verb.to_string(),
            resource: resource.to_string(),
            source,
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
