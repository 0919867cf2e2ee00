//! `.deb` → its `data.tar` → entries of the [`Tree`], as `dpkg -x` would lay them out but
//! without running anything.
//!
//! A `.deb` is an `ar` archive: `debian-binary`, `control.tar.*`, `data.tar.*`. Debian 12
//! compresses `data.tar` with xz (a few packages with gzip); `.zst` members (Ubuntu) are
//! refused with a clear error. Hard links become copies of their target, device nodes and
//! fifos are skipped (a container runtime provides `/dev`), and a path with `..` or an
//! absolute link escaping nothing is refused: a `.deb` is input like any other.

use std::io::Read;
use std::path::Path;

use super::tree::{self, Kind, Node, Tree};
use crate::error::{Error, Result};

/// Unpack the data of the `.deb` at `path` (called `what` in errors) into `tree`.
///
/// # Errors
/// A file that is not a `.deb`, an unknown compression, a damaged tar or an unsafe path.
pub fn deb_into(path: &Path, what: &str, tree: &mut Tree) -> Result<()> {
    let file = std::fs::File::open(path).map_err(Error::io("read", path))?;
    let mut archive = ar::Archive::new(std::io::BufReader::new(file));
    let bad = |message: String| Error::Archive {
        what: what.to_string(),
        message,
        hint: Some(
            "the cached file is damaged; delete it under $PRISN_HOME/cache/debian-v1 and run again"
                .into(),
        ),
    };
    while let Some(member) = archive.next_entry() {
        let member = member.map_err(|e| bad(format!("not a .deb (ar archive): {e}")))?;
        let name = String::from_utf8_lossy(member.header().identifier()).into_owned();
        let name = name.trim_end_matches('/');
        let Some(ext) = name.strip_prefix("data.tar") else {
            continue;
        };
        let reader: Box<dyn Read> = match ext {
            ".xz" => Box::new(xz2::read::XzDecoder::new_multi_decoder(member)),
            ".gz" => Box::new(flate2::read::MultiGzDecoder::new(member)),
            "" => Box::new(member),
            other => {
                return Err(bad(format!(
                    "its data.tar{other} uses a compression prisn does not read (xz, gzip or none)"
                )));
            }
        };
        return data_tar(reader, tree).map_err(|m| bad(format!("{name}: {m}")));
    }
    Err(bad("has no data.tar member".into()))
}

/// Strip setuid/setgid (see [`tree`]); keep the permission and sticky bits.
fn mode_of(mode: u32, dir: bool) -> u32 {
    if dir { mode & 0o1777 } else { mode & 0o777 }
}

fn data_tar(reader: impl Read, tree: &mut Tree) -> std::result::Result<(), String> {
    let mut archive = tar::Archive::new(reader);
    for entry in archive.entries().map_err(|e| e.to_string())? {
        let mut entry = entry.map_err(|e| e.to_string())?;
        let raw = entry.path_bytes().into_owned();
        let raw = String::from_utf8(raw).map_err(|_| "a path that is not UTF-8".to_string())?;
        let Some(path) = tree::clean(&raw)? else {
            continue;
        };
        let h = entry.header();
        let mode = h.mode().map_err(|e| e.to_string())?;
        let link = || -> std::result::Result<String, String> {
            let l = entry
                .link_name_bytes()
                .ok_or(format!("link {raw:?} without a target"))?;
            String::from_utf8(l.into_owned()).map_err(|_| "a link target that is not UTF-8".into())
        };
        match h.entry_type() {
            tar::EntryType::Directory => {
                // A directory that is there already keeps what is below it.
                let node = Node {
                    kind: Kind::Dir,
                    mode: mode_of(mode, true),
                    uid: 0,
                    gid: 0,
                };
                tree.put(&path, node);
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let mut bytes = Vec::with_capacity(h.size().unwrap_or(0) as usize);
                entry
                    .read_to_end(&mut bytes)
                    .map_err(|e| format!("{raw}: {e}"))?;
                tree.file(&path, bytes, mode_of(mode, false));
            }
            tar::EntryType::Symlink => {
                let target = link()?;
                tree.symlink(&path, &target);
            }
            tar::EntryType::Link => {
                let target = tree::clean(&link()?)?.ok_or("a hard link to the root")?;
                let node = tree
                    .get(&target)
                    .filter(|n| matches!(n.kind, Kind::File(_)))
                    .cloned()
                    .ok_or(format!(
                        "hard link {raw:?} to {target:?}, which is not a file before it"
                    ))?;
                tree.put(&path, node);
            }
            // Devices, fifos and sockets: the runtime provides /dev.
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use std::io::Write;

    use super::*;

    /// A `.deb` with a data.tar.xz made of `entries` (path, content or link target, kind).
    pub fn deb(entries: &[(&str, &str, tar::EntryType, u32)]) -> Vec<u8> {
        let mut tar_bytes = Vec::new();
        {
            let mut b = tar::Builder::new(&mut tar_bytes);
            for (path, content, kind, mode) in entries {
                let mut h = tar::Header::new_gnu();
                h.set_entry_type(*kind);
                h.set_mode(*mode);
                h.set_uid(1000);
                // Names written raw: the tar crate (rightly) refuses to write `..`.
                h.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
                let data = match *kind {
                    tar::EntryType::Symlink | tar::EntryType::Link => {
                        h.set_link_name(content).unwrap();
                        ""
                    }
                    _ => content,
                };
                h.set_size(data.len() as u64);
                h.set_cksum();
                b.append(&h, data.as_bytes()).unwrap();
            }
            b.finish().unwrap();
        }
        let mut xz = xz2::write::XzEncoder::new(Vec::new(), 1);
        xz.write_all(&tar_bytes).unwrap();
        let data = xz.finish().unwrap();
        let mut out = Vec::new();
        {
            let mut a = ar::Builder::new(&mut out);
            let mut add = |name: &str, bytes: &[u8]| {
                let h = ar::Header::new(name.as_bytes().to_vec(), bytes.len() as u64);
                a.append(&h, bytes).unwrap();
            };
            add("debian-binary", b"2.0\n");
            add("control.tar.xz", b"");
            add("data.tar.xz", &data);
        }
        out
    }

    #[test]
    fn a_deb_unpacks_with_modes_links_and_no_setuid() {
        use tar::EntryType::*;
        let bytes = deb(&[
            ("./", "", Directory, 0o755),
            ("./bin/", "", Directory, 0o755),
            ("./bin/dash", "ELF", Regular, 0o4755),
            ("./bin/sh", "dash", Symlink, 0o777),
            ("./bin/dash2", "./bin/dash", Link, 0o755),
            ("./tmp/", "", Directory, 0o1777),
        ]);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.deb");
        std::fs::write(&path, bytes).unwrap();
        let mut t = Tree::default();
        deb_into(&path, "x.deb", &mut t).unwrap();
        let dash = t.get("bin/dash").unwrap();
        assert_eq!(
            (dash.mode, dash.uid),
            (0o755, 0),
            "setuid dropped, root-owned"
        );
        assert_eq!(
            t.get("bin/dash2").unwrap().kind,
            Kind::File(b"ELF".to_vec())
        );
        assert_eq!(t.get("bin/sh").unwrap().kind, Kind::Symlink("dash".into()));
        assert_eq!(t.get("tmp").unwrap().mode, 0o1777);
    }

    #[test]
    fn unsafe_or_foreign_debs_are_refused_by_name() {
        let bytes = deb(&[("./../../etc/evil", "x", tar::EntryType::Regular, 0o644)]);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("evil.deb");
        std::fs::write(&path, bytes).unwrap();
        let err = deb_into(&path, "pool/evil.deb", &mut Tree::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("pool/evil.deb") && err.contains("unsafe path"),
            "{err}"
        );
        std::fs::write(&path, b"not an ar archive").unwrap();
        let err = deb_into(&path, "pool/evil.deb", &mut Tree::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("pool/evil.deb"), "{err}");
    }
}
