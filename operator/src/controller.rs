//! Wiring: three kube-runtime `Controller`s (PrisnApp, PrisnJob, PrisnCronJob), the watches that
//! trigger them (owned children, referenced ConfigMaps and Secrets), metrics and error policy.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::future::{BoxFuture, FutureExt, Shared};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service};
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{Api, ListParams};
use kube::core::PartialObjectMeta;
use kube::runtime::WatchStreamExt;
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tracing::Instrument;

use crate::config::OperatorConfig;
use crate::crd::{PrisnApp, PrisnCronJob, PrisnJob, Source};
use crate::error::Error;
use crate::labels::MANAGED_SELECTOR;
use crate::metrics::Metrics;
use crate::reconcile::{self, ChildStores, Context};

/// How to run the controllers.
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// Watch only this namespace (`None`: all namespaces).
    pub namespace: Option<String>,
    pub operator: OperatorConfig,
    /// Reconciles running at once per controller (0: no limit).
    pub concurrency: u16,
    /// Identity for events (the pod name).
    pub instance: Option<String>,
    /// Wait this long after a trigger for more before reconciling (coalesces the bursts of
    /// Deployment status updates during a rollout). Zero: reconcile at once.
    pub debounce: Duration,
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            namespace: None,
            operator: OperatorConfig::default(),
            concurrency: 32,
            instance: None,
            debounce: Duration::ZERO,
        }
    }
}

/// Errors that stop the operator before it starts reconciling.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(
        "cannot list {kind} ({source}). Is the CRD installed? Install it with `kubectl apply -f operator/config/crd/bases/` or `prisn operator manifests --image REF | kubectl apply -f -`"
    )]
    CrdMissing {
        kind: &'static str,
        #[source]
        source: kube::Error,
    },
}

fn api<K>(client: &Client, ns: Option<&str>) -> Api<K>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
{
    match ns {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// Checks that the three CRDs are served (the startup check that says what to do).
///
/// # Errors
/// [`StartError::CrdMissing`] naming the kind and the install command.
pub async fn check_crds(client: &Client, ns: Option<&str>) -> Result<(), StartError> {
    let lp = ListParams::default().limit(1);
    api::<PrisnApp>(client, ns)
        .list(&lp)
        .await
        .map_err(|source| StartError::CrdMissing {
            kind: "PrisnApp",
            source,
        })?;
    api::<PrisnJob>(client, ns)
        .list(&lp)
        .await
        .map_err(|source| StartError::CrdMissing {
            kind: "PrisnJob",
            source,
        })?;
    api::<PrisnCronJob>(client, ns)
        .list(&lp)
        .await
        .map_err(|source| StartError::CrdMissing {
            kind: "PrisnCronJob",
            source,
        })?;
    Ok(())
}

/// Runs the three controllers until `shutdown` resolves.
///
/// # Errors
/// When the CRDs are not installed (see [`check_crds`]).
pub async fn run(
    client: Client,
    cfg: RunConfig,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    let ns = cfg.namespace.as_deref();
    check_crds(&client, ns).await?;
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: crate::labels::FIELD_MANAGER.into(),
            instance: cfg.instance.clone(),
        },
    );
    let mut ctx = Context::new(client.clone(), cfg.operator.clone(), recorder, metrics);
    // Deployments and Services of apps are cached by the same watches that trigger the app
    // controller: a steady-state reconcile then reads its children without an API call.
    let (dep_store, dep_writer) = reflector::store::<Deployment>();
    let (svc_store, svc_writer) = reflector::store::<Service>();
    let (retrigger, retriggered) = futures::channel::mpsc::unbounded();
    ctx.retrigger = Some(retrigger);
    ctx.stores = Some(ChildStores {
        deployments: dep_store,
        services: svc_store,
    });
    let ctx = Arc::new(ctx);
    let shutdown: Shared<BoxFuture<'static, ()>> = shutdown.boxed().shared();
    let ctl_cfg = ControllerConfig::default()
        .concurrency(cfg.concurrency)
        .debounce(cfg.debounce);
    // Children are watched narrowed to what prisn manages (and, but for the cached
    // Deployments and Services, metadata-only): memory stays flat with many apps.
    let owned = watcher::Config::default()
        .labels(MANAGED_SELECTOR)
        .any_semantic();
    let all = watcher::Config::default().any_semantic();

    let (app_store, app_writer) = reflector::store::<PrisnApp>();
    let app_events = watcher::watcher(api::<PrisnApp>(&client, ns), all.clone())
        .default_backoff()
        .reflect(app_writer)
        .applied_objects()
        .inspect(|r| {
            if let Ok(a) = r {
                tracing::trace!(
                    name = a.metadata.name.as_deref().unwrap_or(""),
                    "PrisnApp event"
                );
            }
        });
    let app_ctl = Controller::for_stream(app_events, app_store.clone());
    let apps = app_ctl
        .reconcile_on(retriggered)
        .owns_stream(cache_of(
            api::<Deployment>(&client, ns),
            owned.clone(),
            dep_writer,
        ))
        .owns_stream(cache_of(
            api::<Service>(&client, ns),
            owned.clone(),
            svc_writer,
        ))
        .owns(
            api::<PartialObjectMeta<Ingress>>(&client, ns),
            owned.clone(),
        )
        .watches(
            api::<PartialObjectMeta<ConfigMap>>(&client, ns),
            all.clone(),
            referrers(app_store.clone(), |a: &PrisnApp| &a.spec.source, false),
        )
        .watches(
            api::<PartialObjectMeta<Secret>>(&client, ns),
            all.clone(),
            referrers(app_store, |a: &PrisnApp| &a.spec.source, true),
        )
        .with_config(ctl_cfg.clone())
        .graceful_shutdown_on(shutdown.clone())
        .run(reconcile_app, error_policy, ctx.clone())
        .for_each(|r| async move { log_result("PrisnApp", r) });

    let job_ctl = Controller::new(api::<PrisnJob>(&client, ns), all.clone());
    let job_store = job_ctl.store();
    let jobs = job_ctl
        .owns(api::<PartialObjectMeta<Job>>(&client, ns), owned.clone())
        .watches(
            api::<PartialObjectMeta<ConfigMap>>(&client, ns),
            all.clone(),
            referrers(job_store.clone(), |j: &PrisnJob| &j.spec.source, false),
        )
        .watches(
            api::<PartialObjectMeta<Secret>>(&client, ns),
            all.clone(),
            referrers(job_store, |j: &PrisnJob| &j.spec.source, true),
        )
        .with_config(ctl_cfg.clone())
        .graceful_shutdown_on(shutdown.clone())
        .run(reconcile_job, error_policy, ctx.clone())
        .for_each(|r| async move { log_result("PrisnJob", r) });

    let cj_ctl = Controller::new(api::<PrisnCronJob>(&client, ns), all.clone());
    let cj_store = cj_ctl.store();
    let cronjobs = cj_ctl
        .owns(api::<PartialObjectMeta<CronJob>>(&client, ns), owned)
        .watches(
            api::<PartialObjectMeta<ConfigMap>>(&client, ns),
            all.clone(),
            referrers(
                cj_store.clone(),
                |c: &PrisnCronJob| &c.spec.job_template.source,
                false,
            ),
        )
        .watches(
            api::<PartialObjectMeta<Secret>>(&client, ns),
            all,
            referrers(
                cj_store,
                |c: &PrisnCronJob| &c.spec.job_template.source,
                true,
            ),
        )
        .with_config(ctl_cfg)
        .graceful_shutdown_on(shutdown)
        .run(reconcile_cronjob, error_policy, ctx)
        .for_each(|r| async move { log_result("PrisnCronJob", r) });

    tracing::info!(namespace = ns.unwrap_or("<all>"), "controllers started");
    futures::join!(apps, jobs, cronjobs);
    tracing::info!("controllers stopped");
    Ok(())
}

/// A watch of `api` that fills `writer` (without managedFields, which are most of an
/// object's bytes and never read here) and then yields each touched object.
fn cache_of<K>(
    api: Api<K>,
    wc: watcher::Config,
    writer: reflector::store::Writer<K>,
) -> impl futures::Stream<Item = Result<K, watcher::Error>> + Send + 'static
where
    K: Resource<DynamicType = ()>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    watcher::watcher(api, wc)
        .default_backoff()
        .modify(|o: &mut K| o.meta_mut().managed_fields = None)
        .reflect(writer)
        .touched_objects()
}

/// Maps a ConfigMap (or Secret) to the resources whose source references it, so new code in
/// the ConfigMap rolls the app's pods.
fn referrers<K, M>(
    store: Store<K>,
    source: fn(&K) -> &Source,
    secret: bool,
) -> impl Fn(PartialObjectMeta<M>) -> Vec<ObjectRef<K>> + Send + Sync + 'static
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Send + Sync + 'static,
    M: Resource,
{
    move |obj: PartialObjectMeta<M>| {
        let (Some(name), ns) = (
            obj.metadata.name.as_deref(),
            obj.metadata.namespace.as_deref(),
        ) else {
            return Vec::new();
        };
        store
            .state()
            .iter()
            .filter(|k| k.namespace().as_deref() == ns)
            .filter(|k| {
                let s = source(k);
                let r = if secret {
                    s.secret_ref.as_ref()
                } else {
                    s.config_map_ref.as_ref()
                };
                r.is_some_and(|r| r.name == name)
            })
            .map(|k| ObjectRef::from_obj(k.as_ref()))
            .collect()
    }
}

fn log_result<K: std::fmt::Debug>(
    kind: &str,
    r: Result<K, kube::runtime::controller::Error<Error, watcher::Error>>,
) {
    use kube::runtime::controller::Error as CtlError;
    match r {
        Ok(o) => tracing::debug!(kind, object = ?o, "reconciled"),
        // The watcher re-lists by itself (e.g. after "too old resource version"); nothing lost.
        Err(CtlError::QueueError(e)) => tracing::info!(kind, error = %e, "watch restarted"),
        // Already logged by error_policy, with the object.
        Err(CtlError::ReconcilerFailed(e, obj)) => {
            tracing::debug!(kind, object = %obj, error = %e, "reconcile failed")
        }
        Err(e) => tracing::warn!(kind, error = %e, "controller error"),
    }
}

/// Transient failures are retried after a pause; problems with the object never get here
/// (they are written to its status).
fn error_policy<K: Resource>(obj: Arc<K>, err: &Error, _ctx: Arc<Context>) -> Action {
    tracing::warn!(
        name = obj.meta().name.as_deref().unwrap_or(""),
        namespace = obj.meta().namespace.as_deref().unwrap_or(""),
        error = %err,
        "reconcile failed; retrying in 10 s"
    );
    Action::requeue(Duration::from_secs(10))
}

async fn timed<K, F, Fut>(
    controller: &'static str,
    obj: Arc<K>,
    ctx: Arc<Context>,
    run: F,
) -> Result<Action, Error>
where
    K: Resource<DynamicType = ()>,
    F: FnOnce(Arc<K>, Arc<Context>) -> Fut,
    Fut: Future<Output = Result<Action, Error>>,
{
    let span = tracing::info_span!(
        "reconcile",
        controller,
        name = obj.meta().name.as_deref().unwrap_or(""),
        namespace = obj.meta().namespace.as_deref().unwrap_or("")
    );
    let start = Instant::now();
    tracing::debug!(
        controller,
        name = obj.meta().name.as_deref().unwrap_or(""),
        "reconcile started"
    );
    let res = run(obj, ctx.clone()).instrument(span).await;
    ctx.metrics.observe(
        controller,
        start.elapsed(),
        res.as_ref().err().map(Error::metric_label),
    );
    res
}

async fn reconcile_app(obj: Arc<PrisnApp>, ctx: Arc<Context>) -> Result<Action, Error> {
    let res = timed(
        "prisnapp",
        obj.clone(),
        ctx.clone(),
        reconcile::app::reconcile,
    )
    .await;
    if let Err(e) = &res {
        reconcile::app::report_error(&obj, &ctx, e).await;
    }
    res
}

async fn reconcile_job(obj: Arc<PrisnJob>, ctx: Arc<Context>) -> Result<Action, Error> {
    let res = timed(
        "prisnjob",
        obj.clone(),
        ctx.clone(),
        reconcile::job::reconcile,
    )
    .await;
    if let Err(e) = &res {
        reconcile::job::report_error(&obj, &ctx, e).await;
    }
    res
}

async fn reconcile_cronjob(obj: Arc<PrisnCronJob>, ctx: Arc<Context>) -> Result<Action, Error> {
    let res = timed(
        "prisncronjob",
        obj.clone(),
        ctx.clone(),
        reconcile::cronjob::reconcile,
    )
    .await;
    if let Err(e) = &res {
        reconcile::cronjob::report_error(&obj, &ctx, e).await;
    }
    res
}
