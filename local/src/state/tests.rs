use std::collections::BTreeMap;
use std::path::PathBuf;

use prisn_builder::script::Runtime;

use super::*;
use crate::api::{ConcurrencyPolicy, Isolation};

fn spec(kind: Kind, args: &[&str]) -> Spec {
    Spec {
        kind,
        source: "api.py".into(),
        origin: None,
        runtime: Runtime::Python3,
        entrypoint: "api.py".into(),
        code_dir: PathBuf::from("/code/x"),
        code_digest: "sha256:x".into(),
        env_dir: PathBuf::from("/store/x"),
        args: args.iter().map(|s| s.to_string()).collect(),
        env: BTreeMap::new(),
        port: Some(8080),
        schedule: None,
        concurrency: ConcurrencyPolicy::Forbid,
        isolation: Isolation::Auto,
        network: Default::default(),
        memory: None,
        cpu: None,
        storage: Vec::new(),
    }
}

fn db() -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(&dir.path().join("state.db")).unwrap();
    (dir, db)
}

#[test]
fn puts_count_generations_and_tell_changes_from_repeats() {
    let (_dir, mut db) = db();
    let a = spec(Kind::App, &[]);
    let first = db.put("api", &a, 1, Expect::Absent).unwrap();
    assert!(first.created && first.changed && first.generation == 1);
    let same = db.put("api", &a, 1, Expect::Generation(1)).unwrap();
    assert!(!same.created && !same.changed && same.generation == 1);
    let scaled = db.put("api", &a, 0, Expect::Any).unwrap();
    assert!(scaled.changed && !scaled.spec_changed && scaled.generation == 1);
    let changed = db
        .put("api", &spec(Kind::App, &["-v"]), 1, Expect::Any)
        .unwrap();
    assert!(changed.spec_changed && changed.generation == 2);
    let rec = db.get("api").unwrap().unwrap();
    assert_eq!(
        (rec.generation, rec.replicas, rec.spec.args.len()),
        (2, 1, 1)
    );
    assert_eq!(db.list().unwrap().len(), 1);
    assert!(db.delete("api").unwrap());
    assert!(db.get("api").unwrap().is_none());
    assert!(!db.delete("api").unwrap());
}

#[test]
fn concurrent_deploys_and_kind_clashes_are_conflicts() {
    let (_dir, mut db) = db();
    db.put("api", &spec(Kind::App, &[]), 1, Expect::Absent)
        .unwrap();
    // A second CLI that found the name free while preparing.
    let err = db
        .put("api", &spec(Kind::App, &["x"]), 1, Expect::Absent)
        .unwrap_err();
    assert_eq!(err.status(), 409);
    assert!(err.to_string().contains("another prisn"), "{err}");
    // One that prepared against generation 1 after it moved on.
    db.put("api", &spec(Kind::App, &["y"]), 1, Expect::Any)
        .unwrap();
    let err = db
        .put("api", &spec(Kind::App, &["z"]), 1, Expect::Generation(1))
        .unwrap_err();
    assert!(err.to_string().contains("generation 1 → 2"), "{err}");
    let err = db
        .put("api", &spec(Kind::Job, &[]), 1, Expect::Any)
        .unwrap_err();
    assert!(err.to_string().contains("taken by an app"), "{err}");
    // Nothing of the refused deploys was written.
    assert_eq!(db.get("api").unwrap().unwrap().spec.args, vec!["y"]);
}

#[test]
fn runs_are_recorded_found_open_and_pruned() {
    let (_dir, mut db) = db();
    db.put("cron", &spec(Kind::CronJob, &[]), 1, Expect::Any)
        .unwrap();
    let mut ids = Vec::new();
    for i in 0..5 {
        let id = db.insert_run("cron", 1, Some(i)).unwrap();
        db.set_run_shim(id, 100 + i as i32, 42).unwrap();
        ids.push(id);
    }
    assert_eq!(db.open_runs().unwrap().len(), 5);
    for id in &ids[..4] {
        db.finish_run(
            *id,
            &Ending {
                ended_ms: 1,
                exit_code: Some(0),
                reason: "Completed".into(),
                ..Ending::default()
            },
        )
        .unwrap();
    }
    let open = db.open_runs().unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(
        (open[0].shim_pid, open[0].shim_start),
        (Some(104), Some(42))
    );
    let pruned = db.prune_runs("cron", 2).unwrap();
    assert_eq!(pruned, vec![ids[1], ids[0]]);
    let left: Vec<i64> = db.runs("cron", 10).unwrap().iter().map(|r| r.id).collect();
    assert_eq!(left, vec![ids[4], ids[3], ids[2]]);
    // Runs go with their workload.
    db.delete("cron").unwrap();
    assert!(db.runs("cron", 10).unwrap().is_empty());
}

#[test]
fn a_corrupt_file_is_refused_and_left_as_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let garbage = b"this is not a database, but it is somebody's data\n".repeat(100);
    std::fs::write(&path, &garbage).unwrap();
    let err = Db::open(&path).err().expect("refused");
    assert_eq!(err.status(), 503);
    assert!(
        err.to_string()
            .contains("state.db is not a readable prisn state database"),
        "{err}"
    );
    assert!(err.hint().unwrap().contains("mv "), "{:?}", err.hint());
    assert_eq!(std::fs::read(&path).unwrap(), garbage);
}

#[test]
fn foreign_and_newer_databases_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let foreign = dir.path().join("foreign.db");
    rusqlite::Connection::open(&foreign)
        .unwrap()
        .execute_batch("CREATE TABLE t (x)")
        .unwrap();
    let err = Db::open(&foreign).err().expect("refused");
    assert!(err.to_string().contains("not prisn's"), "{err}");

    let newer = dir.path().join("newer.db");
    rusqlite::Connection::open(&newer)
        .unwrap()
        .execute_batch("PRAGMA user_version = 99")
        .unwrap();
    let err = Db::open(&newer).err().expect("refused");
    assert!(err.to_string().contains("schema version 99"), "{err}");
}

#[test]
fn a_migration_backs_the_file_up_first() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    {
        let mut db = Db::open(&path).unwrap();
        db.put("api", &spec(Kind::App, &[]), 1, Expect::Any)
            .unwrap();
    }
    let mut next: Vec<&str> = MIGRATIONS.to_vec();
    next.push("ALTER TABLE workloads ADD COLUMN note TEXT;");
    let db = Db::open_with(&path, &next).unwrap();
    assert!(db.get("api").unwrap().is_some());
    let before = format!(".v{}-", MIGRATIONS.len());
    let backups: Vec<PathBuf> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().contains(&before))
        .collect();
    assert_eq!(backups.len(), 1, "{backups:?}");
    // The backup is the old version with the old data.
    let old = Db::open(&backups[0]).unwrap();
    assert!(old.get("api").unwrap().is_some());
}

#[test]
fn a_locked_database_is_refused_at_open_naming_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    drop(Db::open(&path).unwrap());
    let holder = rusqlite::Connection::open(&path).unwrap();
    holder.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let err = Db::open(&path).err().expect("refused while locked");
    assert!(err.to_string().contains("state.db is locked by"), "{err}");
    assert!(
        err.hint().unwrap().contains("close whatever holds it"),
        "{err:?}"
    );
    holder.execute_batch("ROLLBACK").unwrap();
    Db::open(&path).unwrap();
}

#[test]
fn each_spec_change_is_a_release_and_pruning_keeps_the_newest() {
    let (_dir, mut db) = db();
    let meta = ReleaseMeta {
        lock_digest: Some("sha256:l".into()),
        who: Some("ada".into()),
        rollback_of: None,
    };
    for args in [&["a"][..], &["b"], &["b"], &["c"]] {
        db.put_release("api", &spec(Kind::App, args), 1, Expect::Any, &meta)
            .unwrap();
    }
    // Scaling is no release: the artifact did not change.
    db.put("api", &spec(Kind::App, &["c"]), 0, Expect::Any)
        .unwrap();
    let all = db.releases("api").unwrap();
    let revs: Vec<i64> = all.iter().map(|r| r.revision).collect();
    assert_eq!(revs, [3, 2, 1]);
    assert_eq!(all[0].spec.args, ["c"]);
    assert_eq!(all[0].who.as_deref(), Some("ada"));
    let gone = db.prune_releases("api", 2).unwrap();
    assert_eq!(gone.iter().map(|r| r.revision).collect::<Vec<_>>(), [1]);
    assert_eq!(db.all_releases().unwrap().len(), 2);
    // Releases go with their workload.
    db.delete("api").unwrap();
    assert!(db.all_releases().unwrap().is_empty());
}

#[test]
fn the_v2_migration_makes_each_workload_s_spec_its_first_release() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    {
        let db = Db::open_with(&path, &MIGRATIONS[..1]).unwrap();
        db.conn
            .execute(
                "INSERT INTO workloads (name, kind, spec, generation, replicas, created_ms, updated_ms)
                 VALUES ('api', 'app', ?1, 3, 1, 1, 2)",
                params![serde_json::to_string(&spec(Kind::App, &["x"])).unwrap()],
            )
            .unwrap();
    }
    let db = Db::open(&path).unwrap();
    let r = db.releases("api").unwrap();
    assert_eq!((r.len(), r[0].revision, r[0].created_ms), (1, 3, 2));
    assert_eq!(r[0].spec.args, ["x"]);
}
