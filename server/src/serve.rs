//! `prisn server`: the daemon's `/v1` API over HTTPS, behind tokens and namespaces.
//!
//! Every request but `GET /v1/info` passes [`guard`]: the namespace header is checked, the
//! token is looked up again (so a revocation counts from the next request), its namespace
//! and role are compared with the request, and the outcome goes into the audit log with the
//! token's id (never the token: neither it nor the `Authorization` header is logged
//! anywhere). Then the route runs: the server's own (info, blobs, deploy by manifest, audit)
//! or the namespace daemon's, forwarded.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Extension, OriginalUri, Path as UrlPath, Query, Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use prisn_api::remote::{
    BlobList, DEFAULT_NAMESPACE, Info, Limits, NAMESPACE_HEADER, RemoteDeployBody,
};
use prisn_local::ApiError;

use crate::audit::AuditLog;
use crate::db::{Db, Entry, NO_TOKEN};
use crate::namespace::{self, Namespaces};
use crate::token::{self, Role};
use crate::{Error, Result, upload};

/// What `prisn server` is started with.
#[derive(Debug, Clone)]
pub struct Options {
    pub data: PathBuf,
    pub listen: SocketAddr,
    /// Plain HTTP (loopback only).
    pub insecure_http: bool,
    pub limits: Limits,
    /// The prisn executable the namespaces' daemons run.
    pub exe: PathBuf,
    /// Report the index as unreachable without trying (an air-gapped server).
    pub offline: bool,
}

/// The default limits.
pub const LIMITS: Limits = Limits {
    max_blob_bytes: 64 << 20,
    max_deploy_bytes: 256 << 20,
    max_files: 10_000,
    max_json_bytes: 4 << 20,
};

/// The server's shared state.
pub struct Server {
    data: PathBuf,
    db: Mutex<Db>,
    audit: AuditLog,
    ns: Namespaces,
    limits: Limits,
    /// What `GET /v1/info` answers (fixed at start, the index probe included).
    info: Info,
    /// One deploy per (namespace, name) at a time while its code directory is swapped.
    deploying: Mutex<HashMap<(String, String), DeployLock>>,
}

/// Held while one workload's deploy lays out its code and builds its environment.
type DeployLock = Arc<tokio::sync::Mutex<()>>;

impl Server {
    fn db<T>(&self, f: impl FnOnce(&Db) -> Result<T>) -> Result<T> {
        f(&self.db.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// Who is asking, once [`guard`] let them in.
#[derive(Debug, Clone)]
struct Caller {
    ns: String,
    /// The token's id: who, in the audit log and in the releases a request makes.
    token: String,
}

impl Caller {
    /// A release's `who`: set by the server from the token, whatever the client claimed.
    fn who(&self) -> Option<String> {
        Some(format!("token {}", self.token))
    }
}

type ApiResult<T> = std::result::Result<T, ApiError>;

/// The role a route needs.
fn needs(method: &Method, path: &str) -> Role {
    if path == "/v1/audit" {
        Role::Admin
    } else if method == Method::GET {
        Role::Read
    } else {
        Role::Deploy
    }
}

/// Whether token `t` may do `action` in namespace `ns`: 403 naming why not.
fn authorize(
    t: &token::TokenRecord,
    ns: &str,
    method: &Method,
    path: &str,
    action: &str,
) -> Result<()> {
    if t.namespace != ns {
        return Err(Error::Api {
            status: 403,
            message: format!(
                "forbidden: token {} is for namespace {:?}, not {ns:?}",
                t.id, t.namespace
            ),
            hint: Some("use a token of this namespace, or the context's namespace".into()),
        });
    }
    let need = needs(method, path);
    if t.role < need {
        return Err(Error::Api {
            status: 403,
            message: format!(
                "forbidden: token {} has role {}, {action} needs {}",
                t.id,
                t.role.as_str(),
                need.as_str()
            ),
            hint: None,
        });
    }
    Ok(())
}

/// Authenticate, authorise, audit.
async fn guard(State(s): State<Arc<Server>>, mut req: Request, next: Next) -> Response {
    let action = format!("{} {}", req.method(), req.uri().path());
    let ns = req
        .headers()
        .get(NAMESPACE_HEADER)
        .map(|v| v.to_str().unwrap_or("\u{fffd}").to_string())
        .unwrap_or_else(|| DEFAULT_NAMESPACE.to_string());
    let auth = req
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or("").to_string());
    let who =
        namespace::validate(&ns).and_then(|()| s.db(|db| token::authenticate(db, auth.as_deref())));
    let (id, resp) = match who {
        Err(e) => (NO_TOKEN.to_string(), ApiError(e).into_response()),
        Ok(t) => {
            let resp = match authorize(&t, &ns, req.method(), req.uri().path(), &action) {
                Err(e) => ApiError(e).into_response(),
                Ok(()) => match namespace::prepare(&s.data, &ns) {
                    Err(e) => ApiError(e).into_response(),
                    Ok(_) => {
                        req.extensions_mut().insert(Caller {
                            ns: ns.clone(),
                            token: t.id.clone(),
                        });
                        next.run(req).await
                    }
                },
            };
            (t.id, resp)
        }
    };
    let entry = Entry {
        token: id,
        namespace: ns,
        action,
        status: resp.status().as_u16(),
    };
    if let Err(e) = s.audit.record(entry).await {
        tracing::error!("{e}");
    }
    resp
}

/// The router, bound to a server.
pub fn router(s: Arc<Server>) -> Router {
    let guarded = Router::new()
        .route("/v1/health", get(forward))
        .route("/v1/workloads", get(forward))
        .route("/v1/apps", get(forward))
        .route("/v1/jobs", get(forward))
        .route("/v1/cronjobs", get(forward))
        .route(
            "/v1/workloads/{name}",
            get(forward).delete(forward).put(deploy),
        )
        .route("/v1/workloads/{name}/logs", get(forward))
        .route("/v1/workloads/{name}/scale", put(forward))
        .route("/v1/workloads/{name}/releases", get(forward))
        .route("/v1/workloads/{name}/rollback", post(rollback))
        .route("/v1/blobs/missing", post(missing))
        .route("/v1/blobs/{digest}", put(put_blob))
        .route("/v1/audit", get(audit))
        .route_layer(middleware::from_fn_with_state(s.clone(), guard));
    Router::new()
        .route("/v1/info", get(info))
        .merge(guarded)
        .fallback(|| async {
            ApiError(Error::Api {
                status: 404,
                message: "no such API route".into(),
                hint: Some(
                    "this prisn server serves /v1/…; is the client newer than the server?".into(),
                ),
            })
        })
        .with_state(s)
}

async fn info(State(s): State<Arc<Server>>) -> Response {
    axum::Json(s.info.clone()).into_response()
}

/// A JSON body, at most `max_json_bytes`.
async fn json_body(body: Body, limits: &Limits) -> Result<Bytes> {
    let limit = limits.max_json_bytes;
    axum::body::to_bytes(body, limit as usize + 1)
        .await
        .map_err(|_| upload::too_large("the request body", limit + 1, limit, "max_json_bytes"))
}

fn parse<T: for<'de> serde::Deserialize<'de>>(bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes)
        .map_err(|e| Error::invalid(format!("invalid request body: {e}"), None))
}

async fn forward(
    State(s): State<Arc<Server>>,
    Extension(c): Extension<Caller>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let bytes = json_body(body, &s.limits).await?;
    let pq = uri.path_and_query().map_or("/", |p| p.as_str());
    Ok(s.ns.forward(&c.ns, method, pq, &headers, bytes).await?)
}

async fn missing(
    State(s): State<Arc<Server>>,
    Extension(c): Extension<Caller>,
    body: Body,
) -> ApiResult<Response> {
    let list: BlobList = parse(&json_body(body, &s.limits).await?)?;
    let digests = upload::missing(&s.ns.dir(&c.ns), &list.digests)?;
    Ok(axum::Json(BlobList { digests }).into_response())
}

async fn put_blob(
    State(s): State<Arc<Server>>,
    Extension(c): Extension<Caller>,
    UrlPath(digest): UrlPath<String>,
    headers: axum::http::HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let declared = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(n) = declared.filter(|n| *n > s.limits.max_blob_bytes) {
        return Err(
            upload::too_large("the file", n, s.limits.max_blob_bytes, "max_blob_bytes").into(),
        );
    }
    let created = upload::put(&s.ns.dir(&c.ns), &digest, body, &s.limits).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(status.into_response())
}

async fn deploy(
    State(s): State<Arc<Server>>,
    Extension(c): Extension<Caller>,
    UrlPath(name): UrlPath<String>,
    body: Body,
) -> ApiResult<Response> {
    prisn_api::name::validate(&name).map_err(|e| Error::invalid(e.to_string(), e.hint.clone()))?;
    let req: RemoteDeployBody = parse(&json_body(body, &s.limits).await?)?;
    let (dir, home) = (s.ns.dir(&c.ns), s.ns.home(&c.ns));
    upload::check(&dir, &req.manifest, &req.deploy, &s.limits)?;
    let mut deploy = req.deploy;
    deploy.who = c.who();
    // Every tenant's run is sandboxed: nothing of another namespace or of the server in view.
    deploy.isolation = match deploy.isolation {
        prisn_api::Isolation::None => {
            return Err(Error::invalid(
                "--isolation none: a prisn server runs every workload sandboxed".to_string(),
                Some("leave --isolation out (or use namespaces)".to_string()),
            )
            .into());
        }
        _ => prisn_api::Isolation::Namespaces,
    };
    let lock = {
        let mut map = s.deploying.lock().unwrap_or_else(|p| p.into_inner());
        map.entry((c.ns.clone(), name.clone())).or_default().clone()
    };
    let _one_at_a_time = lock.lock().await;
    let manifest = req.manifest;
    // No index: the shipped wheels only.
    let no_index = !s.info.index_reachable;
    let (dir, env, files) = {
        let (name, deploy, exe) = (name.clone(), deploy.clone(), s.ns.exe().to_path_buf());
        tokio::task::spawn_blocking(move || -> Result<_> {
            let code = upload::materialise(&dir, &name, &manifest)?;
            let wheels = no_index.then_some(manifest.wheels.as_slice());
            let env = upload::environment(&home, &dir, &code, &deploy, wheels, &exe)?;
            let dir = code;
            let mut files: Vec<String> = manifest.files.iter().map(|f| f.path.clone()).collect();
            files.sort();
            Ok((dir, env, files))
        })
        .await
        .map_err(|source| Error::Task {
            what: "deploy build",
            source,
        })??
    };
    deploy.code.root = dir;
    deploy.code.files = files;
    deploy.env_dir = env;
    let bytes = serde_json::to_vec(&deploy).map_err(|source| Error::Encode {
        what: "the deploy body",
        source,
    })?;
    let path = format!("/v1/workloads/{name}");
    Ok(s.ns
        .forward(&c.ns, Method::PUT, &path, &HeaderMap::new(), bytes.into())
        .await?)
}

/// Forwarded with `who` set from the token.
async fn rollback(
    State(s): State<Arc<Server>>,
    Extension(c): Extension<Caller>,
    UrlPath(name): UrlPath<String>,
    body: Body,
) -> ApiResult<Response> {
    prisn_api::name::validate(&name).map_err(|e| Error::invalid(e.to_string(), e.hint.clone()))?;
    let mut req: prisn_api::daemon::RollbackBody = parse(&json_body(body, &s.limits).await?)?;
    req.who = c.who();
    let bytes = serde_json::to_vec(&req).map_err(|source| Error::Encode {
        what: "the rollback body",
        source,
    })?;
    let path = format!("/v1/workloads/{name}/rollback");
    Ok(s.ns
        .forward(&c.ns, Method::POST, &path, &HeaderMap::new(), bytes.into())
        .await?)
}

#[derive(serde::Deserialize)]
struct AuditQuery {
    since_seconds: Option<u64>,
}

async fn audit(
    State(s): State<Arc<Server>>,
    Extension(c): Extension<Caller>,
    Query(q): Query<AuditQuery>,
) -> ApiResult<Response> {
    let since = q
        .since_seconds
        .map_or(0, |secs| prisn_api::daemon::now_ms() - secs as i64 * 1000);
    let entries = s.db(|db| db.audit_since(since, Some(&c.ns)))?;
    Ok(axum::Json(entries).into_response())
}

/// The index the server would install from.
fn index_url() -> String {
    ["UV_INDEX_URL", "UV_DEFAULT_INDEX", "PIP_INDEX_URL"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| "https://pypi.org/simple".to_string())
}

/// Whether a TCP connection to the index's host opens (no request is sent).
async fn probe(url: &str) -> bool {
    let Some(rest) = url.split("://").nth(1) else {
        return false;
    };
    let host = rest.split('/').next().unwrap_or(rest);
    let addr = if host.contains(':') {
        host.to_string()
    } else if url.starts_with("http://") {
        format!("{host}:80")
    } else {
        format!("{host}:443")
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(3), tokio::net::TcpStream::connect(addr)).await,
        Ok(Ok(_))
    )
}

/// What `/v1/info` says of this machine.
fn machine_info(data: &Path, limits: Limits) -> Info {
    let home = prisn_builder::home::Home::at(data);
    let (python, platforms) = match prisn_builder::interpreter::python(None, &home) {
        Ok(py) => {
            let target = prisn_builder::lock::Target::for_python(&py);
            (vec![py.minor.clone()], vec![target.platform])
        }
        Err(e) => {
            tracing::warn!("no Python for environments: {e}");
            (Vec::new(), Vec::new())
        }
    };
    Info {
        version: env!("CARGO_PKG_VERSION").to_string(),
        limits,
        python,
        platforms,
        index_reachable: false,
        index: index_url(),
    }
}

/// Serve until SIGTERM/SIGINT. Blocks.
///
/// # Errors
/// No certificate, a port in use, plain HTTP asked for off loopback, an unusable database.
pub fn run(opts: Options) -> Result<()> {
    if opts.insecure_http && !opts.listen.ip().is_loopback() {
        return Err(Error::invalid(
            format!(
                "--insecure-http on {}: plain HTTP is only allowed on loopback",
                opts.listen
            ),
            Some("drop --insecure-http (TLS is the default), or listen on 127.0.0.1".to_string()),
        ));
    }
    prisn_local::paths::create_private_dir(&opts.data).map_err(Error::io("create", &opts.data))?;
    // 0711: runs pass through to their code (see `namespace::prepare`); nothing is listable,
    // and the keys, the database and every namespace's files are 0700/0600 below it.
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&opts.data, std::fs::Permissions::from_mode(0o711))
            .map_err(Error::io("chmod", &opts.data))?;
    }
    let tls = if opts.insecure_http {
        None
    } else {
        Some(Arc::new(crate::tls::server_config(&opts.data)?))
    };
    let db = Db::open(&opts.data)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|source| Error::System {
            what: "start the async runtime",
            source,
        })?;
    runtime.block_on(serve(opts, tls, db))
}

async fn serve(opts: Options, tls: Option<Arc<rustls::ServerConfig>>, db: Db) -> Result<()> {
    if let Ok(dirs) = std::fs::read_dir(opts.data.join("ns")) {
        for d in dirs.flatten() {
            upload::sweep(&d.path());
        }
    }
    let info = {
        let (data, limits) = (opts.data.clone(), opts.limits);
        tokio::task::spawn_blocking(move || machine_info(&data, limits))
            .await
            .map_err(|source| Error::Task {
                what: "machine info",
                source,
            })?
    };
    // Probed before the first request, so every deploy sees the answer its client saw in
    // `GET /v1/info` (a deploy during a pending probe would expect wheels no client sent).
    let reachable = !opts.offline && probe(&info.index).await;
    tracing::info!(
        "package index {}: {}",
        info.index,
        match (opts.offline, reachable) {
            (true, _) => "not tried (--offline)",
            (false, true) => "reachable",
            (false, false) => "unreachable: deploys install from the wheels their clients ship",
        }
    );
    let (stop_streams, stopping) = tokio::sync::watch::channel(false);
    let server = Arc::new(Server {
        data: opts.data.clone(),
        db: Mutex::new(db),
        audit: AuditLog::start(&opts.data)?,
        ns: Namespaces::new(&opts.data, opts.exe.clone(), stopping),
        limits: opts.limits,
        info: Info {
            index_reachable: reachable,
            ..info
        },
        deploying: Mutex::new(HashMap::new()),
    });
    let tcp = tokio::net::TcpListener::bind(opts.listen)
        .await
        .map_err(|e| Error::Unavailable {
            message: format!("cannot listen on {}: {e}", opts.listen),
            hint: Some("is another server running there? choose another --listen".into()),
        })?;
    let addr = tcp.local_addr().map_err(|source| Error::System {
        what: "read the listening address",
        source,
    })?;
    write_state(&opts.data, addr, tls.is_some());
    tracing::info!(
        "prisn server {} serving {} on {addr}",
        std::process::id(),
        if tls.is_some() {
            "https"
        } else {
            "plain http (loopback)"
        }
    );
    let app = router(server);
    let stop = async move {
        use tokio::signal::unix::{SignalKind, signal};
        if let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        stop_streams.send_replace(true);
    };
    let served = match tls {
        Some(cfg) => {
            axum::serve(crate::listener::TlsListener::new(tcp, cfg), app)
                .with_graceful_shutdown(stop)
                .await
        }
        None => axum::serve(tcp, app).with_graceful_shutdown(stop).await,
    };
    let _ = std::fs::remove_file(state_file(&opts.data));
    served.map_err(|source| Error::System {
        what: "serve the API",
        source,
    })
}

/// `DATA/server.json`: where the running server listens (for `prisn server status`).
pub fn state_file(data: &Path) -> PathBuf {
    data.join("server.json")
}

/// What `server.json` holds.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct RunningState {
    pub pid: u32,
    pub listen: String,
    pub tls: bool,
    pub started: String,
}

fn write_state(data: &Path, addr: SocketAddr, tls: bool) {
    let state = RunningState {
        pid: std::process::id(),
        listen: addr.to_string(),
        tls,
        started: prisn_api::daemon::rfc3339(prisn_api::daemon::now_ms()),
    };
    let path = state_file(data);
    let text = serde_json::to_string_pretty(&state).unwrap_or_default();
    if let Err(e) = prisn_builder::atomic::write(&path, text.as_bytes()) {
        tracing::warn!("cannot write {}: {e}", path.display());
    }
}
