//! The content-addressed store: `$PRISN_HOME/store/<hash>-<name>/`, where the hash covers
//! the lock section, the interpreter's identity and the store format version. Same inputs,
//! same path, on any machine; an entry is never modified once it exists.

use std::collections::HashSet;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::home::Home;
use crate::lock::LockSection;
use crate::{Error, Result};

pub mod optimise;
pub mod persist;

/// Bumped whenever the layout of an entry changes, so old entries are never reused.
pub const FORMAT: &str = "prisn-store-v1";

/// What an entry holds, written as `.prisn/entry.json` inside it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub format: String,
    pub name: String,
    pub hash: String,
    pub runtime: String,
    /// `LockSection::digest()` of the lock it was built from.
    pub lock: String,
    /// The interpreter identity it was built for.
    pub interpreter: String,
    pub packages: usize,
    /// RFC 3339 build time (informational; not part of the hash).
    pub created: String,
}

/// One entry as `prisn store ls` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    /// `<hash>-<name>`
    pub id: String,
    pub path: PathBuf,
    pub record: Option<Record>,
    /// Bytes on disk, each hardlinked file counted once per entry.
    pub size: u64,
    #[serde(with = "humantime_serde_compat")]
    pub last_used: SystemTime,
    pub pinned: bool,
}

/// The store under a prisn home.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
    gcroots: PathBuf,
}

impl Store {
    pub fn new(home: &Home) -> Store {
        Store {
            dir: home.store(),
            gcroots: home.gcroots(),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The 32-hex-digit hash of an environment for `section` on interpreter `identity`.
    pub fn hash(section: &LockSection, identity: &str) -> String {
        let input = format!("{FORMAT}\nlock={}\n{identity}", section.digest());
        crate::digest::sha256_hex(input.as_bytes())[..32].to_string()
    }

    /// The path an entry with `hash` and `name` has (whether or not it exists).
    pub fn path_for(&self, hash: &str, name: &str) -> PathBuf {
        self.dir.join(format!("{hash}-{}", clean_name(name)))
    }

    /// Make sure the entry exists, building it with `build(temp_dir)` if not; marks it used.
    /// Returns the entry path and whether this call built it.
    ///
    /// # Errors
    /// What `build` returns, or store IO errors.
    pub fn ensure(
        &self,
        hash: &str,
        name: &str,
        build: impl FnOnce(&Path) -> Result<Record>,
    ) -> Result<(PathBuf, bool)> {
        let path = self.path_for(hash, name);
        let built = persist::ensure(&self.dir, hash, &path, |tmp| {
            let record = build(tmp)?;
            Ok(serde_json::to_vec_pretty(&record).expect("records serialise"))
        })?;
        self.touch(&path);
        Ok((path, built))
    }

    /// A lease on the entry `hash` at `path`: while it is held (by this process, or by the
    /// program it execs; see [`FileLock::keep_across_exec`]), `gc` leaves the entry alone
    /// whatever its age. Taken after the entry exists, then checked again: a gc that deleted
    /// it meanwhile is reported, never a half-deleted environment used.
    ///
    /// # Errors
    /// When the lock cannot be taken, or the entry was deleted by a concurrent gc.
    pub fn lease(&self, hash: &str, path: &Path) -> Result<crate::fslock::FileLock> {
        let lease = crate::fslock::FileLock::shared(&self.lock_path(hash))?;
        if !path.join(persist::RECORD).is_file() {
            return Err(Error::CollectedMeanwhile {
                path: path.to_path_buf(),
            });
        }
        Ok(lease)
    }

    fn lock_path(&self, hash: &str) -> PathBuf {
        self.dir.join(".locks").join(format!("{hash}.lock"))
    }

    /// Remove what interrupted builds and deletes left in `.tmp` (a build killed with -9):
    /// every entry whose hash nobody holds locked.
    fn collect_tmp(&self) -> Result<usize> {
        let tmp = self.dir.join(".tmp");
        let entries = match fs::read_dir(&tmp) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(Error::io("read", &tmp)(e)),
        };
        let mut removed = 0;
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let hash = name.split('-').next().unwrap_or_default();
            if hash.is_empty() {
                continue;
            }
            let Some(_guard) = crate::fslock::FileLock::try_exclusive(&self.lock_path(hash))?
            else {
                continue; // being built (or deleted) right now
            };
            let path = e.path();
            make_writable(&path);
            fs::remove_dir_all(&path).map_err(Error::io("delete", &path))?;
            removed += 1;
        }
        Ok(removed)
    }

    /// Record that `path` was used now (gc keeps recently used entries).
    pub fn touch(&self, path: &Path) {
        let Some(id) = path.file_name() else { return };
        let used = self.dir.join(".used");
        let mark = used.join(id);
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&mark)
            .or_else(|_| {
                fs::create_dir_all(&used)?;
                fs::OpenOptions::new()
                    .create(true)
                    .truncate(false)
                    .write(true)
                    .open(&mark)
            });
        if let Ok(f) = file {
            let _ = f.set_modified(SystemTime::now());
        }
    }

    /// Every complete entry, sorted by id.
    ///
    /// # Errors
    /// An unreadable store directory.
    pub fn list(&self) -> Result<Vec<Entry>> {
        Ok(self.ids()?.iter().map(|id| self.entry(id)).collect())
    }

    /// The ids of the entries, sorted; cheap (no walk of their files, unlike [`Store::list`]).
    fn ids(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        let read = match fs::read_dir(&self.dir) {
            Ok(r) => r,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(Error::io("read", &self.dir)(e)),
        };
        for item in read.flatten() {
            let id = item.file_name().to_string_lossy().into_owned();
            if id.starts_with('.') || !item.path().is_dir() {
                continue;
            }
            out.push(id);
        }
        out.sort();
        Ok(out)
    }

    fn entry(&self, id: &str) -> Entry {
        let path = self.dir.join(id);
        let record = fs::read(path.join(persist::RECORD))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        let used = fs::metadata(self.dir.join(".used").join(id))
            .and_then(|m| m.modified())
            .or_else(|_| fs::metadata(&path).and_then(|m| m.modified()))
            .unwrap_or(SystemTime::UNIX_EPOCH);
        Entry {
            id: id.to_string(),
            size: disk_usage(&path),
            record,
            last_used: used,
            pinned: self.gcroots.join(id).exists(),
            path,
        }
    }

    /// Find an entry by path, id or hash prefix (at least 8 hex digits). An exact id wins
    /// over prefixes (`<hash>-web` is also a prefix of `<hash>-web-run`); a prefix must be
    /// unambiguous.
    pub fn find(&self, target: &str) -> Option<Entry> {
        let name = Path::new(target)
            .file_name()?
            .to_string_lossy()
            .into_owned();
        let ids = self.ids().ok()?;
        if ids.contains(&name) {
            return Some(self.entry(&name));
        }
        let mut matches = ids
            .into_iter()
            .filter(|id| name.len() >= 8 && id.starts_with(&name));
        let first = matches.next()?;
        matches.next().is_none().then(|| self.entry(&first))
    }

    /// Keep `id` through gc.
    ///
    /// # Errors
    /// When the pin cannot be written.
    pub fn pin(&self, id: &str) -> Result<()> {
        fs::create_dir_all(&self.gcroots).map_err(Error::io("create", &self.gcroots))?;
        let link = self.gcroots.join(id);
        if link.exists() {
            return Ok(());
        }
        std::os::unix::fs::symlink(self.dir.join(id), &link).map_err(Error::io("pin", &link))
    }

    /// Let gc delete `id` again. Returns false when it was not pinned.
    ///
    /// # Errors
    /// When the pin exists but cannot be removed.
    pub fn unpin(&self, id: &str) -> Result<bool> {
        let link = self.gcroots.join(id);
        match fs::remove_file(&link) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Error::io("unpin", &link)(e)),
        }
    }

    /// Delete entries neither pinned nor used within `keep`; returns what was (or, with
    /// `dry_run`, would be) freed. Entries being built or locked are skipped.
    ///
    /// # Errors
    /// An unreadable store, or a failed delete.
    pub fn gc(&self, keep: Duration, dry_run: bool) -> Result<Vec<Entry>> {
        let cutoff = SystemTime::now()
            .checked_sub(keep)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let mut freed = Vec::new();
        if !dry_run {
            let n = self.collect_tmp()?;
            if n > 0 {
                tracing::info!("removed {n} leftover(s) of interrupted builds from store/.tmp");
            }
        }
        for entry in self.list()? {
            if entry.pinned || entry.last_used > cutoff {
                continue;
            }
            let hash = entry.id.split('-').next().unwrap_or_default().to_string();
            if dry_run {
                freed.push(entry);
                continue;
            }
            let Some(_guard) = crate::fslock::FileLock::try_exclusive(&self.lock_path(&hash))?
            else {
                continue; // being built, or in use by a `prisn run` (its lease)
            };
            // Rename first so the entry disappears at once, then delete at leisure.
            let trash =
                self.dir
                    .join(".tmp")
                    .join(format!("{}-gc-{}", entry.id, std::process::id()));
            fs::create_dir_all(self.dir.join(".tmp"))
                .map_err(Error::io("create", self.dir.join(".tmp")))?;
            fs::rename(&entry.path, &trash).map_err(Error::io("move", &entry.path))?;
            fs::remove_dir_all(&trash).map_err(Error::io("delete", &trash))?;
            let _ = fs::remove_file(self.dir.join(".used").join(&entry.id));
            freed.push(entry);
        }
        if !dry_run && !freed.is_empty() {
            optimise::prune(&self.dir)?;
        }
        Ok(freed)
    }
}

/// Names in store paths: letters, digits, `.`, `_`, `-`; at most 48 characters.
fn clean_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .take(48)
        .collect();
    if cleaned.is_empty() {
        "env".into()
    } else {
        cleaned
    }
}

/// Bytes used by the files under `dir`, counting each inode once.
pub fn disk_usage(dir: &Path) -> u64 {
    let mut seen = HashSet::new();
    walkdir::WalkDir::new(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.metadata().ok())
        .filter(|m| !m.is_dir() && seen.insert((m.dev(), m.ino())))
        .map(|m| m.blocks() * 512)
        .sum()
}

/// Serialise SystemTime as RFC 3339 (serde has no stable format for it).
mod humantime_serde_compat {
    use std::time::SystemTime;

    pub fn serialize<S: serde::Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_rfc3339_seconds(*t).to_string())
    }
}

#[cfg(test)]
mod tests;

/// Give the owner write permission throughout `dir` (installers may leave read-only trees),
/// so it can be deleted.
fn make_writable(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    if let Ok(meta) = fs::symlink_metadata(dir) {
        let _ = fs::set_permissions(
            dir,
            fs::Permissions::from_mode(meta.permissions().mode() | 0o700),
        );
    }
    for e in entries.flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            make_writable(&e.path());
        }
    }
}
