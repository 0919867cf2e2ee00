//! `prisn history` and `prisn rollback` in the daemon: the releases state.db keeps (see
//! `state::releases`), as views, and a rollback that makes one current again. A rollback
//! builds nothing: the release names its code snapshot and its environment in the store,
//! both kept (pinned) while the release is, and records a new release (`rollback_of`).

use std::sync::Arc;

use crate::api::{
    Expect, Isolation, Kind, ReleaseView, RollbackBody, RollbackReply, Spec, rfc3339,
};
use crate::hub::Daemon;
use crate::state::{Release, ReleaseMeta};
use crate::{Error, Result, ops};

/// The releases of `name`, newest first.
///
/// # Errors
/// An unknown name.
pub(crate) fn history(d: &Daemon, name: &str) -> Result<Vec<ReleaseView>> {
    let rec = d
        .db(|db| db.get(name))?
        .ok_or_else(|| Error::NotFound(name.to_string()))?;
    let releases = d.db(|db| db.releases(name))?;
    Ok(releases
        .iter()
        .map(|r| view(r, r.revision == rec.generation))
        .collect())
}

fn view(r: &Release, current: bool) -> ReleaseView {
    ReleaseView {
        revision: r.revision,
        created: rfc3339(r.created_ms),
        who: r.who.clone(),
        source: r.spec.source.clone(),
        code_digest: r.spec.code_digest.clone(),
        lock_digest: r.lock_digest.clone(),
        env_dir: r.spec.env_dir.clone(),
        flags: flags(&r.spec),
        rollback_of: r.rollback_of,
        current,
        available: r.spec.code_dir.is_dir() && r.spec.env_dir.is_dir(),
    }
}

/// The flags of `spec` as a deploy would take them; environment values stay out (secrets).
pub fn flags(spec: &Spec) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(p) = spec.port {
        out.push(format!("--port {p}"));
    }
    if let Some(s) = &spec.schedule {
        out.push(format!("--schedule {s:?}"));
    }
    if spec.kind == Kind::CronJob {
        out.push(format!("--concurrency {}", spec.concurrency.as_str()));
    }
    for k in spec.env.keys() {
        out.push(format!("--env {k}=…"));
    }
    if spec.isolation != Isolation::default() {
        out.push(format!("--isolation {}", spec.isolation.as_str()));
    }
    if spec.network != Default::default() {
        out.push(format!("--network {}", spec.network.as_str()));
    }
    if let Some(m) = &spec.memory {
        out.push(format!("--memory {m}"));
    }
    if let Some(c) = &spec.cpu {
        out.push(format!("--cpu {c}"));
    }
    for s in &spec.storage {
        let size = s
            .size
            .as_deref()
            .map(|z| format!(":{z}"))
            .unwrap_or_default();
        out.push(format!("--storage {}={}{size}", s.name, s.path.display()));
    }
    if !spec.args.is_empty() {
        out.push(format!("-- {}", spec.args.join(" ")));
    }
    out
}

/// Make release `body.to` (default: the one before the current) of `name` current again.
///
/// # Errors
/// An unknown name or revision, a release whose code or environment is gone, a port now
/// taken by another workload.
pub(crate) async fn rollback(
    d: Arc<Daemon>,
    name: String,
    body: RollbackBody,
) -> Result<RollbackReply> {
    let _guard = d.deploy_lock.lock().await;
    let rec = d
        .db(|db| db.get(&name))?
        .ok_or_else(|| Error::NotFound(name.clone()))?;
    let releases = d.db(|db| db.releases(&name))?;
    let target = pick(&name, rec.generation, &releases, body.to)?;
    let missing = [&target.spec.code_dir, &target.spec.env_dir]
        .into_iter()
        .find(|p| !p.is_dir());
    if let Some(p) = missing {
        return Err(Error::invalid(
            format!(
                "revision {} of {name} cannot be restored: {} is gone",
                target.revision,
                p.display()
            ),
            Some("deploy that version again (prisn builds it)".into()),
        ));
    }
    if let Some(port) = target.spec.port {
        ops::check_port(&d, &name, port, Some(&rec))?;
    }
    let meta = ReleaseMeta {
        lock_digest: target.lock_digest.clone(),
        who: body.who,
        rollback_of: Some(target.revision),
    };
    let expect = Expect::Generation(rec.generation);
    let outcome = d.db(|db| db.put_release(&name, &target.spec, rec.replicas, expect, &meta))?;
    ops::activate(&d, &name, Some(&rec), &target.spec, outcome.spec_changed).await;
    tracing::info!(
        "rolled {name} back to revision {} (now revision {})",
        target.revision,
        outcome.generation
    );
    Ok(RollbackReply {
        name,
        kind: rec.kind,
        revision: outcome.generation,
        restored: target.revision,
        changed: outcome.changed,
    })
}

/// The release to return to: `to`, or the newest one older than the current.
fn pick<'a>(
    name: &str,
    current: i64,
    releases: &'a [Release],
    to: Option<i64>,
) -> Result<&'a Release> {
    let known = || {
        releases
            .iter()
            .map(|r| r.revision.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match to {
        Some(rev) => releases.iter().find(|r| r.revision == rev).ok_or_else(|| {
            Error::invalid(
                format!("{name} has no revision {rev} (kept: {})", known()),
                Some(format!("`prisn history {name}` lists them")),
            )
        }),
        None => releases
            .iter()
            .find(|r| r.revision < current)
            .ok_or_else(|| {
                Error::invalid(
                    format!("{name} has no release before revision {current} to roll back to"),
                    Some(format!("`prisn history {name}` lists its releases")),
                )
            }),
    }
}
