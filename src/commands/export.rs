//! `prisn export REF... -o bundle.tar`: images and all their blobs, as the registry stores
//! them (never re-encoded), in one tar for an air-gapped site.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use prisn_builder::image::{Registries, bundle};

use super::build_image::{RegistryArgs, default_registry, qualify, registry_options, runtime};
use super::home;
use crate::cli::Global;
use crate::printer::{self, Format};
use crate::reporter;

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Images to export: REGISTRY/REPO[:TAG|@sha256:…] (REPO[:TAG] under --registry).
    #[arg(required = true)]
    pub references: Vec<String>,
    /// The bundle file to write (an OCI image layout in a tar).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: PathBuf,
    /// Which image to take from a multi-platform index.
    #[arg(long, value_name = "OS/ARCH", default_value = "linux/amd64")]
    pub platform: String,
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// Output format for the list of exported images.
    #[arg(long = "format", value_enum, default_value_t)]
    pub format: Format,
}

#[derive(serde::Serialize)]
struct Exported {
    name: String,
    digest: String,
    blobs: usize,
    bytes: u64,
}

pub fn run(global: &Global, args: ExportArgs) -> anyhow::Result<ExitCode> {
    let home = home()?;
    let reporter = reporter::make(global.quiet, global.no_progress);
    let registry = default_registry(&args.registry, &home, global)?;
    let refs = args
        .references
        .iter()
        .map(|r| qualify(r, registry.as_deref()))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let regs = Registries::new(registry_options(&args.registry, &home, false)?);
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
