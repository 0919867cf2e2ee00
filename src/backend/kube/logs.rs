//! `prisn logs` in Kubernetes mode: every pod of the workload, each line prefixed with the
//! pod's name; with `--follow`, pods that appear later (a rollout, the next cron run) join.

use std::collections::HashSet;
use std::io::Write;
use std::time::Duration;

use futures::{AsyncBufReadExt, TryStreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use kube::api::{Api, ListParams, LogParams};
use prisn_api::labels::APP_KEY;
use tokio::sync::mpsc;

use crate::backend::LogOptions;
use crate::deploy::client::{Cluster, KubeResult};

pub async fn logs(
    c: &Cluster,
    name: &str,
    opts: &LogOptions,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let ns = &c.namespace;
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), ns);
    let selector = ListParams::default().labels(&format!("{APP_KEY}={name}"));
    let params = LogParams {
        follow: opts.follow,
        tail_lines: opts.tail.map(|t| t as i64),
        since_seconds: opts.since.map(|d| d.as_secs().max(1) as i64),
        timestamps: opts.timestamps,
        ..Default::default()
    };
    let mut list = pods
        .list(&selector)
        .await
        .explain("list", "pods", ns)?
        .items;
    if list.is_empty() && !opts.follow {
        super::view::status(c, name).await?; // an unknown name gets the not-found message
        anyhow::bail!("{name} has no pods yet in namespace {ns}; `prisn status {name}` says why");
    }
    list.sort_by_key(|p| p.metadata.creation_timestamp.clone().map(|t| t.0));
    if !opts.follow {
        for pod in &list {
            let pod_name = pod.name_any();
            let text = pods
                .logs(&pod_name, &params)
                .await
                .explain("get logs of", "pods", ns)?;
            for line in text.lines() {
                if writeln!(out, "[{pod_name}] {line}").is_err() {
                    return Ok(()); // the reader went away (`| head`)
                }
            }
        }
        return Ok(());
    }
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let mut following = HashSet::new();
    let mut poll = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            Some(line) = rx.recv() => {
                if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
                    return Ok(());
                }
            }
            _ = poll.tick() => {
                let list = pods.list(&selector).await.explain("list", "pods", ns)?.items;
                for pod in list {
                    let running = pod.status.as_ref().and_then(|s| s.phase.as_deref()).is_some_and(|p| p != "Pending");
                    let pod_name = pod.name_any();
                    if running && following.insert(pod_name.clone()) {
                        tokio::spawn(stream(pods.clone(), pod_name, params.clone(), tx.clone()));
                    }
                }
            }
        }
    }
}

/// Send one pod's lines, prefixed, until its stream ends.
async fn stream(pods: Api<Pod>, pod: String, params: LogParams, tx: mpsc::UnboundedSender<String>) {
    let Ok(reader) = pods.log_stream(&pod, &params).await else {
        return;
    };
    let mut lines = reader.lines();
    while let Ok(Some(line)) = lines.try_next().await {
        if tx.send(format!("[{pod}] {line}")).is_err() {
            return;
        }
    }
}
