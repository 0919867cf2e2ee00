//! Shared helpers: install the CRDs, run an operator for one namespace, wait for things.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result, anyhow};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::{Client, Resource};
use prisn_operator::OperatorConfig;
use prisn_operator::controller::{self, RunConfig};
use prisn_operator::metrics::Metrics;
use prisn_testsupport::testbed::{self, TestNamespace};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::{OnceCell, oneshot};

pub use prisn_testsupport::testbed::eventually;

/// A pinned image reference (kwok never pulls it).
pub const IMAGE: &str = "registry.invalid/prisn/web@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

pub const WAIT: Duration = Duration::from_secs(60);

static CRDS: OnceCell<()> = OnceCell::const_new();

/// Server-side applies the three CRDs (generated from the Rust types) and waits until the
/// API server serves them.
pub async fn install_crds(client: &Client) -> Result<()> {
    CRDS.get_or_try_init(|| async {
        let api: Api<CustomResourceDefinition> = Api::all(client.clone());
        let pp = PatchParams::apply("prisn-operator-tests").force();
        for (_, crd) in prisn_operator::manifests::crds() {
            let name = crd.metadata.name.clone().unwrap_or_default();
            api.patch(&name, &pp, &Patch::Apply(&crd))
                .await
                .with_context(|| format!("applying CRD {name}"))?;
            eventually(&format!("CRD {name} established"), WAIT, || {
                let api = api.clone();
                let name = name.clone();
                async move {
                    let c = api.get(&name).await?;
                    let ok = c.status.and_then(|s| s.conditions).is_some_and(|cs| {
                        cs.iter()
                            .any(|c| c.type_ == "Established" && c.status == "True")
                    });
                    Ok(ok.then_some(()))
                }
            })
            .await?;
        }
        Ok::<(), anyhow::Error>(())
    })
    .await?;
    Ok(())
}

/// A test namespace with the CRDs installed, or `None` when the test bed is down (skipped).
pub async fn setup(prefix: &str) -> Option<TestNamespace> {
    let ns = testbed::namespace(prefix).await?;
    install_crds(&ns.client)
        .await
        .expect("CRDs install on the test bed");
    Some(ns)
}

/// An operator running in this process, watching one namespace; stopped on drop.
pub struct Operator {
    stop: Option<oneshot::Sender<()>>,
    handle: tokio::task::JoinHandle<()>,
    pub metrics: Arc<Metrics>,
}

impl Operator {
    pub fn start(ns: &TestNamespace) -> Self {
        Self::start_with(ns, OperatorConfig::default())
    }

    pub fn start_with(ns: &TestNamespace, operator: OperatorConfig) -> Self {
        let (tx, rx) = oneshot::channel::<()>();
        let metrics = Arc::new(Metrics::new());
        let cfg = RunConfig {
            namespace: Some(ns.name.clone()),
            operator,
            concurrency: 16,
            instance: Some(format!("test-{}", ns.name)),
            debounce: Duration::ZERO,
        };
        let client = ns.client.clone();
        let m = metrics.clone();
        let handle = tokio::spawn(async move {
            let shutdown = async move {
                let _ = rx.await;
            };
            if let Err(e) = controller::run(client, cfg, m, shutdown).await {
                panic!("operator failed to start: {e}");
            }
        });
        Operator {
            stop: Some(tx),
            handle,
            metrics,
        }
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        self.handle.abort();
    }
}

/// Creates `obj` in the namespace.
pub async fn create<K>(ns: &TestNamespace, obj: &K) -> Result<K>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + Serialize
        + std::fmt::Debug,
    K::DynamicType: Default,
{
    let api: Api<K> = ns.api();
    api.create(&PostParams::default(), obj)
        .await
        .map_err(|e| anyhow!("creating {obj:?}: {e}"))
}

/// Polls `get` until `check` says yes, returning the object.
pub async fn wait_for<K, F>(ns: &TestNamespace, name: &str, what: &str, check: F) -> Result<K>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
    K::DynamicType: Default,
    F: Fn(&K) -> bool,
{
    let api: Api<K> = ns.api();
    let check = &check;
    eventually(&format!("{name}: {what}"), WAIT, || {
        let api = api.clone();
        async move { Ok(api.get_opt(name).await?.filter(|o| check(o))) }
    })
    .await
}

/// Polls until `f` returns true.
pub async fn until<F, Fut>(what: &str, f: F) -> Result<()>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<bool>>,
{
    eventually(what, WAIT, || {
        let fut = f();
        async move { Ok(fut.await?.then_some(())) }
    })
    .await
}

/// Returns once `op` has run a reconcile of `name` that *started* after this call did, so a
/// test can check what the operator does (or does not do) with the cluster as it is now,
/// without sleeping. Each round annotates the object (a watch event → a reconcile) and waits
/// for the reconcile counter to move; the counter's first move may belong to a reconcile
/// already under way, so there are two rounds: the second move can only be from one that
/// started after the first annotation.
pub async fn reconciled_since_now<K>(
    ns: &TestNamespace,
    op: &Operator,
    controller: &str,
    name: &str,
) where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
    K::DynamicType: Default,
{
    let api: Api<K> = ns.api();
    for round in 0..2 {
        let before = op.metrics.reconciles(controller);
        let nudge = serde_json::json!({
            "metadata": { "annotations": { "test.prisn.io/nudge": format!("{round}-{before}") } }
        });
        api.patch(name, &PatchParams::default(), &Patch::Merge(&nudge))
            .await
            .unwrap_or_else(|e| panic!("annotating {name}: {e}"));
        let metrics = op.metrics.clone();
        until(&format!("a reconcile of {name} (round {round})"), || {
            let metrics = metrics.clone();
            async move { Ok(metrics.reconciles(controller) > before) }
        })
        .await
        .expect("the operator reconciles");
    }
}

/// The phase in a PrisnApp/PrisnJob/PrisnCronJob status.
pub fn phase_of(status: Option<&impl HasPhase>) -> Option<String> {
    status.and_then(|s| s.phase())
}

pub trait HasPhase {
    fn phase(&self) -> Option<String>;
}

impl HasPhase for prisn_operator::PrisnAppStatus {
    fn phase(&self) -> Option<String> {
        self.phase.clone()
    }
}
impl HasPhase for prisn_operator::PrisnJobStatus {
    fn phase(&self) -> Option<String> {
        self.phase.clone()
    }
}
impl HasPhase for prisn_operator::PrisnCronJobStatus {
    fn phase(&self) -> Option<String> {
        self.phase.clone()
    }
}

/// A PrisnApp named `name` with `spec`.
pub fn app(name: &str, spec: prisn_operator::PrisnAppSpec) -> prisn_operator::PrisnApp {
    prisn_operator::PrisnApp::new(name, spec)
}
