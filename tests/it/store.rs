//! The content-addressed store through the CLI: build, ls, pin, gc.

use crate::common::*;

#[test]
fn build_prints_the_store_path_and_a_second_build_reuses_it() {
    let t = TestContext::new();
    t.write(
        "s.py",
        "# /// script\n# dependencies = [\"six==1.16.0\"]\n# ///\n",
    );
    let path = ok(&t.run(&["build", "s.py"]));
    let path = path.trim();
    assert!(
        path.starts_with(t.home.path().join("store").to_str().unwrap()) && path.ends_with("-s"),
        "{path}"
    );
    assert!(std::path::Path::new(path).join("bin/python").exists());
    let json: serde_json::Value =
        serde_json::from_str(&ok(&t.run(&["build", "s.py", "-o", "json"]))).unwrap();
    assert_eq!(json["env"], path);
    assert_eq!(json["built"], false);
    assert_eq!(json["packages"], 1);
    assert_eq!(json["runtime"], "python3");
    // The hash is the entry's name: same lock, same interpreter, same path.
    assert!(path.contains(json["hash"].as_str().unwrap()));
}

#[test]
fn different_locks_get_different_entries_that_share_files_on_disk() {
    let t = TestContext::new();
    t.write(
        "a/s.py",
        "# /// script\n# dependencies = [\"requests==2.32.3\"]\n# ///\n",
    );
    t.write(
        "b/s.py",
        "# /// script\n# dependencies = [\"requests==2.32.3\", \"six==1.16.0\"]\n# ///\n",
    );
    let build = |script: &str| {
        ok(&t
            .prisn()
            .args(["build", script])
            .env("PRISN_OPTIMISE", "sync")
            .output()
            .unwrap())
        .trim()
        .to_string()
    };
    let (a, b) = (build("a/s.py"), build("b/s.py"));
    assert_ne!(a, b);
    // Both are byte-compiled, and the bytecode of the shared packages is shared too.
    let pyc = "lib/python3.11/site-packages/requests/__pycache__/api.cpython-311.pyc";
    let ino = |env: &str| {
        std::os::unix::fs::MetadataExt::ino(
            &std::fs::metadata(std::path::Path::new(env).join(pyc)).unwrap(),
        )
    };
    assert_eq!(ino(&a), ino(&b));
    let du = |args: &[&str]| -> u64 {
        let out = std::process::Command::new("du")
            .arg("-sk")
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .last()
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    // du counts hardlinked files once: both together cost far less than twice one.
    let both = du(&["-c", &a, &b]);
    assert!(
        both < du(&[&a]) * 13 / 10,
        "second env costs too much disk: {both} KiB for both, {} KiB for one",
        du(&[&a])
    );
}

#[test]
fn a_new_environment_is_byte_compiled_in_the_background() {
    let t = TestContext::new();
    t.write(
        "s.py",
        "# /// script\n# dependencies = [\"six==1.16.0\"]\n# ///\nimport six\nprint('ran')\n",
    );
    // The first run does not wait for the bytecode…
    assert_eq!(ok(&t.run(&["run", "s.py"])), "ran\n");
    let env = ok(&t.run(&["build", "s.py"])).trim().to_string();
    let pyc = std::path::Path::new(&env)
        .join("lib/python3.11/site-packages/__pycache__/six.cpython-311.pyc");
    // …which a detached `prisn store optimise` writes shortly after.
    let start = std::time::Instant::now();
    while !pyc.exists() && start.elapsed() < std::time::Duration::from_secs(60) {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(pyc.exists(), "no bytecode after 60 s at {}", pyc.display());
}

#[test]
fn store_ls_pin_and_gc() {
    let t = TestContext::new();
    t.write("one.py", "print(1)\n");
    t.write("two.sh", "echo 2\n");
    let one = ok(&t.run(&["build", "one.py"]));
    ok(&t.run(&["build", "two.sh"]));
    let table = ok(&t.run(&["store", "ls"]));
    assert!(
        table.starts_with("ENTRY") && table.contains("-one ") && table.contains("-two "),
        "{table}"
    );
    ok(&t.run(&["store", "pin", one.trim()]));
    let ls: serde_json::Value =
        serde_json::from_str(&ok(&t.run(&["store", "ls", "-o", "json"]))).unwrap();
    let pinned: Vec<_> = ls
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["pinned"] == true)
        .collect();
    assert_eq!(pinned.len(), 1);
    // Recently used: the default gc keeps everything.
    assert_eq!(ok(&t.run(&["gc"])), "");
    let out = ok(&t.run(&["gc", "--keep", "0s"]));
    assert!(out.starts_with("deleted ") && out.contains("-two"), "{out}");
    assert_eq!(t.store_entries().len(), 1);
    ok(&t.run(&["store", "unpin", one.trim()]));
    ok(&t.run(&["gc", "--keep", "0s"]));
    assert!(t.store_entries().is_empty());
    let err = fails(&t.run(&["store", "pin", "deadbeefdeadbeef"]));
    assert!(err.contains("no store entry matches"), "{err}");
}
