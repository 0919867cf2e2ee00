//! `base.lock`: one section per base (`[base.python3]`), each pinning every package
//! (name, version, architecture, sha256, filename) and the archive snapshot it was resolved
//! from. Sorted, versioned TOML with stable bytes; written whole or not at all.
//!
//! The lock is all a build needs: with it, prisn fetches the pinned `.deb`s by filename from
//! any mirror (the public archive or an air-gapped copy) and checks each sha256, so the same
//! lock gives the same image digest on any machine. The mirror URL is deliberately not
//! recorded, so two sites with different mirrors share one lock.
//!
//! `inputs` is the sha256 of what was asked (packages, excludes, suite, architecture,
//! components): a lock is *stale* when the request changed since it was written.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The file format version; another number is refused with a clear error.
pub const VERSION: u32 = 1;

/// What was asked for; its digest is a section's `inputs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Request {
    /// Root packages (their closure is the image).
    pub packages: Vec<String>,
    /// Packages never installed (a relation on one counts as met).
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Suite or codename, as given (`bookworm`).
    pub suite: String,
    pub architecture: String,
    pub components: Vec<String>,
}

impl Request {
    /// sha256 of the request's canonical TOML.
    pub fn digest(&self) -> String {
        let text = toml::to_string(self).expect("a request always serialises");
        crate::digest::sha256(text.as_bytes())
    }
}

/// The signed archive snapshot a section was resolved from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Archive {
    pub suite: String,
    pub codename: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The Release `Date:`.
    pub date: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<String>,
    /// `sha256:` of the InRelease file the packages were read through.
    pub in_release: String,
}

/// One pinned package.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Pin {
    pub name: String,
    pub version: String,
    pub architecture: String,
    /// Hex sha256 of the `.deb`.
    pub sha256: String,
    /// Path below the mirror root.
    pub filename: String,
    pub size: u64,
}

/// The lock of one base.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Section {
    /// sha256 of the [`Request`].
    pub inputs: String,
    pub request: Request,
    pub archive: Archive,
    #[serde(default, rename = "package")]
    pub packages: Vec<Pin>,
}

impl Section {
    /// sha256 of what decides the image's bytes: the pins (sorted) and the request.
    pub fn digest(&self) -> String {
        let mut copy = self.clone();
        copy.packages.sort();
        // The archive snapshot does not change a byte of the image: two snapshots that
        // pin the same packages give the same image.
        copy.archive = Archive {
            suite: String::new(),
            codename: String::new(),
            version: None,
            date: String::new(),
            valid_until: None,
            in_release: String::new(),
        };
        let text = toml::to_string(&copy).expect("a lock section always serialises");
        crate::digest::sha256(text.as_bytes())
    }

    /// Is this section fresh for `request`? `Err(why)` when stale.
    pub fn check(&self, request: &Request) -> std::result::Result<(), String> {
        if self.inputs == request.digest() && &self.request == request {
            return Ok(());
        }
        let r = &self.request;
        let mut why = Vec::new();
        if r.packages != request.packages {
            why.push(format!(
                "packages were [{}], now [{}]",
                r.packages.join(","),
                request.packages.join(",")
            ));
        }
        if r.exclude != request.exclude {
            why.push("the excluded packages changed".to_string());
        }
        if r.suite != request.suite {
            why.push(format!("suite was {}, now {}", r.suite, request.suite));
        }
        if r.architecture != request.architecture || r.components != request.components {
            why.push("architecture or components changed".to_string());
        }
        if why.is_empty() {
            why.push("its inputs hash does not match its request (edited by hand?)".into());
        }
        Err(why.join("; "))
    }
}

/// The whole base.lock.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockFile {
    pub version: u32,
    #[serde(default)]
    pub base: BTreeMap<String, Section>,
}

impl LockFile {
    /// Read `path`; `None` when it does not exist.
    ///
    /// # Errors
    /// [`Error::LockCorrupt`] for bad TOML, an unknown version, or a pin that is not safe
    /// to fetch (a bad sha256, a filename leaving the mirror).
    pub fn read(path: &Path) -> Result<Option<LockFile>> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io("read", path)(e)),
        };
        let corrupt = |message: String| Error::LockCorrupt {
            path: path.to_path_buf(),
            message,
        };
        let file: LockFile = toml::from_str(&text).map_err(|e| corrupt(e.to_string()))?;
        if file.version != VERSION {
            return Err(corrupt(format!(
                "version {} is not one this prisn reads (it reads {VERSION})",
                file.version
            )));
        }
        for (name, section) in &file.base {
            for p in &section.packages {
                check_pin(p)
                    .map_err(|m| corrupt(format!("[base.{name}] package {}: {m}", p.name)))?;
            }
        }
        Ok(Some(file))
    }

    /// Write `path` whole (temp file + rename).
    ///
    /// # Errors
    /// IO errors.
    pub fn write(&self, path: &Path) -> Result<()> {
        let mut copy = self.clone();
        for s in copy.base.values_mut() {
            s.packages.sort();
        }
        let text = toml::to_string(&copy).expect("a lock file always serialises");
        let text = format!(
            "# base.lock: written by `prisn base`; the Debian packages of each base, pinned.\n# Commit it. `prisn base NAME --upgrade` refreshes a section.\n{text}"
        );
        crate::atomic::write(path, text.as_bytes())
    }
}

fn check_pin(p: &Pin) -> std::result::Result<(), String> {
    if p.sha256.len() != 64 || !p.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("sha256 {:?} is not 64 hex digits", p.sha256));
    }
    let f = &p.filename;
    if f.starts_with('/')
        || f.contains("://")
        || f.split('/').any(|c| c == ".." || c.is_empty())
        || !f.ends_with(".deb")
    {
        return Err(format!(
            "filename {f:?} is not a .deb path below the mirror root"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> Request {
        Request {
            packages: vec!["python3".into(), "tzdata".into()],
            exclude: vec!["perl".into()],
            suite: "bookworm".into(),
            architecture: "amd64".into(),
            components: vec!["main".into()],
        }
    }

    fn section() -> Section {
        let request = request();
        Section {
            inputs: request.digest(),
            request,
            archive: Archive {
                suite: "oldstable".into(),
                codename: "bookworm".into(),
                version: Some("12.15".into()),
                date: "Sat, 11 Jul 2026 10:16:37 UTC".into(),
                valid_until: None,
                in_release: format!("sha256:{}", "a".repeat(64)),
            },
            packages: vec![
                Pin {
                    name: "tzdata".into(),
                    version: "2026b-0+deb12u1".into(),
                    architecture: "all".into(),
                    sha256: "b".repeat(64),
                    filename: "pool/main/t/tzdata/tzdata_2026b-0+deb12u1_all.deb".into(),
                    size: 1,
                },
                Pin {
                    name: "python3".into(),
                    version: "3.11.2-1+b1".into(),
                    architecture: "amd64".into(),
                    sha256: "c".repeat(64),
                    filename: "pool/main/p/python3-defaults/python3_3.11.2-1+b1_amd64.deb".into(),
                    size: 2,
                },
            ],
        }
    }

    #[test]
    fn round_trip_is_sorted_and_stable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("base.lock");
        let mut file = LockFile {
            version: VERSION,
            ..Default::default()
        };
        file.base.insert("python3".into(), section());
        file.write(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.find("name = \"python3\"").unwrap() < text.find("name = \"tzdata\"").unwrap());
        let back = LockFile::read(&path).unwrap().unwrap();
        back.write(&path).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            text,
            "stable bytes"
        );
        assert_eq!(back.base["python3"].digest(), section().digest());
    }

    #[test]
    fn a_changed_request_is_stale_and_says_why() {
        let s = section();
        s.check(&request()).unwrap();
        let mut other = request();
        other.packages.push("curl".into());
        let why = s.check(&other).unwrap_err();
        assert!(why.contains("python3,tzdata,curl"), "{why}");
    }

    #[test]
    fn unsafe_or_unknown_locks_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("base.lock");
        let mut file = LockFile {
            version: VERSION,
            ..Default::default()
        };
        let mut s = section();
        s.packages[0].filename = "../../etc/passwd.deb".into();
        file.base.insert("python3".into(), s);
        file.write(&path).unwrap();
        let err = LockFile::read(&path).unwrap_err().to_string();
        assert!(
            err.contains("[base.python3] package tzdata") && err.contains("../../etc"),
            "{err}"
        );
        std::fs::write(&path, "version = 7\n").unwrap();
        let err = LockFile::read(&path).unwrap_err().to_string();
        assert!(err.contains("version 7"), "{err}");
    }
}
