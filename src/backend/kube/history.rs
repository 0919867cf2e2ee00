//! Releases in Kubernetes mode live with the resource: one ConfigMap `<name>-rev-<N>` per
//! release, labelled `prisn.io/app=<name>` and `prisn.io/revision=<N>` and owned by the
//! resource (deleted with it). It holds what the CLI applied: `release.json` (who, when,
//! artifact, flags), `resource.json` (the PrisnApp/PrisnJob/PrisnCronJob as applied, by image
//! digest) and, for a ConfigMap source, the code under `code.<key>`. The CLI writes them, so
//! they do not depend on the operator and survive its restarts; a rollback is a server-side
//! apply of the stored objects. The newest `PRISN_KEEP_RELEASES` (default 10) are kept.

use std::collections::BTreeMap;

use anyhow::{Context as _, bail};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, ListParams, ObjectMeta, PostParams};
use prisn_api::Kind;
use prisn_api::crd::{PrisnApp, PrisnCronJob, PrisnJob};
use prisn_api::labels::{APP_KEY, MANAGED_BY, MANAGED_BY_KEY, REVISION_KEY};
use serde::{Deserialize, Serialize};

use crate::backend::Release;
use crate::deploy::apply::Applied;
use crate::deploy::client::{Cluster, KubeResult, is_not_found};
use crate::deploy::objects::{Objects, Resource};

const RELEASE: &str = "release.json";
const RESOURCE: &str = "resource.json";
const CODE_PREFIX: &str = "code.";

/// What `release.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub revision: i64,
    pub kind: Kind,
    pub created: String,
    pub who: Option<String>,
    pub artifact: String,
    pub lock_digest: Option<String>,
    pub flags: Vec<String>,
    pub rollback_of: Option<i64>,
}

/// A stored release: its record and the objects to apply again.
pub struct Stored {
    pub record: Record,
    pub objects: Option<Objects>,
}

fn name_of(name: &str, revision: i64) -> String {
    format!("{name}-rev-{revision}")
}

/// How many releases each workload keeps: `PRISN_KEEP_RELEASES`, default 10.
pub fn keep() -> usize {
    std::env::var("PRISN_KEEP_RELEASES")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(prisn_local::state::releases::KEEP)
}

/// The stored releases of `name`, newest first.
pub async fn list(c: &Cluster, name: &str) -> anyhow::Result<Vec<Stored>> {
    let api: Api<ConfigMap> = Api::namespaced(c.client.clone(), &c.namespace);
    let lp = ListParams::default().labels(&format!("{APP_KEY}={name},{REVISION_KEY}"));
    let cms = api
        .list(&lp)
        .await
        .explain("list", "configmaps", &c.namespace)?;
    let mut out: Vec<Stored> = cms.items.iter().filter_map(read).collect();
    out.sort_by_key(|s| std::cmp::Reverse(s.record.revision));
    Ok(out)
}

/// A release ConfigMap back into its record and objects (None for a foreign or damaged one).
fn read(cm: &ConfigMap) -> Option<Stored> {
    let data = cm.data.as_ref()?;
    let record: Record = serde_json::from_str(data.get(RELEASE)?).ok()?;
    let objects = data.get(RESOURCE).and_then(|json| {
        let resource = match record.kind {
            Kind::App => Resource::App(serde_json::from_str::<Box<PrisnApp>>(json).ok()?),
            Kind::Job => Resource::Job(serde_json::from_str::<Box<PrisnJob>>(json).ok()?),
            Kind::CronJob => {
                Resource::CronJob(serde_json::from_str::<Box<PrisnCronJob>>(json).ok()?)
            }
        };
        Some(Objects {
            configmap: code(cm, &resource),
            resource,
        })
    });
    Some(Stored { record, objects })
}

/// The `<name>-code` ConfigMap a release ran, when its source was one.
fn code(cm: &ConfigMap, resource: &Resource) -> Option<ConfigMap> {
    let source = match resource {
        Resource::App(a) => &a.spec.source,
        Resource::Job(j) => &j.spec.source,
        Resource::CronJob(c) => &c.spec.job_template.source,
    };
    let code_name = source.config_map_ref.as_ref()?.name.clone();
    let data = strip(cm.data.as_ref());
    let binary = strip(cm.binary_data.as_ref());
    let mut labels = cm.metadata.labels.clone().unwrap_or_default();
    labels.remove(REVISION_KEY);
    Some(ConfigMap {
        metadata: ObjectMeta {
            name: Some(code_name),
            namespace: cm.metadata.namespace.clone(),
            labels: Some(labels),
            ..Default::default()
        },
        data: Some(data),
        binary_data: (!binary.is_empty()).then_some(binary),
        ..Default::default()
    })
}

/// The entries under `code.` without the prefix.
fn strip<V: Clone>(m: Option<&BTreeMap<String, V>>) -> BTreeMap<String, V> {
    m.into_iter()
        .flatten()
        .filter_map(|(k, v)| {
            k.strip_prefix(CODE_PREFIX)
                .map(|k| (k.to_string(), v.clone()))
        })
        .collect()
}

/// Store `objects` (just applied as `applied`) as the next release of the workload; prune
/// the oldest beyond [`keep`]. Returns the new revision.
pub async fn record(
    c: &Cluster,
    objects: &Objects,
    applied: &Applied,
    mut record: Record,
) -> anyhow::Result<i64> {
    let api: Api<ConfigMap> = Api::namespaced(c.client.clone(), &c.namespace);
    let name = &applied.name;
    let mut data = BTreeMap::new();
    let mut binary = BTreeMap::new();
    if let Some(code) = &objects.configmap {
        for (k, v) in code.data.iter().flatten() {
            data.insert(format!("{CODE_PREFIX}{k}"), v.clone());
        }
        for (k, v) in code.binary_data.iter().flatten() {
            binary.insert(format!("{CODE_PREFIX}{k}"), v.clone());
        }
    }
    data.insert(
        RESOURCE.to_string(),
        serde_json::to_string(&objects.resource)?,
    );
    // Revisions count up from the newest kept one; two deploys racing for a number: the
    // second create fails with AlreadyExists and takes the next.
    let mut revision = list(c, name)
        .await?
        .first()
        .map_or(0, |s| s.record.revision)
        + 1;
    loop {
        record.revision = revision;
        data.insert(RELEASE.to_string(), serde_json::to_string(&record)?);
        let cm = ConfigMap {
            metadata: ObjectMeta {
                name: Some(name_of(name, revision)),
                namespace: Some(c.namespace.clone()),
                labels: Some(BTreeMap::from([
                    (MANAGED_BY_KEY.to_string(), MANAGED_BY.to_string()),
                    (APP_KEY.to_string(), name.clone()),
                    (REVISION_KEY.to_string(), revision.to_string()),
                ])),
                owner_references: applied.owner.clone().map(|o| vec![o]),
                ..Default::default()
            },
            data: Some(data.clone()),
            binary_data: (!binary.is_empty()).then(|| binary.clone()),
            immutable: Some(true),
        };
        match api.create(&PostParams::default(), &cm).await {
            Ok(_) => break,
            Err(kube::Error::Api(e)) if e.code == 409 => revision += 1,
            Err(e) => return Err(e).explain("create", "configmaps", &c.namespace),
        }
    }
    for old in list(c, name).await?.iter().skip(keep()) {
        delete_one(&api, &name_of(name, old.record.revision), &c.namespace).await?;
    }
    Ok(revision)
}

async fn delete_one(api: &Api<ConfigMap>, name: &str, ns: &str) -> anyhow::Result<()> {
    match api.delete(name, &DeleteParams::background()).await {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(e).explain("delete", "configmaps", ns),
    }
}

/// Remove every release of `name` (with the workload).
pub async fn forget(c: &Cluster, name: &str) -> anyhow::Result<()> {
    let api: Api<ConfigMap> = Api::namespaced(c.client.clone(), &c.namespace);
    for s in list(c, name).await? {
        delete_one(&api, &name_of(name, s.record.revision), &c.namespace).await?;
    }
    Ok(())
}

/// The releases of `name` for `prisn history`.
pub async fn history(c: &Cluster, name: &str) -> anyhow::Result<Vec<Release>> {
    let stored = list(c, name).await?;
    if stored.is_empty() {
        bail!(
            "{name} has no releases in namespace {} (deploy it with prisn first)",
            c.namespace
        );
    }
    Ok(stored
        .iter()
        .enumerate()
        .map(|(i, s)| Release {
            revision: s.record.revision,
            created: s.record.created.clone(),
            who: s.record.who.clone(),
            artifact: s.record.artifact.clone(),
            lock_digest: s.record.lock_digest.clone(),
            environment: None,
            flags: s.record.flags.clone(),
            rollback_of: s.record.rollback_of,
            current: i == 0,
            available: s.objects.is_some(),
        })
        .collect())
}

/// The release to return to: `to`, or the one before the newest.
pub fn pick(name: &str, stored: Vec<Stored>, to: Option<i64>) -> anyhow::Result<Stored> {
    let known = stored
        .iter()
        .map(|s| s.record.revision.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let found = match to {
        Some(rev) => stored.into_iter().find(|s| s.record.revision == rev),
        None => stored.into_iter().nth(1),
    };
    match (found, to) {
        (Some(s), _) => Ok(s),
        (None, Some(rev)) => {
            bail!("{name} has no revision {rev} (kept: {known}); `prisn history {name}` lists them")
        }
        (None, None) => bail!("{name} has no release before its current one to roll back to"),
    }
}

/// `sha256:…` of a code ConfigMap's content, for the release's artifact.
pub fn code_digest(cm: &ConfigMap) -> anyhow::Result<String> {
    let bytes = serde_json::to_vec(&(&cm.data, &cm.binary_data)).context("code ConfigMap")?;
    Ok(prisn_builder::digest::sha256(&bytes))
}
