//! prisn.lock on disk: TOML, versioned, sections sorted by entrypoint, packages sorted by
//! name, so the same lock always has the same bytes.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::LockSection;
use crate::{Error, Result};

/// The lock format this prisn reads and writes.
pub const VERSION: u32 = 1;

const HEADER: &str = "# prisn.lock: written by `prisn lock`. Do not edit by hand.\n# Commit it: builds use exactly these versions and hashes.\n";

/// The whole lock file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockFile {
    pub version: u32,
    /// One section per entrypoint (path relative to the lock's directory).
    #[serde(default)]
    pub scripts: BTreeMap<String, LockSection>,
}

impl Default for LockFile {
    fn default() -> Self {
        LockFile {
            version: VERSION,
            scripts: BTreeMap::new(),
        }
    }
}

impl LockFile {
    /// Read `path`; `Ok(None)` when it does not exist.
    ///
    /// # Errors
    /// Unreadable file, invalid TOML, or a version this prisn does not know.
    pub fn read(path: &Path) -> Result<Option<LockFile>> {
        let bytes = match fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io("read", path)(e)),
        };
        let text = String::from_utf8(bytes).map_err(|e| Error::LockCorrupt {
            path: path.to_path_buf(),
            message: format!(
                "it is not text (invalid UTF-8 at byte {}): a binary file, or damaged",
                e.utf8_error().valid_up_to()
            ),
        })?;
        Self::parse(&text, path).map(Some)
    }

    /// Parse lock text (`path` names it in errors).
    ///
    /// # Errors
    /// Invalid TOML or an unknown version.
    pub fn parse(text: &str, path: &Path) -> Result<LockFile> {
        let corrupt = |message: String| Error::LockCorrupt {
            path: path.to_path_buf(),
            message,
        };
        let raw: toml::Table = toml::from_str(text)
            .map_err(|e| corrupt(format!("invalid TOML: {}", e.message().trim())))?;
        match raw.get("version").and_then(toml::Value::as_integer) {
            Some(v) if v == i64::from(VERSION) => {}
            Some(v) if v > i64::from(VERSION) => {
                return Err(corrupt(format!(
                    "lock version {v} was written by a newer prisn (this one reads version {VERSION}); upgrade prisn"
                )));
            }
            Some(v) => return Err(corrupt(format!("unknown lock version {v}"))),
            None => return Err(corrupt("no `version` field".into())),
        }
        let mut lock: LockFile =
            toml::from_str(text).map_err(|e| corrupt(e.message().trim().to_string()))?;
        for section in lock.scripts.values_mut() {
            section.packages.sort();
        }
        Ok(lock)
    }

    /// The file's exact bytes.
    pub fn to_text(&self) -> String {
        let mut sorted = self.clone();
        for section in sorted.scripts.values_mut() {
            section.packages.sort();
        }
        let body = toml::to_string_pretty(&sorted).expect("lock files always serialise");
        format!("{HEADER}{body}")
    }

    /// Write through a temp file and a rename, so readers see the old or the new lock.
    ///
    /// # Errors
    /// When the directory is not writable.
    pub fn write(&self, path: &Path) -> Result<()> {
        crate::atomic::write(path, self.to_text().as_bytes())
    }
}
