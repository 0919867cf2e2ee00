//! The SBOM as an OCI artifact (image-spec 1.1): an image manifest with `artifactType`
//! `application/spdx+json`, the empty config, the document as its one layer, and `subject`
//! = the image. Pushed by digest next to the image, then made findable:
//!
//! - a registry with the referrers API (distribution 3, zot, most clouds) lists it by itself
//!   once the manifest is in;
//! - a registry without it (distribution 2.8) gets the spec's tag schema: the tag
//!   `sha256-<hex of the image>` holds an image index of the image's referrers, which prisn
//!   reads, extends and writes back.
//!
//! Which of the two: after the push prisn lists the referrers (oci-client asks the API and
//! falls back to the tag on a 404); only when the SBOM's digest is not listed is the tag
//! index written. That needs no header oci-client does not show (`OCI-Subject`), is idempotent,
//! and at worst writes a tag a referrers-capable registry did not need. Two pushers of
//! different artifacts for one image at the same instant can lose one entry of the tag
//! index (the spec's own caveat); the artifact itself stays, and a second push re-lists it.
//!
//! What a listing says about an entry is the registry's summary, not the artifact: the
//! distribution spec (1.1) lists an artifact under its manifest's `artifactType`, but
//! go-containerregistry's registry (v0.22, tests/referrers-registry) lists the config's
//! media type (the empty one, for an SBOM) and no annotations. So prisn asks for every
//! referrer, decides "listed" by digest, fetches each entry that may be an SBOM
//! ([`may_be_sbom`]) and judges it by its own manifest (`artifactType`, annotations).

use serde_json::json;

use crate::digest::sha256;
use crate::error::{Error, Result};
use crate::image::blobs::BlobStore;
use crate::image::layout::{Layout, StoredImage};
use crate::image::manifest::{self, Descriptor, Index, OCI_INDEX, OCI_MANIFEST, Parsed};
use crate::image::reference::Reference;
use crate::image::registry::Registries;
use crate::reporter::NoReporter;

/// The artifact type and blob media type of an SBOM (crate::sbom).
pub const MEDIA_TYPE: &str = "application/spdx+json";

/// The OCI empty descriptor's media type and content (`{}`).
pub const EMPTY_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";
const EMPTY: &[u8] = b"{}";
const CREATED: &str = "org.opencontainers.image.created";

/// The artifact manifest for `sbom` (already in `store`) about `subject`; its manifest and
/// config go into `store` too. The descriptor carries `artifactType`, no ref name.
///
/// # Errors
/// IO errors writing the blobs.
pub fn artifact(
    store: &BlobStore,
    sbom: &[u8],
    subject: &Descriptor,
    created: &str,
) -> Result<StoredImage> {
    let empty = store.put(EMPTY)?;
    let doc = store.put(sbom)?;
    let config = Descriptor::new(EMPTY_MEDIA_TYPE, &empty, EMPTY.len() as u64);
    let layer = Descriptor::new(MEDIA_TYPE, &doc, sbom.len() as u64);
    let m = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": MEDIA_TYPE,
        "config": config,
        "layers": [layer],
        "subject": Descriptor::new(&subject.media_type, &subject.digest, subject.size),
        "annotations": {CREATED: created},
    });
    let bytes = manifest::canonical(&m);
    let digest = store.put(&bytes)?;
    let mut desc = Descriptor::new(OCI_MANIFEST, &digest, bytes.len() as u64);
    desc.artifact_type = Some(MEDIA_TYPE.into());
    desc.annotations = Some([(CREATED.to_string(), created.to_string())].into());
    Ok(StoredImage {
        manifest: desc,
        manifest_bytes: bytes,
        blobs: vec![config, layer],
    })
}

/// The `artifactType` an artifact manifest declares, if any.
fn artifact_type_of(manifest_bytes: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(manifest_bytes).ok()?;
    v.get("artifactType")?.as_str().map(str::to_string)
}

/// Whether a listed referrer may be an SBOM: listed as one, or as what a registry that
/// summarises artifacts by their config reports for ours (the empty config), or untyped.
/// Anything else (a signature, an attestation) is not fetched.
fn may_be_sbom(listed: &Descriptor) -> bool {
    matches!(
        listed.artifact_type.as_deref(),
        None | Some(MEDIA_TYPE | EMPTY_MEDIA_TYPE)
    )
}

pub use super::manifest::subject_of;

/// Push `art` (blobs in `store`) into `repo` by digest and make it a listed referrer of
/// its subject there.
///
/// # Errors
/// Registry errors.
pub async fn push(
    regs: &Registries,
    repo: &Reference,
    art: &StoredImage,
    store: &BlobStore,
) -> Result<()> {
    let repo = Reference::repo(&repo.registry, &repo.repository);
    crate::image::publish::push(regs, &repo, art, store, None, &NoReporter).await?;
    let subject = subject_of(&art.manifest_bytes).ok_or_else(|| Error::Malformed {
        what: format!("artifact {}", art.manifest.digest),
        expected: "an artifact manifest with a subject",
        message: "no subject.digest".into(),
    })?;
    let listed = regs.referrers(&repo.with_digest(&subject)).await?;
    if listed.iter().any(|d| d.digest == art.manifest.digest) {
        return Ok(());
    }
    // The tag schema: read the index (or start one), add this artifact, write it back.
    let tag = repo.with_tag(&subject.replace(':', "-"));
    let mut index = match regs.manifest_digest(&tag).await? {
        Some(_) => {
            match manifest::parse(&regs.manifest(&tag).await?.0, OCI_INDEX, &tag.to_string())? {
                Parsed::Index(i) => i,
                Parsed::Image(_) => {
                    return Err(Error::Registry {
                        registry: repo.registry.clone(),
                        message: format!(
                            "{tag} holds an image, not the referrers index the OCI tag schema puts there"
                        ),
                        hint: Some(format!(
                            "delete the tag {tag} (it is reserved for referrers) and push again"
                        )),
                    });
                }
            }
        }
        None => Index {
            schema_version: 2,
            media_type: Some(OCI_INDEX.into()),
            manifests: Vec::new(),
            annotations: None,
        },
    };
    index.manifests.retain(|d| d.digest != art.manifest.digest);
    index.manifests.push(art.manifest.clone());
    let bytes = manifest::canonical(&index);
    regs.put_manifest(&tag, &bytes, OCI_INDEX).await?;
    Ok(())
}

/// The SBOM artifacts attached to `image` (`repo@sha256:…`), fetched with their blobs into
/// `cache`, each checked to name `image` as its subject.
///
/// # Errors
/// Registry errors; an artifact whose subject is another image.
pub async fn fetch(
    regs: &Registries,
    image: &Reference,
    cache: &BlobStore,
) -> Result<Vec<StoredImage>> {
    let digest = image.digest.clone().unwrap_or_default();
    let repo = Reference::repo(&image.registry, &image.repository);
    let mut out = Vec::new();
    for d in regs.referrers(image).await? {
        if !may_be_sbom(&d) {
            continue;
        }
        let (bytes, got) = regs.manifest(&repo.with_digest(&d.digest)).await?;
        if got != d.digest || sha256(&bytes) != d.digest {
            return Err(Error::DigestMismatch {
                what: format!("SBOM manifest of {image}"),
                expected: d.digest.clone(),
                actual: sha256(&bytes),
            });
        }
        if artifact_type_of(&bytes).as_deref() != Some(MEDIA_TYPE) {
            continue;
        }
        if subject_of(&bytes).as_deref() != Some(digest.as_str()) {
            return Err(Error::Malformed {
                what: format!("SBOM {} listed for {image}", d.digest),
                expected: "an artifact whose subject is the image",
                message: format!("its subject is {:?}", subject_of(&bytes)),
            });
        }
        cache.put(&bytes)?;
        let Parsed::Image(m) = manifest::parse(&bytes, OCI_MANIFEST, &d.digest)? else {
            continue;
        };
        let mut blobs = vec![m.config.clone()];
        blobs.extend(m.layers.iter().cloned());
        for b in &blobs {
            regs.pull_blob(&repo, &b.digest, cache).await?;
        }
        let mut desc = Descriptor::new(OCI_MANIFEST, &d.digest, bytes.len() as u64);
        desc.artifact_type = Some(MEDIA_TYPE.into());
        // The manifest's own (`created`, for `newest`), not the listing's.
        desc.annotations.clone_from(&m.annotations);
        out.push(StoredImage {
            manifest: desc,
            manifest_bytes: bytes,
            blobs,
        });
    }
    Ok(out)
}

/// The document an artifact holds (its `application/spdx+json` layer, from `store`).
///
/// # Errors
/// No such layer, or a blob missing from `store`.
pub fn document(art: &StoredImage, store: &BlobStore) -> Result<Vec<u8>> {
    let layer = art
        .blobs
        .iter()
        .find(|b| b.media_type == MEDIA_TYPE)
        .ok_or_else(|| Error::Malformed {
            what: format!("SBOM artifact {}", art.manifest.digest),
            expected: "a layer of type application/spdx+json",
            message: "none".into(),
        })?;
    let bytes = store.read(&layer.digest)?;
    if sha256(&bytes) != layer.digest {
        return Err(Error::DigestMismatch {
            what: format!("SBOM {}", layer.digest),
            expected: layer.digest.clone(),
            actual: sha256(&bytes),
        });
    }
    Ok(bytes)
}

/// Pick one SBOM of several (a newer prisn may have attached another): the newest by
/// its `created` annotation, then by digest, so the choice does not depend on list order.
pub fn newest(arts: &[StoredImage]) -> Option<&StoredImage> {
    arts.iter().max_by_key(|a| {
        (
            a.manifest
                .annotations
                .as_ref()
                .and_then(|m| m.get(CREATED).cloned())
                .unwrap_or_default(),
            a.manifest.digest.clone(),
        )
    })
}

/// The SBOM artifacts of `lay` whose subject is `digest`.
///
/// # Errors
/// An unreadable layout.
pub fn in_layout(lay: &Layout, digest: &str) -> Result<Vec<StoredImage>> {
    Ok(lay
        .images()?
        .into_iter()
        .filter(|i| i.manifest.artifact_type.as_deref() == Some(MEDIA_TYPE))
        .filter(|i| subject_of(&i.manifest_bytes).as_deref() == Some(digest))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_artifact_names_its_subject_and_is_deterministic() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::new(dir.path());
        let subject = Descriptor::new(OCI_MANIFEST, &format!("sha256:{}", "a".repeat(64)), 7);
        let a = artifact(
            &store,
            b"{\"spdxVersion\":\"SPDX-2.3\"}",
            &subject,
            "1970-01-01T00:00:00Z",
        )
        .unwrap();
        let b = artifact(
            &store,
            b"{\"spdxVersion\":\"SPDX-2.3\"}",
            &subject,
            "1970-01-01T00:00:00Z",
        )
        .unwrap();
        assert_eq!(a.manifest, b.manifest, "same SBOM, same artifact digest");
        assert_eq!(subject_of(&a.manifest_bytes), Some(subject.digest.clone()));
        assert_eq!(a.manifest.artifact_type.as_deref(), Some(MEDIA_TYPE));
        let v: serde_json::Value = serde_json::from_slice(&a.manifest_bytes).unwrap();
        assert_eq!(v["config"]["mediaType"], EMPTY_MEDIA_TYPE);
        assert_eq!(v["subject"]["size"], 7);
        assert_eq!(
            document(&a, &store).unwrap(),
            b"{\"spdxVersion\":\"SPDX-2.3\"}"
        );
        // A changed blob is noticed.
        let blob = store.path(&a.blobs[1].digest);
        std::fs::remove_file(&blob).unwrap();
        std::fs::write(&blob, b"{}").unwrap();
        assert!(document(&a, &store).is_err());
    }

    /// What a registry lists decides what is fetched; the manifest decides what counts.
    #[test]
    fn a_listed_referrer_is_judged_by_its_own_manifest() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::new(dir.path());
        let subject = Descriptor::new(OCI_MANIFEST, &format!("sha256:{}", "b".repeat(64)), 9);
        let a = artifact(&store, b"{}", &subject, "1970-01-01T00:00:00Z").unwrap();
        assert_eq!(
            artifact_type_of(&a.manifest_bytes).as_deref(),
            Some(MEDIA_TYPE)
        );
        assert_eq!(artifact_type_of(b"{\"schemaVersion\":2}"), None);
        let listed = |t: Option<&str>| {
            let mut d = a.manifest.clone();
            d.artifact_type = t.map(str::to_string);
            may_be_sbom(&d)
        };
        // As the spec lists it, as go-containerregistry's registry does (the config's
        // media type), and untyped: fetched. A signature: not.
        assert!(listed(Some(MEDIA_TYPE)));
        assert!(listed(Some(EMPTY_MEDIA_TYPE)));
        assert!(listed(None));
        assert!(!listed(Some(
            "application/vnd.dev.cosign.artifact.sig.v1+json"
        )));
    }
}
