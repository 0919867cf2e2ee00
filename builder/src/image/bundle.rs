//! Air-gap bundles: a tar of an OCI image layout holding one or more images, each named by
//! the reference it was exported from. Blobs are the registry's original compressed bytes,
//! never re-encoded, so every digest survives the trip. skopeo reads a bundle as
//! `oci-archive:bundle.tar:NAME`.
//!
//! Unpacking checks every blob against its name while it is read and refuses the bundle on
//! the first mismatch, before anything is pushed or tagged.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::blobs::{BlobStore, parse_digest};
use super::layer::LayerSpec;
use super::layout::{self, Layout, StoredImage};
use super::manifest::{self, Parsed};
use super::reference::Reference;
use super::registry::Registries;
use crate::error::{Error, Result};
use crate::reporter::{Event, Reporter};

/// Fetch `refs` (into `cache`) and write them as a bundle tar at `out`. `platform` picks an
/// image from multi-platform indexes. Returns the images written.
///
/// # Errors
/// Registry errors; IO errors writing `out` (which then does not exist).
pub async fn export(
    regs: &Registries,
    refs: &[Reference],
    platform: &str,
    cache: &BlobStore,
    out: &Path,
    reporter: &dyn Reporter,
) -> Result<Vec<StoredImage>> {
    let mut images = Vec::new();
    for r in refs {
        let (bytes, digest) = regs.image_manifest(r, platform).await?;
        let Parsed::Image(m) = manifest::parse(&bytes, "", &r.to_string())? else {
            unreachable!("image_manifest resolves indexes")
        };
        cache.put(&bytes)?;
        let pinned = Reference::repo(&r.registry, &r.repository).with_digest(&digest);
        let mut blobs = vec![m.config.clone()];
        blobs.extend(m.layers.iter().cloned());
        let missing: Vec<_> = blobs.iter().filter(|b| !cache.has(&b.digest)).collect();
        if !missing.is_empty() {
            reporter.report(Event::Note(format!(
                "fetching {} blob(s) of {r}",
                missing.len()
            )));
        }
        futures::future::try_join_all(
            missing
                .iter()
                .map(|b| regs.pull_blob(&pinned, &b.digest, cache)),
        )
        .await?;
        let desc = layout::named(
            &manifest::media_type_of(&bytes),
            &digest,
            bytes.len() as u64,
            &r.to_string(),
        );
        images.push(StoredImage {
            manifest: desc,
            manifest_bytes: bytes,
            blobs,
        });
        // Its SBOMs travel with it (unnamed artifact entries of the layout). A registry that
        // cannot list referrers (neither the API nor the tag schema) does not stop the
        // export: the images are what it is for, and the note says what is missing.
        match super::referrers::fetch(regs, &pinned, cache).await {
            Ok(arts) => images.extend(arts),
            Err(e) => reporter.report(Event::Note(format!(
                "warning: {r} goes without its SBOM: {e}"
            ))),
        }
    }
    let (out, cache, all) = (out.to_path_buf(), cache.clone(), images.clone());
    super::blocking::run("writing the bundle", move || write(&out, &cache, &all)).await?;
    Ok(images)
}

/// Write `images` (blobs from `from`) as a bundle tar at `out`, atomically.
pub fn write(out: &Path, from: &BlobStore, images: &[StoredImage]) -> Result<()> {
    let staging = tempfile::Builder::new()
        .prefix(".prisn-bundle-")
        .tempdir_in(
            out.parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new(".")),
        )
        .map_err(Error::io("create a temp dir beside", out))?;
    let dir = staging.path().join("layout");
    let lay = layout::write(&dir, from, images)?;
    let mut spec = LayerSpec::new();
    spec.add_tree("", lay.root())?;
    let dir_of_out = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir_of_out)
        .map_err(Error::io("create a temp file in", dir_of_out))?;
    {
        let mut w = std::io::BufWriter::with_capacity(1 << 20, tmp.as_file_mut());
        spec.write_tar(&mut w, 0)?;
        std::io::Write::flush(&mut w).map_err(Error::io("write", out))?;
    }
    super::blobs::set_readable(tmp.as_file());
    tmp.persist(out)
        .map_err(|e| Error::io("rename into", out)(e.error))?;
    Ok(())
}

/// Unpack a bundle tar into a new layout at `dir`, checking every blob's digest as it is
/// read. Also accepts a tar whose entries sit under one top-level directory.
///
/// # Errors
/// [`Error::DigestMismatch`] for a tampered blob; missing `index.json`/`oci-layout`; a blob
/// an image needs that the bundle lacks.
pub fn unpack(bundle: &Path, dir: &Path) -> Result<Layout> {
    let file = std::fs::File::open(bundle).map_err(Error::io("read", bundle))?;
    let mut archive = tar::Archive::new(std::io::BufReader::with_capacity(1 << 20, file));
    let store = BlobStore::new(dir.join("blobs"));
    std::fs::create_dir_all(dir).map_err(Error::io("create", dir))?;
    let bad = |message: String| Error::Bundle {
        bundle: bundle.to_path_buf(),
        message,
    };
    let mut saw_layout = false;
    let mut index: Option<Vec<u8>> = None;
    for entry in archive
        .entries()
        .map_err(|e| bad(format!("not a tar: {e}")))?
    {
        let mut entry = entry.map_err(|e| bad(format!("broken tar: {e}")))?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry
            .path()
            .map_err(|e| bad(format!("bad path in tar: {e}")))?
            .to_string_lossy()
            .trim_start_matches("./")
            .to_string();
        let rel = strip_top(&path);
        if rel == "oci-layout" {
            saw_layout = true;
        } else if rel == "index.json" {
            let mut v = Vec::new();
            entry
                .read_to_end(&mut v)
                .map_err(|e| bad(format!("reading index.json: {e}")))?;
            index = Some(v);
        } else if let Some(hex) = rel.strip_prefix("blobs/sha256/") {
            let digest = format!("sha256:{hex}");
            parse_digest(&digest).map_err(|_| bad(format!("odd blob name {rel}")))?;
            store
                .put_verified(&mut entry, &digest)
                .map_err(|e| match e {
                    Error::DigestMismatch {
                        expected, actual, ..
                    } => Error::DigestMismatch {
                        what: format!("blob {rel} in {}", bundle.display()),
                        expected,
                        actual,
                    },
                    other => other,
                })?;
        }
    }
    let index = index.ok_or_else(|| bad("no index.json: not an OCI image layout bundle".into()))?;
    if !saw_layout {
        return Err(bad(
            "no oci-layout file: not an OCI image layout bundle".into()
        ));
    }
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#)
        .map_err(Error::io("write", dir))?;
    std::fs::write(dir.join("index.json"), &index).map_err(Error::io("write", dir))?;
    let lay = Layout::open(dir)?;
    // Every image complete: manifests verified by StoredImage::load, blobs present.
    for img in lay.images()? {
        for b in &img.blobs {
            if !store.has(&b.digest) {
                return Err(bad(format!(
                    "image {} needs blob {} which the bundle does not contain",
                    img.manifest.ref_name().unwrap_or(&img.manifest.digest),
                    b.digest
                )));
            }
        }
    }
    Ok(lay)
}

fn strip_top(path: &str) -> &str {
    if path.starts_with("blobs/") || path == "index.json" || path == "oci-layout" {
        return path;
    }
    path.split_once('/').map_or(path, |(_, rest)| rest)
}

/// Where an exported image goes on import: `REGISTRY[/PREFIX]/<repository>:<tag>`.
pub fn import_target(registry_prefix: &str, name: &str) -> Result<Reference> {
    let original = Reference::parse(name)?;
    let prefix = registry_prefix.trim_end_matches('/');
    let (registry, path) = prefix.split_once('/').unwrap_or((prefix, ""));
    let repository = if path.is_empty() {
        original.repository.clone()
    } else {
        format!("{path}/{}", original.repository)
    };
    let mut r = Reference::parse(&format!("{registry}/{repository}"))?;
    r.tag = original.tag.clone();
    Ok(r)
}

/// An image source given on the command line: an OCI layout `DIR[:NAME]` or a bundle
/// `FILE.tar[:NAME]`. Bundles are unpacked (and verified) into `scratch`.
pub fn open_source(spec: &str, scratch: &Path) -> Result<(Layout, Option<String>)> {
    let (path, name) = split_name(spec);
    let p = PathBuf::from(path);
    if p.is_dir() {
        return Ok((Layout::open(&p)?, name));
    }
    if p.is_file() {
        return Ok((unpack(&p, &scratch.join("bundle"))?, name));
    }
    Err(Error::NotASource {
        path: path.to_string(),
    })
}

/// `DIR:NAME` → (`DIR`, `NAME`), unless the whole string names an existing path. The name
/// may itself hold colons (`bundle.tar:127.0.0.1:5000/team/app:v1`), so the first colon
/// after an existing path splits.
fn split_name(spec: &str) -> (&str, Option<String>) {
    if Path::new(spec).exists() {
        return (spec, None);
    }
    for (i, _) in spec.match_indices(':') {
        if Path::new(&spec[..i]).exists() {
            return (&spec[..i], Some(spec[i + 1..].to_string()));
        }
    }
    (spec, None)
}

/// Push every image of `lay` to its import target under `registry_prefix`, then verify
/// each one. Nothing is tagged unless every blob of the bundle checked out (that happened
/// in [`unpack`]).
pub async fn import(
    regs: &Registries,
    lay: &Layout,
    registry_prefix: &str,
    reporter: &dyn Reporter,
) -> Result<Vec<super::publish::Pushed>> {
    let store = lay.blobs();
    let mut out = Vec::new();
    // Artifacts (SBOMs) go after the images they are about, into the same repository.
    let (artifacts, images): (Vec<_>, Vec<_>) = lay
        .images()?
        .into_iter()
        .partition(|i| i.manifest.artifact_type.is_some());
    let targets: Vec<Reference> = images
        .iter()
        .map(|img| {
            let name = img
                .manifest
                .ref_name()
                .ok_or_else(|| Error::BundleUnnamed {
                    digest: img.manifest.digest.clone(),
                })?;
            import_target(registry_prefix, name)
        })
        .collect::<Result<_>>()?;
    for (img, target) in images.iter().zip(&targets) {
        let pushed = super::publish::push(regs, target, img, &store, None, reporter).await?;
        super::publish::verify(regs, target, img).await?;
        out.push(pushed);
    }
    for art in &artifacts {
        let subject = super::referrers::subject_of(&art.manifest_bytes);
        let Some(target) = images
            .iter()
            .zip(&targets)
            .find(|(img, _)| Some(&img.manifest.digest) == subject.as_ref())
            .map(|(_, t)| t)
        else {
            return Err(Error::Bundle {
                bundle: lay.root().to_path_buf(),
                message: format!(
                    "artifact {} is about {}, which the bundle does not hold",
                    art.manifest.digest,
                    subject.as_deref().unwrap_or("no image")
                ),
            });
        };
        super::referrers::push(regs, target, art, &store).await?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_targets_keep_repository_and_tag() {
        let t = import_target("10.0.0.5:5000/mirror", "127.0.0.1:5000/team/app:v1").unwrap();
        assert_eq!(t.to_string(), "10.0.0.5:5000/mirror/team/app:v1");
        let t = import_target("reg.local", "docker.io/library/python:3.11-slim").unwrap();
        assert_eq!(t.to_string(), "reg.local/library/python:3.11-slim");
        let d = format!("sha256:{}", "a".repeat(64));
        let t = import_target("reg.local/", &format!("ghcr.io/o/app@{d}")).unwrap();
        assert_eq!(t.to_string(), "reg.local/o/app");
    }
}
