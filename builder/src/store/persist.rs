//! Build a store entry so that it either exists whole or not at all: build in a temp dir
//! under `store/.tmp/`, write the entry record last, then rename into place — all while
//! holding the entry's cross-process lock, so two builds of one hash never race.

use std::fs;
use std::path::{Path, PathBuf};

use crate::fslock::FileLock;
use crate::{Error, Result};

/// The record inside every complete entry; its presence marks the entry as whole.
pub const RECORD: &str = ".prisn/entry.json";

/// Make `final_dir` exist, building it with `build` in a temp dir if it does not.
/// Returns true when this call built it.
///
/// # Guarantees
/// - `final_dir` appears only complete: a crash (even kill -9) mid-build leaves a temp dir
///   that the next build of the same hash deletes, never a half entry at `final_dir`.
/// - Concurrent callers for the same hash: one builds, the others wait and then use it.
///
/// # Errors
/// Whatever `build` returns, or IO errors on the store.
pub fn ensure(
    store: &Path,
    hash: &str,
    final_dir: &Path,
    build: impl FnOnce(&Path) -> Result<Vec<u8>>,
) -> Result<bool> {
    if final_dir.join(RECORD).is_file() {
        return Ok(false);
    }
    let _guard = FileLock::exclusive(&store.join(".locks").join(format!("{hash}.lock")))?;
    if final_dir.join(RECORD).is_file() {
        return Ok(false); // built by another process while we waited
    }
    let tmp_root = store.join(".tmp");
    fs::create_dir_all(&tmp_root).map_err(Error::io("create", &tmp_root))?;
    remove_stale(&tmp_root, hash)?;
    if final_dir.exists() {
        // A directory without its record is not ours to trust (an older crash, a manual
        // copy): move it aside rather than delete what someone may want to inspect.
        let aside = tmp_root.join(format!("{hash}-incomplete-{}", std::process::id()));
        fs::rename(final_dir, &aside).map_err(Error::io("move aside", final_dir))?;
        let _ = fs::remove_dir_all(&aside);
    }
    let tmp = tmp_root.join(format!("{hash}-{}", std::process::id()));
    fs::create_dir_all(&tmp).map_err(Error::io("create", &tmp))?;
    let record = match build(&tmp) {
        Ok(record) => record,
        Err(e) => {
            let _ = fs::remove_dir_all(&tmp);
            return Err(e);
        }
    };
    let record_path = tmp.join(RECORD);
    fs::create_dir_all(record_path.parent().expect("record has a parent"))
        .map_err(Error::io("create", &record_path))?;
    fs::write(&record_path, record).map_err(Error::io("write", &record_path))?;
    fs::rename(&tmp, final_dir).map_err(Error::io("rename into place", final_dir))?;
    Ok(true)
}

/// Temp dirs of `hash` left by crashed builds. Safe to delete: we hold the hash's lock.
fn remove_stale(tmp_root: &Path, hash: &str) -> Result<()> {
    let prefix = format!("{hash}-");
    for entry in fs::read_dir(tmp_root)
        .map_err(Error::io("read", tmp_root))?
        .flatten()
    {
        if entry.file_name().to_string_lossy().starts_with(&prefix) {
            let path: PathBuf = entry.path();
            tracing::info!("removing {} left by an interrupted build", path.display());
            fs::remove_dir_all(&path).map_err(Error::io("remove", &path))?;
        }
    }
    Ok(())
}
