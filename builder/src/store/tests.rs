use std::sync::{Arc, Barrier};

use super::*;
use crate::script::Runtime;

fn record(name: &str) -> Record {
    Record {
        format: FORMAT.into(),
        name: name.into(),
        hash: "h".into(),
        runtime: "python3".into(),
        lock: "l".into(),
        interpreter: "i".into(),
        packages: 0,
        created: "now".into(),
    }
}

fn section(pkgs: usize) -> LockSection {
    LockSection {
        runtime: Runtime::Python3,
        inputs: "sha256:x".into(),
        requires_python: None,
        python: Some("3.11".into()),
        platform: Some("x86_64-manylinux_2_28".into()),
        exclude_newer: None,
        resolver: "uv".into(),
        base: None,
        packages: (0..pkgs)
            .map(|i| crate::lock::Package {
                name: format!("p{i}"),
                version: "1".into(),
                url: None,
                hashes: vec![],
            })
            .collect(),
    }
}

#[test]
fn the_hash_covers_lock_and_interpreter() {
    let a = Store::hash(&section(1), "python 3.11.7");
    assert_eq!(a.len(), 32);
    assert_eq!(a, Store::hash(&section(1), "python 3.11.7"));
    assert_ne!(a, Store::hash(&section(2), "python 3.11.7"));
    assert_ne!(a, Store::hash(&section(1), "python 3.12.1"));
}

#[test]
fn a_failed_build_leaves_nothing_and_a_good_one_appears_whole() {
    let home = tempfile::tempdir().unwrap();
    let store = Store::new(&Home::at(home.path()));
    let err = store
        .ensure("abc", "demo", |tmp| {
            fs::write(tmp.join("half"), "x").unwrap();
            Err(Error::LayerWrite {
                message: "boom".into(),
            })
        })
        .unwrap_err();
    assert!(err.to_string().contains("boom"));
    assert!(store.list().unwrap().is_empty());
    let (path, built) = store
        .ensure("abc", "demo", |tmp| {
            fs::write(tmp.join("file"), "x").unwrap();
            Ok(record("demo"))
        })
        .unwrap();
    assert!(built && path.join("file").is_file() && path.ends_with("abc-demo"));
    let (_, built_again) = store
        .ensure("abc", "demo", |_| panic!("must not rebuild"))
        .unwrap();
    assert!(!built_again);
}

#[test]
fn concurrent_builds_of_one_hash_build_once() {
    let home = tempfile::tempdir().unwrap();
    let store = Store::new(&Home::at(home.path()));
    let builds = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let barrier = Arc::new(Barrier::new(4));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let (store, builds, barrier) = (store.clone(), builds.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                store
                    .ensure("same", "env", |tmp| {
                        builds.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(200));
                        fs::write(tmp.join("f"), "x").unwrap();
                        Ok(record("env"))
                    })
                    .unwrap()
                    .0
            })
        })
        .collect();
    let paths: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(builds.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert!(
        paths
            .iter()
            .all(|p| p == &paths[0] && p.join("f").is_file())
    );
}

#[test]
fn gc_keeps_pinned_and_recent_entries() {
    let home = tempfile::tempdir().unwrap();
    let store = Store::new(&Home::at(home.path()));
    for id in ["aaaa", "bbbb", "cccc"] {
        store.ensure(id, "e", |_| Ok(record("e"))).unwrap();
    }
    store.pin("aaaa-e").unwrap();
    // Make bbbb look old.
    let old = SystemTime::now() - Duration::from_secs(30 * 86400);
    fs::File::options()
        .write(true)
        .open(store.dir().join(".used/bbbb-e"))
        .unwrap()
        .set_modified(old)
        .unwrap();
    let freed = store.gc(Duration::from_secs(86400), false).unwrap();
    assert_eq!(
        freed.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
        vec!["bbbb-e"]
    );
    let left: Vec<_> = store.list().unwrap().into_iter().map(|e| e.id).collect();
    assert_eq!(left, vec!["aaaa-e", "cccc-e"]);
    let freed = store.gc(Duration::ZERO, false).unwrap();
    assert_eq!(
        freed.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
        vec!["cccc-e"]
    );
    assert!(store.unpin("aaaa-e").unwrap());
    assert_eq!(store.gc(Duration::ZERO, true).unwrap().len(), 1);
}

#[test]
fn find_prefers_the_exact_id_and_refuses_ambiguous_prefixes() {
    let home = tempfile::tempdir().unwrap();
    let store = Store::new(&Home::at(home.path()));
    for name in ["web", "web-run"] {
        store
            .ensure("abcdef0123", name, |_| Ok(record(name)))
            .unwrap();
    }
    let p = store.dir().join("abcdef0123-web");
    assert_eq!(
        store.find(p.to_str().unwrap()).unwrap().id,
        "abcdef0123-web"
    );
    assert_eq!(
        store.find("abcdef0123-web-run").unwrap().id,
        "abcdef0123-web-run"
    );
    assert!(
        store.find("abcdef01").is_none(),
        "two entries share that prefix"
    );
    assert!(store.find("abc").is_none(), "too short to be a hash prefix");
}
