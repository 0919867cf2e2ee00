//! Registry credentials: Docker's `config.json` format, read from prisn's own file first
//! (`$PRISN_HOME/auth.json`, written by `prisn login`), then `$REGISTRY_AUTH_FILE`,
//! `$DOCKER_CONFIG/config.json` and `~/.docker/config.json`.
//!
//! Only `auths` entries are read (base64 `auth` = `user:password`, or `username`/`password`,
//! or `identitytoken` as a bearer refresh token is *not* supported). Credential helpers
//! (`credsStore`, `credHelpers`) are not run: prisn never executes programs named in a config.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use crate::error::{Error, Result};

/// A username and password for one registry, and the file they came from.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
    pub source: PathBuf,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the password, not even in debug logs.
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

/// The files searched for credentials, in order.
#[derive(Debug, Clone, Default)]
pub struct AuthFiles {
    pub files: Vec<PathBuf>,
}

impl AuthFiles {
    /// prisn's own file first, then Docker's (see the module docs).
    pub fn standard(prisn_home: &Path) -> Self {
        let mut files = vec![prisn_home.join("auth.json")];
        if let Some(f) = std::env::var_os("REGISTRY_AUTH_FILE") {
            files.push(PathBuf::from(f));
        }
        match std::env::var_os("DOCKER_CONFIG") {
            Some(d) => files.push(PathBuf::from(d).join("config.json")),
            None => {
                if let Some(home) = std::env::var_os("HOME") {
                    files.push(PathBuf::from(home).join(".docker/config.json"));
                }
            }
        }
        Self { files }
    }

    /// The first credentials found for `registry` (`host[:port]`).
    pub fn lookup(&self, registry: &str) -> Result<Option<Credentials>> {
        for file in &self.files {
            if let Some(c) = read_entry(file, registry)? {
                return Ok(Some(c));
            }
        }
        Ok(None)
    }

    /// For error messages: which files were searched.
    pub fn describe(&self) -> String {
        self.files
            .iter()
            .map(|f| f.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// `https://host:port/v1/` and friends → `host:port`; Docker Hub's legacy key → `docker.io`.
pub fn normalize_key(key: &str) -> String {
    let k = key
        .trim()
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let k = k.split('/').next().unwrap_or(k);
    match k {
        "index.docker.io" | "registry-1.docker.io" => "docker.io".to_string(),
        other => other.to_string(),
    }
}

fn read_entry(file: &Path, registry: &str) -> Result<Option<Credentials>> {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("read", file)(e)),
    };
    let bad = |msg: &str| Error::AuthFile {
        file: file.to_path_buf(),
        message: format!("{msg}; fix or delete the entry (prisn login rewrites it)"),
    };
    let v: Value = serde_json::from_str(&text).map_err(|e| bad(&format!("not JSON: {e}")))?;
    let Some(auths) = v.get("auths").and_then(Value::as_object) else {
        return Ok(None);
    };
    let wanted = normalize_key(registry);
    for (key, entry) in auths {
        if normalize_key(key) != wanted {
            continue;
        }
        if let Some(b64) = entry.get("auth").and_then(Value::as_str)
            && !b64.is_empty()
        {
            let raw = STANDARD
                .decode(b64.trim())
                .map_err(|_| bad(&format!("auths.{key}.auth is not base64")))?;
            let raw = String::from_utf8(raw)
                .map_err(|_| bad(&format!("auths.{key}.auth is not UTF-8")))?;
            let (user, pass) = raw
                .split_once(':')
                .ok_or_else(|| bad(&format!("auths.{key}.auth is not user:password")))?;
            return Ok(Some(Credentials {
                username: user.to_string(),
                password: pass.to_string(),
                source: file.to_path_buf(),
            }));
        }
        if let (Some(u), Some(p)) = (
            entry.get("username").and_then(Value::as_str),
            entry.get("password").and_then(Value::as_str),
        ) {
            return Ok(Some(Credentials {
                username: u.to_string(),
                password: p.to_string(),
                source: file.to_path_buf(),
            }));
        }
    }
    Ok(None)
}

/// Record credentials for `registry` in `file` (Docker's format), keeping other entries.
/// Written to a temp file with mode 0600, then renamed.
pub fn store(file: &Path, registry: &str, username: &str, password: &str) -> Result<()> {
    edit(file, |auths| {
        auths.insert(
            normalize_key(registry),
            json!({ "auth": STANDARD.encode(format!("{username}:{password}")) }),
        );
    })
}

/// Remove the entry for `registry` from `file`; returns whether there was one.
pub fn remove(file: &Path, registry: &str) -> Result<bool> {
    let mut removed = false;
    edit(file, |auths| {
        let wanted = normalize_key(registry);
        let keys: Vec<String> = auths
            .keys()
            .filter(|k| normalize_key(k) == wanted)
            .cloned()
            .collect();
        for k in keys {
            auths.remove(&k);
            removed = true;
        }
    })?;
    Ok(removed)
}

fn edit(file: &Path, f: impl FnOnce(&mut BTreeMap<String, Value>)) -> Result<()> {
    let mut doc: BTreeMap<String, Value> = match std::fs::read_to_string(file) {
        Ok(t) => serde_json::from_str(&t).map_err(|e| Error::AuthFile {
            file: file.to_path_buf(),
            message: format!("not JSON ({e}); move it away"),
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
        Err(e) => return Err(Error::io("read", file)(e)),
    };
    let mut auths: BTreeMap<String, Value> = doc
        .remove("auths")
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default();
    f(&mut auths);
    doc.insert(
        "auths".into(),
        serde_json::to_value(auths).expect("a map of JSON values"),
    );
    let dir = file.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(Error::io("create", dir))?;
    let mut tmp =
        tempfile::NamedTempFile::new_in(dir).map_err(Error::io("create a temp file in", dir))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = tmp
            .as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o600));
    }
    let text = serde_json::to_string_pretty(&doc).expect("JSON values serialize") + "\n";
    std::io::Write::write_all(&mut tmp, text.as_bytes()).map_err(Error::io("write", file))?;
    tmp.persist(file)
        .map_err(|e| Error::io("rename into", file)(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_auth_entries_are_found_under_any_key_spelling() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("config.json");
        std::fs::write(
            &f,
            r#"{"auths":{"https://127.0.0.1:5001/v1/":{"auth":"dGVzdHVzZXI6dGVzdHBhc3M="},
                "https://index.docker.io/v1/":{"username":"u","password":"p"}}}"#,
        )
        .unwrap();
        let files = AuthFiles {
            files: vec![dir.path().join("missing.json"), f.clone()],
        };
        let c = files.lookup("127.0.0.1:5001").unwrap().unwrap();
        assert_eq!(
            (c.username.as_str(), c.password.as_str()),
            ("testuser", "testpass")
        );
        assert_eq!(c.source, f);
        assert_eq!(files.lookup("docker.io").unwrap().unwrap().username, "u");
        assert!(files.lookup("127.0.0.1:5000").unwrap().is_none());
        assert!(!format!("{c:?}").contains("testpass"));
    }

    #[test]
    fn store_and_remove_keep_other_entries() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("sub/auth.json");
        store(&f, "a.example:5000", "u1", "p1").unwrap();
        store(&f, "b.example", "u2", "p:2").unwrap();
        let files = AuthFiles {
            files: vec![f.clone()],
        };
        assert_eq!(files.lookup("b.example").unwrap().unwrap().password, "p:2");
        assert!(remove(&f, "https://a.example:5000").unwrap());
        assert!(files.lookup("a.example:5000").unwrap().is_none());
        assert!(files.lookup("b.example").unwrap().is_some());
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&f).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
}
