//! Cron schedules: one grammar for every mode. Five fields (`minute hour day-of-month month
//! day-of-week`) or one of the `@` macros Kubernetes accepts; local mode may also put a
//! seconds field first ([`Seconds::Allowed`]), which Kubernetes CronJobs cannot run.
//!
//! The fields themselves are checked by croner. A 6-field schedule in a Kubernetes context is
//! refused by the CLI with the operator's own words ([`ScheduleError`]'s message) before
//! anything is built or pushed.

use croner::Cron;
use croner::parser::{CronParser, Year};

/// The `@` macros Kubernetes accepts.
pub const MACROS: [&str; 7] = [
    "@yearly",
    "@annually",
    "@monthly",
    "@weekly",
    "@daily",
    "@midnight",
    "@hourly",
];

/// Whether a leading seconds field is allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seconds {
    /// Exactly 5 fields: Kubernetes (the CRD, the operator, the CLI in a Kubernetes context).
    Refused,
    /// 5 fields, or 6 with seconds first: local mode only.
    Allowed,
}

/// A schedule that does not follow the grammar. Its message is the one the operator writes
/// into `.status` (reason `InvalidSchedule`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "schedule: {value:?} is not a cron schedule ({why}); use 5 fields like \"*/5 * * * *\" or @hourly, @daily, @weekly, @monthly"
)]
pub struct ScheduleError {
    /// The schedule as given.
    pub value: String,
    /// What is wrong with it.
    pub why: String,
}

/// Parse and check a schedule.
///
/// # Errors
/// [`ScheduleError`] naming the schedule and what is wrong: the number of fields, an unknown
/// macro, or croner's reason.
pub fn parse(text: &str, seconds: Seconds) -> Result<Cron, ScheduleError> {
    let bad = |why: String| ScheduleError {
        value: text.to_string(),
        why,
    };
    let trimmed = text.trim();
    let pattern = if trimmed.starts_with('@') {
        if !MACROS.contains(&trimmed) {
            return Err(bad(format!(
                "{trimmed} is not one of {}",
                MACROS.join(", ")
            )));
        }
        // croner knows every macro but this one.
        if trimmed == "@midnight" {
            "@daily"
        } else {
            trimmed
        }
    } else {
        let fields = trimmed.split_whitespace().count();
        match (seconds, fields) {
            (_, 5) | (Seconds::Allowed, 6) => {}
            (Seconds::Refused, _) => return Err(bad("it needs exactly 5 fields".into())),
            (Seconds::Allowed, n) => {
                return Err(bad(format!(
                    "it has {n} fields; use 5, or 6 with seconds first"
                )));
            }
        }
        // An empty list item (`,` or `1,,2`) leaves croner a field no time matches, and its
        // search for a next run then takes a minute to give up (found by fuzzing).
        if let Some(field) = trimmed
            .split_whitespace()
            .find(|f| f.split(',').any(str::is_empty))
        {
            return Err(bad(format!(
                "the field {field:?} has an empty item; separate values by single commas, e.g. \"0,15,30\""
            )));
        }
        trimmed
    };
    let parser = CronParser::builder()
        .seconds(match seconds {
            Seconds::Refused => croner::parser::Seconds::Disallowed,
            Seconds::Allowed => croner::parser::Seconds::Optional,
        })
        .year(Year::Disallowed)
        .build();
    parser
        .parse(pattern)
        .map_err(|e| bad(blame_field(&parser, pattern).unwrap_or_else(|| e.to_string())))
}

/// The fields of a 5-field schedule, in order, with what each accepts.
const FIELDS: [(&str, &str); 5] = [
    ("minute", "0-59"),
    ("hour", "0-23"),
    ("day-of-month", "1-31"),
    ("month", "1-12 or JAN-DEC"),
    ("day-of-week", "0-7 or SUN-SAT"),
];

/// Which field croner refused, found by parsing each field alone among `*`s (croner's own
/// message, such as "Number out of bounds", does not say which).
fn blame_field(parser: &CronParser, pattern: &str) -> Option<String> {
    let fields: Vec<&str> = pattern.split_whitespace().collect();
    let named: Vec<(&str, &str)> = match fields.len() {
        5 => FIELDS.to_vec(),
        6 => std::iter::once(("second", "0-59")).chain(FIELDS).collect(),
        _ => return None,
    };
    fields.iter().enumerate().find_map(|(i, value)| {
        let mut alone = vec!["*"; fields.len()];
        alone[i] = value;
        parser.parse(&alone.join(" ")).err().map(|e| {
            let (name, range) = named[i];
            format!("the {name} field {value:?} is invalid ({e}); it takes {range}")
        })
    })
}

/// Whether a schedule has a seconds field (local mode only).
pub fn has_seconds(text: &str) -> bool {
    let t = text.trim();
    !t.starts_with('@') && t.split_whitespace().count() == 6
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubernetes_schedules() {
        for ok in [
            "*/5 * * * *",
            "0 3 * * 1-5",
            "@daily",
            "@hourly",
            "@midnight",
            "0 0 1 JAN *",
        ] {
            assert!(parse(ok, Seconds::Refused).is_ok(), "{ok}");
        }
        for bad in [
            "* * * *",
            "61 * * * *",
            "@sometimes",
            "0 0 * * * *",
            "a b c d e",
        ] {
            let e = parse(bad, Seconds::Refused).expect_err(bad);
            assert!(e.to_string().starts_with("schedule: "), "{e}");
        }
        let e = parse("*/2 * * * * *", Seconds::Refused).unwrap_err();
        assert_eq!(e.why, "it needs exactly 5 fields");
        let e = parse("0 25 * * *", Seconds::Refused).unwrap_err();
        assert!(
            e.why.starts_with("the hour field \"25\" is invalid") && e.why.ends_with("0-23"),
            "{e}"
        );
        let e = parse("0 0 * 13 *", Seconds::Refused).unwrap_err();
        assert!(e.why.starts_with("the month field \"13\""), "{e}");
        let e = parse("61 0 * * * *", Seconds::Allowed).unwrap_err();
        assert!(e.why.starts_with("the second field \"61\""), "{e}");
    }

    /// Found by fuzzing: `*/3 , * * * *` parsed, then the search for its next run took a
    /// minute to find that none exists.
    #[test]
    fn an_empty_list_item_is_refused_before_any_search() {
        for bad in ["*/3 , * * * *", ", * * * *", "1,,2 * * * *", "0 0 1, * *"] {
            let e = parse(bad, Seconds::Allowed).expect_err(bad);
            assert!(e.why.contains("has an empty item"), "{bad}: {e}");
        }
        assert!(parse("0,15,30 * * * *", Seconds::Refused).is_ok());
    }

    #[test]
    fn local_schedules_may_have_seconds() {
        assert!(parse("*/2 * * * * *", Seconds::Allowed).is_ok());
        assert!(has_seconds("*/2 * * * * *"));
        assert!(!has_seconds("* * * * *"));
        assert!(parse("* * * * * * * *", Seconds::Allowed).is_err());
        assert!(parse("61 * * * * *", Seconds::Allowed).is_err());
    }
}
