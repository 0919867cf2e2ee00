//! Reading and changing workloads in a cluster: get, status, delete, scale.

use std::collections::BTreeMap;

use anyhow::bail;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Event, PersistentVolumeClaim, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use prisn_api::crd::{PrisnApp, PrisnCronJob, PrisnJob, Source};
use prisn_api::labels::{APP_KEY, KIND_KEY};
use serde_json::json;

use crate::backend::{Deleted, ExitInfo, Instance, Kind, RunInfo, Status, Workload};
use crate::deploy::client::{Cluster, KubeResult, is_not_found};
use crate::deploy::objects::configmap_name;

/// One of the three resources, fetched.
enum Found {
    App(Box<PrisnApp>),
    Job(Box<PrisnJob>),
    CronJob(Box<PrisnCronJob>),
}

async fn find(c: &Cluster, name: &str) -> anyhow::Result<Option<Found>> {
    let ns = &c.namespace;
    let apps: Api<PrisnApp> = Api::namespaced(c.client.clone(), ns);
    if let Some(a) = apps.get_opt(name).await.explain("get", "prisnapps", ns)? {
        return Ok(Some(Found::App(Box::new(a))));
    }
    let jobs: Api<PrisnJob> = Api::namespaced(c.client.clone(), ns);
    if let Some(j) = jobs.get_opt(name).await.explain("get", "prisnjobs", ns)? {
        return Ok(Some(Found::Job(Box::new(j))));
    }
    let crons: Api<PrisnCronJob> = Api::namespaced(c.client.clone(), ns);
    if let Some(j) = crons
        .get_opt(name)
        .await
        .explain("get", "prisncronjobs", ns)?
    {
        return Ok(Some(Found::CronJob(Box::new(j))));
    }
    Ok(None)
}

fn not_found(c: &Cluster, name: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "no app, job or cron job named {name:?} in namespace {}; `prisn get apps` lists them",
        c.namespace
    )
}

/// Every workload of `kind` (or all), sorted by name.
pub async fn list(c: &Cluster, kind: Option<Kind>) -> anyhow::Result<Vec<Workload>> {
    let ns = &c.namespace;
    let lp = ListParams::default();
    let mut out = Vec::new();
    if kind.is_none_or(|k| k == Kind::App) {
        let api: Api<PrisnApp> = Api::namespaced(c.client.clone(), ns);
        let mut apps: Vec<Workload> = api
            .list(&lp)
            .await
            .explain("list", "prisnapps", ns)?
            .items
            .iter()
            .map(|a| app_row(a, ns))
            .collect();
        // The apps' pods, for their restarts and crash loops (one list for every app).
        let pods: Api<Pod> = Api::namespaced(c.client.clone(), ns);
        let selector = format!("{KIND_KEY}={}", Kind::App.as_str());
        if let Ok(list) = pods.list(&ListParams::default().labels(&selector)).await {
            super::pods::annotate(&mut apps, &list.items);
        }
        out.extend(apps);
    }
    if kind.is_none_or(|k| k == Kind::Job) {
        let api: Api<PrisnJob> = Api::namespaced(c.client.clone(), ns);
        out.extend(
            api.list(&lp)
                .await
                .explain("list", "prisnjobs", ns)?
                .items
                .iter()
                .map(|j| job_row(j, ns)),
        );
    }
    if kind.is_none_or(|k| k == Kind::CronJob) {
        let api: Api<PrisnCronJob> = Api::namespaced(c.client.clone(), ns);
        out.extend(
            api.list(&lp)
                .await
                .explain("list", "prisncronjobs", ns)?
                .items
                .iter()
                .map(|j| cron_row(j, ns)),
        );
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

fn describe_source(s: &Source) -> String {
    if let Some(i) = &s.image {
        i.clone()
    } else if let Some(r) = &s.config_map_ref {
        format!("configmap/{}", r.name)
    } else if let Some(r) = &s.secret_ref {
        format!("secret/{}", r.name)
    } else if s.inline.is_some() {
        "inline".into()
    } else if let Some(g) = &s.git {
        format!("git {}@{}", g.url, g.git_ref.as_deref().unwrap_or("HEAD"))
    } else {
        "-".into()
    }
}

fn time(t: &Option<Time>) -> Option<String> {
    t.as_ref().map(|t| t.0.to_string())
}

pub(super) fn row(
    name: String,
    kind: Kind,
    source: &Source,
    created: Option<String>,
    ns: &str,
) -> Workload {
    Workload {
        name,
        kind,
        source: describe_source(source),
        desired: 1,
        ready: 0,
        phase: "Pending".into(),
        restarts: 0,
        created,
        port: None,
        schedule: None,
        last_run: None,
        next_run: None,
        message: None,
        last_exit: None,
        extra: BTreeMap::from([("namespace".to_string(), ns.into())]),
    }
}

fn app_row(a: &PrisnApp, ns: &str) -> Workload {
    let mut w = row(
        a.name_any(),
        Kind::App,
        &a.spec.source,
        time(&a.metadata.creation_timestamp),
        ns,
    );
    w.desired = a.spec.replicas.unwrap_or(1).max(0) as u32;
    w.port = a.spec.port.and_then(|p| u16::try_from(p).ok());
    if let Some(s) = &a.status {
        w.ready = s.ready_replicas.max(0) as u32;
        w.phase = s.phase.clone().unwrap_or_else(|| "Pending".into());
        w.message = s.message.clone();
        if let Some(i) = &s.image {
            w.extra.insert("image".into(), i.clone().into());
        }
    }
    w
}

fn job_row(j: &PrisnJob, ns: &str) -> Workload {
    let mut w = row(
        j.name_any(),
        Kind::Job,
        &j.spec.source,
        time(&j.metadata.creation_timestamp),
        ns,
    );
    if let Some(s) = &j.status {
        w.ready = s.active.max(0) as u32;
        w.phase = s.phase.clone().unwrap_or_else(|| "Pending".into());
        w.message = s.message.clone();
        w.last_run = time(&s.start_time);
        w.restarts = s.failed.max(0) as u32;
        if let Some(done) = time(&s.completion_time) {
            w.last_exit = Some(ExitInfo {
                code: Some(if s.phase.as_deref() == Some("Failed") {
                    1
                } else {
                    0
                }),
                signal: None,
                reason: if s.phase.as_deref() == Some("Failed") {
                    "Error".into()
                } else {
                    "Completed".into()
                },
                finished: done,
                ran_ms: 0,
                message: s.message.clone(),
            });
        }
    }
    w
}

fn cron_row(j: &PrisnCronJob, ns: &str) -> Workload {
    let mut w = row(
        j.name_any(),
        Kind::CronJob,
        &j.spec.job_template.source,
        time(&j.metadata.creation_timestamp),
        ns,
    );
    w.schedule = Some(j.spec.schedule.clone());
    w.desired = u32::from(!j.spec.suspend);
    if let Some(s) = &j.status {
        w.ready = s.active.len() as u32;
        w.phase = s.phase.clone().unwrap_or_else(|| "Scheduled".into());
        w.message = s.message.clone();
        w.last_run = time(&s.last_schedule_time);
    }
    if j.spec.suspend {
        w.phase = "Suspended".into();
    }
    w
}

/// Conditions, instances (pods), runs (Jobs), events and the last lines of output.
pub async fn status(c: &Cluster, name: &str) -> anyhow::Result<Status> {
    let ns = &c.namespace;
    let found = find(c, name).await?.ok_or_else(|| not_found(c, name))?;
    let (workload, conditions, kind_name) = match &found {
        Found::App(a) => (
            app_row(a, ns),
            a.status.as_ref().map(|s| s.conditions.clone()),
            "PrisnApp",
        ),
        Found::Job(j) => (
            job_row(j, ns),
            j.status.as_ref().map(|s| s.conditions.clone()),
            "PrisnJob",
        ),
        Found::CronJob(j) => (
            cron_row(j, ns),
            j.status.as_ref().map(|s| s.conditions.clone()),
            "PrisnCronJob",
        ),
    };
    let selector = format!("{APP_KEY}={name}");
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), ns);
    let mut pod_list = pods
        .list(&ListParams::default().labels(&selector))
        .await
        .explain("list", "pods", ns)?
        .items;
    pod_list.sort_by_key(|p| p.metadata.creation_timestamp.clone().map(|t| t.0));
    let instances = pod_list.iter().map(instance).collect();
    let mut workload = workload;
    if matches!(found, Found::App(_)) {
        super::pods::annotate(std::slice::from_mut(&mut workload), &pod_list);
    }
    let mut details: Vec<(String, String)> = vec![
        ("namespace".into(), ns.clone()),
        ("resource".into(), format!("{kind_name}/{name}")),
    ];
    for cond in conditions.unwrap_or_default() {
        details.push((
            format!("condition {}", cond.type_),
            describe_condition(&cond),
        ));
    }
    let events: Api<Event> = Api::namespaced(c.client.clone(), ns);
    let ev_list = events
        .list(&ListParams::default().fields(&format!("involvedObject.name={name}")))
        .await
        .map(|l| l.items)
        .unwrap_or_default();
    for e in ev_list.iter().rev().take(10) {
        details.push((
            format!("event {}", e.type_.as_deref().unwrap_or("Normal")),
            format!(
                "{}: {}",
                e.reason.as_deref().unwrap_or("-"),
                e.message.as_deref().unwrap_or("")
            ),
        ));
    }
    let runs = runs(c, &selector).await?;
    // The newest pod's last lines, when the cluster serves logs.
    let output = match pod_list.last() {
        Some(p) => pods
            .logs(
                &p.name_any(),
                &kube::api::LogParams {
                    tail_lines: Some(10),
                    ..Default::default()
                },
            )
            .await
            .map(|s| s.lines().map(str::to_string).collect())
            .unwrap_or_default(),
        None => Vec::new(),
    };
    Ok(Status {
        workload,
        instances,
        runs,
        output,
        details,
    })
}

fn describe_condition(c: &Condition) -> String {
    let mut s = format!("{} ({})", c.status, c.reason);
    if !c.message.is_empty() {
        s.push_str(&format!(": {}", c.message));
    }
    s
}

fn instance(p: &Pod) -> Instance {
    let status = p.status.as_ref();
    Instance {
        name: p.name_any(),
        phase: super::pods::state(p),
        ready: status
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True")),
        started: status.and_then(|s| time(&s.start_time)),
    }
}

async fn runs(c: &Cluster, selector: &str) -> anyhow::Result<Vec<RunInfo>> {
    let jobs: Api<Job> = Api::namespaced(c.client.clone(), &c.namespace);
    let mut list = jobs
        .list(&ListParams::default().labels(selector))
        .await
        .explain("list", "jobs", &c.namespace)?
        .items;
    list.sort_by_key(|j| std::cmp::Reverse(j.metadata.creation_timestamp.clone().map(|t| t.0)));
    Ok(list
        .iter()
        .map(|j| {
            let s = j.status.as_ref();
            let failed = s.and_then(|s| s.failed).unwrap_or(0) > 0
                && s.and_then(|s| s.succeeded).unwrap_or(0) == 0;
            let finished = s.and_then(|s| time(&s.completion_time));
            RunInfo {
                id: j.name_any(),
                started: s.and_then(|s| time(&s.start_time)).unwrap_or_default(),
                scheduled_for: None,
                exit: finished
                    .or_else(|| failed.then(String::new))
                    .map(|f| ExitInfo {
                        code: Some(i32::from(failed)),
                        signal: None,
                        reason: if failed {
                            "Error".into()
                        } else {
                            "Completed".into()
                        },
                        finished: f,
                        ran_ms: 0,
                        message: None,
                    }),
            }
        })
        .collect())
}

/// Delete the resource and its `<name>-code` ConfigMap; PersistentVolumeClaims stay.
pub async fn delete(c: &Cluster, name: &str) -> anyhow::Result<Option<Deleted>> {
    let ns = &c.namespace;
    let dp = DeleteParams::background();
    let Some(found) = find(c, name).await? else {
        return Ok(None);
    };
    match found {
        Found::App(_) => {
            let api: Api<PrisnApp> = Api::namespaced(c.client.clone(), ns);
            api.delete(name, &dp)
                .await
                .explain("delete", "prisnapps", ns)?;
        }
        Found::Job(_) => {
            let api: Api<PrisnJob> = Api::namespaced(c.client.clone(), ns);
            api.delete(name, &dp)
                .await
                .explain("delete", "prisnjobs", ns)?;
        }
        Found::CronJob(_) => {
            let api: Api<PrisnCronJob> = Api::namespaced(c.client.clone(), ns);
            api.delete(name, &dp)
                .await
                .explain("delete", "prisncronjobs", ns)?;
        }
    }
    // Owned by the resource, so the garbage collector would remove it too; deleting it
    // here means it is gone when the command returns.
    let cms: Api<ConfigMap> = Api::namespaced(c.client.clone(), ns);
    match cms.delete(&configmap_name(name), &dp).await {
        Ok(_) => {}
        Err(e) if is_not_found(&e) => {}
        Err(e) => return Err(e).explain("delete", "configmaps", ns),
    }
    super::history::forget(c, name).await?;
    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(c.client.clone(), ns);
    let kept: Vec<String> = pvcs
        .list(&ListParams::default().labels(&format!("{APP_KEY}={name}")))
        .await
        .map(|l| l.items.iter().map(|p| p.name_any()).collect())
        .unwrap_or_default();
    let mut notes = Vec::new();
    if !kept.is_empty() {
        notes.push(format!(
            "kept {} PersistentVolumeClaim(s) so no data is lost: {} (delete with `kubectl delete pvc -n {ns} {}`)",
            kept.len(),
            kept.join(", "),
            kept.join(" ")
        ));
    }
    Ok(Some(Deleted { notes }))
}

/// Apps scale through the scale subresource (as `kubectl scale` and an HPA do); a cron job
/// is suspended at 0 and resumed at 1.
pub async fn scale(c: &Cluster, name: &str, replicas: u32) -> anyhow::Result<Workload> {
    let ns = &c.namespace;
    match find(c, name).await?.ok_or_else(|| not_found(c, name))? {
        Found::App(_) => {
            let api: Api<PrisnApp> = Api::namespaced(c.client.clone(), ns);
            api.patch_scale(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"replicas": replicas}})),
            )
            .await
            .explain("scale", "prisnapps", ns)?;
            let a = api.get(name).await.explain("get", "prisnapps", ns)?;
            Ok(app_row(&a, ns))
        }
        Found::CronJob(_) if replicas <= 1 => {
            let api: Api<PrisnCronJob> = Api::namespaced(c.client.clone(), ns);
            // A merge patch, not an apply: an apply by the deploy's field manager that named
            // only `suspend` would drop every other field that manager set.
            let body = json!({"spec": {"suspend": replicas == 0}});
            let j = api
                .patch(name, &PatchParams::default(), &Patch::Merge(&body))
                .await
                .explain("patch", "prisncronjobs", ns)?;
            Ok(cron_row(&j, ns))
        }
        Found::CronJob(_) => {
            bail!("a cron job runs one schedule: scale it to 0 (suspend) or 1 (resume)")
        }
        Found::Job(_) => bail!("{name} is a job: it runs once and has no replicas to scale"),
    }
}
