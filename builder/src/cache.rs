//! `$PRISN_HOME/cache/`: what image builds and `prisn base` keep to go faster, all of it
//! rebuildable, and its garbage collection (`prisn gc`).
//!
//! ```text
//! cache/.lock                    builds hold it shared, gc exclusive (see Concurrency)
//! cache/blobs/sha256/<hex>       layers, configs, manifests, fetched base layers
//! cache/layers-v1/<key>.json     a dependency layer's descriptor      → its blob
//! cache/bases-v1/<key>           a `prisn base` image's manifest digest → its blobs
//! cache/operator-layers-v1/<key> the operator binary's layer            → its blob
//! cache/rootfs-v2/<digest>/      a base unpacked for the bytecode compiler (read-only dirs)
//! cache/base-v2/<hex>.json       what a base's scan found (Python, libc)
//! cache/sbom-debs-v1/<hex>.json  a base's Debian packages, for SBOMs
//! cache/debian-v1/sha256/<hex>   downloaded .debs (`prisn base`)
//! ```
//!
//! **Use.** An entry's mtime is its last use: writers create it, and a build that reuses one
//! sets its mtime to now ([`touch`]; the blob cache's [`BlobStore`] does it on every hit).
//! atime would say the same for free but is not kept on relatime/noatime mounts.
//!
//! **Collection.** [`gc`] deletes the entries not used within `keep`, except blobs that a
//! kept entry names: a kept pointer (layers, bases, operator layers) or a kept manifest keeps
//! the blobs it names (`sha256:<hex>` in its text, transitively), so a kept image stays whole.
//! A pointer whose blob went is never trusted: its readers check the blobs exist and rebuild.
//! Directories are renamed aside before their deletion (a half-deleted unpacked base would
//! look whole), made writable as needed, and nothing is followed through a symlink: a link
//! inside an entry is deleted, never what it points at.
//!
//! **Concurrency** (decided): every process that uses the cache holds a shared lock on
//! `cache/.lock` while it does (a [`Lease`], carried by the blob cache's [`BlobStore`], so
//! it lasts as long as the build holds its cache); gc takes it exclusively, without waiting:
//! while a build runs, gc leaves the cache alone and says so (the store is still collected),
//! and a build started during a gc waits for it. Why not let gc wait: flock(2) lets new
//! shared holders in while an exclusive one waits, so on a busy server gc could wait for
//! ever, holding up nothing but itself and whoever waits for it. Why not mtimes alone: a build
//! checks that a blob exists and reads it later; a gc in between would fail the build.
//!
//! [`BlobStore`]: crate::image::blobs::BlobStore

use std::collections::{HashMap, HashSet};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::fslock::FileLock;
use crate::home::Home;
use crate::{Error, Result};

/// The blob cache, a [`crate::image::blobs::BlobStore`] (`sha256/<hex>` inside).
pub const BLOBS: &str = "blobs";
/// Dependency layers' descriptors, by what makes their bytes.
pub const LAYERS: &str = "layers-v1";
/// `prisn base` images' manifest digests, by what makes their bytes.
pub const BASES: &str = "bases-v1";
/// The operator binary's layer descriptors.
pub const OPERATOR_LAYERS: &str = "operator-layers-v1";
/// Unpacked bases; bump when what is unpacked changes. v2: without `usr/share/`.
pub const ROOTFS: &str = "rootfs-v2";
/// A base's scanned facts, by its digest.
pub const BASE_INFO: &str = "base-v2";
/// A base's Debian packages for SBOMs, by its digest.
pub const SBOM_DEBS: &str = "sbom-debs-v1";
/// Downloaded `.deb`s, a blob store of their own.
pub const DEBS: &str = "debian-v1";

/// What gc collects: (kind as reported, directory whose children are the entries, whether
/// an entry names blobs that must stay while it does).
const KINDS: [(&str, &str, bool); 8] = [
    ("blob", "blobs/sha256", false),
    ("layer", LAYERS, true),
    ("base", BASES, true),
    ("operator-layer", OPERATOR_LAYERS, true),
    ("rootfs", ROOTFS, false),
    ("base-info", BASE_INFO, false),
    ("sbom-debs", SBOM_DEBS, false),
    ("deb", "debian-v1/sha256", false),
];

/// Text read from an entry (pointers, manifests) to find the blobs it names; bigger blobs
/// are layers.
const MAX_SCANNED: u64 = 4 << 20;

/// A shared hold on the cache: gc leaves it alone while any clone lives.
#[derive(Debug, Clone)]
pub struct Lease {
    _lock: Arc<FileLock>,
}

fn lock_path(home: &Home) -> PathBuf {
    home.cache().join(".lock")
}

/// Take a [`Lease`] on `home`'s cache, waiting while a gc holds it. `None` (logged) when the
/// lock file cannot be made (a read-only home): the cache is then used without one.
pub fn lease(home: &Home) -> Option<Lease> {
    let path = lock_path(home);
    let taken = match FileLock::try_shared(&path) {
        Ok(Some(l)) => Ok(l),
        Ok(None) => {
            tracing::info!("waiting for prisn gc to finish with {}", path.display());
            FileLock::shared(&path)
        }
        Err(e) => Err(e),
    };
    match taken {
        Ok(l) => Some(Lease { _lock: Arc::new(l) }),
        Err(e) => {
            tracing::warn!("{e}: using the cache without a lease");
            None
        }
    }
}

/// Record a use of the cache entry at `path` (its mtime, now). Best effort: an entry that
/// cannot be touched is at worst collected and rebuilt.
pub fn touch(path: &Path) {
    if let Ok(f) = fs::File::open(path) {
        let _ = f.set_modified(SystemTime::now());
    }
}

/// One cache entry as `prisn gc` reports it.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    /// `blob`, `layer`, `base`, `operator-layer`, `rootfs`, `base-info`, `sbom-debs`, `deb`.
    pub kind: &'static str,
    pub path: PathBuf,
    /// Bytes on disk.
    pub size: u64,
    #[serde(serialize_with = "rfc3339")]
    pub last_used: SystemTime,
}

/// What [`gc`] did (or, dry, would do).
#[derive(Debug, Clone, Default)]
pub struct Collected {
    pub entries: Vec<Entry>,
    /// Why the cache was left alone (a build holds it).
    pub skipped: Option<String>,
}

/// Delete the cache entries of `home` not used within `keep` and not named by a kept one;
/// with `dry_run`, only say which. Skipped (see [`Collected::skipped`]) while a build runs.
///
/// # Errors
/// An unreadable cache directory or a failed delete.
pub fn gc(home: &Home, keep: Duration, dry_run: bool) -> Result<Collected> {
    let root = home.cache();
    if !root.is_dir() {
        return Ok(Collected::default());
    }
    let Some(_lock) = FileLock::try_exclusive(&lock_path(home))? else {
        return Ok(Collected {
            entries: Vec::new(),
            skipped: Some("a build is using the image cache; it was left alone".into()),
        });
    };
    let cutoff = SystemTime::now()
        .checked_sub(keep)
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let (old, kept): (Vec<Entry>, Vec<Entry>) = list(&root)?
        .into_iter()
        .partition(|e| e.last_used <= cutoff);
    let alive = named_blobs(&old, &kept);
    let doomed: Vec<Entry> = old
        .into_iter()
        .filter(|e| !(e.kind == "blob" && alive.contains(&*file_name(&e.path))))
        .collect();
    if !dry_run {
        for e in &doomed {
            remove(&e.path)?;
        }
    }
    Ok(Collected {
        entries: doomed,
        skipped: None,
    })
}

/// Every entry of every kind, sorted by path.
fn list(root: &Path) -> Result<Vec<Entry>> {
    let mut out = Vec::new();
    for (kind, dir, _) in KINDS {
        let dir = root.join(dir);
        let read = match fs::read_dir(&dir) {
            Ok(r) => r,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io("read", &dir)(e)),
        };
        for item in read.flatten() {
            let path = item.path();
            // lstat: a symlink is an entry of its own, never what it points at.
            let Ok(meta) = fs::symlink_metadata(&path) else {
                continue;
            };
            let size = if meta.is_dir() {
                crate::store::disk_usage(&path)
            } else {
                meta.blocks() * 512
            };
            out.push(Entry {
                kind,
                size,
                last_used: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                path,
            });
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The blobs (by hex) that `kept` pointers and blobs name, and what those name in turn.
fn named_blobs(old: &[Entry], kept: &[Entry]) -> HashSet<String> {
    let blobs: HashMap<String, &Entry> = old
        .iter()
        .chain(kept)
        .filter(|e| e.kind == "blob")
        .map(|e| (file_name(&e.path), e))
        .collect();
    let pointers: HashSet<&str> = KINDS.iter().filter(|k| k.2).map(|k| k.0).collect();
    let mut alive = HashSet::new();
    let mut queue: Vec<&Entry> = kept
        .iter()
        .filter(|e| e.kind == "blob" || pointers.contains(e.kind))
        .collect();
    while let Some(e) = queue.pop() {
        for hex in digests_in(&e.path) {
            if let Some(blob) = blobs.get(&hex)
                && alive.insert(hex)
            {
                queue.push(blob);
            }
        }
    }
    alive
}

/// The `sha256:<hex>` digests in the text of the regular file at `path` (not followed
/// through a symlink; JSON and digest files only, not layers).
fn digests_in(path: &Path) -> Vec<String> {
    let small = fs::symlink_metadata(path).is_ok_and(|m| m.is_file() && m.len() <= MAX_SCANNED);
    let Some(text) = small.then(|| fs::read(path).ok()).flatten() else {
        return Vec::new();
    };
    let text = String::from_utf8_lossy(&text);
    text.match_indices("sha256:")
        .filter_map(|(i, m)| text.get(i + m.len()..i + m.len() + 64))
        .filter(|hex| {
            hex.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
        .map(str::to_string)
        .collect()
}

/// Delete `path` without following symlinks: a file or link goes; a directory is first
/// renamed aside (nothing trusts a half-deleted one), made writable, then deleted.
fn remove(path: &Path) -> Result<()> {
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io("read", path)(e)),
    };
    if !meta.is_dir() {
        return fs::remove_file(path).map_err(Error::io("delete", path));
    }
    let aside = path.with_file_name(format!(
        ".deleting-{}-{}",
        file_name(path),
        std::process::id()
    ));
    // Moving a directory rewrites its `..`: it must be writable itself.
    owner_rwx(path, &meta);
    fs::rename(path, &aside).map_err(Error::io("move", path))?;
    make_writable(&aside);
    // remove_dir_all does not follow symlinks (it unlinks them).
    fs::remove_dir_all(&aside).map_err(Error::io("delete", &aside))
}

/// Owner rwx on `dir` and every directory under it (reached without following symlinks), so
/// read-only directories of an unpacked base can be emptied.
fn make_writable(dir: &Path) {
    let Ok(meta) = fs::symlink_metadata(dir) else {
        return;
    };
    if !meta.is_dir() {
        return;
    }
    owner_rwx(dir, &meta);
    for e in fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            make_writable(&e.path());
        }
    }
}

/// Add owner rwx to the directory `dir` (its lstat `meta`: never a symlink's target).
fn owner_rwx(dir: &Path, meta: &fs::Metadata) {
    use std::os::unix::fs::PermissionsExt;
    if meta.is_dir() {
        let mode = meta.permissions().mode() | 0o700;
        let _ = fs::set_permissions(dir, fs::Permissions::from_mode(mode));
    }
}

fn rfc3339<S: serde::Serializer>(t: &SystemTime, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&humantime::format_rfc3339_seconds(*t).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::blobs::BlobStore;

    fn age(path: &Path, days: u64) {
        let f = fs::File::open(path).unwrap();
        f.set_modified(SystemTime::now() - Duration::from_secs(days * 24 * 3600))
            .unwrap();
    }

    /// A kept `prisn base` pointer keeps its manifest, and the manifest the layer it names
    /// (transitively); an old blob nothing kept names goes.
    #[test]
    fn a_kept_pointer_keeps_its_manifest_and_what_the_manifest_names() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::at(dir.path());
        let blobs = BlobStore::new(home.cache().join(BLOBS));
        let layer = blobs.put(b"layer bytes").unwrap();
        let manifest = blobs
            .put(format!(r#"{{"layers":[{{"digest":"{layer}"}}]}}"#).as_bytes())
            .unwrap();
        let orphan = blobs.put(b"nobody names me").unwrap();
        let pointer = home.cache().join(BASES).join("key");
        fs::create_dir_all(pointer.parent().unwrap()).unwrap();
        fs::write(&pointer, &manifest).unwrap();
        for d in [&layer, &manifest, &orphan] {
            age(&blobs.path(d), 30);
        }

        let dry = gc(&home, Duration::from_secs(7 * 24 * 3600), true).unwrap();
        let listed: Vec<&Path> = dry.entries.iter().map(|e| e.path.as_path()).collect();
        assert_eq!(listed, [blobs.path(&orphan)]);
        assert!(blobs.path(&orphan).is_file(), "a dry run deleted");
        gc(&home, Duration::from_secs(7 * 24 * 3600), false).unwrap();
        assert!(!blobs.path(&orphan).exists());
        assert!(blobs.has(&layer) && blobs.has(&manifest) && pointer.is_file());

        // Once the pointer is old too, all of it goes.
        age(&pointer, 30);
        let all = gc(&home, Duration::from_secs(7 * 24 * 3600), false).unwrap();
        assert_eq!(all.entries.len(), 3, "{all:?}");
        assert!(!blobs.has(&layer) && !blobs.has(&manifest) && !pointer.exists());
    }
}
