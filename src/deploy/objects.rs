//! Pure: what `prisn deploy` asks the cluster for. A digest-pinned image (or the code as a
//! `<name>-code` ConfigMap) plus the flags become a PrisnApp, PrisnJob or PrisnCronJob.

use std::collections::BTreeMap;

use anyhow::{Context as _, bail};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{ConfigMap, EnvVar};
use kube::api::ObjectMeta;
use prisn_api::crd::app::Storage;
use prisn_api::crd::common::{NameRef, Resources};
use prisn_api::crd::{
    PrisnApp, PrisnAppSpec, PrisnCronJob, PrisnCronJobSpec, PrisnJob, PrisnJobSpec, Source,
};
use prisn_api::labels::{APP_KEY, MANAGED_BY, MANAGED_BY_KEY};
use prisn_api::{Concurrency, Kind, Runtime};
use serde::Serialize;

/// The most a ConfigMap holds (the API server refuses more than 1 MiB of data).
pub const CONFIGMAP_LIMIT: usize = 1024 * 1024;

/// Where the pods get their code.
#[derive(Debug, Clone, PartialEq)]
pub enum CodeSource {
    /// A pushed image, pinned by digest.
    Image(String),
    /// Every file of the script (relative path → bytes), shipped as `<name>-code`.
    ConfigMap {
        files: BTreeMap<String, Vec<u8>>,
        entrypoint: String,
    },
}

/// Everything `prisn deploy` was told, resolved.
#[derive(Debug, Clone)]
pub struct Spec {
    pub name: String,
    pub namespace: String,
    pub kind: Kind,
    pub runtime: Runtime,
    pub source: CodeSource,
    pub port: Option<u16>,
    pub replicas: Option<u32>,
    pub env: Vec<(String, String)>,
    pub args: Vec<String>,
    pub storage: Vec<crate::request::StorageRequest>,
    pub cpu: Option<String>,
    pub memory: Option<String>,
    pub schedule: Option<String>,
    /// Cron jobs: what happens when a run is due while the last one still runs.
    pub concurrency: Concurrency,
}

/// The objects to apply, in order.
#[derive(Debug, Clone)]
pub struct Objects {
    pub configmap: Option<ConfigMap>,
    pub resource: Resource,
}

/// The custom resource.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Resource {
    App(Box<PrisnApp>),
    Job(Box<PrisnJob>),
    CronJob(Box<PrisnCronJob>),
}

impl Resource {
    pub fn kind(&self) -> &'static str {
        match self {
            Resource::App(_) => "PrisnApp",
            Resource::Job(_) => "PrisnJob",
            Resource::CronJob(_) => "PrisnCronJob",
        }
    }
}

/// The name of the code ConfigMap of `name`.
pub fn configmap_name(name: &str) -> String {
    format!("{name}-code")
}

fn labels(name: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (MANAGED_BY_KEY.to_string(), MANAGED_BY.to_string()),
        (APP_KEY.to_string(), name.to_string()),
    ])
}

/// Build the objects for `spec`.
///
/// # Errors
/// A bad `--storage` flag, or code too large for a ConfigMap.
pub fn build(spec: &Spec) -> anyhow::Result<Objects> {
    let meta = |name: String| ObjectMeta {
        name: Some(name),
        namespace: Some(spec.namespace.clone()),
        labels: Some(labels(&spec.name)),
        ..Default::default()
    };
    let (source, configmap) = match &spec.source {
        CodeSource::Image(image) => (
            Source {
                image: Some(image.clone()),
                ..Default::default()
            },
            None,
        ),
        CodeSource::ConfigMap { files, entrypoint } => {
            let cm = code_configmap(&spec.name, files, meta(configmap_name(&spec.name)))?;
            (
                Source {
                    config_map_ref: Some(NameRef::new(configmap_name(&spec.name))),
                    entrypoint: Some(entrypoint.clone()),
                    ..Default::default()
                },
                Some(cm),
            )
        }
    };
    let runtime = match spec.source {
        CodeSource::Image(_) => None,
        CodeSource::ConfigMap { .. } => Some(spec.runtime),
    };
    let env: Vec<EnvVar> = spec
        .env
        .iter()
        .map(|(k, v)| EnvVar {
            name: k.clone(),
            value: Some(v.clone()),
            ..Default::default()
        })
        .collect();
    let resources = (spec.cpu.is_some() || spec.memory.is_some()).then(|| Resources {
        cpu: spec.cpu.clone(),
        memory: spec.memory.clone(),
        requests: None,
    });
    // A run is tried once, as local mode does: a failure is reported, not retried six times
    // with back-off (Kubernetes' default) while `deploy --wait` sits in Pending.
    let job_spec = || PrisnJobSpec {
        source: source.clone(),
        runtime,
        args: spec.args.clone(),
        env: env.clone(),
        resources: resources.clone(),
        backoff_limit: Some(0),
        ..Default::default()
    };
    let resource = match spec.kind {
        Kind::App => {
            let app_spec = PrisnAppSpec {
                source: source.clone(),
                runtime,
                port: spec.port.map(i32::from),
                replicas: Some(
                    spec.replicas
                        .unwrap_or(1)
                        .try_into()
                        .context("--replicas is too large")?,
                ),
                args: spec.args.clone(),
                env: env.clone(),
                resources: resources.clone(),
                storage: spec
                    .storage
                    .iter()
                    .map(storage)
                    .collect::<anyhow::Result<_>>()?,
                ..Default::default()
            };
            let mut app = PrisnApp::new(&spec.name, app_spec);
            app.metadata = meta(spec.name.clone());
            Resource::App(Box::new(app))
        }
        Kind::Job => {
            let mut job = PrisnJob::new(&spec.name, job_spec());
            job.metadata = meta(spec.name.clone());
            Resource::Job(Box::new(job))
        }
        Kind::CronJob => {
            let schedule = spec
                .schedule
                .clone()
                .context("a CronJob needs --schedule")?;
            let mut cron = PrisnCronJob::new(
                &spec.name,
                PrisnCronJobSpec {
                    schedule,
                    job_template: job_spec(),
                    concurrency_policy: Some(spec.concurrency),
                    ..Default::default()
                },
            );
            cron.metadata = meta(spec.name.clone());
            Resource::CronJob(Box::new(cron))
        }
    };
    Ok(Objects {
        configmap,
        resource,
    })
}

/// Every file under its encoded key; text as `data`, anything else as `binaryData`.
fn code_configmap(
    name: &str,
    files: &BTreeMap<String, Vec<u8>>,
    meta: ObjectMeta,
) -> anyhow::Result<ConfigMap> {
    let mut data = BTreeMap::new();
    let mut binary = BTreeMap::new();
    let mut total = 0;
    for (path, bytes) in files {
        let key = prisn_api::source::configmap_key(path);
        total += key.len() + bytes.len();
        match String::from_utf8(bytes.clone()) {
            Ok(text) => {
                data.insert(key, text);
            }
            Err(_) => {
                binary.insert(key, ByteString(bytes.clone()));
            }
        }
    }
    if total > CONFIGMAP_LIMIT {
        bail!(
            "the code of {name} is {} bytes, more than a ConfigMap holds ({CONFIGMAP_LIMIT} bytes); configure a registry (--registry REGISTRY or `prisn context add … --registry`) to deploy it as an image",
            total
        );
    }
    Ok(ConfigMap {
        metadata: meta,
        data: Some(data),
        binary_data: (!binary.is_empty()).then_some(binary),
        ..Default::default()
    })
}

/// A `--storage` request → a storage entry; Kubernetes needs a size for a new claim.
fn storage(req: &crate::request::StorageRequest) -> anyhow::Result<Storage> {
    let Some(size) = &req.size else {
        bail!(
            "--storage {}={} needs a size in Kubernetes mode (a new PersistentVolumeClaim), e.g. {}={}:1Gi",
            req.name,
            req.path,
            req.name,
            req.path
        );
    };
    Ok(Storage {
        name: req.name.clone(),
        mount_path: req.path.clone(),
        size: Some(size.clone()),
        ..Default::default()
    })
}

/// The objects as a multi-document YAML stream (`--dry-run -o yaml`).
pub fn to_yaml(objects: &Objects) -> anyhow::Result<String> {
    let mut out = String::new();
    if let Some(cm) = &objects.configmap {
        let mut value = serde_json::to_value(cm)?;
        value["apiVersion"] = "v1".into();
        value["kind"] = "ConfigMap".into();
        out.push_str("---\n");
        out.push_str(&serde_saphyr::to_string(&value)?);
    }
    out.push_str("---\n");
    out.push_str(&serde_saphyr::to_string(&objects.resource)?);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(source: CodeSource) -> Spec {
        Spec {
            name: "api".into(),
            namespace: "team".into(),
            kind: Kind::App,
            runtime: Runtime::Python3,
            source,
            port: Some(8080),
            replicas: Some(3),
            env: vec![("MODE".into(), "prod".into())],
            args: vec![],
            storage: vec![crate::request::parse_storage("data=/var/lib/api:1Gi").unwrap()],
            cpu: Some("500m".into()),
            memory: Some("256Mi".into()),
            schedule: None,
            concurrency: Concurrency::Forbid,
        }
    }

    #[test]
    fn an_image_source_is_pinned_and_has_no_configmap() {
        let image = format!("127.0.0.1:5000/team/api@sha256:{}", "a".repeat(64));
        let objs = build(&spec(CodeSource::Image(image.clone()))).unwrap();
        assert!(objs.configmap.is_none());
        let Resource::App(app) = &objs.resource else {
            panic!("not an app")
        };
        assert_eq!(app.spec.source.image.as_deref(), Some(image.as_str()));
        assert_eq!(app.spec.runtime, None);
        assert_eq!((app.spec.port, app.spec.replicas), (Some(8080), Some(3)));
        assert_eq!(app.spec.storage[0].mount_path, "/var/lib/api");
        assert_eq!(app.metadata.namespace.as_deref(), Some("team"));
        let yaml = to_yaml(&objs).unwrap();
        assert!(
            yaml.contains("kind: PrisnApp") && yaml.contains("apiVersion: prisn.io/v1alpha1"),
            "{yaml}"
        );
    }

    #[test]
    fn a_configmap_source_ships_every_file_under_encoded_keys() {
        let files = BTreeMap::from([
            ("main.py".to_string(), b"import pkg.util\n".to_vec()),
            ("pkg/util.py".to_string(), b"X = 1\n".to_vec()),
            ("data/blob.bin".to_string(), vec![0xff, 0x00, 0x01]),
        ]);
        let mut s = spec(CodeSource::ConfigMap {
            files,
            entrypoint: "main.py".into(),
        });
        s.kind = Kind::CronJob;
        s.schedule = Some("*/5 * * * *".into());
        let objs = build(&s).unwrap();
        let cm = objs.configmap.as_ref().unwrap();
        assert_eq!(cm.metadata.name.as_deref(), Some("api-code"));
        let data = cm.data.as_ref().unwrap();
        assert!(data.contains_key("main.py") && data.contains_key("pkg--util.py"));
        assert!(
            cm.binary_data
                .as_ref()
                .unwrap()
                .contains_key("data--blob.bin")
        );
        let Resource::CronJob(cron) = &objs.resource else {
            panic!("not a cronjob")
        };
        assert_eq!(cron.spec.schedule, "*/5 * * * *");
        let src = &cron.spec.job_template.source;
        assert_eq!(src.config_map_ref.as_ref().unwrap().name, "api-code");
        assert_eq!(src.entrypoint.as_deref(), Some("main.py"));
        assert_eq!(cron.spec.job_template.runtime, Some(Runtime::Python3));
    }

    #[test]
    fn too_much_code_for_a_configmap_suggests_a_registry() {
        let files = BTreeMap::from([("big.py".to_string(), vec![b'#'; CONFIGMAP_LIMIT + 1])]);
        let err = build(&spec(CodeSource::ConfigMap {
            files,
            entrypoint: "big.py".into(),
        }))
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("more than a ConfigMap holds") && err.contains("--registry"),
            "{err}"
        );
    }

    #[test]
    fn storage_without_a_size_is_refused_in_kubernetes_mode() {
        let mut s = spec(CodeSource::Image("r/x@sha256:00".into()));
        s.storage = vec![crate::request::parse_storage("cache=/cache").unwrap()];
        let err = build(&s).unwrap_err().to_string();
        assert!(
            err.contains("needs a size") && err.contains("cache=/cache:1Gi"),
            "{err}"
        );
    }
}
