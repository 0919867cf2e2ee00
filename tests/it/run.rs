//! `prisn run`: real interpreters from real environments built by real uv and npm.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

use crate::common::*;

#[test]
fn hello_passes_args_env_and_exit_code() {
    let t = TestContext::new();
    t.write("hi.py", "import os, sys\nprint('args', sys.argv[1:], 'GREETING', os.environ.get('GREETING'))\nsys.exit(int(os.environ.get('CODE', '0')))\n");
    let out = t.run(&[
        "run",
        "hi.py",
        "-e",
        "GREETING=hey",
        "-e",
        "CODE=7",
        "--",
        "a",
        "--b",
    ]);
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
    assert_eq!(stdout(&out), "args ['a', '--b'] GREETING hey\n");
    // Nothing declared, so no lock file is written beside the script.
    assert!(!t.path("prisn.lock").exists());
}

#[test]
fn pep723_api_runs_from_a_locked_env_with_its_dependency() {
    let t = TestContext::new();
    let api = t.example("api.py");
    t.write(
        "probe.py",
        &std::fs::read_to_string(&api)
            .unwrap()
            .replace("if __name__ == \"__main__\":", "if False:"),
    );
    let out = t.run(&["run", "probe.py"]);
    ok(&out);
    let lock = std::fs::read_to_string(t.path("prisn.lock")).unwrap();
    assert!(
        lock.contains("[scripts.\"probe.py\"]") && lock.contains("name = \"flask\""),
        "{lock}"
    );
    // The script really imported flask from the store environment.
    t.write("which.py", "# /// script\n# dependencies = [\"flask>=3.0,<4\"]\n# ///\nimport flask, sys\nprint(flask.__file__.startswith(sys.prefix), sys.prefix)\n");
    let out = ok(&t.run(&["run", "which.py"]));
    assert!(out.starts_with("True ") && out.contains("/store/"), "{out}");
}

#[test]
fn a_project_directory_ships_its_sibling_module_and_data() {
    let t = TestContext::new();
    t.example("project");
    let out = ok(&t.run(&["run", "project"]));
    assert!(
        out.contains("hello, Ada\nhello, Grace\n") && out.contains("total size of names: 8.2 kB"),
        "{out}"
    );
}

#[test]
fn node_app_runs_with_npm_ci_dependencies_in_commonjs_and_esm() {
    let t = TestContext::new();
    t.example("node-app");
    let out = ok(&t.run(&["run", "node-app"]));
    assert!(out.contains("        42 is a number: true"), "{out}");
    // ES modules do not read NODE_PATH; the resolve hook finds the env's packages.
    t.write(
        "node-app/esm.mjs",
        "import isNumber from 'is-number';\nconsole.log('esm', isNumber(5));\n",
    );
    let out = ok(&t.run(&["run", "node-app", "--entrypoint", "esm.mjs"]));
    assert_eq!(out, "esm true\n");
}

#[test]
fn bash_job_runs_with_args() {
    let t = TestContext::new();
    t.example("job.sh");
    let out = ok(&t.run(&["run", "job.sh", "--", "x", "y"]));
    assert!(out.contains("with 2 args: x y"), "{out}");
}

#[test]
fn sigterm_reaches_the_script_and_its_exit_code_is_returned() {
    let t = TestContext::new();
    t.write(
        "wait.py",
        "import signal, sys, time\nsignal.signal(signal.SIGTERM, lambda *a: (print('got TERM', flush=True), sys.exit(42)))\nprint('ready', flush=True)\ntime.sleep(60)\n",
    );
    let mut child = t
        .prisn()
        .args(["run", "wait.py"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "ready");
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert_eq!(lines.next().unwrap().unwrap(), "got TERM");
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(42));
}

#[test]
fn concurrent_first_runs_build_one_environment_and_all_succeed() {
    let t = TestContext::new();
    t.write("c.py", "# /// script\n# dependencies = [\"six==1.16.0\"]\n# ///\nimport six\nprint(six.__version__)\n");
    // Lock first so both runs race on the store, not on writing prisn.lock.
    ok(&t.run(&["lock", "c.py"]));
    let children: Vec<_> = (0..3)
        .map(|_| {
            t.prisn()
                .args(["run", "c.py"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert_eq!(ok(&out), "1.16.0\n");
    }
    assert_eq!(t.store_entries().len(), 1, "{:?}", t.store_entries());
}

#[test]
fn kill_9_mid_build_leaves_no_entry_and_the_next_run_recovers() {
    use std::os::unix::process::CommandExt;
    let t = TestContext::new();
    t.write("k.py", "# /// script\n# dependencies = [\"flask>=3.0,<4\", \"requests<3\"]\n# ///\nimport flask, requests\nprint('ok')\n");
    ok(&t.run(&["lock", "k.py"]));
    // A cold uv cache makes the install long enough to interrupt.
    let cache = tempfile::tempdir().unwrap();
    let mut child = t
        .prisn()
        .args(["build", "k.py"])
        .env("UV_CACHE_DIR", cache.path())
        .process_group(0)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the build is under way (its temp dir exists), then kill the whole group.
    let tmp = t.home.path().join("store/.tmp");
    let started = std::time::Instant::now();
    while std::fs::read_dir(&tmp).map(|r| r.count()).unwrap_or(0) == 0 {
        // Killing a build that had not started yet would test nothing.
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the build never started writing to {}",
            tmp.display()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
    let status = child.wait().unwrap();
    assert!(!status.success());
    assert!(
        t.store_entries().is_empty(),
        "a killed build left {:?}",
        t.store_entries()
    );
    let out = ok(&t
        .prisn()
        .args(["run", "k.py"])
        .env("UV_CACHE_DIR", cache.path())
        .output()
        .unwrap());
    assert_eq!(out, "ok\n");
    assert_eq!(t.store_entries().len(), 1);
    let leftovers: Vec<_> = std::fs::read_dir(&tmp)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(
        leftovers.is_empty(),
        "stale temp dirs not cleaned: {leftovers:?}"
    );
}

#[test]
fn an_installer_killed_mid_install_is_reported_and_nothing_is_stored() {
    // Fault injection (named so): a `uv` wrapper that SIGKILLs itself on `pip install`,
    // as an OOM killer would, and runs the real uv otherwise.
    let t = TestContext::new();
    let real_uv = String::from_utf8(
        std::process::Command::new("sh")
            .args(["-c", "command -v uv"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let wrapper = t.write(
        "bin/uv",
        &format!(
            "#!/bin/sh\ncase \"$*\" in *\"pip install\"*) kill -9 $$ ;; esac\nexec {} \"$@\"\n",
            real_uv.trim()
        ),
    );
    std::fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    t.write(
        "u.py",
        "# /// script\n# dependencies = [\"six==1.16.0\"]\n# ///\nimport six\n",
    );
    let err = fails(
        &t.prisn()
            .args(["run", "u.py"])
            .env("PRISN_UV", &wrapper)
            .output()
            .unwrap(),
    );
    assert!(
        err.contains("killed by signal 9") && err.contains("nothing was written to the store"),
        "{err}"
    );
    assert!(t.store_entries().is_empty());
    ok(&t.run(&["run", "u.py"]));
}

#[test]
fn bad_scripts_get_errors_that_name_the_problem() {
    let t = TestContext::new();
    let err = fails(&t.run(&["run", "missing.py"]));
    assert!(err.contains("script not found: missing.py"), "{err}");
    t.write("notes.txt", "hello");
    let err = fails(&t.run(&["run", "notes.txt"]));
    assert!(
        err.contains("cannot tell which runtime runs") && err.contains("hint: use a .py"),
        "{err}"
    );
    t.write("open.py", "# /// script\n# dependencies = []\nprint(1)\n");
    let err = fails(&t.run(&["run", "open.py"]));
    assert!(
        err.contains("open.py:1: the `# /// script` block is never closed"),
        "{err}"
    );
    t.write(
        "bad.py",
        "# /// script\n# dependencies = [\"flask>>3\"]\n# ///\n",
    );
    let err = fails(&t.run(&["run", "bad.py"]));
    assert!(
        err.contains("bad.py:2: invalid requirement \"flask>>3\""),
        "{err}"
    );
    t.write("toml.py", "# /// script\n# dependencies = [\n# ///\n");
    let err = fails(&t.run(&["run", "toml.py"]));
    assert!(
        err.contains("toml.py:") && err.contains("invalid TOML"),
        "{err}"
    );
    t.write(
        "future.py",
        "# /// script\n# requires-python = \">=3.99\"\n# ///\n",
    );
    let err = fails(&t.run(&["run", "future.py"]));
    assert!(
        err.contains("requires-python >=3.99") && err.contains("--python"),
        "{err}"
    );
    let err = fails(&t.run(&["run", "hi.py", "-e", "NOEQUALS"]));
    assert!(err.contains("expected KEY=VALUE"), "{err}");
    assert!(t.store_entries().is_empty());
}

#[test]
fn unknown_packages_and_conflicts_show_the_resolvers_explanation() {
    let t = TestContext::new();
    t.write(
        "nope.py",
        "# /// script\n# dependencies = [\"prisn-no-such-package-4b1d\"]\n# ///\n",
    );
    let err = fails(&t.run(&["run", "nope.py"]));
    assert!(
        err.contains("could not resolve the dependencies of nope.py with uv")
            && err.contains("prisn-no-such-package-4b1d"),
        "{err}"
    );
    t.write(
        "conflict.py",
        "# /// script\n# dependencies = [\"flask==3.0.0\", \"werkzeug<2\"]\n# ///\n",
    );
    let err = fails(&t.run(&["run", "conflict.py"]));
    assert!(
        err.contains("werkzeug") && err.contains("unsatisfiable"),
        "{err}"
    );
    assert!(
        !t.path("prisn.lock").exists(),
        "a failed resolution must not write a lock"
    );
    assert!(t.store_entries().is_empty());
}
