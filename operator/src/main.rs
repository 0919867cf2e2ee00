//! `prisn-operator`: runs the PrisnApp, PrisnJob and PrisnCronJob controllers.
//!
//! Finds the cluster the usual way (in-cluster service account, else `KUBECONFIG` or
//! `~/.kube/config`), watches all namespaces unless `--namespace` is given, serves `/metrics`,
//! `/healthz` and `/readyz`, and logs JSON lines to stderr (`--log-format text` for humans).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::Parser;
use prisn_operator::controller::{self, RunConfig};
use prisn_operator::crd::Runtime;
use prisn_operator::leader::{self, LeaderConfig};
use prisn_operator::metrics::Metrics;
use prisn_operator::{OperatorConfig, manifests};

/// Reconciles PrisnApp, PrisnJob and PrisnCronJob objects into Deployments, Services, Ingresses,
/// PVCs, Jobs and CronJobs.
#[derive(Parser, Debug)]
#[command(name = "prisn-operator", version)]
struct Args {
    /// Watch only this namespace (default: all namespaces).
    #[arg(long, env = "PRISN_WATCH_NAMESPACE")]
    namespace: Option<String>,
    /// Base image for a runtime's code sources, e.g. `python3=mirror.local/python:3.11-slim`
    /// (repeatable). Also PRISN_BASE_IMAGE_PYTHON3, PRISN_BASE_IMAGE_NODE, PRISN_BASE_IMAGE_BASH.
    #[arg(long = "base-image", value_name = "RUNTIME=IMAGE")]
    base_images: Vec<String>,
    /// Image of the git init containers.
    #[arg(long, env = "PRISN_GIT_IMAGE", default_value = prisn_operator::config::DEFAULT_GIT_IMAGE)]
    git_image: String,
    /// Accept `source.image` references without an @sha256: digest.
    #[arg(long, env = "PRISN_ALLOW_UNPINNED_IMAGES")]
    allow_unpinned_images: bool,
    /// Hold a Lease before reconciling, so only one replica is active.
    #[arg(long)]
    leader_elect: bool,
    /// Namespace of the leader-election Lease.
    #[arg(long, env = "POD_NAMESPACE", default_value = manifests::NAMESPACE)]
    leader_election_namespace: String,
    /// Address of `/metrics` (`0` turns it off).
    #[arg(long, default_value = "0.0.0.0:8080")]
    metrics_bind_address: String,
    /// Address of `/healthz` and `/readyz` (`0` turns it off).
    #[arg(long, default_value = "0.0.0.0:8081")]
    health_probe_bind_address: String,
    /// Reconciles running at once per kind (0: no limit).
    #[arg(long, default_value_t = 32)]
    concurrency: u16,
    /// Milliseconds to wait after a trigger for more before reconciling (coalesces bursts).
    #[arg(long, default_value_t = 0)]
    debounce_ms: u64,
    /// `json` (default) or `text`.
    #[arg(long, default_value = "json")]
    log_format: String,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    init_logging(&args.log_format);
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the async runtime");
            return std::process::ExitCode::from(2);
        }
    };
    match rt.block_on(run(args)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "prisn-operator stopped");
            std::process::ExitCode::FAILURE
        }
    }
}

fn init_logging(format: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if format == "text" {
        builder.init();
    } else {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .init();
    }
}

fn operator_config(args: &Args) -> anyhow::Result<OperatorConfig> {
    let mut cfg = OperatorConfig {
        git_image: args.git_image.clone(),
        require_digest: !args.allow_unpinned_images,
        ..Default::default()
    };
    for rt in Runtime::ALL {
        if let Ok(image) = std::env::var(OperatorConfig::base_image_env(rt))
            && !image.is_empty()
        {
            cfg.base_images.insert(rt, image);
        }
    }
    for spec in &args.base_images {
        cfg.set_base_image(spec).map_err(anyhow::Error::msg)?;
    }
    Ok(cfg)
}

async fn run(args: Args) -> anyhow::Result<()> {
    // One TLS provider for the whole process (see research/crates.md §5), before any client.
    rustls::crypto::ring::default_provider()
        .install_default()
        .map_err(|_| anyhow::anyhow!("a rustls crypto provider was already installed"))?;
    let operator = operator_config(&args)?;
    let client = kube::Client::try_default().await.map_err(|e| {
        anyhow::anyhow!(
            "cannot find a cluster (in-cluster service account, KUBECONFIG or ~/.kube/config): {e}"
        )
    })?;
    let metrics = Arc::new(Metrics::new());
    let ready = Arc::new(AtomicBool::new(false));
    serve(&args.metrics_bind_address, metrics_router(metrics.clone())).await?;
    serve(
        &args.health_probe_bind_address,
        health_router(ready.clone()),
    )
    .await?;

    let identity = std::env::var("POD_NAME")
        .unwrap_or_else(|_| format!("{}-{}", hostname(), std::process::id()));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let leader_cfg = LeaderConfig::new(&args.leader_election_namespace, identity.clone());
    controller::check_crds(&client, args.namespace.as_deref()).await?;
    ready.store(true, Ordering::SeqCst);
    let lost_lease = Arc::new(AtomicBool::new(false));
    if args.leader_elect {
        leader::acquire(&client, &leader_cfg).await;
        let c = client.clone();
        let lc = leader_cfg.clone();
        let tx = stop_tx.clone();
        let lost = lost_lease.clone();
        tokio::spawn(async move {
            leader::hold(&c, &lc).await;
            lost.store(true, Ordering::SeqCst);
            let _ = tx.send(true);
        });
    }
    let tx = stop_tx.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = tx.send(true);
    });
    let mut rx = stop_rx.clone();
    let shutdown = async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let cfg = RunConfig {
        namespace: args.namespace.clone(),
        operator,
        concurrency: args.concurrency,
        instance: Some(identity),
        debounce: std::time::Duration::from_millis(args.debounce_ms),
    };
    controller::run(client.clone(), cfg, metrics, shutdown).await?;
    if lost_lease.load(Ordering::SeqCst) {
        // Exit non-zero so the kubelet restarts us as a candidate, as client-go operators do.
        anyhow::bail!("lost the leader lease {}; stopping", leader_cfg.name);
    }
    if args.leader_elect {
        leader::release(&client, &leader_cfg).await;
    }
    Ok(())
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "prisn-operator".into())
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
    tracing::info!("shutting down");
}

fn metrics_router(metrics: Arc<Metrics>) -> axum::Router {
    axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let m = metrics.clone();
            async move { m.render() }
        }),
    )
}

fn health_router(ready: Arc<AtomicBool>) -> axum::Router {
    axum::Router::new()
        .route("/healthz", axum::routing::get(|| async { "ok" }))
        .route(
            "/readyz",
            axum::routing::get(move || {
                let ready = ready.clone();
                async move {
                    if ready.load(Ordering::SeqCst) {
                        (axum::http::StatusCode::OK, "ok")
                    } else {
                        (axum::http::StatusCode::SERVICE_UNAVAILABLE, "starting")
                    }
                }
            }),
        )
}

async fn serve(addr: &str, router: axum::Router) -> anyhow::Result<()> {
    if addr == "0" {
        return Ok(());
    }
    let addr: SocketAddr = addr
        .parse()
        .map_err(|e| anyhow::anyhow!("bad address {addr:?}: {e}"))?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
    tracing::info!(address = %listener.local_addr().unwrap_or(addr), "serving");
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::error!(error = %e, "HTTP server stopped");
        }
    });
    Ok(())
}
