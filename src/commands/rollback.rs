//! `prisn rollback NAME [--to REVISION]`: make an earlier release current again.

use std::process::ExitCode;

use crate::cli::{Format, Global, RollbackArgs};
use crate::printer;

pub fn run(global: &Global, args: RollbackArgs) -> anyhow::Result<ExitCode> {
    let (_, backend) = super::backend(global)?;
    let wait = (!args.no_wait).then_some(args.timeout);
    let r = backend.rollback(&args.name, args.to, wait)?;
    if args.format != Format::Text {
        printer::value(args.format, &r)?;
        return Ok(ExitCode::SUCCESS);
    }
    if r.changed {
        printer::line(format!(
            "{}/{} rolled back to revision {} (now revision {})",
            r.kind, r.name, r.restored, r.revision
        ));
    } else {
        printer::line(format!(
            "{}/{} unchanged: revision {} runs already",
            r.kind, r.name, r.restored
        ));
    }
    if let (Some(phase), false) = (&r.phase, global.quiet) {
        printer::note(format!("{} is {}", r.name, phase.to_lowercase()));
    }
    Ok(ExitCode::SUCCESS)
}
