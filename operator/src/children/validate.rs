//! Checks of spec values the operator must not trust the CRD schema for (the schema may be an
//! older one, or installed without validation): quantities, durations, schedules, digests.

use crate::error::Problem;

/// Checks a Kubernetes quantity (`500m`, `2`, `1.5Gi`, `1e3`), as `resource.ParseQuantity` does.
///
/// # Errors
/// A [`Problem`] with reason `InvalidQuantity` naming `field`.
pub fn quantity(field: &str, value: &str) -> Result<(), Problem> {
    if is_quantity(value) {
        Ok(())
    } else {
        Err(Problem::spec(
            "InvalidQuantity",
            format!("{field}: {value:?} is not a quantity (examples: 500m, 2, 256Mi, 1Gi)"),
        ))
    }
}

fn is_quantity(s: &str) -> bool {
    let s = s.strip_prefix(['+', '-']).unwrap_or(s);
    let num_end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, suffix) = s.split_at(num_end);
    let digits = num.chars().filter(char::is_ascii_digit).count();
    if digits == 0 || num.matches('.').count() > 1 {
        return false;
    }
    match suffix {
        "" | "Ki" | "Mi" | "Gi" | "Ti" | "Pi" | "Ei" | "n" | "u" | "m" | "k" | "M" | "G" | "T"
        | "P" | "E" => true,
        _ => {
            let Some(exp) = suffix.strip_prefix(['e', 'E']) else {
                return false;
            };
            let exp = exp.strip_prefix(['+', '-']).unwrap_or(exp);
            !exp.is_empty() && exp.chars().all(|c| c.is_ascii_digit())
        }
    }
}

/// Parses a `timeout` such as `90s`, `15m`, `1h30m` or `2d` into whole seconds (rounded up, at
/// least 1).
///
/// # Errors
/// A [`Problem`] with reason `InvalidDuration` naming `field`.
pub fn duration_seconds(field: &str, value: &str) -> Result<i64, Problem> {
    let bad = || {
        Problem::spec(
            "InvalidDuration",
            format!("{field}: {value:?} is not a duration (examples: 90s, 15m, 1h, 1h30m, 2d)"),
        )
    };
    if value.is_empty() {
        return Err(bad());
    }
    let mut millis: i64 = 0;
    let mut rest = value;
    while !rest.is_empty() {
        let n_end = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        if n_end == 0 {
            return Err(bad());
        }
        let n: i64 = rest[..n_end].parse().map_err(|_| bad())?;
        rest = &rest[n_end..];
        let (unit_ms, len) = if rest.starts_with("ms") {
            (1, 2)
        } else {
            match rest.chars().next() {
                Some('s') => (1_000, 1),
                Some('m') => (60_000, 1),
                Some('h') => (3_600_000, 1),
                Some('d') => (86_400_000, 1),
                _ => return Err(bad()),
            }
        };
        rest = &rest[len..];
        millis = n
            .checked_mul(unit_ms)
            .and_then(|v| millis.checked_add(v))
            .ok_or_else(bad)?;
    }
    if millis == 0 {
        return Err(Problem::spec(
            "InvalidDuration",
            format!("{field}: {value:?} must be longer than 0"),
        ));
    }
    Ok((millis + 999) / 1000)
}

/// Checks a CronJob schedule: 5 fields or an `@` macro, as Kubernetes accepts them.
///
/// # Errors
/// A [`Problem`] with reason `InvalidSchedule`, with croner's explanation.
pub fn schedule(value: &str) -> Result<(), Problem> {
    const MACROS: [&str; 7] = [
        "@yearly",
        "@annually",
        "@monthly",
        "@weekly",
        "@daily",
        "@midnight",
        "@hourly",
    ];
    if MACROS.contains(&value) {
        return Ok(());
    }
    let bad = |why: String| {
        Problem::spec(
            "InvalidSchedule",
            format!(
                "schedule: {value:?} is not a cron schedule ({why}); use 5 fields like \"*/5 * * * *\" or @hourly, @daily, @weekly, @monthly"
            ),
        )
    };
    if value.split_whitespace().count() != 5 {
        return Err(bad("it needs exactly 5 fields".into()));
    }
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Disallowed)
        .year(croner::parser::Year::Disallowed)
        .build()
        .parse(value)
        .map(|_| ())
        .map_err(|e| bad(e.to_string()))
}

/// Whether an image reference is pinned by digest (`…@sha256:<64 hex>`).
pub fn is_pinned(image: &str) -> bool {
    image.rsplit_once("@sha256:").is_some_and(|(repo, hex)| {
        !repo.is_empty()
            && hex.len() == 64
            && hex
                .bytes()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities() {
        for ok in [
            "500m", "2", "1.5Gi", "256Mi", "1e3", "0.5", "+1", "1E-2", "100k",
        ] {
            assert!(quantity("resources.cpu", ok).is_ok(), "{ok}");
        }
        for bad in ["", "abc", "1.2.3", "5 Mi", "1Gb", "m", "1e", "--1"] {
            let e = quantity("resources.memory", bad).expect_err(bad);
            assert_eq!(e.reason, "InvalidQuantity");
            assert!(e.message.starts_with("resources.memory: "), "{}", e.message);
        }
    }

    #[test]
    fn durations() {
        assert_eq!(duration_seconds("timeout", "90s"), Ok(90));
        assert_eq!(duration_seconds("timeout", "1h"), Ok(3600));
        assert_eq!(duration_seconds("timeout", "1h30m"), Ok(5400));
        assert_eq!(duration_seconds("timeout", "2d"), Ok(172_800));
        assert_eq!(duration_seconds("timeout", "1500ms"), Ok(2));
        for bad in [
            "",
            "1",
            "h",
            "1x",
            "0s",
            "-1s",
            "1h 30m",
            "99999999999999999d",
        ] {
            assert!(duration_seconds("timeout", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn schedules() {
        for ok in [
            "*/5 * * * *",
            "0 3 * * 1-5",
            "@daily",
            "@hourly",
            "0 0 1 JAN *",
        ] {
            assert!(schedule(ok).is_ok(), "{ok}");
        }
        for bad in [
            "* * * *",
            "61 * * * *",
            "@sometimes",
            "0 0 * * * *",
            "a b c d e",
        ] {
            assert_eq!(schedule(bad).expect_err(bad).reason, "InvalidSchedule");
        }
    }

    #[test]
    fn digests() {
        let hex = "a".repeat(64);
        assert!(is_pinned(&format!("reg.local/app@sha256:{hex}")));
        assert!(is_pinned(&format!("reg.local/app:1.0@sha256:{hex}")));
        assert!(!is_pinned("reg.local/app:latest"));
        assert!(!is_pinned("reg.local/app@sha256:abc"));
        assert!(!is_pinned(&format!("@sha256:{hex}")));
    }
}
