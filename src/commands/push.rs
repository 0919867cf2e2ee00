//! `prisn push SOURCE REF`: push an image from an OCI layout (`DIR[:NAME]`) or a bundle
//! (`bundle.tar[:NAME]`) to a registry, then check every digest there.

use std::process::ExitCode;

use prisn_builder::image::layout::StoredImage;
use prisn_builder::image::{Registries, bundle, publish};

use super::settings;
use crate::cli::Format;
use crate::cli::{Global, PushArgs};
use crate::printer;
use crate::reporter;
use prisn::image::{qualify, runtime};

pub fn run(global: &Global, args: PushArgs) -> anyhow::Result<ExitCode> {
    let settings = settings(global)?;
    let flags = prisn::settings::RegistryFlags::from(&args.registry);
    let reporter = reporter::make(global.quiet, global.no_progress);
    let target = qualify(&args.reference, settings.registry(&flags).as_deref())?;
    let scratch = tempfile::tempdir()?;
    let (lay, name) = bundle::open_source(&args.source, scratch.path())?;
    let desc = lay.find(name.as_deref())?;
    let image = StoredImage::load(&lay.blobs(), &desc)?;
    let regs = Registries::new(settings.registry_options(&flags, false));
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
