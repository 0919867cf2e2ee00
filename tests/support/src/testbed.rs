//! The Kubernetes test bed: a real kube-apiserver, etcd, controller-manager,
//! scheduler and kwok on 127.0.0.1, started by `tests/testbed/testbed.sh up`.
//!
//! ```no_run
//! # use k8s_openapi::api::core::v1::Pod;
//! # async fn a_test() {
//! let Some(ns) = prisn_testsupport::testbed::namespace("op-app").await else { return };
//! let pods: kube::Api<Pod> = kube::Api::namespaced(ns.client.clone(), &ns.name);
//! # }
//! ```
//!
//! Only the kubeconfig that `testbed.sh` writes is used (or the one named by
//! `PRISN_TESTBED_KUBECONFIG`): `KUBECONFIG` is ignored on purpose, so a test can
//! never touch a real cluster.
//!
//! # When the test bed is down
//!
//! With `PRISN_TESTBED_REQUIRED=1` (tests/run.sh, the README's test command, exports
//! it) or `CI=true`, a test that needs the test bed **fails**, naming why the test bed
//! is not usable. Otherwise — a developer's plain `cargo test` on a machine without
//! a test bed — it prints a loud `SKIPPED: …` line and passes: that loop must stay
//! usable for the tests that need nothing, and the line cannot be missed. Nothing
//! that counts as "the tests passed" runs without the variable.
//!
//! # Counting
//!
//! When `PRISN_TESTBED_COUNT_FILE` names a file, every test that got a client
//! appends one line `<test binary> <test name>` to it (tests/run.sh prints the
//! total and fails when a test binary that needs the test bed recorded none).

use std::collections::BTreeMap;
use std::hash::{BuildHasher, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use kube::api::{DeleteParams, ObjectMeta, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};

/// Env var naming another kubeconfig for the test bed.
pub const KUBECONFIG_ENV: &str = "PRISN_TESTBED_KUBECONFIG";
/// Label put on every namespace that [`namespace`] creates.
pub const NAMESPACE_LABEL: &str = "testbed.prisn.io/test";

/// kwok stage controls (see tests/testbed/README.md): a pod labelled
/// `testbed.prisn.io/outcome: fail` ends Failed; `succeed` ends Succeeded even
/// when no Job owns it; pods owned by a Job end Succeeded by default.
pub const OUTCOME_LABEL: &str = "testbed.prisn.io/outcome";
/// Exit code of the failed container (default 1).
pub const EXIT_CODE_ANNOTATION: &str = "testbed.prisn.io/exit-code";
/// How long a finishing pod stays Running first, as a Go duration ("3s").
pub const DURATION_ANNOTATION: &str = "testbed.prisn.io/duration";

/// The repository root: the directory holding `tests/testbed/testbed.sh`.
pub fn repo_root() -> PathBuf {
    let start = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut dir: &Path = &start;
    loop {
        if dir.join("tests/testbed/testbed.sh").is_file() {
            return dir.to_path_buf();
        }
        match dir.parent() {
            Some(p) => dir = p,
            // tests/support is two levels below the root.
            None => return start.join("../.."),
        }
    }
}

/// Path of `target/testbed/kubeconfig` under the repo root; env
/// `PRISN_TESTBED_KUBECONFIG` overrides.
pub fn kubeconfig_path() -> PathBuf {
    match std::env::var_os(KUBECONFIG_ENV) {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => repo_root().join("target/testbed/kubeconfig"),
    }
}

/// Env var that makes an unreachable test bed a test failure (tests/run.sh sets it).
pub const REQUIRED_ENV: &str = "PRISN_TESTBED_REQUIRED";
/// Env var naming the file each test that ran against the test bed appends a line to.
pub const COUNT_FILE_ENV: &str = "PRISN_TESTBED_COUNT_FILE";

fn env_is_true(name: &str) -> bool {
    matches!(
        std::env::var(name).map(|v| v.to_ascii_lowercase()),
        Ok(v) if v == "true" || v == "1"
    )
}

/// Cargo names test binaries `<target>-<16 hex>`: `e2e-0123456789abcdef` → `e2e`.
fn target_name(file_stem: &str) -> String {
    match file_stem.rsplit_once('-') {
        Some((name, hash)) if hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => {
            name.to_string()
        }
        _ => file_stem.to_string(),
    }
}

/// Must a test that needs the test bed fail when it is down? (See the module docs.)
pub fn required() -> bool {
    env_is_true(REQUIRED_ENV) || env_is_true("CI")
}

/// Appends `<binary> <test>` to the count file, if one is named. libtest names the
/// thread that runs a test after the test, and `block_on` runs the test's future on
/// that thread, so the name is the test's even under `#[tokio::test]`.
fn count_this_test() {
    let Some(path) = std::env::var_os(COUNT_FILE_ENV).filter(|p| !p.is_empty()) else {
        return;
    };
    let binary = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| target_name(&s.to_string_lossy())))
        .unwrap_or_default();
    let thread = std::thread::current();
    let test = match thread.name() {
        Some(name) if name != "main" => name.to_string(),
        // Not on a libtest thread (e.g. a harness-less binary): one line per call.
        _ => format!("unnamed-{}-{:?}", std::process::id(), thread.id()),
    };
    // One short write with O_APPEND: lines of parallel tests do not interleave.
    let line = format!("{binary} {test}\n");
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| f.write_all(line.as_bytes()));
    if let Err(e) = written {
        panic!(
            "cannot record this test in {} ({COUNT_FILE_ENV}): {e}",
            Path::new(&path).display()
        );
    }
}

fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Builds a client from the test bed's kubeconfig and checks that the API
/// server answers. Errors say why the test bed is not usable.
pub async fn try_client() -> Result<Client> {
    install_crypto_provider();
    let path = kubeconfig_path();
    if !path.is_file() {
        bail!("no kubeconfig at {}", path.display());
    }
    let kc = Kubeconfig::read_from(&path).with_context(|| format!("reading {}", path.display()))?;
    let config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .with_context(|| format!("loading {}", path.display()))?;
    let server = config.cluster_url.to_string();
    let client = Client::try_from(config).context("building the kube client")?;
    tokio::time::timeout(Duration::from_secs(10), client.apiserver_version())
        .await
        .map_err(|_| anyhow!("API server {server} did not answer within 10 s"))?
        .with_context(|| format!("API server {server} does not answer"))?;
    Ok(client)
}

/// A client for the running test bed. If the test bed is not up: when it is
/// [`required`] this panics with a message saying why and how to start it;
/// otherwise it prints a loud `SKIPPED: …` line and returns `None`.
pub async fn client() -> Option<Client> {
    match try_client().await {
        Ok(c) => {
            count_this_test();
            Some(c)
        }
        Err(e) => {
            let why = format!("{e:#}");
            if required() {
                panic!(
                    "the test bed is required ({REQUIRED_ENV}=1 or CI=true) but not usable: {why}; \
                     start it with tests/testbed/testbed.sh up (tests/run.sh does)"
                );
            }
            // Straight to fd 2: libtest swallows eprintln! of passing tests,
            // and a skip must be seen.
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED: test bed not running: {why}; run tests/testbed/testbed.sh up \
                 (with {REQUIRED_ENV}=1 this is a failure)"
            );
            None
        }
    }
}

/// A fresh namespace named `<prefix>-<random>` (DNS-1123). It is deleted when
/// dropped (best effort, in the background: the namespace controller then
/// removes what it holds).
pub struct TestNamespace {
    pub name: String,
    pub client: Client,
}

impl TestNamespace {
    /// An `Api` for a namespaced kind in this namespace.
    pub fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        <K as kube::Resource>::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), &self.name)
    }
}

impl Drop for TestNamespace {
    fn drop(&mut self) {
        if std::env::var_os("PRISN_TESTBED_KEEP_NAMESPACES").is_some() {
            let _ = writeln!(
                std::io::stderr(),
                "testbed: keeping namespace {}",
                self.name
            );
            return;
        }
        // The kube client is bound to the test's runtime, which may be a
        // current-thread one that we are blocking right now: delete from a
        // thread with its own runtime and its own client.
        let name = self.name.clone();
        let handle = std::thread::spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(_) => return,
            };
            rt.block_on(async {
                let Ok(client) = try_client().await else {
                    return;
                };
                let api: Api<Namespace> = Api::all(client);
                let _ = tokio::time::timeout(
                    Duration::from_secs(10),
                    api.delete(&name, &DeleteParams::background()),
                )
                .await;
            });
        });
        let _ = handle.join();
    }
}

/// A DNS-1123 label `<prefix>-<8 hex chars>`, unique within and across processes.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u32(std::process::id());
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    let mut p: String = prefix
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    p.truncate(63 - 9);
    let p = p.trim_matches('-');
    let p = if p.is_empty() { "t" } else { p };
    format!("{p}-{:08x}", h.finish() as u32)
}

/// Creates `<prefix>-<random>` and waits until its `default` ServiceAccount
/// exists (admission refuses pods before that).
pub async fn try_namespace(client: Client, prefix: &str) -> Result<TestNamespace> {
    let name = unique_name(prefix);
    let api: Api<Namespace> = Api::all(client.clone());
    let ns = Namespace {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            labels: Some(BTreeMap::from([(
                NAMESPACE_LABEL.to_string(),
                "true".to_string(),
            )])),
            ..Default::default()
        },
        ..Default::default()
    };
    api.create(&PostParams::default(), &ns)
        .await
        .with_context(|| format!("creating namespace {name}"))?;
    let ns = TestNamespace { name, client };
    let sas: Api<ServiceAccount> = ns.api();
    let deadline = Instant::now() + Duration::from_secs(30);
    while sas.get_opt("default").await?.is_none() {
        if Instant::now() > deadline {
            bail!(
                "namespace {}: no default ServiceAccount after 30 s (is kube-controller-manager running?)",
                ns.name
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(ns)
}

/// A fresh namespace on the test bed, or `None` (after a loud SKIPPED line)
/// when the test bed is down and not [`required`]; panics when it is required.
pub async fn namespace(prefix: &str) -> Option<TestNamespace> {
    let client = client().await?;
    match try_namespace(client, prefix).await {
        Ok(ns) => Some(ns),
        Err(e) => panic!("test bed is up but a namespace could not be made: {e:#}"),
    }
}

/// Polls `f` every 100 ms until it returns `Some`, or fails after `timeout`
/// with `what` in the message. For conditions that span several objects.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>>>,
{
    let start = Instant::now();
    let mut last_err = None;
    loop {
        match f().await {
            Ok(Some(v)) => return Ok(v),
            Ok(None) => {}
            Err(e) => last_err = Some(e),
        }
        if start.elapsed() > timeout {
            return Err(match last_err {
                Some(e) => e.context(format!("{what}: not reached after {timeout:?}")),
                None => anyhow!("{what}: not reached after {timeout:?}"),
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_names_are_dns1123_and_distinct() {
        let a = unique_name("Op_App");
        let b = unique_name("Op_App");
        assert_ne!(a, b);
        assert!(a.starts_with("op-app-"), "{a}");
        assert!(a.len() <= 63);
        assert!(
            a.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        );
        let long = unique_name(&"x".repeat(100));
        assert!(long.len() <= 63, "{long}");
        assert_eq!(unique_name("--").len(), "t-".len() + 8);
    }

    #[test]
    fn the_count_file_names_the_cargo_target() {
        assert_eq!(target_name("e2e-0123456789abcdef"), "e2e");
        assert_eq!(target_name("it-27a140afa8482b98"), "it");
        // Not cargo's hash: kept whole.
        assert_eq!(target_name("my-tool"), "my-tool");
        assert_eq!(target_name("x-0123456789abcdeg"), "x-0123456789abcdeg");
    }

    #[test]
    fn root_holds_the_testbed_script() {
        assert!(repo_root().join("tests/testbed/testbed.sh").is_file());
    }
}
