//! `prisn scale NAME N`: how many instances run. Local mode runs 0 or 1 of an app (0 stops
//! it, 1 starts it); a cron job is suspended with 0 and resumed with 1.

use std::process::ExitCode;

use crate::cli::{Global, ScaleArgs};
use crate::printer;

pub fn run(global: &Global, args: ScaleArgs) -> anyhow::Result<ExitCode> {
    let (_, backend) = super::backend(global)?;
    let w = backend.scale(&args.name, args.replicas)?;
    printer::line(format!("{}/{} scaled to {}", w.kind, w.name, args.replicas));
    if !global.quiet {
        printer::note(format!("{} is {}", w.name, w.phase.to_lowercase()));
    }
    Ok(ExitCode::SUCCESS)
}
