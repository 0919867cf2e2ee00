//! `prisn logs NAME`: a workload's output (stdout and stderr, in order), optionally followed.

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use crate::backend::LogOptions;
use crate::cli::Global;

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
