//! `prisn push SOURCE REF`: push an image from an OCI layout (`DIR[:NAME]`) or a bundle
//! (`bundle.tar[:NAME]`) to a registry, then check every digest there.

use std::process::ExitCode;

use clap::Args;
use prisn_builder::image::layout::StoredImage;
use prisn_builder::image::{Registries, bundle, publish};

use super::build_image::{RegistryArgs, default_registry, qualify, registry_options, runtime};
use super::home;
use crate::cli::Global;
use crate::printer::{self, Format};
use crate::reporter;

#[derive(Debug, Args)]
pub struct PushArgs {
    /// An OCI image layout DIR[:NAME] or a bundle FILE.tar[:NAME] (NAME picks one image).
    pub source: String,
    /// Where to: REGISTRY/REPO[:TAG], or REPO[:TAG] under --registry.
    pub reference: String,
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// Output format.
    #[arg(short = 'o', long = "format", value_enum, default_value_t)]
    pub format: Format,
}

pub fn run(global: &Global, args: PushArgs) -> anyhow::Result<ExitCode> {
    let home = home()?;
    let reporter = reporter::make(global.quiet, global.no_progress);
    let target = qualify(
        &args.reference,
        default_registry(&args.registry, &home, global)?.as_deref(),
    )?;
    let scratch = tempfile::tempdir()?;
    let (lay, name) = bundle::open_source(&args.source, scratch.path())?;
    let desc = lay.find(name.as_deref())?;
    let image = StoredImage::load(&lay.blobs(), &desc)?;
    let regs = Registries::new(registry_options(&args.registry, &home, false)?);
    let rt = runtime()?;
    let pushed = rt.block_on(async {
        let pushed = publish::push(
            &regs,
            &target,
            &image,
            &lay.blobs(),
            None,
            reporter.as_ref(),
        )
        .await?;
        publish::verify(&regs, &target, &image).await?;
        Ok::<_, prisn_builder::Error>(pushed)
    })?;
    drop(reporter);
    match args.format {
        Format::Text => printer::line(&pushed.reference),
        f => printer::value(f, &pushed)?,
    }
    Ok(ExitCode::SUCCESS)
}
