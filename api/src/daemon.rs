//! The daemon's HTTP API (moved here from `prisn-local` so the CLI, the daemon and the
//! coming remote server share one definition): JSON over HTTP/1.1 with versioned paths. The same types serve the
//! unix socket of local mode and, later, `prisn server` on TCP with TLS and bearer tokens.
//!
//! | method | path                                  | body → answer                          |
//! |--------|---------------------------------------|----------------------------------------|
//! | GET    | `/v1/health`                          | → [`Health`]                           |
//! | GET    | `/v1/workloads[?kind=app\|job\|cronjob]` | → `[`[`WorkloadView`]`]`             |
//! | GET    | `/v1/apps`, `/v1/jobs`, `/v1/cronjobs` | → `[`[`WorkloadView`]`]` of one kind  |
//! | PUT    | `/v1/workloads/{name}`                | [`DeployBody`] → [`DeployReply`] (201 created, 200 otherwise) |
//! | GET    | `/v1/workloads/{name}`                | → [`WorkloadView`] with runs and output |
//! | DELETE | `/v1/workloads/{name}`                | → 204 (processes stopped, files removed) |
//! | GET    | `/v1/workloads/{name}/logs?follow=&tail=&since_seconds=&timestamps=` | → `text/plain` stream |
//! | PUT    | `/v1/workloads/{name}/scale`          | [`ScaleBody`] → [`WorkloadView`]       |
//! | GET    | `/v1/workloads/{name}/releases`       | → `[`[`ReleaseView`]`]`, newest first  |
//! | POST   | `/v1/workloads/{name}/rollback`       | [`RollbackBody`] → [`RollbackReply`]   |
//! | POST   | `/v1/shutdown`                        | [`ShutdownBody`] → 202                 |
//!
//! Errors answer with [`ErrorBody`] and a status: 400 invalid input, 404 unknown name, 409
//! conflict (port in use, name taken by another kind, a concurrent deploy), 503 state
//! unusable, 500 anything else.
//!
//! Names are unique across kinds in local mode: they name processes, log files and cgroups.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use crate::Kind;
pub use crate::Runtime;
/// What a cron job does when a run is due while the previous one still runs.
pub use crate::workload::Concurrency as ConcurrencyPolicy;
pub use crate::workload::{Isolation, Network};

/// A directory that survives restarts and redeploys, mounted at `path`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Storage {
    pub name: String,
    pub path: PathBuf,
    /// Informational in local mode: a directory has no size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<String>,
}

/// Code on the daemon's machine, as `prisn_builder::script` read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalSource {
    pub root: PathBuf,
    pub entrypoint: String,
    /// Relative, `/`-separated, sorted.
    pub files: Vec<String>,
    pub runtime: Runtime,
    pub is_dir: bool,
}

/// Which state a deploy expects to replace (optimistic concurrency, like Kubernetes'
/// resourceVersion): a deploy prepared against a state that changed meanwhile gets a 409.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Expect {
    /// Replace whatever is there.
    #[default]
    Any,
    /// The name must be free.
    Absent,
    /// The workload must still be at this generation.
    Generation(i64),
}

/// `PUT /v1/workloads/{name}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeployBody {
    pub kind: Kind,
    /// What the user named (for display), e.g. `examples/api.py`.
    pub source: String,
    pub code: LocalSource,
    /// The environment in the store (`prisn_builder::env::Env::path`).
    pub env_dir: PathBuf,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default)]
    pub port: Option<u16>,
    #[serde(default = "one")]
    pub replicas: u32,
    #[serde(default)]
    pub schedule: Option<String>,
    #[serde(default)]
    pub concurrency: ConcurrencyPolicy,
    #[serde(default)]
    pub isolation: Isolation,
    #[serde(default)]
    pub network: Network,
    #[serde(default)]
    pub memory: Option<String>,
    #[serde(default)]
    pub cpu: Option<String>,
    #[serde(default)]
    pub storage: Vec<Storage>,
    #[serde(default)]
    pub expect: Expect,
    /// Validate everything, change nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// Replace a workload of this name that runs another source (else a 409).
    #[serde(default)]
    pub replace: bool,
    /// The lock section's digest (`prisn_builder::lock::LockSection::digest`), for the release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock_digest: Option<String>,
    /// Who deploys (the user name the CLI runs as), for the release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub who: Option<String>,
}

fn one() -> u32 {
    1
}

/// What a workload runs, as stored in state.db. A redeploy with an equal spec changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Spec {
    pub kind: Kind,
    pub source: String,
    /// Where the source is (its root joined with the entrypoint, resolved): what tells a
    /// redeploy from a replacement. Absent in records written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<PathBuf>,
    pub runtime: Runtime,
    pub entrypoint: String,
    /// The immutable snapshot the processes run (`$PRISN_HOME/code/<digest>`).
    pub code_dir: PathBuf,
    pub code_digest: String,
    pub env_dir: PathBuf,
    pub args: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub port: Option<u16>,
    pub schedule: Option<String>,
    pub concurrency: ConcurrencyPolicy,
    pub isolation: Isolation,
    /// Absent in records written before it existed: host.
    #[serde(default)]
    pub network: Network,
    pub memory: Option<String>,
    pub cpu: Option<String>,
    pub storage: Vec<Storage>,
}

/// The answer to a deploy.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeployReply {
    pub name: String,
    pub kind: Kind,
    pub generation: i64,
    /// The name was free.
    pub created: bool,
    /// Something changed (spec or replicas); false for a redeploy of the same thing.
    pub changed: bool,
    pub dry_run: bool,
    /// How limits and isolation will be applied, and anything worth a warning.
    #[serde(default)]
    pub notes: Vec<String>,
}

/// How a process ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitView {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    /// `Completed`, `Error`, `Killed`, `OOMKilled`, `Stopped`, `FailedToStart`, `Lost`, `Skipped`.
    pub reason: String,
    /// RFC 3339.
    pub finished: String,
    /// How long the process ran.
    pub ran_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// One process start (an app instance, a job run, a cron run).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunView {
    pub id: i64,
    pub generation: i64,
    pub started: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<i32>,
    /// The cron slot this run is for (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled_for: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit: Option<ExitView>,
}

/// A workload as `get` lists it and `status` shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkloadView {
    pub name: String,
    pub kind: Kind,
    pub source: String,
    pub generation: i64,
    /// Running, Starting, CrashLoopBackOff, Stopped, Stopping, Pending, Succeeded, Failed,
    /// Scheduled, Suspended.
    pub phase: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    pub desired: u32,
    pub ready: u32,
    pub restarts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    pub created: String,
    pub updated: String,
    /// The app's process (host pid), while one runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<i32>,
    /// When the current process started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_exit: Option<ExitView>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_run: Option<String>,
    pub active: u32,
    /// How the current (or last) process is isolated, e.g. `namespaces (pid, mount)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isolation: Option<String>,
    /// Each limit and how it is enforced, e.g. `memory 256Mi: cgroup v1 memory.limit_in_bytes`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub limits: Vec<String>,
    pub code_dir: PathBuf,
    /// The directory the snapshot was taken from (absent in records older than origins):
    /// `prisn logs` shows the user's paths in tracebacks, not the snapshot's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_dir: Option<PathBuf>,
    pub env_dir: PathBuf,
    pub log_file: PathBuf,
    /// Recent runs, newest first (status only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub runs: Vec<RunView>,
    /// The last lines of output (status only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub output: Vec<String>,
}

/// One release of a workload: what a deploy (or a rollback) made current. A new release is
/// recorded whenever the spec changes; its revision is the workload's generation then.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseView {
    pub revision: i64,
    /// RFC 3339.
    pub created: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub who: Option<String>,
    /// What the user named, e.g. `examples/api.py`.
    pub source: String,
    /// The code snapshot's digest (`$PRISN_HOME/code/…`).
    pub code_digest: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock_digest: Option<String>,
    /// The environment in the store.
    pub env_dir: PathBuf,
    /// The flags that shaped it, as they would be given again; `--env` shows keys, never values.
    pub flags: Vec<String>,
    /// This release was made by a rollback to that revision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_of: Option<i64>,
    /// The workload runs this release now.
    pub current: bool,
    /// Its code and environment are still on disk: a rollback to it needs no build.
    pub available: bool,
}

/// `POST /v1/workloads/{name}/rollback`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RollbackBody {
    /// The revision to return to; none: the release before the current one.
    #[serde(default)]
    pub to: Option<i64>,
    #[serde(default)]
    pub who: Option<String>,
}

/// The answer to a rollback.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RollbackReply {
    pub name: String,
    pub kind: Kind,
    /// The revision now current (a new one, unless nothing changed).
    pub revision: i64,
    /// The revision whose artifact it runs.
    pub restored: i64,
    /// False when that artifact was current already.
    pub changed: bool,
}

/// `PUT /v1/workloads/{name}/scale`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScaleBody {
    pub replicas: u32,
}

/// `POST /v1/shutdown`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShutdownBody {
    /// Leave the workloads' processes running; the next daemon adopts them.
    #[serde(default)]
    pub keep_apps: bool,
}

/// `GET /v1/health`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Health {
    pub version: String,
    pub pid: u32,
    pub home: PathBuf,
    pub socket: PathBuf,
    pub started: String,
    pub workloads: usize,
    pub running: usize,
    /// The daemon's resident memory in bytes.
    pub rss_bytes: u64,
}

/// Query of `GET /v1/workloads/{name}/logs`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LogQuery {
    #[serde(default)]
    pub follow: bool,
    #[serde(default)]
    pub tail: Option<usize>,
    #[serde(default)]
    pub since_seconds: Option<u64>,
    #[serde(default)]
    pub timestamps: bool,
    /// Resume right after this log position (a cursor from an event's id; the
    /// `Last-Event-ID` header wins over it): no history then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
}

/// Every error answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

/// `2026-01-02T03:04:05.678Z` from unix milliseconds.
pub fn rfc3339(ms: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_millis(t).to_string()
}

/// Unix milliseconds now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
