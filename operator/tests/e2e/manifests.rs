use std::io::Write;
use std::process::{Command, Stdio};

use prisn_testsupport::testbed;

/// The test bed's own kubectl (same release as its API server), else the one on PATH.
fn kubectl() -> std::path::PathBuf {
    let script = testbed::repo_root().join("tests/testbed/testbed.sh");
    let env = Command::new("bash").arg(script).arg("env").output();
    let dir = env.ok().and_then(|o| {
        String::from_utf8_lossy(&o.stdout).lines().find_map(|l| {
            l.strip_prefix("export PATH=")
                .map(|p| p.split(':').next().unwrap_or("").to_string())
        })
    });
    match dir.map(|d| std::path::Path::new(&d).join("kubectl")) {
        Some(k) if k.is_file() => k,
        _ => "kubectl".into(),
    }
}

/// Runs `kubectl apply --dry-run=server -f -` against the test bed with `yaml` on stdin.
fn dry_run(yaml: &str) -> (bool, String) {
    let mut child = Command::new(kubectl())
        .args(["apply", "--dry-run=server", "-f", "-"])
        .env("KUBECONFIG", testbed::kubeconfig_path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl from the test bed (tests/testbed/testbed.sh build) or on PATH");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(yaml.as_bytes())
        .expect("write manifests");
    let out = child.wait_with_output().expect("kubectl finishes");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn install_manifests_apply_cleanly_with_server_dry_run() {
    let Some(ns) = crate::common::setup("op-manifests").await else {
        return;
    };
    // CRDs exist (setup applied them), so this is a dry-run update of each.
    let (ok, out) = dry_run(&prisn_operator::manifests::crds_yaml().expect("crds"));
    assert!(ok, "CRDs: {out}");
    // The manager objects, in a namespace of the test's own (a dry-run does not create the
    // prisn-system Namespace, so objects inside it could not be checked).
    let yaml = prisn_operator::manifests::manager_yaml_in(
        "registry.invalid/prisn-operator:test",
        &ns.name,
        false,
    )
    .expect("render");
    let (ok, out) = dry_run(&yaml);
    assert!(ok, "manager: {out}");
    for kind in [
        "serviceaccount",
        "clusterrole",
        "clusterrolebinding",
        "role",
        "rolebinding",
        "service",
        "deployment",
    ] {
        assert!(
            out.contains(&format!("{kind}.")) || out.contains(&format!("{kind}/")),
            "{kind} missing in: {out}"
        );
    }
    // The complete output of `prisn operator manifests` passes too (Namespace incl.). A
    // dry run creates no Namespace, so the objects inside prisn-system need it to exist.
    system_namespace(&ns.client).await;
    let (ok, out) = dry_run(&prisn_operator::manifests::render(
        "registry.invalid/prisn-operator:test",
    ));
    assert!(ok, "render(): {out}");
    assert!(
        out.contains(&format!(
            "namespace/{}",
            prisn_operator::manifests::NAMESPACE
        )),
        "the Namespace is part of the output: {out}"
    );
}

/// Makes sure the operator's own namespace exists (one left terminating by someone else is
/// waited out first). It is left in place: deleting it would leave it terminating for a
/// while, in the way of a later test (of this run or another binary) that installs the
/// operator there; an empty namespace on a throw-away test bed costs nothing.
async fn system_namespace(client: &kube::Client) {
    use k8s_openapi::api::core::v1::Namespace;
    let name = prisn_operator::manifests::NAMESPACE;
    let api: kube::Api<Namespace> = kube::Api::all(client.clone());
    crate::common::eventually(
        &format!("namespace {name} active"),
        crate::common::WAIT,
        || {
            let api = api.clone();
            async move {
                match api.get_opt(name).await? {
                    Some(ns) if ns.metadata.deletion_timestamp.is_none() => Ok(Some(())),
                    Some(_) => Ok(None),
                    None => {
                        let fresh = Namespace {
                            metadata: kube::api::ObjectMeta {
                                name: Some(name.to_string()),
                                ..Default::default()
                            },
                            ..Default::default()
                        };
                        api.create(&Default::default(), &fresh).await?;
                        Ok(Some(()))
                    }
                }
            }
        },
    )
    .await
    .expect("the operator's namespace exists");
}
