use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Service};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use prisn_operator::crd::{PrisnAppSpec, Runtime, Source, Storage, StorageReclaimPolicy};
use prisn_operator::{PrisnApp, labels};

use crate::common::*;

fn ready(a: &PrisnApp) -> bool {
    a.status
        .as_ref()
        .is_some_and(prisn_operator::status::app_is_ready)
        && a.status.as_ref().and_then(|s| s.observed_generation) == a.metadata.generation
}

fn code_hash(d: &Deployment) -> Option<String> {
    d.spec
        .as_ref()?
        .template
        .metadata
        .as_ref()?
        .annotations
        .as_ref()?
        .get(labels::CODE_HASH_ANNOTATION)
        .cloned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changing_the_configmap_rolls_the_deployment() {
    let Some(ns) = setup("op-roll").await else {
        return;
    };
    let _op = Operator::start(&ns);
    let cm = ConfigMap {
        metadata: kube::api::ObjectMeta {
            name: Some("roll-code".into()),
            ..Default::default()
        },
        data: Some(BTreeMap::from([(
            "main.py".to_string(),
            "print('v1')".to_string(),
        )])),
        ..Default::default()
    };
    create(&ns, &cm).await.expect("configmap");
    create(
        &ns,
        &app(
            "roll",
            PrisnAppSpec {
                source: Source::config_map("roll-code"),
                runtime: Some(Runtime::Python3),
                ..Default::default()
            },
        ),
    )
    .await
    .expect("app");
    wait_for(&ns, "roll", "ready", ready).await.expect("ready");
    let deployments: Api<Deployment> = ns.api();
    let before = code_hash(&deployments.get("roll").await.expect("deployment")).expect("code hash");

    let cms: Api<ConfigMap> = ns.api();
    cms.patch(
        "roll-code",
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"data": {"main.py": "print('v2')"}})),
    )
    .await
    .expect("update code");
    let d: Deployment = wait_for(&ns, "roll", "new code hash", |d: &Deployment| {
        code_hash(d).is_some_and(|h| h != before)
    })
    .await
    .expect("pod template changed");
    let gen_ = d.metadata.generation;
    wait_for(&ns, "roll", "rolled out", |d: &Deployment| {
        let s = d.status.clone().unwrap_or_default();
        s.observed_generation >= gen_
            && s.updated_replicas == Some(1)
            && s.replicas == Some(1)
            && s.ready_replicas == Some(1)
    })
    .await
    .expect("rollout finished");
    let rs: Api<ReplicaSet> = ns.api();
    let sets = rs
        .list(&ListParams::default().labels("prisn.io/app=roll"))
        .await
        .expect("replicasets");
    assert_eq!(sets.items.len(), 2, "a new ReplicaSet for the new code");
    wait_for(&ns, "roll", "Ready again", |a: &PrisnApp| {
        ready(a)
            && a.status
                .as_ref()
                .is_some_and(|s| s.phase.as_deref() == Some("Running"))
    })
    .await
    .expect("ready after rollout");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_subresource_scales_the_app() {
    let Some(ns) = setup("op-scale").await else {
        return;
    };
    let op = Operator::start(&ns);
    create(
        &ns,
        &app(
            "scaled",
            PrisnAppSpec {
                source: Source::image(IMAGE),
                ..Default::default()
            },
        ),
    )
    .await
    .expect("app");
    wait_for(&ns, "scaled", "ready", ready)
        .await
        .expect("ready");
    let apps: Api<PrisnApp> = ns.api();
    let scale = apps.get_scale("scaled").await.expect("scale subresource");
    assert_eq!(
        scale
            .status
            .as_ref()
            .and_then(|s| s.selector.clone())
            .as_deref(),
        Some("prisn.io/app=scaled,prisn.io/kind=app")
    );

    apps.patch_scale(
        "scaled",
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"spec": {"replicas": 3}})),
    )
    .await
    .expect("kubectl scale --replicas=3");
    let a: PrisnApp = wait_for(&ns, "scaled", "3 ready", |a: &PrisnApp| {
        a.status
            .as_ref()
            .is_some_and(|s| s.ready_replicas == 3 && s.replicas == 3)
            && ready(a)
    })
    .await
    .expect("scaled up");
    assert_eq!(a.spec.replicas, Some(3));
    let scale = apps.get_scale("scaled").await.expect("scale");
    assert_eq!(scale.status.map(|s| s.replicas), Some(3));
    assert!(
        op.metrics.reconciles("prisnapp") > 0,
        "reconciles are counted"
    );

    // Scale to zero: allowed, and Ready (nothing should run).
    apps.patch_scale(
        "scaled",
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"spec": {"replicas": 0}})),
    )
    .await
    .expect("scale to zero");
    wait_for(&ns, "scaled", "scaled to zero", |a: &PrisnApp| {
        a.status
            .as_ref()
            .is_some_and(|s| s.replicas == 0 && s.phase.as_deref() == Some("ScaledToZero"))
            && ready(a)
    })
    .await
    .expect("zero");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_the_app_collects_children_but_keeps_retained_claims() {
    let Some(ns) = setup("op-gc").await else {
        return;
    };
    let _op = Operator::start(&ns);
    let spec = PrisnAppSpec {
        source: Source::image(IMAGE),
        port: Some(8080),
        storage: vec![
            Storage {
                name: "data".into(),
                mount_path: "/data".into(),
                size: Some("1Gi".into()),
                ..Default::default()
            },
            Storage {
                name: "scratch".into(),
                mount_path: "/scratch".into(),
                size: Some("1Gi".into()),
                reclaim_policy: Some(StorageReclaimPolicy::Delete),
                ..Default::default()
            },
        ],
        ..Default::default()
    };
    create(&ns, &app("gc", spec)).await.expect("app");
    // kwok binds no volumes, so the app stays Pending; the children are what matters here.
    let deployments: Api<Deployment> = ns.api();
    let services: Api<Service> = ns.api();
    let pvcs: Api<PersistentVolumeClaim> = ns.api();
    until("children exist", || async {
        Ok(deployments.get_opt("gc").await?.is_some()
            && services.get_opt("gc").await?.is_some()
            && pvcs.get_opt("gc-data").await?.is_some()
            && pvcs.get_opt("gc-scratch").await?.is_some())
    })
    .await
    .expect("children");
    assert!(
        pvcs.get("gc-data")
            .await
            .expect("pvc")
            .metadata
            .owner_references
            .is_none(),
        "retained claim has no owner"
    );

    let apps: Api<PrisnApp> = ns.api();
    apps.delete("gc", &DeleteParams::background())
        .await
        .expect("delete app");
    until("deployment and service collected", || async {
        Ok(deployments.get_opt("gc").await?.is_none() && services.get_opt("gc").await?.is_none())
    })
    .await
    .expect("garbage collection");
    until("reclaimPolicy Delete claim collected", || async {
        Ok(pvcs
            .get_opt("gc-scratch")
            .await?
            .is_none_or(|p| p.metadata.deletion_timestamp.is_some()))
    })
    .await
    .expect("owned claim deleted");
    let kept = pvcs.get_opt("gc-data").await.expect("get");
    assert!(
        kept.is_some_and(|p| p.metadata.deletion_timestamp.is_none()),
        "the data claim survives its app"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_to_a_child_are_reverted_and_a_deleted_child_comes_back() {
    let Some(ns) = setup("op-drift").await else {
        return;
    };
    let _op = Operator::start(&ns);
    create(
        &ns,
        &app(
            "drift",
            PrisnAppSpec {
                source: Source::image(IMAGE),
                port: Some(8080),
                ..Default::default()
            },
        ),
    )
    .await
    .expect("app");
    wait_for(&ns, "drift", "ready", ready).await.expect("ready");
    let deployments: Api<Deployment> = ns.api();
    let before = deployments
        .get("drift")
        .await
        .expect("d")
        .metadata
        .generation
        .unwrap_or(0);
    deployments
        .patch(
            "drift",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"replicas": 4}})),
        )
        .await
        .expect("someone scales the Deployment by hand");
    wait_for(&ns, "drift", "replicas back to 1", |d: &Deployment| {
        d.spec.as_ref().and_then(|s| s.replicas) == Some(1)
    })
    .await
    .expect("the operator reverts the edit");
    let after = deployments
        .get("drift")
        .await
        .expect("d")
        .metadata
        .generation
        .unwrap_or(0);
    assert!(
        after >= before + 2,
        "edited ({before} → {after}) and then reverted"
    );
    let services: Api<Service> = ns.api();
    services
        .delete("drift", &DeleteParams::default())
        .await
        .expect("someone deletes the Service");
    until("the Service is back", || async {
        Ok(services
            .get_opt("drift")
            .await?
            .is_some_and(|s| s.metadata.deletion_timestamp.is_none()))
    })
    .await
    .expect("the operator recreates its Service");
}
