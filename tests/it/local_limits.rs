//! Local mode: memory and CPU limits are applied (cgroup v1 here) and `status` says how.

use crate::local::*;

fn cgroup_file(path: &str, file: &str) -> String {
    std::fs::read_to_string(std::path::Path::new(path).join(file)).unwrap_or_default()
}

/// The cgroup leaf a limit note names (`… (/sys/fs/cgroup/…)`).
fn leaf(note: &str) -> String {
    note.rsplit_once('(')
        .unwrap()
        .1
        .trim_end_matches(')')
        .to_string()
}

#[test]
fn memory_and_cpu_limits_are_applied_and_reported() {
    let l = Local::new();
    l.t.write("hold.sh", "echo up; exec sleep 600\n");
    l.ok(&["deploy", "hold.sh", "--memory", "64Mi", "--cpu", "250m"]);
    let s = l.status("hold");
    let limits: Vec<String> = serde_json::from_value(
        s["details"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d[0] == "limit")
            .map(|d| d[1].clone())
            .collect(),
    )
    .unwrap();
    assert_eq!(limits.len(), 2, "{s}");
    let memory = limits
        .iter()
        .find(|n| n.starts_with("memory 64Mi: "))
        .unwrap();
    let cpu = limits.iter().find(|n| n.starts_with("cpu 250m: ")).unwrap();
    // `get -o wide` shows how the app is isolated.
    let text = l.ok(&["get", "-o", "wide"]);
    let header = text.lines().next().unwrap_or_default();
    let row = text
        .lines()
        .find(|r| r.starts_with("hold "))
        .unwrap_or_else(|| panic!("no row for hold: {text}"));
    let isolation = s["extra"]["isolation"]
        .as_str()
        .expect("isolation in status");
    assert!(
        header.contains("ISOLATION") && row.contains(isolation),
        "{text}"
    );
    if memory.contains("cgroup v1") {
        let dir = leaf(memory);
        assert_eq!(
            cgroup_file(&dir, "memory.limit_in_bytes").trim(),
            (64u64 << 20).to_string()
        );
        let pid = l.pid("hold").unwrap().to_string();
        assert!(
            cgroup_file(&dir, "cgroup.procs").lines().any(|p| p == pid),
            "{dir}"
        );
        assert_eq!(cgroup_file(&leaf(cpu), "cpu.cfs_quota_us").trim(), "25000");
        // Deleting the app removes its cgroups.
        l.ok(&["delete", "hold", "--yes"]);
        assert!(!std::path::Path::new(&dir).exists());
    } else {
        assert!(memory.contains("RLIMIT_AS"), "{memory}");
    }
}

#[test]
fn going_over_the_memory_limit_is_reported_as_such() {
    let l = Local::new();
    l.t.write("hog.py", "import time\nprint('allocating', flush=True)\nx = b'x' * (400 * 1024 * 1024)\nprint('survived', flush=True)\ntime.sleep(600)\n");
    // With a port the deploy waits until the port answers, which the hog never gets to do:
    // the deploy sees every crash, however fast or slow the allocation is.
    let port = free_port().to_string();
    let err = l.fails(&["deploy", "hog.py", "--memory", "64Mi", "--port", &port]);
    assert!(
        err.contains("allocating") && !err.contains("survived"),
        "{err}"
    );
    let s = l.status("hog");
    let reason = s["last_exit"]["reason"].as_str().unwrap().to_string();
    // cgroup: the OOM killer; rlimit: Python's MemoryError.
    let via_cgroup = s["details"]
        .as_array()
        .unwrap()
        .iter()
        .any(|d| d[0] == "limit" && d[1].as_str().unwrap().contains("cgroup v1"));
    if via_cgroup {
        // What the user is told, at deploy and in status.
        assert!(
            err.contains("hog is CrashLoopBackOff: killed for exceeding its memory limit"),
            "{err}"
        );
        // The app may already run again (it is restarted): look at how the last one ended.
        assert_eq!(reason, "OOMKilled", "{s}");
        let text = l.ok(&["status", "hog"]);
        let last_exit = text
            .lines()
            .find(|l| l.starts_with("Last exit:"))
            .unwrap_or_else(|| panic!("no last exit: {text}"));
        assert!(
            last_exit.contains("OOMKilled (signal 9)")
                && last_exit.ends_with("killed by the kernel: the memory limit was reached"),
            "{text}"
        );
    } else {
        assert!(
            err.contains("hog is CrashLoopBackOff: exited with code 1")
                && err.contains("MemoryError"),
            "{err}"
        );
        assert_eq!(reason, "Error", "{s}");
    }
}
