//! Schedules: standard 5-field cron (`*/5 * * * *`), the `@hourly`-style macros, and — local
//! mode only — a leading seconds field (`*/2 * * * * *`), evaluated in the machine's time zone.
//!
//! Runs missed while the daemon was down are not replayed one by one: at most the latest
//! missed slot runs once, then the schedule goes on.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Local, TimeZone};
use croner::Cron;
use prisn_api::schedule::Seconds;

use crate::{Error, Result};

/// A parsed schedule.
#[derive(Debug, Clone)]
pub struct Schedule {
    cron: Cron,
    text: String,
}

/// Parse and check a schedule with the one grammar of [`prisn_api::schedule`] (seconds
/// allowed: local mode only), then check that it ever runs.
///
/// # Errors
/// [`Error::Invalid`] naming the schedule, the reason and the expected form.
pub fn parse(text: &str) -> Result<Schedule> {
    let bad = |why: String| {
        Error::invalid(
            format!("invalid schedule {text:?}: {why}"),
            Some("use 5 cron fields: minute hour day-of-month month day-of-week, e.g. \"*/5 * * * *\" (every 5 minutes) or \"0 3 * * *\" (03:00 daily), or @hourly/@daily/@weekly/@monthly/@yearly".into()),
        )
    };
    let cron = prisn_api::schedule::parse(text, Seconds::Allowed).map_err(|e| bad(e.why))?;
    // A pattern that never matches (31 February) would sleep forever.
    let probe = Local::now();
    cron.find_next_occurrence(&probe, false)
        .map_err(|e| bad(format!("it never runs ({e})")))?;
    Ok(Schedule {
        cron,
        text: text.trim().to_string(),
    })
}

impl Schedule {
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// True when the schedule has a seconds field (local mode only).
    pub fn has_seconds(&self) -> bool {
        prisn_api::schedule::has_seconds(&self.text)
    }

    /// The first slot strictly after `t`.
    pub fn next_after(&self, t: SystemTime) -> Option<SystemTime> {
        let local = to_local(t)?;
        self.cron
            .find_next_occurrence(&local, false)
            .ok()
            .map(from_local)
    }

    /// The latest slot at or before `t`.
    pub fn latest_at_or_before(&self, t: SystemTime) -> Option<SystemTime> {
        let local = to_local(t)?;
        self.cron
            .find_previous_occurrence(&local, true)
            .ok()
            .map(from_local)
    }
}

/// What is due at `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Due {
    /// The slot to run now (the latest one passed and not yet handled), if any.
    pub run: Option<SystemTime>,
    /// The next slot after now.
    pub next: Option<SystemTime>,
}

/// Decide what to run: slots after `after` (the last handled slot, or the creation time) up to
/// `now` collapse into one run of the latest of them.
pub fn due(schedule: &Schedule, after: SystemTime, now: SystemTime) -> Due {
    let latest = schedule.latest_at_or_before(now).filter(|s| *s > after);
    Due {
        run: latest,
        next: schedule.next_after(now),
    }
}

fn to_local(t: SystemTime) -> Option<DateTime<Local>> {
    let d = t.duration_since(UNIX_EPOCH).ok()?;
    Local
        .timestamp_opt(d.as_secs() as i64, d.subsec_nanos())
        .single()
}

fn from_local(t: DateTime<Local>) -> SystemTime {
    let secs = t.timestamp();
    if secs >= 0 {
        UNIX_EPOCH + Duration::new(secs as u64, t.timestamp_subsec_nanos())
    } else {
        UNIX_EPOCH
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: u64) -> SystemTime {
        // A round minute: 2023-11-14T22:14:00Z.
        UNIX_EPOCH + Duration::from_secs(1_700_000_040 + secs)
    }

    #[test]
    fn standard_schedules_parse_and_bad_ones_say_why() {
        for ok in [
            "* * * * *",
            "*/5 * * * *",
            "0 3 * * MON-FRI",
            "@hourly",
            "*/2 * * * * *",
        ] {
            parse(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for bad in [
            "",
            "* * * *",
            "61 * * * *",
            "every minute",
            "* * * * * * * *",
            "0 0 31 2 *",
        ] {
            let err = parse(bad).unwrap_err();
            assert!(err.to_string().contains(&format!("{bad:?}")), "{err}");
            assert!(err.hint().unwrap().contains("*/5 * * * *"));
        }
        assert!(parse("*/2 * * * * *").unwrap().has_seconds());
        assert!(!parse("* * * * *").unwrap().has_seconds());
    }

    #[test]
    fn every_minute_runs_on_the_minute() {
        let s = parse("* * * * *").unwrap();
        assert_eq!(s.next_after(t(0)), Some(t(60)));
        assert_eq!(s.next_after(t(1)), Some(t(60)));
        assert_eq!(s.latest_at_or_before(t(59)), Some(t(0)));
    }

    #[test]
    fn missed_slots_run_once_not_once_each() {
        let s = parse("* * * * *").unwrap();
        // Last handled at t(0); the daemon was down for ten minutes.
        let d = due(&s, t(0), t(600 + 30));
        assert_eq!(d.run, Some(t(600)));
        assert_eq!(d.next, Some(t(660)));
        // Right after that run, nothing is due until the next slot.
        let d = due(&s, t(600), t(600 + 31));
        assert_eq!(d.run, None);
        // A schedule created mid-minute does not run for the slot before its creation.
        assert_eq!(due(&s, t(30), t(31)).run, None);
    }
}
