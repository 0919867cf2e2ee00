//! How the Kubernetes client reads its configuration and reports a cluster it cannot reach
//! (issue 13, items 15, 17, 18). No test bed: the "cluster" is a loopback port nobody listens
//! on, which is the failure these errors are about.

use std::path::Path;

use crate::common::*;

/// A kubeconfig whose only context points at a closed loopback port.
fn kubeconfig(dir: &Path, context: &str) -> std::path::PathBuf {
    let path = dir.join(format!("{context}.kubeconfig"));
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:1\n\
             users:\n- name: u\n  user: {{token: abc}}\ncontexts:\n- name: {context}\n  context: {{cluster: c, user: u}}\n\
             current-context: {context}\n"
        ),
    )
    .unwrap();
    path
}

fn kube_context(t: &TestContext, extra: &[&str]) {
    let mut args = vec!["context", "add", "k", "--mode", "kubernetes"];
    args.extend_from_slice(extra);
    ok(&t.run(&args));
    ok(&t.run(&["context", "use", "k"]));
}

#[test]
fn an_unreachable_cluster_is_named_once_without_client_log_lines_even_with_quiet() {
    let t = TestContext::new();
    kube_context(&t, &[]);
    let kc = kubeconfig(t.work.path(), "only");
    for quiet in [false, true] {
        let mut cmd = t.prisn();
        if quiet {
            cmd.arg("-q");
        }
        let out = cmd.args(["get"]).env("KUBECONFIG", &kc).output().unwrap();
        let err = fails(&out);
        assert!(
            err.contains("cannot reach the Kubernetes API server https://127.0.0.1:1/"),
            "the error must name the server: {err}"
        );
        assert!(err.contains("kubectl cluster-info"), "no hint: {err}");
        assert!(
            !err.contains("ERROR") && !err.contains("failed with error"),
            "a client log line leaked (quiet={quiet}): {err}"
        );
    }
}

#[test]
fn missing_files_in_kubeconfig_are_skipped_as_kubectl_does() {
    let t = TestContext::new();
    kube_context(&t, &[]);
    let kc = kubeconfig(t.work.path(), "only");
    let list = format!("/nonexistent/prisn-kubeconfig:{}", kc.display());
    let err = fails(
        &t.prisn()
            .arg("get")
            .env("KUBECONFIG", list)
            .output()
            .unwrap(),
    );
    // Getting as far as the server proves the real file was read.
    assert!(err.contains("https://127.0.0.1:1"), "{err}");
    assert!(!err.contains("nonexistent"), "{err}");
}

#[test]
fn a_kube_context_the_kubeconfig_lacks_names_the_ones_it_has() {
    let t = TestContext::new();
    kube_context(&t, &["--kube-context", "staging"]);
    let kc = kubeconfig(t.work.path(), "prod-cluster");
    let err = fails(
        &t.prisn()
            .arg("get")
            .env("KUBECONFIG", &kc)
            .output()
            .unwrap(),
    );
    assert!(
        err.contains("kube_context \"staging\"")
            && err.contains("it has: prod-cluster")
            && err.contains(&kc.display().to_string()),
        "{err}"
    );
    assert!(!err.contains("failed to load current context"), "{err}");
}
