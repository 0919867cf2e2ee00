//! SBOMs: one SPDX 2.3 JSON document per image, attached to it in the registry as an OCI
//! artifact whose `subject` is the image.
//!
//! ```text
//! base layers ─dpkg::read→ [DebPackage]  (+ sha256s from base.lock when its section matches)
//! [DebPackage] + prisn.lock section + image digest ─document→ SPDX JSON bytes
//! SPDX bytes ─image::referrers::artifact→ artifact (subject = image) ─referrers::push→ registry
//! ```
//!
//! What the document says (decisions the issue left open):
//! - It describes the image manifest digest (`SPDXRef-Image`, purpose CONTAINER, checksum =
//!   the manifest's sha256); the image CONTAINS its base (`SPDXRef-Base`, by digest), the base
//!   CONTAINS its Debian packages, and the image CONTAINS the prisn.lock packages.
//! - Debian packages come from the base's `/var/lib/dpkg/status` (every Debian-based image
//!   has one; `prisn base` writes it from the pins). Their sha256 (of the `.deb`) comes from a
//!   `base.lock` beside the script's prisn.lock, used only when one of its sections is the one
//!   the base was made from (its digest equals the base's `io.prisn.base.lock-digest` label):
//!   a lock that does not match the image is never believed. Without one the packages are
//!   listed without a checksum.
//! - Python packages carry every sha256 prisn.lock allows for them (uv installs one of those
//!   files; which one depends on the platform, and all are pinned); npm packages their
//!   `integrity` hash as SHA512 (or SHA1 for old entries).
//! - Deterministic: `created` is the image's own `created` (`SOURCE_DATE_EPOCH` or the epoch),
//!   the namespace is derived from the image digest and prisn's version (a new prisn may
//!   describe the same image differently, and SPDX wants one namespace per document), lists
//!   are sorted. The same image from the same prisn gives a byte-identical document.
//! - Nothing names the registry the image was pushed to, so the document stays true after
//!   `prisn export`/`import` into another registry.

pub mod dpkg;
pub mod spdx;

use std::path::Path;

use base64::Engine;

use crate::error::{Error, Result};
use crate::home::Home;
use crate::image::base::Base;
use crate::image::blobs::BlobStore;
use crate::image::layout::StoredImage;
use crate::image::manifest::{self, Descriptor, OCI_MANIFEST, Parsed};
use crate::image::reference::Reference;
use crate::image::registry::Registries;
use crate::image::{BuiltImage, ImageOptions};
use crate::lock::LockSection;
use crate::reporter::Reporter;
use crate::script::{Runtime, Script};
use spdx::{Document, Package, Relationship, id, purl_encode};

pub use crate::image::referrers::MEDIA_TYPE;

pub use crate::deb::DebPackage;

/// What the document is made from.
#[derive(Debug, Clone)]
pub struct Inputs<'a> {
    /// A short name for the image (the script's name).
    pub name: String,
    /// `sha256:…` of the image manifest.
    pub digest: String,
    /// The image config's `created` (RFC 3339).
    pub created: String,
    /// `amd64`, `arm64`, …
    pub architecture: String,
    /// The base the image is built on; `None` for a base itself (`prisn base`), whose Debian
    /// packages are its own.
    pub base: Option<BaseOf>,
    pub debs: Vec<DebPackage>,
    /// Where the Debian packages' data came from (for the document's comment).
    pub debs_from: String,
    /// The prisn.lock section of the image's script (`None` for a base).
    pub section: Option<&'a LockSection>,
    /// Programs the image adds that no lock names (the operator image's binary).
    pub binaries: Vec<Binary>,
}

/// A program in the image, by its file's sha256.
#[derive(Debug, Clone)]
pub struct Binary {
    pub name: String,
    pub version: String,
    /// Hex sha256 of the file.
    pub sha256: String,
    /// Where it is in the image.
    pub path: String,
}

/// The base of an image: its name (as the image's labels have it) and manifest digest.
#[derive(Debug, Clone)]
pub struct BaseOf {
    pub name: String,
    pub digest: String,
}

/// The SPDX JSON document for `inputs` (pretty-printed, newline-terminated).
pub fn document(inputs: &Inputs) -> Vec<u8> {
    let hex = inputs.digest.trim_start_matches("sha256:");
    let version = env!("CARGO_PKG_VERSION");
    let image_id = "SPDXRef-Image".to_string();
    let mut packages = vec![
        Package::new(image_id.clone(), &inputs.name, &inputs.digest, "CONTAINER")
            .checksum("SHA256", hex)
            .purl(format!(
                "pkg:oci/{}@sha256%3A{hex}?arch={}",
                purl_encode(&inputs.name.to_ascii_lowercase()),
                purl_encode(&inputs.architecture)
            )),
    ];
    let mut relationships = vec![Relationship::new(
        "SPDXRef-DOCUMENT",
        "DESCRIBES",
        &image_id,
    )];
    // The Debian packages are the base's, inside the image; a base's are its own.
    let debs_in = match &inputs.base {
        Some(base) => {
            let base_id = "SPDXRef-Base".to_string();
            packages.push(
                Package::new(base_id.clone(), &base.name, &base.digest, "CONTAINER")
                    .checksum("SHA256", base.digest.trim_start_matches("sha256:")),
            );
            relationships.push(Relationship::new(&image_id, "CONTAINS", &base_id));
            base_id
        }
        None => image_id.clone(),
    };
    let mut debs = inputs.debs.clone();
    debs.sort();
    for (n, d) in debs.iter().enumerate() {
        let mut p =
            Package::new(id("deb", n, &d.name), &d.name, &d.version, "LIBRARY").purl(format!(
                "pkg:deb/debian/{}@{}?arch={}",
                purl_encode(&d.name),
                purl_encode(&d.version),
                purl_encode(&d.architecture)
            ));
        if let Some(sha) = &d.sha256 {
            p = p.checksum("SHA256", sha);
        }
        relationships.push(Relationship::new(&debs_in, "CONTAINS", &p.spdx_id));
        packages.push(p);
    }
    let mut locked = inputs
        .section
        .map(|s| s.packages.clone())
        .unwrap_or_default();
    locked.sort();
    let runtime = inputs.section.map(|s| s.runtime);
    for (n, lp) in locked.iter().enumerate() {
        let p = match runtime {
            Some(Runtime::Node) => npm_package(n, lp),
            _ => pypi_package(n, lp),
        };
        relationships.push(Relationship::new(&image_id, "CONTAINS", &p.spdx_id));
        packages.push(p);
    }
    for (n, b) in inputs.binaries.iter().enumerate() {
        let mut p = Package::new(id("bin", n, &b.name), &b.name, &b.version, "APPLICATION")
            .purl(format!(
                "pkg:generic/{}@{}",
                purl_encode(&b.name),
                purl_encode(&b.version)
            ))
            .checksum("SHA256", &b.sha256);
        p.comment = Some(format!("/{}", b.path.trim_start_matches('/')));
        relationships.push(Relationship::new(&image_id, "CONTAINS", &p.spdx_id));
        packages.push(p);
    }
    let doc = Document {
        spdx_version: "SPDX-2.3".into(),
        data_license: "CC0-1.0".into(),
        spdx_id: "SPDXRef-DOCUMENT".into(),
        name: format!("{}@{}", inputs.name, inputs.digest),
        document_namespace: format!("https://prisn.invalid/spdx/{version}/sha256-{hex}"),
        creation_info: spdx::CreationInfo {
            created: inputs.created.clone(),
            creators: vec![format!("Tool: prisn-{version}")],
            comment: Some(format!(
                "The image's own created time. Debian packages from {}{}",
                inputs.debs_from,
                if inputs.section.is_some() {
                    "; Python/npm packages from prisn.lock."
                } else {
                    "."
                }
            )),
        },
        document_describes: vec![image_id],
        packages,
        relationships,
    };
    let mut bytes = serde_json::to_vec_pretty(&doc).expect("an SPDX document serialises");
    bytes.push(b'\n');
    bytes
}

/// Make the SBOM of `built` (just made by [`crate::image::stage_image`] with `opts`) and put
/// it where the image goes: beside it in the `--output` layout, attached to it in the
/// registry of `--image` (run beside [`crate::image::Staged::publish`]: the artifact needs
/// the image's digest, not the pushed image). Returns the SBOM artifact's manifest digest.
/// (Called by the CLI rather than from the build, so the image pipeline does not depend on
/// this module, which reads base.lock.)
///
/// # Errors
/// Reading the base or the image from the cache, the base.lock, the layout, the registry.
pub async fn attach(
    script: &Script,
    section: &LockSection,
    opts: &ImageOptions,
    built: &BuiltImage,
    reporter: &dyn Reporter,
) -> Result<String> {
    let cache = crate::image::build::blob_cache(&opts.home);
    let base = cached_base(&built.base, &built.base_digest, &cache)?;
    let regs = crate::image::build::registries(opts, &base.name.registry);
    let config = json_blob(
        &cache,
        &built.config_digest,
        &format!("config of {}", built.digest),
    )?;
    let created = created_of(&config);
    let manifest = cache.read(&built.digest)?;
    let image = Descriptor::new(OCI_MANIFEST, &built.digest, manifest.len() as u64);
    let art = for_build(
        &regs, script, section, &base, &image, created, &cache, &opts.home, reporter,
    )
    .await?;
    if let Some(dir) = &built.layout {
        crate::image::layout::write(dir, &cache, std::slice::from_ref(&art))?;
    }
    if let Some(target) = &opts.target {
        crate::image::referrers::push(&regs, target, &art, &cache).await?;
    }
    crate::timings::mark("sbom attached");
    Ok(art.manifest.digest.clone())
}

/// Read the packages of the base a build of `script` with `opts` is on into the cache while
/// the image builds (resolved as the build resolves it; its layers fetched once for both), so
/// [`attach`] finds them there instead of reading the base after the push. Nothing to
/// do for a base whose label lists them. Best effort: whatever fails here, `attach`
/// does again, and reports.
pub async fn prepare(script: &Script, section: &LockSection, opts: &ImageOptions) {
    let read = async {
        let (_, request) = crate::image::build::base_request(script, section, opts)?;
        let regs = crate::image::build::registries(opts, &request.reference.registry);
        let cache = crate::image::build::blob_cache(&opts.home);
        let quiet = crate::reporter::NoReporter;
        let base = crate::image::base::resolve(&regs, &request, &cache, &quiet).await?;
        if crate::image::base::labelled_debs(&base).is_some() {
            return Ok(());
        }
        crate::image::base::fetch_layers(&regs, &base, &cache, &quiet).await?;
        let dir = opts.home.cache().join(crate::cache::SBOM_DEBS);
        crate::image::blocking::run("reading the base's dpkg status", move || {
            dpkg::packages(&base, &cache, &dir)
        })
        .await?;
        crate::timings::mark("sbom: base packages read ahead");
        Ok::<_, Error>(())
    };
    let _ = read.await;
}

/// The base of a built image, from the blob cache the build left it in.
fn cached_base(name: &str, digest: &str, cache: &BlobStore) -> Result<Base> {
    let bytes = cache.read(digest)?;
    let Parsed::Image(manifest) = manifest::parse(&bytes, "", name)? else {
        return Err(Error::BaseIsIndex {
            base: name.to_string(),
            digest: digest.to_string(),
        });
    };
    let config = json_blob(cache, &manifest.config.digest, name)?;
    let mut reference = Reference::parse(name)?;
    reference.digest = None;
    Ok(Base {
        name: reference,
        digest: digest.to_string(),
        manifest,
        config,
    })
}

/// The SBOM artifact of a freshly built image (`subject` its manifest `image`), with its
/// blobs in `cache`: the base's packages from its label, else read from its layers (fetched
/// if need be), the `.deb` sha256s from `script`'s `base.lock` when it made this base.
///
/// # Errors
/// Fetching or reading the base's layers; a corrupt base.lock.
#[allow(clippy::too_many_arguments)]
pub async fn for_build(
    regs: &Registries,
    script: &Script,
    section: &LockSection,
    base: &Base,
    image: &Descriptor,
    created: &str,
    cache: &BlobStore,
    home: &Home,
    reporter: &dyn Reporter,
) -> Result<StoredImage> {
    let (mut debs, read_from) = match crate::image::base::labelled_debs(base) {
        Some(debs) => (debs, FROM_LABEL),
        None => (
            installed_debs(regs, base, cache, home, reporter).await?,
            FROM_STATUS,
        ),
    };
    crate::timings::mark("sbom: base packages read");
    let lock = script.root.join("base.lock");
    let debs_from = if dpkg::add_lock_hashes(base, &lock, &mut debs)? {
        format!("{read_from}, with sha256s from the base.lock section that made the base")
    } else {
        format!("{read_from} (no base.lock that made this base: no sha256s)")
    };
    let doc = document(&Inputs {
        name: script.name(),
        digest: image.digest.clone(),
        created: created.to_string(),
        architecture: base.architecture().to_string(),
        base: Some(BaseOf {
            name: base.name.to_string(),
            digest: base.digest.clone(),
        }),
        debs,
        debs_from,
        section: Some(section),
        binaries: Vec::new(),
    });
    crate::image::referrers::artifact(cache, &doc, image, created)
}

/// The SBOM artifact of a base `prisn base` just built (its blobs in `built.store`), named
/// `name`: the Debian packages its base.lock section pins, which are exactly what its dpkg
/// status lists, each with the sha256 of its `.deb`.
///
/// # Errors
/// The base's config missing from the store or not JSON.
pub fn for_base(built: &crate::base::Built, name: &str) -> Result<StoredImage> {
    let image = &built.image;
    let config = json_blob(
        &built.store,
        &image.blobs[0].digest,
        &format!("config of base {name}"),
    )?;
    let created = created_of(&config);
    let debs = built
        .section
        .packages
        .iter()
        .map(|p| DebPackage {
            name: p.name.clone(),
            version: p.version.clone(),
            architecture: p.architecture.clone(),
            sha256: Some(p.sha256.clone()),
        })
        .collect();
    let doc = document(&Inputs {
        name: name.to_string(),
        digest: built.digest.clone(),
        created: created.to_string(),
        architecture: config["architecture"].as_str().unwrap_or("amd64").into(),
        base: None,
        debs: crate::deb::normalise(debs),
        debs_from: "the base.lock section that made the base, with its sha256s".into(),
        section: None,
        binaries: Vec::new(),
    });
    crate::image::referrers::artifact(&built.store, &doc, &image.manifest, created)
}

/// The SBOM artifact of the operator image `image` (blobs in `store`, its labels naming its
/// base and binary): the base's Debian packages (from its `io.prisn.base.info` label; a base
/// made before the label had them: its dpkg status) and the operator binary at `version`.
/// Nothing of the build machine (the layout's path) goes in, so it is the same document
/// anywhere. `cache_home` is `$PRISN_HOME/cache`, where a base's package list read from its
/// layers is kept.
///
/// # Errors
/// A config, manifest or layer missing from `store` or unreadable; a label missing.
pub fn for_operator(
    store: &BlobStore,
    cache_home: &Path,
    image: &StoredImage,
    version: &str,
) -> Result<StoredImage> {
    use crate::image::operator::{BINARY_PATH, LABEL_BASE, LABEL_BINARY};
    let config = json_blob(store, &image.blobs[0].digest, "the operator image's config")?;
    let label = |key: &str| {
        config["config"]["Labels"][key]
            .as_str()
            .ok_or_else(|| Error::Malformed {
                what: "the operator image's config".into(),
                expected: "the labels prisn operator image writes",
                message: format!("no {key} label"),
            })
    };
    let base_digest = label(LABEL_BASE)?;
    let binary = Binary {
        name: "prisn-operator".into(),
        version: version.into(),
        sha256: label(LABEL_BINARY)?.trim_start_matches("sha256:").into(),
        path: BINARY_PATH.into(),
    };
    let base_manifest = json_blob(store, base_digest, "the operator base's manifest")?;
    let base_config = json_blob(
        store,
        base_manifest["config"]["digest"]
            .as_str()
            .unwrap_or_default(),
        "the operator base's config",
    )?;
    let name = base_config["config"]["Labels"][crate::base::image::LABEL_NAME]
        .as_str()
        .map_or("the operator's base".to_string(), |n| {
            format!("prisn base {n}")
        });
    // A base made by an older prisn lists no packages in its label: read its dpkg status.
    let (debs, debs_from) = match crate::image::base::labelled_debs_of(&base_config) {
        Some(debs) => (debs, FROM_LABEL),
        None => {
            let layers: Vec<Descriptor> =
                serde_json::from_value(base_manifest["layers"].clone()).unwrap_or_default();
            let dir = cache_home.join(crate::cache::SBOM_DEBS);
            let debs = dpkg::packages_in(base_digest, &layers, &name, store, &dir)?;
            (debs, FROM_STATUS)
        }
    };
    let base = BaseOf {
        name,
        digest: base_digest.to_string(),
    };
    let created = created_of(&config);
    let doc = document(&Inputs {
        name: "prisn-operator".into(),
        digest: image.manifest.digest.clone(),
        created: created.to_string(),
        architecture: config["architecture"].as_str().unwrap_or("amd64").into(),
        base: Some(base),
        debs,
        debs_from: debs_from.into(),
        section: None,
        binaries: vec![binary],
    });
    crate::image::referrers::artifact(store, &doc, &image.manifest, created)
}

/// Where an SBOM's Debian packages came from, said in its comment: a `prisn base` label's
/// list, or the dpkg status read from the layers.
const FROM_LABEL: &str = "the base's dpkg status as its io.prisn.base.info label lists it";
const FROM_STATUS: &str = "the base's /var/lib/dpkg/status";

/// A JSON blob of `store` (an image config, a manifest), `what` in the error.
fn json_blob(store: &BlobStore, digest: &str, what: &str) -> Result<serde_json::Value> {
    serde_json::from_slice(&store.read(digest)?).map_err(|e| Error::Malformed {
        what: what.to_string(),
        expected: "not JSON",
        message: e.to_string(),
    })
}

/// An image config's `created`, the epoch when it has none (the SBOM's own time).
fn created_of(config: &serde_json::Value) -> &str {
    config["created"].as_str().unwrap_or("1970-01-01T00:00:00Z")
}

/// The base's installed packages read from its layers (fetched if need be; the result
/// cached per base digest).
async fn installed_debs(
    regs: &Registries,
    base: &Base,
    cache: &BlobStore,
    home: &Home,
    reporter: &dyn Reporter,
) -> Result<Vec<DebPackage>> {
    crate::image::base::fetch_layers(regs, base, cache, reporter).await?;
    crate::timings::mark("sbom: base layers fetched");
    let (base, cache, dir) = (
        base.clone(),
        cache.clone(),
        home.cache().join(crate::cache::SBOM_DEBS),
    );
    crate::image::blocking::run("reading the base's dpkg status", move || {
        dpkg::packages(&base, &cache, &dir)
    })
    .await
}

fn pypi_package(n: usize, lp: &crate::lock::Package) -> Package {
    // PEP 503 normalised, as the purl spec asks for pypi names.
    let name = lp.name.to_ascii_lowercase().replace(['_', '.'], "-");
    let mut p = Package::new(id("pypi", n, &name), &name, &lp.version, "LIBRARY").purl(format!(
        "pkg:pypi/{}@{}",
        purl_encode(&name),
        purl_encode(&lp.version)
    ));
    if let Some(url) = &lp.url {
        p.download_location = url.clone();
    }
    for h in &lp.hashes {
        if let Some(hex) = h.strip_prefix("sha256:") {
            p = p.checksum("SHA256", hex);
        }
    }
    p
}

fn npm_package(n: usize, lp: &crate::lock::Package) -> Package {
    // The lock names the install path (`a/node_modules/@s/b`); the package is its last part.
    let name = lp.name.rsplit("node_modules/").next().unwrap_or(&lp.name);
    let purl_name = match name.split_once('/') {
        Some((scope, rest)) => format!("{}/{}", purl_encode(scope), purl_encode(rest)),
        None => purl_encode(name),
    };
    let mut p = Package::new(id("npm", n, name), name, &lp.version, "LIBRARY")
        .purl(format!("pkg:npm/{purl_name}@{}", purl_encode(&lp.version)));
    if lp.name != name {
        p.comment = Some(format!("installed at node_modules/{}", lp.name));
    }
    for h in &lp.hashes {
        let Some((algo, b64)) = h.split_once('-') else {
            continue;
        };
        let algo = match algo {
            "sha512" => "SHA512",
            "sha384" => "SHA384",
            "sha256" => "SHA256",
            "sha1" => "SHA1",
            _ => continue,
        };
        if let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(b64) {
            p = p.checksum(algo, &hex::encode(raw));
        }
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(runtime: Runtime, packages: Vec<crate::lock::Package>) -> LockSection {
        LockSection {
            runtime,
            inputs: String::new(),
            requires_python: None,
            python: None,
            platform: None,
            exclude_newer: None,
            resolver: "uv".into(),
            base: None,
            packages,
        }
    }

    fn inputs(section: &LockSection) -> Inputs<'_> {
        Inputs {
            name: "api".into(),
            digest: format!("sha256:{}", "a".repeat(64)),
            created: "1970-01-01T00:00:00Z".into(),
            architecture: "amd64".into(),
            base: Some(BaseOf {
                name: "127.0.0.1:5000/base/python3:test".into(),
                digest: format!("sha256:{}", "b".repeat(64)),
            }),
            debs: vec![DebPackage {
                name: "libc6".into(),
                version: "2.36-9+deb12u13".into(),
                architecture: "amd64".into(),
                sha256: Some("c".repeat(64)),
            }],
            debs_from: "base.lock".into(),
            section: Some(section),
            binaries: Vec::new(),
        }
    }

    #[test]
    fn the_document_names_every_package_with_purl_and_checksum() {
        let s = section(
            Runtime::Python3,
            vec![crate::lock::Package {
                name: "Flask".into(),
                version: "3.1.0".into(),
                url: None,
                hashes: vec![format!("sha256:{}", "d".repeat(64))],
            }],
        );
        let bytes = document(&inputs(&s));
        assert_eq!(bytes, document(&inputs(&s)), "deterministic");
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.contains("pkg:deb/debian/libc6@2.36-9%2Bdeb12u13?arch=amd64"));
        assert!(text.contains("pkg:pypi/flask@3.1.0"));
        assert!(text.contains(&"d".repeat(64)));
        assert_eq!(v["documentDescribes"][0], "SPDXRef-Image");
        assert_eq!(
            v["packages"][0]["checksums"][0]["checksumValue"],
            "a".repeat(64)
        );
        assert_eq!(v["creationInfo"]["created"], "1970-01-01T00:00:00Z");
    }

    #[test]
    fn npm_integrity_becomes_a_hex_sha512() {
        let s = section(
            Runtime::Node,
            vec![crate::lock::Package {
                name: "a/node_modules/@s/b".into(),
                version: "1.0.0".into(),
                url: None,
                hashes: vec!["sha512-AAEC".into()],
            }],
        );
        let text = String::from_utf8(document(&inputs(&s))).unwrap();
        assert!(text.contains("pkg:npm/%40s/b@1.0.0"), "{text}");
        assert!(text.contains("\"checksumValue\": \"000102\""), "{text}");
    }
}
