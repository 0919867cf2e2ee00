//! `prisn verify`: rebuild an image from source and lock, with empty layer caches, on the base
//! digest the image records, and check the digest is the one in the registry.

use anyhow::bail;
use prisn_builder::Reporter;
use prisn_builder::image::build::{LABEL_BASE_DIGEST, LABEL_BASE_NAME, LABEL_BYTECODE, LABEL_LOCK};
use prisn_builder::image::manifest::{self, Parsed};
use prisn_builder::image::{ImageOptions, Registries};
use prisn_builder::lock::BasePin;

use crate::image::{qualify, runtime};
use crate::request::ScriptRequest;
use crate::settings::{RegistryFlags, Settings};

/// What to verify.
#[derive(Debug, Clone)]
pub struct VerifyRequest {
    /// `REGISTRY/REPO[:TAG|@sha256:…]`, or `REPO…` under the registry flag or the context's.
    pub reference: String,
    /// The script it was built from (its prisn.lock is used as it is).
    pub script: ScriptRequest,
    /// `os/arch` of the image.
    pub platform: String,
    /// uv's `--python-platform`, if the image was built with one.
    pub python_platform: Option<String>,
    pub registry: RegistryFlags,
}

/// Rebuild and compare; returns `REPO@sha256:…` when the digests match.
///
/// # Errors
/// An image not built by prisn, built from another lock, or a rebuild with another digest.
pub fn rebuild(
    settings: &Settings,
    req: &VerifyRequest,
    reporter: &dyn Reporter,
) -> anyhow::Result<String> {
    let home = settings.home.clone();
    let reference = qualify(&req.reference, settings.registry(&req.registry).as_deref())?;
    // The lock as it is: a rebuild must not re-lock.
    let mut prepare = req.script.prepare.clone();
    prepare.lock.mode = prisn_builder::lock::LockMode::Frozen;
    let resolved = prisn_builder::prepare::resolve(&req.script.path, &prepare, &home, reporter)?;
    let reg_opts = settings.registry_options(&req.registry, false);
    let rt = runtime()?;
    let regs = Registries::new(reg_opts.clone());
    let (bytes, digest) = rt.block_on(regs.image_manifest(&reference, &req.platform))?;
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
    opts.platform = req.platform.clone();
    opts.python_platform = req.python_platform.clone();
    opts.registry = reg_opts;
    opts.record_base = false;
    opts.no_layer_cache = true;
    // The user it was built with (images from before `--user` have none: keep the base's).
    opts.user = config["config"]["User"]
        .as_str()
        .filter(|u| !u.is_empty())
        .map(str::to_string);
    // Pycs come from the base's own Python, so the label is all a rebuild needs to know.
    opts.bytecode = if label(LABEL_BYTECODE).is_some() {
        prisn_builder::image::Bytecode::Base
    } else {
        prisn_builder::image::Bytecode::None
    };
    let rebuilt = rt.block_on(prisn_builder::image::build_image(
        &resolved.script,
        &section,
        &opts,
        reporter,
    ))?;
    if rebuilt.digest != digest {
        bail!(
            "not reproducible: {reference} is {digest}, the rebuild from {} and its lock is {}",
            resolved.script.entry_path().display(),
            rebuilt.digest
        );
    }
    Ok(format!("{}@{digest}", reference.name()))
}
