//! Kubernetes resource quantities, so `--memory 256Mi --cpu 500m` mean the same in every mode.

use crate::{Error, Result};

/// Bytes from a memory quantity: `256Mi`, `1Gi`, `512M`, `1.5G`, `1048576` (the one grammar
/// of [`prisn_api::quantity`]).
///
/// # Errors
/// [`Error::Invalid`] naming the value and showing the accepted forms.
pub fn memory(text: &str) -> Result<u64> {
    prisn_api::quantity::bytes(text).map_err(|_| {
        Error::invalid(
            format!("invalid --memory {text:?}"),
            Some("use a Kubernetes quantity such as 256Mi, 1Gi, 512M or a number of bytes".into()),
        )
    })
}

/// Millicores from a CPU quantity: `500m`, `2`, `0.5` (the one grammar of
/// [`prisn_api::quantity`]).
///
/// # Errors
/// [`Error::Invalid`] naming the value and showing the accepted forms.
pub fn cpu(text: &str) -> Result<u64> {
    prisn_api::quantity::millicores(text).map_err(|_| {
        Error::invalid(
            format!("invalid --cpu {text:?}"),
            Some("use a Kubernetes quantity such as 500m (half a core), 1 or 1.5".into()),
        )
    })
}

/// `268435456` → `256Mi` (for messages).
pub fn format_bytes(n: u64) -> String {
    const UNITS: [(&str, u64); 4] = [
        ("Ti", 1 << 40),
        ("Gi", 1 << 30),
        ("Mi", 1 << 20),
        ("Ki", 1 << 10),
    ];
    for (unit, size) in UNITS {
        if n >= size && n.is_multiple_of(size) {
            return format!("{}{unit}", n / size);
        }
    }
    n.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_quantities() {
        assert_eq!(memory("256Mi").unwrap(), 256 << 20);
        assert_eq!(memory("1Gi").unwrap(), 1 << 30);
        assert_eq!(memory("512M").unwrap(), 512_000_000);
        assert_eq!(memory("1.5Gi").unwrap(), 3 << 29);
        assert_eq!(memory("4096").unwrap(), 4096);
        for bad in ["", "Mi", "12XB", "-1Mi", "0"] {
            let err = memory(bad).unwrap_err();
            assert!(err.hint().unwrap().contains("256Mi"), "{bad}");
        }
        assert_eq!(format_bytes(256 << 20), "256Mi");
        assert_eq!(format_bytes(1000), "1000");
    }

    #[test]
    fn cpu_quantities() {
        assert_eq!(cpu("500m").unwrap(), 500);
        assert_eq!(cpu("2").unwrap(), 2000);
        assert_eq!(cpu("0.25").unwrap(), 250);
        for bad in ["", "m", "half", "0", "-1"] {
            assert!(cpu(bad).is_err(), "{bad}");
        }
    }
}
