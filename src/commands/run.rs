//! `prisn run`: lock, build the environment if needed, then become the script's
//! interpreter (exec), so signals reach the script directly and its exit code is ours.

use std::os::unix::process::CommandExt;
use std::process::ExitCode;

use anyhow::Context;

use prisn::request::parse_env;

use super::home;
use crate::cli::{Global, RunArgs};
use crate::reporter;

pub fn run(global: &Global, args: RunArgs) -> anyhow::Result<ExitCode> {
    if args.detach {
        return super::deploy::detach(global, args);
    }
    let env_vars = parse_env(&args.env)?;
    let home = home()?;
    let script = args.script.request(&args.lock);
    let (resolved, env) = {
        let reporter = reporter::make(global.quiet, global.no_progress);
        prisn_builder::prepare::prepare(&script.path, &script.prepare, &home, reporter.as_ref())?
        // The reporter drops here, clearing its bars before the script writes anything.
    };
    prisn::optimise::new_env(&env, &home);
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
