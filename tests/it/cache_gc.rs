//! `prisn gc` and the image-build cache (`$PRISN_HOME/cache`): entries not used within
//! `--keep` go, what a build reuses counts as used, a kept pointer keeps its blobs, a dry run
//! deletes nothing and reports what the real run frees, symlinks are never followed out of
//! the cache, a running build's lease keeps gc out, and builds after gc rebuild what went.
//! Ages are made by setting mtimes in the past, never by sleeping.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use prisn_testsupport::registry::Registry;
use serde_json::Value;

use crate::common::*;
use crate::image_common::*;

/// A script with one dependency, so a build fills every image cache a Python build uses:
/// blobs, the dependency layer's pointer, the unpacked base, the base's facts.
const SCRIPT: &str =
    "# /// script\n# dependencies = [\"six==1.16.0\"]\n# ///\nimport six\nprint(six.__version__)\n";

const MONTH: Duration = Duration::from_secs(30 * 24 * 3600);

fn cache(t: &TestContext) -> PathBuf {
    t.home.path().join("cache")
}

/// Set the mtime of `path` (file or directory, not followed if a symlink: those are skipped).
fn set_age(path: &Path, age: Duration) {
    if fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
        return;
    }
    let f = fs::File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    f.set_modified(SystemTime::now() - age).unwrap();
}

/// The entries of every cache kind: children of these directories.
const KIND_DIRS: [&str; 8] = [
    "blobs/sha256",
    "layers-v1",
    "bases-v1",
    "operator-layers-v1",
    "rootfs-v2",
    "base-v2",
    "sbom-debs-v1",
    "debian-v1/sha256",
];

fn entries(t: &TestContext) -> BTreeSet<PathBuf> {
    KIND_DIRS
        .iter()
        .flat_map(|d| {
            fs::read_dir(cache(t).join(d))
                .into_iter()
                .flatten()
                .flatten()
        })
        .map(|e| e.path())
        .collect()
}

fn age_all(t: &TestContext, age: Duration) {
    for e in entries(t) {
        set_age(&e, age);
    }
}

fn gc_json(t: &TestContext, args: &[&str]) -> Value {
    let mut all = vec!["gc", "-o", "json"];
    all.extend_from_slice(args);
    serde_json::from_str(&ok(&t.run(&all))).expect("gc -o json prints JSON")
}

/// The cache entries a gc report lists, as (path, size).
fn reported(report: &Value) -> BTreeSet<(String, u64)> {
    report["cache"]["entries"]
        .as_array()
        .unwrap_or_else(|| panic!("no cache entries in {report}"))
        .iter()
        .map(|e| {
            (
                e["path"].as_str().unwrap().to_string(),
                e["size"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// The one dependency layer pointer and the blob it names.
fn layer_pointer(t: &TestContext) -> (PathBuf, PathBuf) {
    let pointers: Vec<PathBuf> = fs::read_dir(cache(t).join("layers-v1"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    assert_eq!(pointers.len(), 1, "{pointers:?}");
    let layer: Value = serde_json::from_slice(&fs::read(&pointers[0]).unwrap()).unwrap();
    let hex = layer["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:");
    let blob = cache(t).join("blobs/sha256").join(hex);
    (pointers[0].clone(), blob)
}

fn build(t: &TestContext, image: &str, base: &str) -> String {
    digest_of(ok(&build_image(t, "app.py", image, base, &[])).trim())
}

/// A registry with the python3 base, a test home, and the first build of [`SCRIPT`] in it:
/// (registry, context, image reference, base reference, image digest).
fn first_build() -> (Registry, TestContext, String, String, String) {
    let (reg, base) = registry_with_base("python3");
    let t = TestContext::new();
    t.write("app.py", SCRIPT);
    let image = format!("{}/gc/app:v1", reg.host());
    let first = build(&t, &image, &base);
    (reg, t, image, base, first)
}

/// What a build reuses is marked used (mtime, not atime), so a gc right after it keeps
/// everything the image is made of; a kept pointer keeps its blob though the blob is old;
/// the dry run lists exactly what the real run deletes, with the same bytes; and the builds
/// after gc (some of the cache gone, then all of it) give the same image.
#[test]
fn gc_collects_the_image_cache_but_keeps_what_builds_use() {
    let (reg, t, image, base, first) = first_build();
    let (pointer, layer_blob) = layer_pointer(&t);
    assert!(layer_blob.is_file(), "{}", layer_blob.display());
    let rootfs: Vec<PathBuf> = fs::read_dir(cache(&t).join("rootfs-v2"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(rootfs.len(), 1, "one unpacked base: {rootfs:?}");

    // A month old, then reused by a build: used, so a 7-day gc keeps all the image needs.
    age_all(&t, MONTH);
    assert_eq!(build(&t, &image, &base), first);
    let (manifest, _) = raw_manifest(&reg, &image);
    let image_blobs: Vec<PathBuf> = std::iter::once(&manifest["config"])
        .chain(manifest["layers"].as_array().unwrap())
        .map(|d| {
            let hex = d["digest"].as_str().unwrap().trim_start_matches("sha256:");
            cache(&t).join("blobs/sha256").join(hex)
        })
        .collect();
    for used in image_blobs.iter().chain([&pointer, &rootfs[0]]) {
        let age = fs::metadata(used)
            .and_then(|m| m.modified())
            .map(|m| m.elapsed().unwrap_or_default())
            .unwrap();
        assert!(
            age < MONTH / 2,
            "{} was reused by the build but is not marked used",
            used.display()
        );
    }
    let report = gc_json(&t, &["--keep", "7d"]);
    for blob in image_blobs.iter().chain([&pointer]) {
        assert!(
            blob.exists(),
            "{} was used by the last build but gc deleted it: {report}",
            blob.display()
        );
    }

    // Everything a month old but the layer pointer: it keeps its (old) blob alive.
    age_all(&t, MONTH);
    set_age(&pointer, Duration::ZERO);
    let before = entries(&t);
    let dry = gc_json(&t, &["--keep", "7d", "--dry-run"]);
    assert_eq!(dry["dry_run"], true);
    assert_eq!(entries(&t), before, "a dry run deleted something");
    let real = gc_json(&t, &["--keep", "7d"]);
    assert_eq!(
        reported(&real),
        reported(&dry),
        "dry run and real run differ"
    );
    assert_eq!(real["cache"]["freed_bytes"], dry["cache"]["freed_bytes"]);
    let freed: u64 = reported(&real).iter().map(|(_, n)| n).sum();
    assert!(
        freed > 1 << 20,
        "an unpacked base alone is megabytes: {real}"
    );
    assert_eq!(real["cache"]["freed_bytes"], freed);
    assert!(
        pointer.is_file() && layer_blob.is_file(),
        "kept pointer lost its blob: {real}"
    );
    assert!(!rootfs[0].exists(), "the month-old unpacked base stayed");
    let left = entries(&t);
    assert_eq!(
        left,
        BTreeSet::from([pointer.clone(), layer_blob.clone()]),
        "only the pointer and its blob stay"
    );

    // Builds after gc fetch and rebuild what went, to the same image.
    assert_eq!(build(&t, &image, &base), first);
    gc_json(&t, &["--keep", "0s"]);
    assert!(entries(&t).is_empty(), "{:?}", entries(&t));
    assert_eq!(build(&t, &image, &base), first);
    assert!(layer_pointer(&t).1.is_file());
}

/// A cache entry holding symlinks to files outside (a planted link, or a base whose layers
/// carry absolute links) and read-only directories: gc deletes the entry, the links with
/// it, and never what they point at.
#[test]
fn gc_never_follows_a_symlink_out_of_the_cache() {
    let t = TestContext::new();
    let outside = tempfile::tempdir().unwrap();
    let victim = outside.path().join("precious.txt");
    fs::write(&victim, "keep me").unwrap();
    let victim_dir = outside.path().join("dir");
    fs::create_dir(&victim_dir).unwrap();
    fs::write(victim_dir.join("inner.txt"), "keep me too").unwrap();
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    fs::set_permissions(&victim_dir, fs::Permissions::from_mode(0o555)).unwrap();

    let rootfs = cache(&t).join("rootfs-v2").join("a".repeat(64));
    fs::create_dir_all(rootfs.join("etc/ro")).unwrap();
    fs::write(rootfs.join("etc/ro/file"), "x").unwrap();
    std::os::unix::fs::symlink(&victim, rootfs.join("etc/passwd")).unwrap();
    std::os::unix::fs::symlink(&victim_dir, rootfs.join("etc/dirlink")).unwrap();
    fs::set_permissions(rootfs.join("etc/ro"), fs::Permissions::from_mode(0o555)).unwrap();
    fs::set_permissions(&rootfs, fs::Permissions::from_mode(0o555)).unwrap();
    // Entries that are themselves links out.
    let blobs = cache(&t).join("blobs/sha256");
    fs::create_dir_all(&blobs).unwrap();
    let link_blob = blobs.join("b".repeat(64));
    std::os::unix::fs::symlink(&victim, &link_blob).unwrap();
    let link_rootfs = cache(&t).join("rootfs-v2").join("c".repeat(64));
    std::os::unix::fs::symlink(&victim_dir, &link_rootfs).unwrap();

    // The text report: one line per entry, then what it frees.
    let out = t.run(&["gc", "--keep", "0s", "--dry-run"]);
    let lines = ok(&out);
    assert_eq!(
        lines
            .lines()
            .filter(|l| l.starts_with("would delete "))
            .count(),
        3,
        "{lines}"
    );
    assert!(
        stderr(&out).contains("would delete 3 entries from the image cache"),
        "{}",
        stderr(&out)
    );
    let report = gc_json(&t, &["--keep", "0s"]);
    assert_eq!(reported(&report).len(), 3, "{report}");
    assert_eq!(fs::read_to_string(&victim).unwrap(), "keep me");
    assert_eq!(
        fs::read_to_string(victim_dir.join("inner.txt")).unwrap(),
        "keep me too"
    );
    assert_eq!(
        mode(&victim_dir),
        0o555,
        "gc changed the mode of a directory outside"
    );
    fs::set_permissions(&victim_dir, fs::Permissions::from_mode(0o755)).unwrap();
    assert!(!rootfs.exists(), "the read-only entry stayed: {report}");
    assert!(fs::symlink_metadata(&link_blob).is_err());
    assert!(fs::symlink_metadata(&link_rootfs).is_err());
}

/// A build holds a shared lock on `cache/.lock` while it uses the cache: gc leaves the
/// cache alone then, says so, and collects it once the build is done.
#[test]
fn gc_leaves_the_cache_alone_while_a_build_holds_it() {
    let t = TestContext::new();
    let old = cache(&t)
        .join("base-v2")
        .join(format!("{}.json", "d".repeat(64)));
    fs::create_dir_all(old.parent().unwrap()).unwrap();
    fs::write(&old, "{}").unwrap();
    set_age(&old, MONTH);

    let lock = fs::File::create(cache(&t).join(".lock")).unwrap();
    lock.lock_shared().unwrap();
    let out = t.run(&["gc", "--keep", "7d"]);
    assert!(
        stderr(&out).contains("a build is using the image cache"),
        "{}",
        stderr(&out)
    );
    assert!(old.is_file(), "gc deleted under a running build");
    let report = gc_json(&t, &["--keep", "7d"]);
    assert!(report["cache"]["skipped"].is_string(), "{report}");
    lock.unlock().unwrap();

    let report = gc_json(&t, &["--keep", "7d"]);
    assert!(report["cache"].get("skipped").is_none(), "{report}");
    assert!(
        !old.exists(),
        "not collected once the build was done: {report}"
    );
}

/// A flock(2) lock of `pid` on the file with inode `ino`, from /proc/locks: `Some(true)` when
/// it holds one, `Some(false)` when it waits for one, `None` when neither.
fn flock_of(pid: u32, ino: u64) -> Option<bool> {
    let locks = fs::read_to_string("/proc/locks").unwrap();
    locks.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        let waiting = f.get(1) == Some(&"->");
        let f = if waiting { &f[1..] } else { &f[..] };
        let ours = f.get(1) == Some(&"FLOCK")
            && f.get(4) == Some(&pid.to_string().as_str())
            && f.get(5).is_some_and(|d| d.ends_with(&format!(":{ino}")));
        ours.then_some(!waiting)
    })
}

/// Poll until `pid` holds (`true`) or waits for (`false`) a flock on `lock`; fails when the
/// child exits first.
fn wait_for_flock(child: &mut std::process::Child, lock: &Path, held: bool) {
    use std::os::unix::fs::MetadataExt;
    let ino = fs::metadata(lock).unwrap().ino();
    loop {
        if flock_of(child.id(), ino) == Some(held) {
            return;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "the build ended ({status}) before it was seen with the cache lock (held: {held})"
            );
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// `prisn ARGS` started, once /proc/locks shows it waiting for (`holding: false`) or holding
/// (`true`) the cache lock at `lock_path`.
fn spawn_at_lock(
    t: &TestContext,
    args: &[&str],
    lock_path: &Path,
    holding: bool,
) -> std::process::Child {
    let mut child = t
        .prisn()
        .args(args)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_flock(&mut child, lock_path, holding);
    child
}

/// A build during a gc waits for it; a gc during a build leaves the cache alone. Both builds
/// succeed with the image of a build alone. The build is caught holding its lease (in
/// /proc/locks) and stopped there, so the gc surely runs under it.
#[test]
fn gc_and_a_concurrent_build_never_break_each_other() {
    let (_reg, t, image, base, first) = first_build();
    let lock_path = cache(&t).join(".lock");
    let args = ["build", "app.py", "--image", &image, "--base", &base];

    // gc holds the cache (as the test does here): the build waits, then succeeds.
    let lock = fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .unwrap();
    lock.lock().unwrap();
    let mut child = spawn_at_lock(&t, &args, &lock_path, false);
    assert!(
        child.try_wait().unwrap().is_none(),
        "the build went on during a gc"
    );
    lock.unlock().unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(digest_of(ok(&out).trim()), first);

    // A build holds the cache (stopped while it does): gc skips it, the build succeeds.
    let before = entries(&t);
    let child = spawn_at_lock(&t, &args, &lock_path, true);
    let pid = child.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-STOP", &pid])
            .status()
            .unwrap()
            .success()
    );
    let report = gc_json(&t, &["--keep", "0s"]);
    assert!(
        std::process::Command::new("kill")
            .args(["-CONT", &pid])
            .status()
            .unwrap()
            .success()
    );
    assert!(report["cache"]["skipped"].is_string(), "{report}");
    assert!(
        before.iter().all(|e| e.exists()),
        "gc deleted under a running build: {report}"
    );
    let out = child.wait_with_output().unwrap();
    assert_eq!(digest_of(ok(&out).trim()), first);
}
