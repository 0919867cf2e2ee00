//! `deploy --image REF@sha256:…`: deploy an image prisn built, with no source and no index
//! (the end of the air gap: export → import → deploy). What the deploy needs comes from the
//! image itself: the runtime and lock digest from its prisn labels, the base from the OCI
//! base labels; the entrypoint is the image's own.

use anyhow::{Context as _, bail};
use prisn_api::Runtime;
use prisn_builder::image::Registries;
use prisn_builder::image::build::{LABEL_BASE_NAME, LABEL_LOCK, LABEL_RUNTIME};
use prisn_builder::image::manifest::{self, Parsed};

use crate::settings::{RegistryFlags, Settings};

/// What a prisn image says about itself.
#[derive(Debug, Clone)]
pub struct Inspected {
    /// `registry/repo@sha256:…`, as given (qualified).
    pub reference: String,
    pub runtime: Runtime,
    pub lock_digest: String,
    pub base: Option<String>,
}

/// Read the image's manifest and config from its registry and check it is a prisn image
/// pinned by digest.
///
/// # Errors
/// A reference without a digest, an image without prisn's labels, a registry that serves
/// other bytes than the digest names.
pub fn inspect(
    settings: &Settings,
    rt: &tokio::runtime::Runtime,
    image: &str,
    platform: &str,
    registry: &RegistryFlags,
) -> anyhow::Result<Inspected> {
    let reference = crate::image::qualify(image, settings.registry(registry).as_deref())?;
    let Some(wanted) = reference.digest.clone() else {
        bail!(
            "--image {image} has no digest: deploy pins images by digest; give REF@sha256:… (`prisn import` and `prisn push` print them)"
        );
    };
    let regs = Registries::new(settings.registry_options(registry, false));
    let (bytes, digest) = rt.block_on(regs.manifest(&reference))?;
    if digest != wanted {
        bail!("{reference} answered with manifest {digest}, not the digest asked for");
    }
    let cfg_digest = match manifest::parse(&bytes, "", &reference.to_string())? {
        Parsed::Image(m) => m.config.digest,
        _ => bail!(
            "{reference} is an image index, not an image: prisn builds single-platform images; give the digest of the {platform} image"
        ),
    };
    let cache = prisn_builder::image::build::blob_cache(&settings.home);
    rt.block_on(regs.pull_blob(&reference, &cfg_digest, &cache))?;
    let config: serde_json::Value = serde_json::from_slice(&cache.read(&cfg_digest)?)
        .with_context(|| format!("the config of {reference} is not JSON"))?;
    let label = |k: &str| config["config"]["Labels"][k].as_str().map(str::to_string);
    let (Some(runtime), Some(lock_digest)) = (label(LABEL_RUNTIME), label(LABEL_LOCK)) else {
        bail!(
            "{reference} was not built by prisn (it has no {LABEL_RUNTIME} and {LABEL_LOCK} labels); deploy images made by `prisn build`, or write a PrisnApp with its source.image yourself"
        );
    };
    let runtime: Runtime = runtime
        .parse()
        .map_err(|e| anyhow::anyhow!("{reference}: label {LABEL_RUNTIME}: {e}"))?;
    Ok(Inspected {
        reference: reference.to_string(),
        runtime,
        lock_digest,
        base: label(LABEL_BASE_NAME),
    })
}
