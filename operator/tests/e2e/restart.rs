use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Service;
use kube::ResourceExt;
use kube::api::{Api, ListParams, Patch, PatchParams};
use prisn_operator::crd::{PrisnAppSpec, Source};
use prisn_operator::{PrisnApp, labels};
use prisn_testsupport::testbed::{self, TestNamespace};

use crate::common::*;

/// The real binary, scoped to the test's namespace, with the test bed's kubeconfig.
fn spawn_operator(ns: &TestNamespace) -> Child {
    Command::new(env!("CARGO_BIN_EXE_prisn-operator"))
        .args([
            "--namespace",
            &ns.name,
            "--metrics-bind-address",
            "0",
            "--health-probe-bind-address",
            "0",
        ])
        .env("KUBECONFIG", testbed::kubeconfig_path())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start prisn-operator")
}

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn web(i: usize) -> PrisnApp {
    app(
        &format!("web-{i:02}"),
        PrisnAppSpec {
            source: Source::image(IMAGE),
            port: Some(8000),
            ..Default::default()
        },
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarting_mid_way_converges_without_duplicates() {
    let Some(ns) = setup("op-restart").await else {
        return;
    };
    let first = Killed(spawn_operator(&ns));
    for i in 0..10 {
        create(&ns, &web(i)).await.expect("app");
    }
    let deployments: Api<Deployment> = ns.api();
    let managed = ListParams::default().labels(labels::MANAGED_SELECTOR);
    until("the first operator made some Deployments", || async {
        Ok(!deployments.list(&managed).await?.items.is_empty())
    })
    .await
    .expect("first operator works");
    drop(first); // SIGKILL: no graceful shutdown, reconciles cut off wherever they were.

    // While no operator runs: more apps, and a change to an existing one.
    for i in 10..20 {
        create(&ns, &web(i)).await.expect("app");
    }
    let apps: Api<PrisnApp> = ns.api();
    apps.patch(
        "web-00",
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"spec": {"replicas": 2}})),
    )
    .await
    .expect("edit while down");

    let _second = Killed(spawn_operator(&ns));
    until("all 20 apps Ready", || async {
        let list = apps.list(&ListParams::default()).await?;
        Ok(list.items.len() == 20
            && list.items.iter().all(|a| {
                a.status
                    .as_ref()
                    .is_some_and(prisn_operator::status::app_is_ready)
                    && a.status.as_ref().and_then(|s| s.observed_generation)
                        == a.metadata.generation
            }))
    })
    .await
    .expect("converges after restart");

    let count = |names: Vec<String>| {
        let mut m: BTreeMap<String, usize> = BTreeMap::new();
        for n in names {
            *m.entry(n).or_default() += 1;
        }
        m
    };
    let by_app = |items: Vec<BTreeMap<String, String>>| {
        count(
            items
                .into_iter()
                .map(|l| l.get(labels::APP_KEY).cloned().unwrap_or_default())
                .collect(),
        )
    };
    let d = deployments.list(&managed).await.expect("list");
    assert_eq!(d.items.len(), 20, "one Deployment per app");
    assert!(
        by_app(d.items.iter().map(|x| x.labels().clone()).collect())
            .values()
            .all(|n| *n == 1)
    );
    let s = ns.api::<Service>().list(&managed).await.expect("list");
    assert_eq!(s.items.len(), 20, "one Service per app");
    // A restart must not change pod templates: exactly one ReplicaSet per app.
    let rs = ns
        .api::<ReplicaSet>()
        .list(&ListParams::default().labels("prisn.io/kind=app"))
        .await
        .expect("list");
    let per_app = by_app(rs.items.iter().map(|x| x.labels().clone()).collect());
    assert_eq!(per_app.len(), 20);
    assert!(per_app.values().all(|n| *n == 1), "{per_app:?}");
    let w0 = deployments.get("web-00").await.expect("web-00");
    assert_eq!(
        w0.spec.and_then(|s| s.replicas),
        Some(2),
        "the edit made while down is applied"
    );
}
