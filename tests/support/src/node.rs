//! The test bed's real node: kubelet + containerd + kube-proxy on this machine, a
//! registry containerd pulls from, and a namespace whose pods run there (see
//! tests/testbed/README.md, "The real node").
//!
//! ```no_run
//! # async fn a_test() {
//! let Some(node) = prisn_testsupport::node::node() else { return };
//! let client = prisn_testsupport::testbed::client().await.unwrap();
//! let ns = prisn_testsupport::node::try_namespace_on_node(client, "e2e").await.unwrap();
//! // every pod created in ns.name runs on node.name, pulling from node.registry
//! # }
//! ```

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use kube::api::{ObjectMeta, Patch, PatchParams};
use kube::{Api, Client};

use crate::testbed::{NAMESPACE_LABEL, TestNamespace, kubeconfig_path, unique_name};

/// Label of the real node (the kwok nodes have `type=kwok`).
pub const NODE_LABEL: (&str, &str) = ("type", "real");
/// The real node's taint (NoSchedule): only pods that tolerate it run there.
pub const TAINT_KEY: &str = "testbed.prisn.io/real-node";
/// Namespace annotation read by the PodNodeSelector admission plugin.
pub const NODE_SELECTOR_ANNOTATION: &str = "scheduler.alpha.kubernetes.io/node-selector";
/// Namespace annotation read by the PodTolerationRestriction admission plugin.
pub const DEFAULT_TOLERATIONS_ANNOTATION: &str = "scheduler.alpha.kubernetes.io/defaultTolerations";

/// The running real node, from `target/testbed/ports.env`.
#[derive(Clone, Debug)]
pub struct Node {
    /// The Node object's name.
    pub name: String,
    /// `127.0.0.1:PORT` of the registry containerd pulls from (plain HTTP); it also
    /// serves every `docker.io` name: push `library/python:3.11-slim` to serve `python:3.11-slim`.
    pub registry: String,
    /// The test bed's state directory.
    pub state: PathBuf,
    /// Every `NAME=VALUE` of `ports.env` (`ETCD_PORT`, `KUBELET_PORT`, …).
    pub ports: BTreeMap<String, String>,
}

impl Node {
    /// `kubectl` built with the test bed, bound to its admin kubeconfig.
    pub fn kubectl(&self) -> Command {
        let mut cmd = Command::new(self.state.join("bin/kubectl"));
        cmd.arg("--kubeconfig").arg(kubeconfig_path());
        cmd
    }

    /// Pushes the OCI layout `layout` (image `name` in it) to `<registry>/<repo_tag>` with
    /// skopeo; returns `<registry>/<repo>@sha256:…`.
    pub fn push_layout(&self, layout: &Path, name: &str, repo_tag: &str) -> Result<String> {
        let digest_file = tempfile::NamedTempFile::new()?;
        let out = Command::new("skopeo")
            .args(["copy", "--quiet", "--dest-tls-verify=false", "--digestfile"])
            .arg(digest_file.path())
            .arg(format!("oci:{}:{name}", layout.display()))
            .arg(format!("docker://{}/{repo_tag}", self.registry))
            .output()
            .context("running skopeo (apt-get install skopeo)")?;
        if !out.status.success() {
            bail!(
                "skopeo copy {} → {}/{repo_tag}: {}",
                layout.display(),
                self.registry,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let digest = std::fs::read_to_string(digest_file.path())?;
        let repo = repo_tag.rsplit_once(':').map_or(repo_tag, |(r, _)| r);
        Ok(format!("{}/{repo}@{}", self.registry, digest.trim()))
    }
}

fn in_ci() -> bool {
    matches!(std::env::var("CI").map(|v| v.to_ascii_lowercase()), Ok(v) if v == "true" || v == "1")
}

/// The real node, or why there is none.
pub fn try_node() -> Result<Node> {
    let state = kubeconfig_path()
        .parent()
        .map(Path::to_path_buf)
        .context("the kubeconfig path has no parent")?;
    let env_path = state.join("ports.env");
    let text = std::fs::read_to_string(&env_path)
        .with_context(|| format!("reading {}", env_path.display()))?;
    let vars: BTreeMap<&str, &str> = text.lines().filter_map(|l| l.split_once('=')).collect();
    let (Some(name), Some(port)) = (vars.get("REAL_NODE"), vars.get("REGISTRY_PORT")) else {
        bail!(
            "{} names no real node (the test bed was started with PRISN_TESTBED_REAL_NODE=0?)",
            env_path.display()
        );
    };
    if !state.join("bin/kubectl").is_file() {
        bail!("no kubectl at {}", state.join("bin/kubectl").display());
    }
    Ok(Node {
        name: name.to_string(),
        registry: format!("127.0.0.1:{port}"),
        ports: vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        state,
    })
}

/// The real node; when there is none: a loud `SKIPPED` line and `None`, or a panic in CI.
pub fn node() -> Option<Node> {
    match try_node() {
        Ok(n) => Some(n),
        Err(e) if in_ci() => panic!(
            "real node not running in CI: {e:#}; CI must run tests/testbed/testbed.sh up (tests/run.sh does)"
        ),
        Err(e) => {
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED: real node not running: {e:#}; run tests/testbed/testbed.sh up as root"
            );
            None
        }
    }
}

/// The annotations that put every pod of a namespace on the real node: a node
/// selector and a toleration of its taint, added by admission (no change to the pods).
pub fn placement_annotations() -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            NODE_SELECTOR_ANNOTATION.to_string(),
            format!("{}={}", NODE_LABEL.0, NODE_LABEL.1),
        ),
        (
            DEFAULT_TOLERATIONS_ANNOTATION.to_string(),
            format!(r#"[{{"key":"{TAINT_KEY}","operator":"Exists","effect":"NoSchedule"}}]"#),
        ),
    ])
}

/// Creates `name` with the placement annotations (or adds them to an existing
/// namespace), and waits for its `default` ServiceAccount.
pub async fn ensure_namespace_on_node(client: &Client, name: &str) -> Result<()> {
    let api: Api<Namespace> = Api::all(client.clone());
    let ns = Namespace {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            labels: Some(BTreeMap::from([(
                NAMESPACE_LABEL.to_string(),
                "true".to_string(),
            )])),
            annotations: Some(placement_annotations()),
            ..Default::default()
        },
        ..Default::default()
    };
    let pp = PatchParams::apply("prisn-testsupport").force();
    api.patch(name, &pp, &Patch::Apply(&ns))
        .await
        .with_context(|| format!("creating namespace {name} on the real node"))?;
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), name);
    let deadline = Instant::now() + Duration::from_secs(30);
    while sas.get_opt("default").await?.is_none() {
        if Instant::now() > deadline {
            bail!("namespace {name}: no default ServiceAccount after 30 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// A fresh `<prefix>-<random>` namespace whose pods run on the real node; deleted on drop.
pub async fn try_namespace_on_node(client: Client, prefix: &str) -> Result<TestNamespace> {
    let name = unique_name(prefix);
    ensure_namespace_on_node(&client, &name).await?;
    Ok(TestNamespace { name, client })
}
