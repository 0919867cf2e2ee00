//! Server-side apply of what `prisn deploy` built (field manager `prisn`), then — with
//! `--wait` — watch the resource until the operator reports it Ready or finished.

use std::time::{Duration, Instant};

use anyhow::bail;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, OwnerReference};
use kube::ResourceExt;
use kube::api::{Api, ListParams, LogParams, Patch, PatchParams};
use prisn_api::crd::conditions::{ConditionStatus, ConditionType};
use prisn_api::crd::{PrisnApp, PrisnCronJob, PrisnJob};
use prisn_api::labels::APP_KEY;
use prisn_api::phase::JobPhase;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::client::{KubeResult, is_not_found};
use super::objects::{Objects, Resource};

/// The field manager of everything the CLI applies.
pub const FIELD_MANAGER: &str = "prisn";

/// What an apply did.
#[derive(Debug, Clone, Serialize)]
pub struct Applied {
    pub kind: &'static str,
    pub name: String,
    pub namespace: String,
    /// False when the cluster already held exactly this (no new resourceVersion).
    pub changed: bool,
    pub generation: Option<i64>,
    /// A reference to the resource, for what it owns (its code, its releases).
    #[serde(skip)]
    pub owner: Option<OwnerReference>,
}

/// Apply the code ConfigMap (if any), then the resource, then make the ConfigMap owned by
/// the resource so deleting one deletes the other. The ConfigMap goes first so the operator
/// never sees a resource whose code is missing.
///
/// # Errors
/// CRDs not installed, RBAC refusals, schema violations (with the server's field message).
pub async fn apply(client: &kube::Client, objects: &Objects) -> anyhow::Result<Applied> {
    let pp = PatchParams::apply(FIELD_MANAGER).force();
    let mut cm_changed = false;
    if let Some(cm) = &objects.configmap {
        cm_changed = apply_one(client, cm, &pp, "configmaps").await?;
    }
    let (changed, name, namespace, generation, owner) = match &objects.resource {
        Resource::App(app) => apply_cr(client, app.as_ref(), &pp, "prisnapps").await?,
        Resource::Job(job) => apply_cr(client, job.as_ref(), &pp, "prisnjobs").await?,
        Resource::CronJob(cron) => apply_cr(client, cron.as_ref(), &pp, "prisncronjobs").await?,
    };
    if let Some(cm) = &objects.configmap {
        let mut owned = cm.clone();
        owned.metadata.owner_references = Some(vec![owner.clone()]);
        apply_one(client, &owned, &pp, "configmaps").await?;
    }
    Ok(Applied {
        kind: objects.resource.kind(),
        name,
        namespace,
        changed: changed || cm_changed,
        generation,
        owner: Some(owner),
    })
}

/// Apply one object; true when it changed.
async fn apply_one<K>(
    client: &kube::Client,
    obj: &K,
    pp: &PatchParams,
    plural: &str,
) -> anyhow::Result<bool>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + Serialize
        + std::fmt::Debug,
    K::DynamicType: Default,
{
    let ns = obj.meta().namespace.clone().unwrap_or_default();
    let name = obj.name_any();
    let api: Api<K> = Api::namespaced(client.clone(), &ns);
    let before = match api.get(&name).await {
        Ok(o) => o.meta().resource_version.clone(),
        Err(e) if is_not_found(&e) => None,
        Err(e) => return Err(e).explain("get", plural, &ns),
    };
    let mut body = serde_json::to_value(obj)?;
    // Apply bodies carry type information; typed core objects serialise without it.
    body["apiVersion"] = K::api_version(&K::DynamicType::default())
        .into_owned()
        .into();
    body["kind"] = K::kind(&K::DynamicType::default()).into_owned().into();
    let after = api
        .patch(&name, pp, &Patch::Apply(&body))
        .await
        .explain("apply", plural, &ns)?;
    Ok(before != after.meta().resource_version)
}

async fn apply_cr<K>(
    client: &kube::Client,
    obj: &K,
    pp: &PatchParams,
    plural: &str,
) -> anyhow::Result<(bool, String, String, Option<i64>, OwnerReference)>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + Serialize
        + std::fmt::Debug,
{
    let ns = obj.meta().namespace.clone().unwrap_or_default();
    let name = obj.name_any();
    let changed = apply_one(client, obj, pp, plural).await?;
    let api: Api<K> = Api::namespaced(client.clone(), &ns);
    let now = api.get(&name).await.explain("get", plural, &ns)?;
    let owner = now
        .controller_owner_ref(&())
        .map(|mut o| {
            // The resource owns its code, but does not control it (the operator does not
            // reconcile the ConfigMap).
            o.controller = None;
            o.block_owner_deletion = None;
            o
        })
        .ok_or_else(|| anyhow::anyhow!("{plural}/{name} has no uid after apply"))?;
    Ok((changed, name, ns, now.meta().generation, owner))
}

/// How a wait ended.
#[derive(Debug, Clone, Serialize)]
pub struct Waited {
    pub phase: String,
    pub seconds: f64,
}

/// Wait until the resource is Ready (apps), finished (jobs) or accepted (cron jobs),
/// reporting each new phase as a note (the CLI prints it on stderr unless `--quiet`). Fails
/// fast when the operator reports it Degraded, and when an app's newest pods crash-loop
/// ([`super::crashloop`]).
///
/// # Errors
/// Degraded, CrashLoopBackOff, Failed, or `timeout` passed.
pub async fn wait(
    client: &kube::Client,
    applied: &Applied,
    timeout: Duration,
    reporter: &dyn prisn_builder::Reporter,
) -> anyhow::Result<Waited> {
    let start = Instant::now();
    let mut last = String::new();
    let mut polls = 0u32;
    loop {
        polls += 1;
        let (observed, conditions, phase, message) = match applied.kind {
            "PrisnApp" => {
                snapshot::<PrisnApp>(client, applied, |s| {
                    (
                        s.observed_generation,
                        s.conditions.clone(),
                        s.phase.clone(),
                        s.message.clone(),
                    )
                })
                .await?
            }
            "PrisnJob" => {
                snapshot::<PrisnJob>(client, applied, |s| {
                    (
                        s.observed_generation,
                        s.conditions.clone(),
                        s.phase.clone(),
                        s.message.clone(),
                    )
                })
                .await?
            }
            _ => {
                snapshot::<PrisnCronJob>(client, applied, |s| {
                    (
                        s.observed_generation,
                        s.conditions.clone(),
                        s.phase.clone(),
                        s.message.clone(),
                    )
                })
                .await?
            }
        };
        let current = observed.is_some() && observed >= applied.generation;
        let phase = phase.unwrap_or_else(|| "Pending".into());
        let line = format!(
            "{} {}: {}{}",
            applied.kind,
            applied.name,
            phase,
            message
                .as_deref()
                .map(|m| format!(" ({m})"))
                .unwrap_or_default()
        );
        if line != last {
            reporter.report(prisn_builder::Event::Note(line.clone()));
            last = line;
        }
        if current {
            if let Some(c) = condition(&conditions, ConditionType::Degraded)
                .filter(|c| c.status == ConditionStatus::True.as_str())
            {
                bail!(
                    "the operator reports {} {} Degraded: {}",
                    applied.kind,
                    applied.name,
                    c.message
                );
            }
            let done = match applied.kind {
                "PrisnApp" => condition(&conditions, ConditionType::Ready)
                    .is_some_and(|c| c.status == ConditionStatus::True.as_str()),
                "PrisnJob" => {
                    if JobPhase::parse(&phase) == Some(JobPhase::Failed) {
                        bail!(
                            "PrisnJob {} failed: {}{}",
                            applied.name,
                            message.unwrap_or_default(),
                            last_output(client, applied).await
                        );
                    }
                    JobPhase::parse(&phase) == Some(JobPhase::Succeeded)
                }
                _ => true,
            };
            if done {
                return Ok(Waited {
                    phase,
                    seconds: start.elapsed().as_secs_f64(),
                });
            }
        }
        // Every second (two list calls): kubelet backs off 10 s after the first crash anyway.
        if applied.kind == "PrisnApp"
            && current
            && polls.is_multiple_of(4)
            && let Some(why) =
                super::crashloop::check(client, &applied.namespace, &applied.name).await
        {
            bail!(
                "{why}\nsee `prisn logs {}` and `prisn status {}`",
                applied.name,
                applied.name
            );
        }
        if start.elapsed() > timeout {
            bail!(
                "{} {} is not ready after {}s (phase {phase}); see `prisn status {}`",
                applied.kind,
                applied.name,
                timeout.as_secs(),
                applied.name
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// "\nlast output:\n  …" from the newest pod of the workload, or nothing when it has none (a
/// pod that never started) or its log cannot be read: the error is still the failure.
async fn last_output(client: &kube::Client, applied: &Applied) -> String {
    let pods: Api<Pod> = Api::namespaced(client.clone(), &applied.namespace);
    let selector = ListParams::default().labels(&format!("{APP_KEY}={}", applied.name));
    let Ok(list) = pods.list(&selector).await else {
        return String::new();
    };
    let Some(newest) = list
        .items
        .iter()
        .max_by_key(|p| p.metadata.creation_timestamp.clone().map(|t| t.0))
    else {
        return String::new();
    };
    let params = LogParams {
        tail_lines: Some(super::output::LINES),
        ..Default::default()
    };
    super::output::last(&pods, &newest.name_any(), &params).await
}

type Snapshot = (Option<i64>, Vec<Condition>, Option<String>, Option<String>);

async fn snapshot<K>(
    client: &kube::Client,
    applied: &Applied,
    pick: impl Fn(&K::Status) -> Snapshot,
) -> anyhow::Result<Snapshot>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + kube::core::object::HasStatus
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
{
    let api: Api<K> = Api::namespaced(client.clone(), &applied.namespace);
    let obj = api
        .get(&applied.name)
        .await
        .explain("get", applied.kind, &applied.namespace)?;
    Ok(obj
        .status()
        .map(pick)
        .unwrap_or((None, Vec::new(), None, None)))
}

fn condition(conditions: &[Condition], kind: ConditionType) -> Option<&Condition> {
    conditions.iter().find(|c| c.type_ == kind.as_str())
}
