//! The daemon's write operations: deploy, delete, scale. Each checks its input first (names,
//! schedules, quantities, ports), then changes state.db in one transaction and tells the
//! workload's worker.

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use prisn_builder::store::Store;

use crate::api::{DeployBody, DeployReply, Isolation, Kind, Network, Spec, WorkloadView, now_ms};
use crate::hub::{Daemon, blocking};
use crate::state::{Record, ReleaseMeta};
use crate::{Error, Result, code, cron, limits, name, quantity, view};

/// Create or replace the workload `name`. Returns whether it was created.
pub(crate) async fn deploy(
    d: Arc<Daemon>,
    name: String,
    body: DeployBody,
) -> Result<(bool, DeployReply)> {
    name::validate(&name)?;
    crate::validate::deploy_body(&d.paths, &body)?;
    let mut notes = check(&name, &body)?;
    let requested = limits::Requested {
        memory: body.memory.as_deref().map(quantity::memory).transpose()?,
        cpu_millis: body.cpu.as_deref().map(quantity::cpu).transpose()?,
    };
    // Each run gets its own cgroup leaf; `status` names it. Here only the mechanism matters.
    notes.extend(
        limits::plan(requested, "check")?
            .notes
            .iter()
            .map(|n| n.split(" (/").next().unwrap_or(n).to_string()),
    );
    if body.isolation == Isolation::None {
        if body.network == Network::None {
            return Err(Error::invalid(
                "--network none needs a network namespace, and --isolation none has none",
                Some("drop --isolation none".to_string()),
            ));
        }
        notes.push("isolation none: a plain process that sees the whole machine".into());
    }

    let _guard = d.deploy_lock.lock().await;
    let existing = d.db(|db| db.get(&name))?;
    let origin = std::fs::canonicalize(body.code.root.join(&body.code.entrypoint)).ok();
    if let Some(rec) = &existing
        && !body.replace
        && rec.kind == body.kind
    {
        check_same_source(&name, rec, &body.source, origin.as_deref())?;
    }
    if let Some(port) = body.port {
        check_port(&d, &name, port, existing.as_ref())?;
    }
    let code_root = d.paths.code();
    let source = body.code.clone();
    let dry_run = body.dry_run;
    let snap = tokio::task::spawn_blocking(move || {
        if dry_run {
            code::locate(&code_root, &source)
        } else {
            code::snapshot(&code_root, &source)
        }
    })
    .await
    .map_err(|source| Error::Task {
        what: "code snapshot",
        source,
    })??;
    let spec = Spec {
        kind: body.kind,
        source: body.source.clone(),
        origin,
        runtime: body.code.runtime,
        entrypoint: body.code.entrypoint.clone(),
        code_dir: snap.dir,
        code_digest: snap.digest,
        env_dir: body.env_dir.clone(),
        args: body.args.clone(),
        env: body.env.clone(),
        port: body.port,
        schedule: body.schedule.clone(),
        concurrency: body.concurrency,
        isolation: body.isolation,
        network: body.network,
        memory: body.memory.clone(),
        cpu: body.cpu.clone(),
        storage: body.storage.clone(),
    };
    let replicas = body.replicas.min(1);
    if body.dry_run {
        let changed = existing
            .as_ref()
            .is_none_or(|r| r.spec != spec || r.replicas != replicas);
        return Ok((
            existing.is_none(),
            DeployReply {
                name,
                kind: body.kind,
                generation: existing.as_ref().map_or(0, |r| r.generation),
                created: existing.is_none(),
                changed,
                dry_run: true,
                notes,
            },
        ));
    }
    let meta = ReleaseMeta {
        lock_digest: body.lock_digest.clone(),
        who: body.who.clone(),
        rollback_of: None,
    };
    let outcome = d.db(|db| db.put_release(&name, &spec, replicas, body.expect, &meta))?;
    crash_here_for_tests();
    activate(&d, &name, existing.as_ref(), &spec, outcome.spec_changed).await;
    tracing::info!(
        "deployed {} {name} (generation {}, {})",
        body.kind,
        outcome.generation,
        if outcome.created {
            "created"
        } else if outcome.changed {
            "changed"
        } else {
            "unchanged"
        }
    );
    Ok((
        outcome.created,
        DeployReply {
            name,
            kind: body.kind,
            generation: outcome.generation,
            created: outcome.created,
            changed: outcome.changed,
            dry_run: false,
            notes,
        },
    ))
}

/// Make what state.db now says current: pin its environment (and those of the releases kept),
/// drop releases beyond the limit, save the record, (re)start the worker, collect code.
pub(crate) async fn activate(
    d: &Arc<Daemon>,
    name: &str,
    old: Option<&Record>,
    spec: &Spec,
    changed: bool,
) {
    let mut unused: Vec<PathBuf> = old.map(|r| r.spec.env_dir.clone()).into_iter().collect();
    match d.db(|db| db.prune_releases(name, d.config.releases)) {
        Ok(gone) => unused.extend(gone.into_iter().map(|r| r.spec.env_dir)),
        Err(e) => tracing::warn!("{name}: old releases not pruned: {e}"),
    }
    pin_env(d, &spec.env_dir);
    for env in unused.iter().filter(|e| **e != spec.env_dir) {
        unpin_if_unused(d, env);
    }
    d.save_record(name);
    crate::supervisor::spawn(d, name, Vec::new());
    d.notify(name);
    if changed {
        collect_code(d).await;
    }
}

/// A redeploy must deploy the same source; another script replacing a running workload
/// takes `--replace` (the same rule for apps, jobs and cron jobs).
fn check_same_source(name: &str, rec: &Record, source: &str, origin: Option<&Path>) -> Result<()> {
    let same = match (&rec.spec.origin, origin) {
        (Some(old), Some(new)) => old == new,
        // A record from before origins were kept: compare what the user named.
        _ => normalize(&rec.spec.source) == normalize(source),
    };
    if same {
        return Ok(());
    }
    Err(Error::conflict(
        format!(
            "{} {name} runs {}; deploying {source} would replace it",
            rec.kind.noun(),
            rec.spec.source
        ),
        Some(format!(
            "pass --replace to replace it, or choose another --name (`prisn deploy {source} --name NAME`)"
        )),
    ))
}

fn normalize(source: &str) -> std::path::PathBuf {
    Path::new(source)
        .components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .collect()
}

/// A fault for tests (a crash between applying a change and answering; no real way to cause
/// it at that instant): when `PRISN_TEST_FAULT_CRASH_AFTER_COMMIT` names a file that exists,
/// remove it and abort.
fn crash_here_for_tests() {
    if let Some(marker) = std::env::var_os("PRISN_TEST_FAULT_CRASH_AFTER_COMMIT")
        && std::fs::remove_file(&marker).is_ok()
    {
        std::process::abort();
    }
}

/// Everything about a deploy that can be checked without looking at the machine.
fn check(name: &str, body: &DeployBody) -> Result<Vec<String>> {
    let mut notes = Vec::new();
    match (body.kind, &body.schedule) {
        (Kind::CronJob, None) => {
            return Err(Error::invalid(
                "a cron job needs a schedule",
                Some("pass --schedule \"*/5 * * * *\"".to_string()),
            ));
        }
        (Kind::App | Kind::Job, Some(_)) => {
            return Err(Error::invalid(
                format!("a schedule makes a cron job, not a {}", body.kind.noun()),
                None,
            ));
        }
        (Kind::CronJob, Some(s)) if cron::parse(s)?.has_seconds() => {
            notes.push(format!(
                "schedule {s:?} has a seconds field: local mode only (Kubernetes CronJobs take 5 fields)"
            ));
        }
        _ => {}
    }
    if let Some(port) = body.port {
        if body.kind != Kind::App {
            return Err(Error::invalid(
                format!("--port is for apps, not a {}", body.kind.noun()),
                None,
            ));
        }
        if port == 0 {
            return Err(Error::invalid(
                "--port 0 is not a port",
                Some("choose a port from 1 to 65535, e.g. --port 8080".to_string()),
            ));
        }
        if body.env.contains_key("PORT") {
            return Err(Error::invalid(
                "both --port and --env PORT=… are given",
                Some("drop --env PORT: --port sets PORT for the app".to_string()),
            ));
        }
    }
    if body.replicas > 1 {
        return Err(match body.kind {
            Kind::App => too_many(name, body.replicas),
            _ => Error::invalid(
                format!(
                    "a {} cannot have {} replicas",
                    body.kind.noun(),
                    body.replicas
                ),
                None,
            ),
        });
    }
    for key in body.env.keys() {
        if key.is_empty() || key.contains('=') || key.contains('\0') {
            return Err(Error::invalid(
                format!("invalid environment variable name {key:?}"),
                Some("use --env KEY=VALUE with a KEY without '='".to_string()),
            ));
        }
    }
    let mut volumes = BTreeSet::new();
    for v in &body.storage {
        name::validate(&v.name).map_err(|_| {
            Error::invalid(
                format!(
                    "invalid storage name {:?}: a lowercase DNS label is needed",
                    v.name
                ),
                Some("use --storage data=/var/lib/app:1Gi".to_string()),
            )
        })?;
        if !volumes.insert(v.name.clone()) {
            return Err(Error::invalid(
                format!("storage {:?} is given twice", v.name),
                None,
            ));
        }
        if !v.path.is_absolute() {
            return Err(Error::invalid(
                format!(
                    "storage {} mount path {} is not absolute",
                    v.name,
                    v.path.display()
                ),
                None,
            ));
        }
        // Local mode mounts storage over a directory that exists on this machine, or one in
        // the app's private /tmp (created there); a missing one would crash-loop every start.
        if !v.path.is_dir() && !v.path.starts_with("/tmp") {
            return Err(Error::invalid(
                format!(
                    "storage {} mount path {} does not exist on this machine",
                    v.name,
                    v.path.display()
                ),
                Some(format!(
                    "local mode mounts storage over an existing directory: create it (`mkdir -p {}`), or mount under /tmp (e.g. --storage {}=/tmp/{}), which is private to the app",
                    v.path.display(),
                    v.name,
                    v.name
                )),
            ));
        }
        if body.isolation == Isolation::None {
            return Err(Error::invalid(
                "--storage needs a mount namespace, and --isolation none has none",
                Some(
                    "drop --isolation none, or let the app use a directory of its own".to_string(),
                ),
            ));
        }
        if v.size.is_some() {
            notes.push(format!("storage {}: the size is not enforced in local mode (a directory under $PRISN_HOME/volumes)", v.name));
        }
    }
    if !body.env_dir.is_dir() {
        return Err(Error::invalid(
            format!(
                "the environment {} does not exist (collected by `prisn gc`?)",
                body.env_dir.display()
            ),
            Some("deploy again: prisn builds it".to_string()),
        ));
    }
    Ok(notes)
}

fn too_many(name: &str, n: u32) -> Error {
    Error::invalid(
        format!(
            "local mode runs a single instance of each app; {n} replicas of {name} need a Kubernetes context"
        ),
        Some(format!(
            "add one with `prisn context add prod --mode kubernetes`, then `prisn --context prod deploy …` or `prisn --context prod scale {name} {n}`"
        )),
    )
}

/// Is `port` free for `name`? Another workload's port or any other listener is a conflict.
pub(crate) fn check_port(
    d: &Daemon,
    name: &str,
    port: u16,
    existing: Option<&Record>,
) -> Result<()> {
    for rec in d.db(|db| db.list())? {
        if rec.name != name && rec.spec.port == Some(port) && rec.replicas > 0 {
            return Err(Error::conflict(
                format!(
                    "port {port} is already used by {} {}",
                    rec.kind.noun(),
                    rec.name
                ),
                Some(format!(
                    "choose another --port, or free it with `prisn scale {0} 0` or `prisn delete {0}`",
                    rec.name
                )),
            ));
        }
    }
    // A redeploy on the same port: the port is held by the app's own running process.
    if existing.is_some_and(|e| e.spec.port == Some(port) && e.replicas > 0) {
        return Ok(());
    }
    match TcpListener::bind(("0.0.0.0", port)) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            let who = crate::proc::port_owner(port)
                .map(|(pid, cmd)| format!("pid {pid} ({cmd})"))
                .unwrap_or_else(|| "another process".into());
            Err(Error::conflict(
                format!("port {port} is already in use by {who}"),
                Some("stop that process or choose another --port".to_string()),
            ))
        }
        Err(e) => Err(Error::invalid(
            format!("cannot use port {port}: {e}"),
            Some(
                "ports below 1024 need root (or CAP_NET_BIND_SERVICE); choose another --port"
                    .to_string(),
            ),
        )),
    }
}

/// Collect unused code snapshots; a failure to tell what is in use deletes nothing.
async fn collect_code(d: &Arc<Daemon>) {
    if let Err(e) = crate::gc::collect_code(d).await {
        tracing::warn!("code snapshots not collected: {e}");
    }
}

/// Pin the environment a workload runs from (so `prisn gc` keeps it). Environments stay
/// pinned while a workload or a kept release names them.
fn pin_env(d: &Daemon, env: &Path) {
    let home = d.paths.home();
    if !env.starts_with(home.store()) {
        return;
    }
    if let Some(id) = env.file_name().map(|n| n.to_string_lossy().into_owned())
        && let Err(e) = Store::new(&home).pin(&id)
    {
        tracing::warn!("cannot pin {id}: {e}");
    }
}

fn unpin_if_unused(d: &Daemon, env: &Path) {
    let home = d.paths.home();
    if !env.starts_with(home.store()) {
        return;
    }
    // Fail closed: when the records cannot be read, the pin stays.
    let used = match d.db(|db| Ok((db.list()?, db.all_releases()?))) {
        Ok((records, releases)) => {
            records.iter().any(|r| r.spec.env_dir == env)
                || releases.iter().any(|r| r.spec.env_dir == env)
        }
        Err(e) => {
            tracing::warn!("keeping the pin of {}: {e}", env.display());
            true
        }
    };
    if !used && let Some(id) = env.file_name() {
        let _ = Store::new(&home).unpin(&id.to_string_lossy());
    }
}

/// Stop `name`'s processes and remove it with its logs, run records and code snapshot.
/// Storage directories are kept (like a Kubernetes claim with reclaimPolicy Retain).
pub(crate) async fn delete(d: Arc<Daemon>, name: String) -> Result<Vec<String>> {
    let _guard = d.deploy_lock.lock().await;
    let rec = d
        .db(|db| db.get(&name))?
        .ok_or_else(|| Error::NotFound(name.clone()))?;
    let released = d.db(|db| db.releases(&name))?;
    d.stop_worker(&name).await;
    // The saved record goes first: a crash after it leaves the record in state.db, never a
    // deleted workload that a restart would bring back.
    let _ = std::fs::remove_file(d.paths.runs(&name).join(crate::state::recovery::WORKLOAD));
    d.db(|db| db.delete(&name))?;
    let logs = d.paths.log_file(&name);
    let runs = d.paths.runs(&name);
    let removed = tokio::task::spawn_blocking(move || {
        crate::logs::remove(&logs);
        let _ = std::fs::remove_dir_all(runs);
    })
    .await;
    if let Err(e) = removed {
        tracing::warn!("{name}: removing its files failed: {e}");
    }
    unpin_if_unused(&d, &rec.spec.env_dir);
    for r in released
        .iter()
        .filter(|r| r.spec.env_dir != rec.spec.env_dir)
    {
        unpin_if_unused(&d, &r.spec.env_dir);
    }
    collect_code(&d).await;
    let mut notes = Vec::new();
    let volumes = d.paths.volumes(&name);
    if volumes.is_dir() {
        notes.push(format!(
            "kept its storage in {} (remove it by hand when no longer needed)",
            volumes.display()
        ));
    }
    tracing::info!("deleted {} {name}", rec.kind);
    Ok(notes)
}

/// How long `scale NAME 1` waits for an app to come up.
const UP_WAIT: Duration = Duration::from_secs(60);

/// Set the desired count: apps 0 or 1 (more needs Kubernetes), cron jobs 0 (suspend) or 1.
/// Scaling to 0 returns once the processes are gone.
pub(crate) async fn scale(d: Arc<Daemon>, name: String, replicas: u32) -> Result<WorkloadView> {
    let rec = d
        .db(|db| db.get(&name))?
        .ok_or_else(|| Error::NotFound(name.clone()))?;
    match rec.kind {
        Kind::App if replicas > 1 => return Err(too_many(&name, replicas)),
        Kind::Job => {
            return Err(Error::invalid(
                format!("{name} is a job: it runs once and has no replicas"),
                Some(
                    "scale applies to apps (0 or 1 locally) and cron jobs (0 suspends, 1 resumes)"
                        .to_string(),
                ),
            ));
        }
        Kind::CronJob if replicas > 1 => {
            return Err(Error::invalid(
                format!("a cron job is scaled to 0 (suspended) or 1 (scheduled), not {replicas}"),
                None,
            ));
        }
        _ => {}
    }
    d.db(|db| db.set_replicas(&name, replicas))?;
    d.save_record(&name);
    d.notify(&name);
    if replicas == 0 {
        let deadline = now_ms() + (d.config.stop_grace + Duration::from_secs(6)).as_millis() as i64;
        while !d.live(&name).active.is_empty() && now_ms() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    } else if rec.kind == Kind::App {
        // Scaling up returns once the app is up (its port answers, when it has one), or
        // crash-looping, or after UP_WAIT: what `status` then shows is what happened.
        let deadline = now_ms() + UP_WAIT.as_millis() as i64;
        while let Some(rec) = d.db(|db| db.get(&name))? {
            let dv = d.clone();
            let phase = blocking(move || view::view(&dv, &rec, false).phase).await?;
            if matches!(phase.as_str(), "Running" | "CrashLoopBackOff") || now_ms() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let rec = d
        .db(|db| db.get(&name))?
        .ok_or_else(|| Error::NotFound(name.clone()))?;
    blocking(move || view::view(&d, &rec, false)).await
}
