//! Snapshots of deployed code. A workload runs a copy of its files in
//! `$PRISN_HOME/code/<digest>/`, not the user's working tree: editing the script after
//! `prisn deploy` changes nothing until the next deploy (as with an image in Kubernetes mode),
//! a restart after a crash or a daemon recovery runs exactly what was deployed, and the digest
//! tells a redeploy of the same code from a change.

use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::api::LocalSource;
use crate::{Error, Result};

/// A snapshot: where it is and what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub dir: PathBuf,
    /// `sha256:<hex>` over every file's path, mode and content.
    pub digest: String,
}

/// Where `src`'s snapshot is (or would be), without copying anything.
///
/// # Errors
/// A file path that leaves the source root, or an unreadable file (named).
pub fn locate(code_root: &Path, src: &LocalSource) -> Result<Snapshot> {
    hashed(code_root, src).map(|(s, _)| s)
}

/// Copy `src`'s files into the content-addressed snapshot dir under `code_root` (once).
///
/// # Errors
/// A file path that leaves the source root, or an unreadable file (named).
pub fn snapshot(code_root: &Path, src: &LocalSource) -> Result<Snapshot> {
    let (snap, files) = hashed(code_root, src)?;
    if !snap.dir.is_dir() {
        copy_in(code_root, &snap.dir, &files)?;
    }
    Ok(snap)
}

type Files = Vec<(PathBuf, PathBuf, bool)>;

fn hashed(code_root: &Path, src: &LocalSource) -> Result<(Snapshot, Files)> {
    let mut hasher = Sha256::new();
    let mut files = Vec::with_capacity(src.files.len());
    for rel in &src.files {
        let rel_path = checked(rel)?;
        let path = src.root.join(&rel_path);
        let meta = fs::metadata(&path).map_err(Error::io("read", &path))?;
        let exec = meta.permissions().mode() & 0o111 != 0;
        hasher.update(rel.as_bytes());
        hasher.update([0, u8::from(exec), 0]);
        hasher.update(meta.len().to_le_bytes());
        let mut file = fs::File::open(&path).map_err(Error::io("read", &path))?;
        let mut buf = [0u8; 64 * 1024];
        loop {
            let n = file.read(&mut buf).map_err(Error::io("read", &path))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        files.push((rel_path, path, exec));
    }
    hasher.update(src.entrypoint.as_bytes());
    let hex = hex::encode(hasher.finalize());
    let dir = code_root.join(&hex[..32]);
    let digest = format!("sha256:{hex}");
    Ok((Snapshot { dir, digest }, files))
}

fn copy_in(code_root: &Path, dir: &Path, files: &Files) -> Result<()> {
    fs::create_dir_all(code_root).map_err(Error::io("create", code_root))?;
    // Build beside the final place, then rename: a snapshot is complete or absent.
    let tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempdir_in(code_root)
        .map_err(Error::io("create a temp dir in", code_root))?;
    for (rel, from, exec) in files {
        let to = tmp.path().join(rel);
        if let Some(parent) = to.parent() {
            fs::create_dir_all(parent).map_err(Error::io("create", parent))?;
        }
        fs::copy(from, &to).map_err(Error::io("copy", from))?;
        let mode = if *exec { 0o555 } else { 0o444 };
        fs::set_permissions(&to, fs::Permissions::from_mode(mode))
            .map_err(Error::io("chmod", &to))?;
    }
    let staged = tmp.keep();
    if let Err(e) = fs::rename(&staged, dir) {
        remove(&staged);
        // Another deploy of the same code won the race: its snapshot is the same.
        if !dir.is_dir() {
            return Err(Error::io("rename into", dir)(e));
        }
        return Ok(());
    }
    // Read-only directories too: a snapshot never changes once it is in place.
    for d in walk(dir) {
        let _ = fs::set_permissions(&d, fs::Permissions::from_mode(0o555));
    }
    Ok(())
}

/// Remove a snapshot (its files are read-only, so make them writable first).
pub fn remove(dir: &Path) {
    for entry in walk(dir) {
        let _ = fs::set_permissions(&entry, fs::Permissions::from_mode(0o755));
    }
    let _ = fs::remove_dir_all(dir);
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![dir.to_path_buf()];
    if let Ok(entries) = fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                out.extend(walk(&e.path()));
            }
        }
    }
    out
}

/// A relative path that stays inside the root.
fn checked(rel: &str) -> Result<PathBuf> {
    let path = PathBuf::from(rel);
    let ok = !rel.is_empty() && path.components().all(|c| matches!(c, Component::Normal(_)));
    if ok {
        Ok(path)
    } else {
        Err(Error::invalid(
            format!("file {rel:?} is not a relative path inside the script's directory"),
            None,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prisn_builder::script::Runtime;

    fn source(root: &Path, files: &[&str]) -> LocalSource {
        LocalSource {
            root: root.to_path_buf(),
            entrypoint: files[0].into(),
            files: files.iter().map(|s| s.to_string()).collect(),
            runtime: Runtime::Python3,
            is_dir: true,
        }
    }

    #[test]
    fn same_files_same_snapshot_and_edits_make_a_new_one() {
        let src = tempfile::tempdir().unwrap();
        let home = tempfile::tempdir().unwrap();
        fs::write(src.path().join("main.py"), "print(1)\n").unwrap();
        fs::create_dir(src.path().join("pkg")).unwrap();
        fs::write(src.path().join("pkg/data.txt"), "x").unwrap();
        let s = source(src.path(), &["main.py", "pkg/data.txt"]);
        let a = snapshot(home.path(), &s).unwrap();
        let b = snapshot(home.path(), &s).unwrap();
        assert_eq!(a, b);
        assert_eq!(fs::read_to_string(a.dir.join("pkg/data.txt")).unwrap(), "x");
        // Read-only for the owner (root writes anyway; the run's mounts stop it there).
        let mode = fs::metadata(a.dir.join("main.py"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o222, 0);
        fs::write(src.path().join("main.py"), "print(2)\n").unwrap();
        let c = snapshot(home.path(), &s).unwrap();
        assert_ne!(a.digest, c.digest);
        assert_eq!(
            fs::read_to_string(a.dir.join("main.py")).unwrap(),
            "print(1)\n"
        );
        remove(&a.dir);
        assert!(!a.dir.exists());
    }

    #[test]
    fn paths_leaving_the_root_are_refused() {
        let src = tempfile::tempdir().unwrap();
        let home = tempfile::tempdir().unwrap();
        for bad in ["../etc/passwd", "/etc/passwd", "a/../../b"] {
            let s = source(src.path(), &[bad]);
            assert!(snapshot(home.path(), &s).is_err(), "{bad}");
        }
    }
}
