//! End-to-end tests on the test bed's real node (kubelet + containerd): the operator runs as
//! a pod, installed the way the README says, and `prisn` deploys through it.
//!
//! Set up once per test process ([`Shared`]):
//! - the test base images are pushed to the node's registry under the operator's default
//!   names (`library/python:3.11-slim`, …): containerd serves `docker.io` from that registry,
//!   so the operator's defaults resolve on this machine;
//! - the operator image (an OCI layout made by `prisn operator image`, by tests/run.sh) is
//!   pushed as `library/prisn-operator:latest`, the manifest's own name;
//! - `kubectl apply -f operator/config/crd/bases/` and `kubectl apply -f
//!   operator/config/manager/`, word for word. Two test-bed-only steps around them:
//!   `prisn-system` is created first with the real node's placement annotations (so the
//!   pod is not faked by kwok), and `kubectl set env … PRISN_WATCH_NAMESPACE=<e2e ns>`
//!   after, because the other Kubernetes tests run their own operator in-process per
//!   namespace and two operators must not reconcile the same objects.
//!
//! Every test then works in that one namespace, with its own app names.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::Api;
use kube::api::ListParams;
use prisn_operator::crd::Runtime;
use prisn_testsupport::node::{self, Node};
use prisn_testsupport::registry::base_layout;
use prisn_testsupport::testbed::{self, eventually};

use crate::common::*;

pub const WAIT: Duration = Duration::from_secs(180);
pub const OPERATOR_NS: &str = "prisn-system";
pub const OPERATOR_DEPLOYMENT: &str = "prisn-operator-controller-manager";

/// What every test on the node shares: the namespace the operator pod watches, and the
/// bases in the node's registry.
pub struct Shared {
    pub ns: String,
    /// `REGISTRY/library/python:3.11-slim` (what `--base` takes for image builds).
    pub python_base: String,
    /// What `prisn operator install` printed: `REGISTRY/prisn-operator@sha256:…`.
    pub operator_image: String,
    /// Its stderr (it says the operator is Ready).
    pub install_said: String,
}

static SHARED: OnceLock<std::result::Result<Shared, String>> = OnceLock::new();

pub struct NodeEnv {
    pub t: TestContext,
    pub node: Node,
    pub shared: &'static Shared,
    pub client: kube::Client,
    pub rt: tokio::runtime::Runtime,
}

impl NodeEnv {
    /// The shared set-up (once), a fresh PRISN_HOME with a kubernetes context for the e2e
    /// namespace and the node's registry. None when there is no real node (outside CI).
    pub fn start() -> Option<NodeEnv> {
        let node = node::node()?;
        let _ = rustls::crypto::ring::default_provider().install_default();
        let shared = SHARED
            .get_or_init(|| set_up(&node).map_err(|e| format!("{e:#}")))
            .as_ref()
            .unwrap_or_else(|e| panic!("setting up the real node for e2e tests failed: {e}"));
        let rt = runtime();
        let client = rt
            .block_on(testbed::client())
            .expect("the test bed answers when its node does");
        let env = NodeEnv {
            t: TestContext::new(),
            node,
            shared,
            client,
            rt,
        };
        let registry = format!("{}/team", env.node.registry);
        ok(&env.prisn(&[
            "context",
            "add",
            "node",
            "--mode",
            "kubernetes",
            "-n",
            &shared.ns,
            "--registry",
            &registry,
        ]));
        Some(env)
    }

    pub fn cmd(&self) -> Command {
        let mut cmd = self.t.prisn();
        cmd.env("KUBECONFIG", testbed::kubeconfig_path())
            .env_remove("PRISN_NAMESPACE");
        cmd
    }

    pub fn prisn(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().expect("prisn runs")
    }

    pub fn kubectl(&self, args: &[&str]) -> Output {
        self.node
            .kubectl()
            .args(["-n", &self.shared.ns])
            .args(args)
            .output()
            .expect("kubectl runs")
    }

    pub fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        K::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), &self.shared.ns)
    }

    /// Polls `f` until it gives `Some` ([`WAIT`] at most).
    pub fn eventually<T, F, Fut>(&self, what: &str, f: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<Option<T>>>,
    {
        self.rt.block_on(eventually(what, WAIT, f)).unwrap()
    }

    /// The pods of app/job `name` (label `prisn.io/app` or `prisn.io/job`).
    pub fn pods(&self, selector: &str) -> Vec<Pod> {
        self.rt
            .block_on(
                self.api::<Pod>()
                    .list(&ListParams::default().labels(selector)),
            )
            .unwrap()
            .items
    }

    /// Waits until exactly `n` pods match `selector`, all Ready on the real node; returns them.
    pub fn wait_ready_pods(&self, selector: &str, n: usize) -> Vec<Pod> {
        let api = self.api::<Pod>();
        let node = self.node.name.clone();
        self.eventually(&format!("{n} Ready pods {selector} on {node}"), || {
            let api = api.clone();
            let node = node.clone();
            async move {
                let pods = api
                    .list(&ListParams::default().labels(selector))
                    .await?
                    .items;
                let live: Vec<Pod> = pods
                    .into_iter()
                    .filter(|p| p.metadata.deletion_timestamp.is_none())
                    .collect();
                let ready = live.len() == n
                    && live
                        .iter()
                        .all(|p| pod_ready(p) && on_node(p) == Some(node.as_str()));
                Ok(ready.then_some(live))
            }
        })
    }

    /// `http://<ClusterIP>:<port><path>` of Service `name`, from this host (kube-proxy's rules).
    pub fn service_get(&self, name: &str, path: &str) -> Result<(u16, String)> {
        let addr = self.service_addr(name)?;
        http_get(addr, path)
    }

    pub fn service_addr(&self, name: &str) -> Result<SocketAddr> {
        let svc = self
            .rt
            .block_on(self.api::<Service>().get(name))
            .with_context(|| format!("Service {name}"))?;
        let spec = svc.spec.context("Service without spec")?;
        let ip = spec.cluster_ip.context("Service without a ClusterIP")?;
        let port = spec
            .ports
            .and_then(|p| p.first().map(|p| p.port))
            .context("Service without ports")?;
        Ok(format!("{ip}:{port}").parse()?)
    }

    /// Polls the Service until it answers 200 with a body containing `needle`.
    pub fn wait_answer(&self, name: &str, path: &str, needle: &str) -> String {
        let addr = self.service_addr(name).unwrap();
        self.eventually(
            &format!("Service {name} answers {needle:?}"),
            || async move {
                Ok(match http_get(addr, path) {
                    Ok((200, body)) if body.contains(needle) => Some(body),
                    _ => None,
                })
            },
        )
    }

    /// `prisn deploy PATH --name NAME --port 8080 --base <the python base> --wait`, then `extra`
    /// (a `--timeout`, or flags of the test's own).
    pub fn deploy_python_app(&self, path: &str, name: &str, extra: &[&str]) -> Output {
        let mut args = vec![
            "deploy",
            path,
            "--name",
            name,
            "--port",
            "8080",
            "--base",
            &self.shared.python_base,
            "--wait",
        ];
        args.extend_from_slice(extra);
        self.prisn(&args)
    }

    /// Writes `text` to the test's directory as `rel`; returns the path as a string.
    pub fn script(&self, rel: &str, text: &str) -> String {
        self.t.write(rel, text).display().to_string()
    }
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

pub fn pod_ready(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

pub fn on_node(p: &Pod) -> Option<&str> {
    p.spec.as_ref().and_then(|s| s.node_name.as_deref())
}

/// One HTTP/1.0 GET with a 5 s budget; (status, body).
pub fn http_get(addr: SocketAddr, path: &str) -> Result<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())?;
    let mut buf = String::new();
    s.read_to_string(&mut buf)?;
    let status = buf
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .with_context(|| format!("no HTTP status from {addr}: {buf:?}"))?;
    let body = buf
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    Ok((status, body))
}

/// The operator image layout that tests/run.sh builds.
fn operator_layout() -> PathBuf {
    std::env::var_os("PRISN_OPERATOR_IMAGE_LAYOUT")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target/prisn-operator-oci"))
}

fn run(mut cmd: Command) -> Result<String> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Bases and operator image into the node's registry, the seed's install, the e2e namespace.
fn set_up(node: &Node) -> Result<Shared> {
    for rt in Runtime::ALL {
        let name = match rt {
            Runtime::Python3 => "python3",
            Runtime::Node => "node",
            Runtime::Bash => "bash",
        };
        let layout =
            base_layout(name).context("base images are built (tests/run.sh: prisn base)")?;
        node.push_layout(
            &layout,
            name,
            &format!("library/{}", rt.default_base_image()),
        )?;
    }
    let layout = operator_layout();
    if !layout.join("index.json").is_file() {
        bail!(
            "no operator image at {}: run `prisn operator image --base BASE_LAYOUT --binary target/debug/prisn-operator --output {}` (tests/run.sh does)",
            layout.display(),
            layout.display()
        );
    }
    node.push_layout(&layout, "prisn-operator", "library/prisn-operator:latest")?;

    // The install changes cluster-wide things: no in-process operator test runs meanwhile.
    let _serial = crate::kube_common::serial();
    let rt = runtime();
    let ns = testbed::unique_name("prisn-e2e");
    rt.block_on(async {
        let client = testbed::try_client().await?;
        node::ensure_namespace_on_node(&client, OPERATOR_NS).await?;
        node::ensure_namespace_on_node(&client, &ns).await
    })?;
    let root = repo_root();
    let kubectl = |args: &[&str]| {
        let mut c = node.kubectl();
        c.current_dir(&root).args(args);
        run(c)
    };
    kubectl(&["apply", "-f", "operator/config/crd/bases/"])?;
    kubectl(&["apply", "-f", "operator/config/manager/"])?;
    kubectl(&[
        "-n",
        OPERATOR_NS,
        "set",
        "env",
        &format!("deployment/{OPERATOR_DEPLOYMENT}"),
        &format!("PRISN_WATCH_NAMESPACE={ns}"),
    ])?;
    kubectl(&[
        "-n",
        OPERATOR_NS,
        "rollout",
        "status",
        &format!("deployment/{OPERATOR_DEPLOYMENT}"),
        "--timeout=180s",
    ])?;
    // Then prisn's own install over the README's (issue 16): the same binary, built by
    // `prisn operator image` into the node's registry and applied by digest, must say Ready.
    let (operator_image, install_said) = operator_install(node)?;
    // Rolled out: the new pod is Ready. Wait until the old one is gone too, so nothing
    // watching every namespace is left.
    rt.block_on(async {
        let client = testbed::try_client().await?;
        let pods: Api<Pod> = Api::namespaced(client.clone(), OPERATOR_NS);
        let deps: Api<Deployment> = Api::namespaced(client, OPERATOR_NS);
        eventually("one operator pod left", WAIT, || {
            let pods = pods.clone();
            let deps = deps.clone();
            async move {
                let d = deps.get(OPERATOR_DEPLOYMENT).await?;
                let st = d.status.unwrap_or_default();
                let n = pods
                    .list(&ListParams::default().labels("app.kubernetes.io/name=prisn-operator"))
                    .await?
                    .items
                    .len();
                Ok((n == 1 && st.ready_replicas == Some(1)).then_some(()))
            }
        })
        .await
    })?;
    // Ready comes before leadership: the old pod does not hand its Lease over, so the new
    // one starts reconciling when the Lease expires (15 s).
    let logs_cmd = || {
        let mut c = node.kubectl();
        c.args([
            "logs",
            "-n",
            OPERATOR_NS,
            &format!("deployment/{OPERATOR_DEPLOYMENT}"),
        ]);
        run(c)
    };
    rt.block_on(eventually(
        "the operator pod started its controllers",
        WAIT,
        || {
            let logs = logs_cmd();
            let ns = ns.clone();
            async move {
                let logs = logs?;
                Ok(logs
                    .lines()
                    .any(|l| l.contains("controllers started") && l.contains(&ns))
                    .then_some(()))
            }
        },
    ))?;
    let python_base = format!(
        "{}/library/{}",
        node.registry,
        Runtime::Python3.default_base_image()
    );
    Ok(Shared {
        ns,
        python_base,
        operator_image,
        install_said,
    })
}

/// `prisn operator install` into [`OPERATOR_NS`] from the bash base and the prisn-operator
/// beside the prisn under test, pushed to the node's registry. (stdout, stderr).
fn operator_install(node: &Node) -> Result<(String, String)> {
    let t = TestContext::new();
    let base = base_layout("bash")?;
    let out = t
        .prisn()
        .env("KUBECONFIG", testbed::kubeconfig_path())
        .args(["--no-progress", "operator", "install", "--base"])
        .arg(&base)
        .args(["--registry", &node.registry, "--namespace", OPERATOR_NS])
        .output()?;
    if !out.status.success() {
        bail!(
            "prisn operator install failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok((
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

/// The manifest digest of the operator image tests/run.sh wrote.
pub fn operator_layout_digest() -> Result<String> {
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(operator_layout().join("index.json"))?)?;
    index["manifests"][0]["digest"]
        .as_str()
        .map(str::to_string)
        .context("no manifest in the operator layout")
}
