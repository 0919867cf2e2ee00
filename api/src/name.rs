//! Workload names: DNS-1035 labels (what a Kubernetes Service name must be), so a name that
//! works locally works in every mode. Checked before anything happens.

use crate::Invalid;

/// The longest name (a DNS label; Services need it).
pub const MAX_LEN: usize = 63;

/// Check that `name` is a DNS-1035 label.
///
/// # Errors
/// [`Invalid`] naming the value and the rule, with a corrected suggestion when one exists.
pub fn validate(name: &str) -> Result<(), Invalid> {
    let ok = !name.is_empty()
        && name.len() <= MAX_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with('-');
    if ok {
        return Ok(());
    }
    let suggestion = sanitize(name)
        .filter(|s| s != name)
        .map(|s| format!("use --name {s}"));
    Err(Invalid::new(
        format!(
            "invalid name {name:?}: a name is 1 to {MAX_LEN} lowercase letters, digits and '-', starting with a letter and ending with a letter or digit (a DNS-1035 label, e.g. \"my-app\")"
        ),
        suggestion,
    ))
}

/// The name a script gets when none is given: `my_script.py` → `my-script`, `Project/` →
/// `project`.
///
/// # Errors
/// When nothing usable is left (e.g. `___.py`) or it starts with a digit: the user must
/// pass `--name`.
pub fn derive(stem: &str) -> Result<String, Invalid> {
    sanitize(stem)
        .filter(|s| s.starts_with(|c: char| c.is_ascii_lowercase()))
        .ok_or_else(|| {
            Invalid::new(
                format!("cannot derive a name from {stem:?}"),
                Some("give one with --name, e.g. --name my-app".into()),
            )
        })
}

/// Lowercase, map separators to '-', drop the rest, trim and shorten.
fn sanitize(raw: &str) -> Option<String> {
    let mut out = String::new();
    for c in raw.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if matches!(c, '-' | '_' | '.' | ' ') && !out.ends_with('-') {
            out.push('-');
        }
    }
    let mut out = out.trim_matches('-').to_string();
    out.truncate(MAX_LEN);
    let out = out.trim_end_matches('-').to_string();
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_names_become_dns_labels() {
        assert_eq!(derive("my_script").unwrap(), "my-script");
        assert_eq!(derive("API.v2").unwrap(), "api-v2");
        assert_eq!(derive("__x__").unwrap(), "x");
        assert_eq!(derive(&"a".repeat(80)).unwrap().len(), 63);
        assert!(derive("___").is_err());
        assert!(derive("2fa").is_err());
    }

    #[test]
    fn invalid_names_are_refused_with_a_suggestion() {
        validate("api").unwrap();
        validate("a-1").unwrap();
        let err = validate("My_App").unwrap_err();
        assert!(err.to_string().contains("\"My_App\""), "{err}");
        assert_eq!(err.hint.as_deref(), Some("use --name my-app"));
        for bad in ["", "-a", "a-", "a.b", "1a", &"x".repeat(64)] {
            assert!(validate(bad).is_err(), "{bad:?}");
        }
    }
}
