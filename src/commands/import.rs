//! `prisn import bundle.tar --registry HOST[/PREFIX]`: check every blob of a bundle, push
//! its images (same repository paths under PREFIX, same tags), and verify every digest.

use std::process::ExitCode;

use super::settings;
use crate::cli::{Format, Global, ImportArgs};
use crate::printer;
use crate::reporter;

pub fn run(global: &Global, args: ImportArgs) -> anyhow::Result<ExitCode> {
    let settings = settings(global)?;
    let reporter = reporter::make(global.quiet, global.no_progress);
    let pushed = prisn::transfer::import(
        &settings,
        &args.bundle,
        &(&args.registry).into(),
        reporter.as_ref(),
    );
    drop(reporter);
    let pushed = pushed?;
    match args.format {
        Format::Text => {
            for p in &pushed {
                printer::line(&p.reference);
            }
        }
        f => printer::value(f, &pushed)?,
    }
    Ok(ExitCode::SUCCESS)
}
