//! Checks of spec values the operator must not trust the CRD schema for (the schema may be an
//! older one, or installed without validation): quantities, durations, schedules, digests.

use crate::error::Problem;

/// Checks a Kubernetes quantity (`500m`, `2`, `1.5Gi`, `1e3`) with the one grammar of
/// [`prisn_api::quantity`], as `resource.ParseQuantity` does.
///
/// # Errors
/// A [`Problem`] with reason `InvalidQuantity` naming `field`.
pub fn quantity(field: &str, value: &str) -> Result<(), Problem> {
    prisn_api::quantity::parse(value)
        .map(|_| ())
        .map_err(|e| Problem::spec("InvalidQuantity", format!("{field}: {e}")))
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

/// Checks a CronJob schedule: 5 fields or an `@` macro, with the one grammar of
/// [`prisn_api::schedule`] (no seconds field: Kubernetes cannot run one). The CLI refuses
/// such a schedule with the same words before it builds anything.
///
/// # Errors
/// A [`Problem`] with reason `InvalidSchedule`, with croner's explanation.
pub fn schedule(value: &str) -> Result<(), Problem> {
    prisn_api::schedule::parse(value, prisn_api::schedule::Seconds::Refused)
        .map(|_| ())
        .map_err(|e| Problem::spec("InvalidSchedule", e.to_string()))
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
