//! `prisn logs -f`: the log stream as events (the format is in [`crate::logstream`]), the
//! same code for the local daemon's socket and a remote server.
//!
//! Each output event's data is written out as it comes and its id kept as the cursor. A
//! connection that breaks, or brings nothing at all (not even a heartbeat) for three
//! heartbeat intervals, is dead unless an `end` event came: the client connects again with
//! `Last-Event-ID` = the cursor, so every line comes out exactly once and in order, and says
//! so on stderr (`reconnecting to … (resuming at position …)`). Reconnects back off
//! exponentially (backon, with jitter) and give up after [`GIVE_UP_AFTER`] of failing, with
//! an error naming the server and the last position; an answer that will not change by
//! retrying (401, 403, 404, 400) ends it at once. A daemon that answers plain text (an
//! older one) is copied as before, without resuming.

use std::io::Write;
use std::time::Duration;

use backon::{BackoffBuilder as _, ExponentialBackoff, ExponentialBuilder};
use futures::StreamExt as _;

use super::{CALL_TIMEOUT, Client};
use crate::api::LogQuery;
use crate::logstream::{self, END, NOTICE, Parser};
use crate::{Error, Result};

/// How long reconnecting may fail before `logs -f` gives up.
pub const GIVE_UP_AFTER: Duration = Duration::from_secs(30);
/// Heartbeat intervals without a byte after which a connection counts as dead.
const MISSED_HEARTBEATS: u32 = 3;

pub(super) fn follow(c: &Client, name: &str, q: &LogQuery, out: &mut dyn Write) -> Result<()> {
    let runtime = crate::rt::current_thread()?;
    let mut s = Session {
        c,
        http: c.transport.streaming()?,
        url: c.logs_url(name, q),
        cursor: None,
        failing: None,
        out,
    };
    runtime.block_on(s.run())
}

/// An async client like `t`'s blocking one: a dead connection is dropped, not waited for.
struct Session<'a> {
    c: &'a Client,
    http: reqwest::Client,
    url: String,
    /// The id of the last output event: where the output written so far ends.
    cursor: Option<String>,
    /// The delays of the reconnects since output last flowed.
    failing: Option<ExponentialBackoff>,
    out: &'a mut dyn Write,
}

/// How one connection ended.
enum Ended {
    /// An `end` event, the end of a plain stream, or a closed stdout.
    Clean,
    /// Cut or silent, for this reason: resume.
    Broken(String),
}

impl Session<'_> {
    async fn run(&mut self) -> Result<()> {
        let mut resp = self.connect().await?;
        loop {
            match self.read(resp).await? {
                Ended::Clean => return Ok(()),
                Ended::Broken(why) => resp = self.reconnect(&why).await?,
            }
        }
    }

    /// Ask for the events, resuming after the cursor when there is one.
    async fn connect(&self) -> Result<reqwest::Response> {
        let mut req = self
            .http
            .get(&self.url)
            .header(reqwest::header::ACCEPT, logstream::EVENT_STREAM);
        if let Some(cursor) = &self.cursor {
            req = req.header(logstream::LAST_EVENT_ID, cursor);
        }
        let resp = match tokio::time::timeout(CALL_TIMEOUT, req.send()).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => return Err(self.c.unreachable(&e)),
            Err(_) => {
                return Err(Error::Unavailable {
                    message: format!(
                        "{} did not answer within {}s",
                        self.c.target,
                        CALL_TIMEOUT.as_secs()
                    ),
                    hint: Some(self.c.hint.clone()),
                });
            }
        };
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status().as_u16();
        let text = tokio::time::timeout(CALL_TIMEOUT, resp.text()).await;
        let text = text.ok().and_then(|t| t.ok()).unwrap_or_default();
        Err(self.c.error_answer(status, &text))
    }

    /// Connect again after `why`, backing off while it fails.
    async fn reconnect(&mut self, why: &str) -> Result<reqwest::Response> {
        let at = match &self.cursor {
            Some(c) => format!("resuming at position {c}"),
            None => "nothing was received yet: starting over".to_string(),
        };
        eprintln!("reconnecting to {} ({at}): {why}", self.c.target);
        let mut wait = self.failing.is_some();
        loop {
            if wait {
                let backoff = self.failing.get_or_insert_with(backoff);
                match backoff.next() {
                    Some(delay) => tokio::time::sleep(delay).await,
                    None => return Err(self.gave_up(why)),
                }
            }
            self.failing.get_or_insert_with(backoff);
            wait = true;
            match self.connect().await {
                Ok(resp) => return Ok(resp),
                Err(Error::Unavailable { message, .. }) => {
                    tracing::debug!("reconnecting: {message}");
                }
                Err(Error::Api { status, .. }) if matches!(status, 502..=504) => {
                    tracing::debug!("reconnecting: answered {status}");
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn gave_up(&self, why: &str) -> Error {
        let at = self
            .cursor
            .as_deref()
            .unwrap_or("none: nothing was received");
        Error::Unavailable {
            message: format!(
                "the log stream from {} broke ({why}) and could not be resumed within {}s; last position {at}",
                self.c.target,
                GIVE_UP_AFTER.as_secs()
            ),
            hint: Some(format!(
                "{}; `prisn logs -f` starts over (with history), Last-Event-ID or ?from= with the last position resumes exactly",
                self.c.hint
            )),
        }
    }

    /// Write what one connection brings until it ends.
    async fn read(&mut self, resp: reqwest::Response) -> Result<Ended> {
        let events = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with(logstream::EVENT_STREAM));
        if !events {
            return self.copy_plain(resp).await;
        }
        let heartbeat = resp
            .headers()
            .get(logstream::HEARTBEAT_HEADER)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
            .map_or(logstream::DEFAULT_HEARTBEAT, Duration::from_millis);
        let silence = heartbeat.saturating_mul(MISSED_HEARTBEATS);
        let mut stream = resp.bytes_stream();
        let mut parser = Parser::default();
        loop {
            let bytes = match tokio::time::timeout(silence, stream.next()).await {
                Err(_) => {
                    return Ok(Ended::Broken(format!(
                        "nothing, not even a heartbeat, for {}ms",
                        silence.as_millis()
                    )));
                }
                Ok(None) => return Ok(Ended::Broken("the connection closed".into())),
                Ok(Some(Err(e))) => {
                    tracing::debug!("the log stream broke: {}", super::chain(&e));
                    return Ok(Ended::Broken("the connection broke".into()));
                }
                Ok(Some(Ok(bytes))) => bytes,
            };
            self.failing = None;
            for ev in parser.push(&bytes) {
                if let Some(output) = ev.output() {
                    if self.write(&output).is_err() {
                        return Ok(Ended::Clean);
                    }
                    if let Some(id) = ev.id {
                        self.cursor = Some(id);
                    }
                } else if ev.event == NOTICE {
                    eprintln!("{}", String::from_utf8_lossy(&ev.data));
                } else if ev.event == END {
                    return Ok(Ended::Clean);
                }
            }
        }
    }

    /// A plain text answer (a daemon without events): copied to its end, as it always was.
    async fn copy_plain(&mut self, resp: reqwest::Response) -> Result<Ended> {
        let mut stream = resp.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| Error::Unavailable {
                message: format!(
                    "the log stream from {} broke: {}",
                    self.c.target,
                    super::chain(&e)
                ),
                hint: None,
            })?;
            if self.write(&chunk).is_err() {
                break;
            }
        }
        Ok(Ended::Clean)
    }

    /// Write output; an error means stdout was closed (`prisn logs -f | head`).
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.out.write_all(bytes)?;
        self.out.flush()
    }
}

/// The delays between failed reconnects: 100 ms doubling to 5 s, with jitter, for at most
/// [`GIVE_UP_AFTER`] in all.
fn backoff() -> ExponentialBackoff {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(100))
        .with_max_delay(Duration::from_secs(5))
        .with_jitter()
        .with_total_delay(Some(GIVE_UP_AFTER))
        .without_max_times()
        .build()
}
