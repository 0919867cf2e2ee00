//! `prisn build`: the environment in the store (and, with --image/--output, the image).

use std::process::ExitCode;

use serde::Serialize;

use super::{home, prepare_options};
use crate::cli::{BuildArgs, Global};
use crate::printer::{self, Format};
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
    if args.image.wanted() {
        return super::build_image::run(global, args);
    }
    let home = home()?;
    let reporter = reporter::make(global.quiet, global.no_progress);
    let (resolved, env) = prisn_builder::prepare::prepare(
        &args.script.script,
        &prepare_options(&args.script, &args.lock),
        &home,
        reporter.as_ref(),
    )?;
    drop(reporter);
    super::optimise_new_env(&env);
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
