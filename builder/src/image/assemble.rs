//! Base + new layers + settings → image config and manifest, as canonical JSON bytes.
//! Pure: no IO, and the same inputs always give the same bytes.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::base::Base;
use super::layer::{Layer, MEDIA_TYPE};
use super::manifest::{self, Descriptor, OCI_CONFIG, OCI_MANIFEST};
use crate::digest::sha256;

/// PATH when the base sets none (Docker's default).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What to put on top of the base.
#[derive(Debug, Clone)]
pub struct Parts {
    /// Layers in order, each with its history line (`created_by`).
    pub layers: Vec<(Layer, String)>,
    pub entrypoint: Vec<String>,
    /// Variables to set (replacing the base's value of the same name).
    pub env: Vec<(String, String)>,
    /// Directories to put in front of PATH.
    pub path_prepend: Vec<String>,
    pub workdir: String,
    /// `User` of the config (`uid:gid`, a name…); `None` keeps the base's.
    pub user: Option<String>,
    pub labels: BTreeMap<String, String>,
    /// RFC 3339 (`SOURCE_DATE_EPOCH` or the epoch), for `created` and history.
    pub created: String,
}

/// An assembled image: the two JSON documents and every layer descriptor (base first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    pub manifest: Vec<u8>,
    pub manifest_digest: String,
    pub config: Vec<u8>,
    pub config_digest: String,
    pub layers: Vec<Descriptor>,
    /// How many of `layers` come from the base.
    pub base_layers: usize,
}

impl Image {
    /// Config then layers: every blob the manifest needs.
    pub fn blobs(&self) -> Vec<Descriptor> {
        let mut v = vec![Descriptor::new(
            OCI_CONFIG,
            &self.config_digest,
            self.config.len() as u64,
        )];
        v.extend(self.layers.iter().cloned());
        v
    }
}

/// `SOURCE_DATE_EPOCH` (or 0) as RFC 3339, the image's `created`.
pub fn created(epoch: u64) -> String {
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + std::time::Duration::from_secs(epoch))
        .to_string()
}

/// Put `parts` on top of `base`.
pub fn assemble(base: &Base, parts: &Parts) -> Image {
    let mut cfg = match &base.config {
        Value::Object(m) => m.clone(),
        _ => Map::new(),
    };
    cfg.insert("created".into(), json!(parts.created));
    if !cfg.contains_key("os") {
        cfg.insert("os".into(), json!("linux"));
    }
    if !cfg.contains_key("architecture") {
        cfg.insert("architecture".into(), json!("amd64"));
    }

    let mut run = match cfg.remove("config") {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    };
    run.insert("Env".into(), json!(env(run.get("Env"), parts)));
    run.insert("Entrypoint".into(), json!(parts.entrypoint));
    // The base's Cmd would be appended to our entrypoint as arguments (python's `python3`
    // would become an argument of the script), so it goes.
    run.remove("Cmd");
    run.insert("WorkingDir".into(), json!(parts.workdir));
    if let Some(user) = &parts.user {
        run.insert("User".into(), json!(user));
    }
    let mut labels: BTreeMap<String, Value> = match run.remove("Labels") {
        Some(Value::Object(m)) => m.into_iter().collect(),
        _ => BTreeMap::new(),
    };
    for (k, v) in &parts.labels {
        labels.insert(k.clone(), json!(v));
    }
    run.insert("Labels".into(), json!(labels));
    cfg.insert("config".into(), Value::Object(run));

    let mut rootfs = match cfg.remove("rootfs") {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    };
    let mut diff_ids = match rootfs.remove("diff_ids") {
        Some(Value::Array(a)) => a,
        _ => Vec::new(),
    };
    diff_ids.extend(parts.layers.iter().map(|(l, _)| json!(l.diff_id)));
    rootfs.insert("type".into(), json!("layers"));
    rootfs.insert("diff_ids".into(), Value::Array(diff_ids));
    cfg.insert("rootfs".into(), Value::Object(rootfs));

    let mut history = match cfg.remove("history") {
        Some(Value::Array(a)) => a,
        _ => Vec::new(),
    };
    for (_, created_by) in &parts.layers {
        history.push(
            json!({ "created": parts.created, "created_by": created_by, "comment": "prisn" }),
        );
    }
    cfg.insert("history".into(), Value::Array(history));

    let config = manifest::canonical(&Value::Object(cfg));
    let config_digest = sha256(&config);

    let mut layers: Vec<Descriptor> = base
        .manifest
        .layers
        .iter()
        .map(|d| Descriptor::new(manifest::oci_layer_type(&d.media_type), &d.digest, d.size))
        .collect();
    let base_layers = layers.len();
    layers.extend(
        parts
            .layers
            .iter()
            .map(|(l, _)| Descriptor::new(MEDIA_TYPE, &l.digest, l.size)),
    );
    let mut annotations = BTreeMap::new();
    annotations.insert(
        "org.opencontainers.image.base.name".to_string(),
        base.name.to_string(),
    );
    annotations.insert(
        "org.opencontainers.image.base.digest".to_string(),
        base.digest.clone(),
    );
    let m = manifest::Manifest {
        schema_version: 2,
        media_type: Some(OCI_MANIFEST.into()),
        config: Descriptor::new(OCI_CONFIG, &config_digest, config.len() as u64),
        layers: layers.clone(),
        annotations: Some(annotations),
    };
    let manifest = manifest::canonical(&m);
    Image {
        manifest_digest: sha256(&manifest),
        manifest,
        config,
        config_digest,
        layers,
        base_layers,
    }
}

/// The base's `KEY=VALUE` list with ours applied: same order, replaced in place, new ones
/// appended in the order given; PATH gets `path_prepend` in front.
fn env(base: Option<&Value>, parts: &Parts) -> Vec<String> {
    let mut vars: Vec<(String, String)> = base
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(|kv| match kv.split_once('=') {
                    Some((k, v)) => (k.to_string(), v.to_string()),
                    None => (kv.to_string(), String::new()),
                })
                .collect()
        })
        .unwrap_or_default();
    let mut set = |k: &str, v: String| match vars.iter_mut().find(|(name, _)| name == k) {
        Some(slot) => slot.1 = v,
        None => vars.push((k.to_string(), v)),
    };
    if !parts.path_prepend.is_empty() {
        let old = base
            .and_then(Value::as_array)
            .and_then(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .find_map(|kv| kv.strip_prefix("PATH="))
            })
            .unwrap_or(DEFAULT_PATH)
            .to_string();
        let mut path = parts.path_prepend.clone();
        path.extend(
            old.split(':')
                .filter(|p| !parts.path_prepend.iter().any(|q| q == p))
                .map(str::to_string),
        );
        set("PATH", path.join(":"));
    }
    for (k, v) in &parts.env {
        set(k, v.clone());
    }
    vars.into_iter().map(|(k, v)| format!("{k}={v}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::manifest::{DOCKER_LAYER_GZIP, Manifest};
    use crate::image::reference::Reference;

    fn base() -> Base {
        Base {
            name: Reference::parse("127.0.0.1:5000/base/python3:3.11").unwrap(),
            digest: format!("sha256:{}", "b".repeat(64)),
            manifest: Manifest {
                schema_version: 2,
                media_type: None,
                config: Descriptor::new(OCI_CONFIG, &format!("sha256:{}", "c".repeat(64)), 10),
                layers: vec![Descriptor::new(
                    DOCKER_LAYER_GZIP,
                    &format!("sha256:{}", "d".repeat(64)),
                    5,
                )],
                annotations: None,
            },
            config: json!({
                "architecture": "amd64", "os": "linux",
                "config": {"Env": ["PATH=/usr/bin:/bin", "LANG=C.UTF-8"], "Cmd": ["python3"]},
                "rootfs": {"type": "layers", "diff_ids": ["sha256:base"]},
                "history": [{"created_by": "base"}]
            }),
        }
    }

    fn parts() -> Parts {
        Parts {
            layers: vec![(
                Layer {
                    digest: format!("sha256:{}", "e".repeat(64)),
                    diff_id: "sha256:code".into(),
                    size: 7,
                    tar_size: 10,
                },
                "prisn: code".into(),
            )],
            entrypoint: vec![
                "python3".into(),
                "-u".into(),
                "-B".into(),
                "/app/main.py".into(),
            ],
            env: vec![("PYTHONPATH".into(), "/opt/prisn/site-packages".into())],
            path_prepend: vec!["/opt/prisn/site-packages/bin".into()],
            workdir: "/app".into(),
            user: Some("65532:65532".into()),
            labels: [(
                "io.prisn.lock-digest".to_string(),
                "sha256:lock".to_string(),
            )]
            .into(),
            created: created(0),
        }
    }

    #[test]
    fn config_gets_entrypoint_env_labels_and_no_cmd() {
        let img = assemble(&base(), &parts());
        let cfg: Value = serde_json::from_slice(&img.config).unwrap();
        assert_eq!(cfg["created"], "1970-01-01T00:00:00Z");
        assert_eq!(cfg["config"]["Entrypoint"][3], "/app/main.py");
        assert!(cfg["config"].get("Cmd").is_none());
        assert_eq!(
            cfg["config"]["Env"],
            json!([
                "PATH=/opt/prisn/site-packages/bin:/usr/bin:/bin",
                "LANG=C.UTF-8",
                "PYTHONPATH=/opt/prisn/site-packages"
            ])
        );
        assert_eq!(
            cfg["rootfs"]["diff_ids"],
            json!(["sha256:base", "sha256:code"])
        );
        assert_eq!(cfg["history"].as_array().unwrap().len(), 2);
        assert_eq!(cfg["config"]["User"], "65532:65532");
        assert_eq!(
            cfg["config"]["Labels"]["io.prisn.lock-digest"],
            "sha256:lock"
        );
    }

    #[test]
    fn no_user_keeps_the_base_user() {
        let mut b = base();
        b.config["config"]["User"] = json!("1000");
        let mut p = parts();
        p.user = None;
        let cfg: Value = serde_json::from_slice(&assemble(&b, &p).config).unwrap();
        assert_eq!(cfg["config"]["User"], "1000");
        let cfg: Value = serde_json::from_slice(&assemble(&b, &parts()).config).unwrap();
        assert_eq!(
            cfg["config"]["User"], "65532:65532",
            "ours replaces the base's"
        );
    }

    #[test]
    fn manifest_is_canonical_oci_with_base_layers_first() {
        let img = assemble(&base(), &parts());
        let m: Value = serde_json::from_slice(&img.manifest).unwrap();
        assert_eq!(m["mediaType"], OCI_MANIFEST);
        assert_eq!(
            m["layers"][0]["mediaType"], MEDIA_TYPE,
            "docker layer type converted"
        );
        assert_eq!(
            m["layers"][1]["digest"],
            format!("sha256:{}", "e".repeat(64))
        );
        assert_eq!(img.base_layers, 1);
        assert_eq!(manifest::canonical(&m), img.manifest);
        assert_eq!(img, assemble(&base(), &parts()), "same inputs, same bytes");
        assert_eq!(img.manifest_digest, sha256(&img.manifest));
    }
}
