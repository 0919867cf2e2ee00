//! `prisn deploy`: run a script as an app (a service), a job (`--once`) or a cron job
//! (`--schedule`) in the current context; and `prisn run --detach`, a one-off job.

use std::process::ExitCode;
use std::time::Duration;

use prisn::backend::{Deployed, Kind};
use prisn::request::{self, DeployRequest, parse_env};
use prisn_api::Concurrency;

use crate::cli::{DeployArgs, Format, Global, RunArgs, SourceKind};
use crate::printer;
use crate::reporter;

pub fn run(global: &Global, args: DeployArgs) -> anyhow::Result<ExitCode> {
    // Everything about the flags is checked before anything is built or started: here what
    // needs no context, in the library what depends on the mode (the schedule's grammar).
    let name = match &args.name {
        Some(n) => {
            request::check_name(n)?;
            n.clone()
        }
        None => match &args.image {
            // `registry/team/web@sha256:…` → web
            Some(image) => {
                let repo = image.split('@').next().unwrap_or(image);
                let last = repo.rsplit('/').next().unwrap_or(repo);
                let last = last.split(':').next().unwrap_or(last);
                request::derive_name(std::path::Path::new(last))?
            }
            None => request::derive_name(&args.script_args().script)?,
        },
    };
    let storage = args
        .storage
        .iter()
        .map(|s| request::parse_storage(s))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let kind = if args.schedule.is_some() {
        Kind::CronJob
    } else if args.once {
        Kind::Job
    } else {
        Kind::App
    };
    let req = DeployRequest {
        script: args.script_args().request(&args.lock),
        name,
        kind,
        port: args.port,
        replicas: args.replicas,
        schedule: args.schedule,
        concurrency: args.concurrency.into(),
        env: parse_env(&args.env)?,
        args: args.args,
        storage,
        cpu: args.cpu,
        memory: args.memory,
        wait: (!args.no_wait).then_some(args.timeout),
        dry_run: args.dry_run,
        isolation: args.isolation.map(Into::into),
        network: args.network.into(),
        build: (&args.build).into(),
        configmap: args.source == Some(SourceKind::Configmap),
        replace: args.replace,
        until_done: args.wait && kind == Kind::Job,
        rollback_on_failure: false,
        image: args.image.clone(),
    };
    let rollback = match (args.rollback_on_failure, args.no_rollback_on_failure) {
        (true, _) => Some(true),
        (_, true) => Some(false),
        _ => None,
    };
    let deployed = deploy(global, &req, rollback)?;
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
            request::check_name(n)?;
            n.clone()
        }
        None => {
            let base = request::derive_name(&args.script.script)?;
            // Like Kubernetes' generateName: every detached run is a job of its own.
            let mut base: String = base.chars().take(57).collect();
            base.truncate(base.trim_end_matches('-').len());
            format!("{base}-{}", suffix())
        }
    };
    let req = DeployRequest {
        script: args.script.request(&args.lock),
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
        network: Default::default(),
        build: Default::default(),
        configmap: false,
        replace: false,
        until_done: false,
        rollback_on_failure: false,
        image: None,
    };
    let deployed = deploy(global, &req, Some(false))?;
    printer::line(&deployed.name);
    if !global.quiet {
        printer::note(format!(
            "started job {0}; `prisn logs {0} -f` follows it, `prisn status {0}` shows how it ended",
            deployed.name
        ));
    }
    Ok(ExitCode::SUCCESS)
}

/// Deploy `req`; `rollback` is what the flags say about `--rollback-on-failure` (None: the
/// context's setting).
fn deploy(
    global: &Global,
    req: &DeployRequest,
    rollback: Option<bool>,
) -> anyhow::Result<Deployed> {
    let settings = super::settings(global)?;
    let mut req = req.clone();
    req.rollback_on_failure =
        rollback.unwrap_or(settings.context.rollback_on_failure) && req.wait.is_some();
    let req = &req;
    let reporter = reporter::make(global.quiet, global.no_progress);
    let deployed = prisn::backend::deploy(&settings, req, reporter.as_ref());
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
