//! `dists/SUITE/InRelease` → [`Release`]: fetched, its OpenPGP signature checked by
//! `gpgv` against the archive keyring, and only the signed text parsed (what `gpgv
//! --output` hands back, so nothing outside the signature can sneak in).
//!
//! The keyring is Debian's (`/usr/share/keyrings/debian-archive-keyring.gpg`, from the
//! `debian-archive-keyring` package) unless `--keyring FILE` names another, e.g. a private
//! mirror's key. gpgv reads binary keyrings; an armored `.asc` key is refused with the
//! `gpg --dearmor` line that converts it.
//!
//! Like apt, a Release is accepted when at least one signature is good and none is bad
//! (Debian signs with several keys, and an older keyring may not know the newest one).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::fetch::{self, Http};
use super::index::stanzas;
use crate::error::{Error, Result};

/// The keyring of the `debian-archive-keyring` package.
pub const DEBIAN_KEYRING: &str = "/usr/share/keyrings/debian-archive-keyring.gpg";

/// The signed facts of one suite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    /// `Suite:` (e.g. `oldstable`).
    pub suite: String,
    /// `Codename:` (e.g. `bookworm`).
    pub codename: String,
    /// `Version:` (e.g. `12.15`), absent for testing/unstable.
    pub version: Option<String>,
    /// `Date:` (RFC 2822, as written).
    pub date: String,
    /// `Valid-Until:`, when the archive sets one.
    pub valid_until: Option<String>,
    pub architectures: Vec<String>,
    pub components: Vec<String>,
    /// path below `dists/SUITE/` → (hex sha256, size)
    pub sha256: BTreeMap<String, (String, u64)>,
    /// Hex sha256 of the InRelease file as downloaded.
    pub in_release_sha256: String,
}

/// Download and verify `dists/<suite>/InRelease`.
///
/// # Errors
/// Download errors, a bad or missing signature, or a Release for another suite.
pub async fn fetch(http: &Http, mirror: &str, suite: &str, keyring: &Path) -> Result<Release> {
    let url = fetch::url(mirror, &format!("dists/{suite}/InRelease"));
    // Debian's is ~150 KB; 64 MiB is far beyond any real one.
    let bytes = http.bytes(&url, 64 << 20).await?;
    let text = verify(&bytes, keyring, &url)?;
    let mut release = parse(&text, &url)?;
    release.in_release_sha256 = crate::digest::sha256_hex(&bytes);
    if release.codename != suite && release.suite != suite {
        return Err(Error::Archive {
            what: url,
            message: format!(
                "is signed for suite {} ({}), not {suite}",
                release.suite, release.codename
            ),
            hint: Some("the mirror serves another suite under this name; fix the mirror".into()),
        });
    }
    check_valid_until(&release, &url)?;
    Ok(release)
}

/// Check `in_release`'s signature with gpgv; returns the signed text.
///
/// # Errors
/// gpgv missing, an unusable keyring, or no good signature (the message has gpgv's words).
pub fn verify(in_release: &[u8], keyring: &Path, what: &str) -> Result<String> {
    let keyring = usable_keyring(keyring)?;
    let dir =
        tempfile::tempdir().map_err(Error::io("create a temp dir in", std::env::temp_dir()))?;
    let input = dir.path().join("InRelease");
    let output = dir.path().join("Release");
    std::fs::write(&input, in_release).map_err(Error::io("write", &input))?;
    let home = dir.path().join("gnupg");
    std::fs::create_dir(&home).map_err(Error::io("create", &home))?;
    let out = Command::new("gpgv")
        .arg("--homedir")
        .arg(&home)
        .args(["--status-fd", "1", "--keyring"])
        .arg(&keyring)
        .arg("--output")
        .arg(&output)
        .arg(&input)
        .output()
        .map_err(|e| {
            Error::tool(
                format!("cannot run gpgv to check {what}: {e}"),
                Some("install it (apt-get install gpgv); prisn needs it to check the archive's signature".into()),
            )
        })?;
    let status = String::from_utf8_lossy(&out.stdout);
    let has = |tag: &str| {
        status
            .lines()
            .any(|l| l.starts_with(&format!("[GNUPG:] {tag} ")))
    };
    let good = has("VALIDSIG") && !has("BADSIG");
    if !good {
        let why = String::from_utf8_lossy(&out.stderr)
            .lines()
            .filter(|l| !l.contains("Signature made") && !l.contains("using "))
            .collect::<Vec<_>>()
            .join("; ");
        return Err(Error::Archive {
            what: what.to_string(),
            message: format!(
                "signature check failed against {}: {}",
                keyring.display(),
                if why.is_empty() { "no signature found".into() } else { why }
            ),
            hint: Some("the file was changed after the archive signed it, or is signed by a key this keyring lacks; nothing from it was used. Use a trustworthy mirror, or --keyring FILE for a private mirror's key".into()),
        });
    }
    std::fs::read_to_string(&output).map_err(Error::io("read the signed text of", output))
}

fn usable_keyring(keyring: &Path) -> Result<PathBuf> {
    let abs = std::path::absolute(keyring).map_err(Error::io("read", keyring))?;
    let head = std::fs::read(&abs).map_err(|e| {
        let mut err = Error::io("read the keyring", &abs)(e);
        if abs == Path::new(DEBIAN_KEYRING) {
            err = Error::tool(
                format!("{err}"),
                Some("install Debian's keys (apt-get install debian-archive-keyring) or pass --keyring FILE".into()),
            );
        }
        err
    })?;
    if head.starts_with(b"-----BEGIN PGP") {
        return Err(Error::Archive {
            what: abs.display().to_string(),
            message: "is an ASCII-armored key; gpgv reads binary keyrings".into(),
            hint: Some(format!(
                "convert it: gpg --dearmor < {0} > {0}.gpg, then pass --keyring {0}.gpg",
                abs.display()
            )),
        });
    }
    Ok(abs)
}

/// Parse the signed Release text.
///
/// # Errors
/// A missing Date/Codename field or a malformed SHA256 line.
pub fn parse(text: &str, what: &str) -> Result<Release> {
    let fields = stanzas(text).next().unwrap_or_default();
    let get = |k: &str| fields.get(k).cloned();
    let need = |k: &str| {
        get(k).ok_or_else(|| Error::Archive {
            what: what.to_string(),
            message: format!("the signed Release has no {k} field"),
            hint: None,
        })
    };
    let mut sha256 = BTreeMap::new();
    for line in get("SHA256")
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.is_empty())
    {
        let parts: Vec<&str> = line.split_whitespace().collect();
        match parts.as_slice() {
            [hash, size, path] if hash.len() == 64 => {
                let size = size.parse().map_err(|_| bad_line(what, line))?;
                sha256.insert(path.to_string(), (hash.to_string(), size));
            }
            _ => return Err(bad_line(what, line)),
        }
    }
    let words = |k: &str| -> Vec<String> {
        get(k)
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_string)
            .collect()
    };
    Ok(Release {
        suite: get("Suite").unwrap_or_default(),
        codename: need("Codename")?,
        version: get("Version"),
        date: need("Date")?,
        valid_until: get("Valid-Until"),
        architectures: words("Architectures"),
        components: words("Components"),
        sha256,
        in_release_sha256: String::new(),
    })
}

fn bad_line(what: &str, line: &str) -> Error {
    Error::Archive {
        what: what.to_string(),
        message: format!("malformed SHA256 line {line:?}"),
        hint: None,
    }
}

/// An archive with a `Valid-Until` in the past is refused, as apt does: an attacker (or a
/// stale mirror) could otherwise serve an old, signed, vulnerable snapshot forever.
fn check_valid_until(release: &Release, what: &str) -> Result<()> {
    let Some(until) = &release.valid_until else {
        return Ok(());
    };
    let Some(t) = parse_date(until) else {
        return Ok(());
    };
    if t < std::time::SystemTime::now() {
        return Err(Error::Archive {
            what: what.to_string(),
            message: format!("expired: Valid-Until {until}"),
            hint: Some("the mirror is out of date; re-sync it".into()),
        });
    }
    Ok(())
}

/// `Sat, 11 Jul 2026 10:16:37 UTC` → a time (the Release date format, RFC 2822 in UTC).
fn parse_date(s: &str) -> Option<std::time::SystemTime> {
    let parts: Vec<&str> = s.split_whitespace().collect();
    let [_, day, month, year, time, _] = parts.as_slice() else {
        return None;
    };
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let m = MONTHS.iter().position(|x| x == month)? + 1;
    let rfc3339 = format!("{year}-{m:02}-{:02}T{time}Z", day.parse::<u32>().ok()?);
    humantime::parse_rfc3339(&rfc3339).ok()
}

/// The best compressed form of `component/binary-arch/Packages` the Release lists:
/// (path below dists/SUITE, hex sha256, size).
///
/// # Errors
/// When the Release lists no Packages index for that component and architecture.
pub fn packages_index(r: &Release, component: &str, arch: &str) -> Result<(String, String, u64)> {
    for ext in [".xz", ".gz", ""] {
        let path = format!("{component}/binary-{arch}/Packages{ext}");
        if let Some((hash, size)) = r.sha256.get(&path) {
            return Ok((path, hash.clone(), *size));
        }
    }
    Err(Error::Archive {
        what: format!("{} Release", r.codename),
        message: format!("lists no Packages index for {component}/binary-{arch}"),
        hint: Some(format!(
            "the suite has components {} and architectures {}",
            r.components.join(", "),
            r.architectures.join(", ")
        )),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const RELEASE: &str = "Origin: Debian
Suite: oldstable
Version: 12.15
Codename: bookworm
Date: Sat, 11 Jul 2026 10:16:37 UTC
Architectures: all amd64 arm64
Components: main contrib
MD5Sum:
 0ed6d4c8891eb86358b94bb35d9e4da4  1484322 contrib/Contents-all
SHA256:
 515e692f2c4121c6fcec444ef100cc18f79a991910615f3a88c8b7becfc94d2f 50060337 main/binary-amd64/Packages
 9e0b5aabb2465b3d2e7a7fe27f9913846277833f7a2826e7767acccff5b588c5  8790396 main/binary-amd64/Packages.xz
";

    #[test]
    fn release_fields_and_the_xz_index_are_found() {
        let r = parse(RELEASE, "InRelease").unwrap();
        assert_eq!(r.codename, "bookworm");
        assert_eq!(r.suite, "oldstable");
        assert_eq!(r.version.as_deref(), Some("12.15"));
        assert_eq!(r.sha256.len(), 2);
        let (path, hash, size) = packages_index(&r, "main", "amd64").unwrap();
        assert_eq!(path, "main/binary-amd64/Packages.xz");
        assert!(hash.starts_with("9e0b5aab"));
        assert_eq!(size, 8790396);
        let err = packages_index(&r, "non-free", "amd64")
            .unwrap_err()
            .to_string();
        assert!(err.contains("non-free/binary-amd64"), "{err}");
    }

    #[test]
    fn dates_parse_and_expired_archives_are_refused() {
        assert!(parse_date("Sat, 11 Jul 2026 10:16:37 UTC").is_some());
        let mut r = parse(RELEASE, "InRelease").unwrap();
        r.valid_until = Some("Mon, 01 Jan 2001 00:00:00 UTC".into());
        let err = check_valid_until(&r, "InRelease").unwrap_err().to_string();
        assert!(err.contains("expired"), "{err}");
        r.valid_until = Some("Fri, 01 Jan 2100 00:00:00 UTC".into());
        check_valid_until(&r, "InRelease").unwrap();
    }

    #[test]
    fn an_unsigned_or_armored_input_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let asc = dir.path().join("key.asc");
        std::fs::write(&asc, "-----BEGIN PGP PUBLIC KEY BLOCK-----\n").unwrap();
        let err = verify(RELEASE.as_bytes(), &asc, "InRelease").unwrap_err();
        assert!(err.to_string().contains("ASCII-armored"), "{err}");
        if Path::new(DEBIAN_KEYRING).is_file() && which_gpgv() {
            let err = verify(
                RELEASE.as_bytes(),
                Path::new(DEBIAN_KEYRING),
                "my/InRelease",
            )
            .unwrap_err()
            .to_string();
            assert!(
                err.contains("my/InRelease") && err.contains("signature"),
                "{err}"
            );
        }
    }

    #[test]
    fn a_missing_keyring_is_named() {
        let err = verify(b"x", Path::new("/nonexistent/keys.gpg"), "InRelease").unwrap_err();
        assert!(err.to_string().contains("/nonexistent/keys.gpg"), "{err}");
    }

    fn which_gpgv() -> bool {
        Command::new("gpgv").arg("--version").output().is_ok()
    }
}
