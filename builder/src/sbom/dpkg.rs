//! The base's Debian packages: its `/var/lib/dpkg/status` (and distroless's
//! `/var/lib/dpkg/status.d/*`) as the layers leave them, plus the `.deb` sha256s of a
//! matching base.lock section.

use std::io::Read;
use std::path::Path;

use crate::base::image::LABEL_LOCK;
use crate::base::lock::LockFile;
use crate::deb::{DebPackage, normalise, parse_status};
use crate::error::{Error, Result};
use crate::image::base::Base;
use crate::image::blobs::BlobStore;
use crate::image::manifest;

/// The installed packages of `base` (layers in `cache`), cached in `dir/<digest hex>.json`.
///
/// # Errors
/// A layer missing from the cache or unreadable.
pub fn packages(base: &Base, cache: &BlobStore, dir: &Path) -> Result<Vec<DebPackage>> {
    let name = base.name.to_string();
    packages_in(&base.digest, &base.manifest.layers, &name, cache, dir)
}

/// [`packages`] of the image `digest` (named `name` in errors) whose layers are `layers`.
///
/// # Errors
/// A layer missing from the cache or unreadable.
pub fn packages_in(
    digest: &str,
    layers: &[manifest::Descriptor],
    name: &str,
    cache: &BlobStore,
    dir: &Path,
) -> Result<Vec<DebPackage>> {
    let hex = digest.trim_start_matches("sha256:");
    let file = dir.join(format!("{hex}.json"));
    if let Ok(text) = std::fs::read(&file)
        && let Ok(p) = serde_json::from_slice(&text)
    {
        crate::cache::touch(&file);
        return Ok(p);
    }
    // path → contents, later layers replacing (and whiteouts removing) earlier ones.
    let mut files: std::collections::BTreeMap<String, Vec<u8>> = Default::default();
    for layer in layers {
        let path = cache.path(&layer.digest);
        let f = std::fs::File::open(&path).map_err(Error::io("read base layer", &path))?;
        let reader: Box<dyn Read> = match manifest::oci_layer_type(&layer.media_type) {
            manifest::OCI_LAYER_TAR => Box::new(std::io::BufReader::new(f)),
            _ => Box::new(flate2::read::MultiGzDecoder::new(std::io::BufReader::new(
                f,
            ))),
        };
        scan(reader, &mut files).map_err(|e| Error::BaseLayer {
            layer: layer.digest.clone(),
            base: name.to_string(),
            message: e.to_string(),
        })?;
    }
    let mut out = Vec::new();
    for text in files.values() {
        out.extend(parse_status(&String::from_utf8_lossy(text)));
    }
    let out = normalise(out);
    if std::fs::create_dir_all(dir).is_ok() {
        let json = serde_json::to_vec(&out).expect("packages serialise");
        let _ = crate::atomic::write(&file, &json);
    }
    Ok(out)
}

fn is_status(path: &str) -> bool {
    path == "var/lib/dpkg/status"
        || path
            .strip_prefix("var/lib/dpkg/status.d/")
            .is_some_and(|n| !n.contains('/') && !n.ends_with(".md5sums"))
}

fn scan(
    reader: impl Read,
    files: &mut std::collections::BTreeMap<String, Vec<u8>>,
) -> std::io::Result<()> {
    let mut archive = tar::Archive::new(reader);
    for entry in archive.entries()? {
        let mut entry = entry?;
        let raw = entry.path()?.to_string_lossy().into_owned();
        let path = raw.trim_start_matches("./").trim_start_matches('/');
        let path = path.trim_end_matches('/').to_string();
        let (dir, name) = path.rsplit_once('/').unwrap_or(("", path.as_str()));
        if let Some(hidden) = name.strip_prefix(".wh.") {
            let gone = if hidden == ".wh..opq" {
                format!("{dir}/")
            } else {
                format!("{dir}/{hidden}")
            };
            let gone = gone.trim_start_matches('/').to_string();
            files.retain(|p, _| {
                !(p == &gone || p.starts_with(&format!("{}/", gone.trim_end_matches('/'))))
            });
            continue;
        }
        if is_status(&path) && entry.header().entry_type().is_file() {
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes)?;
            files.insert(path, bytes);
        }
    }
    Ok(())
}

/// Fill in sha256s from `lock` when one of its sections made `base` (its digest equals the
/// base's [`LABEL_LOCK`] label). Returns whether a section matched.
///
/// # Errors
/// A corrupt base.lock.
pub fn add_lock_hashes(base: &Base, lock: &Path, debs: &mut [DebPackage]) -> Result<bool> {
    let Some(label) = base
        .config
        .pointer("/config/Labels")
        .and_then(|l| l.get(LABEL_LOCK))
        .and_then(serde_json::Value::as_str)
    else {
        return Ok(false);
    };
    let Some(file) = LockFile::read(lock)? else {
        return Ok(false);
    };
    let Some(section) = file.base.values().find(|s| s.digest() == label) else {
        return Ok(false);
    };
    for d in debs.iter_mut() {
        d.sha256 = section
            .packages
            .iter()
            .find(|p| {
                p.name == d.name && p.version == d.version && p.architecture == d.architecture
            })
            .map(|p| p.sha256.clone());
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_layers_and_whiteouts_decide() {
        let layer = |entries: &[(&str, &[u8])]| {
            let mut b = tar::Builder::new(Vec::new());
            for (path, data) in entries {
                let mut h = tar::Header::new_gnu();
                h.set_mode(0o644);
                h.set_size(data.len() as u64);
                b.append_data(&mut h, path, *data).unwrap();
            }
            b.into_inner().unwrap()
        };
        let mut files = Default::default();
        scan(
            layer(&[
                ("var/lib/dpkg/status", b"Package: a\nVersion: 1\n"),
                ("var/lib/dpkg/status.d/b", b"Package: b\nVersion: 2\n"),
            ])
            .as_slice(),
            &mut files,
        )
        .unwrap();
        scan(
            layer(&[
                ("./var/lib/dpkg/status", b"Package: a\nVersion: 3\n"),
                ("var/lib/dpkg/status.d/.wh.b", b""),
            ])
            .as_slice(),
            &mut files,
        )
        .unwrap();
        assert_eq!(files.len(), 1);
        assert_eq!(files["var/lib/dpkg/status"], b"Package: a\nVersion: 3\n");
    }
}
