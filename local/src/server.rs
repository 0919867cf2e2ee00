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
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::Sse;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use futures::StreamExt as _;
use tokio::sync::mpsc;

use crate::api::{DeployBody, ErrorBody, Kind, LogQuery, RollbackBody, ScaleBody, ShutdownBody};
use crate::hub::{Daemon, blocking};
use crate::logs::{self, Follower, Position, ReadOptions};
use crate::logstream::{self, EndReason};
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

/// `GET /v1/workloads/{name}/logs`: plain text, or events when asked for (the wire format
/// is in [`crate::logstream`]), from the history asked for or right after a cursor.
async fn logs(
    State(d): State<Arc<Daemon>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    q: Result<Query<LogQuery>, QueryRejection>,
) -> ApiResult<Response> {
    let q = query(q)?;
    let kind = d.kind_of(&name)?;
    let resume = resume_point(&headers, q.from.as_deref())?;
    let events = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains(logstream::EVENT_STREAM));
    let path = d.paths.log_file(&name);
    let (history, from) = match resume {
        Some(pos) => (None, pos),
        None => {
            let pos = logs::end(&path);
            (Some(history(&path, &q, pos).await?), pos)
        }
    };
    let text = [(header::CONTENT_TYPE, "text/plain; charset=utf-8")];
    if !events
        && !q.follow
        && let Some(history) = history
    {
        return Ok((text, history).into_response());
    }
    let (tx, rx) = mpsc::channel::<Piece>(16);
    let stream = LogStream {
        name,
        kind,
        from,
        follow: q.follow,
        timestamps: q.timestamps,
    };
    tokio::spawn(follow(d, stream, history, tx));
    let pieces = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|piece| (piece, rx))
    });
    if !events {
        let bytes = pieces.filter_map(|piece| async move {
            match piece {
                Piece::Output(chunk, _) if !chunk.is_empty() => {
                    Some(Ok::<_, Infallible>(Bytes::from(chunk)))
                }
                _ => None,
            }
        });
        return Ok((text, Body::from_stream(bytes)).into_response());
    }
    let events = pieces.map(|piece| {
        Ok::<_, Infallible>(match piece {
            Piece::Output(chunk, at) => logstream::output(&chunk, at),
            Piece::Notice(text) => logstream::notice(&text),
            Piece::End(why) => logstream::end(why),
        })
    });
    let heartbeat = logstream::heartbeat().as_millis().to_string();
    Ok((
        [
            (
                header::HeaderName::from_static("x-accel-buffering"),
                "no".to_string(),
            ),
            (
                header::HeaderName::from_static(logstream::HEARTBEAT_HEADER),
                heartbeat,
            ),
        ],
        Sse::new(events).keep_alive(logstream::keep_alive()),
    )
        .into_response())
}

/// The cursor to resume after: `Last-Event-ID`, else `?from=`; an empty one is none.
fn resume_point(headers: &HeaderMap, from: Option<&str>) -> Result<Option<Position>, Error> {
    let header = match headers.get(logstream::LAST_EVENT_ID) {
        None => None,
        Some(v) => Some(v.to_str().map_err(|_| {
            Error::invalid(
                format!(
                    "invalid log position in {}: not text",
                    logstream::LAST_EVENT_ID
                ),
                None,
            )
        })?),
    };
    let Some(cursor) = header.or(from).filter(|c| !c.is_empty()) else {
        return Ok(None);
    };
    Position::parse(cursor).map(Some).map_err(|e| {
        Error::invalid(
            e.to_string(),
            Some("resume with the id of the last event received, or leave Last-Event-ID and from out for the history".into()),
        )
    })
}

/// The history `q` asks for, up to `upto`.
async fn history(path: &std::path::Path, q: &LogQuery, upto: Position) -> Result<Vec<u8>, Error> {
    let opts = ReadOptions {
        tail: q.tail,
        since: q
            .since_seconds
            .and_then(|s| SystemTime::now().checked_sub(Duration::from_secs(s))),
        timestamps: q.timestamps,
    };
    let p = path.to_path_buf();
    tokio::task::spawn_blocking(move || logs::read(&p, &opts, upto))
        .await
        .map_err(|source| Error::Task {
            what: "log reader",
            source,
        })?
        .map_err(Error::io("read", path))
}

/// What a log stream is of.
struct LogStream {
    name: String,
    kind: Kind,
    /// Where the output streamed begins (right after it).
    from: Position,
    follow: bool,
    timestamps: bool,
}

/// What the follower hands to the answer: each answer type writes what it can carry.
enum Piece {
    /// Output, and the position right after it.
    Output(Vec<u8>, Position),
    Notice(String),
    End(EndReason),
}

/// Stream the history, then new output until the client leaves, the workload is deleted, a
/// job ends, or the daemon shuts down (only what is there now without `follow`).
async fn follow(d: Arc<Daemon>, s: LogStream, history: Option<Vec<u8>>, tx: mpsc::Sender<Piece>) {
    if let Some(h) = history
        && tx.send(Piece::Output(h, s.from)).await.is_err()
    {
        return;
    }
    let path = d.paths.log_file(&s.name);
    let mut follower = Follower::new(&path, s.from, s.timestamps);
    if follower.lost() {
        let note = format!(
            "position {} is no longer in the log (its file rotated out): output after it is lost; resuming at the oldest output kept",
            s.from
        );
        if tx.send(Piece::Notice(note)).await.is_err() {
            return;
        }
    }
    loop {
        let over = if d.shutting_down() {
            Some(EndReason::Shutdown)
        } else {
            match d.db(|db| db.get(&s.name)) {
                Ok(Some(_)) if s.kind == Kind::Job && job_done(&d, &s.name) => {
                    Some(EndReason::Finished)
                }
                Ok(Some(_)) => None,
                _ => Some(EndReason::Deleted),
            }
        };
        let chunk = follower.poll().unwrap_or_default();
        if !chunk.is_empty()
            && tx
                .send(Piece::Output(chunk, follower.position()))
                .await
                .is_err()
        {
            return;
        }
        if let Some(why) = over.or((!s.follow).then_some(EndReason::Done)) {
            let _ = tx.send(Piece::End(why)).await;
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
