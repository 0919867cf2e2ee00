use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret, Service};
use kube::ResourceExt;
use kube::api::{Api, ListParams};
use prisn_operator::crd::{GitSource, NameRef, PrisnAppSpec, Runtime, Source};
use prisn_operator::{PrisnApp, labels};

use crate::common::*;

fn main_container(d: &Deployment) -> k8s_openapi::api::core::v1::Container {
    d.spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .expect("pod spec")
        .containers[0]
        .clone()
}

/// What kwok cannot fake: the children the operator makes for each source, and its status.
/// (kwok reports every pod Running and Ready, even one whose code comes from
/// `git.invalid`; that an app of each source really runs is proved on the real node.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_source_type_gets_its_children_while_a_bad_app_stays_alone() {
    let Some(ns) = setup("op-sources").await else {
        return;
    };
    let _op = Operator::start(&ns);

    let cm = ConfigMap {
        metadata: kube::api::ObjectMeta {
            name: Some("cm-code".into()),
            ..Default::default()
        },
        data: Some(BTreeMap::from([
            ("main.py".to_string(), "print('hi')".to_string()),
            ("lib--util.py".to_string(), "X = 1".to_string()),
        ])),
        ..Default::default()
    };
    create(&ns, &cm).await.expect("configmap");
    let secret = Secret {
        metadata: kube::api::ObjectMeta {
            name: Some("secret-code".into()),
            ..Default::default()
        },
        data: Some(BTreeMap::from([(
            "index.js".to_string(),
            ByteString(b"console.log(1)".to_vec()),
        )])),
        ..Default::default()
    };
    create(&ns, &secret).await.expect("secret");

    let apps = [
        app(
            "from-image",
            PrisnAppSpec {
                source: Source::image(IMAGE),
                port: Some(8080),
                args: vec!["--serve".into()],
                ..Default::default()
            },
        ),
        app(
            "from-cm",
            PrisnAppSpec {
                source: Source::config_map("cm-code"),
                runtime: Some(Runtime::Python3),
                ..Default::default()
            },
        ),
        app(
            "from-secret",
            PrisnAppSpec {
                source: Source {
                    secret_ref: Some(NameRef::new("secret-code")),
                    ..Default::default()
                },
                runtime: Some(Runtime::Node),
                ..Default::default()
            },
        ),
        app(
            "from-inline",
            PrisnAppSpec {
                source: Source::inline("echo hello"),
                runtime: Some(Runtime::Bash),
                ..Default::default()
            },
        ),
        app(
            "from-git",
            PrisnAppSpec {
                source: Source {
                    git: Some(GitSource {
                        url: "https://git.invalid/team/repo.git".into(),
                        git_ref: Some("v1.0.0".into()),
                        path: Some("svc".into()),
                        secret_ref: None,
                    }),
                    ..Default::default()
                },
                runtime: Some(Runtime::Python3),
                ..Default::default()
            },
        ),
        // Unpinned image: refused by the operator, must not disturb the others.
        app(
            "unpinned",
            PrisnAppSpec {
                source: Source::image("registry.invalid/web:latest"),
                ..Default::default()
            },
        ),
    ];
    for a in &apps {
        create(&ns, a).await.expect("create app");
    }

    for name in [
        "from-image",
        "from-cm",
        "from-secret",
        "from-inline",
        "from-git",
    ] {
        let a: PrisnApp = wait_for(&ns, name, "status of this generation", |a: &PrisnApp| {
            a.status.as_ref().and_then(|s| s.observed_generation) == a.metadata.generation
        })
        .await
        .expect("the operator reports on the app");
        let st = a.status.expect("status");
        assert_eq!(
            st.selector.as_deref(),
            Some(format!("prisn.io/app={name},prisn.io/kind=app").as_str())
        );
        // The real Deployment and ReplicaSet controllers make one pod from its template.
        let pods: Api<Pod> = ns.api();
        until(&format!("{name}: one pod"), || {
            let pods = pods.clone();
            async move {
                let list = pods
                    .list(&ListParams::default().labels(&format!("prisn.io/app={name}")))
                    .await?;
                Ok(list.items.len() == 1)
            }
        })
        .await
        .expect("one pod");
    }

    let deployments: Api<Deployment> = ns.api();
    let d = deployments.get("from-image").await.expect("deployment");
    let m = main_container(&d);
    assert_eq!(m.image.as_deref(), Some(IMAGE));
    assert_eq!(m.command, None);
    assert_eq!(m.args, Some(vec!["--serve".to_string()]));
    let labels = d.labels();
    assert_eq!(labels[labels::MANAGED_BY_KEY], "prisn");
    assert_eq!(labels[labels::APP_KEY], "from-image");
    assert_eq!(d.owner_references()[0].kind, "PrisnApp");
    let svc: Service = ns
        .api::<Service>()
        .get("from-image")
        .await
        .expect("service for port");
    assert_eq!(svc.spec.and_then(|s| s.ports).expect("ports")[0].port, 8080);
    assert!(
        ns.api::<Service>()
            .get_opt("from-cm")
            .await
            .expect("get")
            .is_none(),
        "no port, no service"
    );

    let d = deployments.get("from-cm").await.expect("deployment");
    let m = main_container(&d);
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
    let pod = d
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.clone())
        .expect("pod");
    let code = pod
        .volumes
        .expect("volumes")
        .into_iter()
        .find(|v| v.name == "code")
        .expect("code volume");
    let items: Vec<(String, String)> = code
        .config_map
        .expect("cm")
        .items
        .expect("items")
        .into_iter()
        .map(|i| (i.key, i.path))
        .collect();
    assert_eq!(
        items,
        [
            ("lib--util.py".to_string(), "lib/util.py".to_string()),
            ("main.py".to_string(), "main.py".to_string())
        ]
    );
    let sc = pod.security_context.expect("pod security");
    assert_eq!(
        (sc.run_as_non_root, sc.run_as_user),
        (Some(true), Some(65532))
    );

    let m = main_container(&deployments.get("from-secret").await.expect("deployment"));
    assert_eq!(m.command, Some(vec!["node".into(), "/app/index.js".into()]));
    assert_eq!(m.image.as_deref(), Some("node:20-slim"));

    let inline: ConfigMap = ns
        .api::<ConfigMap>()
        .get("from-inline-inline")
        .await
        .expect("inline configmap");
    assert_eq!(inline.data.expect("data")["main.sh"], "echo hello");
    assert_eq!(
        main_container(&deployments.get("from-inline").await.expect("d")).command,
        Some(vec!["bash".into(), "/app/main.sh".into()])
    );

    let git = deployments.get("from-git").await.expect("deployment");
    let pod = git
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.clone())
        .expect("pod");
    let inits = pod.init_containers.expect("git init containers");
    assert_eq!(
        inits.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
        ["git-init", "git-fetch", "git-checkout"]
    );
    assert!(
        inits
            .iter()
            .all(|c| c.command == Some(vec!["git".to_string()]))
    );
    assert_eq!(
        main_container(&git)
            .command
            .expect("cmd")
            .last()
            .map(String::as_str),
        Some("/app/svc/main.py")
    );

    let bad: PrisnApp = wait_for(&ns, "unpinned", "Degraded", |a: &PrisnApp| {
        phase_of(a.status.as_ref()).as_deref() == Some("Degraded")
    })
    .await
    .expect("degraded");
    let st = bad.status.expect("status");
    assert!(
        st.message.as_deref().unwrap_or("").contains("source.image"),
        "{st:?}"
    );
    let degraded = st
        .conditions
        .iter()
        .find(|c| c.type_ == "Degraded")
        .expect("Degraded condition");
    assert_eq!(
        (degraded.status.as_str(), degraded.reason.as_str()),
        ("True", "ImageNotPinned")
    );
    let source = st
        .conditions
        .iter()
        .find(|c| c.type_ == "SourceReady")
        .expect("SourceReady");
    assert_eq!(source.status, "False");
    assert!(
        deployments
            .get_opt("unpinned")
            .await
            .expect("get")
            .is_none(),
        "no Deployment for a refused image"
    );
    // …and the problem is announced as a Warning event on the PrisnApp.
    let events: Api<k8s_openapi::api::events::v1::Event> = ns.api();
    until("a Warning event for the unpinned image", || async {
        Ok(events
            .list(&ListParams::default())
            .await?
            .items
            .iter()
            .any(|e| {
                e.type_.as_deref() == Some("Warning")
                    && e.reason.as_deref() == Some("ImageNotPinned")
                    && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("unpinned")
            }))
    })
    .await
    .expect("event published");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_configmap_is_degraded_until_it_appears() {
    let Some(ns) = setup("op-missing").await else {
        return;
    };
    let _op = Operator::start(&ns);
    create(
        &ns,
        &app(
            "late",
            PrisnAppSpec {
                source: Source::config_map("late-code"),
                runtime: Some(Runtime::Python3),
                ..Default::default()
            },
        ),
    )
    .await
    .expect("app");
    let a: PrisnApp = wait_for(&ns, "late", "Degraded", |a: &PrisnApp| {
        phase_of(a.status.as_ref()).as_deref() == Some("Degraded")
    })
    .await
    .expect("degraded");
    let st = a.status.expect("status");
    let c = st
        .conditions
        .iter()
        .find(|c| c.type_ == "SourceReady")
        .expect("SourceReady");
    assert_eq!(
        (c.status.as_str(), c.reason.as_str()),
        ("False", "ConfigMapNotFound")
    );
    assert!(c.message.contains("\"late-code\""), "{}", c.message);

    // The ConfigMap watch brings the app up without waiting for a requeue.
    let cm = ConfigMap {
        metadata: kube::api::ObjectMeta {
            name: Some("late-code".into()),
            ..Default::default()
        },
        data: Some(BTreeMap::from([(
            "main.py".to_string(),
            "print(1)".to_string(),
        )])),
        ..Default::default()
    };
    create(&ns, &cm).await.expect("configmap");
    // SourceReady turns True and the Deployment is made. (Readiness itself would be kwok's
    // canned answer; the real node proves it.)
    wait_for(
        &ns,
        "late",
        "SourceReady after the ConfigMap appeared",
        |a: &PrisnApp| {
            a.status.as_ref().is_some_and(|s| {
                s.conditions
                    .iter()
                    .any(|c| c.type_ == "SourceReady" && c.status == "True")
            })
        },
    )
    .await
    .expect("source ready");
    wait_for(&ns, "late", "a Deployment", |_: &Deployment| true)
        .await
        .expect("deployment");
}
