//! Flags of the workload commands: deploy, get, status, logs, delete, scale, daemon.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};

use super::args::{
    BuildFlagsArgs, ConcurrencyArg, Format, IsolationArg, LockMode, NetworkArg, ScriptArgs,
};

impl DeployArgs {
    /// The script flags as the other commands take them (an empty path with `--image`).
    pub fn script_args(&self) -> ScriptArgs {
        ScriptArgs {
            script: self.script.clone().unwrap_or_default(),
            entrypoint: self.entrypoint.clone(),
            python: self.python.clone(),
        }
    }
}

/// How code reaches a cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SourceKind {
    /// Build and push an image; deploy it by digest.
    Image,
    /// A `<name>-code` ConfigMap with every file.
    Configmap,
}

#[derive(Debug, Args)]
pub struct DeployArgs {
    /// A script file (.py, .js/.mjs/.cjs, .sh, or with a shebang) or a project directory.
    #[arg(required_unless_present = "image", conflicts_with = "image")]
    pub script: Option<PathBuf>,
    /// The entrypoint inside a directory (default: main.py, app.py, index.js, main.sh, …).
    #[arg(long, value_name = "FILE")]
    pub entrypoint: Option<String>,
    /// The Python interpreter to build environments for (default: python3 on PATH).
    #[arg(long, env = "PRISN_PYTHON", value_name = "PATH")]
    pub python: Option<PathBuf>,
    /// Kubernetes mode: deploy this image prisn built (`REF@sha256:…`, e.g. from `prisn
    /// import`) instead of a script: its runtime, lock and base come from its labels.
    #[arg(long, value_name = "REF@sha256:…")]
    pub image: Option<String>,
    #[command(flatten)]
    pub lock: LockMode,
    /// The workload's name (default: from the file name, my_script.py → my-script).
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// The port the app listens on; the app gets it as PORT.
    #[arg(short = 'p', long, value_name = "PORT")]
    pub port: Option<u16>,
    /// Instances of the app (local mode runs 0 or 1).
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub replicas: u32,
    /// Run on this cron schedule instead of continuously: a cron job.
    #[arg(long, value_name = "CRON", conflicts_with = "once")]
    pub schedule: Option<String>,
    /// What a cron job does when a run is due while the last one still runs.
    #[arg(long, value_enum, default_value_t = ConcurrencyArg::Forbid, requires = "schedule")]
    pub concurrency: ConcurrencyArg,
    /// Run once to completion: a job.
    #[arg(long, conflicts_with = "port")]
    pub once: bool,
    /// Set an environment variable (repeatable).
    #[arg(short = 'e', long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Persistent storage mounted at PATH (repeatable): NAME=/PATH[:SIZE].
    #[arg(long, value_name = "NAME=/PATH[:SIZE]")]
    pub storage: Vec<String>,
    /// CPU limit, e.g. 500m or 2.
    #[arg(long, value_name = "QUANTITY")]
    pub cpu: Option<String>,
    /// Memory limit, e.g. 256Mi or 1Gi.
    #[arg(long, value_name = "QUANTITY")]
    pub memory: Option<String>,
    /// How long to wait for the app to be ready (a job to start).
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub timeout: Duration,
    /// Return once the deploy is accepted, without waiting.
    #[arg(long)]
    pub no_wait: bool,
    /// Check everything and build the environment, but change no deployment.
    #[arg(long)]
    pub dry_run: bool,
    /// Local mode: how the processes are isolated.
    #[arg(long, value_enum, value_name = "MODE")]
    pub isolation: Option<IsolationArg>,
    /// Local mode: `host` (the default: an app listens on this machine's ports) or `none`
    /// (a network namespace of its own with only loopback).
    #[arg(long, value_enum, default_value_t, value_name = "MODE")]
    pub network: NetworkArg,
    /// Replace a workload of this name that runs another script (local mode).
    #[arg(long)]
    pub replace: bool,
    /// Kubernetes mode: how to build the image (the same flags as `prisn build`).
    #[command(flatten)]
    pub build: BuildFlagsArgs,
    /// Kubernetes mode: how the code reaches the cluster. `image` (the default when a
    /// registry is configured) builds and pushes an image and deploys it by digest;
    /// `configmap` ships every file as a `<name>-code` ConfigMap run in the runtime's base.
    #[arg(long, value_enum, value_name = "KIND")]
    pub source: Option<SourceKind>,
    /// Wait until the app is ready or the job has finished (the default; see --no-wait).
    #[arg(long, conflicts_with = "no_wait")]
    pub wait: bool,
    /// When the new release does not become ready within --timeout (it crash-loops, fails
    /// its probe, or is Degraded), return to the previous release and fail. The context's
    /// `rollback_on_failure` setting makes it the default.
    #[arg(long, conflicts_with = "no_wait")]
    pub rollback_on_failure: bool,
    /// Do not roll back on failure, whatever the context says.
    #[arg(long, conflicts_with = "rollback_on_failure")]
    pub no_rollback_on_failure: bool,
    /// Output format.
    #[arg(short = 'o', long = "format", value_enum, default_value_t)]
    pub format: Format,
    /// Arguments passed to the script.
    #[arg(last = true)]
    pub args: Vec<String>,
}

/// Output of `get`: a table, a wider one, or data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum GetFormat {
    /// A table.
    #[default]
    Text,
    /// A table with mode-specific columns (local: PID, isolation, message).
    Wide,
    /// A JSON list.
    Json,
    /// A YAML list.
    Yaml,
}

#[derive(Debug, Args)]
pub struct GetArgs {
    /// What to list: apps, jobs, cronjobs or all (default), optionally followed by a name;
    /// or just a name.
    #[arg(value_name = "KIND|NAME", num_args = 0..=2)]
    pub what: Vec<String>,
    /// Output format.
    #[arg(short = 'o', long = "format", value_enum, default_value_t)]
    pub format: GetFormat,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The workload.
    pub name: String,
    /// Output format.
    #[arg(short = 'o', long = "format", value_enum, default_value_t)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// The workload.
    pub name: String,
    /// Keep printing new output as it comes (until the job ends or Ctrl-C).
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Only the last N lines.
    #[arg(long, value_name = "N")]
    pub tail: Option<usize>,
    /// Only output newer than this, e.g. 10m or 2h.
    #[arg(long, value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub since: Option<Duration>,
    /// Prefix each line with the time it was written (RFC 3339, UTC).
    #[arg(long)]
    pub timestamps: bool,
}

#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// The workloads to delete.
    #[arg(required = true)]
    pub names: Vec<String>,
    /// Do not ask for confirmation.
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Succeed when a workload does not exist.
    #[arg(long)]
    pub ignore_not_found: bool,
}

#[derive(Debug, Args)]
pub struct ScaleArgs {
    /// The workload.
    pub name: String,
    /// The number of instances.
    pub replicas: u32,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// The workload.
    pub name: String,
    /// Output format.
    #[arg(short = 'o', long = "format", value_enum, default_value_t)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// The workload.
    pub name: String,
    /// The revision to return to (`prisn history NAME` lists them); default: the one before
    /// the current.
    #[arg(long, value_name = "REVISION")]
    pub to: Option<i64>,
    /// How long to wait for it to be ready.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub timeout: Duration,
    /// Return at once, without waiting.
    #[arg(long)]
    pub no_wait: bool,
    /// Output format.
    #[arg(short = 'o', long = "format", value_enum, default_value_t)]
    pub format: Format,
}

#[derive(Debug, Subcommand)]
pub enum DaemonCmd {
    /// Run the daemon in the foreground (what the other commands start in the background).
    Run,
    /// Start the daemon in the background unless it runs.
    Start,
    /// Show whether the daemon runs, its pid, socket and memory (exit 1 when it does not run).
    Status {
        /// Output format.
        #[arg(short = 'o', long = "format", value_enum, default_value_t)]
        format: Format,
    },
    /// Stop the daemon and every process it supervises (they come back on the next start).
    Stop {
        /// Leave the apps running; the next daemon adopts them.
        #[arg(long)]
        keep_apps: bool,
    },
    /// Supervise one run (started by the daemon).
    #[command(hide = true)]
    Shim { run_dir: PathBuf },
}
