//! IO: resolve the source, apply the children (server-side apply, field manager
//! `prisn-operator`), write the status. One module per kind; shared helpers here.

pub mod app;
pub mod cronjob;
pub mod job;

use std::collections::{BTreeMap, HashMap};
use std::fmt::Debug;
use std::sync::{Arc, Mutex};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::events::{Event, EventType, Recorder};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::config::OperatorConfig;
use crate::crd::{Runtime, Source, SourceKind};
use crate::error::{Error, Problem};
use crate::labels::FIELD_MANAGER;
use crate::metrics::Metrics;

/// What every reconcile gets.
pub struct Context {
    pub client: Client,
    pub config: OperatorConfig,
    pub recorder: Recorder,
    pub metrics: Arc<Metrics>,
    /// What this process last applied per child, see [`apply_cached`].
    pub applied: AppliedCache,
    /// Caches of the children, filled by the watches that trigger reconciles (`None`: read
    /// children from the API server).
    pub stores: Option<ChildStores>,
    /// Asks the app controller for another reconcile (set by the controller).
    pub retrigger: Option<futures::channel::mpsc::UnboundedSender<ObjectRef<crate::crd::PrisnApp>>>,
    /// Refusals of background Service creations, by `namespace/name`, for the next reconcile.
    pub deferred: Mutex<HashMap<String, Problem>>,
    /// Background Service creations under way, by `namespace/name` (one at a time per app).
    pub creating: Mutex<std::collections::HashSet<String>>,
}

/// Reflector caches of prisn-managed children (managedFields stripped to save memory).
#[derive(Clone)]
pub struct ChildStores {
    pub deployments: Store<Deployment>,
    pub services: Store<Service>,
}

/// What the caller knows about a child before applying it.
pub enum Current<K> {
    /// Nothing: read it from the API server if needed.
    Unknown,
    /// From a cache that is at least as new as the event that triggered the reconcile.
    Cached(Option<Arc<K>>),
}

/// Looks `name` up in `store` (when there is one).
pub fn cached<K>(store: Option<&Store<K>>, ns: &str, name: &str) -> Current<K>
where
    K: Resource<DynamicType = ()> + Clone,
{
    match store {
        Some(s) => Current::Cached(s.get(&ObjectRef::new(name).within(ns))),
        None => Current::Unknown,
    }
}

impl Context {
    pub fn new(
        client: Client,
        config: OperatorConfig,
        recorder: Recorder,
        metrics: Arc<Metrics>,
    ) -> Self {
        Context {
            client,
            config,
            recorder,
            metrics,
            applied: AppliedCache::default(),
            stores: None,
            retrigger: None,
            deferred: Mutex::new(HashMap::new()),
            creating: Mutex::new(std::collections::HashSet::new()),
        }
    }
}

/// Per child (`kind/namespace/name`): the hash of the object we last applied and the child's
/// `(uid, generation or resourceVersion)` right after that apply.
#[derive(Default)]
pub struct AppliedCache(Mutex<HashMap<String, Applied>>);

/// `(hash of what we applied, (uid, version) of the child right after)`.
type Applied = (String, (String, String));

impl AppliedCache {
    fn get(&self, key: &str) -> Option<Applied> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .cloned()
    }
    fn put(&self, key: String, value: Applied) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, value);
    }
}

/// Identifies "this exact version of the child": uid plus generation (objects with a spec
/// generation, e.g. Deployments, whose status changes must not count) or resourceVersion.
fn marker<K: Resource>(obj: &K) -> (String, String) {
    let m = obj.meta();
    let version = match m.generation {
        Some(g) => format!("g{g}"),
        None => format!("rv{}", m.resource_version.clone().unwrap_or_default()),
    };
    (m.uid.clone().unwrap_or_default(), version)
}

/// [`apply`], skipped when this process already applied the same object and nobody changed
/// the child since (same uid and generation/resourceVersion): a steady-state reconcile then
/// costs one GET instead of a server-side apply. After a restart the cache is empty, so the
/// first reconcile applies everything again; an edit to the child by anyone else changes its
/// generation, so it is reverted.
pub async fn apply_cached<K>(
    ctx: &Context,
    api: &Api<K>,
    ns: &str,
    name: &str,
    obj: &K,
    current: Current<K>,
) -> Outcome<K>
where
    K: Resource + Clone + DeserializeOwned + Serialize + Debug,
    K::DynamicType: Default,
{
    let key = format!("{}/{ns}/{name}", K::kind(&K::DynamicType::default()));
    let bytes = serde_json::to_vec(obj).map_err(|source| Error::Serialize {
        what: key.clone(),
        source,
    })?;
    let hash = crate::children::source::hash(&[&bytes]);
    if let Some((h, m)) = ctx.applied.get(&key)
        && h == hash
    {
        let existing = match current {
            Current::Cached(c) => c.map(|a| (*a).clone()),
            Current::Unknown => get_opt(api, name).await?,
        };
        if let Some(e) = existing
            && marker(&e) == m
        {
            return Ok(Ok(e));
        }
    }
    let out = apply(api, name, obj).await?;
    if let Ok(o) = &out {
        ctx.applied.put(key, (hash, marker(o)));
    }
    Ok(out)
}

/// `Ok(Ok(x))` done, `Ok(Err(problem))` the user's object is wrong (report, don't retry fast),
/// `Err(e)` a transient failure (retry with backoff).
pub type Outcome<T> = Result<Result<T, Problem>, Error>;

fn apply_params() -> PatchParams {
    PatchParams::apply(FIELD_MANAGER).force()
}

/// Whether the API server refused an object as invalid (as opposed to being unavailable).
fn is_rejection(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if matches!(s.code, 400 | 403 | 409 | 422))
}

fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

/// Server-side applies `obj` as `name`. A refusal (400/403/409/422) becomes a [`Problem`]
/// naming the child, so one bad object cannot make the operator retry in a tight loop.
pub async fn apply<K>(api: &Api<K>, name: &str, obj: &K) -> Outcome<K>
where
    K: Resource + Clone + DeserializeOwned + Serialize + Debug,
    K::DynamicType: Default,
{
    let started = std::time::Instant::now();
    let res = api.patch(name, &apply_params(), &Patch::Apply(obj)).await;
    timing(
        "apply",
        K::kind(&K::DynamicType::default()).as_ref(),
        name,
        started,
    );
    match res {
        Ok(o) => Ok(Ok(o)),
        Err(e) if is_rejection(&e) => Ok(Err(Problem::rejected(format!(
            "the API server refused {} {name}: {}",
            K::kind(&K::DynamicType::default()),
            api_message(&e)
        )))),
        Err(e) => Err(Error::kube(
            format!("applying {} {name}", K::kind(&K::DynamicType::default())),
            e,
        )),
    }
}

fn api_message(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => s.message.clone(),
        other => other.to_string(),
    }
}

/// Reads `name`, `None` when it does not exist.
pub async fn get_opt<K>(api: &Api<K>, name: &str) -> Result<Option<K>, Error>
where
    K: Resource + Clone + DeserializeOwned + Debug,
    K::DynamicType: Default,
{
    let started = std::time::Instant::now();
    let res = api.get_opt(name).await;
    timing(
        "get",
        K::kind(&K::DynamicType::default()).as_ref(),
        name,
        started,
    );
    res.map_err(|e| {
        Error::kube(
            format!("reading {} {name}", K::kind(&K::DynamicType::default())),
            e,
        )
    })
}

/// Deletes `name` if it exists and is controlled by the object with `owner_uid` (never touches
/// an object someone else made under the same name).
pub async fn delete_owned<K>(api: &Api<K>, name: &str, owner_uid: &str) -> Result<bool, Error>
where
    K: Resource + Clone + DeserializeOwned + Debug,
    K::DynamicType: Default,
{
    let Some(obj) = get_opt(api, name).await? else {
        return Ok(false);
    };
    if !obj.owner_references().iter().any(|o| o.uid == owner_uid) {
        return Ok(false);
    }
    match api.delete(name, &DeleteParams::background()).await {
        Ok(_) => Ok(true),
        Err(e) if is_not_found(&e) => Ok(false),
        Err(e) => Err(Error::kube(
            format!("deleting {} {name}", K::kind(&K::DynamicType::default())),
            e,
        )),
    }
}

/// Writes `status` on the status subresource (server-side apply, so it never conflicts with
/// the spec writers).
pub async fn patch_status<K, S>(api: &Api<K>, name: &str, status: &S) -> Result<(), Error>
where
    K: Resource + Clone + DeserializeOwned + Debug,
    K::DynamicType: Default,
    S: Serialize,
{
    let dt = K::DynamicType::default();
    let body = serde_json::json!({
        "apiVersion": K::api_version(&dt),
        "kind": K::kind(&dt),
        "status": status,
    });
    let started = std::time::Instant::now();
    let res = api
        .patch_status(name, &apply_params(), &Patch::Apply(&body))
        .await;
    timing("status", K::kind(&dt).as_ref(), name, started);
    res.map(|_| ())
        .map_err(|e| Error::kube(format!("writing the status of {} {name}", K::kind(&dt)), e))
}

/// Creates `obj` (used for Jobs, whose pod template is immutable and must not be re-applied).
pub async fn create<K>(api: &Api<K>, name: &str, obj: &K) -> Outcome<K>
where
    K: Resource + Clone + DeserializeOwned + Serialize + Debug,
    K::DynamicType: Default,
{
    let pp = PostParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..Default::default()
    };
    match api.create(&pp, obj).await {
        Ok(o) => Ok(Ok(o)),
        Err(e) if is_rejection(&e) => Ok(Err(Problem::rejected(format!(
            "the API server refused {} {name}: {}",
            K::kind(&K::DynamicType::default()),
            api_message(&e)
        )))),
        Err(e) => Err(Error::kube(
            format!("creating {} {name}", K::kind(&K::DynamicType::default())),
            e,
        )),
    }
}

/// Resolves a spec's source, fetching the referenced ConfigMap or Secret.
pub async fn resolve_source(
    ctx: &Context,
    namespace: &str,
    owner: &str,
    source: &Source,
    runtime: Option<Runtime>,
) -> Outcome<crate::children::ResolvedSource> {
    let data = match source.kind() {
        Ok(SourceKind::ConfigMap) => {
            let name = source
                .config_map_ref
                .as_ref()
                .map(|r| r.name.as_str())
                .unwrap_or("");
            let api: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), namespace);
            match get_opt(&api, name).await? {
                None => {
                    return Ok(Err(Problem::source(
                        "ConfigMapNotFound",
                        format!(
                            "source.configMapRef: ConfigMap {name:?} not found in namespace {namespace:?}; create it (prisn deploy does) or fix the name"
                        ),
                    )));
                }
                Some(cm) => Some(config_map_data(&cm)),
            }
        }
        Ok(SourceKind::Secret) => {
            let name = source
                .secret_ref
                .as_ref()
                .map(|r| r.name.as_str())
                .unwrap_or("");
            let api: Api<Secret> = Api::namespaced(ctx.client.clone(), namespace);
            match get_opt(&api, name).await? {
                None => {
                    return Ok(Err(Problem::source(
                        "SecretNotFound",
                        format!(
                            "source.secretRef: Secret {name:?} not found in namespace {namespace:?}"
                        ),
                    )));
                }
                Some(s) => Some(secret_data(&s)),
            }
        }
        _ => None,
    };
    Ok(crate::children::resolve(
        owner,
        source,
        runtime,
        data.as_ref(),
        &ctx.config,
    ))
}

fn config_map_data(cm: &ConfigMap) -> BTreeMap<String, Vec<u8>> {
    let mut out: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for (k, v) in cm.data.iter().flatten() {
        out.insert(k.clone(), v.clone().into_bytes());
    }
    for (k, v) in cm.binary_data.iter().flatten() {
        out.insert(k.clone(), v.0.clone());
    }
    out
}

fn secret_data(s: &Secret) -> BTreeMap<String, Vec<u8>> {
    let mut out: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for (k, v) in s.data.iter().flatten() {
        out.insert(k.clone(), v.0.clone());
    }
    for (k, v) in s.string_data.iter().flatten() {
        out.insert(k.clone(), v.clone().into_bytes());
    }
    out
}

/// Publishes an event about `obj`; a failure is logged, never fatal (events are best effort).
pub async fn publish<K: Resource<DynamicType = ()>>(
    recorder: &Recorder,
    obj: &K,
    type_: EventType,
    reason: &str,
    note: String,
) {
    let ev = Event {
        type_,
        reason: reason.to_string(),
        // The Events API caps notes at 1 kB.
        note: Some(note.chars().take(1000).collect()),
        action: "Reconcile".into(),
        secondary: None,
    };
    let started = std::time::Instant::now();
    let res = recorder.publish(&ev, &obj.object_ref(&())).await;
    timing("event", reason, "", started);
    if let Err(e) = res {
        tracing::warn!(error = %e, reason, "could not publish event");
    }
}

/// Debug log of one API call's duration (`RUST_LOG=prisn_operator=debug`), to see where a
/// slow reconcile waits.
fn timing(call: &str, kind: &str, name: &str, started: std::time::Instant) {
    tracing::debug!(
        call,
        kind,
        name,
        ms = started.elapsed().as_millis() as u64,
        "api call"
    );
}

/// Name and namespace of a namespaced object.
pub fn name_ns<K: Resource>(obj: &K) -> Result<(String, String), Error> {
    let name = obj
        .meta()
        .name
        .clone()
        .ok_or(Error::MissingObjectKey(".metadata.name"))?;
    let ns = obj
        .meta()
        .namespace
        .clone()
        .ok_or(Error::MissingObjectKey(".metadata.namespace"))?;
    Ok((name, ns))
}
