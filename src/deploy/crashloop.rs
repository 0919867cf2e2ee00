//! `--wait` on an app whose new pods crash-loop fails at once, as local mode does, instead of
//! at the timeout: kubelet's `CrashLoopBackOff` on a container of the Deployment's newest
//! ReplicaSet, with that container's output from its last run.
//!
//! Only the ReplicaSet of the Deployment's current revision counts, and only once the
//! Deployment controller has seen the latest template: while a good release (or a rollback)
//! replaces a crashing one, the old pods still crash-loop, and that must not fail it. The
//! caller asks only once the operator has reconciled the applied spec into the Deployment. Best
//! effort: whatever cannot be read (a user allowed to read pods but not Deployments) just means
//! waiting on, as before, until the app is ready or the timeout.

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use kube::ResourceExt;
use kube::api::{Api, ListParams, LogParams};
use prisn_api::labels::APP_KEY;

/// The label Deployments put on their ReplicaSets and pods.
const TEMPLATE_HASH: &str = "pod-template-hash";
/// The annotation with the revision of a Deployment (its current ReplicaSet's) and of each
/// of its ReplicaSets in its rollout history.
const REVISION: &str = "deployment.kubernetes.io/revision";

/// Why app `name`'s rollout cannot succeed, if one of its newest pods crash-loops: the pod, the
/// container, its last exit, its restarts, and the output of its last run.
pub async fn check(client: &kube::Client, namespace: &str, name: &str) -> Option<String> {
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), namespace);
    let deployment = deployments.get(name).await.ok()?;
    let seen = deployment.status.as_ref()?.observed_generation;
    if seen.is_none() || seen != deployment.metadata.generation {
        return None;
    }
    let current = deployment.annotations().get(REVISION)?.clone();
    let selector = format!("{APP_KEY}={name}");
    let sets: Api<ReplicaSet> = Api::namespaced(client.clone(), namespace);
    let set = sets
        .list(&ListParams::default().labels(&selector))
        .await
        .ok()?
        .items
        .into_iter()
        .find(|rs| rs.annotations().get(REVISION) == Some(&current))?;
    let hash = set.labels().get(TEMPLATE_HASH)?.clone();
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let list = pods
        .list(&ListParams::default().labels(&format!("{selector},{TEMPLATE_HASH}={hash}")))
        .await
        .ok()?;
    let (pod, container) = list
        .items
        .iter()
        .find_map(|p| crash_looping(p).map(|c| (p, c)))?;
    let mut msg = format!(
        "PrisnApp {name} is CrashLoopBackOff: container {} of pod {} {}, restarted {} time(s)",
        container.name,
        pod.name_any(),
        last_exit(container),
        container.restart_count
    );
    // The crashed run's output (the container's previous instance; the current one waits).
    let params = LogParams {
        container: Some(container.name.clone()),
        previous: true,
        tail_lines: Some(super::output::LINES),
        ..Default::default()
    };
    msg.push_str(&super::output::last(&pods, &pod.name_any(), &params).await);
    Some(msg)
}

/// The container of `pod` that kubelet holds in `CrashLoopBackOff`, if one is.
pub fn crash_looping(pod: &Pod) -> Option<&ContainerStatus> {
    let statuses = pod.status.as_ref()?.container_statuses.as_ref()?;
    statuses.iter().find(|c| {
        c.state
            .as_ref()
            .and_then(|s| s.waiting.as_ref())
            .and_then(|w| w.reason.as_deref())
            == Some("CrashLoopBackOff")
    })
}

/// "exited with code 3 (Error)", from the container's last termination.
fn last_exit(c: &ContainerStatus) -> String {
    match c.last_state.as_ref().and_then(|s| s.terminated.as_ref()) {
        Some(t) => format!(
            "exited with code {}{}",
            t.exit_code,
            t.reason
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        ),
        None => "keeps exiting".into(),
    }
}
