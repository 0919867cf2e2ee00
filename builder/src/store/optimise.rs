//! Deduplicate files across store entries by hard-linking identical ones, as Nix's
//! `auto-optimise-store` does. uv already hardlinks package files from its cache; what it
//! cannot share are files made per environment, such as bytecode — identical across entries
//! because the sources they were compiled from are the same hardlinked files.
//!
//! The pool is `store/.links/<sha256>-<mode>`: the mode is part of the key, since all links
//! of an inode share one mode.

use std::fs;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::{Error, Result};

/// What [`optimise`] did.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Report {
    /// Regular files looked at.
    pub files: u64,
    /// Files replaced by a link to an identical one.
    pub linked: u64,
    /// Bytes no longer stored twice.
    pub saved_bytes: u64,
}

/// Hard-link the files of `entry` that are identical to files already in the pool; add the
/// others to the pool.
///
/// # Guarantees
/// A file is replaced by renaming a link over it, so a reader sees the old or the new inode,
/// both with the same bytes and mode. Files already shared (more than one link, e.g. from
/// uv's cache) are left alone.
///
/// # Errors
/// IO errors on the entry or the pool.
pub fn optimise(store_dir: &Path, entry: &Path) -> Result<Report> {
    let pool = store_dir.join(".links");
    fs::create_dir_all(&pool).map_err(Error::io("create", &pool))?;
    let mut report = Report::default();
    for item in walkdir::WalkDir::new(entry).into_iter().flatten() {
        if !item.file_type().is_file() {
            continue;
        }
        let path = item.path();
        let meta = fs::symlink_metadata(path).map_err(Error::io("stat", path))?;
        report.files += 1;
        if meta.nlink() > 1 || meta.len() == 0 {
            continue;
        }
        let key = format!(
            "{}-{:o}",
            hash_file(path)?,
            meta.permissions().mode() & 0o7777
        );
        let pooled = pool.join(&key);
        match fs::symlink_metadata(&pooled) {
            Ok(p) if p.ino() == meta.ino() && p.dev() == meta.dev() => {}
            Ok(_) => {
                let tmp = path.with_file_name(format!(".prisn-link-{}", std::process::id()));
                let _ = fs::remove_file(&tmp);
                fs::hard_link(&pooled, &tmp).map_err(Error::io("link", &tmp))?;
                fs::rename(&tmp, path).map_err(Error::io("replace", path))?;
                report.linked += 1;
                report.saved_bytes += meta.len();
            }
            Err(_) => match fs::hard_link(path, &pooled) {
                Ok(()) => {}
                // Another optimise added it a moment ago; the next run links this one.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(Error::io("link into the pool", &pooled)(e)),
            },
        }
    }
    Ok(report)
}

/// Drop pool files no entry links any more (nlink 1: only the pool holds them).
///
/// # Errors
/// An unreadable pool.
pub fn prune(store_dir: &Path) -> Result<u64> {
    let pool = store_dir.join(".links");
    let mut freed = 0;
    let Ok(items) = fs::read_dir(&pool) else {
        return Ok(0);
    };
    for item in items.flatten() {
        if let Ok(meta) = item.metadata()
            && meta.nlink() == 1
        {
            fs::remove_file(item.path()).map_err(Error::io("remove", item.path()))?;
            freed += meta.len();
        }
    }
    Ok(freed)
}

fn hash_file(path: &Path) -> Result<String> {
    let mut file = fs::File::open(path).map_err(Error::io("read", path))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf).map_err(Error::io("read", path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_files_with_the_same_mode_are_linked_others_are_not() {
        let d = tempfile::tempdir().unwrap();
        let store = d.path();
        for e in ["a", "b"] {
            fs::create_dir_all(store.join(e)).unwrap();
            fs::write(store.join(e).join("same.pyc"), b"bytecode").unwrap();
            fs::write(store.join(e).join("own.txt"), format!("only {e}")).unwrap();
            fs::write(store.join(e).join("tool"), b"#!/bin/sh\n").unwrap();
        }
        fs::set_permissions(store.join("b/tool"), fs::Permissions::from_mode(0o755)).unwrap();
        let first = optimise(store, &store.join("a")).unwrap();
        assert_eq!((first.files, first.linked), (3, 0));
        let second = optimise(store, &store.join("b")).unwrap();
        assert_eq!((second.files, second.linked, second.saved_bytes), (3, 1, 8));
        let ino = |p: &str| fs::metadata(store.join(p)).unwrap().ino();
        assert_eq!(ino("a/same.pyc"), ino("b/same.pyc"));
        assert_ne!(ino("a/own.txt"), ino("b/own.txt"));
        // Same bytes, other mode: not shared, and b's script keeps its exec bit.
        assert_ne!(ino("a/tool"), ino("b/tool"));
        assert_eq!(
            fs::metadata(store.join("b/tool"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o755
        );
        assert_eq!(fs::read(store.join("b/same.pyc")).unwrap(), b"bytecode");
        // Running again changes nothing.
        assert_eq!(optimise(store, &store.join("b")).unwrap().linked, 0);
        // Once both entries are gone, prune empties the pool.
        fs::remove_dir_all(store.join("a")).unwrap();
        fs::remove_dir_all(store.join("b")).unwrap();
        assert!(prune(store).unwrap() > 0);
        assert_eq!(fs::read_dir(store.join(".links")).unwrap().count(), 0);
    }
}
