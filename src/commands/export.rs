//! `prisn export REF... -o bundle.tar`: images and all their blobs, as the registry stores
//! them (never re-encoded), in one tar for an air-gapped site.

use std::process::ExitCode;

use prisn_builder::image::{Registries, bundle};

use super::settings;
use crate::cli::Format;
use crate::cli::{ExportArgs, Global};
use crate::printer;
use crate::reporter;
use prisn::image::{qualify, runtime};

#[derive(serde::Serialize)]
struct Exported {
    name: String,
    digest: String,
    blobs: usize,
    bytes: u64,
}

pub fn run(global: &Global, args: ExportArgs) -> anyhow::Result<ExitCode> {
    let settings = settings(global)?;
    let home = settings.home.clone();
    let flags = prisn::settings::RegistryFlags::from(&args.registry);
    let reporter = reporter::make(global.quiet, global.no_progress);
    let registry = settings.registry(&flags);
    let refs = args
        .references
        .iter()
        .map(|r| qualify(r, registry.as_deref()))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let regs = Registries::new(settings.registry_options(&flags, false));
    let cache = prisn_builder::image::build::blob_cache(&home);
    let images = runtime()?.block_on(bundle::export(
        &regs,
        &refs,
        &args.platform,
        &cache,
        &args.output,
        reporter.as_ref(),
    ))?;
    drop(reporter);
    let list: Vec<Exported> = images
        .iter()
        .map(|i| Exported {
            name: i.manifest.ref_name().unwrap_or_default().to_string(),
            digest: i.manifest.digest.clone(),
            blobs: i.blobs.len(),
            bytes: i.blobs.iter().map(|b| b.size).sum(),
        })
        .collect();
    match args.format {
        Format::Text => {
            for e in &list {
                printer::line(format!("{}@{}", e.name, e.digest));
            }
        }
        f => printer::value(f, &list)?,
    }
    printer::note(format!("wrote {}", args.output.display()));
    Ok(ExitCode::SUCCESS)
}
