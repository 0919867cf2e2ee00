//! `prisn deploy`, get, status, scale, logs, delete in a kubernetes context, against the
//! real test bed with the operator running.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::ListParams;
use prisn_operator::{PrisnApp, PrisnCronJob, PrisnJob};

use crate::common::*;
use crate::kube_common::*;

fn code_hash(d: &Deployment) -> String {
    d.spec
        .as_ref()
        .and_then(|s| s.template.metadata.as_ref())
        .and_then(|m| m.annotations.as_ref())
        .and_then(|a| a.get("prisn.io/code-hash"))
        .cloned()
        .unwrap_or_default()
}

#[test]
fn deploy_builds_pushes_and_applies_a_digest_pinned_app_that_runs_and_rolls_on_change() {
    let Some(k) = KubeEnv::start("cli-deploy") else {
        return;
    };
    k.t.example("api.py");
    let base = k.base.clone();
    let deploy = |extra: &[&str]| {
        let mut args = vec![
            "deploy",
            "api.py",
            "--port",
            "8080",
            "--replicas",
            "3",
            "--base",
            base.as_str(),
            "--timeout",
            "90s",
        ];
        args.extend_from_slice(extra);
        k.prisn(&args)
    };
    let out = ok(&deploy(&["--wait"]));
    assert!(out.starts_with("app/api created"), "{out}");
    let app: PrisnApp = k.get("api").expect("the PrisnApp exists");
    let image = app.spec.source.image.clone().expect("an image source");
    let prefix = format!("{}/team/api@sha256:", k.registry.host());
    assert!(image.starts_with(&prefix), "{image}");
    // The digest is really in the registry, as an independent client sees it.
    let inspected = k.registry.skopeo_inspect(&image, false).unwrap();
    assert_eq!(
        format!(
            "{}@{}",
            image.split('@').next().unwrap(),
            inspected["Digest"].as_str().unwrap()
        ),
        image
    );
    assert_eq!(app.spec.replicas, Some(3));
    assert_eq!(app.spec.port, Some(8080));
    // --wait returned once the operator reported 3 ready replicas. (kwok makes any pod
    // Running and Ready without running it: that the app really serves is proved on the
    // real node, not here.) What kwok cannot fake: the operator's status, and three pods
    // made by the real controllers from the digest we pushed.
    let status = app.status.expect("status written");
    assert_eq!(status.ready_replicas, 3, "{status:?}");
    let pods: Vec<Pod> =
        k.rt.block_on(
            k.api::<Pod>()
                .list(&ListParams::default().labels("prisn.io/app=api")),
        )
        .unwrap()
        .items;
    assert_eq!(pods.len(), 3);
    assert!(
        pods.iter().all(
            |p| p.spec.as_ref().unwrap().containers[0].image.as_deref() == Some(image.as_str())
        )
    );
    let before = code_hash(&k.get::<Deployment>("api").unwrap());

    // The same thing again changes nothing.
    let out = ok(&deploy(&["--no-wait"]));
    assert!(out.starts_with("app/api unchanged"), "{out}");

    // New code → new digest → the Deployment rolls.
    let script = k.t.path("api.py");
    let text = std::fs::read_to_string(&script)
        .unwrap()
        .replace("hello, {name}", "hi, {name}");
    std::fs::write(&script, text).unwrap();
    let out = ok(&deploy(&["--no-wait"]));
    assert!(out.starts_with("app/api configured"), "{out}");
    let app: PrisnApp = k.get("api").unwrap();
    let new_image = app.spec.source.image.unwrap();
    assert_ne!(new_image, image);
    k.wait_for::<Deployment>("api", "pod template rolled to the new image", |d| {
        code_hash(d) != before
            && d.spec
                .as_ref()
                .unwrap()
                .template
                .spec
                .as_ref()
                .unwrap()
                .containers[0]
                .image
                .as_deref()
                == Some(new_image.as_str())
    });
}

#[test]
fn configmap_source_ships_every_file_owned_by_the_app() {
    let Some(k) = KubeEnv::start("cli-cm") else {
        return;
    };
    k.t.example("project");
    let out = ok(&k.prisn(&["deploy", "project", "--source", "configmap", "--no-wait"]));
    assert!(out.starts_with("app/project created"), "{out}");
    let cm: ConfigMap = k.get("project-code").expect("the code ConfigMap");
    let data = cm.data.clone().unwrap();
    let keys: Vec<&str> = data.keys().map(String::as_str).collect();
    for key in [
        "main.py",
        "greeting.py",
        "data--names.txt",
        "requirements.txt",
        ".prisnignore",
    ] {
        assert!(keys.contains(&key), "{key} missing from {keys:?}");
    }
    assert_eq!(data["data--names.txt"], "Ada\nGrace\n");
    assert_eq!(
        cm.metadata.labels.as_ref().unwrap()["app.kubernetes.io/managed-by"],
        "prisn"
    );
    let app: PrisnApp = k.get("project").unwrap();
    let owner = &cm
        .metadata
        .owner_references
        .as_ref()
        .expect("owned by the app")[0];
    assert_eq!(
        (owner.kind.as_str(), owner.uid.as_str()),
        ("PrisnApp", app.metadata.uid.as_deref().unwrap())
    );
    assert_eq!(
        app.spec.source.config_map_ref.as_ref().unwrap().name,
        "project-code"
    );
    assert_eq!(app.spec.source.entrypoint.as_deref(), Some("main.py"));
    // The operator accepts it: a Deployment that mounts the ConfigMap. (That the code runs
    // from it needs a real kubelet; kwok would report any pod Ready.)
    let d = k.wait_for::<Deployment>("project", "made by the operator", |_| true);
    let volumes = d
        .spec
        .and_then(|s| s.template.spec)
        .and_then(|p| p.volumes)
        .unwrap_or_default();
    assert!(
        volumes.iter().any(|v| v
            .config_map
            .as_ref()
            .is_some_and(|c| c.name == "project-code")),
        "{volumes:?}"
    );
}

#[test]
fn get_status_scale_logs_and_delete() {
    let Some(k) = KubeEnv::start("cli-ops") else {
        return;
    };
    k.t.example("hello.py");
    ok(&k.prisn(&[
        "deploy",
        "hello.py",
        "--base",
        &k.base,
        "--wait",
        "--timeout",
        "90s",
    ]));
    let rows: serde_json::Value =
        serde_json::from_str(&ok(&k.prisn(&["get", "apps", "-o", "json"]))).unwrap();
    let row = &rows.as_array().unwrap()[0];
    assert_eq!(
        (
            row["name"].as_str(),
            row["kind"].as_str(),
            row["ready"].as_u64()
        ),
        (Some("hello"), Some("app"), Some(1))
    );
    assert!(
        row["source"]
            .as_str()
            .unwrap()
            .contains("/team/hello@sha256:"),
        "{row}"
    );
    let table = ok(&k.prisn(&["get", "apps"]));
    assert!(
        table.starts_with("NAME") && table.contains("hello"),
        "{table}"
    );

    ok(&k.prisn(&["scale", "hello", "2"]));
    k.wait_for::<Deployment>("hello", "2 replicas", |d| {
        d.spec.as_ref().and_then(|s| s.replicas) == Some(2)
    });
    k.wait_for::<PrisnApp>("hello", "2 ready", |a| {
        a.status.as_ref().is_some_and(|s| s.ready_replicas == 2)
    });

    let status = ok(&k.prisn(&["status", "hello"]));
    assert!(
        status.contains("condition Ready") && status.contains("True"),
        "{status}"
    );
    assert!(status.contains("hello-"), "pods are listed: {status}");

    // `prisn logs` prints each pod's log, as the API server serves it, prefixed with the
    // pod's name. (The text itself is kwok's canned line: that it is the app's output is
    // proved on the real node.)
    let logs = ok(&k.prisn(&["logs", "hello"]));
    let pods =
        k.rt.block_on(
            k.api::<Pod>()
                .list(&ListParams::default().labels("prisn.io/app=hello")),
        )
        .unwrap()
        .items;
    assert_eq!(pods.len(), 2);
    let mut expected: Vec<String> = Vec::new();
    for p in &pods {
        let name = p.metadata.name.clone().unwrap();
        let served =
            k.rt.block_on(k.api::<Pod>().logs(&name, &Default::default()))
                .unwrap();
        assert!(!served.is_empty(), "{name} has no log to compare with");
        expected.extend(served.lines().map(|l| format!("[{name}] {l}")));
    }
    let mut printed: Vec<&str> = logs.lines().collect();
    printed.sort();
    expected.sort();
    assert_eq!(printed, expected, "{logs}");

    let out = ok(&k.prisn(&["delete", "hello", "--yes"]));
    assert!(out.contains("hello"), "{out}");
    assert!(k.get::<PrisnApp>("hello").is_none());
    let err = fails(&k.prisn(&["status", "hello"]));
    assert!(
        err.contains("no app, job or cron job named \"hello\""),
        "{err}"
    );
}

#[test]
fn schedule_makes_a_cronjob_and_once_a_job_that_completes() {
    let Some(k) = KubeEnv::start("cli-jobs") else {
        return;
    };
    k.t.example("job.sh");
    let bash_base = crate::image_common::push_base(&k.registry, "bash");
    let out = ok(&k.prisn(&[
        "deploy",
        "job.sh",
        "--name",
        "nightly",
        "--schedule",
        "*/5 * * * *",
        "--base",
        &bash_base,
    ]));
    assert!(out.starts_with("cronjob/nightly created"), "{out}");
    let cron: PrisnCronJob = k.get("nightly").unwrap();
    assert_eq!(cron.spec.schedule, "*/5 * * * *");
    assert!(
        cron.spec
            .job_template
            .source
            .image
            .as_deref()
            .unwrap()
            .contains("/team/nightly@sha256:")
    );
    k.wait_for::<k8s_openapi::api::batch::v1::CronJob>("nightly", "batch CronJob", |_| true);

    let out = ok(&k.prisn(&[
        "deploy",
        "job.sh",
        "--name",
        "once",
        "--once",
        "--base",
        &bash_base,
        "--wait",
        "--timeout",
        "90s",
    ]));
    assert!(out.starts_with("job/once created"), "{out}");
    // --wait returned when the Job finished. (kwok ends every Job's pod Succeeded, so that
    // the script succeeds is proved on the real node.) What kwok cannot fake: the Job runs
    // the digest we pushed, and the PrisnJob reports what its Job reports.
    let job: PrisnJob = k.get("once").unwrap();
    let batch: k8s_openapi::api::batch::v1::Job = k.get("once").expect("the batch Job");
    let template = batch.spec.unwrap().template.spec.unwrap();
    assert_eq!(template.containers[0].image, job.spec.source.image.clone());
    assert!(
        job.spec
            .source
            .image
            .as_deref()
            .unwrap()
            .contains("/team/once@sha256:")
    );
    let complete = batch
        .status
        .and_then(|s| s.conditions)
        .unwrap_or_default()
        .iter()
        .any(|c| c.type_ == "Complete" && c.status == "True");
    assert!(complete, "--wait returned before the Job finished");
    assert_eq!(job.status.unwrap().phase.as_deref(), Some("Succeeded"));
    let rows: serde_json::Value =
        serde_json::from_str(&ok(&k.prisn(&["get", "cronjobs", "-o", "json"]))).unwrap();
    assert_eq!(rows[0]["schedule"], "*/5 * * * *");
}

#[test]
fn dry_run_prints_the_objects_and_applies_nothing() {
    let Some(k) = KubeEnv::start("cli-dry") else {
        return;
    };
    k.t.example("hello.py");
    let yaml = ok(&k.prisn(&[
        "deploy",
        "hello.py",
        "--source",
        "configmap",
        "--dry-run",
        "-o",
        "yaml",
    ]));
    assert!(
        yaml.contains("kind: ConfigMap")
            && yaml.contains("name: hello-code")
            && yaml.contains("kind: PrisnApp"),
        "{yaml}"
    );
    assert!(
        yaml.contains(&format!("namespace: {}", k.ns.name)),
        "{yaml}"
    );
    assert!(k.get::<PrisnApp>("hello").is_none() && k.get::<ConfigMap>("hello-code").is_none());
}

#[test]
fn namespace_resolution_follows_flag_then_env_then_context() {
    let Some(k) = KubeEnv::start("cli-ns") else {
        return;
    };
    // The context's namespace is the test namespace; PRISN_NAMESPACE and -n override it.
    let out = ok(&k
        .cmd()
        .args(["context", "current"])
        .env("PRISN_NAMESPACE", "elsewhere")
        .output()
        .unwrap());
    assert_eq!(out.trim(), "tb (kubernetes, namespace elsewhere)");
    let out = ok(&k
        .cmd()
        .args(["-n", "flagged", "context", "current"])
        .env("PRISN_NAMESPACE", "elsewhere")
        .output()
        .unwrap());
    assert_eq!(out.trim(), "tb (kubernetes, namespace flagged)");
    k.t.example("hello.py");
    ok(&k.prisn(&["deploy", "hello.py", "--source", "configmap", "--no-wait"]));
    // Listing another namespace does not see it; the context's does.
    let other = ok(&k
        .cmd()
        .args(["get", "apps", "-o", "json"])
        .env("PRISN_NAMESPACE", "default")
        .output()
        .unwrap());
    assert!(!other.contains("\"hello\""), "{other}");
    let mine = ok(&k.prisn(&["get", "apps", "-o", "json"]));
    assert!(mine.contains("\"hello\""), "{mine}");
}

#[test]
fn operator_manifests_print_the_crds_and_the_manager_for_an_image() {
    let t = TestContext::new();
    let image = format!(
        "registry.internal:5000/prisn-operator@sha256:{}",
        "b".repeat(64)
    );
    let yaml = ok(&t.run(&["operator", "manifests", "--image", &image]));
    for crd in [
        "prisnapps.prisn.io",
        "prisnjobs.prisn.io",
        "prisncronjobs.prisn.io",
    ] {
        assert!(yaml.contains(&format!("name: {crd}")), "{crd} missing");
    }
    assert!(
        yaml.contains(&image) && yaml.contains("name: prisn-operator-controller-manager"),
        "{yaml}"
    );
    let crds = ok(&t.run(&["operator", "manifests", "--crds-only"]));
    assert!(crds.contains("kind: CustomResourceDefinition") && !crds.contains("kind: Deployment"));
    // The committed CRDs are exactly what the command prints: every document, whole.
    let mut printed: Vec<&str> = crds.split("\n---\n").map(str::trim_end).collect();
    let mut committed: Vec<String> = ["prisnapps", "prisncronjobs", "prisnjobs"]
        .iter()
        .map(|n| {
            let file = repo_root().join(format!("operator/config/crd/bases/prisn.io_{n}.yaml"));
            let text = std::fs::read_to_string(&file).unwrap();
            // The file opens with a "generated by" comment; the document follows.
            text.lines()
                .skip_while(|l| l.starts_with('#'))
                .collect::<Vec<_>>()
                .join("\n")
                .trim_end()
                .to_string()
        })
        .collect();
    printed.sort();
    committed.sort();
    assert_eq!(printed.len(), 3, "{crds}");
    for (p, c) in printed.iter().zip(&committed) {
        assert!(
            *p == c.as_str(),
            "a committed CRD differs from `prisn operator manifests --crds-only`; \
             run `cargo run -p prisn-operator --bin crdgen -- --write`\nprinted:\n{p}\ncommitted:\n{c}"
        );
    }
}
