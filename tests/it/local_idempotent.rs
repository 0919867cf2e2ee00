//! Local mode: a request cut off by a daemon crash is checked after reconnecting, not
//! reported as failed although it was applied (issue 13, item 9).

use crate::common::ok;
use crate::local::*;

#[test]
fn a_deploy_cut_off_by_a_daemon_crash_is_found_applied_after_reconnecting() {
    let l = Local::new();
    l.t.write("a.sh", "echo up; sleep 600\n");
    // The daemon aborts once, right after committing the deploy and before answering (a
    // named test fault: nothing else kills it at exactly that instant).
    let marker = l.t.work.path().join("crash-once");
    std::fs::write(&marker, "").unwrap();
    let out =
        l.t.prisn()
            .env("PRISN_TEST_FAULT_CRASH_AFTER_COMMIT", &marker)
            .args(["deploy", "a.sh"])
            .output()
            .unwrap();
    ok(&out);
    assert!(!marker.exists(), "the fault did not happen");
    assert_eq!(l.status("a")["phase"], "Running");
    let scripts = l
        .processes()
        .into_iter()
        .filter(|(_, c)| c.contains("a.sh"))
        .count();
    assert_eq!(scripts, 1);
    // The same deploy again, prepared against no workload, is still no conflict.
    l.ok(&["deploy", "a.sh"]);
}
