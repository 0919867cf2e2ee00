//! The base image: resolved to a digest once, fetched into the blob cache, and inspected
//! for what the dependency layer must match: the Python minor version, the C library and
//! the CPU architecture. Everything is read from the image itself, never from the host.
//!
//! A base made by `prisn base` carries those facts in its config ([`LABEL_INFO`]), found by
//! the same scan when it was made; the config is part of the base's digest, so the label is as
//! trustworthy as the base, and `build` can start installing before a layer is fetched. A
//! base without the label (any other image) is scanned, and the answer cached per digest.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::blobs::BlobStore;
use super::manifest::{self, Manifest, Parsed};
use super::reference::Reference;
use super::registry::Registries;
use crate::deb::DebPackage;
use crate::error::{Error, Result};
use crate::lock::BasePin;
use crate::reporter::{Event, Reporter};

/// A base image pinned by digest, with its manifest and config in the blob cache.
#[derive(Debug, Clone)]
pub struct Base {
    /// The reference as given (tag kept), for labels and the lock.
    pub name: Reference,
    /// Digest of the single-platform image manifest the image is built on.
    pub digest: String,
    pub manifest: Manifest,
    pub config: Value,
}

impl Base {
    /// `name` pinned to the digest: where the base's blobs can be fetched or mounted from.
    pub fn pinned(&self) -> Reference {
        self.name.with_digest(&self.digest)
    }

    /// `amd64`, `arm64`, … from the config.
    pub fn architecture(&self) -> &str {
        self.config
            .get("architecture")
            .and_then(Value::as_str)
            .unwrap_or("amd64")
    }
}

/// What we learned about the base's userland.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BaseInfo {
    /// Python `major.minor` that `python3` runs, if there is one.
    pub python: Option<String>,
    /// `glibc` or `musl`; `None` when no C library was recognised.
    pub libc: Option<String>,
    /// glibc `major.minor` (musl has no manylinux version).
    pub libc_version: Option<String>,
    /// OCI architecture (`amd64`, `arm64`).
    pub arch: String,
    /// The absolute path of the base's `python3` (`/usr/bin/python3`), which console scripts
    /// in the dependency layer name in their shebang.
    #[serde(default)]
    pub interpreter: Option<String>,
}

impl BaseInfo {
    /// uv's `--python-platform` for this base: `x86_64-manylinux_2_36`,
    /// `aarch64-unknown-linux-musl`, … `None` when the libc or the CPU is unknown to uv.
    pub fn uv_platform(&self) -> Option<String> {
        let cpu = match self.arch.as_str() {
            "amd64" => "x86_64",
            "arm64" => "aarch64",
            _ => return None,
        };
        match self.libc.as_deref()? {
            "musl" => Some(format!("{cpu}-unknown-linux-musl")),
            "glibc" => {
                let (maj, min) = self.libc_version.as_deref()?.split_once('.')?;
                let (maj, min): (u32, u32) = (maj.parse().ok()?, min.parse().ok()?);
                if (maj, min) < (2, 17) {
                    return None;
                }
                // uv knows manylinux tags up to 2_40; a newer glibc runs those wheels too.
                let min = if maj == 2 { min.min(40) } else { 40 };
                Some(format!("{cpu}-manylinux_2_{min}"))
            }
            _ => None,
        }
    }
}

/// The label of a base's config that holds its [`BaseInfo`] (less `arch`, which the config
/// has) and its Debian packages: JSON `{"diff_ids": [...], "python": "3.11", "libc": "glibc",
/// "libc_version": "2.36", "interpreter": "/usr/bin/python3", "debs": [{"name": "libc6",
/// "version": "2.36-9+deb12u9", "architecture": "amd64"}, ...]}`, a missing thing as `null`
/// (`debs` absent on bases made before it). The facts are those of exactly the layers
/// `diff_ids` names: an image built on the base (by docker's `FROM`, or by prisn) inherits the
/// label but adds layers that may change them, so the label counts only when the config's
/// `rootfs.diff_ids` are the same list.
pub const LABEL_INFO: &str = "io.prisn.base.info";

/// [`LABEL_INFO`]'s value.
#[derive(Debug, Serialize, Deserialize)]
struct InfoLabel {
    diff_ids: Vec<String>,
    python: Option<String>,
    libc: Option<String>,
    libc_version: Option<String>,
    interpreter: Option<String>,
    /// What the layers' dpkg status lists as installed ([`crate::deb::normalise`]d), so the
    /// SBOM of an image on the base need not download and read its layers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    debs: Option<Vec<DebPackage>>,
}

/// The value of [`LABEL_INFO`] for a base whose layers have `diff_ids`, hold `info` and
/// have the Debian packages `debs` installed.
pub fn info_label(info: &BaseInfo, diff_ids: &[String], debs: &[DebPackage]) -> String {
    serde_json::to_string(&InfoLabel {
        diff_ids: diff_ids.to_vec(),
        python: info.python.clone(),
        libc: info.libc.clone(),
        libc_version: info.libc_version.clone(),
        interpreter: info.interpreter.clone(),
        debs: Some(crate::deb::normalise(debs.to_vec())),
    })
    .expect("the label serializes")
}

/// The base's [`LABEL_INFO`], when it has one that describes its layers.
fn trusted_label(base: &Base) -> Option<InfoLabel> {
    trusted_label_of(&base.config)
}

/// [`trusted_label`] of an image config.
fn trusted_label_of(config: &Value) -> Option<InfoLabel> {
    let text = config["config"]["Labels"][LABEL_INFO].as_str()?;
    let label: InfoLabel = serde_json::from_str(text).ok()?;
    let diff_ids: Vec<&str> = config["rootfs"]["diff_ids"]
        .as_array()?
        .iter()
        .map(Value::as_str)
        .collect::<Option<_>>()?;
    (label.diff_ids == diff_ids).then_some(label)
}

/// The base's facts from its [`LABEL_INFO`], when it has one that describes its layers.
pub fn labelled(base: &Base) -> Option<BaseInfo> {
    trusted_label(base).map(|label| BaseInfo {
        python: label.python,
        libc: label.libc,
        libc_version: label.libc_version,
        arch: base.architecture().to_string(),
        interpreter: label.interpreter,
    })
}

/// The base's installed Debian packages from its [`LABEL_INFO`], when it has one that
/// describes its layers and lists them.
pub fn labelled_debs(base: &Base) -> Option<Vec<DebPackage>> {
    labelled_debs_of(&base.config)
}

/// [`labelled_debs`] of the image whose config is `config`.
pub fn labelled_debs_of(config: &Value) -> Option<Vec<DebPackage>> {
    trusted_label_of(config)?.debs
}

/// How to pick the base.
#[derive(Debug, Clone)]
pub struct BaseRequest {
    pub reference: Reference,
    /// `os/arch` to pick from a multi-platform index.
    pub platform: String,
    /// The pin recorded in prisn.lock, used when it is for the same reference.
    pub pinned: Option<BasePin>,
    /// Resolve the tag again even when pinned (`--refresh-base`).
    pub refresh: bool,
}

/// Resolve the base to a digest (the lock's pin unless refreshing), and make sure its
/// manifest and config are in `cache`. Touches the network only for what is not cached.
///
/// # Errors
/// Registry errors; an offline build with no pin or with blobs not cached.
pub async fn resolve(
    regs: &Registries,
    req: &BaseRequest,
    cache: &BlobStore,
    reporter: &dyn Reporter,
) -> Result<Base> {
    let wanted = req.reference.to_string();
    let pin = req.pinned.as_ref().filter(|p| {
        !req.refresh
            && Reference::parse(&p.image)
                .map(|r| r.to_string())
                .ok()
                .as_deref()
                == Some(&wanted)
    });
    let digest = match (pin, &req.reference.digest) {
        (_, Some(d)) if cache.has(d) => d.clone(),
        (Some(p), _) if cache.has(&p.digest) => p.digest.clone(),
        (Some(p), _) => {
            let (bytes, digest) = regs
                .image_manifest(&req.reference.with_digest(&p.digest), &req.platform)
                .await?;
            cache.put(&bytes)?;
            digest
        }
        (None, _) => {
            // Offline, a tag is never resolved (a moving input), even on a registry that
            // stays reachable; pinned digests may still be fetched from it.
            if regs.options().offline {
                return Err(Error::offline(
                    format!("the base {wanted} is not pinned in prisn.lock"),
                    "build once without --offline to pin it (or give --base NAME@sha256:… of a cached image)".into(),
                ));
            }
            reporter.report(Event::Note(format!("resolving base image {wanted}")));
            let (bytes, digest) = regs.image_manifest(&req.reference, &req.platform).await?;
            cache.put(&bytes)?;
            digest
        }
    };
    let bytes = cache.read(&digest)?;
    let Parsed::Image(manifest) = manifest::parse(&bytes, "", &wanted)? else {
        return Err(Error::BaseIsIndex {
            base: wanted.to_string(),
            digest: digest.to_string(),
        });
    };
    let pinned_ref = req.reference.with_digest(&digest);
    regs_pull(regs, &pinned_ref, &manifest.config.digest, cache, &wanted).await?;
    let config: Value =
        serde_json::from_slice(&cache.read(&manifest.config.digest)?).map_err(|e| {
            Error::Malformed {
                what: wanted.to_string(),
                expected: "the image config is not JSON",
                message: e.to_string(),
            }
        })?;
    Ok(Base {
        name: Reference {
            digest: None,
            ..req.reference.clone()
        },
        digest,
        manifest,
        config,
    })
}

async fn regs_pull(
    regs: &Registries,
    from: &Reference,
    digest: &str,
    cache: &BlobStore,
    what: &str,
) -> Result<PathBuf> {
    if cache.has(digest) {
        return Ok(cache.path(digest));
    }
    if regs.offline_for(&from.registry) {
        return Err(Error::offline(
            format!("blob {digest} of {what} is not in the local cache"),
            "build once without --offline so the base's blobs get cached".into(),
        ));
    }
    regs.pull_blob(from, digest, cache).await
}

/// Make sure every layer of the base is in `cache` (for inspection, layouts, bundles and
/// copies to another registry).
pub async fn fetch_layers(
    regs: &Registries,
    base: &Base,
    cache: &BlobStore,
    reporter: &dyn Reporter,
) -> Result<()> {
    let from = base.pinned();
    let missing: Vec<_> = base
        .manifest
        .layers
        .iter()
        .filter(|l| !cache.has(&l.digest))
        .collect();
    if !missing.is_empty() {
        let total: u64 = missing.iter().map(|l| l.size).sum();
        reporter.report(Event::Note(format!(
            "fetching {} layer(s) of base {} ({})",
            missing.len(),
            base.name,
            human_bytes(total)
        )));
    }
    let what = base.name.to_string();
    let pulls = missing.iter().map(|l| async {
        // One download per blob even when two tasks of this process want it (the build's
        // bytecode and the SBOM's reading of the base): the second waits, then finds it.
        let lock = in_flight(&l.digest);
        let _held = lock.lock().await;
        regs_pull(regs, &from, &l.digest, cache, &what).await
    });
    futures::future::try_join_all(pulls).await?;
    Ok(())
}

/// The lock of a blob being fetched by this process.
fn in_flight(digest: &str) -> std::sync::Arc<tokio::sync::Mutex<()>> {
    static LOCKS: std::sync::Mutex<BTreeMap<String, std::sync::Arc<tokio::sync::Mutex<()>>>> =
        std::sync::Mutex::new(BTreeMap::new());
    let mut locks = LOCKS.lock().unwrap_or_else(|p| p.into_inner());
    locks.entry(digest.to_string()).or_default().clone()
}

/// What `build` (and `rebase`) read from a base: its [`LABEL_INFO`] when it has one (nothing
/// fetched), else its layers fetched into `cache`, then [`inspect`]ed (the answer cached per
/// digest under `$PRISN_HOME/cache/base-v2`).
///
/// # Errors
/// A layer that cannot be fetched (offline and not cached) or read.
pub async fn info(
    regs: &Registries,
    base: &Base,
    cache: &BlobStore,
    home: &crate::home::Home,
    reporter: &dyn Reporter,
) -> Result<BaseInfo> {
    if let Some(info) = labelled(base) {
        return Ok(info);
    }
    fetch_layers(regs, base, cache, reporter).await?;
    let (base, cache, dir) = (
        base.clone(),
        cache.clone(),
        home.cache().join(crate::cache::BASE_INFO),
    );
    super::blocking::run("inspecting the base", move || inspect(&base, &cache, &dir)).await
}

pub fn human_bytes(n: u64) -> String {
    if n >= 1 << 20 {
        format!("{:.1} MiB", n as f64 / f64::from(1 << 20))
    } else if n >= 1 << 10 {
        format!("{:.1} KiB", n as f64 / 1024.0)
    } else {
        format!("{n} B")
    }
}

/// Inspect the base's layers (from `cache`) for Python, libc and arch. The answer is cached
/// in `info_dir/<digest hex>.json`: a digest's content never changes.
///
/// # Errors
/// A layer missing from the cache or unreadable.
pub fn inspect(base: &Base, cache: &BlobStore, info_dir: &Path) -> Result<BaseInfo> {
    let hex = base.digest.trim_start_matches("sha256:");
    let info_file = info_dir.join(format!("{hex}.json"));
    if let Ok(text) = std::fs::read_to_string(&info_file)
        && let Ok(info) = serde_json::from_str(&text)
    {
        crate::cache::touch(&info_file);
        return Ok(info);
    }
    let layers = base
        .manifest
        .layers
        .iter()
        .map(|l| Ok((l.digest.clone(), layer_reader(base, l, cache)?)));
    let info = scan(layers, base.architecture(), &base.name.to_string())?;
    if std::fs::create_dir_all(info_dir).is_ok() {
        let tmp = info_dir.join(format!(".{hex}.{}.tmp", std::process::id()));
        let text = serde_json::to_string_pretty(&info).expect("BaseInfo serializes");
        if std::fs::write(&tmp, text).is_ok() {
            let _ = std::fs::rename(&tmp, &info_file);
        }
    }
    Ok(info)
}

/// The facts of the file system that `layers` (digest, tar stream; lowest first) make, on
/// `arch`: the one scan behind [`inspect`] and `prisn base`'s [`LABEL_INFO`].
///
/// # Errors
/// A layer that cannot be opened or is not a readable tar ([`Error::BaseLayer`] naming it).
pub fn scan(
    layers: impl IntoIterator<Item = Result<(String, Box<dyn Read>)>>,
    arch: &str,
    base: &str,
) -> Result<BaseInfo> {
    let mut view = View::default();
    for layer in layers {
        let (digest, reader) = layer?;
        view.scan(reader).map_err(|e| Error::BaseLayer {
            layer: digest,
            base: base.to_string(),
            message: e.to_string(),
        })?;
    }
    Ok(view.conclude(arch))
}

/// The tar stream of one of the base's layers, from `cache` (gzip or plain).
///
/// # Errors
/// The blob is missing, or its media type is one prisn cannot read (zstd).
pub(crate) fn layer_reader(
    base: &Base,
    layer: &manifest::Descriptor,
    cache: &BlobStore,
) -> Result<Box<dyn Read>> {
    let path = cache.path(&layer.digest);
    let file = std::fs::File::open(&path).map_err(Error::io("read base layer", &path))?;
    Ok(match manifest::oci_layer_type(&layer.media_type) {
        manifest::OCI_LAYER_GZIP => Box::new(flate2::read::MultiGzDecoder::new(
            std::io::BufReader::new(file),
        )),
        manifest::OCI_LAYER_TAR => Box::new(std::io::BufReader::new(file)),
        other => {
            return Err(Error::Base {
                base: base.name.to_string(),
                message: format!(
                    "layer {} has media type {other}, which prisn cannot read",
                    layer.digest
                ),
                hint: "use a base whose layers are gzip-compressed tars (docker, buildah and skopeo write those by default)".into(),
            });
        }
    })
}

/// The files that matter, as later layers leave them (whiteouts applied).
#[derive(Default)]
struct View {
    /// path → symlink target (None for a regular file)
    python_bins: BTreeMap<String, Option<String>>,
    /// minor versions with a stdlib (`…/lib/python3.N/os.py`)
    stdlibs: BTreeMap<String, u32>,
    /// libc path → version found (glibc) or None
    glibc: BTreeMap<String, Option<String>>,
    musl: BTreeMap<String, ()>,
}

const PY_BINS: &[&str] = &["usr/local/bin/python3", "usr/bin/python3", "bin/python3"];

impl View {
    fn scan(&mut self, reader: impl Read) -> std::io::Result<()> {
        let mut archive = tar::Archive::new(reader);
        for entry in archive.entries()? {
            let mut entry = entry?;
            let raw = entry.path()?.to_string_lossy().into_owned();
            let path = raw
                .trim_start_matches("./")
                .trim_start_matches('/')
                .to_string();
            let path = path.trim_end_matches('/').to_string();
            let (dir, name) = path.rsplit_once('/').unwrap_or(("", path.as_str()));
            if let Some(hidden) = name.strip_prefix(".wh.") {
                let gone = if hidden == ".wh..opq" {
                    format!("{dir}/")
                } else if dir.is_empty() {
                    hidden.to_string()
                } else {
                    format!("{dir}/{hidden}")
                };
                self.remove(&gone);
                continue;
            }
            let kind = entry.header().entry_type();
            let link = entry.link_name()?.map(|l| l.to_string_lossy().into_owned());
            if PY_BINS.contains(&path.as_str()) {
                self.python_bins.insert(path.clone(), link.clone());
            }
            if name == "os.py"
                && let Some(minor) = stdlib_minor(dir)
            {
                self.stdlibs.insert(path.clone(), minor);
            }
            if name.starts_with("ld-musl-") {
                self.musl.insert(path.clone(), ());
            }
            if is_lib_dir(dir)
                && (name == "libc.so.6" || (name.starts_with("libc-") && name.ends_with(".so")))
            {
                let version = if let Some(v) = name
                    .strip_prefix("libc-")
                    .and_then(|n| n.strip_suffix(".so"))
                {
                    Some(v.to_string())
                } else if let Some(t) = &link {
                    t.rsplit('/')
                        .next()
                        .and_then(|n| n.strip_prefix("libc-"))
                        .and_then(|n| n.strip_suffix(".so"))
                        .map(str::to_string)
                } else if kind.is_file() {
                    let mut bytes = Vec::new();
                    entry.read_to_end(&mut bytes)?;
                    glibc_version(&bytes)
                } else {
                    None
                };
                self.glibc.insert(path.clone(), version);
            }
        }
        Ok(())
    }

    fn remove(&mut self, gone: &str) {
        let hit = |p: &String| {
            p == gone
                || (gone.ends_with('/') && p.starts_with(gone))
                || p.starts_with(&format!("{gone}/"))
        };
        self.python_bins.retain(|p, _| !hit(p));
        self.stdlibs.retain(|p, _| !hit(p));
        self.glibc.retain(|p, _| !hit(p));
        self.musl.retain(|p, _| !hit(p));
    }

    fn conclude(self, arch: &str) -> BaseInfo {
        let minors: Vec<u32> = self.stdlibs.values().copied().collect();
        // Prefer what `python3` points at; else the only stdlib; else the newest one.
        let linked = PY_BINS.iter().find_map(|b| {
            let target = self.python_bins.get(*b)?.as_deref()?;
            let name = target.rsplit('/').next()?;
            name.strip_prefix("python3.")?.parse::<u32>().ok()
        });
        let python = match linked {
            Some(m) if minors.contains(&m) => Some(m),
            _ => minors.iter().copied().max(),
        }
        .map(|m| format!("3.{m}"));
        let glibc = self
            .glibc
            .values()
            .flatten()
            .max_by_key(|v| version_key(v))
            .cloned();
        let (libc, libc_version) = if let Some(v) = glibc {
            (Some("glibc".to_string()), Some(v))
        } else if !self.musl.is_empty() {
            (Some("musl".to_string()), None)
        } else if !self.glibc.is_empty() {
            (Some("glibc".to_string()), None)
        } else {
            (None, None)
        };
        // The first python3 on the usual PATH order that the layers leave in place.
        let interpreter = PY_BINS
            .iter()
            .find(|b| self.python_bins.contains_key(**b))
            .map(|b| format!("/{b}"));
        BaseInfo {
            python,
            libc,
            libc_version,
            arch: arch.to_string(),
            interpreter,
        }
    }
}

fn version_key(v: &str) -> Vec<u32> {
    v.split('.').filter_map(|p| p.parse().ok()).collect()
}

fn is_lib_dir(dir: &str) -> bool {
    let d = dir.strip_prefix("usr/").unwrap_or(dir);
    d == "lib" || d == "lib64" || (d.starts_with("lib/") && !d[4..].contains('/'))
}

/// `usr/lib/python3.11` or `usr/local/lib/python3.11` → 11.
fn stdlib_minor(dir: &str) -> Option<u32> {
    let rest = dir
        .strip_prefix("usr/local/lib/")
        .or_else(|| dir.strip_prefix("usr/lib/"))
        .or_else(|| dir.strip_prefix("lib/"))?;
    rest.strip_prefix("python3.")?.parse().ok()
}

/// Find "release version 2.36" (glibc's banner) in a libc.so.6.
fn glibc_version(bytes: &[u8]) -> Option<String> {
    let needle = b"release version ";
    let at = bytes.windows(needle.len()).position(|w| w == needle)? + needle.len();
    let v: String = bytes[at..]
        .iter()
        .take_while(|b| b.is_ascii_digit() || **b == b'.')
        .map(|b| *b as char)
        .collect();
    let v = v.trim_end_matches('.');
    let mut parts = v.split('.');
    let (maj, min) = (parts.next()?, parts.next()?);
    Some(format!("{maj}.{min}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(entries: &[(&str, Option<&str>, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (path, link, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_mode(0o755);
            match link {
                Some(t) => {
                    h.set_entry_type(tar::EntryType::Symlink);
                    h.set_size(0);
                    b.append_link(&mut h, path, t).unwrap();
                }
                None => {
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_size(data.len() as u64);
                    b.append_data(&mut h, path, *data).unwrap();
                }
            }
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn debian_style_python_and_glibc_are_found() {
        let mut v = View::default();
        let libc = b"junk\0GNU C Library (Debian GLIBC 2.36-9) stable release version 2.36.\njunk";
        v.scan(
            layer(&[
                ("./usr/bin/python3", Some("python3.11"), b""),
                ("./usr/lib/python3.11/os.py", None, b"#"),
                ("./lib/x86_64-linux-gnu/libc.so.6", None, libc),
            ])
            .as_slice(),
        )
        .unwrap();
        let info = v.conclude("amd64");
        assert_eq!(info.python.as_deref(), Some("3.11"));
        assert_eq!(info.interpreter.as_deref(), Some("/usr/bin/python3"));
        assert_eq!(info.libc_version.as_deref(), Some("2.36"));
        assert_eq!(info.uv_platform().as_deref(), Some("x86_64-manylinux_2_36"));
    }

    #[test]
    fn official_python_image_layout_and_whiteouts() {
        let mut v = View::default();
        v.scan(
            layer(&[
                ("usr/lib/python3.9/os.py", None, b"#"),
                ("usr/local/bin/python3", Some("python3.12"), b""),
                ("usr/local/lib/python3.12/os.py", None, b"#"),
                ("lib/x86_64-linux-gnu/libc-2.31.so", None, b""),
            ])
            .as_slice(),
        )
        .unwrap();
        // A later layer deletes the old python 3.9.
        v.scan(layer(&[("usr/lib/.wh.python3.9", None, b"")]).as_slice())
            .unwrap();
        let info = v.conclude("arm64");
        assert_eq!(info.python.as_deref(), Some("3.12"));
        assert_eq!(info.interpreter.as_deref(), Some("/usr/local/bin/python3"));
        assert_eq!(
            info.uv_platform().as_deref(),
            Some("aarch64-manylinux_2_31")
        );
    }

    #[test]
    fn a_base_without_python_or_with_musl() {
        let mut v = View::default();
        v.scan(layer(&[("lib/ld-musl-x86_64.so.1", None, b"")]).as_slice())
            .unwrap();
        let info = v.conclude("amd64");
        assert_eq!(info.python, None);
        assert_eq!(
            info.uv_platform().as_deref(),
            Some("x86_64-unknown-linux-musl")
        );
    }

    fn base_with(config: Value) -> Base {
        Base {
            name: Reference::parse("127.0.0.1:5000/b:1").unwrap(),
            digest: "sha256:00".into(),
            manifest: Manifest {
                schema_version: 2,
                media_type: None,
                config: manifest::Descriptor::new(manifest::OCI_CONFIG, "sha256:01", 1),
                layers: Vec::new(),
                annotations: None,
            },
            config,
        }
    }

    /// The label round-trips to the scanned facts, and counts only for the layers it names:
    /// an image built on the base inherits it, with more layers, and is scanned.
    #[test]
    fn the_info_label_describes_exactly_its_layers() {
        let scanned = BaseInfo {
            python: Some("3.11".into()),
            libc: Some("glibc".into()),
            libc_version: Some("2.36".into()),
            arch: "arm64".into(),
            interpreter: Some("/usr/bin/python3".into()),
        };
        let ids = vec!["sha256:aa".to_string()];
        let deb = |name: &str| DebPackage {
            name: name.into(),
            version: "1".into(),
            architecture: "arm64".into(),
            sha256: None,
        };
        // Out of order and repeated: the label holds them as the SBOM lists them.
        let debs = [deb("zlib1g"), deb("libc6"), deb("zlib1g")];
        let config = |diff_ids: &[&str]| {
            serde_json::json!({
                "architecture": "arm64",
                "config": {"Labels": {LABEL_INFO: info_label(&scanned, &ids, &debs)}},
                "rootfs": {"type": "layers", "diff_ids": diff_ids},
            })
        };
        assert_eq!(
            labelled(&base_with(config(&["sha256:aa"]))),
            Some(scanned.clone())
        );
        assert_eq!(
            labelled_debs(&base_with(config(&["sha256:aa"]))),
            Some(vec![deb("libc6"), deb("zlib1g")])
        );
        assert_eq!(
            labelled(&base_with(config(&["sha256:aa", "sha256:bb"]))),
            None
        );
        assert_eq!(
            labelled_debs(&base_with(config(&["sha256:aa", "sha256:bb"]))),
            None,
            "an image built on the base may have installed or removed packages"
        );
        assert_eq!(labelled(&base_with(config(&["sha256:bb"]))), None);
        let plain =
            serde_json::json!({"architecture": "amd64", "rootfs": {"diff_ids": ["sha256:aa"]}});
        assert_eq!(labelled(&base_with(plain)), None, "no label: scanned");
        let before_debs = serde_json::json!({
            "architecture": "arm64",
            "config": {"Labels": {LABEL_INFO: r#"{"diff_ids":["sha256:aa"],"python":"3.11","libc":"glibc","libc_version":"2.36","interpreter":"/usr/bin/python3"}"#}},
            "rootfs": {"diff_ids": ["sha256:aa"]},
        });
        assert_eq!(
            labelled(&base_with(before_debs.clone())),
            Some(scanned.clone())
        );
        assert_eq!(
            labelled_debs(&base_with(before_debs)),
            None,
            "a base labelled before the label had packages: its layers are read"
        );
        let garbage = serde_json::json!({"config": {"Labels": {LABEL_INFO: "{"}}, "rootfs": {"diff_ids": []}});
        assert_eq!(
            labelled(&base_with(garbage)),
            None,
            "a label that is not ours: scanned"
        );
    }

    #[test]
    fn very_new_glibc_is_clamped_to_what_uv_knows() {
        let info = BaseInfo {
            python: Some("3.13".into()),
            libc: Some("glibc".into()),
            libc_version: Some("2.41".into()),
            arch: "amd64".into(),
            interpreter: None,
        };
        assert_eq!(info.uv_platform().as_deref(), Some("x86_64-manylinux_2_40"));
    }
}
