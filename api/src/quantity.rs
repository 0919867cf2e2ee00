//! Kubernetes resource quantities (`500m`, `2`, `1.5Gi`, `1e3`), one grammar for every mode:
//! the one `resource.ParseQuantity` accepts, so `--memory 256Mi --cpu 500m` mean the same
//! locally, in the CLI's checks and in the operator.
//!
//! ```text
//! quantity = [+-] digits [. digits] suffix
//! suffix   = Ki Mi Gi Ti Pi Ei | n u m "" k M G T P E | (e|E) [+-] digits
//! ```

/// A quantity that does not follow the grammar.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a quantity (examples: 500m, 2, 256Mi, 1Gi)")]
pub struct QuantityError {
    pub value: String,
}

/// The value of a quantity in base units (bytes, cores): `256Mi` → 268435456, `500m` → 0.5.
///
/// # Errors
/// [`QuantityError`] when `text` is not a Kubernetes quantity (no trimming: the API server
/// does not trim either).
pub fn parse(text: &str) -> Result<f64, QuantityError> {
    let bad = || QuantityError {
        value: text.to_string(),
    };
    let (sign, s) = match text.strip_prefix(['+', '-']) {
        Some(rest) if text.starts_with('-') => (-1.0, rest),
        Some(rest) => (1.0, rest),
        None => (1.0, text),
    };
    let num_end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, suffix) = s.split_at(num_end);
    let digits = num.chars().filter(char::is_ascii_digit).count();
    if digits == 0 || num.matches('.').count() > 1 {
        return Err(bad());
    }
    let number: f64 = num.parse().map_err(|_| bad())?;
    let factor = factor(suffix).ok_or_else(bad)?;
    Ok(sign * number * factor)
}

/// Whether `text` is a Kubernetes quantity.
pub fn is_quantity(text: &str) -> bool {
    parse(text).is_ok()
}

fn factor(suffix: &str) -> Option<f64> {
    let binary = |p: i32| 1024f64.powi(p);
    Some(match suffix {
        "" => 1.0,
        "Ki" => binary(1),
        "Mi" => binary(2),
        "Gi" => binary(3),
        "Ti" => binary(4),
        "Pi" => binary(5),
        "Ei" => binary(6),
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        _ => {
            let exp = suffix.strip_prefix(['e', 'E'])?;
            let digits = exp.strip_prefix(['+', '-']).unwrap_or(exp);
            if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
                return None;
            }
            10f64.powi(exp.parse().ok()?)
        }
    })
}

/// Bytes from a memory quantity (`256Mi` → 268435456), at least 1.
///
/// # Errors
/// Not a quantity, or less than one byte, or more than fits in 64 bits.
pub fn bytes(text: &str) -> Result<u64, QuantityError> {
    let v = parse(text)?.round();
    if !v.is_finite() || v < 1.0 || v > u64::MAX as f64 {
        return Err(QuantityError {
            value: text.to_string(),
        });
    }
    Ok(v as u64)
}

/// Millicores from a CPU quantity (`500m` → 500, `2` → 2000), at least 1.
///
/// # Errors
/// Not a quantity, or less than one millicore.
pub fn millicores(text: &str) -> Result<u64, QuantityError> {
    let v = (parse(text)? * 1000.0).round();
    if !v.is_finite() || v < 1.0 || v > u64::MAX as f64 {
        return Err(QuantityError {
            value: text.to_string(),
        });
    }
    Ok(v as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kubernetes_grammar() {
        for ok in [
            "500m", "2", "1.5Gi", "256Mi", "1e3", "0.5", "+1", "1E-2", "100k",
        ] {
            assert!(is_quantity(ok), "{ok}");
        }
        for bad in ["", "abc", "1.2.3", "5 Mi", "1Gb", "m", "1e", "--1", " 1"] {
            assert!(!is_quantity(bad), "{bad}");
        }
    }

    #[test]
    fn values() {
        assert_eq!(bytes("256Mi"), Ok(256 << 20));
        assert_eq!(bytes("512M"), Ok(512_000_000));
        assert_eq!(bytes("1e3"), Ok(1000));
        assert_eq!(millicores("500m"), Ok(500));
        assert_eq!(millicores("2"), Ok(2000));
        assert_eq!(millicores("0.25"), Ok(250));
        for bad in ["0", "-1Mi", "Mi"] {
            assert!(bytes(bad).is_err(), "{bad}");
        }
        assert!(millicores("0").is_err());
    }
}
