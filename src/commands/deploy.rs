//! `prisn deploy`: run a script as an app (a service), a job (`--once`) or a cron job
//! (`--schedule`) in the current context; and `prisn run --detach`, a one-off job.

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use super::run::parse_env;
use crate::backend::{
    self, BuildFlags, Concurrency, DeployRequest, Deployed, Isolation, Kind, Network,
};
use crate::cli::{Global, LockMode, RunArgs, ScriptArgs};
use crate::printer::{self, Format};
use crate::reporter;

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
    #[command(flatten)]
    pub script: ScriptArgs,
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
    #[arg(long, value_enum, default_value_t = Concurrency::Forbid, requires = "schedule")]
    pub concurrency: Concurrency,
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
    pub isolation: Option<Isolation>,
    /// Local mode: `host` (the default: an app listens on this machine's ports) or `none`
    /// (a network namespace of its own with only loopback).
    #[arg(long, value_enum, default_value_t, value_name = "MODE")]
    pub network: Network,
    /// Replace a workload of this name that runs another script (local mode).
    #[arg(long)]
    pub replace: bool,
    /// Kubernetes mode: the registry to push the image to (overrides the context's).
    #[arg(long, value_name = "REGISTRY")]
    pub registry: Option<String>,
    /// Kubernetes mode: the base image.
    #[arg(long, value_name = "IMAGE")]
    pub base: Option<String>,
    /// Use only what is cached; no network.
    #[arg(long)]
    pub offline: bool,
    /// Kubernetes mode: how the code reaches the cluster. `image` (the default when a
    /// registry is configured) builds and pushes an image and deploys it by digest;
    /// `configmap` ships every file as a `<name>-code` ConfigMap run in the runtime's base.
    #[arg(long, value_enum, value_name = "KIND")]
    pub source: Option<SourceKind>,
    /// Wait until the app is ready or the job has finished (the default; see --no-wait).
    #[arg(long, conflicts_with = "no_wait")]
    pub wait: bool,
    /// Output format.
    #[arg(short = 'o', long = "format", value_enum, default_value_t)]
    pub format: Format,
    /// Arguments passed to the script.
    #[arg(last = true)]
    pub args: Vec<String>,
}

pub fn run(global: &Global, args: DeployArgs) -> anyhow::Result<ExitCode> {
    // Everything about the flags is checked before anything is built or started.
    let name = match &args.name {
        Some(n) => {
            backend::check_name(n)?;
            n.clone()
        }
        None => backend::derive_name(&args.script.script)?,
    };
    if let Some(s) = &args.schedule {
        prisn_local::cron::parse(s)?;
    }
    if let Some(m) = &args.memory {
        prisn_local::quantity::memory(m)?;
    }
    if let Some(c) = &args.cpu {
        prisn_local::quantity::cpu(c)?;
    }
    let storage = args
        .storage
        .iter()
        .map(|s| backend::parse_storage(s))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let kind = if args.schedule.is_some() {
        Kind::CronJob
    } else if args.once {
        Kind::Job
    } else {
        Kind::App
    };
    let req = DeployRequest {
        script: args.script,
        lock: args.lock,
        name,
        kind,
        port: args.port,
        replicas: args.replicas,
        schedule: args.schedule,
        concurrency: args.concurrency,
        env: parse_env(&args.env)?,
        args: args.args,
        storage,
        cpu: args.cpu,
        memory: args.memory,
        wait: (!args.no_wait).then_some(args.timeout),
        dry_run: args.dry_run,
        isolation: args.isolation,
        network: args.network,
        replace: args.replace,
        until_done: args.wait && kind == Kind::Job,
        build: BuildFlags {
            registry: args.registry,
            base: args.base,
            offline: args.offline,
            configmap: args.source == Some(SourceKind::Configmap),
        },
    };
    let deployed = deploy(global, &req)?;
    print(global, args.format, &deployed)?;
    // `deploy --once --wait` ends as the job did.
    Ok(match deployed.exit_code {
        Some(code) if code != 0 => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        _ => ExitCode::SUCCESS,
    })
}

/// `prisn run --detach`: the script as a one-off job named `<script>-<suffix>`.
pub fn detach(global: &Global, args: RunArgs) -> anyhow::Result<ExitCode> {
    let name = match &args.name {
        Some(n) => {
            backend::check_name(n)?;
            n.clone()
        }
        None => {
            let base = backend::derive_name(&args.script.script)?;
            // Like Kubernetes' generateName: every detached run is a job of its own.
            let mut base: String = base.chars().take(57).collect();
            base.truncate(base.trim_end_matches('-').len());
            format!("{base}-{}", suffix())
        }
    };
    let req = DeployRequest {
        script: args.script,
        lock: args.lock,
        name,
        kind: Kind::Job,
        port: None,
        replicas: 1,
        schedule: None,
        concurrency: Concurrency::Forbid,
        env: parse_env(&args.env)?,
        args: args.args,
        storage: Vec::new(),
        cpu: None,
        memory: None,
        wait: Some(Duration::from_secs(60)),
        dry_run: false,
        isolation: None,
        network: Network::Host,
        replace: false,
        until_done: false,
        build: BuildFlags::default(),
    };
    let deployed = deploy(global, &req)?;
    printer::line(&deployed.name);
    if !global.quiet {
        printer::note(format!(
            "started job {0}; `prisn logs {0} -f` follows it, `prisn status {0}` shows how it ended",
            deployed.name
        ));
    }
    Ok(ExitCode::SUCCESS)
}

fn deploy(global: &Global, req: &DeployRequest) -> anyhow::Result<Deployed> {
    let (_, backend) = super::backend(global)?;
    let reporter = reporter::make(global.quiet, global.no_progress);
    let deployed = backend.deploy(req, reporter.as_ref());
    drop(reporter);
    deployed
}

/// Five characters from [a-z0-9], different per call.
fn suffix() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.write_u32(std::process::id());
    let mut n = h.finish();
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    (0..5)
        .map(|_| {
            let c = ALPHABET[(n % 36) as usize] as char;
            n /= 36;
            c
        })
        .collect()
}

fn print(global: &Global, format: Format, d: &Deployed) -> anyhow::Result<()> {
    // `--dry-run -o yaml` in Kubernetes mode prints the objects, ready for GitOps.
    if let (true, Format::Yaml, Some(manifest)) = (d.dry_run, format, &d.manifest) {
        printer::line(manifest.trim_end());
        for n in &d.notes {
            printer::note(n);
        }
        return Ok(());
    }
    if format != Format::Text {
        return printer::value(format, d);
    }
    let what = if d.dry_run {
        if d.changed {
            "would be configured (dry run)"
        } else {
            "unchanged (dry run)"
        }
    } else if d.created {
        "created"
    } else if d.changed {
        "configured"
    } else {
        "unchanged"
    };
    printer::line(format!("{}/{} {what}", d.kind, d.name));
    if global.quiet {
        return Ok(());
    }
    for n in &d.notes {
        printer::note(format!("  {n}"));
    }
    if let (Some(phase), false) = (&d.phase, d.dry_run) {
        match (&d.endpoint, d.kind) {
            (Some(url), Kind::App) if phase == "Running" => {
                printer::note(format!("{} is running at {url}", d.name))
            }
            _ => printer::note(format!("{} is {}", d.name, phase.to_lowercase())),
        }
    }
    Ok(())
}
