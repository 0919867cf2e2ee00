//! Kubernetes-mode errors, each produced for real: unknown contexts, a wrong kube context,
//! CRDs not installed, RBAC refusals, and an image the operator refuses.

use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, PostParams};
use prisn_operator::{PrisnApp, PrisnAppSpec, Source};

use crate::common::*;
use crate::kube_common::*;

#[test]
fn an_unknown_context_lists_the_known_ones() {
    let t = TestContext::new();
    ok(&t.run(&["context", "add", "prod", "--mode", "kubernetes"]));
    let err = fails(&t.run(&["--context", "staging", "get", "apps"]));
    assert!(
        err.contains("context not found: \"staging\" (known: prod)")
            && err.contains("prisn context add staging"),
        "{err}"
    );
}

#[test]
fn a_wrong_kube_context_names_the_kubeconfig_and_context_tried() {
    let Some(k) = KubeEnv::start("cli-err-ctx") else {
        return;
    };
    ok(&k.prisn(&[
        "context",
        "add",
        "bad",
        "--mode",
        "kubernetes",
        "--kube-context",
        "no-such-context",
    ]));
    let err = fails(&k.prisn(&["--context", "bad", "get", "apps"]));
    assert!(
        err.contains("kube_context \"no-such-context\"")
            && err.contains("kubeconfig")
            && err.contains("it has: ")
            && err.contains("--kube-context NAME"),
        "{err}"
    );
}

#[test]
fn missing_crds_say_how_to_install_them() {
    let Some(k) = KubeEnv::start("cli-err-crd") else {
        return;
    };
    let crds: Api<CustomResourceDefinition> = Api::all(k.ns.client.clone());
    k.rt.block_on(crds.delete("prisnjobs.prisn.io", &DeleteParams::default()))
        .unwrap();
    k.rt.block_on(prisn_testsupport::testbed::eventually(
        "CRD gone",
        WAIT,
        || {
            let crds = crds.clone();
            async move {
                Ok(crds
                    .get_opt("prisnjobs.prisn.io")
                    .await?
                    .is_none()
                    .then_some(()))
            }
        },
    ))
    .unwrap();
    k.t.example("job.sh");
    let err = fails(&k.prisn(&[
        "deploy",
        "job.sh",
        "--once",
        "--source",
        "configmap",
        "--no-wait",
    ]));
    // Put it back for the other tests before asserting.
    k.rt.block_on(install_crds(&k.ns.client)).unwrap();
    assert!(
        err.contains("CRD not found")
            && err.contains("kubectl apply -f operator/config/crd/bases/"),
        "{err}"
    );
}

#[test]
fn rbac_refusals_name_the_verb_and_resource() {
    let Some(k) = KubeEnv::start("cli-err-rbac") else {
        return;
    };
    // A service account with no roles, and a token for it: a real, unprivileged user.
    let sas: Api<ServiceAccount> = k.api();
    let sa = ServiceAccount {
        metadata: kube::api::ObjectMeta {
            name: Some("nobody".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    k.rt.block_on(sas.create(&PostParams::default(), &sa))
        .unwrap();
    let req = k8s_openapi::api::authentication::v1::TokenRequest {
        spec: k8s_openapi::api::authentication::v1::TokenRequestSpec {
            audiences: vec![],
            expiration_seconds: Some(600),
            ..Default::default()
        },
        ..Default::default()
    };
    let token =
        k.rt.block_on(sas.create_token_request("nobody", &PostParams::default(), &req))
            .unwrap()
            .status
            .unwrap()
            .token;
    let admin = std::fs::read_to_string(prisn_testsupport::testbed::kubeconfig_path()).unwrap();
    let server = admin
        .lines()
        .find_map(|l| l.trim().strip_prefix("server: "))
        .unwrap()
        .to_string();
    let kubeconfig = k.t.write(
        "nobody.kubeconfig",
        &format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: tb\n  cluster:\n    server: {server}\n    insecure-skip-tls-verify: true\nusers:\n- name: nobody\n  user:\n    token: {token}\ncontexts:\n- name: nobody\n  context: {{cluster: tb, user: nobody}}\ncurrent-context: nobody\n"
        ),
    );
    k.t.example("hello.py");
    let out = k
        .cmd()
        .args(["deploy", "hello.py", "--source", "configmap", "--no-wait"])
        .env("KUBECONFIG", &kubeconfig)
        .output()
        .unwrap();
    let err = fails(&out);
    assert!(
        err.contains("forbidden by RBAC: cannot")
            && err.contains(&format!("in namespace {}", k.ns.name)),
        "{err}"
    );
}

#[test]
fn an_image_without_digest_is_refused_by_the_operator_and_status_shows_why() {
    let Some(k) = KubeEnv::start("cli-err-tag") else {
        return;
    };
    let mut app = PrisnApp::new(
        "tagged",
        PrisnAppSpec {
            source: Source {
                image: Some("registry.invalid/team/tagged:latest".into()),
                ..Default::default()
            },
            ..Default::default()
        },
    );
    app.metadata.namespace = Some(k.ns.name.clone());
    k.rt.block_on(k.api::<PrisnApp>().create(&PostParams::default(), &app))
        .unwrap();
    k.wait_for::<PrisnApp>("tagged", "Degraded", |a| {
        a.status.as_ref().is_some_and(|s| {
            s.conditions
                .iter()
                .any(|c| c.type_ == "Degraded" && c.status == "True")
        })
    });
    let status = ok(&k.prisn(&["status", "tagged"]));
    assert!(
        status.contains("condition Degraded") && status.contains("sha256"),
        "{status}"
    );
}

#[test]
fn a_registry_without_credentials_says_which_were_tried() {
    let Some(k) = KubeEnv::start("cli-err-auth") else {
        return;
    };
    let secure = prisn_testsupport::registry::Registry::start_tls().unwrap();
    let ca = secure.tls_files().unwrap().ca;
    let reg = format!("{}/team", secure.host());
    ok(&k.prisn(&[
        "context",
        "add",
        "private",
        "--mode",
        "kubernetes",
        "-n",
        &k.ns.name,
        "--registry",
        &reg,
        "--registry-ca",
        ca.to_str().unwrap(),
    ]));
    let config = std::fs::read_to_string(k.t.home.path().join("config.toml")).unwrap();
    assert!(
        config.contains(&format!("[registries.\"{}\"]", secure.host())),
        "{config}"
    );
    k.t.example("hello.py");
    let out = k
        .cmd()
        .args([
            "--context",
            "private",
            "deploy",
            "hello.py",
            "--base",
            &k.base,
            "--no-wait",
        ])
        .env("DOCKER_CONFIG", k.t.path("no-docker-config"))
        .output()
        .unwrap();
    let err = fails(&out);
    assert!(
        err.contains("401")
            && err.contains("credentials tried: none")
            && err.contains("prisn login"),
        "{err}"
    );
    assert!(
        k.get::<PrisnApp>("hello").is_none(),
        "nothing is applied when the push fails"
    );
}
