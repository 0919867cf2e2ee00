//! Kubernetes-mode tests: the real test bed (kube-apiserver, controller-manager, kwok), the
//! operator running in this process for one namespace, a real registry with the test base,
//! and the `prisn` binary with a kubernetes context pointing at all of them.

#![allow(dead_code)]

use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams};
use prisn_operator::controller::{self, RunConfig};
use prisn_operator::metrics::Metrics;
use prisn_testsupport::registry::Registry;
use prisn_testsupport::testbed::{self, TestNamespace, eventually};

use crate::common::*;
use crate::image_common::registry_with_base;

/// The tests here change cluster-wide things (CRDs), so they run one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

pub const WAIT: Duration = Duration::from_secs(90);

/// Held while something changes cluster-wide state (the CRDs, the operator pod's scope):
/// no test with an in-process operator runs meanwhile.
pub fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

pub struct KubeEnv {
    pub t: TestContext,
    pub registry: Registry,
    /// The test base image, `HOST/base/python3:test`.
    pub base: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    // Field order is drop order: the namespace goes before the runtime it was made on.
    pub ns: TestNamespace,
    pub rt: tokio::runtime::Runtime,
    _serial: MutexGuard<'static, ()>,
}

impl KubeEnv {
    /// A namespace with the CRDs installed, an operator watching it, a registry holding the
    /// python base, and `prisn context add tb --mode kubernetes -n NS --registry HOST/team`.
    /// None when the test bed is down (skipped loudly under a plain `cargo test`; a failure
    /// under tests/run.sh and in CI, see `prisn_testsupport::testbed`).
    pub fn start(prefix: &str) -> Option<KubeEnv> {
        let serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
        let _ = rustls::crypto::ring::default_provider().install_default();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let ns = rt.block_on(testbed::namespace(prefix))?;
        rt.block_on(install_crds(&ns.client))
            .expect("CRDs install on the test bed");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let cfg = RunConfig {
            namespace: Some(ns.name.clone()),
            operator: prisn_operator::OperatorConfig::default(),
            concurrency: 8,
            instance: Some(format!("cli-test-{}", ns.name)),
            ..Default::default()
        };
        let client = ns.client.clone();
        rt.spawn(async move {
            let shutdown = async move {
                let _ = rx.await;
            };
            if let Err(e) =
                controller::run(client, cfg, std::sync::Arc::new(Metrics::new()), shutdown).await
            {
                eprintln!("operator stopped: {e}");
            }
        });
        let (registry, base) = registry_with_base("python3");
        let env = KubeEnv {
            t: TestContext::new(),
            registry,
            base,
            stop: Some(tx),
            ns,
            rt,
            _serial: serial,
        };
        let reg = format!("{}/team", env.registry.host());
        ok(&env.prisn(&[
            "context",
            "add",
            "tb",
            "--mode",
            "kubernetes",
            "-n",
            &env.ns.name,
            "--registry",
            &reg,
        ]));
        Some(env)
    }

    /// `prisn` bound to the test bed's kubeconfig and this test's PRISN_HOME.
    pub fn cmd(&self) -> Command {
        let mut cmd = self.t.prisn();
        cmd.env("KUBECONFIG", testbed::kubeconfig_path())
            .env_remove("PRISN_NAMESPACE");
        cmd
    }

    pub fn prisn(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().expect("prisn runs")
    }

    pub fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        K::DynamicType: Default,
    {
        self.ns.api()
    }

    /// Poll until `check(get(name))` holds.
    pub fn wait_for<K>(&self, name: &str, what: &str, check: impl Fn(&K) -> bool) -> K
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
        K::DynamicType: Default,
    {
        let api: Api<K> = self.api();
        let check = &check;
        self.rt
            .block_on(eventually(&format!("{name}: {what}"), WAIT, || {
                let api = api.clone();
                async move { Ok(api.get_opt(name).await?.filter(|o| check(o))) }
            }))
            .unwrap()
    }

    pub fn get<K>(&self, name: &str) -> Option<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
        K::DynamicType: Default,
    {
        self.rt.block_on(self.api::<K>().get_opt(name)).unwrap()
    }
}

impl Drop for KubeEnv {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// Server-side apply the CRDs generated from the operator's types; wait until served.
pub async fn install_crds(client: &kube::Client) -> anyhow::Result<()> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let pp = PatchParams::apply("prisn-cli-tests").force();
    for (_, crd) in prisn_operator::manifests::crds() {
        let name = crd.metadata.name.clone().unwrap_or_default();
        api.patch(&name, &pp, &Patch::Apply(&crd)).await?;
        eventually(&format!("CRD {name} established"), WAIT, || {
            let api = api.clone();
            let name = name.clone();
            async move {
                let established = api
                    .get(&name)
                    .await?
                    .status
                    .and_then(|s| s.conditions)
                    .is_some_and(|cs| {
                        cs.iter()
                            .any(|c| c.type_ == "Established" && c.status == "True")
                    });
                Ok(established.then_some(()))
            }
        })
        .await?;
    }
    // Discovery catches up a moment after Established: wait until it serves all three
    // (the CLI finds the kinds through it).
    let plurals: Vec<String> = prisn_operator::manifests::crds()
        .iter()
        .map(|(_, c)| c.spec.names.plural.clone())
        .collect();
    let group_version = {
        let (_, crd) = &prisn_operator::manifests::crds()[0];
        format!("{}/{}", crd.spec.group, crd.spec.versions[0].name)
    };
    eventually(&format!("{group_version} in discovery"), WAIT, || {
        let client = client.clone();
        let (plurals, group_version) = (&plurals, &group_version);
        async move {
            let served = client.list_api_group_resources(group_version).await?;
            let all = plurals
                .iter()
                .all(|p| served.resources.iter().any(|r| &r.name == p));
            Ok(all.then_some(()))
        }
    })
    .await?;
    Ok(())
}
