//! The last lines of a pod's output, as an error message shows them: a failed job's (the
//! wait), a crash-looping app's (its crashed run). One format for both, as local mode has.

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, LogParams};

/// How many lines of a failed workload's output its error shows (local mode shows as many).
pub const LINES: i64 = 20;

/// "\nlast output:\n  …": the log of `pod` as `params` ask for it, indented under a heading
/// for an error message, or nothing when there is none or it cannot be read.
pub async fn last(pods: &Api<Pod>, pod: &str, params: &LogParams) -> String {
    match pods.logs(pod, params).await {
        Ok(text) if !text.trim().is_empty() => {
            let lines: String = text.lines().map(|l| format!("  {l}\n")).collect();
            format!("\nlast output:\n{}", lines.trim_end())
        }
        _ => String::new(),
    }
}
