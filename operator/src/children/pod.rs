//! Pure: the pod template shared by Deployments, Jobs and CronJobs — the main container, the
//! code volume or git init containers, probes, and the default pod security.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMapVolumeSource, Container, ContainerPort, EmptyDirVolumeSource,
    EnvFromSource, EnvVar, HTTPGetAction, KeyToPath, Lifecycle, LifecycleHandler,
    LocalObjectReference, PersistentVolumeClaimVolumeSource, PodSecurityContext, PodSpec,
    PodTemplateSpec, Probe, ResourceRequirements, SeccompProfile, SecretVolumeSource,
    SecurityContext, SleepAction, TCPSocketAction, Toleration, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::crd::{GitSource, HealthCheck, Resources, Storage};
use crate::error::Problem;
use crate::labels::{self, CODE_HASH_ANNOTATION, Kind};

use super::source::{Code, ResolvedSource};
use super::validate;

/// The fixed UID/GID pods run as (the "nonroot" user of distroless images).
pub const RUN_AS_UID: i64 = 65532;
/// Name of the main container.
pub const MAIN_CONTAINER: &str = "main";
/// Where git credentials are mounted in the git init containers.
const GIT_SECRET_DIR: &str = "/etc/prisn/git";

/// Everything a pod template is made from.
#[derive(Clone, Debug)]
pub struct PodInput<'a> {
    pub name: &'a str,
    pub kind: Kind,
    pub own_labels: Option<&'a BTreeMap<String, String>>,
    pub source: &'a ResolvedSource,
    pub args: &'a [String],
    pub env: &'a [EnvVar],
    pub env_from: &'a [EnvFromSource],
    pub resources: Option<&'a Resources>,
    pub port: Option<i32>,
    pub health_check: Option<&'a HealthCheck>,
    pub storage: &'a [Storage],
    pub service_account_name: Option<&'a str>,
    pub image_pull_secrets: &'a [LocalObjectReference],
    pub node_selector: &'a BTreeMap<String, String>,
    pub tolerations: &'a [Toleration],
    /// `Always` for apps, `Never` for jobs (a failed pod counts against `backoffLimit`).
    pub restart_policy: &'static str,
    pub git_image: &'a str,
}

/// Builds the pod template.
///
/// # Errors
/// A [`Problem`] when a resource quantity is invalid.
pub fn template(input: &PodInput<'_>) -> Result<PodTemplateSpec, Problem> {
    let resources = resource_requirements(input.resources)?;
    let src = input.source;
    let mut volumes = vec![empty_dir("tmp")];
    let mut mounts = vec![mount("tmp", "/tmp", false)];
    let mut init_containers = Vec::new();

    match &src.code {
        Code::Image => {}
        Code::ConfigMap { name, items } => {
            volumes.push(Volume {
                name: "code".into(),
                config_map: Some(ConfigMapVolumeSource {
                    name: name.clone(),
                    items: Some(key_to_paths(items)),
                    default_mode: Some(0o555),
                    ..Default::default()
                }),
                ..Default::default()
            });
            mounts.push(mount("code", "/app", true));
        }
        Code::Secret { name, items } => {
            volumes.push(Volume {
                name: "code".into(),
                secret: Some(SecretVolumeSource {
                    secret_name: Some(name.clone()),
                    items: Some(key_to_paths(items)),
                    default_mode: Some(0o555),
                    ..Default::default()
                }),
                ..Default::default()
            });
            mounts.push(mount("code", "/app", true));
        }
        Code::Inline {
            config_map, key, ..
        } => {
            let path = src.entrypoint.clone().unwrap_or_default();
            volumes.push(Volume {
                name: "code".into(),
                config_map: Some(ConfigMapVolumeSource {
                    name: config_map.clone(),
                    items: Some(key_to_paths(&[(key.clone(), path)])),
                    default_mode: Some(0o555),
                    ..Default::default()
                }),
                ..Default::default()
            });
            mounts.push(mount("code", "/app", true));
        }
        Code::Git(git) => {
            volumes.push(empty_dir("code"));
            mounts.push(mount("code", "/app", true));
            if let Some(secret) = &git.secret_ref {
                volumes.push(Volume {
                    name: "git-credentials".into(),
                    secret: Some(SecretVolumeSource {
                        secret_name: Some(secret.name.clone()),
                        items: Some(vec![KeyToPath {
                            key: ".git-credentials".into(),
                            path: ".git-credentials".into(),
                            mode: None,
                        }]),
                        default_mode: Some(0o444),
                        ..Default::default()
                    }),
                    ..Default::default()
                });
            }
            init_containers = git_init_containers(git, input.git_image);
        }
    }

    for s in input.storage {
        let claim = s
            .existing_claim
            .clone()
            .unwrap_or_else(|| super::pvc::claim_name(input.name, &s.name));
        let vol = format!("storage-{}", s.name);
        volumes.push(Volume {
            name: vol.clone(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: claim,
                read_only: None,
            }),
            ..Default::default()
        });
        mounts.push(mount(&vol, &s.mount_path, false));
    }

    let (command, args) = match (&src.code, src.runtime, &src.entrypoint) {
        (Code::Image, _, _) => (None, non_empty(input.args.to_vec())),
        (_, Some(rt), Some(entry)) => {
            let mut cmd: Vec<String> = rt.interpreter().iter().map(|s| s.to_string()).collect();
            cmd.push(format!("/app/{entry}"));
            (Some(cmd), non_empty(input.args.to_vec()))
        }
        // resolve() always sets runtime and entrypoint for code sources.
        _ => (None, non_empty(input.args.to_vec())),
    };

    let mut env: Vec<EnvVar> = Vec::with_capacity(input.env.len() + 1);
    if !input.env.iter().any(|e| e.name == "HOME") {
        // The root file system is read-only; tools that write to $HOME get /tmp.
        env.push(EnvVar {
            name: "HOME".into(),
            value: Some("/tmp".into()),
            value_from: None,
        });
    }
    env.extend(input.env.iter().cloned());
    if let Some(port) = input.port {
        // `--port` means "the app gets it as PORT", as in local mode, where it wins over a
        // PORT the user set too: one entry, never two that disagree.
        env.retain(|e| e.name != "PORT");
        env.push(EnvVar {
            name: "PORT".into(),
            value: Some(port.to_string()),
            value_from: None,
        });
    }

    let (startup, readiness, liveness) = probes(input.port, input.health_check);
    let main = Container {
        name: MAIN_CONTAINER.into(),
        image: Some(src.image.clone()),
        command,
        args,
        working_dir: src.working_dir(),
        env: Some(env),
        env_from: non_empty(input.env_from.to_vec()),
        ports: input.port.map(|p| {
            vec![ContainerPort {
                name: Some("http".into()),
                container_port: p,
                protocol: Some("TCP".into()),
                ..Default::default()
            }]
        }),
        resources,
        volume_mounts: Some(mounts),
        startup_probe: startup,
        readiness_probe: readiness,
        liveness_probe: liveness,
        lifecycle: input.port.map(|_| drain()),
        security_context: Some(container_security()),
        termination_message_policy: Some("FallbackToLogsOnError".into()),
        ..Default::default()
    };

    let mut annotations = BTreeMap::new();
    annotations.insert(CODE_HASH_ANNOTATION.to_string(), src.code_hash.clone());
    Ok(PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(labels::pod_labels(input.own_labels, input.name, input.kind)),
            annotations: Some(annotations),
            ..Default::default()
        }),
        spec: Some(PodSpec {
            containers: vec![main],
            init_containers: non_empty(init_containers),
            volumes: Some(volumes),
            restart_policy: Some(input.restart_policy.into()),
            service_account_name: input.service_account_name.map(str::to_string),
            // A script gets no API token unless its spec names a service account: least
            // privilege, and one projected volume less to set up before the pod starts.
            automount_service_account_token: input.service_account_name.is_none().then_some(false),
            image_pull_secrets: non_empty(input.image_pull_secrets.to_vec()),
            node_selector: (!input.node_selector.is_empty()).then(|| input.node_selector.clone()),
            tolerations: non_empty(input.tolerations.to_vec()),
            security_context: Some(pod_security()),
            // Service links put every Service of the namespace into the environment: slow
            // pod starts with hundreds of apps, and never what a script expects.
            enable_service_links: Some(false),
            // The pause process becomes PID 1, not the script: the kernel drops a signal with
            // no handler sent to PID 1, and Python installs none for SIGTERM, so without this
            // every pod deletion (rollout, scale down) waits out the grace period and SIGKILL.
            share_process_namespace: Some(true),
            ..Default::default()
        }),
    })
}

/// Seconds a serving pod keeps answering after it is told to stop.
pub const DRAIN_SECONDS: i64 = 3;

/// A pod that serves a port waits [`DRAIN_SECONDS`] before its SIGTERM: the Service's rules
/// (EndpointSlice, then kube-proxy on every node) drop a terminating pod a moment after the
/// deletion, and a script that ended at once would refuse the requests still routed to it.
/// kubelet's own sleep action, so no `sleep` binary is needed in the image.
fn drain() -> Lifecycle {
    Lifecycle {
        pre_stop: Some(LifecycleHandler {
            sleep: Some(SleepAction {
                seconds: DRAIN_SECONDS,
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// git init / fetch / checkout, each an argument array: no shell ever sees the URL or ref.
fn git_init_containers(git: &GitSource, image: &str) -> Vec<Container> {
    let git_ref = git.git_ref.clone().unwrap_or_else(|| "HEAD".into());
    let mut env = vec![EnvVar {
        name: "HOME".into(),
        value: Some("/tmp".into()),
        value_from: None,
    }];
    let mut mounts = vec![mount("code", "/app", false), mount("tmp", "/tmp", false)];
    if git.secret_ref.is_some() {
        // Config from the environment (git ≥ 2.31); the credential file is read, never written.
        for (k, v) in [
            ("GIT_CONFIG_COUNT", "1".to_string()),
            ("GIT_CONFIG_KEY_0", "credential.helper".to_string()),
            (
                "GIT_CONFIG_VALUE_0",
                format!("store --file={GIT_SECRET_DIR}/.git-credentials"),
            ),
        ] {
            env.push(EnvVar {
                name: k.into(),
                value: Some(v),
                value_from: None,
            });
        }
        mounts.push(mount("git-credentials", GIT_SECRET_DIR, true));
    }
    let step = |name: &str, args: Vec<String>| Container {
        name: name.into(),
        image: Some(image.to_string()),
        command: Some(vec!["git".into()]),
        args: Some(args),
        env: Some(env.clone()),
        volume_mounts: Some(mounts.clone()),
        security_context: Some(container_security()),
        ..Default::default()
    };
    let s = |x: &str| x.to_string();
    vec![
        step("git-init", vec![s("init"), s("-q"), s("/app")]),
        step(
            "git-fetch",
            vec![
                s("-C"),
                s("/app"),
                s("fetch"),
                s("-q"),
                s("--depth"),
                s("1"),
                s("--"),
                git.url.clone(),
                git_ref,
            ],
        ),
        step(
            "git-checkout",
            vec![s("-C"), s("/app"), s("checkout"), s("-q"), s("FETCH_HEAD")],
        ),
    ]
}

/// Startup every second while starting (so a ready app is seen within a second), then
/// readiness (and liveness with an HTTP health check) at the user's period.
fn probes(
    port: Option<i32>,
    health: Option<&HealthCheck>,
) -> (Option<Probe>, Option<Probe>, Option<Probe>) {
    let Some(port) = port else {
        return (None, None, None);
    };
    let handler = |p: Probe| match health {
        Some(h) => Probe {
            http_get: Some(HTTPGetAction {
                path: Some(h.path.clone()),
                port: IntOrString::Int(port),
                ..Default::default()
            }),
            ..p
        },
        None => Probe {
            tcp_socket: Some(TCPSocketAction {
                port: IntOrString::Int(port),
                host: None,
            }),
            ..p
        },
    };
    let period = health.and_then(|h| h.period_seconds).unwrap_or(10);
    let failures = health.and_then(|h| h.failure_threshold).unwrap_or(3);
    let startup = handler(Probe {
        period_seconds: Some(1),
        timeout_seconds: Some(1),
        // Five minutes to start (imports, migrations) before the kubelet restarts the pod.
        failure_threshold: Some(300),
        ..Default::default()
    });
    let steady = |p: Probe| {
        handler(Probe {
            period_seconds: Some(period),
            failure_threshold: Some(failures),
            timeout_seconds: Some(1),
            ..p
        })
    };
    let readiness = steady(Probe::default());
    let liveness = health.map(|_| steady(Probe::default()));
    (Some(startup), Some(readiness), liveness)
}

fn resource_requirements(r: Option<&Resources>) -> Result<Option<ResourceRequirements>, Problem> {
    let Some(r) = r else { return Ok(None) };
    let mut limits = BTreeMap::new();
    let mut requests = BTreeMap::new();
    for (field, key, value) in [
        ("resources.cpu", "cpu", &r.cpu),
        ("resources.memory", "memory", &r.memory),
    ] {
        if let Some(v) = value {
            validate::quantity(field, v)?;
            limits.insert(key.to_string(), Quantity(v.clone()));
        }
    }
    if let Some(req) = &r.requests {
        for (field, key, value) in [
            ("resources.requests.cpu", "cpu", &req.cpu),
            ("resources.requests.memory", "memory", &req.memory),
        ] {
            if let Some(v) = value {
                validate::quantity(field, v)?;
                requests.insert(key.to_string(), Quantity(v.clone()));
            }
        }
    }
    if limits.is_empty() && requests.is_empty() {
        return Ok(None);
    }
    Ok(Some(ResourceRequirements {
        limits: (!limits.is_empty()).then_some(limits),
        requests: (!requests.is_empty()).then_some(requests),
        ..Default::default()
    }))
}

fn pod_security() -> PodSecurityContext {
    PodSecurityContext {
        run_as_non_root: Some(true),
        run_as_user: Some(RUN_AS_UID),
        run_as_group: Some(RUN_AS_UID),
        fs_group: Some(RUN_AS_UID),
        seccomp_profile: Some(SeccompProfile {
            type_: "RuntimeDefault".into(),
            localhost_profile: None,
        }),
        ..Default::default()
    }
}

fn container_security() -> SecurityContext {
    SecurityContext {
        allow_privilege_escalation: Some(false),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".into()]),
            add: None,
        }),
        read_only_root_filesystem: Some(true),
        run_as_non_root: Some(true),
        ..Default::default()
    }
}

fn key_to_paths(items: &[(String, String)]) -> Vec<KeyToPath> {
    items
        .iter()
        .map(|(k, p)| KeyToPath {
            key: k.clone(),
            path: p.clone(),
            mode: None,
        })
        .collect()
}

fn empty_dir(name: &str) -> Volume {
    Volume {
        name: name.into(),
        empty_dir: Some(EmptyDirVolumeSource::default()),
        ..Default::default()
    }
}

fn mount(name: &str, path: &str, read_only: bool) -> VolumeMount {
    VolumeMount {
        name: name.into(),
        mount_path: path.into(),
        read_only: read_only.then_some(true),
        ..Default::default()
    }
}

fn non_empty<T>(v: Vec<T>) -> Option<Vec<T>> {
    (!v.is_empty()).then_some(v)
}
