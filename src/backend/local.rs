//! Local mode: a thin client of the `prisn daemon` of this `$PRISN_HOME` (started on demand).
//! The CLI builds the environment (with progress on the terminal); the daemon snapshots the
//! code, records the workload in state.db and supervises its processes.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use prisn_local::Paths;
use prisn_local::api::{
    self, DeployBody, DeployReply, Expect, LocalSource, LogQuery, WorkloadView,
};
use prisn_local::client::{self, Client};

use super::{
    Backend, Deleted, DeployRequest, Deployed, ExitInfo, Instance, Kind, LogOptions, Release,
    RolledBack, RunInfo, Status, Workload,
};
use crate::context::Mode;

/// How long an app without a port must stay up before a deploy calls it running.
const STABLE: Duration = Duration::from_millis(500);

pub struct LocalBackend {
    home: prisn_builder::home::Home,
    paths: Paths,
}

impl LocalBackend {
    pub fn new(home: &prisn_builder::home::Home) -> LocalBackend {
        LocalBackend {
            home: home.clone(),
            paths: Paths::new(home),
        }
    }

    /// The daemon, started if it does not answer.
    fn client(&self) -> anyhow::Result<Client> {
        Ok(client::connect_or_start(&self.paths, &Self::exe()?)?)
    }

    fn exe() -> anyhow::Result<std::path::PathBuf> {
        std::env::current_exe().context("cannot find the prisn executable to start the daemon")
    }
}

/// Poll until the app is ready (or the job started), failing on a crash loop.
pub(super) fn wait(
    client: &Client,
    name: &str,
    kind: Kind,
    timeout: Duration,
    until_done: bool,
) -> anyhow::Result<WorkloadView> {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(2);
    // An app without a port is ready when it runs; one that exits at once must not pass
    // for running, so it has to stay up (same process) for a moment.
    let mut up_since: Option<(Option<i32>, Instant)> = None;
    loop {
        let view = client.get(name)?.with_context(|| {
            format!("{name} disappeared while waiting for it (deleted by another prisn?)")
        })?;
        let running = view.phase == "Running" && view.ready >= view.desired;
        let done = match kind {
            Kind::App if view.port.is_some() => running,
            Kind::App => match (running, up_since) {
                (false, _) => {
                    up_since = None;
                    false
                }
                (true, Some((pid, since))) if pid == view.pid => since.elapsed() >= STABLE,
                (true, _) => {
                    up_since = Some((view.pid, Instant::now()));
                    false
                }
            },
            Kind::Job if until_done => matches!(view.phase.as_str(), "Succeeded" | "Failed"),
            Kind::Job => matches!(view.phase.as_str(), "Running" | "Succeeded"),
            Kind::CronJob => true,
        };
        if done || (kind == Kind::App && view.desired == 0) {
            return Ok(view);
        }
        let failed = matches!(view.phase.as_str(), "CrashLoopBackOff" | "Failed")
            || (view.phase == "Pending" && view.message.is_some());
        if failed || Instant::now() >= deadline {
            let what = if failed {
                format!("{name} is {}", view.phase)
            } else {
                format!(
                    "{name} is not ready after {} (it is {})",
                    humantime::format_duration(timeout),
                    view.phase
                )
            };
            let mut msg = match &view.message {
                Some(m) => format!("{what}: {m}"),
                None => what,
            };
            if !view.output.is_empty() {
                msg.push_str("\nlast output:\n");
                for line in &view.output {
                    msg.push_str("  ");
                    msg.push_str(&users_paths(&view, line));
                    msg.push('\n');
                }
                msg.truncate(msg.trim_end().len());
            }
            return Err(prisn_local::Error::Api {
                status: 0,
                message: msg,
                hint: Some(format!(
                    "`prisn logs {name}` shows all of its output, `prisn status {name}` its runs"
                )),
            }
            .into());
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(25));
    }
}

impl LocalBackend {
    /// `--rollback-on-failure`: the new release failed with `failure`; make `previous`
    /// current again, wait for it, and describe both in one error.
    fn undo(
        &self,
        client: &Client,
        name: &str,
        previous: i64,
        timeout: Duration,
        failure: anyhow::Error,
    ) -> anyhow::Error {
        let body = api::RollbackBody {
            to: Some(previous),
            who: super::who(),
        };
        // With an explicit revision a retry after a lost answer is harmless.
        let restored = Self::exe().and_then(|exe| {
            Ok(client::idempotent(&self.paths, &exe, client, |c| {
                c.rollback(name, &body)
            })?)
        });
        let reply = match restored {
            Ok(r) => r,
            Err(e) => {
                return failure.context(format!(
                    "the new release of {name} failed, and rolling back to revision {previous} failed too: {e}"
                ));
            }
        };
        let kind = reply.kind;
        let state = match wait(client, name, kind, timeout, false) {
            Ok(v) => format!("it is {}", v.phase.to_lowercase()),
            Err(e) => format!("but it is not ready either: {e}"),
        };
        failure.context(format!(
            "the new release of {name} did not become ready; rolled back to revision {} (now revision {}): {state}",
            reply.restored, reply.revision
        ))
    }
}

impl Backend for LocalBackend {
    fn mode(&self) -> Mode {
        Mode::Local
    }

    fn deploy(
        &self,
        req: &DeployRequest,
        reporter: &dyn prisn_builder::Reporter,
    ) -> anyhow::Result<Deployed> {
        if let Some(image) = &req.image {
            anyhow::bail!(
                "deploy --image {image} needs a Kubernetes context: local mode runs scripts from their environments, not images (use --context NAME)"
            );
        }
        if req.build.registry.registry.is_some() || req.build.base.is_some() {
            reporter.report(prisn_builder::Event::Note(
                "note: --registry and --base are for images; local mode runs the script from its environment and builds no image".into(),
            ));
        }
        // Reach (or start) the daemon first: a broken state.db should fail before a long build.
        let client = self.client()?;
        let current = client.get(&req.name)?;
        let expect = expect_for(req, current.as_ref())?;
        let (resolved, env) = prisn_builder::prepare::prepare(
            &req.script.path,
            &req.script.prepare,
            &self.home,
            reporter,
        )?;
        crate::optimise::new_env(&env, &self.home);
        let script = &resolved.script;
        let code = LocalSource {
            root: script.root.clone(),
            entrypoint: script.entrypoint.clone(),
            files: script.files.clone(),
            runtime: script.runtime,
            is_dir: script.is_dir,
        };
        let mut body = deploy_body(req, code, env.path.clone(), expect);
        body.lock_digest = Some(resolved.lock.section.digest());
        let reply = client::idempotent(&self.paths, &Self::exe()?, &client, |c| {
            c.deploy(&req.name, &body)
        })?;
        let mut waited = None;
        if let Some(timeout) = wait_timeout(req) {
            let view = match (
                wait(&client, &req.name, req.kind, timeout, req.until_done),
                &current,
            ) {
                (Err(e), Some(before))
                    if req.rollback_on_failure && reply.generation != before.generation =>
                {
                    return Err(self.undo(&client, &req.name, before.generation, timeout, e));
                }
                (waited, _) => waited?,
            };
            waited = Some(view);
        }
        Ok(deployed(reply, req, "127.0.0.1", Vec::new(), waited))
    }

    fn list(&self, kind: Option<Kind>) -> anyhow::Result<Vec<Workload>> {
        let client = self.client()?;
        Ok(client.list(kind)?.into_iter().map(workload).collect())
    }

    fn status(&self, name: &str) -> anyhow::Result<Status> {
        let client = self.client()?;
        let view = client
            .get(name)?
            .ok_or_else(|| prisn_local::Error::NotFound(name.to_string()))?;
        Ok(status(view))
    }

    fn logs(&self, name: &str, opts: &LogOptions, out: &mut dyn Write) -> anyhow::Result<()> {
        let client = self.client()?;
        let q = LogQuery {
            follow: opts.follow,
            tail: opts.tail,
            since_seconds: opts.since.map(|d| d.as_secs().max(1)),
            timestamps: opts.timestamps,
            from: None,
        };
        // Tracebacks name the snapshot's files; show the user's own paths instead.
        let view = client.get(name).ok().flatten();
        let mut rewrite;
        let out: &mut dyn Write = match view.and_then(|v| Some((v.code_dir, v.source_dir?))) {
            Some((from, to)) => {
                rewrite = PathRewrite::new(out, &from, &to);
                &mut rewrite
            }
            None => out,
        };
        client.logs(name, &q, out).map_err(|e| match e {
            prisn_local::Error::Api { status: 404, .. } => {
                prisn_local::Error::NotFound(name.to_string())
            }
            e => e,
        })?;
        Ok(())
    }

    fn delete(&self, name: &str) -> anyhow::Result<Option<Deleted>> {
        let client = self.client()?;
        let mut retried = false;
        let deleted = client::idempotent(&self.paths, &Self::exe()?, &client, |c| {
            let first = !std::mem::replace(&mut retried, true);
            // Not found on the second try: the first one deleted it before the daemon died.
            c.delete(name)
                .map(|d| d.or_else(|| (!first).then(Vec::new)))
        })?;
        Ok(deleted.map(|notes| Deleted { notes }))
    }

    fn scale(&self, name: &str, replicas: u32) -> anyhow::Result<Workload> {
        let client = self.client()?;
        let view = client::idempotent(&self.paths, &Self::exe()?, &client, |c| {
            c.scale(name, replicas)
        })
        .map_err(|e| match e {
            prisn_local::Error::Api { status: 404, .. } => {
                prisn_local::Error::NotFound(name.to_string())
            }
            e => e,
        })?;
        Ok(workload(view))
    }

    fn history(&self, name: &str) -> anyhow::Result<Vec<Release>> {
        history(&self.client()?, name)
    }

    fn rollback(
        &self,
        name: &str,
        to: Option<i64>,
        wait: Option<Duration>,
    ) -> anyhow::Result<RolledBack> {
        rollback(&self.client()?, name, to, wait)
    }
}

fn release(r: api::ReleaseView) -> Release {
    Release {
        revision: r.revision,
        created: r.created,
        who: r.who,
        artifact: r.code_digest,
        lock_digest: r.lock_digest,
        environment: Some(r.env_dir.display().to_string()),
        flags: r.flags,
        rollback_of: r.rollback_of,
        current: r.current,
        available: r.available,
    }
}

fn not_found(name: &str) -> impl Fn(prisn_local::Error) -> prisn_local::Error + '_ {
    move |e| match e {
        prisn_local::Error::Api { status: 404, .. } => prisn_local::Error::NotFound(name.into()),
        e => e,
    }
}

/// The releases of `name` kept by the daemon behind `client` (local, or a server's namespace).
pub(super) fn history(client: &Client, name: &str) -> anyhow::Result<Vec<Release>> {
    let list = client.releases(name).map_err(not_found(name))?;
    Ok(list.into_iter().map(release).collect())
}

/// Make release `to` (default: the one before the current) of `name` current again, then
/// wait for it as a deploy would.
pub(super) fn rollback(
    client: &Client,
    name: &str,
    to: Option<i64>,
    wait: Option<Duration>,
) -> anyhow::Result<RolledBack> {
    let body = api::RollbackBody {
        to,
        who: super::who(),
    };
    // Not retried: without `to`, a second call would roll back one release further.
    let reply = client.rollback(name, &body).map_err(not_found(name))?;
    let phase = match wait {
        Some(t) if reply.kind != Kind::CronJob => {
            Some(self::wait(client, name, reply.kind, t, false)?.phase)
        }
        _ => None,
    };
    Ok(RolledBack {
        name: reply.name,
        kind: reply.kind,
        revision: reply.revision,
        restored: reply.restored,
        changed: reply.changed,
        phase,
    })
}

/// What the deploy of `req` expects to replace, given the workload `current` under its name:
/// refused when that is of another kind. Optimistic concurrency: if someone deploys this
/// name while we build, one of us loses.
pub(super) fn expect_for(
    req: &DeployRequest,
    current: Option<&WorkloadView>,
) -> anyhow::Result<Expect> {
    if let Some(v) = current
        && v.kind != req.kind
    {
        anyhow::bail!(prisn_local::Error::conflict(
            format!(
                "the name {:?} is taken by {} (names are unique across apps, jobs and cron jobs)",
                req.name,
                v.kind.a_noun()
            ),
            Some(format!(
                "choose another --name, or `prisn delete {}` first",
                req.name
            )),
        ));
    }
    Ok(current.map_or(Expect::Absent, |v| Expect::Generation(v.generation)))
}

/// The daemon's deploy body of `req` (remote mode sends the same one, with its paths left
/// for the server to fill in).
pub(super) fn deploy_body(
    req: &DeployRequest,
    code: LocalSource,
    env_dir: std::path::PathBuf,
    expect: Expect,
) -> DeployBody {
    DeployBody {
        kind: req.kind,
        source: req.script.path.display().to_string(),
        code,
        env_dir,
        args: req.args.clone(),
        env: req.env.iter().cloned().collect::<BTreeMap<_, _>>(),
        port: req.port,
        replicas: req.replicas,
        schedule: req.schedule.clone(),
        concurrency: req.concurrency,
        isolation: req.isolation.unwrap_or_default(),
        network: req.network,
        memory: req.memory.clone(),
        cpu: req.cpu.clone(),
        storage: req
            .storage
            .iter()
            .map(|s| api::Storage {
                name: s.name.clone(),
                path: s.path.clone().into(),
                size: s.size.clone(),
            })
            .collect(),
        expect,
        dry_run: req.dry_run,
        replace: req.replace,
        lock_digest: None,
        who: super::who(),
    }
}

fn exit_info(e: &api::ExitView) -> ExitInfo {
    ExitInfo {
        code: e.code,
        signal: e.signal,
        reason: e.reason.clone(),
        finished: e.finished.clone(),
        ran_ms: e.ran_ms,
        message: e.message.clone(),
    }
}

pub(super) fn workload(v: WorkloadView) -> Workload {
    let mut extra = BTreeMap::new();
    if let Some(pid) = v.pid {
        extra.insert("pid".to_string(), pid.into());
    }
    if let Some(iso) = &v.isolation {
        let short = iso
            .split(':')
            .next()
            .unwrap_or(iso)
            .split(" (")
            .next()
            .unwrap_or(iso);
        extra.insert("isolation".to_string(), short.into());
    }
    if let Some(m) = &v.message {
        extra.insert("message".to_string(), m.clone().into());
    }
    Workload {
        name: v.name,
        kind: v.kind,
        source: v.source,
        desired: v.desired,
        ready: v.ready,
        phase: v.phase,
        restarts: v.restarts,
        created: Some(v.created),
        port: v.port,
        schedule: v.schedule,
        last_run: v.last_run,
        next_run: v.next_run,
        message: v.message,
        last_exit: v.last_exit.as_ref().map(exit_info),
        extra,
    }
}

pub(super) fn status(v: WorkloadView) -> Status {
    let instances = v
        .pid
        .map(|pid| Instance {
            name: format!("pid {pid}"),
            phase: v.phase.clone(),
            ready: v.ready > 0,
            started: v.started.clone(),
        })
        .into_iter()
        .collect();
    let runs = v
        .runs
        .iter()
        .map(|r| RunInfo {
            id: r.id.to_string(),
            started: r.started.clone(),
            scheduled_for: r.scheduled_for.clone(),
            exit: r.exit.as_ref().map(exit_info),
        })
        .collect();
    let mut details = Vec::new();
    if let Some(pid) = v.pid {
        details.push(("pid".to_string(), pid.to_string()));
    }
    if let Some(iso) = &v.isolation {
        details.push(("isolation".to_string(), iso.clone()));
    }
    for l in &v.limits {
        details.push(("limit".to_string(), l.clone()));
    }
    details.push(("code".to_string(), v.code_dir.display().to_string()));
    details.push(("environment".to_string(), v.env_dir.display().to_string()));
    details.push(("log".to_string(), v.log_file.display().to_string()));
    details.push(("generation".to_string(), v.generation.to_string()));
    let output = v.output.iter().map(|l| users_paths(&v, l)).collect();
    Status {
        workload: workload(v),
        instances,
        runs,
        output,
        details,
    }
}

/// How long a deploy waits for its workload, if at all: `--wait` and no dry run (a cron job
/// has no run to wait for).
pub(super) fn wait_timeout(req: &DeployRequest) -> Option<Duration> {
    req.wait
        .filter(|_| !req.dry_run && req.kind != Kind::CronJob)
}

/// What a deploy to a daemon reports, in local and remote mode alike: the daemon's reply and
/// notes, then the backend's own `notes`, then the end of the wait when it waited.
pub(super) fn deployed(
    reply: DeployReply,
    req: &DeployRequest,
    host: &str,
    notes: Vec<String>,
    waited: Option<WorkloadView>,
) -> Deployed {
    let mut all_notes = reply.notes;
    all_notes.extend(notes);
    let (phase, exit_code) = match waited {
        Some(view) => finish(view, req, &mut all_notes),
        None => (None, None),
    };
    Deployed {
        name: reply.name,
        kind: req.kind,
        source: req.script.path.display().to_string(),
        created: reply.created,
        changed: reply.changed,
        dry_run: reply.dry_run,
        generation: Some(reply.generation),
        phase,
        endpoint: req.port.map(|p| format!("http://{host}:{p}")),
        notes: all_notes,
        manifest: None,
        exit_code,
        timings: Default::default(),
    }
}

/// The end of a deploy that waited, in local and remote mode alike: the phase, a `--once
/// --wait` job's exit code, and notes: the isolation the run got, and for a failed job its
/// message and last output (as in Kubernetes mode: the failure's own words, without a second
/// command), with the user's paths instead of the snapshot's.
fn finish(
    view: WorkloadView,
    req: &DeployRequest,
    notes: &mut Vec<String>,
) -> (Option<String>, Option<i32>) {
    if let Some(iso) = &view.isolation {
        notes.push(format!("isolation: {iso}"));
    }
    let mut exit_code = None;
    if req.until_done {
        exit_code = view.last_exit.as_ref().map(|e| e.code.unwrap_or(1));
        if let Some(m) = view.message.as_ref().filter(|_| view.phase == "Failed") {
            notes.push(format!("job {}: {m}", req.name));
            if !view.output.is_empty() {
                notes.push("last output:".into());
                notes.extend(
                    view.output
                        .iter()
                        .map(|l| format!("  {}", users_paths(&view, l))),
                );
            }
        }
    }
    (Some(view.phase), exit_code)
}

/// `line` with the snapshot's directory replaced by the one the code came from.
fn users_paths(v: &WorkloadView, line: &str) -> String {
    match &v.source_dir {
        Some(to) => line.replace(
            &format!("{}/", v.code_dir.display()),
            &format!("{}/", to.display()),
        ),
        None => line.to_string(),
    }
}

/// A writer that replaces one directory prefix with another, line by line (a path is never
/// cut in two by a chunk boundary), flushing each complete line at once so `logs -f` streams.
struct PathRewrite<'a> {
    out: &'a mut dyn Write,
    from: String,
    to: String,
    line: Vec<u8>,
}

impl<'a> PathRewrite<'a> {
    fn new(out: &'a mut dyn Write, from: &std::path::Path, to: &std::path::Path) -> Self {
        PathRewrite {
            out,
            from: format!("{}/", from.display()),
            to: format!("{}/", to.display()),
            line: Vec::new(),
        }
    }

    fn emit(&mut self, upto: usize) -> std::io::Result<()> {
        let rest = self.line.split_off(upto);
        let line = std::mem::replace(&mut self.line, rest);
        match std::str::from_utf8(&line) {
            Ok(text) if text.contains(&self.from) => self
                .out
                .write_all(text.replace(&self.from, &self.to).as_bytes()),
            _ => self.out.write_all(&line),
        }
    }
}

impl Write for PathRewrite<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.line.extend_from_slice(buf);
        while let Some(nl) = self.line.iter().position(|b| *b == b'\n') {
            self.emit(nl + 1)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if !self.line.is_empty() {
            self.emit(self.line.len())?;
        }
        self.out.flush()
    }
}

impl Drop for PathRewrite<'_> {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::PathRewrite;
    use std::io::Write;
    use std::path::Path;

    #[test]
    fn snapshot_paths_become_the_users_even_when_split_across_writes() {
        let mut out = Vec::new();
        {
            let mut w = PathRewrite::new(&mut out, Path::new("/h/code/abc"), Path::new("/me/app"));
            w.write_all(b"  File \"/h/code/a").unwrap();
            w.write_all(b"bc/main.py\", line 3\nplain /h/code/abcd/x\nlast")
                .unwrap();
        }
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "  File \"/me/app/main.py\", line 3\nplain /h/code/abcd/x\nlast"
        );
    }
}
