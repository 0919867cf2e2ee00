//! PrisnJob: resolve source → create the Job once per spec hash (replace it when the spec
//! changes) → mirror its status truthfully.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;

use crate::children::{self, inline_config_map, source::inline_config_map_name};
use crate::crd::{PrisnJob, PrisnJobStatus};
use crate::error::{Error, Problem};
use crate::labels::{Kind, SPEC_HASH_ANNOTATION};
use crate::status::{self, JobObserved};

use super::app::merge_degraded;
use super::{Context, apply, create, delete_owned, get_opt, name_ns, patch_status, publish};

/// Reconciles one PrisnJob.
pub async fn reconcile(pj: Arc<PrisnJob>, ctx: Arc<Context>) -> Result<Action, Error> {
    let (name, ns) = name_ns(pj.as_ref())?;
    let uid = pj
        .metadata
        .uid
        .clone()
        .ok_or(Error::MissingObjectKey(".metadata.uid"))?;
    let owner = children::app::owner_ref(pj.as_ref())?;
    let jobs: Api<Job> = Api::namespaced(ctx.client.clone(), &ns);
    let cms: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &ns);
    let previous = pj.status.as_ref();

    let mut existing = get_opt(&jobs, &name).await?;
    let mut problem: Option<Problem> = None;
    let mut image = None;
    let mut spec_hash = None;
    let mut requeue_soon = false;

    match super::resolve_source(&ctx, &ns, &name, &pj.spec.source, pj.spec.runtime).await? {
        Err(p) => problem = Some(p),
        Ok(src) => {
            match children::job::job(
                &name,
                &ns,
                &owner,
                pj.metadata.labels.as_ref(),
                &pj.spec,
                &src,
                &ctx.config,
            ) {
                Err(p) => problem = Some(p),
                Ok(desired) => {
                    let hash = children::job::spec_hash(&pj.spec, &src);
                    image = Some(src.image.clone());
                    spec_hash = Some(hash.clone());
                    let current_hash = existing
                        .as_ref()
                        .and_then(|j| j.annotations().get(SPEC_HASH_ANNOTATION).cloned());
                    let finished_before = previous.is_some_and(|p| {
                        p.spec_hash.as_deref() == Some(hash.as_str())
                            && matches!(p.phase.as_deref(), Some("Succeeded" | "Failed"))
                    });
                    match (&existing, current_hash) {
                        (Some(_), Some(h)) if h == hash => {}
                        (Some(j), _) => {
                            if j.owner_references().iter().any(|o| o.uid == uid) {
                                // The pod template of a Job is immutable: a new spec means a new Job.
                                delete_owned(&jobs, &name, &uid).await?;
                                publish(&ctx.recorder, pj.as_ref(), EventType::Normal, "JobReplaced",
                                    "the spec changed; the old Job was deleted and a new one will run".into()).await;
                                existing = None;
                                requeue_soon = true;
                            } else {
                                problem = Some(Problem::rejected(format!(
                                    "a Job named {name:?} exists and does not belong to this PrisnJob; delete it or rename the PrisnJob"
                                )));
                            }
                        }
                        // Finished, and its Job was removed by ttlSecondsAfterFinished: never re-run.
                        (None, _) if finished_before => {}
                        (None, _) => {
                            let mut failed = None;
                            if let Some(cm) = inline_config_map(&ns, &name, Kind::Job, &owner, &src)
                                && let Err(p) =
                                    apply(&cms, &inline_config_map_name(&name), &cm).await?
                            {
                                failed = Some(p);
                            }
                            if failed.is_none() {
                                match create(&jobs, &name, &desired).await? {
                                    Ok(j) => {
                                        publish(
                                            &ctx.recorder,
                                            pj.as_ref(),
                                            EventType::Normal,
                                            "JobCreated",
                                            format!("created Job {name}"),
                                        )
                                        .await;
                                        existing = Some(j);
                                    }
                                    Err(p) => failed = Some(p),
                                }
                            }
                            problem = failed;
                        }
                    }
                }
            }
        }
    }

    let new = status::job(
        &JobObserved {
            generation: pj.metadata.generation,
            job: existing.as_ref(),
            problem: problem.as_ref(),
            image,
            spec_hash,
            previous,
        },
        Timestamp::now(),
    );
    if previous != Some(&new) {
        let api: Api<PrisnJob> = Api::namespaced(ctx.client.clone(), &ns);
        patch_status(&api, &name, &new).await?;
        let was = previous.and_then(|p| p.phase.clone());
        if new.phase != was {
            let (t, reason) = match new.phase.as_deref() {
                Some("Failed") => (EventType::Warning, "Failed"),
                Some("Degraded") => (
                    EventType::Warning,
                    problem.as_ref().map(|p| p.reason).unwrap_or("Degraded"),
                ),
                Some("Succeeded") => (EventType::Normal, "Succeeded"),
                _ => (EventType::Normal, "Progressing"),
            };
            let note = new.message.clone().unwrap_or_else(|| reason.to_string());
            publish(&ctx.recorder, pj.as_ref(), t, reason, note).await;
        }
    }
    Ok(if requeue_soon {
        Action::requeue(Duration::from_secs(1))
    } else if problem.is_some() {
        Action::requeue(Duration::from_secs(300))
    } else {
        Action::requeue(Duration::from_secs(3600))
    })
}

/// Best-effort status write after a transient failure.
pub async fn report_error(pj: &PrisnJob, ctx: &Context, err: &Error) {
    let Ok((name, ns)) = name_ns(pj) else { return };
    let mut st: PrisnJobStatus = pj.status.clone().unwrap_or_default();
    let problem = Problem::spec(err.metric_label(), err.to_string());
    st.message = Some(problem.message.clone());
    st.conditions = merge_degraded(&st.conditions, &problem, pj.metadata.generation);
    let api: Api<PrisnJob> = Api::namespaced(ctx.client.clone(), &ns);
    if pj.status.as_ref() != Some(&st)
        && let Err(e) = patch_status(&api, &name, &st).await
    {
        tracing::debug!(error = %e, "could not record the reconcile error in the status");
    }
}
