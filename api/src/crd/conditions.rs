//! Condition types and the helper that keeps `lastTransitionTime` honest.
//!
//! Conventions follow the Kubernetes API conventions ("typical status properties"): one entry per
//! type, `lastTransitionTime` changes only when `status` changes, `reason` is CamelCase.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;

/// The condition types prisn resources report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConditionType {
    /// The app serves: all desired pods of the current version are ready (or it is scaled to 0).
    Ready,
    /// A rollout is under way.
    Progressing,
    /// Something is wrong; `reason` and `message` say what.
    Degraded,
    /// The code source could be read (image pinned, ConfigMap/Secret found, …).
    SourceReady,
    /// A PrisnJob finished successfully.
    Complete,
    /// A PrisnJob finished unsuccessfully.
    Failed,
}

impl ConditionType {
    pub fn as_str(self) -> &'static str {
        match self {
            ConditionType::Ready => "Ready",
            ConditionType::Progressing => "Progressing",
            ConditionType::Degraded => "Degraded",
            ConditionType::SourceReady => "SourceReady",
            ConditionType::Complete => "Complete",
            ConditionType::Failed => "Failed",
        }
    }
}

/// `True`, `False` or `Unknown`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConditionStatus {
    True,
    False,
    Unknown,
}

impl ConditionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ConditionStatus::True => "True",
            ConditionStatus::False => "False",
            ConditionStatus::Unknown => "Unknown",
        }
    }

    pub fn from_bool(b: bool) -> Self {
        if b {
            ConditionStatus::True
        } else {
            ConditionStatus::False
        }
    }
}

/// One condition as computed, before times are attached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cond {
    pub type_: ConditionType,
    pub status: ConditionStatus,
    pub reason: String,
    pub message: String,
}

impl Cond {
    pub fn new(
        type_: ConditionType,
        status: ConditionStatus,
        reason: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Cond {
            type_,
            status,
            reason: reason.into(),
            message: message.into(),
        }
    }
}

/// Turns computed conditions into API conditions, keeping the `lastTransitionTime` of every
/// condition whose status did not change. The result is sorted by type, so it is stable.
pub fn merge(
    previous: &[Condition],
    computed: Vec<Cond>,
    generation: Option<i64>,
    now: Timestamp,
) -> Vec<Condition> {
    let mut out: Vec<Condition> = computed
        .into_iter()
        .map(|c| {
            let last = previous
                .iter()
                .find(|p| p.type_ == c.type_.as_str() && p.status == c.status.as_str())
                .map(|p| p.last_transition_time.clone())
                .unwrap_or(Time(now));
            Condition {
                last_transition_time: last,
                message: c.message,
                observed_generation: generation,
                // The API requires a non-empty CamelCase reason.
                reason: if c.reason.is_empty() {
                    "Unknown".into()
                } else {
                    c.reason
                },
                status: c.status.as_str().into(),
                type_: c.type_.as_str().into(),
            }
        })
        .collect();
    out.sort_by(|a, b| a.type_.cmp(&b.type_));
    out
}

/// The condition of `type_`, if present.
pub fn find(conditions: &[Condition], type_: ConditionType) -> Option<&Condition> {
    conditions.iter().find(|c| c.type_ == type_.as_str())
}

/// Whether the condition of `type_` is present with status `True`.
pub fn is_true(conditions: &[Condition], type_: ConditionType) -> bool {
    find(conditions, type_).is_some_and(|c| c.status == "True")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: i64) -> Timestamp {
        Timestamp::from_second(s).expect("valid test timestamp")
    }

    #[test]
    fn transition_time_is_kept_while_status_is_unchanged() {
        let first = merge(
            &[],
            vec![Cond::new(
                ConditionType::Ready,
                ConditionStatus::False,
                "Starting",
                "",
            )],
            Some(1),
            ts(100),
        );
        let second = merge(
            &first,
            vec![Cond::new(
                ConditionType::Ready,
                ConditionStatus::False,
                "Starting",
                "0/1",
            )],
            Some(1),
            ts(200),
        );
        assert_eq!(second[0].last_transition_time, Time(ts(100)));
        assert_eq!(second[0].message, "0/1");
        let third = merge(
            &second,
            vec![Cond::new(
                ConditionType::Ready,
                ConditionStatus::True,
                "Available",
                "",
            )],
            Some(2),
            ts(300),
        );
        assert_eq!(third[0].last_transition_time, Time(ts(300)));
        assert_eq!(third[0].observed_generation, Some(2));
    }

    #[test]
    fn conditions_come_out_sorted_by_type() {
        let out = merge(
            &[],
            vec![
                Cond::new(
                    ConditionType::SourceReady,
                    ConditionStatus::True,
                    "Found",
                    "",
                ),
                Cond::new(
                    ConditionType::Degraded,
                    ConditionStatus::False,
                    "AsExpected",
                    "",
                ),
                Cond::new(ConditionType::Ready, ConditionStatus::True, "Available", ""),
            ],
            None,
            ts(1),
        );
        let types: Vec<_> = out.iter().map(|c| c.type_.as_str()).collect();
        assert_eq!(types, ["Degraded", "Ready", "SourceReady"]);
    }
}
