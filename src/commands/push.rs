//! `prisn push SOURCE REF`: push an image from an OCI layout (`DIR[:NAME]`) or a bundle
//! (`bundle.tar[:NAME]`) to a registry, then check every digest there.

use std::process::ExitCode;

use super::settings;
use crate::cli::{Format, Global, PushArgs};
use crate::printer;
use crate::reporter;

pub fn run(global: &Global, args: PushArgs) -> anyhow::Result<ExitCode> {
    let settings = settings(global)?;
    let reporter = reporter::make(global.quiet, global.no_progress);
    let pushed = prisn::transfer::push(
        &settings,
        &args.source,
        &args.reference,
        &(&args.registry).into(),
        reporter.as_ref(),
    );
    drop(reporter);
    let pushed = pushed?;
    match args.format {
        Format::Text => printer::line(&pushed.reference),
        f => printer::value(f, &pushed)?,
    }
    Ok(ExitCode::SUCCESS)
}
