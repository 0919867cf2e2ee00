//! Workload names: DNS-1035 labels, checked by the one validator in [`prisn_api::name`] (the
//! CLI and every mode use the same); this wraps its error as local mode's [`Error::Invalid`].

use crate::{Error, Result};

pub use prisn_api::name::MAX_LEN;

/// Check that `name` is a DNS-1035 label.
///
/// # Errors
/// [`Error::Invalid`] naming the value and the rule, with a corrected suggestion when one exists.
pub fn validate(name: &str) -> Result<()> {
    prisn_api::name::validate(name).map_err(|e| Error::invalid(e.message, e.hint))
}

/// The name a script gets when none is given: `my_script.py` → `my-script`.
///
/// # Errors
/// When nothing usable is left: the user must pass `--name`.
pub fn derive(stem: &str) -> Result<String> {
    prisn_api::name::derive(stem).map_err(|e| Error::invalid(e.message, e.hint))
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
        assert_eq!(err.hint(), Some("use --name my-app"));
        for bad in ["", "-a", "a-", "a.b", "1a", &"x".repeat(64)] {
            assert!(validate(bad).is_err(), "{bad:?}");
        }
    }
}
