//! OCI/Docker manifest, index and descriptor types, and canonical JSON.
//!
//! Parsing is lenient (unknown fields are ignored, Docker media types accepted); what prisn
//! writes is always canonical JSON (keys sorted by bytes, no whitespace), so the same value
//! gives the same bytes whatever serde_json's map ordering features are set to.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

/// Every manifest media type prisn asks a registry for.
pub const ACCEPTED: &[&str] = &[OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST];

/// The annotation that names an image inside an OCI layout's index.json.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Descriptor {
    #[serde(rename = "mediaType")]
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    /// What an artifact manifest holds (an SBOM's `application/spdx+json`), in indexes and
    /// layouts; `None` for images.
    #[serde(
        rename = "artifactType",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub artifact_type: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    pub architecture: String,
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    #[serde(rename = "schemaVersion")]
    pub schema_version: u32,
    #[serde(rename = "mediaType", default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Index {
    #[serde(rename = "schemaVersion")]
    pub schema_version: u32,
    #[serde(rename = "mediaType", default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub manifests: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

impl Descriptor {
    pub fn new(media_type: &str, digest: &str, size: u64) -> Self {
        Self {
            media_type: media_type.to_string(),
            digest: digest.to_string(),
            size,
            annotations: None,
            platform: None,
            artifact_type: None,
        }
    }

    /// The `org.opencontainers.image.ref.name` annotation, if any.
    pub fn ref_name(&self) -> Option<&str> {
        self.annotations.as_ref()?.get(REF_NAME).map(String::as_str)
    }
}

/// What a manifest document is, judged by its mediaType field or, failing that, its shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    Image(Manifest),
    Index(Index),
}

/// Parse manifest bytes fetched as `content_type` (may be empty when unknown).
pub fn parse(bytes: &[u8], content_type: &str, what: &str) -> Result<Parsed> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| Error::Malformed {
        what: what.to_string(),
        expected: "the manifest is not JSON",
        message: e.to_string(),
    })?;
    let mt = v
        .get("mediaType")
        .and_then(Value::as_str)
        .unwrap_or(content_type)
        .to_string();
    let is_index = mt == OCI_INDEX || mt == DOCKER_LIST || v.get("manifests").is_some();
    if v.get("schemaVersion").and_then(Value::as_u64) == Some(1) {
        return Err(Error::SchemaV1 {
            what: what.to_string(),
        });
    }
    let err = |e: serde_json::Error| Error::Malformed {
        what: what.to_string(),
        expected: "unexpected manifest",
        message: e.to_string(),
    };
    if is_index {
        Ok(Parsed::Index(serde_json::from_value(v).map_err(err)?))
    } else {
        Ok(Parsed::Image(serde_json::from_value(v).map_err(err)?))
    }
}

/// The OCI media type for a layer of the given (possibly Docker) media type. The bytes are
/// the same; only the name in the descriptor changes, so an OCI manifest stays all-OCI.
pub fn oci_layer_type(media_type: &str) -> &str {
    match media_type {
        DOCKER_LAYER_GZIP => OCI_LAYER_GZIP,
        "application/vnd.docker.image.rootfs.diff.tar" => OCI_LAYER_TAR,
        other => other,
    }
}

/// Media type of a manifest document (from its own `mediaType`, else judged by shape).
pub fn media_type_of(bytes: &[u8]) -> String {
    let v: Value = serde_json::from_slice(bytes).unwrap_or(Value::Null);
    match v.get("mediaType").and_then(Value::as_str) {
        Some(mt) => mt.to_string(),
        None if v.get("manifests").is_some() => OCI_INDEX.to_string(),
        None => OCI_MANIFEST.to_string(),
    }
}

/// The `subject` digest an artifact manifest names, if any.
pub fn subject_of(manifest_bytes: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(manifest_bytes).ok()?;
    v.pointer("/subject/digest")?.as_str().map(str::to_string)
}

/// Serialize `value` as canonical JSON: object keys sorted by their bytes, no whitespace,
/// serde_json's escaping for strings. See the OCI image-spec's "considerations.md#json".
pub fn canonical(value: &impl Serialize) -> Vec<u8> {
    let v = serde_json::to_value(value).expect("image JSON types serialize to a Value");
    let mut out = Vec::with_capacity(512);
    write_canonical(&v, &mut out);
    out
}

fn write_canonical(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push(b'{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend(serde_json::to_vec(k).expect("a string serializes"));
                out.push(b':');
                write_canonical(&map[k], out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out);
            }
            out.push(b']');
        }
        scalar => out.extend(serde_json::to_vec(scalar).expect("a scalar serializes")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let v = serde_json::json!({"b": 1, "a": {"z": [ {"y": 2, "x": "é\n"} ], "c": null}});
        assert_eq!(
            String::from_utf8(canonical(&v)).unwrap(),
            r#"{"a":{"c":null,"z":[{"x":"é\n","y":2}]},"b":1}"#
        );
    }

    #[test]
    fn docker_and_oci_manifests_and_indexes_parse() {
        let m = br#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",
            "config":{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"sha256:aa","size":1},
            "layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","digest":"sha256:bb","size":2}]}"#;
        let Parsed::Image(m) = parse(m, "", "t").unwrap() else {
            panic!("not an image")
        };
        assert_eq!(oci_layer_type(&m.layers[0].media_type), OCI_LAYER_GZIP);
        let i = br#"{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json",
            "digest":"sha256:cc","size":3,"platform":{"architecture":"amd64","os":"linux"}}]}"#;
        assert!(matches!(parse(i, "", "t").unwrap(), Parsed::Index(_)));
        assert!(parse(br#"{"schemaVersion":1}"#, "", "t").is_err());
    }
}
