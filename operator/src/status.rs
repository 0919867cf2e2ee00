//! Pure: what was observed (children, problems) → the `.status` of each resource.
//!
//! Status is written on every reconcile that changes it, including failures: a `Problem` gives
//! phase `Degraded`, condition `Degraded=True` with the problem's reason, and the message.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::jiff::Timestamp;

use crate::crd::conditions::{self, Cond, ConditionStatus as S, ConditionType as T};
use crate::crd::{PrisnAppStatus, PrisnCronJobStatus, PrisnJobStatus};
use crate::error::{Problem, ProblemKind};
use prisn_api::phase::{AppPhase, CronJobPhase, JobPhase};

/// What the app reconciler saw.
#[derive(Clone, Debug)]
pub struct AppObserved<'a> {
    pub generation: Option<i64>,
    /// Replicas the Deployment should have (0 when suspended).
    pub desired: i32,
    pub suspended: bool,
    /// The Deployment as last applied or read (`None`: not created yet).
    pub deployment: Option<&'a Deployment>,
    /// What is wrong with the spec, if anything.
    pub problem: Option<&'a Problem>,
    /// The image the pods run (or would run).
    pub image: Option<String>,
    /// The pod label selector, for the scale subresource.
    pub selector: String,
    pub previous: Option<&'a PrisnAppStatus>,
    /// The app has a `port` but its Service does not exist yet: not Ready (nothing routes to
    /// the pods).
    pub service_pending: bool,
}

/// Computes a PrisnApp's status.
pub fn app(o: &AppObserved<'_>, now: Timestamp) -> PrisnAppStatus {
    let ds = o.deployment.and_then(|d| d.status.as_ref());
    let replicas = ds.and_then(|s| s.replicas).unwrap_or(0);
    let ready = ds.and_then(|s| s.ready_replicas).unwrap_or(0);
    let updated = ds.and_then(|s| s.updated_replicas).unwrap_or(0);
    let dep_gen = o.deployment.and_then(|d| d.metadata.generation);
    let dep_observed = ds.and_then(|s| s.observed_generation);
    let observed_current = o.deployment.is_some() && dep_gen.is_some() && dep_observed >= dep_gen;
    let spec_replicas = o
        .deployment
        .and_then(|d| d.spec.as_ref())
        .and_then(|s| s.replicas)
        .unwrap_or(o.desired);
    let rolled_out = observed_current
        && updated >= spec_replicas
        && replicas == spec_replicas
        && ready >= spec_replicas;
    let dep_cond = |t: &str| {
        ds.and_then(|s| s.conditions.as_ref())
            .and_then(|cs| cs.iter().find(|c| c.type_ == t))
    };
    let deadline = dep_cond("Progressing")
        .filter(|c| c.status == "False" && c.reason.as_deref() == Some("ProgressDeadlineExceeded"));
    let replica_failure = dep_cond("ReplicaFailure").filter(|c| c.status == "True");

    let mut conds = Vec::new();
    let (degraded_reason, degraded_msg) = match (o.problem, deadline, replica_failure) {
        (Some(p), _, _) => (Some(p.reason.to_string()), p.message.clone()),
        (None, Some(c), _) => (
            Some("ProgressDeadlineExceeded".to_string()),
            c.message
                .clone()
                .unwrap_or_else(|| "the rollout did not progress".into()),
        ),
        (None, None, Some(c)) => (
            Some(c.reason.clone().unwrap_or_else(|| "ReplicaFailure".into())),
            c.message
                .clone()
                .unwrap_or_else(|| "pods could not be created".into()),
        ),
        _ => (None, String::new()),
    };
    conds.push(match &degraded_reason {
        Some(r) => Cond::new(T::Degraded, S::True, r.clone(), degraded_msg.clone()),
        None => Cond::new(T::Degraded, S::False, "AsExpected", ""),
    });
    conds.push(match o.problem {
        Some(p) if p.kind == ProblemKind::Source => {
            Cond::new(T::SourceReady, S::False, p.reason, p.message.clone())
        }
        _ => Cond::new(T::SourceReady, S::True, "Resolved", ""),
    });
    let progress = format!("{ready}/{spec_replicas} pods ready, {updated} up to date");
    let (ready_cond, phase) = if o.deployment.is_none() {
        let reason = o.problem.map(|p| p.reason).unwrap_or("DeploymentPending");
        (
            Cond::new(
                T::Ready,
                S::False,
                reason,
                "the Deployment does not exist yet",
            ),
            AppPhase::Pending,
        )
    } else if rolled_out && o.suspended {
        (
            Cond::new(T::Ready, S::True, "Suspended", "suspended: no pods run"),
            AppPhase::Suspended,
        )
    } else if rolled_out && spec_replicas == 0 {
        (
            Cond::new(T::Ready, S::True, "ScaledToZero", "scaled to zero"),
            AppPhase::ScaledToZero,
        )
    } else if rolled_out && o.service_pending {
        (
            Cond::new(
                T::Ready,
                S::False,
                "ServicePending",
                "waiting for the Service",
            ),
            AppPhase::Progressing,
        )
    } else if rolled_out {
        (
            Cond::new(T::Ready, S::True, "Available", progress.clone()),
            AppPhase::Running,
        )
    } else if ready == 0 {
        (
            Cond::new(T::Ready, S::False, "PodsNotReady", progress.clone()),
            AppPhase::Pending,
        )
    } else {
        (
            Cond::new(T::Ready, S::False, "RolloutInProgress", progress.clone()),
            AppPhase::Progressing,
        )
    };
    conds.push(ready_cond);
    conds.push(
        if o.deployment.is_some() && !rolled_out && degraded_reason.is_none() {
            Cond::new(T::Progressing, S::True, "RollingOut", progress.clone())
        } else {
            Cond::new(T::Progressing, S::False, "Stable", "")
        },
    );

    let phase = if degraded_reason.is_some() {
        AppPhase::Degraded
    } else {
        phase
    };
    let message = if degraded_reason.is_some() {
        degraded_msg
    } else if o.deployment.is_some() {
        progress
    } else {
        String::new()
    };
    let previous = o.previous.map(|p| p.conditions.as_slice()).unwrap_or(&[]);
    PrisnAppStatus {
        observed_generation: o.generation,
        replicas,
        ready_replicas: ready,
        selector: Some(o.selector.clone()),
        image: o.image.clone(),
        phase: Some(phase.as_str().into()),
        conditions: conditions::merge(previous, conds, o.generation, now),
        message: (!message.is_empty()).then_some(message),
    }
}

/// The phase of a batch Job: `Succeeded`/`Failed` only from the Job's own terminal conditions.
pub fn job_phase(job: &Job) -> &'static str {
    let st = job.status.as_ref();
    let cond_true = |t: &str| {
        st.and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == t && c.status == "True"))
    };
    let phase = if cond_true("Complete") {
        JobPhase::Succeeded
    } else if cond_true("Failed") {
        JobPhase::Failed
    } else if st.and_then(|s| s.active).unwrap_or(0) > 0 {
        JobPhase::Running
    } else {
        JobPhase::Pending
    };
    phase.as_str()
}

/// What the job reconciler saw.
#[derive(Clone, Debug)]
pub struct JobObserved<'a> {
    pub generation: Option<i64>,
    pub job: Option<&'a Job>,
    pub problem: Option<&'a Problem>,
    pub image: Option<String>,
    pub spec_hash: Option<String>,
    pub previous: Option<&'a PrisnJobStatus>,
}

/// Computes a PrisnJob's status. A finished run whose Job was removed (TTL) keeps its result.
pub fn job(o: &JobObserved<'_>, now: Timestamp) -> PrisnJobStatus {
    let prev = o.previous.cloned().unwrap_or_default();
    let mut st = PrisnJobStatus {
        observed_generation: o.generation,
        image: o.image.clone().or(prev.image.clone()),
        spec_hash: o.spec_hash.clone().or(prev.spec_hash.clone()),
        ..Default::default()
    };
    let mut conds = Vec::new();
    match o.job {
        Some(j) => {
            let js = j.status.clone().unwrap_or_default();
            st.phase = Some(job_phase(j).into());
            st.start_time = js.start_time.clone();
            st.completion_time = js.completion_time.clone().or_else(|| {
                // A failed Job has no completionTime; the Failed condition's time stands in.
                js.conditions.as_ref().and_then(|cs| {
                    cs.iter()
                        .find(|c| c.type_ == "Failed" && c.status == "True")
                        .and_then(|c| c.last_transition_time.clone())
                })
            });
            st.succeeded = js.succeeded.unwrap_or(0);
            st.failed = js.failed.unwrap_or(0);
            st.active = js.active.unwrap_or(0);
            let failed_msg = js
                .conditions
                .as_ref()
                .and_then(|cs| {
                    cs.iter()
                        .find(|c| c.type_ == "Failed" && c.status == "True")
                })
                .map(|c| {
                    format!(
                        "{}: {}",
                        c.reason.clone().unwrap_or_default(),
                        c.message.clone().unwrap_or_default()
                    )
                });
            st.message = match st.phase.as_deref() {
                Some("Failed") => failed_msg,
                Some("Succeeded") => Some(format!("{} pod(s) succeeded", st.succeeded)),
                Some("Running") => Some(format!("{} pod(s) running", st.active)),
                _ => None,
            };
        }
        None => {
            // Finished before and the Job is gone (ttlSecondsAfterFinished): keep the record.
            if matches!(prev.phase.as_deref(), Some("Succeeded" | "Failed")) && o.problem.is_none()
            {
                st = PrisnJobStatus {
                    observed_generation: o.generation,
                    ..prev.clone()
                };
            } else {
                st.phase = Some("Pending".into());
            }
        }
    }
    let phase = st.phase.clone().unwrap_or_default();
    conds.push(Cond::new(
        T::Complete,
        S::from_bool(phase == "Succeeded"),
        reason_for(&phase),
        "",
    ));
    conds.push(Cond::new(
        T::Failed,
        S::from_bool(phase == "Failed"),
        reason_for(&phase),
        if phase == "Failed" {
            st.message.clone().unwrap_or_default()
        } else {
            String::new()
        },
    ));
    push_problem(&mut conds, o.problem);
    if let Some(p) = o.problem {
        // A problem stops a new run; an old, finished result stays visible in succeeded/failed.
        st.phase = Some("Degraded".into());
        st.message = Some(p.message.clone());
    }
    let previous = o.previous.map(|p| p.conditions.as_slice()).unwrap_or(&[]);
    st.conditions = conditions::merge(previous, conds, o.generation, now);
    st
}

fn reason_for(phase: &str) -> String {
    match phase {
        "" => "Unknown".into(),
        p => format!("Job{p}"),
    }
}

fn push_problem(conds: &mut Vec<Cond>, problem: Option<&Problem>) {
    conds.push(match problem {
        Some(p) => Cond::new(T::Degraded, S::True, p.reason, p.message.clone()),
        None => Cond::new(T::Degraded, S::False, "AsExpected", ""),
    });
    conds.push(match problem {
        Some(p) if p.kind == ProblemKind::Source => {
            Cond::new(T::SourceReady, S::False, p.reason, p.message.clone())
        }
        _ => Cond::new(T::SourceReady, S::True, "Resolved", ""),
    });
}

/// What the cronjob reconciler saw.
#[derive(Clone, Debug)]
pub struct CronJobObserved<'a> {
    pub generation: Option<i64>,
    pub suspended: bool,
    pub cronjob: Option<&'a CronJob>,
    pub problem: Option<&'a Problem>,
    pub image: Option<String>,
    pub previous: Option<&'a PrisnCronJobStatus>,
}

/// Computes a PrisnCronJob's status.
pub fn cronjob(o: &CronJobObserved<'_>, now: Timestamp) -> PrisnCronJobStatus {
    let cs = o.cronjob.and_then(|c| c.status.clone()).unwrap_or_default();
    let mut conds = Vec::new();
    push_problem(&mut conds, o.problem);
    let phase = match (o.problem, o.cronjob, o.suspended) {
        (Some(_), _, _) => CronJobPhase::Degraded,
        (None, None, _) => CronJobPhase::Pending,
        (None, Some(_), true) => CronJobPhase::Suspended,
        (None, Some(_), false) => CronJobPhase::Scheduled,
    }
    .as_str();
    conds.push(if o.cronjob.is_some() {
        Cond::new(T::Ready, S::True, "CronJobReady", "")
    } else {
        Cond::new(
            T::Ready,
            S::False,
            o.problem.map(|p| p.reason).unwrap_or("CronJobPending"),
            "",
        )
    });
    let previous = o.previous.map(|p| p.conditions.as_slice()).unwrap_or(&[]);
    PrisnCronJobStatus {
        observed_generation: o.generation,
        phase: Some(phase.into()),
        last_schedule_time: cs.last_schedule_time,
        last_successful_time: cs.last_successful_time,
        active: cs.active.unwrap_or_default(),
        image: o.image.clone(),
        conditions: conditions::merge(previous, conds, o.generation, now),
        message: o.problem.map(|p| p.message.clone()),
    }
}

/// Whether the condition `type_` is `True` in `status`'s conditions (helper for callers that
/// wait, e.g. the CLI's `prisn deploy --wait`).
pub fn app_is_ready(status: &PrisnAppStatus) -> bool {
    conditions::is_true(&status.conditions, T::Ready)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::{DeploymentCondition, DeploymentSpec, DeploymentStatus};
    use k8s_openapi::api::batch::v1::{JobCondition, JobStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn now() -> Timestamp {
        Timestamp::from_second(1_000).expect("valid")
    }

    fn deployment(spec: i32, replicas: i32, updated: i32, ready: i32) -> Deployment {
        Deployment {
            metadata: ObjectMeta {
                generation: Some(2),
                ..Default::default()
            },
            spec: Some(DeploymentSpec {
                replicas: Some(spec),
                ..Default::default()
            }),
            status: Some(DeploymentStatus {
                observed_generation: Some(2),
                replicas: Some(replicas),
                updated_replicas: Some(updated),
                ready_replicas: Some(ready),
                ..Default::default()
            }),
        }
    }

    fn observed<'a>(d: Option<&'a Deployment>, p: Option<&'a Problem>) -> AppObserved<'a> {
        AppObserved {
            generation: Some(5),
            desired: d
                .and_then(|d| d.spec.as_ref())
                .and_then(|s| s.replicas)
                .unwrap_or(1),
            suspended: false,
            deployment: d,
            problem: p,
            image: Some("img".into()),
            selector: "prisn.io/app=web,prisn.io/kind=app".into(),
            previous: None,
            service_pending: false,
        }
    }

    fn cond<'a>(s: &'a PrisnAppStatus, t: &str) -> (&'a str, &'a str) {
        let c = s
            .conditions
            .iter()
            .find(|c| c.type_ == t)
            .expect("condition present");
        (c.status.as_str(), c.reason.as_str())
    }

    #[test]
    fn rolled_out_deployment_is_running_and_ready() {
        let d = deployment(2, 2, 2, 2);
        let s = app(&observed(Some(&d), None), now());
        assert_eq!(s.phase.as_deref(), Some("Running"));
        assert_eq!(cond(&s, "Ready"), ("True", "Available"));
        assert_eq!(cond(&s, "Progressing"), ("False", "Stable"));
        assert_eq!(cond(&s, "Degraded"), ("False", "AsExpected"));
        assert_eq!(
            (s.replicas, s.ready_replicas, s.observed_generation),
            (2, 2, Some(5))
        );
    }

    #[test]
    fn an_app_is_not_ready_before_its_service_exists() {
        let d = deployment(1, 1, 1, 1);
        let mut o = observed(Some(&d), None);
        o.service_pending = true;
        let s = app(&o, now());
        assert_eq!(cond(&s, "Ready"), ("False", "ServicePending"));
    }

    #[test]
    fn a_rollout_with_old_pods_left_is_progressing_not_ready() {
        let d = deployment(2, 3, 1, 2);
        let s = app(&observed(Some(&d), None), now());
        assert_eq!(s.phase.as_deref(), Some("Progressing"));
        assert_eq!(cond(&s, "Ready"), ("False", "RolloutInProgress"));
        assert_eq!(cond(&s, "Progressing"), ("True", "RollingOut"));
    }

    #[test]
    fn a_deployment_not_yet_observed_is_not_ready() {
        let mut d = deployment(1, 1, 1, 1);
        d.metadata.generation = Some(3);
        let s = app(&observed(Some(&d), None), now());
        assert_ne!(cond(&s, "Ready").0, "True");
    }

    #[test]
    fn zero_replicas_is_ready_and_scaled_to_zero() {
        let d = deployment(0, 0, 0, 0);
        let s = app(&observed(Some(&d), None), now());
        assert_eq!(s.phase.as_deref(), Some("ScaledToZero"));
        assert_eq!(cond(&s, "Ready"), ("True", "ScaledToZero"));
    }

    #[test]
    fn a_source_problem_is_degraded_with_its_reason_and_keeps_the_old_deployment_visible() {
        let p = Problem::source(
            "ConfigMapNotFound",
            "source.configMapRef: ConfigMap \"c\" not found",
        );
        let s = app(&observed(None, Some(&p)), now());
        assert_eq!(s.phase.as_deref(), Some("Degraded"));
        assert_eq!(cond(&s, "Degraded"), ("True", "ConfigMapNotFound"));
        assert_eq!(cond(&s, "SourceReady"), ("False", "ConfigMapNotFound"));
        assert_eq!(s.message.as_deref(), Some(p.message.as_str()));
        let d = deployment(1, 1, 1, 1);
        let spec_problem = Problem::spec("InvalidQuantity", "resources.cpu: bad");
        let s = app(&observed(Some(&d), Some(&spec_problem)), now());
        assert_eq!(cond(&s, "SourceReady").0, "True");
        assert_eq!(cond(&s, "Ready").0, "True", "the old version still serves");
        assert_eq!(s.phase.as_deref(), Some("Degraded"));
    }

    #[test]
    fn progress_deadline_exceeded_is_degraded() {
        let mut d = deployment(1, 1, 1, 0);
        d.status.get_or_insert_default().conditions = Some(vec![DeploymentCondition {
            type_: "Progressing".into(),
            status: "False".into(),
            reason: Some("ProgressDeadlineExceeded".into()),
            message: Some("ReplicaSet web-1 has timed out progressing.".into()),
            ..Default::default()
        }]);
        let s = app(&observed(Some(&d), None), now());
        assert_eq!(cond(&s, "Degraded"), ("True", "ProgressDeadlineExceeded"));
    }

    #[test]
    fn identical_observations_give_identical_status() {
        let d = deployment(1, 1, 1, 1);
        let first = app(&observed(Some(&d), None), now());
        let mut o = observed(Some(&d), None);
        o.previous = Some(&first);
        let later = app(&o, Timestamp::from_second(2_000).expect("valid"));
        assert_eq!(first, later, "no status write when nothing changed");
    }

    fn job_with(conds: &[(&str, &str)], active: i32) -> Job {
        Job {
            status: Some(JobStatus {
                active: Some(active),
                conditions: Some(
                    conds
                        .iter()
                        .map(|(t, s)| JobCondition {
                            type_: t.to_string(),
                            status: s.to_string(),
                            ..Default::default()
                        })
                        .collect(),
                ),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn job_phase_is_failed_only_when_the_job_is() {
        assert_eq!(job_phase(&job_with(&[], 0)), "Pending");
        assert_eq!(job_phase(&job_with(&[], 1)), "Running");
        // FailureTarget is not terminal yet: the Job controller still has pods to clean up.
        assert_eq!(
            job_phase(&job_with(&[("FailureTarget", "True")], 1)),
            "Running"
        );
        assert_eq!(job_phase(&job_with(&[("Failed", "False")], 0)), "Pending");
        assert_eq!(job_phase(&job_with(&[("Failed", "True")], 0)), "Failed");
        assert_eq!(
            job_phase(&job_with(
                &[("SuccessCriteriaMet", "True"), ("Complete", "True")],
                0
            )),
            "Succeeded"
        );
    }

    #[test]
    fn a_finished_job_keeps_its_result_after_ttl_removed_the_job() {
        let j = job_with(&[("Complete", "True")], 0);
        let o = JobObserved {
            generation: Some(1),
            job: Some(&j),
            problem: None,
            image: None,
            spec_hash: Some("h".into()),
            previous: None,
        };
        let done = job(&o, now());
        assert_eq!(done.phase.as_deref(), Some("Succeeded"));
        let gone = JobObserved {
            job: None,
            previous: Some(&done),
            ..o
        };
        let after = job(&gone, now());
        assert_eq!(after.phase.as_deref(), Some("Succeeded"));
        assert_eq!(after.conditions, done.conditions);
    }
}
