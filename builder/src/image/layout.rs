//! OCI image layouts on disk (image-spec `image-layout.md`): `oci-layout`, `index.json` and
//! `blobs/sha256/<hex>`. The offline and air-gap sink: skopeo, umoci, buildah and podman
//! read what this writes (`oci:DIR:NAME`).
//!
//! Writes never leave a half-written layout: a new layout is built in a temp directory beside
//! the target and renamed into place; adding to an existing one writes blobs first (each by
//! rename) and `index.json` last (by rename).

use std::path::{Path, PathBuf};

use super::blobs::BlobStore;
use super::manifest::{self, Descriptor, Index, OCI_INDEX, Parsed, REF_NAME};
use crate::error::{Error, Result};

const OCI_LAYOUT: &str = r#"{"imageLayoutVersion":"1.0.0"}"#;

/// An image held in some blob store: its manifest and every blob it needs.
#[derive(Debug, Clone)]
pub struct StoredImage {
    /// Descriptor of the manifest (its annotations carry the ref name in layouts).
    pub manifest: Descriptor,
    pub manifest_bytes: Vec<u8>,
    /// Config then layers.
    pub blobs: Vec<Descriptor>,
}

impl StoredImage {
    /// Read image `desc` from `store` (its manifest must be there; blobs are listed, not read).
    pub fn load(store: &BlobStore, desc: &Descriptor) -> Result<StoredImage> {
        let bytes = store.read(&desc.digest)?;
        let got = crate::digest::sha256(&bytes);
        if got != desc.digest {
            return Err(Error::DigestMismatch {
                what: format!("manifest {}", desc.ref_name().unwrap_or(&desc.digest)),
                expected: desc.digest.clone(),
                actual: got,
            });
        }
        let Parsed::Image(m) = manifest::parse(&bytes, &desc.media_type, &desc.digest)? else {
            return Err(Error::LayoutIsIndex {
                name: desc.ref_name().unwrap_or(&desc.digest).to_string(),
            });
        };
        let mut blobs = vec![m.config.clone()];
        blobs.extend(m.layers.iter().cloned());
        Ok(StoredImage {
            manifest: desc.clone(),
            manifest_bytes: bytes,
            blobs,
        })
    }
}

/// An OCI image layout directory.
#[derive(Debug, Clone)]
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    /// Open an existing layout.
    ///
    /// # Errors
    /// When `dir` has no `oci-layout` file.
    pub fn open(dir: &Path) -> Result<Layout> {
        if !dir.join("oci-layout").is_file() {
            return Err(Error::NotALayout {
                dir: dir.to_path_buf(),
            });
        }
        Ok(Layout {
            root: dir.to_path_buf(),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn blobs(&self) -> BlobStore {
        BlobStore::new(self.root.join("blobs"))
    }

    pub fn index(&self) -> Result<Index> {
        let path = self.root.join("index.json");
        let text = std::fs::read(&path).map_err(Error::io("read", &path))?;
        serde_json::from_slice(&text).map_err(|e| Error::Malformed {
            what: path.display().to_string(),
            expected: "not an OCI index",
            message: e.to_string(),
        })
    }

    /// The image named `name` (its `org.opencontainers.image.ref.name`), or the only image
    /// when `name` is `None`.
    pub fn find(&self, name: Option<&str>) -> Result<Descriptor> {
        let index = self.index()?;
        let pick = |wanted: Option<&str>| Error::LayoutPick {
            dir: self.root.clone(),
            wanted: wanted.map(str::to_string),
            names: index
                .manifests
                .iter()
                .map(|m| m.ref_name().unwrap_or(&m.digest).to_string())
                .collect(),
        };
        match name {
            Some(n) => index
                .manifests
                .iter()
                .find(|m| m.ref_name() == Some(n) || m.digest == n)
                .cloned()
                .ok_or_else(|| pick(Some(n))),
            // Artifacts (SBOMs) ride along with their image; they are not picked by default.
            None => match index
                .manifests
                .iter()
                .filter(|m| m.artifact_type.is_none())
                .collect::<Vec<_>>()
                .as_slice()
            {
                [one] => Ok((*one).clone()),
                _ => Err(pick(None)),
            },
        }
    }

    /// Every image in the layout.
    pub fn images(&self) -> Result<Vec<StoredImage>> {
        let store = self.blobs();
        self.index()?
            .manifests
            .iter()
            .map(|d| StoredImage::load(&store, d))
            .collect()
    }
}

/// Write `images` (blobs taken from `from`) into the layout at `dir`, tagging each with its
/// descriptor's ref name. A new `dir` appears complete or not at all; an existing layout
/// keeps its other images, and an image with the same ref name is replaced.
///
/// # Errors
/// A blob missing from `from`, or IO errors.
pub fn write(dir: &Path, from: &BlobStore, images: &[StoredImage]) -> Result<Layout> {
    let exists = dir.join("oci-layout").is_file();
    if !exists
        && dir.exists()
        && std::fs::read_dir(dir)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        return Err(Error::LayoutTarget {
            dir: dir.to_path_buf(),
        });
    }
    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(Error::io("create", parent))?;
    // New layouts are built beside the target, then renamed.
    let staging = if exists {
        None
    } else {
        Some(
            tempfile::Builder::new()
                .prefix(".prisn-layout-")
                .tempdir_in(parent)
                .map_err(Error::io("create a temp dir in", parent))?,
        )
    };
    let root = staging.as_ref().map_or(dir, |t| t.path());
    #[cfg(unix)]
    if staging.is_some() {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o755));
    }
    let layout = Layout {
        root: root.to_path_buf(),
    };
    let store = layout.blobs();
    let mut index = if exists {
        layout.index()?
    } else {
        Index {
            schema_version: 2,
            media_type: Some(OCI_INDEX.into()),
            manifests: Vec::new(),
            annotations: None,
        }
    };
    for img in images {
        for blob in &img.blobs {
            if !from.has(&blob.digest) {
                return Err(Error::LayoutBlobMissing {
                    digest: blob.digest.clone(),
                    from: from.root().to_path_buf(),
                });
            }
            from.copy_to(&blob.digest, &store)?;
        }
        store.put(&img.manifest_bytes)?;
        add(&mut index, &store, &img.manifest);
    }
    crate::atomic::write(&root.join("oci-layout"), OCI_LAYOUT.as_bytes())?;
    crate::atomic::write(&root.join("index.json"), &manifest::canonical(&index))?;
    if let Some(tmp) = staging {
        let tmp = tmp.keep();
        std::fs::rename(&tmp, dir).map_err(|e| {
            let _ = std::fs::remove_dir_all(&tmp);
            if dir.exists() {
                let _ = std::fs::remove_dir(dir);
            }
            Error::io("rename into", dir)(e)
        })?;
    }
    Layout::open(dir)
}

/// A descriptor for a manifest with a ref name (the tag inside a layout).
pub fn named(media_type: &str, digest: &str, size: u64, name: &str) -> Descriptor {
    let mut d = Descriptor::new(media_type, digest, size);
    d.annotations = Some([(REF_NAME.to_string(), name.to_string())].into());
    d
}

/// Put `entry` into `index`. An image with a name replaces the one of that name in its place
/// (so the first image of a layout stays first), and the artifacts whose subject was the
/// replaced image go with it: they describe an image the layout no longer holds. An artifact
/// (no name) is kept once.
fn add(index: &mut Index, store: &BlobStore, entry: &Descriptor) {
    let Some(name) = entry.ref_name() else {
        index.manifests.retain(|m| m.digest != entry.digest);
        index.manifests.push(entry.clone());
        return;
    };
    let Some(at) = index
        .manifests
        .iter()
        .position(|m| m.ref_name() == Some(name))
    else {
        index.manifests.push(entry.clone());
        return;
    };
    let replaced = std::mem::replace(&mut index.manifests[at], entry.clone());
    if replaced.digest == entry.digest {
        return;
    }
    let subject = |m: &Descriptor| manifest::subject_of(&store.read(&m.digest).ok()?);
    index.manifests.retain(|m| {
        m.ref_name().is_some() || subject(m).as_deref() != Some(replaced.digest.as_str())
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::manifest::{Manifest, OCI_CONFIG, OCI_LAYER_GZIP, OCI_MANIFEST};

    fn image(store: &BlobStore, name: &str, layer: &[u8]) -> StoredImage {
        let config = store.put(b"{}").unwrap();
        let layer_d = store.put(layer).unwrap();
        let m = Manifest {
            schema_version: 2,
            media_type: Some(OCI_MANIFEST.into()),
            config: Descriptor::new(OCI_CONFIG, &config, 2),
            layers: vec![Descriptor::new(
                OCI_LAYER_GZIP,
                &layer_d,
                layer.len() as u64,
            )],
            annotations: None,
        };
        let bytes = manifest::canonical(&m);
        let d = store.put(&bytes).unwrap();
        StoredImage::load(store, &named(OCI_MANIFEST, &d, bytes.len() as u64, name)).unwrap()
    }

    /// An artifact (no name) whose subject is `of`.
    fn artifact(store: &BlobStore, of: &StoredImage) -> StoredImage {
        let m = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": Descriptor::new(OCI_CONFIG, &store.put(b"{}").unwrap(), 2),
            "layers": [],
            "subject": of.manifest,
        });
        let bytes = manifest::canonical(&m);
        let d = store.put(&bytes).unwrap();
        StoredImage {
            manifest: Descriptor::new(OCI_MANIFEST, &d, bytes.len() as u64),
            manifest_bytes: bytes,
            blobs: Vec::new(),
        }
    }

    /// Rebuilding an image into its layout keeps it first (readers take `manifests[0]`), and
    /// the old image's SBOM goes with it; another image's artifact stays.
    #[test]
    fn a_replaced_image_keeps_its_place_and_takes_its_artifacts_along() {
        let cache_dir = tempfile::tempdir().unwrap();
        let cache = BlobStore::new(cache_dir.path());
        let out = tempfile::tempdir().unwrap();
        let dir = out.path().join("layout");
        let (old, other) = (image(&cache, "base", b"v1"), image(&cache, "other", b"o"));
        let (old_sbom, other_sbom) = (artifact(&cache, &old), artifact(&cache, &other));
        write(
            &dir,
            &cache,
            &[old.clone(), old_sbom, other.clone(), other_sbom.clone()],
        )
        .unwrap();
        let new = image(&cache, "base", b"v2");
        let new_sbom = artifact(&cache, &new);
        let layout = write(&dir, &cache, &[new.clone(), new_sbom.clone()]).unwrap();
        let index = layout.index().unwrap();
        let digests: Vec<&String> = index.manifests.iter().map(|m| &m.digest).collect();
        assert_eq!(
            digests,
            [
                &new.manifest.digest,
                &other.manifest.digest,
                &other_sbom.manifest.digest,
                &new_sbom.manifest.digest
            ]
        );
    }

    #[test]
    fn write_then_add_then_find() {
        let cache_dir = tempfile::tempdir().unwrap();
        let cache = BlobStore::new(cache_dir.path());
        let out = tempfile::tempdir().unwrap();
        let dir = out.path().join("layout");
        let a = image(&cache, "app:v1", b"layer-a");
        write(&dir, &cache, std::slice::from_ref(&a)).unwrap();
        let b = image(&cache, "app:v2", b"layer-b");
        let a2 = image(&cache, "app:v1", b"layer-c");
        let layout = write(&dir, &cache, &[b.clone(), a2.clone()]).unwrap();
        assert_eq!(layout.index().unwrap().manifests.len(), 2);
        assert_eq!(
            layout.find(Some("app:v1")).unwrap().digest,
            a2.manifest.digest
        );
        assert!(layout.find(None).is_err(), "two images: a name is needed");
        let imgs = layout.images().unwrap();
        assert_eq!(imgs.len(), 2);
        assert!(layout.blobs().has(&b.blobs[1].digest));
        assert_eq!(
            std::fs::read_to_string(dir.join("oci-layout")).unwrap(),
            OCI_LAYOUT
        );
        // No temp directories left beside it.
        let leftovers: Vec<_> = std::fs::read_dir(out.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1);
    }

    #[test]
    fn a_non_layout_directory_is_refused() {
        let out = tempfile::tempdir().unwrap();
        std::fs::write(out.path().join("file"), "x").unwrap();
        let cache = BlobStore::new(out.path().join("cache"));
        assert!(write(out.path(), &cache, &[]).is_err());
    }
}
