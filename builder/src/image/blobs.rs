//! A local content-addressed blob directory: `<root>/sha256/<hex>`.
//!
//! Used for the blob cache (`$PRISN_HOME/cache/blobs/`) and, with the same shape, inside OCI
//! layouts (`DIR/blobs/`). Blobs are written to a temp file beside their final place and
//! renamed, so a reader never sees half a blob, and two writers of the same blob both win.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

#[derive(Debug, Clone)]
pub struct BlobStore {
    root: PathBuf,
    /// Set for a store in `$PRISN_HOME/cache`: gc leaves the cache alone while it lives,
    /// and hits are recorded as uses.
    cache: Option<CacheUse>,
}

#[derive(Debug, Clone)]
struct CacheUse {
    _lease: Option<crate::cache::Lease>,
}

/// Split `sha256:<hex>` and check it is a well-formed sha256 digest.
pub fn parse_digest(digest: &str) -> Result<&str> {
    let hex = digest.strip_prefix("sha256:").unwrap_or("");
    if hex.len() != 64
        || !hex
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    {
        return Err(Error::BadDigest {
            digest: digest.to_string(),
        });
    }
    Ok(hex)
}

impl BlobStore {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            cache: None,
        }
    }

    /// A store inside `$PRISN_HOME/cache`, holding `lease` (see [`crate::cache`]): every hit
    /// ([`Self::has`], [`Self::read`]) marks the blob used, for gc.
    pub fn in_cache(root: impl Into<PathBuf>, lease: Option<crate::cache::Lease>) -> Self {
        Self {
            root: root.into(),
            cache: Some(CacheUse { _lease: lease }),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the blob lives (whether or not it exists). `digest` must be well-formed.
    pub fn path(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
        self.root.join("sha256").join(hex)
    }

    pub fn has(&self, digest: &str) -> bool {
        let found = parse_digest(digest).is_ok() && self.path(digest).is_file();
        if found && self.cache.is_some() {
            crate::cache::touch(&self.path(digest));
        }
        found
    }

    /// A temp file in the store's directory, so the final rename stays on one filesystem.
    pub fn temp_file(&self) -> Result<tempfile::NamedTempFile> {
        let dir = self.root.join("sha256");
        std::fs::create_dir_all(&dir).map_err(Error::io("create", &dir))?;
        tempfile::Builder::new()
            .prefix(".tmp-")
            .tempfile_in(&dir)
            .map_err(Error::io("create a temp file in", &dir))
    }

    /// Move a finished temp file to its content address.
    pub fn commit(&self, tmp: tempfile::NamedTempFile, digest: &str) -> Result<PathBuf> {
        parse_digest(digest)?;
        let dest = self.path(digest);
        let file = tmp.as_file();
        // Temp files are 0600; blobs are content, readable like any file (skopeo, umoci).
        set_readable(file);
        file.sync_all().map_err(Error::io("sync", tmp.path()))?;
        tmp.persist(&dest)
            .map_err(|e| Error::io("rename into", &dest)(e.error))?;
        Ok(dest)
    }

    /// Store `bytes`; returns their digest.
    pub fn put(&self, bytes: &[u8]) -> Result<String> {
        let digest = format!("sha256:{}", hex::encode(Sha256::digest(bytes)));
        if !self.has(&digest) {
            let mut tmp = self.temp_file()?;
            tmp.write_all(bytes)
                .map_err(Error::io("write", tmp.path()))?;
            self.commit(tmp, &digest)?;
        }
        Ok(digest)
    }

    /// Store the content of `reader`, checking it against `digest` (refused on mismatch).
    pub fn put_verified(&self, reader: &mut dyn io::Read, digest: &str) -> Result<PathBuf> {
        parse_digest(digest)?;
        let tmp = self.temp_file()?;
        let path = tmp.path().to_path_buf();
        let mut w = HashingWriter::new(tmp);
        io::copy(reader, &mut w).map_err(Error::io("write", &path))?;
        let (got, _, tmp) = w.finish();
        if got != digest {
            return Err(Error::DigestMismatch {
                what: format!("blob {digest}"),
                expected: digest.to_string(),
                actual: got,
            });
        }
        self.commit(tmp, digest)
    }

    /// Read a whole blob (manifests and configs; layers are streamed from [`Self::path`]).
    pub fn read(&self, digest: &str) -> Result<Vec<u8>> {
        parse_digest(digest)?;
        let path = self.path(digest);
        let bytes = std::fs::read(&path).map_err(Error::io("read", &path))?;
        if self.cache.is_some() {
            crate::cache::touch(&path);
        }
        Ok(bytes)
    }

    /// Copy a blob into another store, hard-linking when possible (same filesystem).
    pub fn copy_to(&self, digest: &str, other: &BlobStore) -> Result<()> {
        if other.has(digest) {
            return Ok(());
        }
        let src = self.path(digest);
        let dest = other.path(digest);
        let dir = other.root.join("sha256");
        std::fs::create_dir_all(&dir).map_err(Error::io("create", &dir))?;
        if std::fs::hard_link(&src, &dest).is_ok() {
            return Ok(());
        }
        let mut file = std::fs::File::open(&src).map_err(Error::io("read", &src))?;
        other.put_verified(&mut file, digest)?;
        Ok(())
    }
}

/// Mode 0644 for a finished file (temp files start as 0600).
pub fn set_readable(file: &std::fs::File) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = file.set_permissions(std::fs::Permissions::from_mode(0o644));
    }
}

/// A writer that hashes (sha256) and counts what passes through it.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    n: u64,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            n: 0,
        }
    }

    /// `sha256:<hex>` of what was written so far.
    pub fn digest(&self) -> String {
        format!("sha256:{}", hex::encode(self.hasher.clone().finalize()))
    }

    /// Digest, byte count and the inner writer.
    pub fn finish(self) -> (String, u64, W) {
        let digest = format!("sha256:{}", hex::encode(self.hasher.finalize()));
        (digest, self.n, self.inner)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.n += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_then_read_back_by_digest() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::new(dir.path());
        let d = store.put(b"hello").unwrap();
        assert_eq!(
            d,
            "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert_eq!(store.read(&d).unwrap(), b"hello");
    }

    #[test]
    fn a_blob_whose_bytes_do_not_match_its_digest_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::new(dir.path());
        let wrong = format!("sha256:{}", "0".repeat(64));
        let err = store.put_verified(&mut &b"hello"[..], &wrong).unwrap_err();
        assert!(matches!(err, Error::DigestMismatch { .. }), "{err}");
        assert!(!store.has(&wrong));
    }

    #[test]
    fn malformed_digests_are_rejected() {
        assert!(parse_digest("sha256:abc").is_err());
        assert!(parse_digest(&format!("sha512:{}", "a".repeat(64))).is_err());
        assert!(parse_digest(&format!("sha256:{}", "A".repeat(64))).is_err());
    }
}
