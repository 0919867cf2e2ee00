//! The prisn-operator image: a base made by `prisn base` (an OCI layout) plus one layer with
//! the operator binary, assembled by the same layer, manifest and layout code as every user
//! image. Nothing comes from the build machine but the binary itself.
//!
//! ```text
//! base layout (prisn base … --output DIR) ─load→ base manifest + config
//! prisn-operator binary ─LayerSpec::pack→ Layer (cached by the binary's sha256 and the epoch)
//! base + Layer ─config()→ config + manifest (canonical JSON) → StoredImage ─layout::write / publish::push
//! ```
//!
//! # What the digest depends on
//! The base's manifest digest, the binary's bytes and `SOURCE_DATE_EPOCH` (or 0) — nothing
//! else: not the umask, the time zone, the user, the build directory or the binary's own
//! mtime and mode (layer.rs fixes every tar field). Whether the *binary* comes out the same
//! on two machines is cargo's business, not this module's: a release build with the same
//! toolchain, the committed Cargo.lock and `--remap-path-prefix` for the source and cargo
//! home directories is what operator/README.md describes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use super::assemble::created;
use super::blobs::BlobStore;
use super::layer::{self, Layer, LayerSpec, MEDIA_TYPE};
use super::layout::{Layout, StoredImage, named};
use super::manifest::{self, Descriptor, Manifest, OCI_CONFIG, OCI_MANIFEST, Parsed};
use crate::error::{Error, Result};

/// Where the binary lives in the image (the image's entrypoint).
pub const BINARY_PATH: &str = "usr/local/bin/prisn-operator";
/// The user the operator runs as (the `nonroot` user every `prisn base` has).
pub const USER: &str = "65532:65532";
/// The ref name of the image in a layout written by `prisn operator image --output`.
pub const REF_NAME: &str = "prisn-operator";
/// Label: the digest of the base the image was built on.
pub const LABEL_BASE: &str = "io.prisn.operator.base-digest";
/// Label: the sha256 of the operator binary in the image.
pub const LABEL_BINARY: &str = "io.prisn.operator.binary-sha256";
/// Bumped when the image's shape changes for the same inputs: part of the layer cache key.
const FORMAT: &str = "prisn-operator-image-v1";

/// What the operator image is made of.
#[derive(Debug, Clone)]
pub struct Inputs {
    /// An OCI layout written by `prisn base NAME --output DIR`.
    pub base_layout: PathBuf,
    /// Its image to use (ref name), or the only one.
    pub base_name: Option<String>,
    /// The `prisn-operator` executable.
    pub binary: PathBuf,
    /// `SOURCE_DATE_EPOCH` or 0.
    pub epoch: u64,
    /// Image version label (`org.opencontainers.image.version`).
    pub version: String,
}

/// Build the operator image into `store` (base blobs copied in, the layer packed or reused).
///
/// # Errors
/// A missing or unreadable binary, a directory that is not a layout (or holds an index), IO.
pub fn build(store: &BlobStore, cache: &Path, inputs: &Inputs) -> Result<StoredImage> {
    let layout = Layout::open(&inputs.base_layout)?;
    let base_desc = layout.find(inputs.base_name.as_deref())?;
    let base = StoredImage::load(&layout.blobs(), &base_desc)?;
    for blob in &base.blobs {
        layout.blobs().copy_to(&blob.digest, store)?;
    }
    // The base's manifest too: the image's SBOM reads the base from the store.
    store.put(&base.manifest_bytes)?;
    let Parsed::Image(base_manifest) =
        manifest::parse(&base.manifest_bytes, OCI_MANIFEST, &base_desc.digest)?
    else {
        return Err(Error::LayoutIsIndex {
            name: base_desc.digest.clone(),
        });
    };
    let what = inputs.base_layout.display().to_string();
    let base_config: Value = serde_json::from_slice(&store.read(&base_manifest.config.digest)?)
        .map_err(|e| Error::Malformed {
            what: what.clone(),
            expected: "the base's image config is not JSON",
            message: e.to_string(),
        })?;
    let binary_sha = layer::file_digest(&inputs.binary)?;
    let layer = binary_layer(store, cache, &inputs.binary, &binary_sha, inputs.epoch)?;

    let config = config(&base_config, &layer, &base_desc.digest, &binary_sha, inputs)?;
    let config = manifest::canonical(&config);
    let config_digest = store.put(&config)?;
    let mut layers = base_manifest.layers.clone();
    layers.push(Descriptor::new(MEDIA_TYPE, &layer.digest, layer.size));
    let mut annotations = BTreeMap::new();
    annotations.insert(
        "org.opencontainers.image.base.digest".to_string(),
        base_desc.digest.clone(),
    );
    let m = Manifest {
        schema_version: 2,
        media_type: Some(OCI_MANIFEST.into()),
        config: Descriptor::new(OCI_CONFIG, &config_digest, config.len() as u64),
        layers,
        annotations: Some(annotations),
    };
    let bytes = manifest::canonical(&m);
    let digest = store.put(&bytes)?;
    let mut blobs = vec![m.config.clone()];
    blobs.extend(m.layers.iter().cloned());
    Ok(StoredImage {
        manifest: named(OCI_MANIFEST, &digest, bytes.len() as u64, REF_NAME),
        manifest_bytes: bytes,
        blobs,
    })
}

/// The one layer: the binary at [`BINARY_PATH`], mode 0755. Packing 70 MB of debug binary
/// takes a while, so the result is remembered under `cache`, keyed by what makes its bytes.
fn binary_layer(
    store: &BlobStore,
    cache: &Path,
    binary: &Path,
    sha: &str,
    epoch: u64,
) -> Result<Layer> {
    let key = crate::digest::sha256_hex(
        format!("{FORMAT}\n{}\n{sha}\n{epoch}", super::gzip::FORMAT).as_bytes(),
    );
    let pointer = cache.join(crate::cache::OPERATOR_LAYERS).join(key);
    if let Some(layer) = std::fs::read(&pointer)
        .ok()
        .and_then(|b| serde_json::from_slice::<Layer>(&b).ok())
        .filter(|l| store.has(&l.digest))
    {
        crate::cache::touch(&pointer);
        return Ok(layer);
    }
    let meta = std::fs::metadata(binary).map_err(Error::io("read", binary))?;
    if !meta.is_file() {
        return Err(Error::io("read", binary)(std::io::Error::other(
            "not a file: give the prisn-operator executable",
        )));
    }
    let mut spec = LayerSpec::new();
    // The binary is executable in the image whatever its mode here.
    spec.add_bytes(
        BINARY_PATH,
        std::fs::read(binary).map_err(Error::io("read", binary))?,
        true,
    )?;
    let layer = spec.pack(store, epoch, super::gzip::default_threads())?;
    if let Some(dir) = pointer.parent() {
        std::fs::create_dir_all(dir).map_err(Error::io("create", dir))?;
    }
    let json = serde_json::to_vec(&layer).expect("a Layer serializes");
    crate::atomic::write(&pointer, &json)?;
    Ok(layer)
}

/// The base's config with the operator's entrypoint, user, labels, layer and history.
fn config(
    base: &Value,
    layer: &Layer,
    base_digest: &str,
    binary_sha: &str,
    inputs: &Inputs,
) -> Result<Value> {
    let Value::Object(base) = base else {
        return Err(Error::Malformed {
            what: inputs.base_layout.display().to_string(),
            expected: "the base's image config is not a JSON object",
            message: String::new(),
        });
    };
    let mut cfg: Map<String, Value> = base.clone();
    let when = created(inputs.epoch);
    cfg.insert("created".into(), json!(when));
    let mut run = match cfg.remove("config") {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    };
    // The base's Cmd (`bash`, `python3`) would become the operator's argument.
    run.remove("Cmd");
    run.insert("Entrypoint".into(), json!([format!("/{BINARY_PATH}")]));
    run.insert("User".into(), json!(USER));
    run.insert("WorkingDir".into(), json!("/"));
    let mut labels = match run.remove("Labels") {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    };
    labels.insert(LABEL_BASE.into(), json!(base_digest));
    labels.insert(LABEL_BINARY.into(), json!(binary_sha));
    labels.insert(
        "org.opencontainers.image.title".into(),
        json!("prisn-operator"),
    );
    labels.insert(
        "org.opencontainers.image.version".into(),
        json!(inputs.version),
    );
    run.insert("Labels".into(), Value::Object(labels));
    cfg.insert("config".into(), Value::Object(run));

    let mut rootfs = match cfg.remove("rootfs") {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    };
    let mut diff_ids = match rootfs.remove("diff_ids") {
        Some(Value::Array(a)) => a,
        _ => Vec::new(),
    };
    diff_ids.push(json!(layer.diff_id));
    rootfs.insert("type".into(), json!("layers"));
    rootfs.insert("diff_ids".into(), Value::Array(diff_ids));
    cfg.insert("rootfs".into(), Value::Object(rootfs));
    let mut history = match cfg.remove("history") {
        Some(Value::Array(a)) => a,
        _ => Vec::new(),
    };
    history.push(json!({
        "created": when,
        "created_by": format!("prisn operator image (prisn-operator {}, {binary_sha})", inputs.version),
        "comment": "prisn",
    }));
    cfg.insert("history".into(), Value::Array(history));
    Ok(Value::Object(cfg))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::layout;

    /// A one-layer base in a layout, like `prisn base --output` writes.
    fn base_layout(dir: &Path) -> PathBuf {
        let store = BlobStore::new(dir.join("store"));
        let mut spec = LayerSpec::new();
        spec.add_bytes(
            "etc/passwd",
            b"nonroot:x:65532:65532::/:/bin/sh\n".to_vec(),
            false,
        )
        .unwrap();
        let l = spec.pack(&store, 0, 1).unwrap();
        let config = manifest::canonical(&json!({
            "architecture": "amd64", "os": "linux", "created": created(0),
            "config": {"Cmd": ["bash"], "Env": ["PATH=/usr/bin:/bin"], "Labels": {"io.prisn.base.name": "bash"}},
            "rootfs": {"type": "layers", "diff_ids": [l.diff_id]},
            "history": [{"created": created(0), "created_by": "prisn base bash"}],
        }));
        let cd = store.put(&config).unwrap();
        let m = Manifest {
            schema_version: 2,
            media_type: Some(OCI_MANIFEST.into()),
            config: Descriptor::new(OCI_CONFIG, &cd, config.len() as u64),
            layers: vec![Descriptor::new(MEDIA_TYPE, &l.digest, l.size)],
            annotations: None,
        };
        let bytes = manifest::canonical(&m);
        let d = store.put(&bytes).unwrap();
        let img = StoredImage {
            manifest: named(OCI_MANIFEST, &d, bytes.len() as u64, "bash"),
            manifest_bytes: bytes,
            blobs: vec![m.config.clone(), m.layers[0].clone()],
        };
        let out = dir.join("base");
        layout::write(&out, &store, &[img]).unwrap();
        out
    }

    fn inputs(base: &Path, binary: &Path) -> Inputs {
        Inputs {
            base_layout: base.to_path_buf(),
            base_name: None,
            binary: binary.to_path_buf(),
            epoch: 0,
            version: "0.1.0".into(),
        }
    }

    #[test]
    fn config_runs_the_binary_as_nonroot_on_the_base() {
        let t = tempfile::tempdir().unwrap();
        let base = base_layout(t.path());
        let bin = t.path().join("prisn-operator");
        std::fs::write(&bin, b"\x7fELF not really").unwrap();
        let store = BlobStore::new(t.path().join("out"));
        let img = build(&store, &t.path().join("cache"), &inputs(&base, &bin)).unwrap();
        assert_eq!(img.blobs.len(), 3, "config, base layer, binary layer");
        let cfg: Value =
            serde_json::from_slice(&store.read(&img.blobs[0].digest).unwrap()).unwrap();
        let run = &cfg["config"];
        assert_eq!(run["Entrypoint"], json!(["/usr/local/bin/prisn-operator"]));
        assert_eq!(run["User"], json!(USER));
        assert!(run.get("Cmd").is_none(), "the base's Cmd must go: {run}");
        assert_eq!(run["Labels"]["io.prisn.base.name"], json!("bash"));
        assert_eq!(cfg["rootfs"]["diff_ids"].as_array().unwrap().len(), 2);
        assert_eq!(cfg["history"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn another_binary_gives_another_digest_and_a_cached_layer_the_same_one() {
        let t = tempfile::tempdir().unwrap();
        let base = base_layout(t.path());
        let bin = t.path().join("prisn-operator");
        std::fs::write(&bin, b"one").unwrap();
        let store = BlobStore::new(t.path().join("out"));
        let cache = t.path().join("cache");
        let a = build(&store, &cache, &inputs(&base, &bin)).unwrap();
        let again = build(&store, &cache, &inputs(&base, &bin)).unwrap();
        assert_eq!(a.manifest.digest, again.manifest.digest);
        std::fs::write(&bin, b"two").unwrap();
        let b = build(&store, &cache, &inputs(&base, &bin)).unwrap();
        assert_ne!(a.manifest.digest, b.manifest.digest);
    }

    #[test]
    fn a_missing_binary_or_base_is_named() {
        let t = tempfile::tempdir().unwrap();
        let base = base_layout(t.path());
        let store = BlobStore::new(t.path().join("out"));
        let cache = t.path().join("cache");
        let missing = t.path().join("nope");
        let e = build(&store, &cache, &inputs(&base, &missing)).unwrap_err();
        assert!(e.to_string().contains("nope"), "{e}");
        let e = build(&store, &cache, &inputs(&missing, &base)).unwrap_err();
        assert!(e.to_string().contains("nope"), "{e}");
    }
}
