//! `prisn import bundle.tar --registry HOST[/PREFIX]`: check every blob of a bundle, push
//! its images (same repository paths under PREFIX, same tags), and verify every digest.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use prisn_builder::image::{Registries, bundle};

use super::build_image::{RegistryArgs, default_registry, registry_options, runtime};
use super::home;
use crate::cli::Global;
use crate::printer::{self, Format};
use crate::reporter;

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// A bundle written by `prisn export`.
    pub bundle: PathBuf,
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// Output format.
    #[arg(short = 'o', long = "format", value_enum, default_value_t)]
    pub format: Format,
}

pub fn run(global: &Global, args: ImportArgs) -> anyhow::Result<ExitCode> {
    let home = home()?;
    let reporter = reporter::make(global.quiet, global.no_progress);
    let registry = default_registry(&args.registry, &home, global)?
        .context("say where to import to: --registry HOST[:PORT][/PREFIX]")?;
    let scratch = tempfile::tempdir()?;
    // Every blob is checked while unpacking: a tampered bundle stops here, before any push.
    let lay = bundle::unpack(&args.bundle, &scratch.path().join("layout"))?;
    let regs = Registries::new(registry_options(&args.registry, &home, false)?);
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
