//! The test bed itself: a real control plane with kwok nodes must run
//! Deployments, finish Jobs, fire CronJobs and garbage-collect children.
//! Needs `tests/testbed/testbed.sh up` (skips loudly without it; fails under tests/run.sh and in CI).

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{ConfigMap, Node, Pod};
use k8s_openapi::serde::de::DeserializeOwned;
use kube::api::{DeleteParams, ListParams, LogParams, PostParams};
use kube::{Api, Resource, ResourceExt};
use prisn_testsupport::testbed::{self, TestNamespace, eventually};
use serde_json::json;

const T: Duration = Duration::from_secs(60);

fn obj<K: DeserializeOwned>(v: serde_json::Value) -> K {
    serde_json::from_value(v).expect("valid object")
}

fn pod_template(app: &str, labels: serde_json::Value, restart: &str) -> serde_json::Value {
    let mut l = json!({ "app": app });
    if let Some(extra) = labels.as_object() {
        for (k, v) in extra {
            l[k] = v.clone();
        }
    }
    json!({
        "metadata": { "labels": l },
        "spec": {
            "restartPolicy": restart,
            "containers": [{ "name": "main", "image": "registry.invalid/prisn/none:1" }]
        }
    })
}

async fn pods_with(ns: &TestNamespace, selector: &str) -> Result<Vec<Pod>> {
    let pods: Api<Pod> = ns.api();
    Ok(pods
        .list(&ListParams::default().labels(selector))
        .await?
        .items)
}

fn phase(p: &Pod) -> &str {
    p.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

fn exit_code(p: &Pod) -> Option<i32> {
    p.status
        .as_ref()?
        .container_statuses
        .as_ref()?
        .first()?
        .state
        .as_ref()?
        .terminated
        .as_ref()
        .map(|t| t.exit_code)
}

fn job_condition(j: &Job, ty: &str) -> bool {
    j.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == ty && c.status == "True"))
}

#[tokio::test]
async fn kwok_node_is_ready() -> Result<()> {
    let Some(client) = testbed::client().await else {
        return Ok(());
    };
    let nodes: Api<Node> = Api::all(client);
    let list = nodes
        .list(&ListParams::default().labels("type=kwok"))
        .await?;
    assert!(!list.items.is_empty(), "no kwok node registered");
    for n in &list.items {
        let ready = n
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
        assert!(ready, "node {} is not Ready", n.name_any());
    }
    Ok(())
}

#[tokio::test]
async fn deployment_runs_three_pods_on_the_kwok_node() -> Result<()> {
    let Some(ns) = testbed::namespace("tb-deploy").await else {
        return Ok(());
    };
    let deploys: Api<Deployment> = ns.api();
    let start = Instant::now();
    deploys
        .create(
            &PostParams::default(),
            &obj(json!({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": { "name": "web" },
                "spec": {
                    "replicas": 3,
                    "selector": { "matchLabels": { "app": "web" } },
                    "template": pod_template("web", json!({}), "Always"),
                }
            })),
        )
        .await?;
    let running = eventually("3 Running pods of Deployment web", T, || async {
        let pods = pods_with(&ns, "app=web").await?;
        let running: Vec<Pod> = pods.into_iter().filter(|p| phase(p) == "Running").collect();
        Ok((running.len() == 3).then_some(running))
    })
    .await?;
    let took = start.elapsed();
    eprintln!("testbed figure: 3-replica Deployment -> 3 Running pods in {took:.2?}");
    for p in &running {
        let node = p
            .spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .unwrap_or_default();
        assert!(
            node.starts_with("kwok-node-"),
            "pod {} on node {node:?}",
            p.name_any()
        );
        let ready = p
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
        assert!(ready, "pod {} Running but not Ready", p.name_any());
    }
    // The Deployment controller sees them too.
    eventually("Deployment web reports 3 available replicas", T, || async {
        let d = deploys.get("web").await?;
        let avail = d.status.and_then(|s| s.available_replicas).unwrap_or(0);
        Ok((avail == 3).then_some(()))
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn job_reaches_complete() -> Result<()> {
    let Some(ns) = testbed::namespace("tb-job").await else {
        return Ok(());
    };
    let jobs: Api<Job> = ns.api();
    jobs.create(
        &PostParams::default(),
        &obj(json!({
            "apiVersion": "batch/v1", "kind": "Job",
            "metadata": { "name": "once" },
            "spec": { "backoffLimit": 0, "template": pod_template("once", json!({}), "Never") }
        })),
    )
    .await?;
    eventually("Job once Complete", T, || async {
        Ok(job_condition(&jobs.get("once").await?, "Complete").then_some(()))
    })
    .await?;
    let pods = pods_with(&ns, "app=once").await?;
    assert_eq!(pods.len(), 1);
    assert_eq!(phase(&pods[0]), "Succeeded");
    assert_eq!(exit_code(&pods[0]), Some(0));
    Ok(())
}

#[tokio::test]
async fn job_with_failing_pod_reaches_failed() -> Result<()> {
    let Some(ns) = testbed::namespace("tb-jobfail").await else {
        return Ok(());
    };
    let jobs: Api<Job> = ns.api();
    let mut template = pod_template("boom", json!({ testbed::OUTCOME_LABEL: "fail" }), "Never");
    template["metadata"]["annotations"] = json!({ testbed::EXIT_CODE_ANNOTATION: "3" });
    jobs.create(
        &PostParams::default(),
        &obj(json!({
            "apiVersion": "batch/v1", "kind": "Job",
            "metadata": { "name": "boom" },
            "spec": { "backoffLimit": 0, "template": template }
        })),
    )
    .await?;
    eventually("Job boom Failed", T, || async {
        Ok(job_condition(&jobs.get("boom").await?, "Failed").then_some(()))
    })
    .await?;
    let pods = pods_with(&ns, "app=boom").await?;
    assert!(!pods.is_empty());
    assert_eq!(phase(&pods[0]), "Failed");
    assert_eq!(exit_code(&pods[0]), Some(3));
    Ok(())
}

#[tokio::test]
async fn labelled_bare_pod_succeeds_and_serves_logs() -> Result<()> {
    let Some(ns) = testbed::namespace("tb-pod").await else {
        return Ok(());
    };
    let pods: Api<Pod> = ns.api();
    let mut pod = pod_template(
        "bare",
        json!({ testbed::OUTCOME_LABEL: "succeed" }),
        "Never",
    );
    pod["apiVersion"] = json!("v1");
    pod["kind"] = json!("Pod");
    pod["metadata"]["name"] = json!("bare");
    pod["metadata"]["annotations"] = json!({ testbed::DURATION_ANNOTATION: "2s" });
    pods.create(&PostParams::default(), &obj(pod)).await?;
    // Running first (for the duration), then Succeeded.
    eventually("pod bare Running", T, || async {
        Ok((phase(&pods.get("bare").await?) == "Running").then_some(()))
    })
    .await?;
    // Logs go API server -> kwok's kubelet server on 127.0.0.1.
    let logs = pods
        .logs("bare", &LogParams::default())
        .await
        .context("GET pods/bare/log")?;
    assert!(logs.contains("kwok fake container log"), "logs: {logs:?}");
    let p = eventually("pod bare Succeeded", T, || async {
        let p = pods.get("bare").await?;
        Ok((phase(&p) == "Succeeded").then_some(p))
    })
    .await?;
    assert_eq!(exit_code(&p), Some(0));
    Ok(())
}

#[tokio::test]
async fn cronjob_creates_a_job() -> Result<()> {
    let Some(ns) = testbed::namespace("tb-cron").await else {
        return Ok(());
    };
    let crons: Api<CronJob> = ns.api();
    let cron = crons
        .create(
            &PostParams::default(),
            &obj(json!({
                "apiVersion": "batch/v1", "kind": "CronJob",
                "metadata": { "name": "tick" },
                "spec": {
                    "schedule": "* * * * *",
                    "jobTemplate": { "spec": { "backoffLimit": 0, "template": pod_template("tick", json!({}), "Never") } }
                }
            })),
        )
        .await?;
    let uid = cron.uid().expect("uid");
    let jobs: Api<Job> = ns.api();
    // A "* * * * *" schedule fires at the next minute boundary.
    let job = eventually(
        "CronJob tick creates a Job",
        Duration::from_secs(100),
        || async {
            let list = jobs.list(&ListParams::default()).await?;
            Ok(list.items.into_iter().find(|j| {
                j.owner_references()
                    .iter()
                    .any(|o| o.uid == uid && o.kind == "CronJob")
            }))
        },
    )
    .await?;
    let name = job.name_any();
    eventually("the CronJob's Job completes", T, || async {
        Ok(job_condition(&jobs.get(&name).await?, "Complete").then_some(()))
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn deleting_an_owner_garbage_collects_its_children() -> Result<()> {
    let Some(ns) = testbed::namespace("tb-gc").await else {
        return Ok(());
    };
    // Built-in chain: Deployment -> ReplicaSet -> Pods.
    let deploys: Api<Deployment> = ns.api();
    deploys
        .create(
            &PostParams::default(),
            &obj(json!({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": { "name": "gc" },
                "spec": {
                    "replicas": 2,
                    "selector": { "matchLabels": { "app": "gc" } },
                    "template": pod_template("gc", json!({}), "Always"),
                }
            })),
        )
        .await?;
    eventually("2 Running pods of Deployment gc", T, || async {
        let pods = pods_with(&ns, "app=gc").await?;
        Ok((pods.iter().filter(|p| phase(p) == "Running").count() == 2).then_some(()))
    })
    .await?;
    let rss: Api<ReplicaSet> = ns.api();
    assert_eq!(rss.list(&ListParams::default()).await?.items.len(), 1);
    deploys.delete("gc", &DeleteParams::background()).await?;
    eventually("ReplicaSet and pods of gc collected", T, || async {
        let rs = rss.list(&ListParams::default()).await?.items.len();
        let pods = pods_with(&ns, "app=gc").await?.len();
        Ok((rs == 0 && pods == 0).then_some(()))
    })
    .await?;

    // Any owner reference, as the operator sets them on its children.
    let cms: Api<ConfigMap> = ns.api();
    let owner = cms
        .create(
            &PostParams::default(),
            &obj(
                json!({ "apiVersion": "v1", "kind": "ConfigMap", "metadata": { "name": "owner" } }),
            ),
        )
        .await?;
    let owner_ref = owner.controller_owner_ref(&()).expect("owner ref");
    let mut child: ConfigMap =
        obj(json!({ "apiVersion": "v1", "kind": "ConfigMap", "metadata": { "name": "child" } }));
    child.meta_mut().owner_references = Some(vec![owner_ref]);
    cms.create(&PostParams::default(), &child).await?;
    cms.delete("owner", &DeleteParams::foreground()).await?;
    eventually("ConfigMap child collected", T, || async {
        Ok(cms.get_opt("child").await?.is_none().then_some(()))
    })
    .await?;
    Ok(())
}
