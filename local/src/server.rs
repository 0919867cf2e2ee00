//! The HTTP API (see [`crate::api`] for the routes). The router takes no transport: local
//! mode serves it on the unix socket; `prisn server` can serve the same router on TCP with
//! TLS and a bearer-token layer in front.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use tokio::sync::mpsc;

use crate::api::{DeployBody, ErrorBody, Kind, LogQuery, RollbackBody, ScaleBody, ShutdownBody};
use crate::hub::{Daemon, blocking};
use crate::logs::{self, Follower, ReadOptions};
use crate::{Error, view};

/// The API's router, bound to a daemon.
pub fn router(d: Arc<Daemon>) -> Router {
    Router::new()
        .route("/v1/health", get(health))
        .route("/v1/workloads", get(list))
        .route("/v1/apps", get(|s| list_kind(s, Kind::App)))
        .route("/v1/jobs", get(|s| list_kind(s, Kind::Job)))
        .route("/v1/cronjobs", get(|s| list_kind(s, Kind::CronJob)))
        .route("/v1/workloads/{name}", get(status).put(deploy).delete(delete))
        .route("/v1/workloads/{name}/logs", get(logs))
        .route("/v1/workloads/{name}/scale", put(scale))
        .route("/v1/workloads/{name}/releases", get(releases))
        .route("/v1/workloads/{name}/rollback", post(rollback))
        .route("/v1/shutdown", post(shutdown))
        .fallback(|| async {
            ApiError(Error::Api {
                status: 404,
                message: "no such API route".into(),
                hint: Some("this prisn daemon serves /v1/…; is the CLI newer than the daemon? `prisn daemon stop` restarts it".into()),
            })
        })
        .with_state(d)
}

/// An [`Error`] as an HTTP answer (`{"error", "hint"}` with the error's status); the remote
/// server answers with the same type.
pub struct ApiError(pub Error);

impl From<Error> for ApiError {
    fn from(e: Error) -> ApiError {
        ApiError(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.0.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() {
            tracing::error!("{}", self.0);
        }
        let body = ErrorBody {
            error: self.0.to_string(),
            hint: self.0.hint().map(str::to_string),
        };
        (status, axum::Json(body)).into_response()
    }
}

type ApiResult<T> = Result<T, ApiError>;

fn json<T: serde::Serialize>(status: StatusCode, value: &T) -> Response {
    (status, axum::Json(value)).into_response()
}

fn body<T: for<'de> serde::Deserialize<'de>>(bytes: &[u8]) -> Result<T, Error> {
    serde_json::from_slice(bytes)
        .map_err(|e| Error::invalid(format!("invalid request body: {e}"), None))
}

fn query<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, Error> {
    q.map(|Query(q)| q)
        .map_err(|e| Error::invalid(format!("invalid query: {e}"), None))
}

async fn health(State(d): State<Arc<Daemon>>) -> Response {
    json(StatusCode::OK, &d.health())
}

#[derive(serde::Deserialize)]
struct ListQuery {
    kind: Option<String>,
}

async fn list(
    State(d): State<Arc<Daemon>>,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> ApiResult<Response> {
    let kind = match query(q)?.kind {
        None => None,
        Some(k) => Some(Kind::parse(&k).ok_or_else(|| {
            Error::invalid(
                format!("unknown kind {k:?}"),
                Some("use app, job or cronjob".to_string()),
            )
        })?),
    };
    list_of(d, kind).await
}

async fn list_kind(State(d): State<Arc<Daemon>>, kind: Kind) -> ApiResult<Response> {
    list_of(d, Some(kind)).await
}

/// Views probe ports and read log files: off the executor.
async fn list_of(d: Arc<Daemon>, kind: Option<Kind>) -> ApiResult<Response> {
    let records = d.db(|db| db.list())?;
    let views = blocking(move || {
        records
            .iter()
            .filter(|r| kind.is_none_or(|k| r.kind == k))
            .map(|r| view::view(&d, r, false))
            .collect::<Vec<_>>()
    })
    .await?;
    Ok(json(StatusCode::OK, &views))
}

async fn status(State(d): State<Arc<Daemon>>, Path(name): Path<String>) -> ApiResult<Response> {
    let rec = d.db(|db| db.get(&name))?.ok_or(Error::NotFound(name))?;
    let view = blocking(move || view::view(&d, &rec, true)).await?;
    Ok(json(StatusCode::OK, &view))
}

async fn deploy(
    State(d): State<Arc<Daemon>>,
    Path(name): Path<String>,
    bytes: Bytes,
) -> ApiResult<Response> {
    let req: DeployBody = body(&bytes)?;
    let (created, reply) = crate::ops::deploy(d, name, req).await?;
    let status = if created && !reply.dry_run {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(json(status, &reply))
}

async fn delete(State(d): State<Arc<Daemon>>, Path(name): Path<String>) -> ApiResult<Response> {
    let notes = crate::ops::delete(d, name).await?;
    Ok(json(StatusCode::OK, &serde_json::json!({ "notes": notes })))
}

async fn scale(
    State(d): State<Arc<Daemon>>,
    Path(name): Path<String>,
    bytes: Bytes,
) -> ApiResult<Response> {
    let req: ScaleBody = body(&bytes)?;
    let view = crate::ops::scale(d, name, req.replicas).await?;
    Ok(json(StatusCode::OK, &view))
}

async fn releases(State(d): State<Arc<Daemon>>, Path(name): Path<String>) -> ApiResult<Response> {
    let views = blocking(move || crate::release::history(&d, &name)).await??;
    Ok(json(StatusCode::OK, &views))
}

async fn rollback(
    State(d): State<Arc<Daemon>>,
    Path(name): Path<String>,
    bytes: Bytes,
) -> ApiResult<Response> {
    let req: RollbackBody = if bytes.is_empty() {
        RollbackBody::default()
    } else {
        body(&bytes)?
    };
    let reply = crate::release::rollback(d, name, req).await?;
    Ok(json(StatusCode::OK, &reply))
}

async fn shutdown(State(d): State<Arc<Daemon>>, bytes: Bytes) -> ApiResult<Response> {
    let req: ShutdownBody = if bytes.is_empty() {
        ShutdownBody::default()
    } else {
        body(&bytes)?
    };
    d.shutdown.send_replace(Some(req.keep_apps));
    Ok(json(
        StatusCode::ACCEPTED,
        &serde_json::json!({ "stopping": true, "keep_apps": req.keep_apps }),
    ))
}

async fn logs(
    State(d): State<Arc<Daemon>>,
    Path(name): Path<String>,
    q: Result<Query<LogQuery>, QueryRejection>,
) -> ApiResult<Response> {
    let q = query(q)?;
    let kind = d.kind_of(&name)?;
    let path = d.paths.log_file(&name);
    let pos = logs::end(&path);
    let opts = ReadOptions {
        tail: q.tail,
        since: q
            .since_seconds
            .and_then(|s| SystemTime::now().checked_sub(Duration::from_secs(s))),
        timestamps: q.timestamps,
    };
    let history = {
        let p = path.clone();
        tokio::task::spawn_blocking(move || logs::read(&p, &opts, pos))
            .await
            .map_err(|source| Error::Task {
                what: "log reader",
                source,
            })?
            .map_err(Error::io("read", &path))?
    };
    let text = [(header::CONTENT_TYPE, "text/plain; charset=utf-8")];
    if !q.follow {
        return Ok((text, history).into_response());
    }
    let (tx, rx) = mpsc::channel::<Vec<u8>>(16);
    tokio::spawn(follow(d, name, kind, pos, q.timestamps, history, tx));
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|chunk| (Ok::<_, Infallible>(Bytes::from(chunk)), rx))
    });
    Ok((text, Body::from_stream(stream)).into_response())
}

/// Stream new output until the client leaves, the workload is deleted, a job ends, or the
/// daemon shuts down.
async fn follow(
    d: Arc<Daemon>,
    name: String,
    kind: Kind,
    pos: logs::Position,
    timestamps: bool,
    history: Vec<u8>,
    tx: mpsc::Sender<Vec<u8>>,
) {
    if !history.is_empty() && tx.send(history).await.is_err() {
        return;
    }
    let path = d.paths.log_file(&name);
    let mut follower = Follower::new(&path, pos, timestamps);
    loop {
        let over = d.shutting_down()
            || match d.db(|db| db.get(&name)) {
                Ok(Some(_)) => kind == Kind::Job && job_done(&d, &name),
                _ => true,
            };
        let chunk = follower.poll().unwrap_or_default();
        if !chunk.is_empty() && tx.send(chunk).await.is_err() {
            return;
        }
        if over {
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            _ = tx.closed() => return,
        }
    }
}

fn job_done(d: &Daemon, name: &str) -> bool {
    d.live(name).active.is_empty()
        && d.db(|db| db.runs(name, 1))
            .ok()
            .and_then(|r| r.into_iter().next())
            .is_some_and(|r| r.ended_ms.is_some())
}
