//! The schema of state.db, one migration per version (`PRAGMA user_version`). Migrations only
//! ever get appended; the file is backed up before any of them runs on existing data.

/// `MIGRATIONS[i]` takes the schema from version `i` to `i + 1`.
pub const MIGRATIONS: &[&str] = &[
    // v1: workloads and their runs.
    r#"
    CREATE TABLE workloads (
        name             TEXT PRIMARY KEY,
        kind             TEXT NOT NULL CHECK (kind IN ('app', 'job', 'cronjob')),
        spec             TEXT NOT NULL,          -- JSON api::Spec
        generation       INTEGER NOT NULL,       -- +1 per spec change
        replicas         INTEGER NOT NULL,       -- desired: 0 or 1 (cron jobs: 0 = suspended)
        created_ms       INTEGER NOT NULL,
        updated_ms       INTEGER NOT NULL,
        restarts         INTEGER NOT NULL DEFAULT 0,
        last_schedule_ms INTEGER                 -- cron: the last slot handled (run or skipped)
    );
    CREATE TABLE runs (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        workload    TEXT NOT NULL REFERENCES workloads(name) ON DELETE CASCADE,
        generation  INTEGER NOT NULL,
        slot_ms     INTEGER,                     -- cron: the slot this run is for
        started_ms  INTEGER NOT NULL,
        shim_pid    INTEGER,                     -- the supervising process…
        shim_start  INTEGER,                     -- …and its start time (/proc/<pid>/stat), to re-adopt it
        pid         INTEGER,                     -- the script's process (host pid)
        report      TEXT,                        -- JSON shim::Started
        ended_ms    INTEGER,
        exit_code   INTEGER,
        signal      INTEGER,
        reason      TEXT,
        message     TEXT
    );
    CREATE INDEX runs_by_workload ON runs (workload, id);
    "#,
    // v2: releases, one per spec change (a deploy or a rollback), bounded per workload. The
    // workloads already there get their current spec as their first release.
    r#"
    CREATE TABLE releases (
        workload    TEXT NOT NULL REFERENCES workloads(name) ON DELETE CASCADE,
        revision    INTEGER NOT NULL,            -- the workload's generation when recorded
        spec        TEXT NOT NULL,               -- JSON api::Spec: code, environment, flags
        lock_digest TEXT,
        who         TEXT,
        created_ms  INTEGER NOT NULL,
        rollback_of INTEGER,                     -- made by `prisn rollback --to` this revision
        PRIMARY KEY (workload, revision)
    );
    INSERT INTO releases (workload, revision, spec, created_ms)
        SELECT name, generation, spec, updated_ms FROM workloads;
    "#,
];
