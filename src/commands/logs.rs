//! `prisn logs NAME`: a workload's output (stdout and stderr, in order), optionally followed.

use std::process::ExitCode;

use crate::cli::{Global, LogsArgs};
use prisn::backend::LogOptions;

pub fn run(global: &Global, args: LogsArgs) -> anyhow::Result<ExitCode> {
    let (_, backend) = super::backend(global)?;
    let opts = LogOptions {
        follow: args.follow,
        tail: args.tail,
        since: args.since,
        timestamps: args.timestamps,
    };
    let mut out = std::io::stdout().lock();
    backend.logs(&args.name, &opts, &mut out)?;
    Ok(ExitCode::SUCCESS)
}
