//! `prisn build`: the environment in the store; with --image/--output, the image, through the
//! library's one image plan (the same as `prisn deploy` uses).

use std::process::ExitCode;

use prisn::image::{self, Destination};
use serde::Serialize;

use super::{home, settings};
use crate::cli::{BuildArgs, Format, Global};
use crate::printer;
use crate::reporter;

/// The machine-readable record of an environment build (`-o json`).
#[derive(Serialize)]
struct EnvRecord {
    script: String,
    entrypoint: String,
    runtime: String,
    lock: Option<String>,
    lock_digest: String,
    packages: usize,
    env: String,
    hash: String,
    built: bool,
}

pub fn run(global: &Global, args: BuildArgs) -> anyhow::Result<ExitCode> {
    if args.wants_image() {
        return build_image(global, args);
    }
    let home = home()?;
    let script = args.script.request(&args.lock);
    let reporter = reporter::make(global.quiet, global.no_progress);
    let (resolved, env) =
        prisn_builder::prepare::prepare(&script.path, &script.prepare, &home, reporter.as_ref())?;
    drop(reporter);
    prisn::optimise::new_env(&env, &home);
    if args.format == Format::Text {
        printer::line(env.path.display().to_string());
        return Ok(ExitCode::SUCCESS);
    }
    let lock_exists = resolved.lock.path.is_file();
    printer::value(
        args.format,
        &EnvRecord {
            script: resolved.script.entry_path().display().to_string(),
            entrypoint: resolved.script.entrypoint.clone(),
            runtime: resolved.script.runtime.as_str().into(),
            lock: lock_exists.then(|| resolved.lock.path.display().to_string()),
            lock_digest: resolved.lock.section.digest(),
            packages: resolved.lock.section.packages.len(),
            env: env.path.display().to_string(),
            hash: env.hash.clone(),
            built: env.built,
        },
    )?;
    Ok(ExitCode::SUCCESS)
}

/// `prisn build … --image/--output`.
fn build_image(global: &Global, args: BuildArgs) -> anyhow::Result<ExitCode> {
    let settings = settings(global)?;
    let flags = prisn::image::BuildFlags::from(&args.build);
    let script = args.script.request(&args.lock);
    let reporter = reporter::make(global.quiet, global.no_progress);
    let resolved = prisn_builder::prepare::resolve(
        &script.path,
        &script.prepare,
        &settings.home,
        reporter.as_ref(),
    )?;
    let target = match &args.image {
        Some(name) => Some(image::qualify(
            name,
            settings.registry(&flags.registry).as_deref(),
        )?),
        None => None,
    };
    let dest = Destination {
        target,
        output: args.output.clone(),
    };
    let opts = image::plan(&settings, &resolved, &flags, dest)?;
    let rt = image::runtime()?;
    let built = image::build(&rt, &resolved, &opts, args.verify, reporter.as_ref())?;
    drop(reporter);
    match args.format {
        Format::Text => printer::line(
            built
                .reference
                .clone()
                .unwrap_or_else(|| built.digest.clone()),
        ),
        f => printer::value(f, &built)?,
    }
    Ok(ExitCode::SUCCESS)
}
