//! `prisn rebase`: an image `prisn build` made, moved onto another base without resolving or
//! building anything (crane's `rebase`). The image's own labels say which of its layers are
//! the base's (`io.prisn.base-layers`) and which base that was (`io.prisn.base-digest`), so the
//! old base need not be reachable (an air-gapped site has only the image).
//!
//! The result is what `build` would make on the new base when the dependency layer comes out
//! the same: the new base's layers, config (env, labels, …) and history, then prisn's layers,
//! entrypoint, env, user and `io.prisn.*` labels from the image, through the same
//! [`assemble`] as `build`. Same image and same new base, same digest.
//!
//! Allowed only when the new base runs the layers as the old one did, judged from the bases
//! themselves ([`Facts`]): the same `os/arch`; for Python the same minor version as
//! [`base::inspect`] (what `build` reads) finds, the same C library and no older glibc
//! (the wheels' manylinux tag), and the same `python3` path when there is a dependency layer
//! (console scripts name it); for Node the same major version (from the `prisn base` label
//! `io.prisn.base.runtime-version`, else the official images' `NODE_VERSION`); bash images
//! take any base of their platform.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::assemble::{self, Parts};
use super::base::{self, Base, BaseRequest};
use super::blobs::BlobStore;
use super::build::{
    LABEL_BASE_DIGEST, LABEL_BASE_LAYERS, LABEL_BASE_NAME, LABEL_LOCK, LABEL_RUNTIME, LayerInfo,
    base_labels, blob_cache, is_own_label, runtime_env,
};
use super::build::{LABEL_BASE_RUNTIME as BASE_RUNTIME, LABEL_BASE_VERSION as BASE_VERSION};
use super::layer::Layer;
use super::layout::{self, StoredImage};
use super::manifest::{self, Manifest, OCI_MANIFEST, Parsed};
use super::publish::{self, Pushed, Upstream};
use super::reference::Reference;
use super::registry::{Registries, RegistryOptions};
use crate::error::{Error, Result};
use crate::home::Home;
use crate::reporter::{Event, Reporter};
use crate::script::Runtime;

/// A prisn image as its registry serves it, with what its labels say.
#[derive(Debug, Clone)]
pub struct PrisnImage {
    /// `registry/repo@sha256:…` (the single-platform manifest).
    pub reference: Reference,
    pub digest: String,
    pub manifest: Manifest,
    pub config: Value,
    pub runtime: Runtime,
    /// The base as `build` recorded it: name (tag kept) and digest.
    pub base_name: String,
    pub base_digest: String,
    /// How many of the manifest's layers are the base's.
    pub base_layers: usize,
}

impl PrisnImage {
    /// The old base, as far as the image holds it: its layers and digest, and the image's
    /// config (which keeps the base's platform, labels and env). Named by the image's
    /// repository, where its layers are fetched from (the old base's own registry may be
    /// out of reach, as on an air-gapped site).
    fn old_base(&self) -> Base {
        Base {
            name: self.repository(),
            digest: self.base_digest.clone(),
            manifest: Manifest {
                layers: self.manifest.layers[..self.base_layers].to_vec(),
                ..self.manifest.clone()
            },
            config: self.config.clone(),
        }
    }

    fn repository(&self) -> Reference {
        Reference::repo(&self.reference.registry, &self.reference.repository)
    }
}

fn label<'a>(config: &'a Value, key: &str) -> Option<&'a str> {
    config["config"]["Labels"][key].as_str()
}

/// Read `image`'s manifest (the `platform` one of an index) and config into `cache`, and
/// check that prisn built it and recorded its base.
///
/// # Errors
/// Registry errors; an image without prisn's labels, or whose layers do not match them.
pub async fn read(
    regs: &Registries,
    image: &Reference,
    platform: &str,
    cache: &BlobStore,
) -> Result<PrisnImage> {
    let (bytes, digest) = regs.image_manifest(image, platform).await?;
    cache.put(&bytes)?;
    let Parsed::Image(manifest) = manifest::parse(&bytes, "", &image.to_string())? else {
        return Err(Error::Malformed {
            what: image.to_string(),
            expected: "a single-platform image manifest",
            message: "the registry answered with an index".into(),
        });
    };
    let repo = Reference::repo(&image.registry, &image.repository);
    regs.pull_blob(&repo, &manifest.config.digest, cache)
        .await?;
    let config: Value =
        serde_json::from_slice(&cache.read(&manifest.config.digest)?).map_err(|e| {
            Error::Malformed {
                what: image.to_string(),
                expected: "the image config is not JSON",
                message: e.to_string(),
            }
        })?;
    let refuse = |message: String, hint: &str| Error::Rebase {
        image: image.to_string(),
        message,
        hint: hint.into(),
    };
    let (Some(runtime), Some(_), Some(base_digest)) = (
        label(&config, LABEL_RUNTIME),
        label(&config, LABEL_LOCK),
        label(&config, LABEL_BASE_DIGEST),
    ) else {
        return Err(refuse(
            format!(
                "prisn did not build it (it has no {LABEL_RUNTIME}, {LABEL_LOCK} and {LABEL_BASE_DIGEST} labels)"
            ),
            "rebase images made by `prisn build`: only they record which layers are their base's",
        ));
    };
    let runtime: Runtime = runtime.parse().map_err(|e| {
        refuse(
            format!("label {LABEL_RUNTIME}: {e}"),
            "rebuild it with `prisn build`",
        )
    })?;
    let Some(base_layers) = label(&config, LABEL_BASE_LAYERS).and_then(|n| n.parse().ok()) else {
        return Err(refuse(
            format!(
                "it does not record how many of its layers are the base's (label {LABEL_BASE_LAYERS}; prisn records it since rebase exists)"
            ),
            "build it once more with this prisn (`prisn build --image`), then rebase that",
        ));
    };
    let img = PrisnImage {
        reference: repo.with_digest(&digest),
        digest,
        runtime,
        base_name: label(&config, LABEL_BASE_NAME).unwrap_or("").to_string(),
        base_digest: base_digest.to_string(),
        base_layers,
        manifest,
        config,
    };
    own_layers(&img).map_err(|m| {
        refuse(
            m,
            "rebuild it with `prisn build`: the image was changed after prisn built it",
        )
    })?;
    Ok(img)
}

/// prisn's layers of `img` (above the base's), each with its diff_id and history line.
fn own_layers(img: &PrisnImage) -> std::result::Result<Vec<(Layer, String)>, String> {
    let layers = &img.manifest.layers;
    let diff_ids: Vec<&str> = img.config["rootfs"]["diff_ids"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let history = img.config["history"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let n = img.base_layers;
    let own = layers.len().saturating_sub(n);
    if own == 0 || diff_ids.len() != layers.len() || history.len() < own {
        return Err(format!(
            "its {} layers, {} diff_ids and {} history entries do not fit {LABEL_BASE_LAYERS}={n}",
            layers.len(),
            diff_ids.len(),
            history.len()
        ));
    }
    let lines = &history[history.len() - own..];
    if lines.iter().any(|h| h["comment"] != "prisn") {
        return Err(format!(
            "its last {own} history entries are not prisn's layers"
        ));
    }
    Ok(layers[n..]
        .iter()
        .zip(&diff_ids[n..])
        .zip(lines)
        .map(|((d, diff_id), h)| {
            let layer = Layer {
                digest: d.digest.clone(),
                diff_id: diff_id.to_string(),
                size: d.size,
                tar_size: 0,
            };
            (
                layer,
                h["created_by"].as_str().unwrap_or("prisn").to_string(),
            )
        })
        .collect())
}

/// What a rebase must keep the same, read from a base (the old one: from the image).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Facts {
    /// `os/arch[/variant]` of the config.
    pub platform: String,
    /// Python `major.minor` that `python3` runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub python: Option<String>,
    /// `glibc` or `musl`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub libc: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub libc_version: Option<String>,
    /// The base's `python3`, which console scripts of the dependency layer name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interpreter: Option<String>,
    /// Node's major version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}

impl Facts {
    /// The runtime a base is for: Python if it has one, else Node if its version is known,
    /// else bash (what `rebase --deployed --base` matches workloads by).
    pub fn runtime(&self) -> Runtime {
        match (&self.python, &self.node) {
            (Some(_), _) => Runtime::Python3,
            (None, Some(_)) => Runtime::Node,
            (None, None) => Runtime::Bash,
        }
    }
}

/// `os/arch[/variant]` of an image config.
fn platform(config: &Value) -> String {
    let s = |k: &str| config[k].as_str().unwrap_or("").to_string();
    let mut p = format!("{}/{}", s("os"), s("architecture"));
    if let Some(v) = config["variant"].as_str() {
        p = format!("{p}/{v}");
    }
    p
}

/// Node's major version from a base config: the `prisn base` label, else `NODE_VERSION`.
fn node_major(config: &Value) -> Option<String> {
    let version = match label(config, BASE_RUNTIME) {
        Some("node") => label(config, BASE_VERSION).map(str::to_string),
        _ => config["config"]["Env"].as_array().and_then(|env| {
            env.iter()
                .filter_map(Value::as_str)
                .find_map(|kv| kv.strip_prefix("NODE_VERSION="))
                .map(str::to_string)
        }),
    }?;
    let major = version.trim_start_matches('v').split('.').next()?;
    (!major.is_empty() && major.chars().all(|c| c.is_ascii_digit())).then(|| major.to_string())
}

/// The facts of `base` that matter for `runtime` (Python: its layers inspected as `build`
/// does, fetched from where `base.pinned()` points when not cached).
pub async fn facts(
    regs: &Registries,
    base: &Base,
    runtime: Runtime,
    cache: &BlobStore,
    home: &Home,
    reporter: &dyn Reporter,
) -> Result<Facts> {
    let mut f = Facts {
        platform: platform(&base.config),
        node: node_major(&base.config),
        ..Facts::default()
    };
    if runtime == Runtime::Python3 {
        let info = base::info(regs, base, cache, home, reporter).await?;
        f.python = info.python;
        f.libc = info.libc;
        f.libc_version = info.libc_version;
        f.interpreter = info.interpreter;
    }
    Ok(f)
}

/// Can layers made on a base with `old` facts run on one with `new` facts? `Err` says why
/// not, naming both sides.
pub fn check(
    runtime: Runtime,
    has_deps: bool,
    old: &Facts,
    new: &Facts,
) -> std::result::Result<(), String> {
    if old.platform != new.platform {
        return Err(format!(
            "the image is for {}, the new base for {}",
            old.platform, new.platform
        ));
    }
    match runtime {
        Runtime::Python3 => check_python(has_deps, old, new),
        Runtime::Node => match (&old.node, &new.node) {
            (Some(a), Some(b)) if a == b => Ok(()),
            (Some(a), Some(b)) => Err(format!(
                "the image's base has Node {a}, the new base Node {b}"
            )),
            (None, _) => Err("cannot tell the Node version of the image's base (no io.prisn.base.runtime-version label, no NODE_VERSION)".into()),
            (Some(a), None) => Err(format!(
                "the image's base has Node {a}; the new base has no Node version prisn can read (no io.prisn.base.runtime-version label, no NODE_VERSION)"
            )),
        },
        Runtime::Bash => Ok(()),
    }
}

fn check_python(has_deps: bool, old: &Facts, new: &Facts) -> std::result::Result<(), String> {
    let Some(want) = &old.python else {
        return Err("the image's base has no Python 3 prisn can find".into());
    };
    match &new.python {
        None => {
            return Err(format!(
                "the image's base has Python {want}, the new base has no Python 3"
            ));
        }
        Some(have) if have != want => {
            return Err(format!(
                "the image's base has Python {want}, the new base Python {have}"
            ));
        }
        Some(_) => {}
    }
    if old.libc != new.libc {
        return Err(format!(
            "the image's base has C library {}, the new base {}",
            old.libc.as_deref().unwrap_or("unknown"),
            new.libc.as_deref().unwrap_or("unknown")
        ));
    }
    if let (Some(a), Some(b)) = (&old.libc_version, &new.libc_version)
        && version_key(b) < version_key(a)
    {
        return Err(format!(
            "the image's dependencies were installed for glibc {a}, the new base has the older glibc {b}"
        ));
    }
    if has_deps && old.interpreter != new.interpreter {
        return Err(format!(
            "console scripts of the dependency layer name {}, the new base's python3 is {}",
            old.interpreter.as_deref().unwrap_or("an unknown python3"),
            new.interpreter.as_deref().unwrap_or("missing")
        ));
    }
    Ok(())
}

fn version_key(v: &str) -> Vec<u32> {
    v.split('.').filter_map(|p| p.parse().ok()).collect()
}

/// How to rebase and where the result goes.
#[derive(Debug, Clone)]
pub struct RebaseOptions {
    pub home: Home,
    /// The new base (a tag is resolved unless offline).
    pub base: Reference,
    /// Push here; `None` with `push` = [`default_target`].
    pub target: Option<Reference>,
    /// Push at all (`--dry-run` does not).
    pub push: bool,
    /// `os/arch` to pick from multi-platform images and bases.
    pub platform: String,
    pub registry: RegistryOptions,
    /// Only the image's, the new base's and the target's registries, and no tag resolved.
    pub offline: bool,
}

/// What [`rebase`] made.
#[derive(Debug, Clone, Serialize)]
pub struct Rebased {
    /// `registry/repo@sha256:…` when pushed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    pub digest: String,
    pub config_digest: String,
    /// The image rebased, by digest.
    pub image: String,
    pub runtime: Runtime,
    /// `name@digest` of the base it was on, and of the one it is on now.
    pub old_base: String,
    pub base: String,
    pub base_digest: String,
    /// What was compared (of the new base).
    pub facts: Facts,
    pub layers: Vec<LayerInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub push: Option<Pushed>,
    #[serde(skip)]
    pub stored: StoredImage,
}

/// Same repository; the tag says which image on which base: `v1` → `v1-base-<12 hex of the
/// new base>` (a previous `-base-…` suffix replaced), an image named by digest only →
/// `<12 hex of its digest>-base-<12 hex>`.
pub fn default_target(image: &Reference, image_digest: &str, base_digest: &str) -> Reference {
    let short = |d: &str| {
        d.trim_start_matches("sha256:")
            .chars()
            .take(12)
            .collect::<String>()
    };
    let old = match &image.tag {
        Some(t) => {
            let stem = match t.rsplit_once("-base-") {
                Some((stem, hex))
                    if hex.len() == 12 && hex.chars().all(|c| c.is_ascii_hexdigit()) =>
                {
                    stem
                }
                _ => t.as_str(),
            };
            stem.chars().take(110).collect()
        }
        None => short(image_digest),
    };
    Reference::repo(&image.registry, &image.repository)
        .with_tag(&format!("{old}-base-{}", short(base_digest)))
}

/// Put `image`'s own layers onto `opts.base` and push the result (unless `!opts.push`).
///
/// # Errors
/// An image prisn did not build, a new base it cannot run on ([`check`]), registry errors,
/// offline without digests.
pub async fn rebase(
    image: &Reference,
    opts: &RebaseOptions,
    reporter: &dyn Reporter,
) -> Result<Rebased> {
    let regs = registries(image, opts)?;
    let cache = blob_cache(&opts.home);
    let img = read(&regs, image, &opts.platform, &cache).await?;
    let new = base::resolve(
        &regs,
        &BaseRequest {
            reference: opts.base.clone(),
            platform: opts.platform.clone(),
            pinned: None,
            refresh: false,
        },
        &cache,
        reporter,
    )
    .await?;
    let own = own_layers(&img).expect("read checked the layers");
    let has_deps = own.len() > 1;
    let old_facts = facts(
        &regs,
        &img.old_base(),
        img.runtime,
        &cache,
        &opts.home,
        reporter,
    )
    .await?;
    let new_facts = facts(&regs, &new, img.runtime, &cache, &opts.home, reporter).await?;
    check(img.runtime, has_deps, &old_facts, &new_facts).map_err(|message| Error::Rebase {
        image: image.to_string(),
        message: format!("{message} ({} → {})", img.base_name, new.pinned()),
        hint: format!(
            "rebase onto a base like the old one, or build from source on the new base: prisn build SCRIPT --base {}",
            opts.base
        ),
    })?;
    reporter.report(Event::Note(format!(
        "rebasing {} from {}@{} onto {}",
        img.reference,
        img.base_name,
        img.base_digest,
        new.pinned()
    )));
    let image_new = assemble::assemble(&new, &parts(&img, &new, own));
    cache.put(&image_new.config)?;
    cache.put(&image_new.manifest)?;
    let target = opts
        .target
        .clone()
        .unwrap_or_else(|| default_target(image, &img.digest, &new.digest));
    let stored = StoredImage {
        manifest: layout::named(
            OCI_MANIFEST,
            &image_new.manifest_digest,
            image_new.manifest.len() as u64,
            target.tag_or_latest(),
        ),
        manifest_bytes: image_new.manifest.clone(),
        blobs: image_new.blobs(),
    };
    let mut done = Rebased {
        reference: None,
        digest: image_new.manifest_digest.clone(),
        config_digest: image_new.config_digest.clone(),
        image: img.reference.to_string(),
        runtime: img.runtime,
        old_base: format!("{}@{}", img.base_name, img.base_digest),
        base: new.pinned().to_string(),
        base_digest: new.digest.clone(),
        facts: new_facts,
        layers: layer_infos(&image_new.layers, image_new.base_layers),
        push: None,
        stored,
    };
    if opts.push {
        let pushed = push(&regs, &img, &new, &target, &done.stored, &cache, reporter).await?;
        done.reference = Some(pushed.reference.clone());
        done.push = Some(pushed);
    }
    Ok(done)
}

/// The registries, offline limited to the image's, the new base's and the target's, where
/// only digests may be fetched.
fn registries(image: &Reference, opts: &RebaseOptions) -> Result<Registries> {
    let mut reg = opts.registry.clone();
    reg.offline |= opts.offline;
    if reg.offline {
        for (what, r) in [("the image", image), ("the new base", &opts.base)] {
            if r.digest.is_none() {
                return Err(Error::offline(
                    format!("{what} {r} is named by tag, which offline is never resolved"),
                    "name it by digest (REF@sha256:…), or rebase without --offline".into(),
                ));
            }
        }
        reg.offline_allowed.push(image.registry.clone());
        reg.offline_allowed.push(opts.base.registry.clone());
        reg.offline_allowed
            .extend(opts.target.iter().map(|t| t.registry.clone()));
    }
    Ok(Registries::new(reg))
}

/// The image's own parts, as `build` made them for this runtime, on `new`, for [`assemble`].
fn parts(img: &PrisnImage, new: &Base, own: Vec<(Layer, String)>) -> Parts {
    let run = &img.config["config"];
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    let (env, path_prepend) = runtime_env(img.runtime, own.len() > 1);
    let labels: BTreeMap<String, String> = run["Labels"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| is_own_label(k))
        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
        .chain(base_labels(new).map(|(k, v)| (k.to_string(), v)))
        .collect();
    Parts {
        layers: own,
        entrypoint: strings(&run["Entrypoint"]),
        env,
        path_prepend,
        workdir: run["WorkingDir"].as_str().unwrap_or("/").to_string(),
        user: run["User"].as_str().map(str::to_string),
        labels,
        created: img.config["created"]
            .as_str()
            .map_or_else(|| assemble::created(0), str::to_string),
    }
}

fn layer_infos(layers: &[manifest::Descriptor], base: usize) -> Vec<LayerInfo> {
    let own = layers.len() - base;
    layers
        .iter()
        .enumerate()
        .map(|(i, d)| LayerInfo {
            role: if i < base {
                "base"
            } else if i + 1 == layers.len() {
                "code"
            } else if own > 1 {
                "dependencies"
            } else {
                "code"
            }
            .into(),
            digest: d.digest.clone(),
            size: d.size,
        })
        .collect()
}

/// Push the rebased image: the new base's layers mounted or copied from it, prisn's layers
/// already in the image's repository (copied through the cache to another one).
async fn push(
    regs: &Registries,
    img: &PrisnImage,
    new: &Base,
    target: &Reference,
    stored: &StoredImage,
    cache: &BlobStore,
    reporter: &dyn Reporter,
) -> Result<Pushed> {
    let from = img.repository();
    if (from.registry.as_str(), from.repository.as_str())
        != (target.registry.as_str(), target.repository.as_str())
    {
        for l in &img.manifest.layers[img.base_layers..] {
            regs.pull_blob(&from, &l.digest, cache).await?;
        }
    }
    let upstream = Upstream::base(new);
    reporter.report(Event::PushStart {
        target: target.to_string(),
    });
    publish::push(regs, target, stored, cache, Some(&upstream), reporter).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn python(minor: &str, glibc: &str, interp: &str) -> Facts {
        Facts {
            platform: "linux/amd64".into(),
            python: Some(minor.into()),
            libc: Some("glibc".into()),
            libc_version: Some(glibc.into()),
            interpreter: Some(interp.into()),
            node: None,
        }
    }

    #[test]
    fn python_needs_the_same_minor_platform_libc_and_interpreter() {
        let old = python("3.11", "2.36", "/usr/bin/python3");
        assert_eq!(check(Runtime::Python3, true, &old, &old.clone()), Ok(()));
        let newer_glibc = python("3.11", "2.41", "/usr/bin/python3");
        assert_eq!(check(Runtime::Python3, true, &old, &newer_glibc), Ok(()));
        let e = check(
            Runtime::Python3,
            true,
            &old,
            &python("3.13", "2.41", "/usr/bin/python3"),
        )
        .unwrap_err();
        assert!(
            e.contains("Python 3.11") && e.contains("Python 3.13"),
            "{e}"
        );
        let e = check(
            Runtime::Python3,
            true,
            &old,
            &python("3.11", "2.31", "/usr/bin/python3"),
        )
        .unwrap_err();
        assert!(e.contains("2.36") && e.contains("2.31"), "{e}");
        let moved = python("3.11", "2.36", "/usr/local/bin/python3");
        let e = check(Runtime::Python3, true, &old, &moved).unwrap_err();
        assert!(e.contains("/usr/local/bin/python3"), "{e}");
        assert_eq!(
            check(Runtime::Python3, false, &old, &moved),
            Ok(()),
            "no console scripts without dependencies"
        );
        let mut arm = old.clone();
        arm.platform = "linux/arm64".into();
        let e = check(Runtime::Python3, true, &old, &arm).unwrap_err();
        assert!(
            e.contains("linux/amd64") && e.contains("linux/arm64"),
            "{e}"
        );
        let mut musl = old.clone();
        musl.libc = Some("musl".into());
        assert!(
            check(Runtime::Python3, true, &old, &musl)
                .unwrap_err()
                .contains("musl")
        );
        let none = Facts {
            platform: "linux/amd64".into(),
            ..Facts::default()
        };
        let e = check(Runtime::Python3, false, &old, &none).unwrap_err();
        assert!(
            e.contains("Python 3.11") && e.contains("no Python 3"),
            "{e}"
        );
    }

    #[test]
    fn node_needs_the_same_major_and_bash_any_base_of_its_platform() {
        let node = |m: &str| Facts {
            platform: "linux/amd64".into(),
            node: Some(m.into()),
            ..Facts::default()
        };
        assert_eq!(check(Runtime::Node, true, &node("18"), &node("18")), Ok(()));
        let e = check(Runtime::Node, true, &node("18"), &node("20")).unwrap_err();
        assert!(e.contains("Node 18") && e.contains("Node 20"), "{e}");
        let bare = Facts {
            platform: "linux/amd64".into(),
            ..Facts::default()
        };
        assert!(check(Runtime::Node, true, &node("18"), &bare).is_err());
        assert_eq!(check(Runtime::Bash, false, &bare, &node("20")), Ok(()));
        let arm = Facts {
            platform: "linux/arm64".into(),
            ..Facts::default()
        };
        assert!(check(Runtime::Bash, false, &bare, &arm).is_err());
        assert_eq!(node("1").runtime(), Runtime::Node);
        assert_eq!(bare.runtime(), Runtime::Bash);
    }

    #[test]
    fn node_major_from_the_prisn_base_label_or_node_version() {
        let cfg = serde_json::json!({"config": {"Labels": {BASE_RUNTIME: "node", BASE_VERSION: "18.19.0"}}});
        assert_eq!(node_major(&cfg).as_deref(), Some("18"));
        let cfg = serde_json::json!({"config": {"Env": ["PATH=/bin", "NODE_VERSION=20.11.1"]}});
        assert_eq!(node_major(&cfg).as_deref(), Some("20"));
        let cfg = serde_json::json!({"config": {"Labels": {BASE_RUNTIME: "python3", BASE_VERSION: "3.11.2"}}});
        assert_eq!(
            node_major(&cfg),
            None,
            "a python base's version is not Node's"
        );
    }

    fn image(base_layers: usize, comments: &[&str]) -> PrisnImage {
        let d = |c: char| format!("sha256:{}", c.to_string().repeat(64));
        let desc = |c| manifest::Descriptor::new(super::super::layer::MEDIA_TYPE, &d(c), 1);
        let history: Vec<Value> = comments
            .iter()
            .map(|c| serde_json::json!({"comment": c, "created_by": "x"}))
            .collect();
        PrisnImage {
            reference: Reference::parse("127.0.0.1:5000/team/api").unwrap(),
            digest: d('f'),
            manifest: Manifest {
                schema_version: 2,
                media_type: None,
                config: desc('c'),
                layers: vec![desc('a'), desc('b'), desc('e')],
                annotations: None,
            },
            config: serde_json::json!({"rootfs": {"diff_ids": ["sha256:1", "sha256:2", "sha256:3"]}, "history": history}),
            runtime: Runtime::Python3,
            base_name: "base".into(),
            base_digest: d('9'),
            base_layers,
        }
    }

    #[test]
    fn own_layers_must_fit_the_label_the_diff_ids_and_the_history() {
        let own = own_layers(&image(1, &["base", "prisn", "prisn"])).unwrap();
        assert_eq!(own.len(), 2);
        assert_eq!(own[0].0.diff_id, "sha256:2");
        for (n, comments) in [
            (3, &["base", "prisn", "prisn"][..]),  // no layer of prisn's
            (99, &["base", "prisn", "prisn"][..]), // a label beyond the layers
            (1, &["base", "base", "prisn"][..]),   // another tool's layer on top
            (1, &["prisn"][..]),                   // history cut short
        ] {
            let e = own_layers(&image(n, comments)).expect_err(&format!("{n} {comments:?}"));
            assert!(
                e.contains("history") || e.contains(LABEL_BASE_LAYERS),
                "{e}"
            );
        }
    }

    #[test]
    fn the_default_tag_names_the_image_and_the_new_base() {
        let base = format!("sha256:{}", "ab".repeat(32));
        let img = format!("sha256:{}", "cd".repeat(32));
        let r = Reference::parse("127.0.0.1:5000/team/api:v1").unwrap();
        let t = default_target(&r, &img, &base);
        assert_eq!(
            t.to_string(),
            "127.0.0.1:5000/team/api:v1-base-abababababab"
        );
        assert_eq!(
            default_target(&t, &img, &format!("sha256:{}", "e".repeat(64)))
                .tag
                .as_deref(),
            Some("v1-base-eeeeeeeeeeee"),
            "a second rebase replaces the suffix"
        );
        let by_digest = Reference::parse(&format!("127.0.0.1:5000/team/api@{img}")).unwrap();
        assert_eq!(
            default_target(&by_digest, &img, &base).tag.as_deref(),
            Some("cdcdcdcdcdcd-base-abababababab")
        );
    }
}
