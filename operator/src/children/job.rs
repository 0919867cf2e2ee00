//! Pure: PrisnJob spec → batch Job (also the job template of a PrisnCronJob's CronJob).

use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

use crate::config::OperatorConfig;
use crate::crd::PrisnJobSpec;
use crate::error::Problem;
use crate::labels::{Kind, SPEC_HASH_ANNOTATION};

use super::child_meta;
use super::pod::{self, PodInput};
use super::source::{ResolvedSource, hash};

/// The Job spec for `spec`, its pods labelled as belonging to `name` of `kind`.
///
/// # Errors
/// A [`Problem`] for an invalid `timeout` or resource quantity.
pub fn job_spec(
    name: &str,
    kind: Kind,
    own_labels: Option<&BTreeMap<String, String>>,
    spec: &PrisnJobSpec,
    src: &ResolvedSource,
    config: &OperatorConfig,
    field_prefix: &str,
) -> Result<JobSpec, Problem> {
    let deadline = spec
        .timeout
        .as_deref()
        .map(|t| super::validate::duration_seconds(&format!("{field_prefix}timeout"), t))
        .transpose()?;
    let template = pod::template(&PodInput {
        name,
        kind,
        own_labels,
        source: src,
        args: &spec.args,
        env: &spec.env,
        env_from: &[],
        resources: spec.resources.as_ref(),
        port: None,
        health_check: None,
        storage: &[],
        service_account_name: None,
        image_pull_secrets: &[],
        node_selector: &BTreeMap::new(),
        tolerations: &[],
        restart_policy: "Never",
        git_image: &config.git_image,
    })?;
    Ok(JobSpec {
        active_deadline_seconds: deadline,
        backoff_limit: spec.backoff_limit,
        ttl_seconds_after_finished: spec.ttl_seconds_after_finished,
        template,
        ..Default::default()
    })
}

/// Hash identifying "this run": the PrisnJob spec and the code it runs. A Job is made once per
/// hash; a new hash replaces the Job.
pub fn spec_hash(spec: &PrisnJobSpec, src: &ResolvedSource) -> String {
    let spec_json = serde_json::to_vec(spec).unwrap_or_default();
    hash(&[&spec_json, src.code_hash.as_bytes(), src.image.as_bytes()])
}

/// The Job `<name>` for a PrisnJob.
///
/// # Errors
/// As [`job_spec`].
#[allow(clippy::too_many_arguments)]
pub fn job(
    name: &str,
    namespace: &str,
    owner: &OwnerReference,
    own_labels: Option<&BTreeMap<String, String>>,
    spec: &PrisnJobSpec,
    src: &ResolvedSource,
    config: &OperatorConfig,
) -> Result<Job, Problem> {
    let mut metadata = child_meta(name, namespace, name, Kind::Job, Some(owner));
    metadata.annotations = Some(BTreeMap::from([(
        SPEC_HASH_ANNOTATION.to_string(),
        spec_hash(spec, src),
    )]));
    Ok(Job {
        metadata,
        spec: Some(job_spec(
            name,
            Kind::Job,
            own_labels,
            spec,
            src,
            config,
            "",
        )?),
        status: None,
    })
}
