//! The ConfigMap/Secret key scheme for multi-file code.
//!
//! ConfigMap and Secret keys may only contain `[-._a-zA-Z0-9]`, so a file path like
//! `pkg/__init__.py` cannot be a key as is. The CLI stores each file under
//! [`configmap_key`]`(path)`, and the operator mounts each key back at [`path_from_key`]`(key)`
//! under `/app` (with volume `items`).
//!
//! The scheme escapes with `-`, the character least used in script file names:
//!
//! | in the path | in the key |
//! |---|---|
//! | `/` | `--` |
//! | `-` | `-.` |
//! | any byte outside `[._a-zA-Z0-9]` | `-x` + two lowercase hex digits |
//! | anything else | itself |
//!
//! So `app.py` → `app.py`, `pkg/__init__.py` → `pkg--__init__.py`, `my-lib/x.js` →
//! `my-.lib--x.js`. Decoding is lenient: a `-` not followed by `-`, `.` or `x<hex><hex>` stays a
//! `-`, so keys written by hand (`kubectl create configmap --from-file my-script.py`) mount under
//! their own name.

/// Longest key the API server accepts.
pub const MAX_KEY_LEN: usize = 253;

/// Encodes a relative file path (with `/` separators) as a ConfigMap/Secret key.
///
/// The result contains only `[-._a-zA-Z0-9]`. It can be longer than [`MAX_KEY_LEN`] for very
/// long paths; the API server then refuses the ConfigMap, naming the key.
pub fn configmap_key(path: &str) -> String {
    let mut out = String::with_capacity(path.len() + 8);
    for b in path.bytes() {
        match b {
            b'/' => out.push_str("--"),
            b'-' => out.push_str("-."),
            b'.' | b'_' | b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' => out.push(b as char),
            other => out.push_str(&format!("-x{other:02x}")),
        }
    }
    out
}

/// A key that does not decode to a usable relative path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("key {key:?} does not name a file under /app: {why}")]
pub struct KeyError {
    pub key: String,
    pub why: &'static str,
}

/// Decodes a key made by [`configmap_key`] back into the relative file path.
///
/// # Errors
/// When the decoded path is empty, absolute, not UTF-8, or has an empty, `.` or `..` segment
/// (it would escape or alias `/app`).
pub fn path_from_key(key: &str) -> Result<String, KeyError> {
    let err = |why| KeyError {
        key: key.to_string(),
        why,
    };
    let bytes = key.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'-' {
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        match bytes.get(i + 1) {
            Some(b'-') => {
                out.push(b'/');
                i += 2;
            }
            Some(b'.') => {
                out.push(b'-');
                i += 2;
            }
            Some(b'x') => match bytes.get(i + 2..i + 4).and_then(hex_byte) {
                Some(v) => {
                    out.push(v);
                    i += 4;
                }
                None => {
                    out.push(b'-');
                    i += 1;
                }
            },
            _ => {
                out.push(b'-');
                i += 1;
            }
        }
    }
    let path = String::from_utf8(out).map_err(|_| err("it decodes to bytes that are not UTF-8"))?;
    if path.is_empty() {
        return Err(err("it decodes to an empty path"));
    }
    if path.starts_with('/') {
        return Err(err("it decodes to an absolute path"));
    }
    if path
        .split('/')
        .any(|seg| seg.is_empty() || seg == "." || seg == "..")
    {
        return Err(err(
            "it decodes to a path with an empty, '.' or '..' segment",
        ));
    }
    Ok(path)
}

fn hex_byte(two: &[u8]) -> Option<u8> {
    let s = std::str::from_utf8(two).ok()?;
    if s.bytes()
        .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
    {
        u8::from_str_radix(s, 16).ok()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip() {
        for p in [
            "app.py",
            "pkg/__init__.py",
            "my-lib/x.js",
            "a b/ü.txt",
            "deep/er/still/main.sh",
            "x--y.py",
            "-lead.py",
            ".env",
        ] {
            let k = configmap_key(p);
            assert!(
                k.bytes()
                    .all(|c| c.is_ascii_alphanumeric() || b"-._".contains(&c)),
                "{k} has a character a ConfigMap key may not hold"
            );
            assert_eq!(path_from_key(&k).as_deref(), Ok(p), "key {k}");
        }
    }

    #[test]
    fn readable_for_common_names() {
        assert_eq!(configmap_key("pkg/__init__.py"), "pkg--__init__.py");
        assert_eq!(configmap_key("my-lib/x.js"), "my-.lib--x.js");
    }

    #[test]
    fn hand_written_keys_mount_under_their_own_name() {
        assert_eq!(path_from_key("my-script.py").as_deref(), Ok("my-script.py"));
        assert_eq!(path_from_key("my-xml.py").as_deref(), Ok("my-xml.py"));
        assert_eq!(path_from_key("trailing-").as_deref(), Ok("trailing-"));
    }

    #[test]
    fn keys_that_would_escape_app_are_refused() {
        assert!(path_from_key("..--etc--passwd").is_err());
        assert!(path_from_key("a----b").is_err());
        assert!(path_from_key("--abs").is_err());
        assert!(path_from_key("-xff").is_err());
    }
}
