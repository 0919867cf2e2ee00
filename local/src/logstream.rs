//! The log stream's wire format: `GET /v1/workloads/{name}/logs` with
//! `Accept: text/event-stream` answers Server-Sent Events (the standard framing proxies know),
//! one definition for the daemon that writes them and the client that reads them.
//!
//! - Output: an event without a type (`message`) per chunk of complete lines; `id:` is the
//!   log [`Position`] right after it (`<ino>-<born>-<offset>`, an opaque cursor) and `data:`
//!   the text (one `data:` line per line, as SSE has it). The first event is the history
//!   asked for (`tail`, `since`), possibly empty: it gives the client its cursor at once.
//!   SSE data is UTF-8 text and a `\r` in it is a line end, so output that is not valid
//!   UTF-8 or holds a `\r` (progress bars) goes as `event: bytes` with its base64 as data:
//!   either way the client writes the exact bytes the plain stream would have had.
//! - `event: notice`: one line for people (the position resumed from had rotated out).
//! - `event: end`, `data:` why (`deleted`, `finished`, `shutdown`, `done`): a clean end, so a
//!   client can tell it from a cut connection. Without `follow`, history then `end`.
//! - `: heartbeat` comment lines after [`heartbeat`] of quiet (15 s; the daemon's
//!   `PRISN_LOG_HEARTBEAT_MS` changes it, for tests), announced in the
//!   `X-Prisn-Heartbeat-Ms` header, so proxies with idle timeouts keep the connection and a
//!   client that hears nothing for three intervals knows it is dead.
//! - Resuming: the `Last-Event-ID` request header (what a reconnecting `EventSource`
//!   sends), or `?from=<cursor>` for curl, starts right after that position with no history
//!   (`tail`/`since` are ignored); `Last-Event-ID` wins over `from` (a reconnecting browser
//!   keeps its first URL). An empty value counts as none; anything else that is not a cursor
//!   is a 400 naming it.
//!
//! Without that `Accept` header the answer is the plain `text/plain` stream it always was.

use std::sync::OnceLock;
use std::time::Duration;

use axum::response::sse::{Event, KeepAlive};
use base64::Engine as _;

use crate::logs::Position;

/// The media type that asks for events.
pub const EVENT_STREAM: &str = "text/event-stream";
/// The request header with the cursor to resume after (the SSE standard's).
pub const LAST_EVENT_ID: &str = "last-event-id";
/// The response header announcing the heartbeat interval in milliseconds.
pub const HEARTBEAT_HEADER: &str = "x-prisn-heartbeat-ms";
/// The daemon's environment variable that sets the heartbeat interval (milliseconds).
pub const HEARTBEAT_ENV: &str = "PRISN_LOG_HEARTBEAT_MS";
/// The heartbeat interval unless [`HEARTBEAT_ENV`] says otherwise.
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(15);
/// The event type of output that is not UTF-8 text without `\r` (data: base64).
pub const BYTES: &str = "bytes";
/// The event type of a note for people.
pub const NOTICE: &str = "notice";
/// The event type of a clean end.
pub const END: &str = "end";

/// Why a stream ended cleanly (an `end` event's data).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// The workload was deleted.
    Deleted,
    /// The job's run finished.
    Finished,
    /// The daemon is shutting down.
    Shutdown,
    /// Not following: all output so far was sent.
    Done,
}

impl EndReason {
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::Deleted => "deleted",
            EndReason::Finished => "finished",
            EndReason::Shutdown => "shutdown",
            EndReason::Done => "done",
        }
    }
}

/// The heartbeat interval: [`HEARTBEAT_ENV`] when it is a whole number of milliseconds ≥ 1,
/// else (with a warning, once) [`DEFAULT_HEARTBEAT`].
pub fn heartbeat() -> Duration {
    static INTERVAL: OnceLock<Duration> = OnceLock::new();
    *INTERVAL.get_or_init(|| match std::env::var(HEARTBEAT_ENV) {
        Err(_) => DEFAULT_HEARTBEAT,
        Ok(v) => match v.trim().parse::<u64>() {
            Ok(ms) if ms >= 1 => Duration::from_millis(ms),
            _ => {
                tracing::warn!(
                    "{HEARTBEAT_ENV}={v:?} is not a number of milliseconds ≥ 1; using {}s",
                    DEFAULT_HEARTBEAT.as_secs()
                );
                DEFAULT_HEARTBEAT
            }
        },
    })
}

/// The comment sent after [`heartbeat`] of quiet.
pub fn keep_alive() -> KeepAlive {
    KeepAlive::new().interval(heartbeat()).text("heartbeat")
}

/// A chunk of output ending at `at`.
pub fn output(chunk: &[u8], at: Position) -> Event {
    let event = Event::default().id(at.to_string());
    match std::str::from_utf8(chunk) {
        Ok(text) if !text.contains('\r') => event.data(text),
        _ => event
            .event(BYTES)
            .data(base64::engine::general_purpose::STANDARD.encode(chunk)),
    }
}

pub fn notice(text: &str) -> Event {
    Event::default().event(NOTICE).data(text)
}

pub fn end(why: EndReason) -> Event {
    Event::default().event(END).data(why.as_str())
}

/// One event as a client reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// `message` when the stream named none.
    pub event: String,
    pub data: Vec<u8>,
    /// The `id:` of this event, when it had one.
    pub id: Option<String>,
}

impl Received {
    /// The output this event carries (None: not an output event, or base64 that does not
    /// decode).
    pub fn output(&self) -> Option<Vec<u8>> {
        match self.event.as_str() {
            "message" => Some(self.data.clone()),
            BYTES => base64::engine::general_purpose::STANDARD
                .decode(&self.data)
                .ok(),
            _ => None,
        }
    }
}

/// Reads events from the bytes of a stream as they come, by the SSE rules (lines end with
/// `\r\n`, `\n` or `\r`; `:` starts a comment; `data:` lines are joined with `\n`; a blank
/// line ends an event). Comments (heartbeats) yield nothing: any bytes at all show the
/// connection is alive, which is all a heartbeat is for.
#[derive(Debug, Default)]
pub struct Parser {
    line: Vec<u8>,
    /// The last byte seen was a `\r` (a `\n` right after it ends no second line).
    after_cr: bool,
    event: Option<String>,
    data: Option<Vec<u8>>,
    id: Option<String>,
}

impl Parser {
    pub fn push(&mut self, bytes: &[u8]) -> Vec<Received> {
        let mut out = Vec::new();
        for &b in bytes {
            let after_cr = std::mem::replace(&mut self.after_cr, b == b'\r');
            match b {
                b'\n' if after_cr => {}
                b'\n' | b'\r' => {
                    let line = std::mem::take(&mut self.line);
                    out.extend(self.line_done(&line));
                }
                _ => self.line.push(b),
            }
        }
        out
    }

    fn line_done(&mut self, line: &[u8]) -> Option<Received> {
        if line.is_empty() {
            let (event, data, id) = (self.event.take(), self.data.take(), self.id.take());
            if data.is_none() && id.is_none() && event.is_none() {
                return None;
            }
            let mut data = data.unwrap_or_default();
            data.pop(); // the `\n` after the last `data:` line
            return Some(Received {
                event: event.unwrap_or_else(|| "message".into()),
                data,
                id,
            });
        }
        if line[0] == b':' {
            return None;
        }
        let (field, value) = match line.iter().position(|b| *b == b':') {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &[][..]),
        };
        match field {
            b"data" => {
                let data = self.data.get_or_insert_with(Vec::new);
                data.extend_from_slice(value);
                data.push(b'\n');
            }
            b"event" => self.event = Some(String::from_utf8_lossy(value).into_owned()),
            b"id" if !value.contains(&0) => {
                self.id = Some(String::from_utf8_lossy(value).into_owned());
            }
            _ => {} // `retry` and unknown fields
        }
        None
    }
}

#[cfg(test)]
mod tests;
