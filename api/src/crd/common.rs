//! Types shared by PrisnApp, PrisnJob and PrisnCronJob: the code `source` and the `runtime`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Pattern of a Kubernetes resource quantity (the API server's own regular expression).
pub const QUANTITY_PATTERN: &str = r"^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$";
/// Pattern of a DNS-1123 subdomain (names of ConfigMaps, Secrets, ServiceAccounts, PVCs).
pub const DNS_SUBDOMAIN_PATTERN: &str =
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";
/// Pattern of a relative file path inside the code tree. No segment may start with a dot, so
/// `..` (and hidden files) cannot be used to escape `/app`.
pub const RELATIVE_PATH_PATTERN: &str =
    r"^[A-Za-z0-9_][A-Za-z0-9_.+-]*(/[A-Za-z0-9_][A-Za-z0-9_.+-]*)*$";
/// Pattern of an image reference: `registry/repo[:tag][@sha256:<64 hex>]`.
pub const IMAGE_PATTERN: &str = r"^[A-Za-z0-9][A-Za-z0-9._/:-]*(@sha256:[a-f0-9]{64})?$";
/// Pattern of a Go-style duration as used by `timeout`: `90s`, `15m`, `1h30m`, `2d`.
pub const DURATION_PATTERN: &str = r"^([0-9]+(ms|s|m|h|d))+$";

/// The interpreter a code source runs with (one definition, in [`crate::runtime`]).
pub use crate::Runtime;

/// A reference to an object in the same namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct NameRef {
    /// Name of the object (same namespace as the referring resource).
    #[schemars(length(min = 1, max = 253), regex(pattern = DNS_SUBDOMAIN_PATTERN))]
    pub name: String,
}

impl NameRef {
    pub fn new(name: impl Into<String>) -> Self {
        NameRef { name: name.into() }
    }
}

/// Code fetched from a git repository by an init container.
///
/// The clone is `git init`, `git fetch --depth 1 -- <url> <ref>`, `git checkout FETCH_HEAD`,
/// each an argument array (never a shell string). Pin `ref` to a commit or tag: pods roll when
/// `url`, `ref` or `path` change, not when a branch moves.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GitSource {
    /// Repository URL (`https://…`, `http://…`, `ssh://…` or `git@host:path`).
    #[schemars(
        length(min = 1, max = 2048),
        regex(pattern = r"^(https?://|ssh://|git@)[^\s]+$")
    )]
    pub url: String,
    /// Commit, tag or branch to check out. Defaults to `HEAD`.
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "ref")]
    #[schemars(
        length(min = 1, max = 255),
        regex(pattern = r"^[A-Za-z0-9_][A-Za-z0-9_./-]*$")
    )]
    pub git_ref: Option<String>,
    /// Directory inside the repository that holds the entrypoint (default: the root).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024), regex(pattern = RELATIVE_PATH_PATTERN))]
    pub path: Option<String>,
    /// Secret with a `.git-credentials` key (`https://user:token@host` lines) for private
    /// repositories over HTTPS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<NameRef>,
}

/// Where the code comes from: exactly one of `image`, `configMapRef`, `secretRef`, `inline`, `git`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {
        "rule": "[has(self.image), has(self.configMapRef), has(self.secretRef), has(self.inline), has(self.git)].filter(x, x).size() == 1",
        "message": "set exactly one of source.image, source.configMapRef, source.secretRef, source.inline, source.git"
    }
]))]
pub struct Source {
    /// Image to run, as built by `prisn build`. By default it must be pinned with `@sha256:`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024), regex(pattern = IMAGE_PATTERN))]
    pub image: Option<String>,
    /// ConfigMap holding the code; keys are file paths encoded with
    /// [`crate::source::configmap_key`] and are mounted back under `/app`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map_ref: Option<NameRef>,
    /// Secret holding the code, same key scheme as `configMapRef`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<NameRef>,
    /// The script itself, mounted as `/app/<entrypoint>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 524288))]
    pub inline: Option<String>,
    /// A git repository cloned into `/app` by an init container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git: Option<GitSource>,
    /// File to run, relative to `/app` (default per runtime: `main.py`, `index.js`, `main.sh`).
    /// Ignored for `image` sources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024), regex(pattern = RELATIVE_PATH_PATTERN))]
    pub entrypoint: Option<String>,
}

/// Which of the source fields is set (see [`Source::kind`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceKind {
    Image,
    ConfigMap,
    Secret,
    Inline,
    Git,
}

impl SourceKind {
    /// The field name in the API, for messages.
    pub fn field(self) -> &'static str {
        match self {
            SourceKind::Image => "source.image",
            SourceKind::ConfigMap => "source.configMapRef",
            SourceKind::Secret => "source.secretRef",
            SourceKind::Inline => "source.inline",
            SourceKind::Git => "source.git",
        }
    }
}

impl Source {
    /// A source running `image`.
    pub fn image(image: impl Into<String>) -> Self {
        Source {
            image: Some(image.into()),
            ..Default::default()
        }
    }

    /// A source reading code from ConfigMap `name`.
    pub fn config_map(name: impl Into<String>) -> Self {
        Source {
            config_map_ref: Some(NameRef::new(name)),
            ..Default::default()
        }
    }

    /// A source with the script text inline.
    pub fn inline(text: impl Into<String>) -> Self {
        Source {
            inline: Some(text.into()),
            ..Default::default()
        }
    }

    /// Which kind of source this is.
    ///
    /// # Errors
    /// A message naming the fields when none or more than one is set (the CRD's CEL rule refuses
    /// such objects, but the operator must not trust that the rule was installed).
    pub fn kind(&self) -> Result<SourceKind, String> {
        let set: Vec<SourceKind> = [
            (self.image.is_some(), SourceKind::Image),
            (self.config_map_ref.is_some(), SourceKind::ConfigMap),
            (self.secret_ref.is_some(), SourceKind::Secret),
            (self.inline.is_some(), SourceKind::Inline),
            (self.git.is_some(), SourceKind::Git),
        ]
        .into_iter()
        .filter_map(|(on, k)| on.then_some(k))
        .collect();
        match set.as_slice() {
            [one] => Ok(*one),
            [] => Err("source: set one of image, configMapRef, secretRef, inline, git".into()),
            many => Err(format!(
                "source: set exactly one of image, configMapRef, secretRef, inline, git (found {})",
                many.iter()
                    .map(|k| k.field())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }
}

/// CPU and memory for the container. `cpu`/`memory` are limits; `requests` default to the
/// limits (Kubernetes' own rule) when not set.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Resources {
    /// CPU limit, e.g. `500m` or `2`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = QUANTITY_PATTERN))]
    pub cpu: Option<String>,
    /// Memory limit, e.g. `256Mi`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = QUANTITY_PATTERN))]
    pub memory: Option<String>,
    /// Requests, when they should be lower than the limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<ResourceRequests>,
}

/// Resource requests.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResourceRequests {
    /// CPU request, e.g. `100m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = QUANTITY_PATTERN))]
    pub cpu: Option<String>,
    /// Memory request, e.g. `128Mi`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = QUANTITY_PATTERN))]
    pub memory: Option<String>,
}
