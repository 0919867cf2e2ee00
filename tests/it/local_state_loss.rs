//! Local mode: losing state.db loses no workload, no code and no process (issue 13, item 3).

use std::path::Path;

use crate::local::*;

fn code_snapshots(home: &Path) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(home.join("code"))
        .map(|r| {
            r.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

#[test]
fn moving_a_corrupt_state_db_aside_as_the_hint_says_loses_nothing() {
    let l = Local::new();
    let home = l.t.home.path().to_path_buf();
    l.t.write("sleeper.sh", "echo up $GREETING; exec sleep 600\n");
    l.t.write("other.sh", "exec sleep 600\n");
    l.ok(&["deploy", "sleeper.sh", "-e", "GREETING=hello"]);
    l.ok(&["deploy", "other.sh"]);
    let pid = l.pid("sleeper").expect("it runs");
    let snapshots = code_snapshots(&home);
    assert_eq!(snapshots.len(), 2, "{snapshots:?}");

    // The daemon dies and state.db is damaged.
    let daemon = l.daemon_pid();
    unsafe { libc::kill(daemon, libc::SIGKILL) };
    eventually("the daemon to die", 10, || !alive(daemon));
    let db = home.join("state.db");
    std::fs::write(&db, vec![0x5a; 8192]).unwrap();
    let err = l.fails(&["get"]);
    assert!(err.contains("not a readable prisn state database"), "{err}");
    // No backup exists, so none is offered.
    assert!(!err.contains(".bak"), "{err}");

    // Follow the hint.
    for f in ["state.db", "state.db-wal", "state.db-shm"] {
        let from = home.join(f);
        if from.exists() {
            std::fs::rename(&from, home.join(format!("{f}.corrupt"))).unwrap();
        }
    }
    let table = l.ok(&["get"]);
    assert!(
        table.contains("sleeper") && table.contains("other") && table.contains("Running"),
        "{table}"
    );
    // The same process, adopted, and every snapshot kept.
    assert_eq!(l.pid("sleeper"), Some(pid));
    assert!(alive(pid));
    assert_eq!(code_snapshots(&home), snapshots);
    // It is supervised again, from its code, with its environment.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    eventually("a restart", 30, || {
        l.pid("sleeper").is_some_and(|p| p != pid)
    });
    eventually("the restarted output", 30, || {
        l.ok(&["logs", "sleeper"]).matches("up hello").count() == 2
    });
    // Deleting stays deleting: the next daemon does not bring it back.
    l.ok(&["delete", "other", "--yes"]);
    l.ok(&["daemon", "stop"]);
    let table = l.ok(&["get"]);
    assert!(!table.contains("other"), "{table}");
}
