//! Local mode as a new user meets it (issue 13, items 13 and 14): one rule for replacing a
//! workload with another script, and storage paths checked before anything is created.

use crate::common::{fails, ok, stderr};
use crate::local::*;

#[test]
fn another_script_replaces_a_workload_of_any_kind_only_with_replace() {
    let l = Local::new();
    l.t.write("a.sh", "echo a; exec sleep 600\n");
    l.t.write("b.sh", "echo b; exec sleep 600\n");
    for (name, kind_args) in [
        ("api", vec![]),
        ("once", vec!["--once", "--no-wait"]),
        ("every", vec!["--schedule", "0 0 1 1 *"]),
    ] {
        let with = |script: &str, extra: &[&str]| {
            let mut args = vec!["deploy", script, "--name", name];
            args.extend(kind_args.iter().copied());
            args.extend(extra.iter().copied());
            l.run(&args)
        };
        ok(&with("a.sh", &[]));
        let err = fails(&with("b.sh", &[]));
        assert!(
            err.contains(&format!(
                "{name} runs a.sh; deploying b.sh would replace it"
            )) && err.contains("--replace"),
            "{name}: {err}"
        );
        assert_eq!(l.status(name)["source"], "a.sh", "{name}");
        // The same script again (edited or not) is a redeploy, not a replacement.
        l.t.write("a.sh", "echo a2; exec sleep 600\n");
        ok(&with("./a.sh", &[]));
        ok(&with("b.sh", &["--replace"]));
        assert_eq!(l.status(name)["source"], "b.sh", "{name}");
        l.t.write("a.sh", "echo a; exec sleep 600\n");
    }
}

#[test]
fn a_storage_path_that_does_not_exist_is_refused_before_anything_is_created() {
    let l = Local::new();
    l.t.write("db.sh", "exec sleep 600\n");
    let missing = format!("/prisn-missing-{}", std::process::id());
    let spec = format!("data={missing}:1Gi");
    let err = l.fails(&["deploy", "db.sh", "--storage", &spec]);
    assert!(
        err.contains(&format!("storage data mount path {missing} does not exist"))
            && err.contains("mkdir -p")
            && err.contains("/tmp/data"),
        "{err}"
    );
    assert!(!l.ok(&["get"]).contains("db"));
    assert!(!l.t.home.path().join("volumes/db").exists());
    // Under /tmp it is created in the app's private /tmp, and writable.
    l.t.write(
        "w.sh",
        "echo kept > /tmp/data/f && echo wrote; exec sleep 600\n",
    );
    l.ok(&["deploy", "w.sh", "--storage", "data=/tmp/data:1Gi"]);
    eventually("the write", 30, || l.ok(&["logs", "w"]).contains("wrote"));
    assert_eq!(
        std::fs::read_to_string(l.t.home.path().join("volumes/w/data/f")).unwrap(),
        "kept\n"
    );
}

#[test]
fn deploy_once_wait_ends_as_the_job_does_and_scale_returns_once_the_app_is_up() {
    let l = Local::new();
    l.t.write("fail.sh", "echo working; sleep 0.3; echo broken; exit 3\n");
    let out = l.run(&["deploy", "fail.sh", "--once", "--wait"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(l.status("fail")["phase"], "Failed");
    l.t.write("good.sh", "sleep 0.3; echo done\n");
    l.ok(&["deploy", "good.sh", "--once", "--wait"]);
    assert_eq!(l.status("good")["phase"], "Succeeded");
    assert_eq!(l.ok(&["logs", "good"]), "done\n");

    l.t.example("api.py");
    let port = free_port();
    l.ok(&["deploy", "api.py", "--port", &port.to_string()]);
    l.ok(&["scale", "api", "0"]);
    assert!(http_get(port, "/healthz").is_none());
    l.ok(&["scale", "api", "1"]);
    // Up when scale returns: no waiting here.
    assert!(http_get(port, "/healthz").is_some());
    assert_eq!(l.status("api")["phase"], "Running");
}
