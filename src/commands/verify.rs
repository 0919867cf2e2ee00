//! `prisn verify REF SCRIPT`: rebuild an image from source and lock, with empty layer
//! caches, on the base digest the image records, and check the digest is the one in the
//! registry. Also the comparison `prisn build --verify` uses.

use std::process::ExitCode;

use anyhow::bail;
use clap::Args;
use prisn_builder::image::build::{LABEL_BASE_DIGEST, LABEL_BASE_NAME, LABEL_BYTECODE, LABEL_LOCK};
use prisn_builder::image::manifest::{self, Parsed};
use prisn_builder::image::{BuiltImage, ImageOptions, Registries};
use prisn_builder::lock::BasePin;

use super::build_image::{RegistryArgs, default_registry, qualify, registry_options, runtime};
use super::{home, prepare_options};
use crate::cli::{Global, LockMode, ScriptArgs};
use crate::printer;
use crate::reporter;

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The image to check: REGISTRY/REPO[:TAG|@sha256:…].
    pub reference: String,
    #[command(flatten)]
    pub script: ScriptArgs,
    /// Platform of the image.
    #[arg(long, value_name = "OS/ARCH", default_value = "linux/amd64")]
    pub platform: String,
    /// uv's --python-platform, if the image was built with one.
    #[arg(long, value_name = "PLATFORM")]
    pub python_platform: Option<String>,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// Same digest, or an error that says which part differs.
pub fn compare(first: &BuiltImage, again: &BuiltImage) -> anyhow::Result<()> {
    if first.digest == again.digest {
        return Ok(());
    }
    let mut diffs = Vec::new();
    let roles = |b: &BuiltImage| {
        b.layers
            .iter()
            .filter(|l| l.role != "base")
            .map(|l| (l.role.clone(), l.digest.clone()))
            .collect::<Vec<_>>()
    };
    let (a, b) = (roles(first), roles(again));
    for (role, digest) in &a {
        match b.iter().find(|(r, _)| r == role) {
            Some((_, d)) if d != digest => diffs.push(format!("{role} layer: {digest} vs {d}")),
            None => diffs.push(format!("{role} layer missing in the rebuild")),
            _ => {}
        }
    }
    if first.base_digest != again.base_digest {
        diffs.push(format!(
            "base: {} vs {}",
            first.base_digest, again.base_digest
        ));
    }
    if first.config_digest != again.config_digest {
        diffs.push(format!(
            "config: {} vs {}",
            first.config_digest, again.config_digest
        ));
    }
    bail!(
        "not reproducible: the rebuild gives {} instead of {}\n  {}",
        again.digest,
        first.digest,
        diffs.join("\n  ")
    )
}

pub fn run(global: &Global, args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let home = home()?;
    let reporter = reporter::make(global.quiet, global.no_progress);
    let reference = qualify(
        &args.reference,
        default_registry(&args.registry, &home, global)?.as_deref(),
    )?;
    let resolved = prisn_builder::prepare::resolve(
        &args.script.script,
        &prepare_options(
            &args.script,
            &LockMode {
                locked: false,
                frozen: true,
            },
        ),
        &home,
        reporter.as_ref(),
    )?;
    let reg_opts = registry_options(&args.registry, &home, false)?;
    let rt = runtime()?;
    let regs = Registries::new(reg_opts.clone());
    let (bytes, digest) = rt.block_on(regs.image_manifest(&reference, &args.platform))?;
    let Parsed::Image(m) = manifest::parse(&bytes, "", &reference.to_string())? else {
        bail!("{reference} is not an image manifest");
    };
    let (config, _) = {
        let cache = prisn_builder::image::build::blob_cache(&home);
        rt.block_on(regs.pull_blob(&reference.with_digest(&digest), &m.config.digest, &cache))?;
        (
            serde_json::from_slice::<serde_json::Value>(&cache.read(&m.config.digest)?)?,
            (),
        )
    };
    let label = |k: &str| config["config"]["Labels"][k].as_str().map(str::to_string);
    let (Some(base_name), Some(base_digest)) = (label(LABEL_BASE_NAME), label(LABEL_BASE_DIGEST))
    else {
        bail!(
            "{reference} has no {LABEL_BASE_NAME}/{LABEL_BASE_DIGEST} labels: it was not built by prisn"
        );
    };
    let mut section = resolved.lock.section.clone();
    if let Some(lock) = label(LABEL_LOCK)
        && lock != section.digest()
    {
        bail!(
            "{reference} was built from another lock ({lock}) than {} has now ({}); check out the commit it was built from",
            resolved.lock.path.display(),
            section.digest()
        );
    }
    section.base = Some(BasePin {
        image: base_name.clone(),
        digest: base_digest,
    });
    let mut opts = ImageOptions::new(home.clone());
    opts.base = Some(base_name);
    opts.platform = args.platform.clone();
    opts.python_platform = args.python_platform.clone();
    opts.registry = reg_opts;
    opts.record_base = false;
    opts.no_layer_cache = true;
    if let Some(bytecode) = label(LABEL_BYTECODE) {
        // "unchecked-hash cpython 3.11.2": compile again with a python of that minor version.
        let version = bytecode.rsplit(' ').next().unwrap_or_default();
        let minor: String = version.split('.').take(2).collect::<Vec<_>>().join(".");
        let name = format!("python{minor}");
        let py = prisn_builder::interpreter::find_on_path(&name).ok_or_else(|| {
            anyhow::anyhow!(
                "{reference} ships pycs made by CPython {version}; put {name} on PATH to rebuild it"
            )
        })?;
        opts.bytecode = prisn_builder::image::Bytecode::Compile(py);
    }
    let rebuilt = rt.block_on(prisn_builder::image::build_image(
        &resolved.script,
        &section,
        &opts,
        reporter.as_ref(),
    ))?;
    drop(reporter);
    if rebuilt.digest != digest {
        bail!(
            "not reproducible: {reference} is {digest}, the rebuild from {} and its lock is {}",
            resolved.script.entry_path().display(),
            rebuilt.digest
        );
    }
    printer::line(format!("{}@{digest}", reference.name()));
    Ok(ExitCode::SUCCESS)
}
