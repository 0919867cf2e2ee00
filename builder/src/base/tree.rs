//! The root filesystem being assembled, in memory, and its packing into one layer.
//!
//! Unlike the script layers ([`crate::image::layer`], which normalise every mode to
//! 0755/0644), a base keeps the modes its packages ship (a root filesystem needs `/tmp`
//! 1777 and `/root` 0700) with two rules: setuid and setgid bits are dropped (a base for
//! non-root workloads has no use for them), and everything is owned by root except what
//! prisn gives the `nonroot` user (its home). Entries are sorted by path bytes, mtime is
//! `SOURCE_DATE_EPOCH` or 0, user and group names are empty, and the gzip is
//! [`crate::image::gzip`]: the same tree gives the same digest on any machine.

use std::collections::BTreeMap;
use std::io::{self, Write};

use crate::error::Result;
use crate::image::blobs::BlobStore;
use crate::image::layer::Layer;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File(Vec<u8>),
    Symlink(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub kind: Kind,
    /// Permission bits (and the sticky bit on directories); never setuid/setgid.
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
}

/// path (relative, no leading `/`, no trailing `/`) → node.
#[derive(Debug, Clone, Default)]
pub struct Tree {
    pub nodes: BTreeMap<String, Node>,
}

/// `./usr/bin/x`, `/usr/bin/x/` → `usr/bin/x`; `None` for the root itself; `Err` for `..`.
pub fn clean(path: &str) -> std::result::Result<Option<String>, String> {
    let p = path.trim_start_matches("./").trim_start_matches('/');
    let p = p.trim_end_matches('/');
    if p.is_empty() || p == "." {
        return Ok(None);
    }
    if p.split('/').any(|c| c == ".." || c.is_empty() || c == ".") {
        return Err(format!("unsafe path {path:?}"));
    }
    Ok(Some(p.to_string()))
}

impl Tree {
    /// Add a node, creating missing parents as 0755 root directories. A file replaces a
    /// file or link of the same path (a later package wins); a directory keeps what is
    /// below it.
    pub fn put(&mut self, path: &str, node: Node) {
        let mut end = 0;
        while let Some(i) = path[end..].find('/') {
            end += i;
            self.nodes.entry(path[..end].to_string()).or_insert(Node {
                kind: Kind::Dir,
                mode: 0o755,
                uid: 0,
                gid: 0,
            });
            end += 1;
        }
        if node.kind != Kind::Dir {
            // A file where a directory was: drop what was below it.
            if self.nodes.get(path).is_some_and(|n| n.kind == Kind::Dir) {
                let prefix = format!("{path}/");
                self.nodes.retain(|k, _| !k.starts_with(&prefix));
            }
        }
        self.nodes.insert(path.to_string(), node);
    }

    pub fn dir(&mut self, path: &str, mode: u32) {
        self.put(
            path,
            Node {
                kind: Kind::Dir,
                mode,
                uid: 0,
                gid: 0,
            },
        );
    }

    pub fn file(&mut self, path: &str, bytes: Vec<u8>, mode: u32) {
        self.put(
            path,
            Node {
                kind: Kind::File(bytes),
                mode,
                uid: 0,
                gid: 0,
            },
        );
    }

    pub fn symlink(&mut self, path: &str, target: &str) {
        self.put(
            path,
            Node {
                kind: Kind::Symlink(target.to_string()),
                mode: 0o777,
                uid: 0,
                gid: 0,
            },
        );
    }

    /// Remove `path` and everything below it.
    pub fn remove_tree(&mut self, path: &str) {
        let prefix = format!("{path}/");
        self.nodes
            .retain(|k, _| k != path && !k.starts_with(&prefix));
    }

    pub fn get(&self, path: &str) -> Option<&Node> {
        self.nodes.get(path)
    }

    /// Follow symlinks (absolute or relative, at most 16) to the node `path` names.
    pub fn resolve(&self, path: &str) -> Option<(&str, &Node)> {
        let mut cur = path.to_string();
        for _ in 0..16 {
            let (key, node) = self.nodes.get_key_value(cur.as_str())?;
            match &node.kind {
                Kind::Symlink(t) => {
                    let base = if t.starts_with('/') {
                        String::new()
                    } else {
                        cur.rsplit_once('/')
                            .map(|(d, _)| d.to_string())
                            .unwrap_or_default()
                    };
                    let mut parts: Vec<&str> = base.split('/').filter(|c| !c.is_empty()).collect();
                    for c in t.split('/') {
                        match c {
                            "" | "." => {}
                            ".." => {
                                parts.pop();
                            }
                            c => parts.push(c),
                        }
                    }
                    cur = parts.join("/");
                }
                _ => return Some((key.as_str(), node)),
            }
        }
        None
    }

    /// Uncompressed size of the file contents (for progress and figures).
    pub fn bytes(&self) -> u64 {
        self.nodes
            .values()
            .map(|n| match &n.kind {
                Kind::File(b) => b.len() as u64,
                _ => 0,
            })
            .sum()
    }

    /// Write the tar to `out`.
    pub fn write_tar(&self, out: &mut dyn Write, mtime: u64) -> io::Result<()> {
        let mut tb = tar::Builder::new(out);
        for (path, node) in &self.nodes {
            let mut h = tar::Header::new_ustar();
            h.set_mtime(mtime);
            h.set_uid(node.uid);
            h.set_gid(node.gid);
            h.set_username("")?;
            h.set_groupname("")?;
            h.set_mode(node.mode);
            match &node.kind {
                Kind::Dir => {
                    h.set_entry_type(tar::EntryType::Directory);
                    h.set_size(0);
                    tb.append_data(&mut h, format!("{path}/"), io::empty())?;
                }
                Kind::File(bytes) => {
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_size(bytes.len() as u64);
                    tb.append_data(&mut h, path, bytes.as_slice())?;
                }
                Kind::Symlink(target) => {
                    h.set_entry_type(tar::EntryType::Symlink);
                    h.set_size(0);
                    tb.append_link(&mut h, path, target)?;
                }
            }
        }
        tb.finish()
    }

    /// Pack into `store` as a gzip layer.
    ///
    /// # Guarantees
    /// The same nodes and `mtime` give the same bytes, digest and diff_id, whatever
    /// `threads` is.
    pub fn pack(&self, store: &BlobStore, mtime: u64, threads: usize) -> Result<Layer> {
        crate::image::layer::pack_tar(store, threads, |w| self.write_tar(w, mtime))
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn sample() -> Tree {
        let mut t = Tree::default();
        t.dir("tmp", 0o1777);
        t.file("usr/bin/dash", b"\x7fELF".to_vec(), 0o755);
        t.symlink("bin/sh", "../usr/bin/dash");
        t.put(
            "home/nonroot",
            Node {
                kind: Kind::Dir,
                mode: 0o755,
                uid: 65532,
                gid: 65532,
            },
        );
        t
    }

    #[test]
    fn modes_owners_and_order_are_kept() {
        let mut tar_bytes = Vec::new();
        sample().write_tar(&mut tar_bytes, 0).unwrap();
        let mut a = tar::Archive::new(tar_bytes.as_slice());
        let mut seen = Vec::new();
        for e in a.entries().unwrap() {
            let e = e.unwrap();
            let p = e
                .path()
                .unwrap()
                .to_string_lossy()
                .trim_end_matches('/')
                .to_string();
            let h = e.header();
            match p.as_str() {
                "tmp" => assert_eq!(h.mode().unwrap(), 0o1777),
                "home/nonroot" => assert_eq!(h.uid().unwrap(), 65532),
                "usr/bin/dash" => assert_eq!((h.mode().unwrap(), h.uid().unwrap()), (0o755, 0)),
                _ => {}
            }
            seen.push(p);
        }
        assert_eq!(
            seen,
            [
                "bin",
                "bin/sh",
                "home",
                "home/nonroot",
                "tmp",
                "usr",
                "usr/bin",
                "usr/bin/dash"
            ]
        );
    }

    #[test]
    fn same_tree_same_digest_whatever_the_threads() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::new(dir.path());
        let a = sample().pack(&store, 0, 1).unwrap();
        let b = sample().pack(&store, 0, 4).unwrap();
        assert_eq!(a, b);
        let mut gz = Vec::new();
        std::fs::File::open(store.path(&a.digest))
            .unwrap()
            .read_to_end(&mut gz)
            .unwrap();
        assert_eq!(crate::digest::sha256(&gz), a.digest);
    }

    #[test]
    fn symlinks_resolve_and_dot_dot_is_refused() {
        let t = sample();
        assert_eq!(t.resolve("bin/sh").unwrap().0, "usr/bin/dash");
        assert!(clean("./usr/../etc/passwd").is_err());
        assert_eq!(clean("./").unwrap(), None);
        assert_eq!(clean("./usr/bin/").unwrap().as_deref(), Some("usr/bin"));
    }
}
