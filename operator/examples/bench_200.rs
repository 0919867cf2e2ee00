//! Benchmark: 200 PrisnApps created at once against the test bed.
//!
//! ```sh
//! tests/testbed/testbed.sh up
//! cargo build --release -p prisn-operator
//! cargo run --release -p prisn-operator --example bench_200   # [APPS, default 200]
//! ```
//!
//! Runs the real `prisn-operator` binary (next to this example, or `PRISN_OPERATOR_BIN`) as a
//! child process scoped to a fresh namespace, creates the apps concurrently, and reports:
//! time until all Deployments exist, time until all apps are Ready, reconcile latency
//! quantiles (from the operator's `/metrics`), and the operator's resident memory.
#![allow(clippy::print_stdout)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::core::PartialObjectMeta;
use kube::runtime::{WatchStreamExt, watcher};
use prisn_operator::crd::{PrisnAppSpec, Source};
use prisn_operator::{PrisnApp, labels};

const IMAGE: &str = "registry.invalid/prisn/web@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

struct KillOnDrop(Child);
impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn operator_bin() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("PRISN_OPERATOR_BIN") {
        return Ok(PathBuf::from(p));
    }
    // target/<profile>/examples/bench_200 → target/<profile>/prisn-operator
    let exe = std::env::current_exe()?;
    let bin = exe
        .parent()
        .and_then(|d| d.parent())
        .map(|d| d.join("prisn-operator"))
        .context("locating the target directory")?;
    if !bin.is_file() {
        bail!(
            "{} not found: run `cargo build --release -p prisn-operator` first (or set PRISN_OPERATOR_BIN)",
            bin.display()
        );
    }
    Ok(bin)
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn http_get(port: u16, path: &str) -> Result<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
    let mut body = String::new();
    s.read_to_string(&mut body)?;
    Ok(body)
}

fn metric(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

fn rss_kib(pid: u32, field: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

/// user + system CPU seconds of `pid` (fields 14 and 15 of /proc/PID/stat, in clock ticks).
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(") ")?.1;
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

#[tokio::main]
async fn main() -> Result<()> {
    let n: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(200);
    let Some(ns) = prisn_testsupport::testbed::namespace("bench").await else {
        bail!("the test bed is not running: tests/testbed/testbed.sh up");
    };
    let client = ns.client.clone();
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for (_, crd) in prisn_operator::manifests::crds() {
        let name = crd.metadata.name.clone().unwrap_or_default();
        crds.patch(
            &name,
            &PatchParams::apply("prisn-bench").force(),
            &Patch::Apply(&crd),
        )
        .await?;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;

    let port = free_port()?;
    let bin = operator_bin()?;
    let op = KillOnDrop(
        Command::new(&bin)
            .args([
                "--namespace",
                &ns.name,
                "--health-probe-bind-address",
                "0",
                "--concurrency",
                "32",
            ])
            .arg(format!("--metrics-bind-address=127.0.0.1:{port}"))
            .env("KUBECONFIG", prisn_testsupport::testbed::kubeconfig_path())
            .env(
                "RUST_LOG",
                std::env::var("PRISN_BENCH_RUST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdout(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?,
    );
    let pid = op.0.id();
    let start_wait = Instant::now();
    while http_get(port, "/metrics").is_err() {
        if start_wait.elapsed() > Duration::from_secs(20) {
            bail!("the operator did not start");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await; // watches established
    let idle_rss = rss_kib(pid, "VmRSS:").unwrap_or(0);

    let apps: Api<PrisnApp> = Api::namespaced(client.clone(), &ns.name);
    // Metadata only: the bench needs names, not pod templates.
    let deployments: Api<PartialObjectMeta<Deployment>> = Api::namespaced(client.clone(), &ns.name);
    let t0 = Instant::now();
    let creates = futures::stream::iter(0..n)
        .map(|i| {
            let apps = apps.clone();
            async move {
                let spec = PrisnAppSpec {
                    source: Source::image(IMAGE),
                    // PRISN_BENCH_NO_PORT=1: no Service per app (to tell Service costs apart).
                    port: std::env::var_os("PRISN_BENCH_NO_PORT")
                        .is_none()
                        .then_some(8080),
                    ..Default::default()
                };
                apps.create(
                    &PostParams::default(),
                    &PrisnApp::new(&format!("app-{i:03}"), spec),
                )
                .await
            }
        })
        .buffer_unordered(64)
        .collect::<Vec<_>>()
        .await;
    if let Some(Err(e)) = creates.into_iter().find(|r| r.is_err()) {
        bail!("creating apps: {e}");
    }
    let t_created = t0.elapsed();
    // Watch (not poll) for the results, so the measurement adds no load to the API server.
    let t_deployments = tokio::time::timeout(Duration::from_secs(300), async {
        let wc = watcher::Config::default().labels(labels::MANAGED_SELECTOR);
        let mut seen = std::collections::HashSet::new();
        let mut stream = std::pin::pin!(watcher(deployments.clone(), wc).applied_objects());
        while let Some(d) = stream.next().await {
            seen.insert(d?.metadata.name.unwrap_or_default());
            if seen.len() >= n {
                return Ok::<_, anyhow::Error>(t0.elapsed());
            }
        }
        bail!("the Deployment watch ended")
    })
    .await
    .context("not all Deployments after 300 s")??;
    let t_ready = tokio::time::timeout(Duration::from_secs(600), async {
        let mut ready = std::collections::HashSet::new();
        let mut stream =
            std::pin::pin!(watcher(apps.clone(), watcher::Config::default()).applied_objects());
        while let Some(a) = stream.next().await {
            let a = a?;
            if a.status
                .as_ref()
                .is_some_and(prisn_operator::status::app_is_ready)
            {
                ready.insert(a.metadata.name.clone().unwrap_or_default());
            }
            if ready.len() >= n {
                return Ok::<_, anyhow::Error>(t0.elapsed());
            }
        }
        bail!("the PrisnApp watch ended")
    })
    .await
    .context("not all apps Ready after 600 s")??;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let m = http_get(port, "/metrics")?;
    let q = |quant: &str| {
        metric(&m, &format!("prisn_operator_reconcile_duration_seconds{{controller=\"prisnapp\",quantile=\"{quant}\"}}"))
            .map(|s| s * 1000.0)
            .unwrap_or(f64::NAN)
    };
    let reconciles = metric(
        &m,
        "prisn_operator_reconciles_total{controller=\"prisnapp\"}",
    )
    .unwrap_or(0.0);
    let rss = rss_kib(pid, "VmRSS:").unwrap_or(0);
    let cpu = cpu_seconds(pid).unwrap_or(f64::NAN);
    let hwm = rss_kib(pid, "VmHWM:").unwrap_or(0);

    println!("| figure | goal | measured |");
    println!("|---|---|---|");
    println!(
        "| {n} PrisnApps created (client side, 64 in flight) | – | {:.2} s |",
        t_created.as_secs_f64()
    );
    println!(
        "| all {n} Deployments exist | ≤ 10 s | {:.2} s |",
        t_deployments.as_secs_f64()
    );
    println!(
        "| all {n} apps Ready (pods Running on kwok) | – | {:.2} s |",
        t_ready.as_secs_f64()
    );
    println!(
        "| reconcile latency p50 / p90 / p99 ({reconciles} reconciles) | p50 ≤ 50 ms | {:.1} / {:.1} / {:.1} ms |",
        q("0.5"),
        q("0.9"),
        q("0.99")
    );
    println!(
        "| operator memory, idle → with {n} apps (RSS) | ≤ 64 MiB | {:.1} → {:.1} MiB (peak {:.1} MiB) |",
        idle_rss as f64 / 1024.0,
        rss as f64 / 1024.0,
        hwm as f64 / 1024.0
    );
    println!("| operator CPU time for the whole run | – | {cpu:.2} s |");
    drop(op);
    // Wait for the namespace (200 apps, their Deployments and pods) to be gone, so the garbage
    // collection does not load the API server during the next run.
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    let name = ns.name.clone();
    drop(ns);
    let gone = Instant::now();
    while namespaces.get_opt(&name).await?.is_some() && gone.elapsed() < Duration::from_secs(180) {
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    eprintln!(
        "bench: namespace {name} removed in {:.0} s",
        gone.elapsed().as_secs_f64()
    );
    Ok(())
}
