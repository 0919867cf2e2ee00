//! prisn-server: remote mode's server, `prisn server` — the local daemon's `/v1` API over
//! HTTPS for many tenants — and the client's half of its TLS (the pinned key).
//!
//! ```text
//! DATA/ (0700)
//!   tls/{ca,server}.{pem,key}  the CA and the server certificate (`init`; keys 0600)
//!   server.db                  tokens (hashes only) and the append-only audit log
//!   server.json                where the running server listens (`server status`)
//!   ns/<namespace>/            one per namespace (see `namespace`):
//!     home/                    a local-mode home: its own daemon (daemon.sock, state.db…)
//!       store/                 environments built from the deploys' locks
//!     blobs/sha256/<hex>       uploaded files, by content
//!     src/<name>/              the code a workload was deployed with
//! ```
//!
//! - [`tls`]: certificates, the fingerprint, the client's [`tls::PinnedVerifier`];
//!   `listener`: TLS for axum.
//! - [`token`] + [`db`]: tokens and the audit log ([`audit`]: its writer); [`serve`]: the router and its guard.
//! - [`namespace`]: the namespaces' daemons; [`upload`]: blobs, manifests, environments.

pub mod audit;
pub mod db;
mod listener;
pub mod namespace;
pub mod serve;
pub mod tls;
pub mod token;
pub mod upload;

pub use prisn_local::{Error, Result};
