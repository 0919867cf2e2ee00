//! Push an image: HEAD before upload, mount from the base's repository when it is on the
//! same registry, copy base layers across registries, then the manifest. Nothing the
//! registry has is sent again, so a push that died half-way resumes where it stopped.
//!
//! Order of work (go-containerregistry's `remote.Write` does the same):
//! 1. the manifest by digest: if the registry has it, it has every blob, so only the tag is
//!    (re)written;
//! 2. each blob: exists → skip; base blob on the same registry → mount (202 → upload);
//!    otherwise upload from the local cache, fetching a base blob from the base's registry
//!    first when it is not cached;
//! 3. the manifest, under the tag if there is one (by digest otherwise).
//!
//! `build` starts step 2 early ([`Early`]): the base's layers while the dependencies install,
//! each of its own layers as soon as it is packed; [`push_with`] then sends only what is left
//! (the config) and the manifest, and sums up every blob as one push would. A build that fails
//! after an early upload leaves unreferenced blobs, as a push that dies half-way does
//! (registries collect them; the next push finds them there).

use std::collections::HashSet;

use futures::{StreamExt, TryStreamExt};
use serde::Serialize;

use super::base::Base;
use super::blobs::BlobStore;
use super::layout::StoredImage;
use super::manifest::Descriptor;
use super::reference::Reference;
use super::registry::Registries;
use crate::error::{Error, Result};
use crate::reporter::{Event, Reporter};

/// Where blobs that are not in the local cache can come from.
#[derive(Debug, Clone)]
pub struct Upstream {
    /// The base, pinned (`registry/repo@sha256:…`).
    pub reference: Reference,
    /// The digests that live there (the base's layers).
    pub blobs: HashSet<String>,
}

impl Upstream {
    /// The base an image is pushed on top of: its layers can be mounted, not uploaded.
    pub fn base(base: &Base) -> Self {
        Upstream {
            reference: base.pinned(),
            blobs: base
                .manifest
                .layers
                .iter()
                .map(|d| d.digest.clone())
                .collect(),
        }
    }
}

/// What a push did.
#[derive(Debug, Clone, Serialize)]
pub struct Pushed {
    /// `registry/repo@sha256:…`
    pub reference: String,
    pub digest: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// Blobs sent over the wire.
    pub uploaded: Vec<String>,
    /// Blobs mounted from the base's repository.
    pub mounted: Vec<String>,
    /// Blobs the registry already had.
    pub existing: Vec<String>,
    pub bytes_uploaded: u64,
}

#[derive(Debug, Clone, Copy)]
enum Outcome {
    Existing,
    Mounted,
    Uploaded(u64),
}

/// Blobs pushed to a target before their image's manifest exists (while the rest of the image
/// is being built), and what became of each: [`push_with`] counts them and skips them.
#[derive(Debug, Default)]
pub struct Early {
    done: std::sync::Mutex<Vec<(String, Outcome)>>,
    /// The target's tag looked up once first, as [`push`] starts with its manifest: that
    /// request authenticates for the repository (and says which credentials a 401 refused).
    checked: tokio::sync::OnceCell<()>,
}

impl Early {
    /// Push `blobs` (in `local`, or the base's at `upstream`) to `target`'s repository now,
    /// as [`push`] would: there → skipped, the base's → mounted, else uploaded.
    ///
    /// # Errors
    /// As [`push`].
    pub async fn push(
        &self,
        regs: &Registries,
        target: &Reference,
        blobs: &[Descriptor],
        local: &BlobStore,
        upstream: Option<&Upstream>,
        reporter: &dyn Reporter,
    ) -> Result<()> {
        self.checked
            .get_or_try_init(|| async { regs.manifest_digest(target).await.map(|_| ()) })
            .await?;
        let repo = Reference::repo(&target.registry, &target.repository);
        let done = push_blobs(regs, &repo, blobs.iter(), local, upstream, reporter).await?;
        self.done
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(done);
        Ok(())
    }

    fn take(&self) -> Vec<(String, Outcome)> {
        std::mem::take(&mut *self.done.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// How many blobs go up at once.
const PARALLEL: usize = 4;

/// Push `image` (blobs in `local`, base blobs possibly `upstream`) to `target`.
///
/// # Errors
/// Registry errors (after retries), or a blob that is neither local nor upstream.
pub async fn push(
    regs: &Registries,
    target: &Reference,
    image: &StoredImage,
    local: &BlobStore,
    upstream: Option<&Upstream>,
    reporter: &dyn Reporter,
) -> Result<Pushed> {
    let none = Early::default();
    push_with(regs, target, image, local, upstream, &none, reporter).await
}

/// [`push`], after `early` pushed some of the image's blobs: those are not sent or checked
/// again, and count in the summary as what they were.
///
/// # Errors
/// As [`push`].
pub async fn push_with(
    regs: &Registries,
    target: &Reference,
    image: &StoredImage,
    local: &BlobStore,
    upstream: Option<&Upstream>,
    early: &Early,
    reporter: &dyn Reporter,
) -> Result<Pushed> {
    let digest = image.manifest.digest.clone();
    let repo = Reference::repo(&target.registry, &target.repository);
    let mut pushed = Pushed {
        reference: repo.with_digest(&digest).to_string(),
        digest: digest.clone(),
        tag: target.tag.clone(),
        uploaded: Vec::new(),
        mounted: Vec::new(),
        existing: Vec::new(),
        bytes_uploaded: 0,
    };
    let have_manifest = regs
        .manifest_digest(&repo.with_digest(&digest))
        .await?
        .is_some();
    let mut outcomes = early.take();
    let rest: Vec<&Descriptor> = image
        .blobs
        .iter()
        .filter(|b| !outcomes.iter().any(|(d, _)| *d == b.digest))
        .collect();
    if have_manifest {
        // The registry has the manifest, so it has every blob.
        for b in rest {
            outcomes.push((b.digest.clone(), Outcome::Existing));
            reporter.report(Event::UploadDone {
                digest: b.digest.clone(),
                skipped: true,
            });
        }
    } else {
        outcomes
            .extend(push_blobs(regs, &repo, rest.into_iter(), local, upstream, reporter).await?);
    }
    // Report in manifest order, not completion order.
    for b in &image.blobs {
        if let Some((d, o)) = outcomes.iter().find(|(d, _)| *d == b.digest) {
            match o {
                Outcome::Existing => pushed.existing.push(d.clone()),
                Outcome::Mounted => pushed.mounted.push(d.clone()),
                Outcome::Uploaded(n) => {
                    pushed.uploaded.push(d.clone());
                    pushed.bytes_uploaded += n;
                }
            }
        }
    }
    let manifest_ref = match &target.tag {
        Some(t) => repo.with_tag(t),
        None => repo.with_digest(&digest),
    };
    if target.tag.is_some() || !have_manifest {
        let got = regs
            .put_manifest(
                &manifest_ref,
                &image.manifest_bytes,
                &image.manifest.media_type,
            )
            .await?;
        if got != digest {
            return Err(Error::DigestMismatch {
                what: format!("manifest pushed to {manifest_ref}"),
                expected: digest,
                actual: got,
            });
        }
    }
    Ok(pushed)
}

/// Every blob of `blobs` to `repo`, [`PARALLEL`] at a time.
async fn push_blobs(
    regs: &Registries,
    repo: &Reference,
    blobs: impl Iterator<Item = &Descriptor>,
    local: &BlobStore,
    upstream: Option<&Upstream>,
    reporter: &dyn Reporter,
) -> Result<Vec<(String, Outcome)>> {
    futures::stream::iter(blobs)
        .map(|blob| async move {
            let o = push_blob(
                regs,
                repo,
                &blob.digest,
                blob.size,
                local,
                upstream,
                reporter,
            )
            .await?;
            Ok::<_, Error>((blob.digest.clone(), o))
        })
        .buffer_unordered(PARALLEL)
        .try_collect()
        .await
}

async fn push_blob(
    regs: &Registries,
    repo: &Reference,
    digest: &str,
    size: u64,
    local: &BlobStore,
    upstream: Option<&Upstream>,
    reporter: &dyn Reporter,
) -> Result<Outcome> {
    let skipped = |o: Outcome| {
        reporter.report(Event::UploadDone {
            digest: digest.to_string(),
            skipped: true,
        });
        Ok(o)
    };
    if regs.blob_exists(repo, digest).await? {
        return skipped(Outcome::Existing);
    }
    let from = upstream.filter(|u| u.blobs.contains(digest));
    if let Some(u) = from
        && u.reference.registry == repo.registry
        && u.reference.repository != repo.repository
        && regs.mount(repo, &u.reference, digest).await?
    {
        return skipped(Outcome::Mounted);
    }
    if !local.has(digest) {
        match from {
            Some(u) => {
                regs.pull_blob(&u.reference, digest, local).await?;
            }
            None => {
                return Err(Error::BlobNotCached {
                    digest: digest.to_string(),
                    cache: local.root().to_path_buf(),
                });
            }
        }
    }
    regs.push_blob_file(repo, digest, &local.path(digest), size, reporter)
        .await?;
    Ok(Outcome::Uploaded(size))
}

/// After a push: the registry serves the manifest with the same digest and has every blob.
///
/// # Errors
/// [`Error::DigestMismatch`] or a registry error naming what is missing.
pub async fn verify(regs: &Registries, target: &Reference, image: &StoredImage) -> Result<()> {
    let repo = Reference::repo(&target.registry, &target.repository);
    let (bytes, digest) = regs
        .manifest(&repo.with_digest(&image.manifest.digest))
        .await?;
    let actual = crate::digest::sha256(&bytes);
    if digest != image.manifest.digest || actual != image.manifest.digest {
        return Err(Error::DigestMismatch {
            what: format!("manifest of {target} as the registry serves it"),
            expected: image.manifest.digest.clone(),
            actual,
        });
    }
    for b in &image.blobs {
        if !regs.blob_exists(&repo, &b.digest).await? {
            return Err(Error::Registry {
                registry: repo.registry.clone(),
                message: format!("blob {} of {target} is missing after the push", b.digest),
                hint: Some("push again; the registry may be dropping uploads".into()),
            });
        }
    }
    if let Some(tag) = &target.tag {
        let tagged = regs.manifest_digest(&repo.with_tag(tag)).await?;
        if tagged.as_deref() != Some(image.manifest.digest.as_str()) {
            return Err(Error::DigestMismatch {
                what: format!("tag {target}"),
                expected: image.manifest.digest.clone(),
                actual: tagged.unwrap_or_else(|| "nothing".into()),
            });
        }
    }
    Ok(())
}
