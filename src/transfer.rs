//! Moving built images between places without rebuilding them: `prisn push` (a layout or a
//! bundle to a registry), `prisn export` (registry images into one bundle tar) and
//! `prisn import` (a bundle into another registry). Every digest is checked on the way.

use std::path::Path;

use anyhow::Context as _;
use prisn_builder::Reporter;
use prisn_builder::image::layout::StoredImage;
use prisn_builder::image::publish::{self, Pushed};
use prisn_builder::image::{Registries, bundle, referrers};
use serde::Serialize;

use crate::image::{qualify, runtime};
use crate::settings::{RegistryFlags, Settings};

/// Push the image at `source` (`DIR[:NAME]` layout or `FILE.tar[:NAME]` bundle) to
/// `reference`, then check every digest in the registry.
///
/// # Errors
/// A source that is not a layout or bundle, a name not in it, registry failures.
pub fn push(
    settings: &Settings,
    source: &str,
    reference: &str,
    registry: &RegistryFlags,
    reporter: &dyn Reporter,
) -> anyhow::Result<Pushed> {
    let target = qualify(reference, settings.registry(registry).as_deref())?;
    let scratch = tempfile::tempdir()?;
    let (lay, name) = bundle::open_source(source, scratch.path())?;
    let desc = lay.find(name.as_deref())?;
    let image = StoredImage::load(&lay.blobs(), &desc)?;
    let regs = Registries::new(settings.registry_options(registry, false));
    let pushed = runtime()?.block_on(async {
        let pushed = publish::push(&regs, &target, &image, &lay.blobs(), None, reporter).await?;
        publish::verify(&regs, &target, &image).await?;
        // The layout's SBOM of this image (a `build --output` wrote it) goes along.
        for art in referrers::in_layout(&lay, &image.manifest.digest)? {
            referrers::push(&regs, &target, &art, &lay.blobs()).await?;
        }
        Ok::<_, prisn_builder::Error>(pushed)
    })?;
    Ok(pushed)
}

/// One image written into a bundle.
#[derive(Debug, Clone, Serialize)]
pub struct Exported {
    /// The name as given (`HOST/REPO:TAG` or `HOST/REPO@sha256:…`), as the bundle records it.
    pub name: String,
    pub digest: String,
    /// `HOST/REPO[:TAG]@sha256:…`: the name pinned to its digest, the digest once.
    pub reference: String,
    pub blobs: usize,
    pub bytes: u64,
    /// Digests of the SBOMs carried with it.
    pub sboms: Vec<String>,
}

/// Write `references` and all their blobs, as the registry stores them, into `output`.
///
/// # Errors
/// Unknown images, a platform missing from an index, registry and IO failures.
pub fn export(
    settings: &Settings,
    references: &[String],
    platform: &str,
    output: &Path,
    registry: &RegistryFlags,
    reporter: &dyn Reporter,
) -> anyhow::Result<Vec<Exported>> {
    let prefix = settings.registry(registry);
    let refs = references
        .iter()
        .map(|r| qualify(r, prefix.as_deref()))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let regs = Registries::new(settings.registry_options(registry, false));
    let cache = prisn_builder::image::build::blob_cache(&settings.home);
    let images = runtime()?.block_on(bundle::export(
        &regs, &refs, platform, &cache, output, reporter,
    ))?;
    let sboms = |digest: &str| -> Vec<String> {
        images
            .iter()
            .filter(|a| {
                a.manifest.artifact_type.is_some()
                    && referrers::subject_of(&a.manifest_bytes).as_deref() == Some(digest)
            })
            .map(|a| a.manifest.digest.clone())
            .collect()
    };
    Ok(images
        .iter()
        .filter(|i| i.manifest.artifact_type.is_none())
        .map(|i| {
            let name = i.manifest.ref_name().unwrap_or_default().to_string();
            let unpinned = name.split_once('@').map_or(name.as_str(), |(n, _)| n);
            Exported {
                reference: format!("{unpinned}@{}", i.manifest.digest),
                name: name.clone(),
                digest: i.manifest.digest.clone(),
                blobs: i.blobs.len(),
                bytes: i.blobs.iter().map(|b| b.size).sum(),
                sboms: sboms(&i.manifest.digest),
            }
        })
        .collect())
}

/// Check every blob of `bundle`, push its images under the registry prefix (same paths, same
/// tags) and verify every digest.
///
/// # Errors
/// No registry to import to, a tampered bundle (before any push), registry failures.
pub fn import(
    settings: &Settings,
    bundle_file: &Path,
    registry: &RegistryFlags,
    reporter: &dyn Reporter,
) -> anyhow::Result<Vec<Pushed>> {
    let prefix = settings
        .registry(registry)
        .context("say where to import to: --registry HOST[:PORT][/PREFIX]")?;
    let scratch = tempfile::tempdir()?;
    // Every blob is checked while unpacking: a tampered bundle stops here, before any push.
    let lay = bundle::unpack(bundle_file, &scratch.path().join("layout"))?;
    let regs = Registries::new(settings.registry_options(registry, false));
    Ok(runtime()?.block_on(bundle::import(&regs, &lay, &prefix, reporter))?)
}

/// The SBOM document of an image: `REGISTRY/REPO[:TAG|@sha256:…]` (its referrers there) or
/// an OCI layout / bundle `PATH[:NAME]` (the artifact written beside the image). The newest
/// when there are several. Returns (image digest, document bytes as stored).
///
/// # Errors
/// No such image; an image without an SBOM; registry failures.
pub fn sbom(
    settings: &Settings,
    source: &str,
    platform: &str,
    registry: &RegistryFlags,
) -> anyhow::Result<(String, Vec<u8>)> {
    let scratch = tempfile::tempdir()?;
    match bundle::open_source(source, scratch.path()) {
        Ok((lay, name)) => {
            let desc = lay.find(name.as_deref())?;
            let arts = referrers::in_layout(&lay, &desc.digest)?;
            let art = referrers::newest(&arts)
                .with_context(|| format!("{source} holds no SBOM for image {}", desc.digest))?;
            Ok((desc.digest, referrers::document(art, &lay.blobs())?))
        }
        Err(prisn_builder::Error::NotASource { .. }) => {
            let image = qualify(source, settings.registry(registry).as_deref())?;
            let regs = Registries::new(settings.registry_options(registry, false));
            let cache = prisn_builder::image::build::blob_cache(&settings.home);
            runtime()?.block_on(async {
                let (_, digest) = regs.image_manifest(&image, platform).await?;
                let pinned = image.with_digest(&digest);
                let arts = referrers::fetch(&regs, &pinned, &cache).await?;
                let art = referrers::newest(&arts).with_context(|| {
                    format!(
                        "{image} ({digest}) has no SBOM attached; images built by `prisn build --image` get one (rebuild, or push a layout that holds one)"
                    )
                })?;
                Ok((digest, referrers::document(art, &cache)?))
            })
        }
        Err(e) => Err(e.into()),
    }
}
