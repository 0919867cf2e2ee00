//! Reconcile metrics in the Prometheus text format, without a metrics crate: per controller a
//! counter of reconciles, a counter of errors by kind, and a summary (p50/p90/p99 over the last
//! 4096 reconciles) of reconcile durations.

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

const WINDOW: usize = 4096;

#[derive(Default)]
struct Stats {
    reconciles: u64,
    errors: BTreeMap<&'static str, u64>,
    sum_seconds: f64,
    recent: VecDeque<f64>,
}

/// Shared by the controllers and the `/metrics` endpoint.
#[derive(Default)]
pub struct Metrics {
    by_controller: Mutex<BTreeMap<&'static str, Stats>>,
}

impl Metrics {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one reconcile of `controller` that took `took`, failing with `error` if any.
    pub fn observe(&self, controller: &'static str, took: Duration, error: Option<&'static str>) {
        // A poisoned lock only means another thread panicked while recording; the numbers are
        // still usable.
        let mut map = self.by_controller.lock().unwrap_or_else(|p| p.into_inner());
        let s = map.entry(controller).or_default();
        s.reconciles += 1;
        s.sum_seconds += took.as_secs_f64();
        if s.recent.len() == WINDOW {
            s.recent.pop_front();
        }
        s.recent.push_back(took.as_secs_f64());
        if let Some(e) = error {
            *s.errors.entry(e).or_default() += 1;
        }
    }

    /// Quantile `q` (0..=1) of the recent reconcile durations of `controller`, in seconds.
    pub fn quantile(&self, controller: &str, q: f64) -> Option<f64> {
        let map = self.by_controller.lock().unwrap_or_else(|p| p.into_inner());
        map.get(controller).and_then(|s| quantile(&s.recent, q))
    }

    /// Number of reconciles of `controller` so far.
    pub fn reconciles(&self, controller: &str) -> u64 {
        let map = self.by_controller.lock().unwrap_or_else(|p| p.into_inner());
        map.get(controller).map(|s| s.reconciles).unwrap_or(0)
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let map = self.by_controller.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP prisn_operator_reconciles_total Reconciles run."
        );
        let _ = writeln!(out, "# TYPE prisn_operator_reconciles_total counter");
        for (c, s) in map.iter() {
            let _ = writeln!(
                out,
                "prisn_operator_reconciles_total{{controller=\"{c}\"}} {}",
                s.reconciles
            );
        }
        let _ = writeln!(
            out,
            "# HELP prisn_operator_reconcile_errors_total Reconciles that failed, by error."
        );
        let _ = writeln!(out, "# TYPE prisn_operator_reconcile_errors_total counter");
        for (c, s) in map.iter() {
            for (e, n) in &s.errors {
                let _ = writeln!(
                    out,
                    "prisn_operator_reconcile_errors_total{{controller=\"{c}\",error=\"{e}\"}} {n}"
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP prisn_operator_reconcile_duration_seconds Reconcile duration (quantiles over the last {WINDOW})."
        );
        let _ = writeln!(
            out,
            "# TYPE prisn_operator_reconcile_duration_seconds summary"
        );
        for (c, s) in map.iter() {
            for q in [0.5, 0.9, 0.99] {
                if let Some(v) = quantile(&s.recent, q) {
                    let _ = writeln!(
                        out,
                        "prisn_operator_reconcile_duration_seconds{{controller=\"{c}\",quantile=\"{q}\"}} {v:.6}"
                    );
                }
            }
            let _ = writeln!(
                out,
                "prisn_operator_reconcile_duration_seconds_sum{{controller=\"{c}\"}} {:.6}",
                s.sum_seconds
            );
            let _ = writeln!(
                out,
                "prisn_operator_reconcile_duration_seconds_count{{controller=\"{c}\"}} {}",
                s.reconciles
            );
        }
        out
    }
}

fn quantile(v: &VecDeque<f64>, q: f64) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let mut sorted: Vec<f64> = v.iter().copied().collect();
    sorted.sort_by(f64::total_cmp);
    let idx = ((sorted.len() - 1) as f64 * q.clamp(0.0, 1.0)).round() as usize;
    sorted.get(idx).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_and_exposition() {
        let m = Metrics::new();
        for ms in 1..=100 {
            m.observe("prisnapp", Duration::from_millis(ms), None);
        }
        m.observe("prisnapp", Duration::from_millis(5), Some("KubeError"));
        let p50 = m.quantile("prisnapp", 0.5).expect("observed");
        assert!((0.049..=0.052).contains(&p50), "{p50}");
        let text = m.render();
        assert!(text.contains("prisn_operator_reconciles_total{controller=\"prisnapp\"} 101"));
        assert!(text.contains("error=\"KubeError\"} 1"));
        assert!(text.contains("quantile=\"0.5\""));
    }
}
