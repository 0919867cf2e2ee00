//! `prisn base NAME (--image REF | --output DIR)`: a Debian base image from pinned packages
//! (see `prisn_builder::base`). Prints `REGISTRY/REPO@sha256:…` (or the digest with only
//! --output) on stdout.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use prisn_builder::base::{self, preset};
use prisn_builder::image::{Registries, layout, publish, referrers};
use prisn_builder::lock::LockMode;

use super::{home, settings};
use crate::cli::{BaseArgs, Format, Global};
use crate::printer;
use crate::reporter;
use prisn::image::{qualify, runtime};

#[derive(serde::Serialize)]
struct Record {
    digest: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    reference: Option<String>,
    packages: usize,
    lock: PathBuf,
    lock_written: bool,
    cached: bool,
    /// The manifest digest of the base's SBOM artifact (its subject: the base).
    sbom: String,
}

pub fn run(global: &Global, args: BaseArgs) -> anyhow::Result<ExitCode> {
    let home = home()?;
    let Some(preset) = preset::find(&args.name) else {
        bail!(
            "unknown base {:?}; prisn knows {}",
            args.name,
            preset::NAMES.join(", ")
        );
    };
    let request = base::request(
        &preset,
        args.packages.clone(),
        args.exclude.clone(),
        &args.suite,
    );
    let opts = base::Options {
        home: home.clone(),
        mirror: args.mirror.clone(),
        keyring: args.keyring.clone(),
        lock_path: args.lock.clone(),
        mode: if args.locked {
            LockMode::Locked
        } else if args.frozen {
            LockMode::Frozen
        } else {
            LockMode::Refresh
        },
        upgrade: args.upgrade,
        retries: 3,
    };
    let settings = settings(global)?;
    let flags = prisn::settings::RegistryFlags::from(&args.registry);
    let target = match &args.image {
        Some(name) => Some(qualify(name, settings.registry(&flags).as_deref())?),
        None => None,
    };
    let reporter = reporter::make(global.quiet, global.no_progress);
    let rt = runtime()?;
    let built = rt.block_on(base::build(&preset, &request, &opts, reporter.as_ref()))?;
    // A base is an image like any other: it gets its SBOM too, beside it.
    let sbom = prisn_builder::sbom::for_base(&built, preset.name)?;
    if let Some(dir) = &args.output {
        layout::write(dir, &built.store, &[built.image.clone(), sbom.clone()])?;
    }
    let mut reference = None;
    if let Some(target) = &target {
        let regs = Registries::new(settings.registry_options(&flags, false));
        let pushed = rt.block_on(publish::push(
            &regs,
            target,
            &built.image,
            &built.store,
            None,
            reporter.as_ref(),
        ))?;
        rt.block_on(referrers::push(&regs, target, &sbom, &built.store))?;
        reference = Some(pushed.reference);
    }
    drop(reporter);
    match args.format {
        Format::Text => printer::line(reference.clone().unwrap_or_else(|| built.digest.clone())),
        f => printer::value(
            f,
            &Record {
                digest: built.digest.clone(),
                reference,
                packages: built.section.packages.len(),
                lock: args.lock.clone(),
                lock_written: built.lock_written,
                cached: built.cached,
                sbom: sbom.manifest.digest.clone(),
            },
        )?,
    }
    Ok(ExitCode::SUCCESS)
}
