//! prisn-local: local mode. Scripts run as supervised processes on this machine — services,
//! one-off jobs and cron jobs — with the same commands as in Kubernetes mode.
//!
//! ```text
//! prisn CLI ──HTTP/1.1 on $PRISN_HOME/daemon.sock──▶ daemon (server → ops → state.db)
//!                                                      │ one worker per workload (supervisor)
//!                                                      ▼
//!                                  shim (own session) ─fork─▶ pid 1 of a pid+mount namespace
//!                                    │ logs/<name>.log            └─▶ the script (python -u -B …)
//!                                    └ run/<name>/<id>/{spec,started,exited}.json
//! ```
//!
//! - [`daemon`]: start-up (lock, state.db, re-adoption), serving, shutdown; `hub` the shared
//!   state every part sees (a leaf); `gc` the collection of unused code snapshots.
//! - [`api`] the wire types and routes; [`server`] the axum router; [`client`] the blocking
//!   client and the on-demand start of the daemon; [`logstream`] the log stream's events
//!   (`logs -f` resumable by position, with heartbeats, through proxies).
//! - [`state`]: SQLite (WAL) with versioned migrations and a backup before each.
//! - `supervisor`: restarts with capped exponential backoff, cron slots, stops.
//! - [`shim`] + `isolate` + [`sandbox`] + [`limits`]: namespaces, mounts that show a run only
//!   its code, environment and storage, its own uid without capabilities, a seccomp filter,
//!   cgroups or rlimits, and log capture ([`logs`], rotated by size).
//! - [`cron`], [`name`], [`quantity`], [`code`]: pure helpers.

pub mod api;
pub mod client;
pub mod code;
pub mod cron;
pub mod daemon;
mod error;
mod gc;
mod hub;
mod isolate;
pub mod limits;
pub mod logs;
pub mod logstream;
pub mod name;
mod ops;
pub mod paths;
mod probe;
pub mod proc;
pub mod quantity;
mod release;
mod rt;
pub mod sandbox;
mod server;
pub mod shim;
mod spawn;
pub mod state;
mod supervisor;
mod validate;
mod view;

pub use error::{Error, Result};
pub use paths::Paths;
pub use server::{ApiError, router};
