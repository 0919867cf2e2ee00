//! Pure: PrisnCronJob → batch CronJob. Kubernetes' CronJob controller does the scheduling.

use k8s_openapi::api::batch::v1::{CronJob, CronJobSpec, JobTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

use crate::config::OperatorConfig;
use crate::crd::PrisnCronJob;
use crate::error::{Error, Problem};
use crate::labels::{self, Kind};

use super::app::owner_ref;
use super::child_meta;
use super::source::ResolvedSource;

/// The CronJob `<name>` for `cj`.
///
/// # Errors
/// Outer: metadata the API server always sets is missing. Inner: a [`Problem`] with the spec
/// (schedule, timeout, quantities).
pub fn cronjob(
    cj: &PrisnCronJob,
    src: &ResolvedSource,
    config: &OperatorConfig,
) -> Result<Result<CronJob, Problem>, Error> {
    let name = cj
        .metadata
        .name
        .as_deref()
        .ok_or(Error::MissingObjectKey(".metadata.name"))?;
    let ns = cj
        .metadata
        .namespace
        .as_deref()
        .ok_or(Error::MissingObjectKey(".metadata.namespace"))?;
    let owner: OwnerReference = owner_ref(cj)?;
    Ok(build(cj, name, ns, &owner, src, config))
}

fn build(
    cj: &PrisnCronJob,
    name: &str,
    ns: &str,
    owner: &OwnerReference,
    src: &ResolvedSource,
    config: &OperatorConfig,
) -> Result<CronJob, Problem> {
    let spec = &cj.spec;
    super::validate::schedule(&spec.schedule)?;
    let job_spec = super::job::job_spec(
        name,
        Kind::CronJob,
        cj.metadata.labels.as_ref(),
        &spec.job_template,
        src,
        config,
        "jobTemplate.",
    )?;
    Ok(CronJob {
        metadata: child_meta(name, ns, name, Kind::CronJob, Some(owner)),
        spec: Some(CronJobSpec {
            schedule: spec.schedule.clone(),
            time_zone: spec.time_zone.clone(),
            concurrency_policy: Some(spec.concurrency_policy.unwrap_or_default().as_str().into()),
            suspend: Some(spec.suspend),
            successful_jobs_history_limit: spec.successful_jobs_history_limit,
            failed_jobs_history_limit: spec.failed_jobs_history_limit,
            starting_deadline_seconds: spec.starting_deadline_seconds,
            job_template: JobTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels::child_labels(name, Kind::CronJob)),
                    ..Default::default()
                }),
                spec: Some(job_spec),
            },
        }),
        status: None,
    })
}
