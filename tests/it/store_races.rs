//! The store and prisn.lock under concurrent use, crashes and damage (issue 13, items 4-7).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use crate::common::*;
use crate::local::eventually;

/// Processes whose command line contains every one of `words`.
fn processes_with(words: &[&str]) -> Vec<i32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse().ok()) else {
            continue;
        };
        let Ok(raw) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let cmd = String::from_utf8_lossy(&raw).replace('\0', " ");
        let zombie = std::fs::read_to_string(e.path().join("stat")).is_ok_and(|s| {
            s.rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        });
        if !zombie && words.iter().all(|w| cmd.contains(w)) {
            out.push(pid);
        }
    }
    out
}

#[test]
fn gc_keeps_an_environment_while_a_prisn_run_uses_it() {
    let t = TestContext::new();
    t.write(
        "hold.py",
        "import os, sys, time\nprint('ready', flush=True)\nwhile not os.path.exists('go'):\n    time.sleep(0.02)\nprint('env there:', os.path.isdir(sys.prefix), flush=True)\n",
    );
    let mut run = t
        .prisn()
        .args(["run", "hold.py"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(run.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line, "ready\n");
    // The most eager gc there is: nothing pinned, nothing recent.
    ok(&t.run(&["gc", "--keep", "0s"]));
    assert_eq!(t.store_entries().len(), 1, "{:?}", t.store_entries());
    std::fs::write(t.path("go"), "").unwrap();
    line.clear();
    out.read_line(&mut line).unwrap();
    assert_eq!(line, "env there: True\n");
    assert!(run.wait().unwrap().success());
    // The lease ends with the run.
    ok(&t.run(&["gc", "--keep", "0s"]));
    assert!(t.store_entries().is_empty(), "{:?}", t.store_entries());
}

#[test]
fn concurrent_first_runs_of_a_new_script_resolve_once() {
    let t = TestContext::new();
    t.write(
        "s.py",
        "# /// script\n# dependencies = [\"six\"]\n# ///\nimport six\nprint(six.__name__)\n",
    );
    let runs: Vec<_> = (0..4)
        .map(|_| {
            t.prisn()
                .args(["run", "s.py"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for r in runs {
        let out = r.wait_with_output().unwrap();
        assert_eq!(stdout(&out), "six\n", "{}", stderr(&out));
    }
    // One resolution: one exclude-newer in the lock, one environment in the store.
    let lock = std::fs::read_to_string(t.path("prisn.lock")).unwrap();
    assert_eq!(lock.matches("exclude-newer").count(), 1, "{lock}");
    assert_eq!(t.store_entries().len(), 1, "{:?}", t.store_entries());
}

/// The cross-process lock prisn takes around `lock`'s prisn.lock (see `lock::ensure`):
/// `$PRISN_HOME/locks/lock-<first 16 hex of sha256(path)>.lock`.
fn guard_of(t: &TestContext, lock: &std::path::Path) -> std::path::PathBuf {
    let out = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin
                .take()
                .unwrap()
                .write_all(lock.to_string_lossy().as_bytes())?;
            c.wait_with_output()
        })
        .unwrap();
    let hex = String::from_utf8(out.stdout).unwrap();
    t.home
        .path()
        .join("locks")
        .join(format!("lock-{}.lock", &hex[..16]))
}

#[test]
fn a_first_run_that_waited_for_the_lock_file_uses_the_lock_written_meanwhile() {
    let script = "# /// script\n# dependencies = [\"six\"]\n# ///\nimport six\nprint('ok')\n";
    // What another process locks meanwhile (the same inputs lock alike in any directory).
    let other = TestContext::new();
    other.write("s.py", script);
    ok(&other.run(&["lock", "s.py", "--exclude-newer", "2025-06-01T00:00:00Z"]));
    let theirs = std::fs::read(other.path("prisn.lock")).unwrap();

    let t = TestContext::new();
    t.write("s.py", script);
    let guard = guard_of(&t, &t.path("prisn.lock"));
    std::fs::create_dir_all(guard.parent().unwrap()).unwrap();
    let held = std::fs::File::create(&guard).unwrap();
    held.lock().unwrap();
    let run = t
        .prisn()
        .args(["run", "s.py"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = run.id();
    // It waits for the lock file's lock (before resolving, or before writing).
    eventually("prisn to wait on the lock file's lock", 60, || {
        std::fs::read_dir(format!("/proc/{pid}/fd")).is_ok_and(|fds| {
            fds.flatten()
                .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|l| l == guard))
        })
    });
    std::fs::write(t.path("prisn.lock"), &theirs).unwrap();
    held.unlock().unwrap();
    let out = run.wait_with_output().unwrap();
    assert_eq!(stdout(&out), "ok\n", "{}", stderr(&out));
    // It used that lock instead of stamping a resolution of its own over it.
    assert_eq!(
        String::from_utf8_lossy(&std::fs::read(t.path("prisn.lock")).unwrap()),
        String::from_utf8_lossy(&theirs)
    );
}

#[test]
fn a_killed_prisn_leaves_no_uv_behind_and_gc_collects_what_builds_left() {
    let t = TestContext::new();
    // An index that accepts connections and never answers: uv waits on it.
    let index = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "http://127.0.0.1:{}/simple",
        index.local_addr().unwrap().port()
    );
    t.write("p/main.py", "import six\n");
    t.write("p/requirements.txt", &format!("--index-url {url}\nsix\n"));
    let mut prisn = t
        .prisn()
        .args(["run", "p"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    eventually("uv to ask the index", 60, || {
        !processes_with(&["compile", &url]).is_empty()
    });
    let uv = processes_with(&["compile", &url]);
    unsafe { libc::kill(prisn.id() as i32, libc::SIGKILL) };
    prisn.wait().unwrap();
    // uv dies with it (it would otherwise wait for the index for 30 s and more).
    eventually("uv to end with prisn", 5, || {
        uv.iter()
            .all(|p| processes_with(&["compile", &url]).iter().all(|q| q != p))
    });
    drop(index);

    // What a build killed halfway leaves in store/.tmp (read-only files included) is
    // collected, unless its hash is locked right now (a build in progress).
    let tmp = t.home.path().join("store/.tmp");
    for name in ["0123abcd-4242", "4567cdef-incomplete-4242"] {
        let dir = tmp.join(name).join("lib");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("x.py"), "x").unwrap();
        std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o555))
            .unwrap();
    }
    let busy = tmp.join("89abef01-4343");
    std::fs::create_dir_all(&busy).unwrap();
    let locks = t.home.path().join("store/.locks");
    std::fs::create_dir_all(&locks).unwrap();
    let held = std::fs::File::create(locks.join("89abef01.lock")).unwrap();
    held.lock().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_prisn"))
        .env("PRISN_HOME", t.home.path())
        .args(["gc", "--keep", "1h"])
        .output()
        .unwrap();
    ok(&out);
    let left: Vec<String> = std::fs::read_dir(&tmp)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, ["89abef01-4343"]);
}

#[test]
fn a_binary_prisn_lock_is_named_moved_aside_and_replaced() {
    let t = TestContext::new();
    t.write("s.py", "print('hi')\n");
    let lock = t.path("prisn.lock");
    std::fs::write(&lock, [0x89, b'P', b'N', b'G', 0, 0xff, 0xfe, 0x00]).unwrap();
    let err = fails(&t.run(&["run", "s.py"]));
    assert!(
        err.contains("prisn.lock") && err.contains("not text"),
        "{err}"
    );
    assert!(err.contains("hint:") && err.contains("prisn lock"), "{err}");
    assert!(!err.contains("stream did not contain valid UTF-8"), "{err}");
    // `prisn lock` keeps the broken file aside and writes a fresh one.
    let out = t.run(&["lock", "s.py"]);
    ok(&out);
    assert!(
        stderr(&out).contains("prisn.lock.broken"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read(t.path("prisn.lock.broken")).unwrap(),
        [0x89, b'P', b'N', b'G', 0, 0xff, 0xfe, 0x00]
    );
    assert!(
        std::fs::read_to_string(&lock)
            .unwrap()
            .contains("version = 1")
    );
}
