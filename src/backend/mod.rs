//! Where workloads run, behind one interface: `deploy`, `get`, `status`, `logs`, `delete` and
//! `scale` parse their flags, pick the backend of the context with [`for_context`], call it
//! and print. Each mode implements [`Backend`]: `local` (a client of the `prisn daemon` on
//! this machine), later `kube` (PrisnApp/PrisnJob/PrisnCronJob objects) and `remote` (the
//! daemon's API over HTTPS).
//!
//! The trait is synchronous and speaks in CLI terms; a backend with async internals blocks
//! on them. Every type here is mode-neutral and serialisable (`-o json|yaml` prints them);
//! what only one mode knows goes into the `extra`/`details` maps.

pub mod kube;
pub mod local;

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::cli::{LockMode, ScriptArgs};
use crate::context::{Context, Mode};

/// What kind of workload: App (PrisnApp), Job (PrisnJob) or CronJob (PrisnCronJob). One
/// type for every mode and the local daemon's API.
pub use prisn_local::api::Kind;

/// How local-mode processes are isolated (other modes ignore it, with a warning).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Isolation {
    /// Namespaces where the kernel allows them, else a plain process (status says which).
    Auto,
    /// Own pid and mount namespaces, read-only code and environment, private /tmp; or fail.
    Namespaces,
    /// A plain process.
    None,
}

/// The network of local-mode processes (other modes ignore it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Network {
    /// The machine's network: an app listens on the host's ports.
    #[default]
    Host,
    /// A network namespace of its own with only loopback.
    None,
}

/// What a cron job does when a run is due while the previous one still runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
pub enum Concurrency {
    /// Runs may overlap.
    Allow,
    /// Skip the new run.
    #[default]
    Forbid,
    /// Stop the running one and start the new run.
    Replace,
}

/// `--storage NAME=/PATH[:SIZE]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StorageRequest {
    pub name: String,
    pub path: String,
    pub size: Option<String>,
}

/// Flags for building an image (Kubernetes mode; local mode builds no image).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildFlags {
    /// Registry to push to (`HOST[:PORT][/PREFIX]`), overriding the context's.
    pub registry: Option<String>,
    /// Base image, overriding the default for the runtime.
    pub base: Option<String>,
    /// Use only what is cached; no network.
    pub offline: bool,
    /// Kubernetes mode: ship the code as a `<name>-code` ConfigMap even when a registry is
    /// configured (`--source configmap`).
    pub configmap: bool,
}

/// Everything `prisn deploy` (and `prisn run --detach`) accepts, checked and resolved: the
/// name is valid, the kind is decided, quantities and the schedule are as given.
#[derive(Debug, Clone)]
pub struct DeployRequest {
    pub script: ScriptArgs,
    pub lock: LockMode,
    /// A DNS-1035 label (checked).
    pub name: String,
    /// App unless `--schedule` (CronJob) or `--once` (Job).
    pub kind: Kind,
    pub port: Option<u16>,
    pub replicas: u32,
    pub schedule: Option<String>,
    pub concurrency: Concurrency,
    pub env: Vec<(String, String)>,
    pub args: Vec<String>,
    pub storage: Vec<StorageRequest>,
    /// Kubernetes quantities: `500m`, `2`.
    pub cpu: Option<String>,
    /// Kubernetes quantities: `256Mi`.
    pub memory: Option<String>,
    /// Wait this long for the app to be ready (a job to start); None returns at once.
    pub wait: Option<Duration>,
    /// Check and report; change no deployment.
    pub dry_run: bool,
    /// Local mode only.
    pub isolation: Option<Isolation>,
    /// Local mode only.
    pub network: Network,
    /// Replace a workload of this name that runs another source (local mode).
    pub replace: bool,
    /// A job: wait until it has ended, not only started (`deploy --once --wait`; local mode).
    pub until_done: bool,
    pub build: BuildFlags,
}

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
    /// Mode-specific columns for `-o wide` (local: PID, ISOLATION; kubernetes: IMAGE…).
    pub extra: BTreeMap<String, String>,
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
}

/// The backend of `ctx`.
///
/// # Errors
/// Modes not implemented yet say so and how to proceed.
pub fn for_context(
    ctx: &Context,
    home: &prisn_builder::home::Home,
) -> anyhow::Result<Box<dyn Backend>> {
    match ctx.mode {
        Mode::Local => Ok(Box::new(local::LocalBackend::new(home))),
        Mode::Kubernetes => Ok(Box::new(kube::KubeBackend::new(ctx, home)?)),
        Mode::Remote => Err(NotYet {
            mode: ctx.mode,
            context: ctx.name.clone(),
        }
        .into()),
    }
}

/// A mode whose backend is not there yet.
#[derive(Debug)]
pub struct NotYet {
    mode: Mode,
    context: String,
}

impl std::fmt::Display for NotYet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "context {:?} is in {} mode, which `deploy`, `get`, `status`, `logs`, `delete` and `scale` do not support yet",
            self.context, self.mode
        )
    }
}

impl std::error::Error for NotYet {}

impl NotYet {
    pub fn hint(&self) -> String {
        "use the local context for now: --context local (or `prisn context use local`)".into()
    }
}

/// `my_script.py` → `my-script`: the name a script deploys as when `--name` is not given.
///
/// # Errors
/// When no valid name can be derived (the user must pass --name).
pub fn derive_name(script: &std::path::Path) -> anyhow::Result<String> {
    let stem = if script.is_dir() {
        std::fs::canonicalize(script)
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
    } else {
        script.file_stem().map(|n| n.to_string_lossy().into_owned())
    }
    .unwrap_or_default();
    Ok(prisn_local::name::derive(&stem)?)
}

/// Check a name given with --name.
///
/// # Errors
/// Not a DNS-1035 label (the message says what is wrong and suggests one).
pub fn check_name(name: &str) -> anyhow::Result<()> {
    Ok(prisn_local::name::validate(name)?)
}

/// `name=/path[:size]` → a storage request.
///
/// # Errors
/// A malformed flag, naming it and showing the form.
pub fn parse_storage(flag: &str) -> anyhow::Result<StorageRequest> {
    let usage = "expected NAME=/MOUNT/PATH[:SIZE], e.g. --storage data=/var/lib/app:1Gi";
    let Some((name, rest)) = flag.split_once('=') else {
        anyhow::bail!("invalid --storage {flag:?}: {usage}");
    };
    let (path, size) = match rest.rsplit_once(':') {
        Some((p, s)) if !s.contains('/') => (p, Some(s.to_string())),
        _ => (rest, None),
    };
    if name.is_empty() || !path.starts_with('/') || size.as_deref() == Some("") {
        anyhow::bail!("invalid --storage {flag:?}: {usage}");
    }
    Ok(StorageRequest {
        name: name.to_string(),
        path: path.to_string(),
        size,
    })
}

/// The hint of a backend error in an error chain (printed as `hint:` by the printer).
pub fn hint(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    if let Some(e) = e.downcast_ref::<prisn_local::Error>() {
        return e.hint().map(str::to_string);
    }
    e.downcast_ref::<NotYet>().map(NotYet::hint)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_derive_from_scripts() {
        assert_eq!(
            derive_name(std::path::Path::new("dir/my_script.py")).unwrap(),
            "my-script"
        );
        assert_eq!(
            derive_name(std::path::Path::new("Big Job!.sh")).unwrap(),
            "big-job"
        );
        assert!(derive_name(std::path::Path::new("2fa.py")).is_err());
        assert!(
            check_name("My_App")
                .unwrap_err()
                .to_string()
                .contains("DNS-1035")
        );
    }

    #[test]
    fn storage_flags_parse() {
        assert_eq!(
            parse_storage("data=/var/lib/app:1Gi").unwrap(),
            StorageRequest {
                name: "data".into(),
                path: "/var/lib/app".into(),
                size: Some("1Gi".into())
            }
        );
        assert_eq!(parse_storage("cache=/cache").unwrap().size, None);
        for bad in ["data", "=/x", "data=relative", "data=/x:"] {
            assert!(parse_storage(bad).is_err(), "{bad}");
        }
    }
}
