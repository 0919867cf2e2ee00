//! The content-addressed store through the CLI: build, ls, pin, gc, optimise.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use assert_cmd::Command;
use predicates::prelude::*;

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
    let py = host_python();
    let pyc = format!(
        "lib/{}/site-packages/requests/__pycache__/api.{}.pyc",
        py.lib_dir(),
        py.cache_tag()
    );
    let ino = |env: &str| {
        std::os::unix::fs::MetadataExt::ino(
            &std::fs::metadata(std::path::Path::new(env).join(&pyc)).unwrap(),
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
    let py = host_python();
    let pyc = std::path::Path::new(&env).join(format!(
        "lib/{}/site-packages/__pycache__/six.{}.pyc",
        py.lib_dir(),
        py.cache_tag()
    ));
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

/// `prisn ARGS` through assert_cmd (the real binary, this test's home), with the background
/// optimise off and uv copying files, so the store holds identical, unlinked files and no
/// bytecode until `store optimise` runs.
fn unoptimised(t: &TestContext, args: &[&str]) -> assert_cmd::assert::Assert {
    let mut cmd = Command::from_std(t.prisn());
    cmd.env("PRISN_OPTIMISE", "off")
        .env("UV_LINK_MODE", "copy")
        .args(args);
    cmd.assert()
}

fn built_env(t: &TestContext, script: &str) -> String {
    let out = unoptimised(t, &["build", script]).success();
    String::from_utf8_lossy(&out.get_output().stdout)
        .trim()
        .to_string()
}

#[test]
fn store_optimise_byte_compiles_and_links_identical_files() {
    let t = TestContext::new();
    t.write(
        "a/s.py",
        "# /// script\n# dependencies = [\"six==1.16.0\"]\n# ///\n",
    );
    t.write(
        "b/s.py",
        "# /// script\n# dependencies = [\"six==1.16.0\", \"idna==3.7\"]\n# ///\n",
    );
    let (a, b) = (built_env(&t, "a/s.py"), built_env(&t, "b/s.py"));
    let py = host_python();
    let site = format!("lib/{}/site-packages", py.lib_dir());
    let six = |env: &str| Path::new(env).join(&site).join("six.py");
    let pyc = |env: &str| {
        Path::new(env)
            .join(&site)
            .join(format!("__pycache__/six.{}.pyc", py.cache_tag()))
    };
    let ino = |p: &Path| std::fs::metadata(p).unwrap().ino();
    assert!(!pyc(&a).exists() && !pyc(&b).exists());
    assert_ne!(
        ino(&six(&a)),
        ino(&six(&b)),
        "uv copied, nothing is linked yet"
    );

    // --no-compile on one entry: linked against the pool, still no bytecode.
    unoptimised(&t, &["store", "optimise", "--no-compile", &a]).success();
    assert!(!pyc(&a).exists(), "--no-compile wrote bytecode");
    assert!(!pyc(&b).exists(), "an entry that was not named was touched");

    // Every entry: the second one's six.py becomes the first one's, and both get bytecode.
    // (Their pycs differ here: a timestamp pyc records its source's mtime, and uv's copies
    // have their own; with uv's usual hard links they are shared too, see above.)
    let out = unoptimised(&t, &["store", "optimise", "-o", "json"]).success();
    let report: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert!(
        report["linked"].as_u64() > Some(0) && report["saved_bytes"].as_u64() > Some(0),
        "{report}"
    );
    assert!(pyc(&a).exists() && pyc(&b).exists());
    assert_eq!(ino(&six(&a)), ino(&six(&b)));
    // The environment still works, now from its bytecode.
    unoptimised(&t, &["run", "b/s.py"]).success();

    unoptimised(&t, &["store", "optimise", "deadbeefdeadbeef"])
        .failure()
        .stderr(predicate::str::contains(
            "no store entry matches deadbeefdeadbeef; `prisn store ls` lists them",
        ));
}

#[test]
fn gc_dry_run_lists_what_gc_deletes_and_deletes_nothing() {
    let t = TestContext::new();
    t.write("one.py", "print(1)\n");
    t.write("two.sh", "echo 2\n");
    t.write("three.sh", "echo 3\n");
    let one = built_env(&t, "one.py");
    let two = built_env(&t, "two.sh");
    let three = built_env(&t, "three.sh");
    unoptimised(&t, &["store", "pin", &three]).success();
    let before = t.store_entries();
    assert_eq!(before.len(), 3);

    let out = unoptimised(&t, &["gc", "--keep", "0s", "--dry-run"])
        .success()
        .stderr(predicate::str::contains("would delete 2 entries"));
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    let mut listed: Vec<&str> = text
        .lines()
        .map(|l| {
            l.strip_prefix("would delete ")
                .and_then(|r| r.rsplit_once(" ("))
                .map(|(path, _)| path)
                .unwrap_or_else(|| panic!("unexpected line {l:?}"))
        })
        .collect();
    listed.sort();
    let mut unpinned = vec![one.as_str(), two.as_str()];
    unpinned.sort();
    assert_eq!(listed, unpinned);
    assert_eq!(t.store_entries(), before, "a dry run deleted something");
    assert!(Path::new(&one).join("bin/python").exists());

    let json = unoptimised(&t, &["gc", "--keep", "0s", "--dry-run", "-o", "json"]).success();
    let report: serde_json::Value = serde_json::from_slice(&json.get_output().stdout).unwrap();
    assert_eq!(report["dry_run"], true);
    assert_eq!(report["entries"].as_array().unwrap().len(), 2, "{report}");
    assert_eq!(t.store_entries(), before);

    // The real thing deletes exactly what the dry run listed.
    let out = unoptimised(&t, &["gc", "--keep", "0s"]).success();
    let deleted = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    let sorted = |s: &str| {
        let mut lines: Vec<String> = s.lines().map(str::to_string).collect();
        lines.sort();
        lines
    };
    assert_eq!(
        sorted(&deleted),
        sorted(&text.replace("would delete ", "deleted "))
    );
    assert!(!Path::new(&one).exists() && !Path::new(&two).exists());
    assert!(Path::new(&three).exists());
}
