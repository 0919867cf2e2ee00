//! Cross-process locks on lock files (std's `File::lock`, flock(2) underneath). The lock is
//! released when the guard drops or the process dies, so a crash never leaves a stale lock.

use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// An exclusive lock held until dropped.
#[derive(Debug)]
pub struct FileLock {
    file: File,
    path: PathBuf,
}

impl FileLock {
    /// Block until the exclusive lock on `path` (created if missing) is ours.
    ///
    /// # Errors
    /// When the lock file cannot be created or locked.
    pub fn exclusive(path: &Path) -> Result<FileLock> {
        let file = open(path)?;
        file.lock().map_err(Error::io("lock", path))?;
        Ok(FileLock {
            file,
            path: path.to_path_buf(),
        })
    }

    /// Take the exclusive lock only if nobody holds it.
    ///
    /// # Errors
    /// When the lock file cannot be created.
    pub fn try_exclusive(path: &Path) -> Result<Option<FileLock>> {
        let file = open(path)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(FileLock {
                file,
                path: path.to_path_buf(),
            })),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(Error::io("lock", path)(e)),
        }
    }

    /// Block until a shared lock on `path` is ours: many holders at once, none while an
    /// exclusive holder (a build, a gc deleting) has it.
    ///
    /// # Errors
    /// When the lock file cannot be created or locked.
    pub fn shared(path: &Path) -> Result<FileLock> {
        let file = open(path)?;
        file.lock_shared().map_err(Error::io("lock", path))?;
        Ok(FileLock {
            file,
            path: path.to_path_buf(),
        })
    }

    /// Take a shared lock only if no exclusive holder has it.
    ///
    /// # Errors
    /// When the lock file cannot be created.
    pub fn try_shared(path: &Path) -> Result<Option<FileLock>> {
        let file = open(path)?;
        match file.try_lock_shared() {
            Ok(()) => Ok(Some(FileLock {
                file,
                path: path.to_path_buf(),
            })),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(Error::io("lock", path)(e)),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Let the lock outlive an `exec` of this process: the exec'd program holds it until it
    /// exits (the descriptor loses its close-on-exec flag).
    ///
    /// # Errors
    /// When fcntl(2) fails.
    pub fn keep_across_exec(&self) -> Result<()> {
        use std::os::fd::AsRawFd;
        let fd = self.file.as_raw_fd();
        // SAFETY: fcntl(2) on a descriptor we own.
        let ok = unsafe {
            let flags = libc::fcntl(fd, libc::F_GETFD);
            flags >= 0 && libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) == 0
        };
        if ok {
            Ok(())
        } else {
            Err(Error::io("keep across exec", &self.path)(
                std::io::Error::last_os_error(),
            ))
        }
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}

fn open(path: &Path) -> Result<File> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(Error::io("create", dir))?;
    }
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(Error::io("open", path))
}
