//! Unit tests of the pure child builders: fixtures read like sentences
//! (`app("web").port(8080).build()`), assertions name the behaviour.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, PodSpec};
use kube::api::ObjectMeta;

use super::*;
use crate::config::OperatorConfig;
use crate::crd::{
    AppIngress, GitSource, HealthCheck, NameRef, PrisnApp, PrisnAppSpec, PrisnCronJob,
    PrisnCronJobSpec, PrisnJobSpec, Resources, Runtime, Source, Storage, StorageAccessMode,
    StorageReclaimPolicy,
};
use crate::labels;

fn meta(name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.into()),
        namespace: Some("ns".into()),
        uid: Some(format!("uid-{name}")),
        labels: Some(BTreeMap::from([("team".to_string(), "data".to_string())])),
        ..Default::default()
    }
}

const DIGEST: &str =
    "reg.local/web@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn app(spec: PrisnAppSpec) -> PrisnApp {
    PrisnApp {
        metadata: meta("web"),
        spec,
        status: None,
    }
}

fn build(a: &PrisnApp, data: Option<&BTreeMap<String, Vec<u8>>>) -> AppChildren {
    let cfg = OperatorConfig::default();
    let src = resolve("web", &a.spec.source, a.spec.runtime, data, &cfg).expect("valid source");
    app_children(a, &src, &cfg)
        .expect("metadata present")
        .expect("valid spec")
}

fn pod(c: &AppChildren) -> &PodSpec {
    c.deployment
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .expect("pod spec")
}

fn main_container(c: &AppChildren) -> &Container {
    &pod(c).containers[0]
}

#[test]
fn image_app_runs_the_image_as_is_with_args() {
    let c = build(
        &app(PrisnAppSpec {
            source: Source::image(DIGEST),
            args: vec!["--fast".into()],
            ..Default::default()
        }),
        None,
    );
    let m = main_container(&c);
    assert_eq!(m.image.as_deref(), Some(DIGEST));
    assert_eq!(m.command, None, "the image's own entrypoint runs");
    assert_eq!(m.args, Some(vec!["--fast".to_string()]));
    assert!(c.service.is_none() && c.ingress.is_none() && c.inline.is_none());
    assert_eq!(c.deployment.spec.as_ref().and_then(|s| s.replicas), Some(1));
}

#[test]
fn children_carry_the_label_convention_and_an_owner() {
    let c = build(
        &app(PrisnAppSpec {
            source: Source::image(DIGEST),
            port: Some(8080),
            ..Default::default()
        }),
        None,
    );
    for m in [
        &c.deployment.metadata,
        &c.service.as_ref().expect("service").metadata,
    ] {
        let l = m.labels.as_ref().expect("labels");
        assert_eq!(l[labels::MANAGED_BY_KEY], "prisn");
        assert_eq!(l[labels::APP_KEY], "web");
        assert_eq!(l[labels::NAME_KEY], "web");
        assert_eq!(l[labels::INSTANCE_KEY], "web");
        let o = &m.owner_references.as_ref().expect("owner")[0];
        assert_eq!(
            (o.kind.as_str(), o.uid.as_str(), o.controller),
            ("PrisnApp", "uid-web", Some(true))
        );
    }
    let tl = c
        .deployment
        .spec
        .as_ref()
        .and_then(|s| s.template.metadata.as_ref())
        .and_then(|m| m.labels.as_ref())
        .expect("pod labels");
    assert_eq!(tl["team"], "data", "the app's own labels reach the pods");
    assert_eq!(tl[labels::APP_KEY], "web");
}

#[test]
fn configmap_app_mounts_code_at_app_and_runs_the_interpreter() {
    let data = BTreeMap::from([
        ("main.py".to_string(), b"print(1)".to_vec()),
        ("lib--util.py".to_string(), b"".to_vec()),
    ]);
    let c = build(
        &app(PrisnAppSpec {
            source: Source::config_map("web-code"),
            runtime: Some(Runtime::Python3),
            args: vec!["a".into()],
            ..Default::default()
        }),
        Some(&data),
    );
    let m = main_container(&c);
    assert_eq!(m.image.as_deref(), Some("python:3.11-slim"));
    assert_eq!(
        m.command,
        Some(vec![
            "python3".into(),
            "-u".into(),
            "-B".into(),
            "/app/main.py".into()
        ])
    );
    assert_eq!(m.working_dir.as_deref(), Some("/app"));
    let vol = pod(&c)
        .volumes
        .as_ref()
        .expect("volumes")
        .iter()
        .find(|v| v.name == "code")
        .expect("code volume");
    let cm = vol.config_map.as_ref().expect("configMap volume");
    assert_eq!(cm.name, "web-code");
    let items: Vec<(&str, &str)> = cm
        .items
        .as_ref()
        .expect("items")
        .iter()
        .map(|i| (i.key.as_str(), i.path.as_str()))
        .collect();
    assert_eq!(
        items,
        [("lib--util.py", "lib/util.py"), ("main.py", "main.py")]
    );
    let app_mount = m
        .volume_mounts
        .as_ref()
        .expect("mounts")
        .iter()
        .find(|v| v.mount_path == "/app")
        .expect("/app");
    assert_eq!(app_mount.read_only, Some(true));
}

#[test]
fn pods_are_locked_down_by_default() {
    let c = build(
        &app(PrisnAppSpec {
            source: Source::image(DIGEST),
            ..Default::default()
        }),
        None,
    );
    let ps = pod(&c).security_context.as_ref().expect("pod security");
    assert_eq!(ps.run_as_non_root, Some(true));
    assert_eq!(ps.run_as_user, Some(pod::RUN_AS_UID));
    assert_eq!(
        ps.seccomp_profile.as_ref().map(|s| s.type_.as_str()),
        Some("RuntimeDefault")
    );
    let cs = main_container(&c)
        .security_context
        .as_ref()
        .expect("container security");
    assert_eq!(cs.allow_privilege_escalation, Some(false));
    assert_eq!(
        cs.capabilities.as_ref().and_then(|c| c.drop.clone()),
        Some(vec!["ALL".to_string()])
    );
    assert_eq!(cs.read_only_root_filesystem, Some(true));
    let tmp = main_container(&c)
        .volume_mounts
        .as_ref()
        .expect("mounts")
        .iter()
        .find(|m| m.mount_path == "/tmp")
        .expect("/tmp");
    assert_eq!(tmp.read_only, None, "/tmp is writable");
    assert_eq!(
        pod(&c).share_process_namespace,
        Some(true),
        "the script is not PID 1"
    );
}

#[test]
fn the_port_reaches_the_app_as_port_and_wins_over_a_user_port() {
    let env_of = |port: Option<i32>| {
        let c = build(
            &app(PrisnAppSpec {
                source: Source::image(DIGEST),
                port,
                env: vec![k8s_openapi::api::core::v1::EnvVar {
                    name: "PORT".into(),
                    value: Some("1".into()),
                    value_from: None,
                }],
                ..Default::default()
            }),
            None,
        );
        main_container(&c)
            .env
            .clone()
            .unwrap_or_default()
            .into_iter()
            .filter(|e| e.name == "PORT")
            .map(|e| e.value.unwrap_or_default())
            .collect::<Vec<_>>()
    };
    assert_eq!(env_of(Some(8080)), ["8080"], "one PORT, the app's port");
    assert_eq!(env_of(None), ["1"], "without --port the user's PORT stays");
}

#[test]
fn startup_probe_checks_every_second_then_health_check_takes_over() {
    let c = build(
        &app(PrisnAppSpec {
            source: Source::image(DIGEST),
            port: Some(8080),
            health_check: Some(HealthCheck {
                path: "/healthz".into(),
                period_seconds: Some(7),
                failure_threshold: Some(2),
            }),
            ..Default::default()
        }),
        None,
    );
    let m = main_container(&c);
    let s = m.startup_probe.as_ref().expect("startup");
    assert_eq!(s.period_seconds, Some(1));
    assert_eq!(
        s.http_get.as_ref().and_then(|h| h.path.as_deref()),
        Some("/healthz")
    );
    let r = m.readiness_probe.as_ref().expect("readiness");
    assert_eq!((r.period_seconds, r.failure_threshold), (Some(7), Some(2)));
    assert!(m.liveness_probe.is_some());
    // Without a health check: TCP on the port, no liveness.
    let c = build(
        &app(PrisnAppSpec {
            source: Source::image(DIGEST),
            port: Some(9000),
            ..Default::default()
        }),
        None,
    );
    let m = main_container(&c);
    assert!(
        m.startup_probe
            .as_ref()
            .and_then(|p| p.tcp_socket.as_ref())
            .is_some()
    );
    assert!(m.liveness_probe.is_none());
}

#[test]
fn new_code_changes_the_pod_template_hash() {
    let a = app(PrisnAppSpec {
        source: Source::config_map("c"),
        runtime: Some(Runtime::Python3),
        ..Default::default()
    });
    let hash = |body: &str| {
        let data = BTreeMap::from([("main.py".to_string(), body.as_bytes().to_vec())]);
        let c = build(&a, Some(&data));
        c.deployment
            .spec
            .and_then(|s| s.template.metadata)
            .and_then(|m| m.annotations)
            .expect("annotations")[labels::CODE_HASH_ANNOTATION]
            .clone()
    };
    assert_ne!(hash("print(1)"), hash("print(2)"));
    assert_eq!(hash("print(1)"), hash("print(1)"));
}

#[test]
fn inline_source_gets_its_own_configmap() {
    let c = build(
        &app(PrisnAppSpec {
            source: Source::inline("echo hi"),
            runtime: Some(Runtime::Bash),
            ..Default::default()
        }),
        None,
    );
    let cm = c.inline.as_ref().expect("inline configmap");
    assert_eq!(cm.metadata.name.as_deref(), Some("web-inline"));
    assert_eq!(cm.data.as_ref().expect("data")["main.sh"], "echo hi");
    assert_eq!(
        main_container(&c).command,
        Some(vec!["bash".into(), "/app/main.sh".into()])
    );
}

#[test]
fn git_source_clones_with_argument_arrays_only() {
    let c = build(
        &app(PrisnAppSpec {
            source: Source {
                git: Some(GitSource {
                    url: "https://example.invalid/r.git".into(),
                    git_ref: Some("v1.2".into()),
                    path: None,
                    secret_ref: Some(NameRef::new("creds")),
                }),
                ..Default::default()
            },
            runtime: Some(Runtime::Node),
            ..Default::default()
        }),
        None,
    );
    let inits = pod(&c).init_containers.as_ref().expect("init containers");
    assert_eq!(inits.len(), 3);
    for i in inits {
        assert_eq!(i.command, Some(vec!["git".to_string()]), "no shell");
    }
    let fetch = inits[1].args.as_ref().expect("args");
    assert_eq!(
        &fetch[fetch.len() - 3..],
        ["--", "https://example.invalid/r.git", "v1.2"]
    );
    assert!(
        pod(&c)
            .volumes
            .as_ref()
            .expect("volumes")
            .iter()
            .any(|v| v.name == "git-credentials")
    );
}

#[test]
fn storage_claims_are_kept_unless_asked_and_rwo_switches_to_recreate() {
    let c = build(
        &app(PrisnAppSpec {
            source: Source::image(DIGEST),
            replicas: Some(2),
            storage: vec![
                Storage {
                    name: "data".into(),
                    mount_path: "/data".into(),
                    size: Some("1Gi".into()),
                    ..Default::default()
                },
                Storage {
                    name: "cache".into(),
                    mount_path: "/cache".into(),
                    size: Some("1Gi".into()),
                    access_mode: Some(StorageAccessMode::ReadWriteMany),
                    reclaim_policy: Some(StorageReclaimPolicy::Delete),
                    ..Default::default()
                },
                Storage {
                    name: "old".into(),
                    mount_path: "/old".into(),
                    existing_claim: Some("legacy".into()),
                    access_mode: Some(StorageAccessMode::ReadWriteMany),
                    ..Default::default()
                },
            ],
            ..Default::default()
        }),
        None,
    );
    let names: Vec<_> = c
        .pvcs
        .iter()
        .map(|p| p.metadata.name.clone().unwrap_or_default())
        .collect();
    assert_eq!(
        names,
        ["web-data", "web-cache"],
        "existingClaim makes no claim"
    );
    assert!(
        c.pvcs[0].metadata.owner_references.is_none(),
        "Retain: no owner, kept on delete"
    );
    assert!(
        c.pvcs[1].metadata.owner_references.is_some(),
        "Delete: owned, garbage-collected"
    );
    assert_eq!(
        c.deployment
            .spec
            .as_ref()
            .and_then(|s| s.strategy.as_ref())
            .and_then(|s| s.type_.as_deref()),
        Some("Recreate")
    );
    assert_eq!(
        c.warnings.len(),
        1,
        "2 replicas on ReadWriteOnce + existing claim warn"
    );
    let claims: Vec<_> = pod(&c)
        .volumes
        .as_ref()
        .expect("volumes")
        .iter()
        .filter_map(|v| {
            v.persistent_volume_claim
                .as_ref()
                .map(|p| p.claim_name.clone())
        })
        .collect();
    assert_eq!(claims, ["web-data", "web-cache", "legacy"]);
}

#[test]
fn suspend_and_zero_replicas_scale_the_deployment_to_zero() {
    let mut spec = PrisnAppSpec {
        source: Source::image(DIGEST),
        replicas: Some(3),
        suspend: true,
        ..Default::default()
    };
    assert_eq!(super::app::desired_replicas(&spec), 0);
    spec.suspend = false;
    assert_eq!(super::app::desired_replicas(&spec), 3);
    spec.replicas = Some(0);
    assert_eq!(super::app::desired_replicas(&spec), 0);
}

#[test]
fn invalid_quantity_is_a_problem_naming_the_field() {
    let a = app(PrisnAppSpec {
        source: Source::image(DIGEST),
        resources: Some(Resources {
            memory: Some("lots".into()),
            ..Default::default()
        }),
        ..Default::default()
    });
    let cfg = OperatorConfig::default();
    let src = resolve("web", &a.spec.source, None, None, &cfg).expect("valid source");
    let p = app_children(&a, &src, &cfg)
        .expect("metadata")
        .expect_err("bad quantity");
    assert_eq!(p.reason, "InvalidQuantity");
    assert!(p.message.starts_with("resources.memory"), "{}", p.message);
}

#[test]
fn ingress_routes_to_the_service_with_tls() {
    let c = build(
        &app(PrisnAppSpec {
            source: Source::image(DIGEST),
            port: Some(8080),
            ingress: Some(AppIngress {
                host: "web.example.invalid".into(),
                tls: true,
                class_name: Some("nginx".into()),
                ..Default::default()
            }),
            ..Default::default()
        }),
        None,
    );
    let i = c.ingress.expect("ingress").spec.expect("spec");
    assert_eq!(i.ingress_class_name.as_deref(), Some("nginx"));
    assert_eq!(
        i.tls.expect("tls")[0].secret_name.as_deref(),
        Some("web-tls")
    );
    let rules = i.rules.expect("rules");
    let path = &rules[0].http.as_ref().expect("http").paths[0];
    assert_eq!(path.path.as_deref(), Some("/"));
    assert_eq!(
        path.backend.service.as_ref().map(|s| s.name.as_str()),
        Some("web")
    );
}

#[test]
fn job_gets_deadline_backoff_ttl_and_never_restarts() {
    let spec = PrisnJobSpec {
        source: Source::image(DIGEST),
        timeout: Some("1h".into()),
        backoff_limit: Some(0),
        ttl_seconds_after_finished: Some(60),
        ..Default::default()
    };
    let cfg = OperatorConfig::default();
    let src = resolve("etl", &spec.source, None, None, &cfg).expect("source");
    let owner = k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
        uid: "u".into(),
        ..Default::default()
    };
    let j = super::job::job("etl", "ns", &owner, None, &spec, &src, &cfg).expect("valid");
    let s = j.spec.expect("spec");
    assert_eq!(s.active_deadline_seconds, Some(3600));
    assert_eq!(s.backoff_limit, Some(0));
    assert_eq!(s.ttl_seconds_after_finished, Some(60));
    assert_eq!(
        s.template.spec.and_then(|p| p.restart_policy).as_deref(),
        Some("Never")
    );
    assert!(
        j.metadata
            .annotations
            .expect("annotations")
            .contains_key(labels::SPEC_HASH_ANNOTATION)
    );
    let bad = PrisnJobSpec {
        timeout: Some("soon".into()),
        ..spec
    };
    assert_eq!(
        super::job::job("etl", "ns", &owner, None, &bad, &src, &cfg)
            .expect_err("bad timeout")
            .reason,
        "InvalidDuration"
    );
}

#[test]
fn cronjob_translates_schedule_and_policy() {
    let cj = PrisnCronJob {
        metadata: meta("nightly"),
        spec: PrisnCronJobSpec {
            schedule: "0 3 * * *".into(),
            time_zone: Some("Europe/Berlin".into()),
            job_template: PrisnJobSpec {
                source: Source::inline("echo"),
                runtime: Some(Runtime::Bash),
                ..Default::default()
            },
            ..Default::default()
        },
        status: None,
    };
    let cfg = OperatorConfig::default();
    let src = resolve(
        "nightly",
        &cj.spec.job_template.source,
        cj.spec.job_template.runtime,
        None,
        &cfg,
    )
    .expect("source");
    let c = super::cronjob::cronjob(&cj, &src, &cfg)
        .expect("metadata")
        .expect("valid");
    let s = c.spec.expect("spec");
    assert_eq!(s.schedule, "0 3 * * *");
    assert_eq!(
        s.concurrency_policy.as_deref(),
        Some("Forbid"),
        "default Forbid"
    );
    assert_eq!(s.time_zone.as_deref(), Some("Europe/Berlin"));
    let pod_labels = s
        .job_template
        .spec
        .and_then(|j| j.template.metadata)
        .and_then(|m| m.labels)
        .expect("labels");
    assert_eq!(pod_labels[labels::APP_KEY], "nightly");
    let bad = PrisnCronJob {
        spec: PrisnCronJobSpec {
            schedule: "99 * * * *".into(),
            ..cj.spec.clone()
        },
        ..cj
    };
    assert_eq!(
        super::cronjob::cronjob(&bad, &src, &cfg)
            .expect("metadata")
            .expect_err("bad")
            .reason,
        "InvalidSchedule"
    );
}

#[test]
fn a_named_service_account_keeps_its_token_and_no_other_pod_gets_one() {
    let with = build(
        &app(PrisnAppSpec {
            source: Source::image(DIGEST),
            service_account_name: Some("reader".into()),
            ..Default::default()
        }),
        None,
    );
    assert_eq!(pod(&with).service_account_name.as_deref(), Some("reader"));
    assert_eq!(pod(&with).automount_service_account_token, None);
    let without = build(
        &app(PrisnAppSpec {
            source: Source::image(DIGEST),
            ..Default::default()
        }),
        None,
    );
    assert_eq!(pod(&without).automount_service_account_token, Some(false));
}

#[test]
fn a_serving_pod_drains_before_its_sigterm_and_a_job_pod_does_not() {
    let sleep_of = |port| {
        let c = build(
            &app(PrisnAppSpec {
                source: Source::image(DIGEST),
                port,
                ..Default::default()
            }),
            None,
        );
        let lifecycle = main_container(&c).lifecycle.clone();
        lifecycle.and_then(|l| l.pre_stop?.sleep).map(|s| s.seconds)
    };
    assert_eq!(sleep_of(Some(8080)), Some(pod::DRAIN_SECONDS));
    assert_eq!(sleep_of(None), None);
}
