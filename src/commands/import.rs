//! `prisn import bundle.tar --registry HOST[/PREFIX]`: check every blob of a bundle, push
//! its images (same repository paths under PREFIX, same tags), and verify every digest.

use std::process::ExitCode;

use anyhow::Context as _;
use prisn_builder::image::{Registries, bundle};

use super::settings;
use crate::cli::Format;
use crate::cli::{Global, ImportArgs};
use crate::printer;
use crate::reporter;
use prisn::image::runtime;

pub fn run(global: &Global, args: ImportArgs) -> anyhow::Result<ExitCode> {
    let settings = settings(global)?;
    let flags = prisn::settings::RegistryFlags::from(&args.registry);
    let reporter = reporter::make(global.quiet, global.no_progress);
    let registry = settings
        .registry(&flags)
        .context("say where to import to: --registry HOST[:PORT][/PREFIX]")?;
    let scratch = tempfile::tempdir()?;
    // Every blob is checked while unpacking: a tampered bundle stops here, before any push.
    let lay = bundle::unpack(&args.bundle, &scratch.path().join("layout"))?;
    let regs = Registries::new(settings.registry_options(&flags, false));
    let pushed = runtime()?.block_on(bundle::import(&regs, &lay, &registry, reporter.as_ref()))?;
    drop(reporter);
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
