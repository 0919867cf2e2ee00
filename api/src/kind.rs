//! [`Kind`]: what kind of workload. One type for every mode, the daemon's API, the CLI and the
//! operator's `prisn.io/kind` label.

use serde::{Deserialize, Serialize};

/// What kind of workload: an app (PrisnApp), a job (PrisnJob) or a cron job (PrisnCronJob).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A service: kept running, restarted when it exits.
    App,
    /// Runs once to completion.
    Job,
    /// Runs on a schedule.
    CronJob,
}

impl Kind {
    /// Every kind, in a stable order.
    pub const ALL: [Kind; 3] = [Kind::App, Kind::Job, Kind::CronJob];

    /// `app`, `job`, `cronjob`: the API value and the `prisn.io/kind` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::App => "app",
            Kind::Job => "job",
            Kind::CronJob => "cronjob",
        }
    }

    /// For messages: "cron job".
    pub fn noun(self) -> &'static str {
        match self {
            Kind::App => "app",
            Kind::Job => "job",
            Kind::CronJob => "cron job",
        }
    }

    /// For messages, with its article: "an app", "a job", "a cron job".
    pub fn a_noun(self) -> &'static str {
        match self {
            Kind::App => "an app",
            Kind::Job => "a job",
            Kind::CronJob => "a cron job",
        }
    }

    /// The custom resource kind in Kubernetes mode.
    pub fn resource_kind(self) -> &'static str {
        match self {
            Kind::App => "PrisnApp",
            Kind::Job => "PrisnJob",
            Kind::CronJob => "PrisnCronJob",
        }
    }

    /// What a user may type: `app`, `apps`, `job`, `jobs`, `cronjob`, `cronjobs`, `cj`.
    pub fn parse(text: &str) -> Option<Kind> {
        match text {
            "app" | "apps" => Some(Kind::App),
            "job" | "jobs" => Some(Kind::Job),
            "cronjob" | "cronjobs" | "cj" => Some(Kind::CronJob),
            _ => None,
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_parses_from_its_own_name() {
        for k in Kind::ALL {
            assert_eq!(Kind::parse(k.as_str()), Some(k));
        }
        assert_eq!(Kind::parse("cj"), Some(Kind::CronJob));
        assert_eq!(Kind::parse("pods"), None);
    }
}
