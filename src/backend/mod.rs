//! Where workloads run, behind one interface: `deploy`, `get`, `status`, `logs`, `delete` and
//! `scale` turn their flags into typed requests ([`crate::request`]), pick the backend of the
//! context with [`for_context`], call it and print. Each mode implements [`Backend`]: `local`
//! (a client of the `prisn daemon` on this machine), `kube` (PrisnApp/PrisnJob/PrisnCronJob
//! objects) and `remote` (a `prisn server`: the daemon's API over HTTPS, per namespace).
//!
//! The trait is synchronous and takes typed requests, never clap types, and prints nothing:
//! progress goes to the [`prisn_builder::Reporter`] it is given. A backend with async internals
//! blocks on them. Every type here is mode-neutral and serialisable (`-o json|yaml` prints
//! them); what only one mode knows goes into the `extra`/`details` maps.
//!
//! To add a backend: a module beside `local` and `kube` implementing [`Backend`], one arm in
//! [`for_context`], and the schedule grammar of its mode in [`crate::request::check`].

pub mod kube;
pub mod local;
pub mod remote;

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::context::Mode;
pub use crate::request::{DeployRequest, StorageRequest};
use crate::settings::Settings;

/// What kind of workload: App (PrisnApp), Job (PrisnJob) or CronJob (PrisnCronJob). One
/// type for every mode and the local daemon's API.
pub use prisn_api::Kind;

/// What a deploy did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Deployed {
    pub name: String,
    pub kind: Kind,
    /// What runs: the script (local), the image reference (kubernetes).
    pub source: String,
    pub created: bool,
    /// False when exactly this was deployed already.
    pub changed: bool,
    pub dry_run: bool,
    pub generation: Option<i64>,
    /// The phase after waiting (None without --wait).
    pub phase: Option<String>,
    /// Where the app answers, e.g. `http://127.0.0.1:8080`.
    pub endpoint: Option<String>,
    /// How limits and isolation are applied, warnings.
    pub notes: Vec<String>,
    /// Kubernetes dry runs: the objects that would be applied, as multi-document YAML.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest: Option<String>,
    /// A job waited for until it ended: its exit code (the command exits with it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// Milliseconds per phase (`lock`, `build`, `push`, `apply`, `ready`), where measured.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub timings: BTreeMap<String, u64>,
}

/// How a process (or pod) ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitInfo {
    pub code: Option<i32>,
    pub signal: Option<i32>,
    /// Completed, Error, Killed, OOMKilled, Stopped, FailedToStart, Lost.
    pub reason: String,
    /// RFC 3339.
    pub finished: String,
    pub ran_ms: u64,
    pub message: Option<String>,
}

/// One row of `prisn get`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Workload {
    pub name: String,
    pub kind: Kind,
    pub source: String,
    pub desired: u32,
    pub ready: u32,
    /// Running, Starting, CrashLoopBackOff, Stopped, Pending, Succeeded, Failed, Scheduled,
    /// Suspended…
    pub phase: String,
    pub restarts: u32,
    /// RFC 3339.
    pub created: Option<String>,
    pub port: Option<u16>,
    pub schedule: Option<String>,
    pub last_run: Option<String>,
    pub next_run: Option<String>,
    /// Why the phase is what it is.
    pub message: Option<String>,
    pub last_exit: Option<ExitInfo>,
    /// Mode-specific fields, lower-case keys with typed values (local: pid, isolation,
    /// message; kubernetes: namespace, image). `-o wide` shows them as upper-case columns.
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// A running instance: a process locally, a pod in Kubernetes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Instance {
    /// A pid or a pod name.
    pub name: String,
    pub phase: String,
    pub ready: bool,
    pub started: Option<String>,
}

/// One run of a workload (an app start, a job run, a cron run).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunInfo {
    pub id: String,
    pub started: String,
    pub scheduled_for: Option<String>,
    pub exit: Option<ExitInfo>,
}

/// What `prisn status` shows.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Status {
    #[serde(flatten)]
    pub workload: Workload,
    pub instances: Vec<Instance>,
    /// Newest first.
    pub runs: Vec<RunInfo>,
    /// The last lines of output.
    pub output: Vec<String>,
    /// Mode-specific facts, in order of importance: isolation, limits, paths…
    pub details: Vec<(String, String)>,
}

/// What `prisn logs` asks for.
#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    pub follow: bool,
    pub tail: Option<usize>,
    pub since: Option<Duration>,
    pub timestamps: bool,
}

/// What `delete` did beyond deleting.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Deleted {
    /// E.g. storage that was kept.
    pub notes: Vec<String>,
}

/// One release of a workload (`prisn history`): what a deploy or a rollback made current.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Release {
    pub revision: i64,
    /// RFC 3339.
    pub created: String,
    pub who: Option<String>,
    /// What ran: an image by digest (kubernetes), or the code snapshot's digest (local).
    pub artifact: String,
    pub lock_digest: Option<String>,
    /// Local mode: the environment in the store the release runs from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// The flags that shaped it, as a deploy takes them (`--env` without values).
    pub flags: Vec<String>,
    /// Made by a rollback to this revision.
    pub rollback_of: Option<i64>,
    /// The workload runs it now.
    pub current: bool,
    /// A rollback to it needs no build (its artifact is still there).
    pub available: bool,
}

/// What a rollback did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RolledBack {
    pub name: String,
    pub kind: Kind,
    /// The revision now current (new unless nothing changed).
    pub revision: i64,
    /// The revision whose artifact runs again.
    pub restored: i64,
    /// False when that artifact was current already.
    pub changed: bool,
    /// The phase after waiting (None without a wait).
    pub phase: Option<String>,
}

/// One mode's way of running workloads.
pub trait Backend {
    /// The mode, for messages.
    fn mode(&self) -> Mode;

    /// Build what the mode needs (environment or image), then create or replace the
    /// workload; with `req.wait`, wait until it is ready (apps) or started (jobs).
    ///
    /// # Errors
    /// Invalid input (named), conflicts (a port, a name, a concurrent deploy), build
    /// failures, an app that crashes while waited for (with its last output).
    fn deploy(
        &self,
        req: &DeployRequest,
        reporter: &dyn prisn_builder::Reporter,
    ) -> anyhow::Result<Deployed>;

    /// Workloads, all kinds or one, sorted by name.
    fn list(&self, kind: Option<Kind>) -> anyhow::Result<Vec<Workload>>;

    /// One workload in detail.
    ///
    /// # Errors
    /// An unknown name.
    fn status(&self, name: &str) -> anyhow::Result<Status>;

    /// Write the workload's output to `out`; with `follow`, until it ends or the reader
    /// goes away.
    fn logs(&self, name: &str, opts: &LogOptions, out: &mut dyn Write) -> anyhow::Result<()>;

    /// Stop and remove a workload; None when there was none.
    fn delete(&self, name: &str) -> anyhow::Result<Option<Deleted>>;

    /// Set the number of instances (0 stops an app, suspends a cron job).
    ///
    /// # Errors
    /// More instances than the mode can run (local: 1), or a job (which has none).
    fn scale(&self, name: &str, replicas: u32) -> anyhow::Result<Workload>;

    /// The releases of a workload, newest first (the mode keeps a bounded number).
    ///
    /// # Errors
    /// An unknown name.
    fn history(&self, name: &str) -> anyhow::Result<Vec<Release>>;

    /// Make release `to` (default: the one before the current) current again, with exactly
    /// its artifact and flags and without building anything; with `wait`, wait until it is
    /// ready as a deploy does.
    ///
    /// # Errors
    /// An unknown name or revision, an artifact that is gone, a failed wait.
    fn rollback(
        &self,
        name: &str,
        to: Option<i64>,
        wait: Option<Duration>,
    ) -> anyhow::Result<RolledBack>;
}

/// Who deploys, for the release: `$USER`, else the name /etc/passwd gives the uid the CLI
/// runs as, else `uid N`.
pub fn who() -> Option<String> {
    if let Some(user) = std::env::var("USER").ok().filter(|v| !v.is_empty()) {
        return Some(user);
    }
    // SAFETY: getuid cannot fail and touches no memory of ours.
    let uid = unsafe { libc::getuid() }.to_string();
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let name = passwd.lines().find_map(|l| {
        let mut f = l.split(':');
        let name = f.next()?;
        (f.nth(1)? == uid).then(|| name.to_string())
    });
    Some(name.unwrap_or_else(|| format!("uid {uid}")))
}

/// The backend of the context in `settings`.
///
/// # Errors
/// A context the mode cannot use (remote: no server, token or fingerprint; kubernetes: no
/// kubeconfig).
pub fn for_context(settings: &Settings) -> anyhow::Result<Box<dyn Backend>> {
    let ctx = &settings.context;
    match ctx.mode {
        Mode::Local => Ok(Box::new(local::LocalBackend::new(&settings.home))),
        Mode::Kubernetes => Ok(Box::new(kube::KubeBackend::new(settings)?)),
        Mode::Remote => Ok(Box::new(remote::RemoteBackend::new(settings)?)),
    }
}

/// Check `req` for the mode of `settings`, then deploy it with the mode's backend: the
/// pipeline every command that deploys goes through (`deploy`, `run --detach`).
///
/// # Errors
/// An invalid request (before anything is built), then the backend's errors.
pub fn deploy(
    settings: &Settings,
    req: &DeployRequest,
    reporter: &dyn prisn_builder::Reporter,
) -> anyhow::Result<Deployed> {
    crate::request::check(req, settings.context.mode)?;
    for_context(settings)?.deploy(req, reporter)
}
