//! PrisnCronJob: resolve source → apply the CronJob (and inline ConfigMap) → mirror its status.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::jiff::Timestamp;
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;

use crate::children::{self, inline_config_map, source::inline_config_map_name};
use crate::crd::conditions::{self, ConditionType};
use crate::crd::{PrisnCronJob, PrisnCronJobStatus};
use crate::error::{Error, Problem};
use crate::labels::Kind;
use crate::status::{self, CronJobObserved};

use super::app::merge_degraded;
use super::{
    Context, Current, apply_cached, delete_owned, get_opt, name_ns, patch_status, publish,
};

/// Reconciles one PrisnCronJob.
pub async fn reconcile(pcj: Arc<PrisnCronJob>, ctx: Arc<Context>) -> Result<Action, Error> {
    let (name, ns) = name_ns(pcj.as_ref())?;
    let uid = pcj
        .metadata
        .uid
        .clone()
        .ok_or(Error::MissingObjectKey(".metadata.uid"))?;
    let owner = children::app::owner_ref(pcj.as_ref())?;
    let cronjobs: Api<CronJob> = Api::namespaced(ctx.client.clone(), &ns);
    let cms: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &ns);

    let mut problem: Option<Problem> = None;
    let mut image = None;
    let mut current: Option<CronJob> = None;
    let spec = &pcj.spec.job_template;
    match super::resolve_source(&ctx, &ns, &name, &spec.source, spec.runtime).await? {
        Err(p) => problem = Some(p),
        Ok(src) => match children::cronjob::cronjob(&pcj, &src, &ctx.config)? {
            Err(p) => problem = Some(p),
            Ok(desired) => {
                image = Some(src.image.clone());
                let inline_name = inline_config_map_name(&name);
                match inline_config_map(&ns, &name, Kind::CronJob, &owner, &src) {
                    Some(cm) => {
                        if let Err(p) =
                            apply_cached(&ctx, &cms, &ns, &inline_name, &cm, Current::Unknown)
                                .await?
                        {
                            problem = Some(p);
                        }
                    }
                    None => {
                        delete_owned(&cms, &inline_name, &uid).await?;
                    }
                }
                if problem.is_none() {
                    match apply_cached(&ctx, &cronjobs, &ns, &name, &desired, Current::Unknown)
                        .await?
                    {
                        Ok(c) => current = Some(c),
                        Err(p) => problem = Some(p),
                    }
                }
            }
        },
    }
    if current.is_none() {
        current = get_opt(&cronjobs, &name).await?;
    }

    let previous = pcj.status.as_ref();
    let new = status::cronjob(
        &CronJobObserved {
            generation: pcj.metadata.generation,
            suspended: pcj.spec.suspend,
            cronjob: current.as_ref(),
            problem: problem.as_ref(),
            image,
            previous,
        },
        Timestamp::now(),
    );
    if previous != Some(&new) {
        let api: Api<PrisnCronJob> = Api::namespaced(ctx.client.clone(), &ns);
        patch_status(&api, &name, &new).await?;
        if let Some(p) = &problem {
            let before = previous.map(|s| s.conditions.as_slice()).unwrap_or(&[]);
            let was = conditions::find(before, ConditionType::Degraded);
            if was.map(|w| w.reason.as_str()) != Some(p.reason) {
                publish(
                    &ctx.recorder,
                    pcj.as_ref(),
                    EventType::Warning,
                    p.reason,
                    p.message.clone(),
                )
                .await;
            }
        }
    }
    Ok(if problem.is_some() {
        Action::requeue(Duration::from_secs(300))
    } else {
        Action::requeue(Duration::from_secs(3600))
    })
}

/// Best-effort status write after a transient failure.
pub async fn report_error(pcj: &PrisnCronJob, ctx: &Context, err: &Error) {
    let Ok((name, ns)) = name_ns(pcj) else { return };
    let mut st: PrisnCronJobStatus = pcj.status.clone().unwrap_or_default();
    let problem = Problem::spec(err.metric_label(), err.to_string());
    st.phase = Some("Degraded".into());
    st.message = Some(problem.message.clone());
    st.conditions = merge_degraded(&st.conditions, &problem, pcj.metadata.generation);
    let api: Api<PrisnCronJob> = Api::namespaced(ctx.client.clone(), &ns);
    if pcj.status.as_ref() != Some(&st)
        && let Err(e) = patch_status(&api, &name, &st).await
    {
        tracing::debug!(error = %e, "could not record the reconcile error in the status");
    }
}
