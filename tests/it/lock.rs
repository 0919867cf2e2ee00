//! prisn.lock: real resolutions by uv against the package index.

use crate::common::*;

const SCRIPT: &str = "# /// script\n# requires-python = \">=3.11\"\n# dependencies = [\"requests>=2.31,<3\"]\n# ///\nimport requests\nprint(requests.__version__)\n";

#[test]
fn the_same_inputs_give_a_byte_identical_lock_in_any_directory() {
    let (a, b) = (TestContext::new(), TestContext::new());
    for t in [&a, &b] {
        t.write("deep/er/s.py", SCRIPT);
        ok(&t.run(&[
            "lock",
            "deep/er/s.py",
            "--exclude-newer",
            "2025-06-01T00:00:00Z",
        ]));
    }
    let la = std::fs::read(a.path("deep/er/prisn.lock")).unwrap();
    let lb = std::fs::read(b.path("deep/er/prisn.lock")).unwrap();
    assert_eq!(String::from_utf8_lossy(&la), String::from_utf8_lossy(&lb));
    let text = String::from_utf8(la).unwrap();
    // Resolution date and target are recorded; requests 2.32.3 was current on that date.
    assert!(
        text.contains("exclude-newer = \"2025-06-01T00:00:00Z\""),
        "{text}"
    );
    assert!(
        text.contains("name = \"requests\"\nversion = \"2.32.3\""),
        "{text}"
    );
    // The interpreter's minor (python3 on PATH) on the documented default platform.
    let python = host_python().minor_version();
    let platform = format!("{}-manylinux_2_28", std::env::consts::ARCH);
    assert!(
        text.contains(&format!("python = \"{python}\""))
            && text.contains(&format!("platform = \"{platform}\"")),
        "{text}"
    );
    // Every package carries at least one sha256.
    assert_eq!(
        text.matches("[[scripts.\"s.py\".package]]").count(),
        text.matches("hashes = [").count()
    );
    assert!(
        !text.contains(a.work.path().to_str().unwrap()),
        "the lock must not record paths"
    );
}

#[test]
fn a_stale_lock_is_refused_with_locked_used_with_frozen_and_refreshed_otherwise() {
    let t = TestContext::new();
    t.write("s.py", SCRIPT);
    ok(&t.run(&["lock", "s.py", "--exclude-newer", "2025-06-01T00:00:00Z"]));
    assert_eq!(ok(&t.run(&["run", "--locked", "s.py"])), "2.32.3\n");
    assert!(t.run(&["lock", "--check", "s.py"]).status.success());
    // Change the declarations: the lock is now stale.
    t.write(
        "s.py",
        &SCRIPT.replace("\"requests>=2.31,<3\"", "\"requests>=2.31,<3\", \"six\""),
    );
    let err = fails(&t.run(&["lock", "--check", "s.py"]));
    assert!(
        err.contains("stale for s.py: the declared dependencies changed"),
        "{err}"
    );
    let err = fails(&t.run(&["run", "--locked", "s.py"]));
    assert!(
        err.contains("is stale for s.py") && err.contains("hint: run `prisn lock"),
        "{err}"
    );
    // --frozen runs with what the lock says (no six), without touching it.
    let before = std::fs::read(t.path("prisn.lock")).unwrap();
    ok(&t.run(&["run", "--frozen", "s.py"]));
    assert_eq!(before, std::fs::read(t.path("prisn.lock")).unwrap());
    // The default refreshes it, keeping the recorded resolution date.
    ok(&t.run(&["run", "s.py"]));
    let after = std::fs::read_to_string(t.path("prisn.lock")).unwrap();
    assert!(
        after.contains("name = \"six\"")
            && after.contains("exclude-newer = \"2025-06-01T00:00:00Z\""),
        "{after}"
    );
    assert!(
        after.contains("version = \"2.32.3\""),
        "re-lock moved requests: {after}"
    );
}

#[test]
fn missing_lock_with_locked_or_frozen_says_to_run_prisn_lock() {
    let t = TestContext::new();
    t.write("s.py", SCRIPT);
    for flag in ["--locked", "--frozen"] {
        let err = fails(&t.run(&["run", flag, "s.py"]));
        assert!(
            err.contains("has no lock for s.py") && err.contains("prisn lock"),
            "{flag}: {err}"
        );
    }
    // A script that declares nothing needs no lock, even with --locked.
    t.write("plain.py", "print('plain')\n");
    assert_eq!(ok(&t.run(&["run", "--locked", "plain.py"])), "plain\n");
}

#[test]
fn a_corrupt_lock_is_refused_and_prisn_lock_repairs_it_keeping_the_old_file() {
    let t = TestContext::new();
    t.write("s.py", SCRIPT);
    t.write("prisn.lock", "version = 1\n[scripts.\"s.py\"\nruntime = ");
    let err = fails(&t.run(&["run", "s.py"]));
    assert!(
        err.contains("prisn.lock is not a valid prisn lock: invalid TOML")
            && err.contains("prisn lock"),
        "{err}"
    );
    let err = fails(&t.run(&["build", "s.py"]));
    assert!(err.contains("not a valid prisn lock"), "{err}");
    assert!(t.store_entries().is_empty());
    let out = t.run(&["lock", "s.py"]);
    ok(&out);
    assert!(stderr(&out).contains("moved it to"), "{}", stderr(&out));
    assert!(t.path("prisn.lock.broken").is_file());
    ok(&t.run(&["run", "--locked", "s.py"]));
    t.write("prisn.lock", "version = 9\n");
    let err = fails(&t.run(&["run", "s.py"]));
    assert!(err.contains("written by a newer prisn"), "{err}");
}

#[test]
fn requirements_txt_project_locks_includes_and_the_json_summary_lists_pins() {
    let t = TestContext::new();
    t.write("p/main.py", "import six\n");
    t.write("p/requirements.txt", "-r base.txt\n");
    t.write("p/base.txt", "six==1.16.0 --hash=sha256:8abb2f1d86890a2dfb989f9a77cfcfd3e47c2a354b01111771326f8aa26e0254\n");
    let out = ok(&t.run(&["lock", "p", "-o", "json"]));
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["entrypoint"], "main.py");
    assert_eq!(json["section"]["package"][0]["name"], "six");
    assert_eq!(json["section"]["package"][0]["version"], "1.16.0");
    assert!(
        json["section"]["package"][0]["hashes"]
            .as_array()
            .unwrap()
            .len()
            >= 2
    );
}

/// The version of `name` in a prisn.lock text.
fn locked_version(lock: &str, name: &str) -> String {
    let at = lock
        .find(&format!("name = \"{name}\"\nversion = \""))
        .unwrap_or_else(|| panic!("{name} not in {lock}"));
    lock[at..]
        .lines()
        .nth(1)
        .and_then(|l| l.strip_prefix("version = \""))
        .and_then(|v| v.strip_suffix('"'))
        .unwrap()
        .to_string()
}

fn version_key(v: &str) -> Vec<u64> {
    v.split('.').map(|p| p.parse().unwrap_or(0)).collect()
}

#[test]
fn lock_upgrade_resolves_again_at_todays_date() {
    let t = TestContext::new();
    t.write("s.py", SCRIPT);
    let old_date = "2025-06-01T00:00:00Z";
    assert_cmd::Command::from_std(t.prisn())
        .args(["lock", "s.py", "--exclude-newer", old_date])
        .assert()
        .success();
    let first = std::fs::read_to_string(t.path("prisn.lock")).unwrap();
    assert_eq!(locked_version(&first, "requests"), "2.32.3");
    // A fresh lock is left alone by a plain `prisn lock`…
    assert_cmd::Command::from_std(t.prisn())
        .args(["lock", "s.py"])
        .assert()
        .success();
    assert_eq!(
        std::fs::read_to_string(t.path("prisn.lock")).unwrap(),
        first
    );
    // …and resolved again, with a new date, by --upgrade.
    assert_cmd::Command::from_std(t.prisn())
        .args(["lock", "--upgrade", "s.py"])
        .assert()
        .success();
    let upgraded = std::fs::read_to_string(t.path("prisn.lock")).unwrap();
    let date = upgraded
        .lines()
        .find_map(|l| l.strip_prefix("exclude-newer = \""))
        .and_then(|d| d.strip_suffix('"'))
        .unwrap_or_else(|| panic!("no date: {upgraded}"));
    assert!(date > old_date, "the date did not move: {upgraded}");
    // requests had releases after that date (2.32.4 came out on 2025-06-09).
    let now = locked_version(&upgraded, "requests");
    assert!(
        version_key(&now) > version_key("2.32.3"),
        "requests stayed at {now}: {upgraded}"
    );
    // The upgraded lock is the one in use.
    assert_cmd::Command::from_std(t.prisn())
        .args(["run", "--locked", "s.py"])
        .assert()
        .success()
        .stdout(format!("{now}\n"));
}
