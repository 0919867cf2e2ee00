//! The wire types `prisn server` adds to the daemon's API ([`crate::daemon`]) for remote mode.
//! Every other route is the daemon's, unchanged; the server puts two things in front:
//!
//! - `Authorization: Bearer sk_<id>_<secret>` (the only place a token is accepted), and
//! - `Prisn-Namespace: <ns>` ([`NAMESPACE_HEADER`]; default [`DEFAULT_NAMESPACE`]): the
//!   namespace the request acts in. A token works in its own namespace only (else 403).
//!
//! | method | path                         | body → answer                                   | role   |
//! |--------|------------------------------|-------------------------------------------------|--------|
//! | GET    | `/v1/info`                   | → [`Info`] (no token needed)                     | -      |
//! | POST   | `/v1/blobs/missing`          | [`BlobList`] → [`BlobList`] (the ones it lacks) | deploy |
//! | PUT    | `/v1/blobs/sha256:{hex}`     | raw bytes → 201 (checked against the digest)    | deploy |
//! | PUT    | `/v1/workloads/{name}`       | [`RemoteDeployBody`] → `DeployReply`            | deploy |
//! | GET    | `/v1/audit?since_seconds=`   | → `[`[`AuditEntry`]`]` of the namespace         | admin  |
//!
//! Reads (`GET` of workloads, logs, health) need `read`; deploy, scale and delete need
//! `deploy`. Upload by content: the client sends the digests of its code files and lock, the
//! server answers which it lacks, the client uploads only those, then deploys by manifest.

use serde::{Deserialize, Serialize};

use crate::daemon::DeployBody;

/// The header that names the namespace of a request.
pub const NAMESPACE_HEADER: &str = "prisn-namespace";
/// The namespace of a context that names none.
pub const DEFAULT_NAMESPACE: &str = "default";

/// `GET /v1/info`: what a client needs to know before it uploads.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Info {
    pub version: String,
    pub limits: Limits,
    /// `major.minor` of each Python the server builds environments for.
    pub python: Vec<String>,
    /// uv's `--python-platform` spelling of the server's platform, e.g.
    /// `x86_64-manylinux_2_36`.
    pub platforms: Vec<String>,
    /// Whether the server reached its package index when it last tried.
    pub index_reachable: bool,
    /// The index it tried.
    pub index: String,
}

/// Sizes the server accepts; over them a request gets 413 naming the limit.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Limits {
    /// One uploaded file.
    pub max_blob_bytes: u64,
    /// All files of one deploy together.
    pub max_deploy_bytes: u64,
    /// Files in one deploy.
    pub max_files: usize,
    /// A JSON request body.
    pub max_json_bytes: u64,
}

/// A list of `sha256:<hex>` digests.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlobList {
    pub digests: Vec<String>,
}

/// One code file of a deploy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestFile {
    /// Relative to the code root, `/`-separated; no `..`, not absolute.
    pub path: String,
    /// `sha256:<hex>`.
    pub digest: String,
    pub size: u64,
    #[serde(default)]
    pub executable: bool,
}

/// What a deploy ships, by content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub files: Vec<ManifestFile>,
    /// The digest of the prisn.lock text holding the entrypoint's section (absent: nothing
    /// declared).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock: Option<String>,
    /// Wheels for a server that cannot reach a package index ([`Info::index_reachable`]):
    /// one per locked package, for the server's Python and platform. The server installs
    /// from these alone (no index), each checked against the lock's sha256 for its package.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub wheels: Vec<WheelFile>,
}

/// A wheel a deploy ships to an air-gapped server, by content like the code files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WheelFile {
    /// The locked package it installs (normalised name, as in prisn.lock).
    pub package: String,
    /// The wheel's file name (`name-version-python-abi-platform.whl`): the installer reads
    /// the tags from it. A plain name, no `/`.
    pub filename: String,
    /// `sha256:<hex>`: one of the lock's hashes for `package`.
    pub digest: String,
    pub size: u64,
}

/// `PUT /v1/workloads/{name}` on a server: the daemon's [`DeployBody`] whose paths
/// (`code.root`, `env_dir`) the server ignores and fills in itself, and the manifest that
/// says what the code is.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteDeployBody {
    pub manifest: Manifest,
    pub deploy: DeployBody,
}

/// One line of the audit log.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuditEntry {
    pub id: i64,
    /// RFC 3339.
    pub at: String,
    /// The token's id (never the token), or `-` when none was valid.
    pub token: String,
    pub namespace: String,
    /// `METHOD /path`.
    pub action: String,
    /// The HTTP status of the answer.
    pub status: u16,
}
