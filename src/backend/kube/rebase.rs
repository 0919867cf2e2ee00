//! `prisn rebase --deployed` in a Kubernetes context: every app and cron job whose image is
//! not on the new base gets its image rebased (no resolve, no build) and a new release, through
//! the path a rollback takes: the newest stored release's objects with the new image, applied
//! and recorded, so `prisn rollback` returns to the old image.
//!
//! Which workloads: apps and cron jobs deployed by prisn as images (a job ran once; a
//! ConfigMap source runs in the operator's base image and has no image of its own). The new
//! base is `--base`, for the images of the runtime that base is for ([`Facts::runtime`]), or
//! else the context's base of each image's runtime (`context add --base RUNTIME=REF`).

use std::collections::BTreeMap;
use std::time::Duration;

use kube::Api;
use prisn_api::Kind;
use prisn_api::crd::PrisnApp;
use prisn_builder::image::base::{self as image_base, BaseRequest};
use prisn_builder::image::build::blob_cache;
use prisn_builder::image::rebase::{self, RebaseOptions};
use prisn_builder::image::{Reference, Registries};
use prisn_builder::script::Runtime;
use serde::Serialize;

use super::{KubeBackend, deploy, history, view};
use crate::deploy::apply;
use crate::deploy::client::{Cluster, KubeResult};
use crate::deploy::objects::{Objects, Resource};
use crate::settings::RegistryFlags;

/// What `rebase --deployed` is asked to do.
#[derive(Debug, Clone)]
pub struct DeployedRequest {
    /// `--base`; `None`: the context's base per runtime.
    pub base: Option<String>,
    pub dry_run: bool,
    /// Wait for each rebased workload to be ready.
    pub wait: Option<Duration>,
    pub platform: String,
    pub registry: RegistryFlags,
    pub offline: bool,
}

/// What happened to one workload.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub name: String,
    pub kind: Kind,
    /// `rebased`, `would rebase` (dry run), `skipped`, `refused` or `failed`.
    pub action: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old_base: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_image: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_base: Option<String>,
    /// The new release.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// Why it was skipped, refused or failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Outcome {
    fn new(name: &str, kind: Kind, action: &str) -> Outcome {
        Outcome {
            name: name.into(),
            kind,
            action: action.into(),
            image: None,
            old_base: None,
            new_image: None,
            new_base: None,
            revision: None,
            phase: None,
            reason: None,
        }
    }

    fn because(mut self, reason: impl Into<String>) -> Outcome {
        self.reason = Some(reason.into());
        self
    }
}

/// A new base, resolved once: its pinned reference and the runtime it is for (`--base` only).
#[derive(Clone)]
struct NewBase {
    pinned: Reference,
    runtime: Option<Runtime>,
}

impl KubeBackend {
    /// Rebase every deployed image not on the new base (see the module docs).
    ///
    /// # Errors
    /// The cluster or the new base cannot be reached; per-workload failures are outcomes.
    pub fn rebase_deployed(
        &self,
        req: &DeployedRequest,
        reporter: &dyn prisn_builder::Reporter,
    ) -> anyhow::Result<Vec<Outcome>> {
        let c = self.cluster()?;
        self.rt.block_on(rebase_all(self, c, req, reporter))
    }
}

async fn rebase_all(
    b: &KubeBackend,
    c: &Cluster,
    req: &DeployedRequest,
    reporter: &dyn prisn_builder::Reporter,
) -> anyhow::Result<Vec<Outcome>> {
    let regs = Registries::new(b.settings.registry_options(&req.registry, req.offline));
    let explicit = match &req.base {
        Some(base) => Some(resolve(b, &regs, base, true, req, reporter).await?),
        None => None,
    };
    let mut bases: BTreeMap<Runtime, Option<NewBase>> = BTreeMap::new();
    let mut out = Vec::new();
    for w in view::list(c, None).await? {
        if w.kind == Kind::Job {
            out.push(
                Outcome::new(&w.name, w.kind, "skipped")
                    .because("a job runs once; deploy it again to run it on the new base"),
            );
            continue;
        }
        let outcome = match one(
            b,
            c,
            &regs,
            &w.name,
            w.kind,
            explicit.as_ref(),
            &mut bases,
            req,
            reporter,
        )
        .await
        {
            Ok(o) => o,
            Err(e) => Outcome::new(&w.name, w.kind, "failed").because(format!("{e:#}")),
        };
        out.push(outcome);
    }
    Ok(out)
}

/// Resolve `base` to a digest (and, for `--base`, tell which runtime it is for).
async fn resolve(
    b: &KubeBackend,
    regs: &Registries,
    base: &str,
    classify: bool,
    req: &DeployedRequest,
    reporter: &dyn prisn_builder::Reporter,
) -> anyhow::Result<NewBase> {
    let cache = blob_cache(&b.settings.home);
    let reference = Reference::parse(base)?;
    if req.offline && reference.digest.is_none() {
        anyhow::bail!(
            "offline, the new base {base} must be named by digest (REF@sha256:…): a tag is never resolved offline"
        );
    }
    let request = BaseRequest {
        reference,
        platform: req.platform.clone(),
        pinned: None,
        refresh: false,
    };
    let resolved = image_base::resolve(regs, &request, &cache, reporter).await?;
    let runtime = if classify {
        let f = rebase::facts(
            regs,
            &resolved,
            Runtime::Python3,
            &cache,
            &b.settings.home,
            reporter,
        )
        .await?;
        Some(f.runtime())
    } else {
        None
    };
    Ok(NewBase {
        pinned: resolved.pinned(),
        runtime,
    })
}

/// Rebase one workload (or say why not).
#[allow(clippy::too_many_arguments)]
async fn one(
    b: &KubeBackend,
    c: &Cluster,
    regs: &Registries,
    name: &str,
    kind: Kind,
    explicit: Option<&NewBase>,
    bases: &mut BTreeMap<Runtime, Option<NewBase>>,
    req: &DeployedRequest,
    reporter: &dyn prisn_builder::Reporter,
) -> anyhow::Result<Outcome> {
    let skip = |why: String| Ok(Outcome::new(name, kind, "skipped").because(why));
    let Some(stored) = history::list(c, name).await?.into_iter().next() else {
        return skip("prisn recorded no release of it (deploy it once with prisn)".into());
    };
    let Some(mut objects) = stored.objects else {
        return skip(format!(
            "its newest release ({}) holds no objects",
            stored.record.revision
        ));
    };
    let Some(image) = source_mut(&mut objects.resource).image.clone() else {
        return skip("its code runs from a ConfigMap in the operator's base image: there is no image to rebase".into());
    };
    let image_ref = Reference::parse(&image)?;
    let cache = blob_cache(&b.settings.home);
    let img = match rebase::read(regs, &image_ref, &req.platform, &cache).await {
        Ok(i) => i,
        Err(e) => return Ok(refused(name, kind, &image, e)),
    };
    let mut o = Outcome::new(name, kind, "skipped");
    o.image = Some(image.clone());
    o.old_base = Some(format!("{}@{}", img.base_name, img.base_digest));
    let new = match pick_base(b, regs, img.runtime, explicit, bases, req, reporter).await? {
        Ok(n) => n,
        Err(why) => return Ok(o.because(why)),
    };
    o.new_base = Some(new.pinned.to_string());
    if new.pinned.digest.as_deref() == Some(img.base_digest.as_str()) {
        return Ok(o.because("already on the new base"));
    }
    let opts = RebaseOptions {
        home: b.settings.home.clone(),
        base: new.pinned.clone(),
        target: None,
        push: !req.dry_run,
        platform: req.platform.clone(),
        registry: b.settings.registry_options(&req.registry, req.offline),
        offline: req.offline,
    };
    let pinned_image = image_ref.with_digest(&img.digest);
    let done = match rebase::rebase(&pinned_image, &opts, reporter).await {
        Ok(d) => d,
        Err(e @ prisn_builder::Error::Rebase { .. }) => return Ok(refused(name, kind, &image, e)),
        Err(e) => return Err(e.into()),
    };
    if req.dry_run {
        o.action = "would rebase".into();
        o.new_image = Some(format!("{}@{}", image_ref.name(), done.digest));
        return Ok(o);
    }
    let new_image = done.reference.clone().unwrap_or_default();
    source_mut(&mut objects.resource).image = Some(new_image.clone());
    keep_live_replicas(c, name, &mut objects.resource).await?;
    let (revision, phase) = release(c, &objects, stored.record, &new_image, req, reporter).await?;
    o.action = "rebased".into();
    o.new_image = Some(new_image);
    o.revision = revision;
    o.phase = phase;
    Ok(o)
}

/// The new base for an image of `runtime`: `--base` if it is for that runtime, else the
/// context's (resolved once per runtime); `Err` says why there is none.
async fn pick_base(
    b: &KubeBackend,
    regs: &Registries,
    runtime: Runtime,
    explicit: Option<&NewBase>,
    bases: &mut BTreeMap<Runtime, Option<NewBase>>,
    req: &DeployedRequest,
    reporter: &dyn prisn_builder::Reporter,
) -> anyhow::Result<Result<NewBase, String>> {
    if let Some(n) = explicit {
        return Ok(match n.runtime {
            Some(r) if r == runtime => Ok(n.clone()),
            other => Err(format!(
                "a {runtime} image; --base is a {} base",
                other.map_or("other", Runtime::as_str)
            )),
        });
    }
    let found = match bases.get(&runtime) {
        Some(found) => found.clone(),
        None => {
            let found = match b.settings.base(runtime, None) {
                Some(base) => Some(resolve(b, regs, &base, false, req, reporter).await?),
                None => None,
            };
            bases.insert(runtime, found.clone());
            found
        }
    };
    Ok(found.ok_or_else(|| {
        format!("the context names no base for {runtime} (prisn context add … --base {runtime}=REF, or --base)")
    }))
}

fn refused(name: &str, kind: Kind, image: &str, e: prisn_builder::Error) -> Outcome {
    let mut o = Outcome::new(name, kind, "refused").because(e.to_string());
    o.image = Some(image.into());
    o
}

/// Apply `objects` (the newest release with the rebased image) and record them as a new
/// release with the old one's lock and flags; wait when asked.
async fn release(
    c: &Cluster,
    objects: &Objects,
    old: history::Record,
    image: &str,
    req: &DeployedRequest,
    reporter: &dyn prisn_builder::Reporter,
) -> anyhow::Result<(Option<i64>, Option<String>)> {
    let applied = apply::apply(&c.client, objects).await?;
    let revision = if applied.changed {
        let record = history::Record {
            created: deploy::now(),
            who: crate::backend::who(),
            artifact: image.to_string(),
            rollback_of: None,
            ..old
        };
        Some(history::record(c, objects, &applied, record).await?)
    } else {
        None
    };
    let phase = match req.wait {
        Some(timeout) => Some(
            apply::wait(&c.client, &applied, timeout, reporter)
                .await?
                .phase,
        ),
        None => None,
    };
    Ok((revision, phase))
}

/// An app keeps the replica count it runs with now (`prisn scale` changes it without a
/// release); everything else is the newest release's.
async fn keep_live_replicas(
    c: &Cluster,
    name: &str,
    resource: &mut Resource,
) -> anyhow::Result<()> {
    if let Resource::App(app) = resource {
        let api: Api<PrisnApp> = Api::namespaced(c.client.clone(), &c.namespace);
        let live = api
            .get(name)
            .await
            .explain("get", "prisnapps", &c.namespace)?;
        app.spec.replicas = live.spec.replicas;
    }
    Ok(())
}

/// The code source of a resource, to change its image.
fn source_mut(resource: &mut Resource) -> &mut prisn_api::crd::Source {
    match resource {
        Resource::App(a) => &mut a.spec.source,
        Resource::Job(j) => &mut j.spec.source,
        Resource::CronJob(c) => &mut c.spec.job_template.source,
    }
}
