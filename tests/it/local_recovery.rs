//! Local mode: the daemon comes and goes, the apps stay.

use crate::local::*;

#[test]
fn killing_the_daemon_leaves_apps_running_and_the_next_command_adopts_them() {
    let l = Local::new();
    l.t.example("api.py");
    let port = free_port();
    l.ok(&["deploy", "api.py", "--port", &port.to_string()]);
    let app_pid = l.pid("api").unwrap();
    // The shim and, in the namespace, its pid 1: whatever there is, adoption keeps exactly it.
    let shims = || -> Vec<(i32, String)> {
        let mut found: Vec<_> = l
            .processes()
            .into_iter()
            .filter(|(_, c)| c.starts_with("prisn-shim: api "))
            .collect();
        found.sort();
        found
    };
    let shims_before = shims();
    assert!(
        !shims_before.is_empty(),
        "no shim for api: {:?}",
        l.processes()
    );
    let daemon = l.daemon_pid();
    unsafe { libc::kill(daemon, libc::SIGKILL) };
    eventually("the daemon to die", 10, || !alive(daemon));
    // The app does not notice.
    assert!(http_get(port, "/hello/still").is_some());
    // The next command starts a daemon that adopts the app instead of starting another.
    let table = l.ok(&["get", "apps"]);
    assert!(table.contains("Running"), "{table}");
    assert_ne!(l.daemon_pid(), daemon);
    assert_eq!(l.pid("api"), Some(app_pid));
    let scripts: Vec<_> = l
        .processes()
        .into_iter()
        .filter(|(_, c)| c.contains("api.py"))
        .collect();
    assert_eq!(scripts.len(), 1, "{scripts:?}");
    assert_eq!(shims(), shims_before, "adoption must keep the same shims");
    // And supervises it as before.
    unsafe { libc::kill(app_pid, libc::SIGKILL) };
    eventually("a restart by the new daemon", 30, || {
        l.pid("api").is_some_and(|p| p != app_pid) && http_get(port, "/healthz").is_some()
    });
}

#[test]
fn daemon_stop_stops_the_apps_and_the_next_start_brings_them_back() {
    let l = Local::new();
    let out = l.run(&["daemon", "status"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "not running\n");
    l.t.write("sleeper.sh", "echo up; exec sleep 600\n");
    l.ok(&["deploy", "sleeper.sh"]);
    let pid = l.pid("sleeper").unwrap();
    let text = l.ok(&["daemon", "status"]);
    assert!(
        text.contains("Status:    running") && text.contains("Workloads: 1 (1 processes running)"),
        "{text}"
    );
    assert!(
        l.ok(&["daemon", "stop"])
            .starts_with("stopped prisn daemon (pid ")
    );
    assert!(!alive(pid));
    assert!(l.processes().is_empty(), "{:?}", l.processes());
    assert!(!l.t.home.path().join("daemon.sock").exists());
    // state.db remembers: the next command brings the app back.
    let table = l.ok(&["get", "apps"]);
    assert!(table.contains("sleeper"), "{table}");
    eventually("the app back", 30, || {
        l.pid("sleeper").is_some_and(|p| p != pid)
    });

    // --keep-apps: the daemon goes, the app stays and is adopted.
    let pid = l.pid("sleeper").unwrap();
    l.ok(&["daemon", "stop", "--keep-apps"]);
    assert!(alive(pid));
    assert_eq!(l.pid("sleeper"), Some(pid));
}

#[test]
fn two_first_commands_at_once_start_one_daemon() {
    let l = Local::new();
    let children: Vec<_> = (0..4)
        .map(|_| {
            l.t.prisn()
                .args(["get"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let daemons: Vec<_> = l
        .processes()
        .into_iter()
        .filter(|(_, c)| c.contains("daemon run"))
        .collect();
    assert_eq!(daemons.len(), 1, "{daemons:?}");
}
