//! `prisn export REF... -o bundle.tar`: images and all their blobs, as the registry stores
//! them (never re-encoded), in one tar for an air-gapped site.

use std::process::ExitCode;

use super::settings;
use crate::cli::{ExportArgs, Format, Global};
use crate::printer;
use crate::reporter;

pub fn run(global: &Global, args: ExportArgs) -> anyhow::Result<ExitCode> {
    let settings = settings(global)?;
    let reporter = reporter::make(global.quiet, global.no_progress);
    let list = prisn::transfer::export(
        &settings,
        &args.references,
        &args.platform,
        &args.output,
        &(&args.registry).into(),
        reporter.as_ref(),
    );
    drop(reporter);
    let list = list?;
    match args.format {
        Format::Text => {
            for e in &list {
                printer::line(&e.reference);
            }
        }
        f => printer::value(f, &list)?,
    }
    printer::note(format!("wrote {}", args.output.display()));
    Ok(ExitCode::SUCCESS)
}
