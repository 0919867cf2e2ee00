//! `prisn base NAME (--image REF | --output DIR)`: a Debian base image from pinned packages
//! (see `prisn_builder::base`). Prints `REGISTRY/REPO@sha256:…` (or the digest with only
//! --output) on stdout.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use clap::Args;
use prisn_builder::base::{self, preset};
use prisn_builder::image::{Registries, layout, publish};
use prisn_builder::lock::LockMode;

use super::build_image::{RegistryArgs, default_registry, qualify, registry_options, runtime};
use super::home;
use crate::cli::Global;
use crate::printer::{self, Format};
use crate::reporter;

#[derive(Debug, Args)]
pub struct BaseArgs {
    /// Which base: python3, node or bash.
    #[arg(value_parser = clap::builder::PossibleValuesParser::new(preset::NAMES))]
    pub name: String,
    /// Root packages, comma-separated (default: the runtime's package plus base-files,
    /// ca-certificates, coreutils, dash, netbase and tzdata). `NAME=VERSION` pins one.
    #[arg(long, value_delimiter = ',', value_name = "PKG,…")]
    pub packages: Option<Vec<String>>,
    /// More packages never to install (globs with one `*`), on top of the defaults
    /// (perl, dpkg, debconf, …).
    #[arg(long, value_delimiter = ',', value_name = "PKG,…")]
    pub exclude: Vec<String>,
    /// Debian suite or codename.
    #[arg(long, default_value = base::DEFAULT_SUITE)]
    pub suite: String,
    /// The Debian mirror (an air-gapped site's own copy).
    #[arg(long, env = "PRISN_DEBIAN_MIRROR", default_value = base::DEFAULT_MIRROR, value_name = "URL")]
    pub mirror: String,
    /// The OpenPGP keyring (binary) that signs the mirror's InRelease.
    #[arg(long, default_value = base::release::DEBIAN_KEYRING, value_name = "FILE")]
    pub keyring: PathBuf,
    /// The lock file (one section per base).
    #[arg(long, default_value = "base.lock", value_name = "FILE")]
    pub lock: PathBuf,
    /// Push the image: REGISTRY/REPO[:TAG], or REPO[:TAG] under --registry.
    #[arg(long, value_name = "REF", required_unless_present = "output")]
    pub image: Option<String>,
    /// Write the image as an OCI image layout into DIR (tagged NAME).
    #[arg(long, value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// Fail if base.lock is missing or stale instead of resolving again.
    #[arg(long, conflicts_with_all = ["frozen", "upgrade"])]
    pub locked: bool,
    /// Use base.lock as it is, even if stale; fail if it is missing.
    #[arg(long, conflicts_with = "upgrade")]
    pub frozen: bool,
    /// Resolve again against the archive as it is now and rewrite base.lock (how a
    /// security update reaches the base).
    #[arg(long)]
    pub upgrade: bool,
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// Output format.
    #[arg(short = 'o', long = "format", value_enum, default_value_t)]
    pub format: Format,
}

#[derive(serde::Serialize)]
struct Record {
    digest: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    reference: Option<String>,
    packages: usize,
    lock: PathBuf,
    lock_written: bool,
    cached: bool,
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
    let target = match &args.image {
        Some(name) => Some(qualify(
            name,
            default_registry(&args.registry, &home, global)?.as_deref(),
        )?),
        None => None,
    };
    let reporter = reporter::make(global.quiet, global.no_progress);
    let rt = runtime()?;
    let built = rt.block_on(base::build(&preset, &request, &opts, reporter.as_ref()))?;
    if let Some(dir) = &args.output {
        layout::write(dir, &built.store, std::slice::from_ref(&built.image))?;
    }
    let mut reference = None;
    if let Some(target) = &target {
        let regs = Registries::new(registry_options(&args.registry, &home, false)?);
        let pushed = rt.block_on(publish::push(
            &regs,
            target,
            &built.image,
            &built.store,
            None,
            reporter.as_ref(),
        ))?;
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
            },
        )?,
    }
    Ok(ExitCode::SUCCESS)
}
