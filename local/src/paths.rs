//! Where local mode keeps its files, all under `$PRISN_HOME`.
//!
//! ```text
//! $PRISN_HOME/
//!   state.db (+ -wal, -shm)   workloads and runs (SQLite, WAL); state.db.v<N>-<time>.bak before migrations
//!   daemon.sock               the HTTP API (mode 0600)
//!   daemon.lock               held by the running daemon (one per home)
//!   daemon.start.lock         held by a CLI while it starts the daemon
//!   daemon.pid                the running daemon's pid
//!   logs/daemon.log           the daemon's own output
//!   logs/<name>.log[.N]       a workload's output, rotated
//!   run/<name>/<run id>/      spec.json, started.json, exited.json of one process start
//!   code/<digest>/            immutable snapshots of deployed code (what the processes run)
//!   volumes/<name>/<volume>/  --storage directories
//! ```
//!
//! The home is 0700 and every directory prisn creates in it 0700, whoever created the home:
//! the daemon tightens a looser home it owns when it starts. Files that may hold a secret
//! (state.db and its -wal/-shm and backups, run specs with `-e` values, logs, auth.json,
//! config.toml) are 0600. A run never sees any of it (see `isolate`).

use std::fs::{DirBuilder, Permissions};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use prisn_builder::home::Home;
use sha2::{Digest, Sha256};

/// The local-mode paths of one prisn home.
#[derive(Debug, Clone)]
pub struct Paths {
    root: PathBuf,
}

impl Paths {
    pub fn new(home: &Home) -> Paths {
        Paths {
            root: home.root().to_path_buf(),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Create the home 0700, or make it 0700 when it is ours and others may enter it (a home
    /// made by hand, or by an older prisn); its local-mode directories too.
    ///
    /// # Errors
    /// When a directory cannot be created or tightened.
    pub fn secure(&self) -> std::io::Result<()> {
        create_private_dir(&self.root)?;
        for dir in [
            self.root.clone(),
            self.logs(),
            self.code(),
            self.root.join("run"),
        ] {
            create_private_dir(&dir)?;
            let meta = std::fs::metadata(&dir)?;
            // SAFETY: geteuid(2) cannot fail.
            if meta.uid() == unsafe { libc::geteuid() } && meta.mode() & 0o077 != 0 {
                tracing::info!(
                    "{}: mode {:o} → 0700 (it holds secrets)",
                    dir.display(),
                    meta.mode() & 0o777
                );
                std::fs::set_permissions(&dir, Permissions::from_mode(0o700))?;
            }
        }
        Ok(())
    }

    pub fn home(&self) -> Home {
        Home::at(&self.root)
    }

    pub fn state_db(&self) -> PathBuf {
        self.root.join("state.db")
    }

    pub fn socket(&self) -> PathBuf {
        self.root.join("daemon.sock")
    }

    pub fn daemon_lock(&self) -> PathBuf {
        self.root.join("daemon.lock")
    }

    pub fn start_lock(&self) -> PathBuf {
        self.root.join("daemon.start.lock")
    }

    pub fn pid_file(&self) -> PathBuf {
        self.root.join("daemon.pid")
    }

    pub fn logs(&self) -> PathBuf {
        self.root.join("logs")
    }

    pub fn daemon_log(&self) -> PathBuf {
        self.logs().join("daemon.log")
    }

    /// The current log file of a workload; rotated ones get `.1`, `.2`… appended.
    pub fn log_file(&self, name: &str) -> PathBuf {
        self.logs().join(format!("{name}.log"))
    }

    pub fn runs(&self, name: &str) -> PathBuf {
        self.root.join("run").join(name)
    }

    pub fn run_dir(&self, name: &str, run: i64) -> PathBuf {
        self.runs(name).join(run.to_string())
    }

    pub fn code(&self) -> PathBuf {
        self.root.join("code")
    }

    pub fn volumes(&self, name: &str) -> PathBuf {
        self.root.join("volumes").join(name)
    }

    /// A short, stable id of this home, so cgroups of two homes on one machine never clash.
    pub fn home_id(&self) -> String {
        let canonical = std::fs::canonicalize(&self.root).unwrap_or_else(|_| self.root.clone());
        let digest = Sha256::digest(canonical.as_os_str().as_encoded_bytes());
        hex::encode(digest)[..8].to_string()
    }
}

/// `mkdir -p` with mode 0700 for every directory it creates.
///
/// # Errors
/// When a directory cannot be created.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    DirBuilder::new().recursive(true).mode(0o700).create(dir)
}
