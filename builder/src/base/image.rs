//! Layer + lock section → the base image's config and manifest (canonical JSON).
//!
//! The config carries the runtime's usual environment (`PATH`, `LANG=C.UTF-8`), its
//! default command, and labels naming the base, its runtime and the runtime's version as
//! read from the pinned package. `created` is `SOURCE_DATE_EPOCH` or the epoch, never the
//! clock; the image runs as root by default, like the slim images (the `nonroot` user is
//! there for `--user 65532` and for the images prisn builds on it).

use std::collections::BTreeMap;

use serde_json::json;

use super::lock::Section;
use super::preset::Preset;
use super::version;
use crate::deb::DebPackage;
use crate::error::Result;
use crate::image::assemble::{DEFAULT_PATH, created};
use crate::image::base::{BaseInfo, info_label};
use crate::image::blobs::BlobStore;
use crate::image::layer::{Layer, MEDIA_TYPE};
use crate::image::layout::{StoredImage, named};
use crate::image::manifest::{self, Descriptor, Manifest, OCI_CONFIG, OCI_MANIFEST};

/// Label keys (one definition, read by `prisn build` later).
pub const LABEL_NAME: &str = "io.prisn.base.name";
pub use crate::image::build::{
    LABEL_BASE_RUNTIME as LABEL_RUNTIME, LABEL_BASE_VERSION as LABEL_VERSION,
};
pub const LABEL_PACKAGE: &str = "io.prisn.base.runtime-package";
pub const LABEL_SUITE: &str = "io.prisn.base.suite";
pub const LABEL_LOCK: &str = "io.prisn.base.lock-digest";
pub use crate::image::base::LABEL_INFO;

/// The labels of a base built from `section`, whose layer holds `info`
/// ([`crate::image::base::info_label`]'s JSON, [`LABEL_INFO`]).
pub fn labels(preset: &Preset, section: &Section, info: &str) -> BTreeMap<String, String> {
    let mut l = BTreeMap::new();
    l.insert(LABEL_INFO.to_string(), info.to_string());
    l.insert(LABEL_NAME.to_string(), preset.name.to_string());
    l.insert(LABEL_SUITE.to_string(), section.request.suite.clone());
    l.insert(LABEL_LOCK.to_string(), section.digest());
    if let Some(p) = section
        .packages
        .iter()
        .find(|p| p.name == preset.runtime_package)
    {
        l.insert(LABEL_RUNTIME.to_string(), preset.name.to_string());
        l.insert(
            LABEL_VERSION.to_string(),
            version::upstream(&p.version).to_string(),
        );
        l.insert(
            LABEL_PACKAGE.to_string(),
            format!("{}={}", p.name, p.version),
        );
    }
    l
}

/// Assemble the image from its one layer, whose facts are `info` and whose installed Debian
/// packages are `debs`; config and manifest go into `store`.
///
/// # Errors
/// IO errors writing the two JSON blobs.
pub fn assemble(
    store: &BlobStore,
    preset: &Preset,
    section: &Section,
    (layer, info, debs): (&Layer, &BaseInfo, &[DebPackage]),
    epoch: u64,
) -> Result<StoredImage> {
    let info = info_label(info, std::slice::from_ref(&layer.diff_id), debs);
    let when = created(epoch);
    let config = json!({
        "architecture": section.request.architecture,
        "os": "linux",
        "created": when,
        "config": {
            "Env": [format!("PATH={DEFAULT_PATH}"), "LANG=C.UTF-8"],
            "Cmd": preset.cmd,
            "Labels": labels(preset, section, &info),
        },
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id]},
        "history": [{
            "created": when,
            "created_by": format!("prisn base {} ({} packages from Debian {})",
                preset.name, section.packages.len(), section.request.suite),
            "comment": "prisn",
        }],
    });
    let config = manifest::canonical(&config);
    let config_digest = store.put(&config)?;
    let m = Manifest {
        schema_version: 2,
        media_type: Some(OCI_MANIFEST.into()),
        config: Descriptor::new(OCI_CONFIG, &config_digest, config.len() as u64),
        layers: vec![Descriptor::new(MEDIA_TYPE, &layer.digest, layer.size)],
        annotations: None,
    };
    let bytes = manifest::canonical(&m);
    let digest = store.put(&bytes)?;
    let mut blobs = vec![m.config.clone()];
    blobs.extend(m.layers.iter().cloned());
    Ok(StoredImage {
        manifest: named(OCI_MANIFEST, &digest, bytes.len() as u64, preset.name),
        manifest_bytes: bytes,
        blobs,
    })
}

/// An image built before from the same lock section (its manifest and every blob still
/// in `store`): the warm path, which unpacks nothing.
pub fn cached(store: &BlobStore, pointer: &std::path::Path, name: &str) -> Option<StoredImage> {
    let digest = std::fs::read_to_string(pointer).ok()?;
    let digest = digest.trim();
    let bytes = store.read(digest).ok()?;
    let desc = named(OCI_MANIFEST, digest, bytes.len() as u64, name);
    let img = StoredImage::load(store, &desc).ok()?;
    let whole = img.blobs.iter().all(|b| store.has(&b.digest));
    if whole {
        crate::cache::touch(pointer);
    }
    whole.then_some(img)
}
