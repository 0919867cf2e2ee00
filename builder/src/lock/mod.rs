//! The lock: for each entrypoint, every package pinned to an exact version with the sha256
//! of every artifact, plus what it was resolved for (Python, platform, date) and a hash of
//! the declarations it came from, so a stale lock is detected without resolving again.

use serde::{Deserialize, Serialize};

use crate::script::Runtime;

mod ensure;
pub mod file;
pub mod resolve;

pub use ensure::{
    EnsureOptions, Freshness, LockMode, LockOutcome, Target, check, empty_section, ensure,
    lock_path, record_base,
};
pub use file::LockFile;

/// One pinned package.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Package {
    /// Normalised name (Python) or install path below node_modules (Node).
    pub name: String,
    pub version: String,
    /// A direct URL requirement's URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// `sha256:<hex>` for every artifact (Python) or npm's `sha512-…` integrity (Node).
    pub hashes: Vec<String>,
}

/// The base image a section's image builds on, pinned by digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BasePin {
    /// The reference as the user gave it (e.g. `python:3.11-slim`).
    pub image: String,
    /// `sha256:…` of the manifest (or index) it resolved to.
    pub digest: String,
}

/// The lock of one entrypoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct LockSection {
    pub runtime: Runtime,
    /// sha256 of the declarations this section was resolved from.
    pub inputs: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requires_python: Option<String>,
    /// Python `major.minor` the packages were resolved for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub python: Option<String>,
    /// Target platform, in uv's `--python-platform` spelling (e.g. `x86_64-manylinux_2_28`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// Nothing uploaded after this instant was considered (RFC 3339), so a re-lock later
    /// gives the same answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclude_newer: Option<String>,
    /// `uv`, `pip` or `npm`; `none` when nothing was declared.
    pub resolver: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<BasePin>,
    #[serde(default, rename = "package")]
    pub packages: Vec<Package>,
}

impl LockSection {
    /// `name==version --hash=…` lines for `uv pip install --require-hashes --no-deps`.
    pub fn requirements_txt(&self) -> String {
        let mut out = String::new();
        for p in &self.packages {
            match &p.url {
                Some(url) => out.push_str(&format!("{} @ {}", p.name, url)),
                None => out.push_str(&format!("{}=={}", p.name, p.version)),
            }
            for h in &p.hashes {
                out.push_str(&format!(" \\\n    --hash={h}"));
            }
            out.push('\n');
        }
        out
    }

    /// sha256 of the section's canonical bytes, without the base pin (the base does not
    /// change what gets installed; image caches add the base digest to their own keys).
    pub fn digest(&self) -> String {
        let mut copy = self.clone();
        copy.base = None;
        let text = toml::to_string(&copy).expect("lock sections always serialise");
        crate::digest::sha256(text.as_bytes())
    }
}

#[cfg(test)]
mod tests;
