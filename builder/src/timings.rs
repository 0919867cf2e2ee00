//! `PRISN_TIMINGS=1`: where a build's time goes, one line per stage on stderr
//! (`prisn timings: +  412 ms  dependency layer packed`), milliseconds since the first mark.
//! Off by default and outside the reporter, so normal output and `-o json` never change; for
//! the figures in BENCHMARKS.md, read on release builds.

use std::sync::OnceLock;
use std::time::Instant;

fn start() -> Option<Instant> {
    static START: OnceLock<Option<Instant>> = OnceLock::new();
    *START.get_or_init(|| {
        std::env::var_os("PRISN_TIMINGS")
            .is_some_and(|v| !v.is_empty() && v != "0")
            .then(Instant::now)
    })
}

/// Note that `stage` is done (nothing unless `PRISN_TIMINGS` is set).
pub fn mark(stage: &str) {
    if let Some(t) = start() {
        eprintln!("prisn timings: +{:5} ms  {stage}", t.elapsed().as_millis());
    }
}
