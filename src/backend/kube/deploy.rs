//! `prisn deploy` in a Kubernetes context: build → push → apply by digest → wait.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Instant;

use anyhow::Context as _;

use super::{KubeBackend, history};
use crate::backend::{DeployRequest, Deployed};
use crate::deploy::apply;
use crate::deploy::objects::{self, CodeSource, Spec};
use crate::image::{self, Destination};

/// Milliseconds per phase, for `-o json` and the benchmark.
#[derive(Default)]
struct Timings {
    phases: BTreeMap<String, u64>,
    since: Option<Instant>,
}

impl Timings {
    /// Close the current phase as `name`.
    fn lap(&mut self, name: &str) {
        let now = Instant::now();
        let start = self.since.unwrap_or(now);
        self.phases
            .insert(name.into(), now.duration_since(start).as_millis() as u64);
        self.since = Some(now);
    }

    /// Close the current phase as `first` up to `split`, and `second` from there to now.
    fn split(&mut self, first: &str, split: Instant, second: &str) {
        let start = self.since.unwrap_or(split);
        self.phases
            .insert(first.into(), split.duration_since(start).as_millis() as u64);
        self.since = Some(split);
        self.lap(second);
    }
}

pub fn deploy(
    b: &KubeBackend,
    req: &DeployRequest,
    reporter: &dyn prisn_builder::Reporter,
) -> anyhow::Result<Deployed> {
    let mut timings = Timings {
        since: Some(Instant::now()),
        ..Default::default()
    };
    let mut notes = Vec::new();
    let (source, runtime, lock_digest) = match &req.image {
        Some(image) => {
            let found = super::artifact::inspect(
                &b.settings,
                &b.rt,
                image,
                &req.build.platform,
                &req.build.registry,
            )?;
            timings.lap("inspect");
            if let Some(base) = &found.base {
                notes.push(format!("{} on {base}", found.runtime));
            }
            (
                CodeSource::Image(found.reference),
                found.runtime,
                found.lock_digest,
            )
        }
        None => from_script(b, req, reporter, &mut timings, &mut notes)?,
    };
    let described = match &source {
        CodeSource::Image(image) => image.clone(),
        CodeSource::ConfigMap { .. } => format!("configmap/{}", objects::configmap_name(&req.name)),
    };
    let mut spec = Spec {
        name: req.name.clone(),
        namespace: b.namespace_hint(),
        kind: req.kind,
        runtime,
        source,
        port: req.port,
        replicas: Some(req.replicas),
        env: req.env.clone(),
        args: req.args.clone(),
        storage: req.storage.clone(),
        cpu: req.cpu.clone(),
        memory: req.memory.clone(),
        schedule: req.schedule.clone(),
        concurrency: req.concurrency,
    };
    let mut deployed = Deployed {
        name: req.name.clone(),
        kind: req.kind,
        source: described,
        created: false,
        changed: true,
        dry_run: req.dry_run,
        generation: None,
        phase: None,
        endpoint: None,
        notes,
        manifest: None,
        exit_code: None,
        timings: BTreeMap::new(),
    };
    if req.dry_run {
        deployed.manifest = Some(objects::to_yaml(&objects::build(&spec)?)?);
        deployed.timings = timings.phases;
        return Ok(deployed);
    }
    let cluster = b.cluster()?;
    spec.namespace = cluster.namespace.clone();
    let objs = objects::build(&spec)?;
    if let Some(w) =
        b.rt.block_on(crate::operator::version_warning(&cluster.client))
    {
        reporter.report(prisn_builder::Event::Note(format!("warning: {w}")));
    }
    let before = b.rt.block_on(history::list(cluster, &req.name))?;
    let applied = b.rt.block_on(apply::apply(&cluster.client, &objs))?;
    timings.lap("apply");
    // A release per change (and one for a workload deployed before releases were kept).
    let recorded = if applied.changed || before.is_empty() {
        let artifact = match (&spec.source, &objs.configmap) {
            (CodeSource::Image(image), _) => image.clone(),
            (_, Some(cm)) => format!("configmap {}", history::code_digest(cm)?),
            (_, None) => deployed.source.clone(),
        };
        let record = history::Record {
            revision: 0,
            kind: req.kind,
            created: now(),
            who: crate::backend::who(),
            artifact,
            lock_digest: Some(lock_digest.clone()),
            flags: flags(req),
            rollback_of: None,
        };
        Some(b.rt.block_on(history::record(cluster, &objs, &applied, record))?)
    } else {
        None
    };
    if let Some(timeout) = req.wait {
        let waited =
            b.rt.block_on(apply::wait(&cluster.client, &applied, timeout, reporter));
        let previous = before.first().map(|s| s.record.revision);
        match (waited, previous) {
            (Ok(w), _) => deployed.phase = Some(w.phase),
            (Err(e), Some(previous)) if req.rollback_on_failure && recorded.is_some() => {
                return Err(super::undo(b, &req.name, previous, timeout, reporter, e));
            }
            (Err(e), _) => return Err(e),
        }
        timings.lap("ready");
    }
    deployed.created = applied.changed && applied.generation == Some(1);
    deployed.changed = applied.changed;
    deployed.generation = applied.generation;
    deployed.endpoint = req
        .port
        .map(|p| format!("http://{}.{}.svc:{p}", req.name, cluster.namespace));
    deployed.timings = timings.phases;
    Ok(deployed)
}

/// Lock the script, then build and push its image (or read its files for a ConfigMap).
fn from_script(
    b: &KubeBackend,
    req: &DeployRequest,
    reporter: &dyn prisn_builder::Reporter,
    timings: &mut Timings,
    notes: &mut Vec<String>,
) -> anyhow::Result<(CodeSource, prisn_api::Runtime, String)> {
    let resolved = prisn_builder::prepare::resolve(
        &req.script.path,
        &req.script.prepare,
        &b.settings.home,
        reporter,
    )?;
    timings.lap("lock");
    let registry = b.settings.registry(&req.build.registry);
    let source = match (&registry, req.configmap) {
        (Some(registry), false) => {
            let timing = PushTiming {
                inner: reporter,
                push_start: Mutex::new(None),
            };
            let image = build_and_push(b, req, &resolved, registry, &timing)?;
            let pushed_at = timing
                .push_start
                .into_inner()
                .unwrap_or_else(|p| p.into_inner())
                .unwrap_or_else(Instant::now);
            timings.split("build", pushed_at, "push");
            CodeSource::Image(image)
        }
        (registry, _) => {
            if registry.is_none() {
                notes.push("no registry configured: the code ships as a ConfigMap and runs in the runtime's base image, without its locked dependencies; set one with --registry or `prisn context add … --registry`".into());
                if !resolved.requirements.is_empty() {
                    notes.push(format!(
                        "{} declares dependencies; only an image carries them",
                        resolved.script.entrypoint
                    ));
                }
            }
            CodeSource::ConfigMap {
                files: read_files(&resolved.script)?,
                entrypoint: resolved.script.entrypoint.clone(),
            }
        }
    };
    Ok((
        source,
        resolved.script.runtime,
        resolved.lock.section.digest(),
    ))
}

/// Now, RFC 3339 (seconds).
pub(super) fn now() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

/// The flags that shaped a release, as `deploy` takes them (`--env` without values).
fn flags(req: &DeployRequest) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(p) = req.port {
        out.push(format!("--port {p}"));
    }
    if req.kind == prisn_api::Kind::App {
        out.push(format!("--replicas {}", req.replicas));
    }
    if let Some(s) = &req.schedule {
        out.push(format!("--schedule {s:?}"));
        out.push(format!("--concurrency {}", req.concurrency.as_str()));
    }
    for (k, _) in &req.env {
        out.push(format!("--env {k}=…"));
    }
    if let Some(c) = &req.cpu {
        out.push(format!("--cpu {c}"));
    }
    if let Some(m) = &req.memory {
        out.push(format!("--memory {m}"));
    }
    for s in &req.storage {
        let size = s
            .size
            .as_deref()
            .map(|z| format!(":{z}"))
            .unwrap_or_default();
        out.push(format!("--storage {}={}{size}", s.name, s.path));
    }
    if !req.args.is_empty() {
        out.push(format!("-- {}", req.args.join(" ")));
    }
    out
}

/// Build the image with the one image plan (as `prisn build --image REGISTRY/NAME:latest`
/// with the same build flags) and push it; returns `REGISTRY/NAME@sha256:…`.
fn build_and_push(
    b: &KubeBackend,
    req: &DeployRequest,
    resolved: &prisn_builder::prepare::Resolved,
    registry: &str,
    reporter: &dyn prisn_builder::Reporter,
) -> anyhow::Result<String> {
    // Tagged `latest` so the registry lists it; the resource always uses the digest.
    let dest = Destination {
        target: Some(image::qualify(
            &format!("{}:latest", req.name),
            Some(registry),
        )?),
        output: None,
    };
    let opts = image::plan(&b.settings, resolved, &req.build, dest)?;
    let built = image::build(&b.rt, resolved, &opts, false, reporter)?;
    built
        .reference
        .context("the image was built but not pushed (no reference came back)")
}

/// Every file the script ships, for the `<name>-code` ConfigMap.
fn read_files(script: &prisn_builder::script::Script) -> anyhow::Result<BTreeMap<String, Vec<u8>>> {
    script
        .files
        .iter()
        .map(|rel| {
            let path = script.root.join(rel);
            let bytes =
                std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
            Ok((rel.clone(), bytes))
        })
        .collect()
}

/// Passes events on and notes when the push began, to split build from push time.
struct PushTiming<'a> {
    inner: &'a dyn prisn_builder::Reporter,
    push_start: Mutex<Option<Instant>>,
}

impl prisn_builder::Reporter for PushTiming<'_> {
    fn report(&self, event: prisn_builder::Event) {
        if let prisn_builder::Event::PushStart { .. } = &event {
            *self.push_start.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
        }
        self.inner.report(event);
    }
}
