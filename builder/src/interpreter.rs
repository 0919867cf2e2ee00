//! Which interpreter builds and runs an environment, and its identity (implementation,
//! version, ABI, platform). The identity is part of every store hash: an environment built
//! for one Python never answers for another.
//!
//! Probing Python costs ~20 ms, so results are cached in `cache/interpreters-v1.json`, keyed
//! by the path and its size and mtime, and re-checked against the real executable's.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};

use crate::home::Home;
use crate::{Error, Result};

/// A Python interpreter's identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Python {
    /// The real executable (symlinks and shims resolved), used to create environments.
    pub executable: PathBuf,
    /// `cpython`, `pypy`, …
    pub implementation: String,
    /// Full version, e.g. `3.11.7`.
    pub version: String,
    /// `major.minor`, e.g. `3.11`.
    pub minor: String,
    /// `sysconfig.get_config_var("SOABI")`, e.g. `cpython-311-x86_64-linux-gnu`.
    pub abi: String,
    /// `sysconfig.get_platform()`, e.g. `linux-x86_64`.
    pub platform: String,
    /// The C library and its version, e.g. `glibc 2.36`.
    pub libc: String,
}

impl Python {
    /// The identity as stable bytes for store hashes.
    pub fn identity(&self) -> String {
        format!(
            "python\nexecutable={}\nimplementation={}\nversion={}\nabi={}\nplatform={}\nlibc={}\n",
            self.executable.display(),
            self.implementation,
            self.version,
            self.abi,
            self.platform,
            self.libc
        )
    }
}

const PROBE: &str = r#"
import json, os, platform, sys, sysconfig
libc = " ".join(platform.libc_ver()).strip()
print(json.dumps({
    "executable": os.path.realpath(sys.executable),
    "implementation": sys.implementation.name,
    "version": platform.python_version(),
    "minor": "%d.%d" % sys.version_info[:2],
    "abi": sysconfig.get_config_var("SOABI") or "",
    "platform": sysconfig.get_platform(),
    "libc": libc,
}))
"#;

#[derive(Debug, Default, Serialize, Deserialize)]
struct Cache {
    entries: BTreeMap<String, CacheEntry>,
}

#[derive(Debug, Serialize, Deserialize)]
struct CacheEntry {
    stamp: String,
    exe_stamp: String,
    python: Python,
}

/// Find and identify the Python interpreter: `requested`, else `python3` on PATH.
///
/// # Errors
/// No interpreter found, or it could not be run.
pub fn python(requested: Option<&Path>, home: &Home) -> Result<Python> {
    let path = match requested {
        Some(p) if p.components().count() > 1 => p.to_path_buf(),
        Some(p) => which(p.as_os_str().to_str().unwrap_or("python3"))?,
        None => which("python3")?,
    };
    let key = path.display().to_string();
    let cache_file = home.cache().join("interpreters-v1.json");
    let stamp = stamp_of(&path);
    let mut cache: Cache = fs::read(&cache_file)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    if let (Some(entry), Some(stamp)) = (cache.entries.get(&key), &stamp)
        && &entry.stamp == stamp
        && stamp_of(&entry.python.executable).as_ref() == Some(&entry.exe_stamp)
    {
        return Ok(entry.python.clone());
    }
    let python = probe(&path)?;
    if let (Some(stamp), Some(exe_stamp)) = (stamp, stamp_of(&python.executable)) {
        cache.entries.insert(
            key,
            CacheEntry {
                stamp,
                exe_stamp,
                python: python.clone(),
            },
        );
        // A cache: losing a write race or failing to write only costs a probe next time.
        let _ = crate::atomic::write(
            &cache_file,
            &serde_json::to_vec_pretty(&cache).unwrap_or_default(),
        );
    }
    Ok(python)
}

fn probe(path: &Path) -> Result<Python> {
    let out = Command::new(path)
        // -S: none of the probe's facts depends on site-packages, and importing `site` (with
        // whatever .pth files the installation has) was two thirds of the probe's time.
        .args(["-I", "-S", "-c", PROBE])
        .output()
        .map_err(|e| {
            Error::tool(
                format!("cannot run Python at {}: {e}", path.display()),
                Some("install python3 or pass --python PATH".into()),
            )
        })?;
    if !out.status.success() {
        return Err(Error::tool(
            format!(
                "{} failed to report its version: {}",
                path.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            ),
            Some("pass a working interpreter with --python PATH".into()),
        ));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| {
        Error::tool(
            format!("unexpected answer from {}: {e}", path.display()),
            None,
        )
    })
}

/// Size, mtime and inode of a file; changes when the file is replaced.
fn stamp_of(path: &Path) -> Option<String> {
    let m = fs::metadata(path).ok()?;
    Some(format!(
        "{}:{}:{}:{}",
        m.len(),
        m.mtime(),
        m.mtime_nsec(),
        m.ino()
    ))
}

/// Find `program` on PATH.
///
/// # Errors
/// When it is not there.
pub fn which(program: &str) -> Result<PathBuf> {
    find_on_path(program).ok_or_else(|| {
        Error::tool(
            format!("{program} not found on PATH"),
            Some(format!("install {program} or put it on PATH")),
        )
    })
}

/// The uv binary to run beside `python`: `$PRISN_UV`, else the uv installed into that
/// interpreter (`pip install uv` puts it beside it; running it directly skips wrappers on
/// PATH such as pyenv's shims, a bash script that cost 0.1–0.4 s per call here), else uv on
/// PATH. `None`: no uv binary at all.
pub fn uv_binary(python: Option<&Python>) -> Option<PathBuf> {
    let beside = python
        .and_then(|py| py.executable.parent())
        .map(|dir| dir.join("uv"))
        .filter(|p| p.is_file());
    std::env::var_os("PRISN_UV")
        .map(PathBuf::from)
        .or(beside)
        .or_else(|| find_on_path("uv"))
}

/// Find `program` on PATH, if it is there.
pub fn find_on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| {
            fs::metadata(candidate)
                .map(|m| m.is_file() && m.mode() & 0o111 != 0)
                .unwrap_or(false)
        })
}

/// A Node.js interpreter's identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    pub executable: PathBuf,
    /// `v20.20.2`
    pub version: String,
}

impl Node {
    pub fn identity(&self) -> String {
        format!(
            "node\nexecutable={}\nversion={}\narch={}\n",
            self.executable.display(),
            self.version,
            std::env::consts::ARCH
        )
    }
}

/// Find `node` on PATH and ask its version.
///
/// # Errors
/// When node is missing or fails.
pub fn node() -> Result<Node> {
    let exe = which("node")?;
    let out = Command::new(&exe)
        .arg("--version")
        .output()
        .map_err(|e| Error::tool(format!("cannot run {}: {e}", exe.display()), None))?;
    let executable = fs::canonicalize(&exe).unwrap_or(exe);
    Ok(Node {
        executable,
        version: String::from_utf8_lossy(&out.stdout).trim().to_string(),
    })
}
