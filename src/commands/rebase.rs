//! `prisn rebase IMAGE --base NEWBASE [--image NEWREF]`: the image's own layers on a new base
//! (builder's `image::rebase`); `prisn rebase --deployed [--base NEWBASE]`: every image
//! deployed in a Kubernetes context (the kube backend's `rebase`).

use std::process::ExitCode;

use anyhow::bail;
use prisn::backend::kube::KubeBackend;
use prisn::backend::kube::rebase::{DeployedRequest, Outcome};
use prisn::context::Mode;
use prisn::settings::{RegistryFlags, Settings};
use prisn_builder::image::rebase::{self, RebaseOptions};
use prisn_builder::image::{Reference, Registries};

use crate::cli::{Format, Global, RebaseArgs};
use crate::printer;
use crate::reporter;

pub fn run(global: &Global, args: RebaseArgs) -> anyhow::Result<ExitCode> {
    let settings = super::settings(global)?;
    if args.deployed {
        return deployed(global, &settings, &args);
    }
    let Some(name) = args.image.as_deref() else {
        bail!("name the image to rebase (prisn rebase IMAGE --base NEWBASE), or give --deployed");
    };
    let flags = RegistryFlags::from(&args.registry);
    let registry = settings.registry(&flags);
    let image = prisn::image::qualify(name, registry.as_deref())?;
    let target = match &args.target {
        Some(t) => Some(prisn::image::qualify(t, registry.as_deref())?),
        None => None,
    };
    let rt = prisn::image::runtime()?;
    let base = match &args.base {
        Some(b) => b.clone(),
        None => context_base(&settings, &rt, &image, &args)?,
    };
    let opts = RebaseOptions {
        home: settings.home.clone(),
        base: Reference::parse(&base)?,
        target,
        push: !args.dry_run,
        platform: args.platform.clone(),
        registry: settings.registry_options(&flags, args.offline),
        offline: args.offline,
    };
    let reporter = reporter::make(global.quiet, global.no_progress);
    let done = rt.block_on(rebase::rebase(&image, &opts, reporter.as_ref()))?;
    drop(reporter);
    match args.format {
        Format::Text => printer::line(done.reference.clone().unwrap_or(done.digest.clone())),
        f => printer::value(f, &done)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// No `--base`: the context's base for the image's runtime (read from its labels).
fn context_base(
    settings: &Settings,
    rt: &tokio::runtime::Runtime,
    image: &Reference,
    args: &RebaseArgs,
) -> anyhow::Result<String> {
    let mut opts = settings.registry_options(&RegistryFlags::from(&args.registry), args.offline);
    opts.offline_allowed.push(image.registry.clone());
    let regs = Registries::new(opts);
    let cache = prisn_builder::image::build::blob_cache(&settings.home);
    let img = rt.block_on(rebase::read(&regs, image, &args.platform, &cache))?;
    match settings.base(img.runtime, None) {
        Some(b) => Ok(b),
        None => bail!(
            "no --base, and the context names no base for {0}: give --base REF, or set one with `prisn context add NAME … --base {0}=REF`",
            img.runtime
        ),
    }
}

/// `--deployed`: Kubernetes only (local and remote modes run from the store, not images).
fn deployed(global: &Global, settings: &Settings, args: &RebaseArgs) -> anyhow::Result<ExitCode> {
    if settings.context.mode != Mode::Kubernetes {
        bail!(
            "rebase --deployed rebases the images workloads run, which only Kubernetes contexts have: context {:?} is in {} mode, where workloads run from the store on the host's own interpreter (no base image); `prisn deploy` again picks up a changed host",
            settings.context.name,
            settings.context.mode
        );
    }
    let req = DeployedRequest {
        base: args.base.clone(),
        dry_run: args.dry_run,
        wait: args.wait,
        platform: args.platform.clone(),
        registry: RegistryFlags::from(&args.registry),
        offline: args.offline,
    };
    let backend = KubeBackend::new(settings)?;
    let reporter = reporter::make(global.quiet, global.no_progress);
    let outcomes = backend.rebase_deployed(&req, reporter.as_ref())?;
    drop(reporter);
    if args.format != Format::Text {
        printer::value(args.format, &outcomes)?;
    } else {
        print(&outcomes);
    }
    let bad = outcomes
        .iter()
        .filter(|o| o.action == "refused" || o.action == "failed")
        .count();
    Ok(if bad == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn print(outcomes: &[Outcome]) {
    let short = |s: &Option<String>| match s
        .as_deref()
        .and_then(|s| s.rfind("sha256:").map(|i| (s, i)))
    {
        Some((s, i)) => s[..(i + 7 + 12).min(s.len())].to_string(),
        None => s.clone().unwrap_or_else(|| "-".into()),
    };
    let rows: Vec<Vec<String>> = outcomes
        .iter()
        .map(|o| {
            vec![
                format!("{}/{}", o.kind, o.name),
                o.action.to_uppercase(),
                short(&o.image),
                short(&o.new_image),
                o.revision.map_or("-".into(), |r| r.to_string()),
                o.reason.clone().unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    printer::table(
        &[
            "WORKLOAD",
            "ACTION",
            "IMAGE",
            "NEW IMAGE",
            "REVISION",
            "REASON",
        ],
        &rows,
    );
}
