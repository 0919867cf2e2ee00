//! `prisn run`: lock, build the environment if needed, then become the script's
//! interpreter (exec), so signals reach the script directly and its exit code is ours.

use std::os::unix::process::CommandExt;
use std::process::ExitCode;

use anyhow::Context;

use super::{home, prepare_options};
use crate::cli::{Global, RunArgs};
use crate::reporter;

pub fn run(global: &Global, args: RunArgs) -> anyhow::Result<ExitCode> {
    if args.detach {
        return super::deploy::detach(global, args);
    }
    let env_vars = parse_env(&args.env)?;
    let home = home()?;
    let (resolved, env) = {
        let reporter = reporter::make(global.quiet, global.no_progress);
        prisn_builder::prepare::prepare(
            &args.script.script,
            &prepare_options(&args.script, &args.lock),
            &home,
            reporter.as_ref(),
        )?
        // The reporter drops here, clearing its bars before the script writes anything.
    };
    super::optimise_new_env(&env);
    let mut cmd = env.command(&resolved.script);
    cmd.args(&args.args).envs(env_vars);
    // The script holds the environment's lease while it runs: `prisn gc` leaves it alone.
    if let Some(lease) = &env.lease {
        lease.keep_across_exec()?;
    }
    // exec only returns on failure.
    let err = cmd.exec();
    Err(err).with_context(|| {
        format!(
            "cannot start {} for {}",
            cmd.get_program().to_string_lossy(),
            resolved.script.entry_path().display()
        )
    })
}

/// `KEY=VALUE` pairs from `-e`.
pub fn parse_env(pairs: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    pairs
        .iter()
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => anyhow::bail!("invalid --env {pair:?}: expected KEY=VALUE, e.g. -e PORT=8080"),
        })
        .collect()
}
