//! PrisnApp: resolve source → apply ConfigMap(inline)?, PVCs, Deployment, Service?, Ingress? →
//! delete children no longer wanted → write status.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Service};
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::jiff::Timestamp;
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::reflector::ObjectRef;

use crate::children::{self, ResolvedSource, pod::MAIN_CONTAINER, source::inline_config_map_name};
use crate::crd::conditions::{self, ConditionType};
use crate::crd::{PrisnApp, PrisnAppStatus};
use crate::error::{Error, Problem};
use crate::labels::{self, Kind};
use crate::status::{self, AppObserved};

use super::{
    Context, Current, Outcome, apply_cached, cached, delete_owned, get_opt, name_ns, patch_status,
    publish,
};

/// Reconciles one PrisnApp. Problems with the object end up in its status; only transient
/// failures return `Err` (and are retried with backoff by the controller).
pub async fn reconcile(app: Arc<PrisnApp>, ctx: Arc<Context>) -> Result<Action, Error> {
    let (name, ns) = name_ns(app.as_ref())?;
    let uid = app
        .metadata
        .uid
        .clone()
        .ok_or(Error::MissingObjectKey(".metadata.uid"))?;
    let deployments: Api<Deployment> = Api::namespaced(ctx.client.clone(), &ns);

    let resolved =
        super::resolve_source(&ctx, &ns, &name, &app.spec.source, app.spec.runtime).await?;
    let mut image = resolved.as_ref().ok().map(|s| s.image.clone());
    let (deployment, problem) = match resolved {
        Err(p) => (
            current_deployment(&ctx, &deployments, &ns, &name).await?,
            Some(p),
        ),
        Ok(src) => match apply_children(&app, &ctx, &name, &ns, &uid, &src).await? {
            Ok(dep) => (Some(dep), None),
            Err(p) => (
                current_deployment(&ctx, &deployments, &ns, &name).await?,
                Some(p),
            ),
        },
    };
    if problem.is_some() {
        // What runs is what the (old) Deployment has, not what we could not build.
        image = deployment.as_ref().and_then(running_image);
    }

    let previous = app.status.as_ref();
    let new = status::app(
        &AppObserved {
            generation: app.metadata.generation,
            desired: children::app::desired_replicas(&app.spec),
            suspended: app.spec.suspend,
            deployment: deployment.as_ref(),
            problem: problem.as_ref(),
            image,
            selector: labels::selector_string(&name, Kind::App),
            previous,
            service_pending: app.spec.port.is_some()
                && matches!(
                    cached(ctx.stores.as_ref().map(|s| &s.services), &ns, &name),
                    Current::Cached(None)
                ),
        },
        Timestamp::now(),
    );
    write_status(&app, &ctx, &name, &ns, previous, &new).await?;

    Ok(match (&problem, new.phase.as_deref()) {
        // Sources are watched, so a fix triggers a reconcile; the requeue is a safety net.
        (Some(_), _) => Action::requeue(Duration::from_secs(300)),
        (None, Some("Running" | "ScaledToZero" | "Suspended")) => {
            Action::requeue(Duration::from_secs(3600))
        }
        // Deployment status changes trigger us (owned object), so wait for them.
        _ => Action::requeue(Duration::from_secs(60)),
    })
}

/// Writes `new` if it differs, and publishes an event when the app becomes Degraded or Ready.
async fn write_status(
    app: &PrisnApp,
    ctx: &Context,
    name: &str,
    ns: &str,
    previous: Option<&PrisnAppStatus>,
    new: &PrisnAppStatus,
) -> Result<(), Error> {
    if previous == Some(new) {
        return Ok(());
    }
    let api: Api<PrisnApp> = Api::namespaced(ctx.client.clone(), ns);
    patch_status(&api, name, new).await?;
    let before = previous.map(|p| p.conditions.as_slice()).unwrap_or(&[]);
    let degraded = conditions::find(&new.conditions, ConditionType::Degraded);
    if let Some(d) = degraded.filter(|d| d.status == "True") {
        let was = conditions::find(before, ConditionType::Degraded);
        if was.map(|w| (&w.status, &w.reason)) != Some((&d.status, &d.reason)) {
            publish(
                &ctx.recorder,
                app,
                EventType::Warning,
                &d.reason,
                d.message.clone(),
            )
            .await;
        }
    } else if conditions::is_true(&new.conditions, ConditionType::Ready)
        && !conditions::is_true(before, ConditionType::Ready)
    {
        let note = new.message.clone().unwrap_or_else(|| "ready".into());
        publish(&ctx.recorder, app, EventType::Normal, "Ready", note).await;
    }
    Ok(())
}

/// The Deployment as it is now: from the cache when there is one, else from the API server.
async fn current_deployment(
    ctx: &Context,
    api: &Api<Deployment>,
    ns: &str,
    name: &str,
) -> Result<Option<Deployment>, Error> {
    match cached(ctx.stores.as_ref().map(|s| &s.deployments), ns, name) {
        Current::Cached(d) => Ok(d.map(|a| (*a).clone())),
        Current::Unknown => get_opt(api, name).await,
    }
}

fn running_image(d: &Deployment) -> Option<String> {
    d.spec
        .as_ref()?
        .template
        .spec
        .as_ref()?
        .containers
        .iter()
        .find(|c| c.name == MAIN_CONTAINER)?
        .image
        .clone()
}

async fn apply_children(
    app: &PrisnApp,
    ctx_arc: &Arc<Context>,
    name: &str,
    ns: &str,
    uid: &str,
    src: &ResolvedSource,
) -> Outcome<Deployment> {
    let ctx: &Context = ctx_arc;
    if let Some(p) = take_deferred(ctx, ns, name) {
        return Ok(Err(p));
    }
    let kids = match children::app_children(app, src, &ctx.config)? {
        Ok(k) => k,
        Err(p) => return Ok(Err(p)),
    };
    let client = &ctx.client;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    let services: Api<Service> = Api::namespaced(client.clone(), ns);
    let ingresses: Api<Ingress> = Api::namespaced(client.clone(), ns);
    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), ns);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns);
    let inline_name = inline_config_map_name(name);

    // What the pods mount comes first, then the Deployment, then what points at it.
    if let Some(cm) = &kids.inline
        && let Err(p) = apply_cached(ctx, &cms, ns, &inline_name, cm, Current::Unknown).await?
    {
        return Ok(Err(p));
    }
    for pvc in &kids.pvcs {
        let pvc_name = pvc.metadata.name.clone().unwrap_or_default();
        if let Err(p) = apply_cached(ctx, &pvcs, ns, &pvc_name, pvc, Current::Unknown).await? {
            return Ok(Err(p));
        }
    }
    // Deployment, Service and Ingress do not depend on each other: apply them at once, so a
    // reconcile waits for one round trip, not three.
    let (deployment, service, ingress) = futures::join!(
        apply_cached(
            ctx,
            &deployments,
            ns,
            name,
            &kids.deployment,
            cached(ctx.stores.as_ref().map(|s| &s.deployments), ns, name),
        ),
        async {
            let current = cached(ctx.stores.as_ref().map(|s| &s.services), ns, name);
            match (&kids.service, current, &ctx.retrigger) {
                // A new Service waits for a cluster IP, which the API server hands out one at a
                // time (seconds when many apps arrive together). Create it in the background
                // and reconcile again when that is done, so this reconcile, and the next app's,
                // need not wait. Its outcome is picked up by `take_deferred` below.
                (Some(s), Current::Cached(None), Some(retrigger)) => {
                    spawn_service_create(ctx_arc.clone(), retrigger.clone(), app, s.clone());
                    Ok(Ok(()))
                }
                (Some(s), current, _) => apply_cached(ctx, &services, ns, name, s, current)
                    .await
                    .map(|r| r.map(|_| ())),
                (None, _, _) => Ok(Ok(())),
            }
        },
        async {
            match &kids.ingress {
                Some(i) => apply_cached(ctx, &ingresses, ns, name, i, Current::Unknown)
                    .await
                    .map(|r| r.map(|_| ())),
                None => Ok(Ok(())),
            }
        },
    );
    let deployment = match deployment? {
        Ok(d) => d,
        Err(p) => return Ok(Err(p)),
    };
    if let Err(p) = service? {
        return Ok(Err(p));
    }
    if let Err(p) = ingress? {
        return Ok(Err(p));
    }

    // A child becomes unwanted only when the spec changes (port, ingress or source removed),
    // so look for leftovers only then: a steady-state reconcile costs no extra reads. The
    // status (and its observedGeneration) is written after this, so a crash in between
    // repeats the check.
    let observed = app.status.as_ref().and_then(|s| s.observed_generation);
    // A brand-new object (generation 1, never reconciled) cannot have leftovers either.
    let brand_new = observed.is_none() && app.metadata.generation == Some(1);
    let spec_changed = observed != app.metadata.generation;
    if spec_changed && !brand_new {
        if kids.inline.is_none() {
            delete_owned(&cms, &inline_name, uid).await?;
        }
        if kids.service.is_none() {
            delete_owned(&services, name, uid).await?;
        }
        if kids.ingress.is_none() {
            delete_owned(&ingresses, name, uid).await?;
        }
    }
    if spec_changed {
        for w in &kids.warnings {
            publish(
                &ctx.recorder,
                app,
                EventType::Warning,
                "StorageAccessMode",
                w.clone(),
            )
            .await;
        }
    }
    Ok(Ok(deployment))
}

fn deferred_key(ns: &str, name: &str) -> String {
    format!("{ns}/{name}")
}

/// The outcome of a background Service creation that was refused, if any.
fn take_deferred(ctx: &Context, ns: &str, name: &str) -> Option<Problem> {
    ctx.deferred
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&deferred_key(ns, name))
}

/// Creates the app's Service in the background, then asks for another reconcile of the app
/// (which sees the Service in the cache, or the refusal in `ctx.deferred`).
fn spawn_service_create(
    ctx: Arc<Context>,
    retrigger: futures::channel::mpsc::UnboundedSender<ObjectRef<PrisnApp>>,
    app: &PrisnApp,
    svc: Service,
) {
    let obj_ref = ObjectRef::from_obj(app);
    let (Some(name), Some(ns)) = (app.metadata.name.clone(), app.metadata.namespace.clone()) else {
        return;
    };
    let key = deferred_key(&ns, &name);
    if !ctx
        .creating
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(key.clone())
    {
        return; // already under way; its end retriggers the app
    }
    tokio::spawn(async move {
        let api: Api<Service> = Api::namespaced(ctx.client.clone(), &ns);
        match apply_cached(&ctx, &api, &ns, &name, &svc, Current::Unknown).await {
            Ok(Ok(_)) => {}
            Ok(Err(p)) => {
                ctx.deferred
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(deferred_key(&ns, &name), p);
            }
            // Transient: the retriggered reconcile tries again.
            Err(e) => tracing::warn!(error = %e, "creating Service {ns}/{name} failed"),
        }
        ctx.creating
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&key);
        let _ = retrigger.unbounded_send(obj_ref);
    });
}

/// Best-effort status write after a transient failure, so `kubectl get` shows why the app is
/// stuck; the error itself is retried by the controller.
pub async fn report_error(app: &PrisnApp, ctx: &Context, err: &Error) {
    let Ok((name, ns)) = name_ns(app) else { return };
    let mut st = app.status.clone().unwrap_or_default();
    let problem = Problem::spec(err.metric_label(), err.to_string());
    st.phase = Some("Degraded".into());
    st.message = Some(problem.message.clone());
    st.conditions = merge_degraded(&st.conditions, &problem, app.metadata.generation);
    let api: Api<PrisnApp> = Api::namespaced(ctx.client.clone(), &ns);
    if app.status.as_ref() != Some(&st)
        && let Err(e) = patch_status(&api, &name, &st).await
    {
        tracing::debug!(error = %e, "could not record the reconcile error in the status");
    }
}

/// Sets `Degraded=True` from `problem`, keeping the other conditions.
pub(crate) fn merge_degraded(
    conds: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition],
    problem: &Problem,
    generation: Option<i64>,
) -> Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition> {
    use crate::crd::conditions::{Cond, ConditionStatus};
    let mut computed: Vec<Cond> = Vec::new();
    let mut others = Vec::new();
    for c in conds {
        if c.type_ != ConditionType::Degraded.as_str() {
            others.push(c.clone());
        }
    }
    computed.push(Cond::new(
        ConditionType::Degraded,
        ConditionStatus::True,
        problem.reason,
        problem.message.clone(),
    ));
    let mut out = conditions::merge(conds, computed, generation, Timestamp::now());
    out.extend(others);
    out.sort_by(|a, b| a.type_.cmp(&b.type_));
    out
}
