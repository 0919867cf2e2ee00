//! `$PRISN_HOME` (default `~/.prisn`): where the store, caches, config and state live.
//!
//! ```text
//! $PRISN_HOME/
//!   store/<hash>-<name>/     environments, content-addressed (see store)
//!   store/.locks/            one lock file per hash while it is built
//!   store/.used/<entry>      mtime = last use (gc keeps recent ones)
//!   gcroots/<entry>          pins: entries gc must keep
//!   cache/                   interpreter probes, layers, blobs (see cache; gc'd by mtime)
//!   config.toml              contexts (the CLI's)
//! ```

use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// The prisn home directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Home {
    root: PathBuf,
}

impl Home {
    /// `$PRISN_HOME`, else `$HOME/.prisn`.
    ///
    /// # Errors
    /// When neither variable is set.
    pub fn from_env() -> Result<Home> {
        if let Some(dir) = std::env::var_os("PRISN_HOME").filter(|v| !v.is_empty()) {
            return Ok(Home::at(PathBuf::from(dir)));
        }
        match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
            Some(home) => Ok(Home::at(PathBuf::from(home).join(".prisn"))),
            None => Err(Error::tool(
                "cannot find prisn's home: neither PRISN_HOME nor HOME is set".into(),
                Some("set PRISN_HOME to a writable directory".into()),
            )),
        }
    }

    /// A home at an explicit directory (tests use temp dirs).
    pub fn at(root: impl Into<PathBuf>) -> Home {
        Home { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The content-addressed store of environments.
    pub fn store(&self) -> PathBuf {
        self.root.join("store")
    }

    /// Caches that can always be rebuilt (interpreter probes, layers, blobs).
    pub fn cache(&self) -> PathBuf {
        self.root.join("cache")
    }

    /// Pins that keep store entries alive through `prisn gc`.
    pub fn gcroots(&self) -> PathBuf {
        self.root.join("gcroots")
    }
}
