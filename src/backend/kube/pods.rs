//! What an app's pods say that its PrisnApp status does not: restarts, and a container that
//! crash-loops or cannot be pulled. Pods run under `Running` while their container waits in
//! `CrashLoopBackOff`; like `kubectl get pods`, prisn shows the container's reason instead,
//! and an app that is not fully ready because of it is `CrashLoopBackOff`, the word local mode
//! uses.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use prisn_api::labels::APP_KEY;

use crate::backend::Workload;
use crate::deploy::crashloop::crash_looping;

/// A pod's state as `kubectl get pods` shows it: a container's waiting or terminated reason
/// (`CrashLoopBackOff`, `ImagePullBackOff`, `Completed`, …) when it has one, else the pod's
/// phase.
pub fn state(p: &Pod) -> String {
    let status = p.status.as_ref();
    let reason = status
        .and_then(|s| s.container_statuses.as_ref())
        .into_iter()
        .flatten()
        .find_map(|c| {
            let s = c.state.as_ref()?;
            s.waiting
                .as_ref()
                .and_then(|w| w.reason.clone())
                .or_else(|| s.terminated.as_ref().and_then(|t| t.reason.clone()))
        });
    reason
        .or_else(|| status.and_then(|s| s.phase.clone()))
        .unwrap_or_else(|| "Pending".into())
}

/// How often a pod's containers have restarted.
pub fn restarts(p: &Pod) -> u32 {
    p.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .into_iter()
        .flatten()
        .map(|c| c.restart_count.max(0) as u32)
        .sum()
}

/// Add what `pods` (of any apps) say to the app rows in `rows`: restarts, and
/// `CrashLoopBackOff` for an app short of ready pods while one of them crash-loops.
pub fn annotate(rows: &mut [Workload], pods: &[Pod]) {
    let mut by_app: BTreeMap<&str, Vec<&Pod>> = BTreeMap::new();
    for p in pods {
        if let Some(app) = p.labels().get(APP_KEY) {
            by_app.entry(app.as_str()).or_default().push(p);
        }
    }
    for w in rows.iter_mut() {
        let Some(pods) = by_app.get(w.name.as_str()) else {
            continue;
        };
        w.restarts = pods.iter().map(|p| restarts(p)).sum();
        let crashing = pods.iter().find(|p| crash_looping(p).is_some());
        if let Some(p) = crashing
            && w.ready < w.desired
        {
            w.phase = "CrashLoopBackOff".into();
            w.message = Some(format!(
                "pod {} keeps exiting ({} restarts); `prisn logs {}` shows its output",
                p.name_any(),
                restarts(p),
                w.name
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::{
        ContainerState, ContainerStateRunning, ContainerStateWaiting, ContainerStatus, PodStatus,
    };
    use kube::api::ObjectMeta;

    use super::*;
    use crate::backend::Kind;

    fn pod(name: &str, app: &str, waiting: Option<&str>, restarts: i32) -> Pod {
        let state = match waiting {
            Some(r) => ContainerState {
                waiting: Some(ContainerStateWaiting {
                    reason: Some(r.into()),
                    message: None,
                }),
                ..Default::default()
            },
            None => ContainerState {
                running: Some(ContainerStateRunning::default()),
                ..Default::default()
            },
        };
        Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                labels: Some([(APP_KEY.to_string(), app.to_string())].into()),
                ..Default::default()
            },
            status: Some(PodStatus {
                phase: Some("Running".into()),
                container_statuses: Some(vec![ContainerStatus {
                    name: "app".into(),
                    state: Some(state),
                    restart_count: restarts,
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn app(name: &str, desired: u32, ready: u32) -> Workload {
        let mut w = super::super::view::row(name.into(), Kind::App, &Default::default(), None, "t");
        (w.desired, w.ready, w.phase) = (desired, ready, "Progressing".into());
        w
    }

    #[test]
    fn a_waiting_container_is_what_the_pod_shows() {
        assert_eq!(
            state(&pod("p", "a", Some("CrashLoopBackOff"), 3)),
            "CrashLoopBackOff"
        );
        assert_eq!(
            state(&pod("p", "a", Some("ImagePullBackOff"), 0)),
            "ImagePullBackOff"
        );
        assert_eq!(state(&pod("p", "a", None, 0)), "Running");
        assert_eq!(state(&Pod::default()), "Pending");
    }

    #[test]
    fn an_app_short_of_ready_pods_with_one_crash_looping_is_crash_loop_back_off() {
        let pods = [
            pod("a-1", "a", Some("CrashLoopBackOff"), 4),
            pod("a-2", "a", None, 1),
            pod("b-1", "b", Some("CrashLoopBackOff"), 2),
            pod("c-1", "c", None, 0),
        ];
        // a: 1 of 2 ready; b: 1 of 1 ready (the crashing pod is an old one going away); c: fine.
        let mut rows = [app("a", 2, 1), app("b", 1, 1), app("c", 1, 1)];
        annotate(&mut rows, &pods);
        assert_eq!(
            (rows[0].phase.as_str(), rows[0].restarts),
            ("CrashLoopBackOff", 5)
        );
        assert!(rows[0].message.as_deref().unwrap().contains("pod a-1"));
        assert_eq!(
            (rows[1].phase.as_str(), rows[1].restarts),
            ("Progressing", 2)
        );
        assert_eq!(
            (rows[2].phase.as_str(), rows[2].restarts),
            ("Progressing", 0)
        );
    }
}
