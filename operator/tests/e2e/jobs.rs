use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::batch::v1::{CronJob, Job};
use kube::api::{Api, ListParams};
use prisn_operator::crd::{PrisnCronJobSpec, PrisnJobSpec, Runtime, Source};
use prisn_operator::{PrisnCronJob, PrisnJob};
use prisn_testsupport::testbed::OUTCOME_LABEL;

use crate::common::*;

fn job(name: &str, spec: PrisnJobSpec) -> PrisnJob {
    PrisnJob::new(name, spec)
}

fn phase(j: &PrisnJob) -> Option<String> {
    phase_of(j.status.as_ref())
}

/// kwok ends every Job's pod Succeeded whatever the script says, so this test claims only
/// what kwok cannot fake: the Job's deadline/backoff/TTL, and a PrisnJob status that mirrors
/// its Job's. That the script runs and succeeds is proved on the real node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_gets_deadline_and_backoff_and_mirrors_its_jobs_completion() {
    let Some(ns) = setup("op-job-ok").await else {
        return;
    };
    let _op = Operator::start(&ns);
    let spec = PrisnJobSpec {
        source: Source::inline("echo done"),
        runtime: Some(Runtime::Bash),
        timeout: Some("1h".into()),
        backoff_limit: Some(0),
        ttl_seconds_after_finished: Some(3600),
        ..Default::default()
    };
    create(&ns, &job("once", spec)).await.expect("job");
    let j: PrisnJob = wait_for(&ns, "once", "Succeeded", |j: &PrisnJob| {
        phase(j).as_deref() == Some("Succeeded")
    })
    .await
    .expect("succeeds");
    let st = j.status.expect("status");
    assert!(
        st.conditions
            .iter()
            .any(|c| c.type_ == "Complete" && c.status == "True")
    );
    let batch: Job = ns.api::<Job>().get("once").await.expect("batch job");
    let bs = batch.status.clone().expect("the Job's status");
    assert!(
        bs.conditions
            .unwrap_or_default()
            .iter()
            .any(|c| c.type_ == "Complete" && c.status == "True"),
        "PrisnJob is Succeeded only when its Job is Complete"
    );
    assert_eq!(
        (st.succeeded, st.failed),
        (bs.succeeded.unwrap_or(0), bs.failed.unwrap_or(0))
    );
    assert_eq!(
        (st.start_time, st.completion_time),
        (bs.start_time, bs.completion_time)
    );
    let s = batch.spec.expect("spec");
    assert_eq!(
        (
            s.active_deadline_seconds,
            s.backoff_limit,
            s.ttl_seconds_after_finished
        ),
        (Some(3600), Some(0), Some(3600))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_pod_fails_ends_failed() {
    let Some(ns) = setup("op-job-fail").await else {
        return;
    };
    let _op = Operator::start(&ns);
    let mut pj = job(
        "broken",
        PrisnJobSpec {
            source: Source::image(IMAGE),
            backoff_limit: Some(0),
            ..Default::default()
        },
    );
    // kwok makes pods with this label fail; the PrisnJob's labels reach its pods.
    pj.metadata.labels = Some(BTreeMap::from([(
        OUTCOME_LABEL.to_string(),
        "fail".to_string(),
    )]));
    create(&ns, &pj).await.expect("job");
    // Running (or Pending) first, never Failed before the Job itself fails.
    let j: PrisnJob = wait_for(&ns, "broken", "Failed", |j: &PrisnJob| {
        phase(j).as_deref() == Some("Failed")
    })
    .await
    .expect("fails");
    let batch: Job = ns.api::<Job>().get("broken").await.expect("batch job");
    assert!(
        batch
            .status
            .and_then(|s| s.conditions)
            .unwrap_or_default()
            .iter()
            .any(|c| c.type_ == "Failed" && c.status == "True"),
        "PrisnJob is Failed only when the Job is"
    );
    let st = j.status.expect("status");
    assert_eq!(st.failed, 1);
    assert!(
        st.conditions
            .iter()
            .any(|c| c.type_ == "Failed" && c.status == "True")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cronjob_makes_a_cronjob_that_makes_jobs() {
    let Some(ns) = setup("op-cron").await else {
        return;
    };
    let _op = Operator::start(&ns);
    let spec = PrisnCronJobSpec {
        schedule: "* * * * *".into(),
        job_template: PrisnJobSpec {
            source: Source::image(IMAGE),
            backoff_limit: Some(0),
            ..Default::default()
        },
        ..Default::default()
    };
    create(&ns, &PrisnCronJob::new("tick", spec))
        .await
        .expect("cronjob");
    let cj: CronJob = wait_for(&ns, "tick", "exists", |_: &CronJob| true)
        .await
        .expect("CronJob");
    let s = cj.spec.expect("spec");
    assert_eq!(s.schedule, "* * * * *");
    assert_eq!(s.concurrency_policy.as_deref(), Some("Forbid"));
    wait_for(&ns, "tick", "Scheduled", |c: &PrisnCronJob| {
        phase_of(c.status.as_ref()).as_deref() == Some("Scheduled")
    })
    .await
    .expect("scheduled");

    // The CronJob controller starts a Job at the next minute boundary.
    let jobs: Api<Job> = ns.api();
    eventually(
        "a Job made by the CronJob",
        Duration::from_secs(100),
        || {
            let jobs = jobs.clone();
            async move {
                let list = jobs
                    .list(&ListParams::default().labels("prisn.io/app=tick"))
                    .await?;
                Ok(list.items.into_iter().find(|j| {
                    j.metadata
                        .owner_references
                        .iter()
                        .flatten()
                        .any(|o| o.kind == "CronJob")
                }))
            }
        },
    )
    .await
    .expect("the CronJob runs");
    wait_for(&ns, "tick", "a last schedule time", |c: &PrisnCronJob| {
        c.status
            .as_ref()
            .is_some_and(|s| s.last_schedule_time.is_some())
    })
    .await
    .expect("status mirrors the CronJob");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_job_removed_by_ttl_is_not_run_again() {
    let Some(ns) = setup("op-job-ttl").await else {
        return;
    };
    let op = Operator::start(&ns);
    let spec = PrisnJobSpec {
        source: Source::image(IMAGE),
        ttl_seconds_after_finished: Some(0),
        ..Default::default()
    };
    create(&ns, &job("short-lived", spec)).await.expect("job");
    wait_for(&ns, "short-lived", "Succeeded", |j: &PrisnJob| {
        phase(j).as_deref() == Some("Succeeded")
    })
    .await
    .expect("succeeds");
    let jobs: Api<Job> = ns.api();
    until("the TTL controller removed the Job", || async {
        Ok(jobs.get_opt("short-lived").await?.is_none())
    })
    .await
    .expect("job removed");
    // Wait for the operator to look at it with the Job gone (not for a time), then check
    // that it did not make a new one.
    reconciled_since_now::<PrisnJob>(&ns, &op, "prisnjob", "short-lived").await;
    assert!(
        jobs.get_opt("short-lived").await.expect("get").is_none(),
        "no second run"
    );
    let pj: PrisnJob = ns
        .api::<PrisnJob>()
        .get("short-lived")
        .await
        .expect("prisnjob");
    assert_eq!(
        phase(&pj).as_deref(),
        Some("Succeeded"),
        "the record of the run stays"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_spec_replaces_the_job() {
    let Some(ns) = setup("op-job-new").await else {
        return;
    };
    let _op = Operator::start(&ns);
    let spec = PrisnJobSpec {
        source: Source::image(IMAGE),
        args: vec!["v1".into()],
        ..Default::default()
    };
    create(&ns, &job("rerun", spec)).await.expect("job");
    wait_for(&ns, "rerun", "Succeeded", |j: &PrisnJob| {
        phase(j).as_deref() == Some("Succeeded")
    })
    .await
    .expect("first run");
    let jobs: Api<Job> = ns.api();
    let first_uid = jobs.get("rerun").await.expect("job").metadata.uid;
    let api: Api<PrisnJob> = ns.api();
    api.patch(
        "rerun",
        &kube::api::PatchParams::default(),
        &kube::api::Patch::Merge(serde_json::json!({"spec": {"args": ["v2"]}})),
    )
    .await
    .expect("new args");
    let second: Job = wait_for(&ns, "rerun", "a new Job", |j: &Job| {
        j.metadata.uid != first_uid
    })
    .await
    .expect("replaced");
    let args = second
        .spec
        .and_then(|s| s.template.spec)
        .map(|p| p.containers[0].args.clone());
    assert_eq!(args, Some(Some(vec!["v2".to_string()])));
    wait_for(&ns, "rerun", "Succeeded again", |j: &PrisnJob| {
        phase(j).as_deref() == Some("Succeeded")
            && j.status.as_ref().and_then(|s| s.observed_generation) == j.metadata.generation
    })
    .await
    .expect("second run");
}
