//! Talking to registries: one oci-client per host (protocol, TLS and credentials decided per
//! host), retries with backoff for transient failures, and errors that say what to do.
//!
//! Protocol per host, as Docker decides it: plain HTTP for localhost, 127.0.0.0/8 and ::1;
//! for a host configured as insecure, HTTPS without certificate checks if it speaks TLS, else
//! plain HTTP; HTTPS with the system roots plus any configured CA for everything else.
//!
//! oci-client traps handled here (crates.md §6): `Client::new` silently falls back to a
//! default client, so we use `try_from`; a mount the registry cannot do answers 202, which
//! oci-client reports as a `SpecViolationError`, and the caller falls back to an upload.

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::errors::OciDistributionError;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, RegistryOperation};

use super::auth::AuthFiles;
use super::blobs::BlobStore;
use super::manifest;
use super::reference::{Reference, is_loopback_host};
use super::registry_errors::{HostInfo, classify, is_transient, is_unauthorized};
use crate::error::{Error, Result};
use crate::reporter::{Event, Reporter};

/// How to reach registries.
#[derive(Debug, Clone)]
pub struct RegistryOptions {
    /// Hosts (`host[:port]`) that may be reached over plain HTTP or with a certificate that
    /// does not verify. Loopback hosts never need to be listed.
    pub insecure: Vec<String>,
    /// PEM files with extra CA certificates trusted for every registry.
    pub ca_files: Vec<PathBuf>,
    /// Where credentials are looked up.
    pub auth: AuthFiles,
    /// Extra attempts after a transient failure (connection refused or reset, timeout, 5xx).
    pub retries: u32,
    /// Delay before the first retry; doubles each time.
    pub backoff: Duration,
    /// Refuse all network access (`--offline`) except to `offline_allowed`.
    pub offline: bool,
    /// Hosts (`host[:port]`) still reached with `offline`: a build's own target registry and
    /// its base's (`--offline` means no package index and no *other* registry).
    pub offline_allowed: Vec<String>,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        Self {
            insecure: Vec::new(),
            ca_files: Vec::new(),
            auth: AuthFiles::default(),
            retries: 3,
            backoff: Duration::from_millis(250),
            offline: false,
            offline_allowed: Vec::new(),
        }
    }
}

/// One host's client and what we know about it.
struct Host {
    registry: String,
    client: Client,
    auth: RegistryAuth,
    /// For 401 messages: which credentials were sent.
    tried: String,
    scheme: &'static str,
}

impl Host {
    fn info(&self) -> HostInfo<'_> {
        HostInfo {
            registry: &self.registry,
            scheme: self.scheme,
            basic: matches!(self.auth, RegistryAuth::Basic(..)),
            tried: &self.tried,
        }
    }
}

/// Clients for every registry this run talks to, made on first use.
pub struct Registries {
    opts: RegistryOptions,
    hosts: Mutex<HashMap<String, Arc<Host>>>,
}

/// Blob bytes per upload request and per progress step (oci-client's own chunk size).
const CHUNK: usize = 4 << 20;

impl Registries {
    pub fn new(opts: RegistryOptions) -> Self {
        Self {
            opts,
            hosts: Mutex::new(HashMap::new()),
        }
    }

    pub fn options(&self) -> &RegistryOptions {
        &self.opts
    }

    /// Whether `--offline` keeps this run away from `registry` (`host[:port]`).
    pub fn offline_for(&self, registry: &str) -> bool {
        self.opts.offline && !self.opts.offline_allowed.iter().any(|h| h == registry)
    }

    async fn host(&self, registry: &str) -> Result<Arc<Host>> {
        if self.offline_for(registry) {
            return Err(Error::offline(
                format!("{registry} would have to be contacted"),
                "run once without --offline so the caches fill, or drop --offline".into(),
            ));
        }
        if let Some(h) = self.hosts.lock().expect("host map lock").get(registry) {
            return Ok(Arc::clone(h));
        }
        let host = Arc::new(self.make_host(registry).await?);
        self.hosts
            .lock()
            .expect("host map lock")
            .insert(registry.to_string(), Arc::clone(&host));
        Ok(host)
    }

    async fn make_host(&self, registry: &str) -> Result<Host> {
        let insecure = self.opts.insecure.iter().any(|h| h == registry);
        // Loopback and insecure hosts may speak plain HTTP; if they answer TLS, TLS it is.
        // Certificates are checked unless the host is listed as insecure.
        let (protocol, scheme, accept_invalid) = if is_loopback_host(registry) || insecure {
            if speaks_tls(registry).await {
                (ClientProtocol::Https, "https", insecure)
            } else {
                (ClientProtocol::Http, "http", false)
            }
        } else {
            (ClientProtocol::Https, "https", false)
        };
        let mut roots = Vec::new();
        for f in &self.opts.ca_files {
            roots.push(Certificate {
                encoding: CertificateEncoding::Pem,
                data: std::fs::read(f).map_err(Error::io("read the CA certificate", f))?,
            });
        }
        let client = Client::try_from(ClientConfig {
            protocol,
            accept_invalid_certificates: accept_invalid,
            extra_root_certificates: roots,
            connect_timeout: Some(Duration::from_secs(10)),
            read_timeout: Some(Duration::from_secs(120)),
            ..Default::default()
        })
        .map_err(|e| Error::Registry {
            registry: registry.to_string(),
            message: format!("cannot set up a client: {e}"),
            hint: Some("check the CA files given with --registry-ca".into()),
        })?;
        let (auth, tried) = match self.opts.auth.lookup(registry)? {
            Some(c) => (
                RegistryAuth::Basic(c.username.clone(), c.password.clone()),
                format!("user {:?} from {}", c.username, c.source.display()),
            ),
            None => (
                RegistryAuth::Anonymous,
                format!(
                    "none (no entry for {registry} in {})",
                    self.opts.auth.describe()
                ),
            ),
        };
        client.store_auth_if_needed(registry, &auth).await;
        Ok(Host {
            registry: registry.to_string(),
            client,
            auth,
            tried,
            scheme,
        })
    }

    /// Run `f` with retries on transient failures; map the final error.
    async fn retry<T, F, Fut>(&self, host: &Host, what: &str, mut f: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = std::result::Result<T, OciDistributionError>>,
    {
        let mut attempt = 0;
        loop {
            match f().await {
                Ok(v) => return Ok(v),
                Err(e) if attempt < self.opts.retries && is_transient(&e) => {
                    let delay = self.opts.backoff * 2u32.saturating_pow(attempt);
                    tracing::debug!(%what, attempt, ?delay, error = %e, "retrying");
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                Err(e) => return Err(classify(&host.info(), what, e, attempt)),
            }
        }
    }

    /// Resolve `r` to a single-platform image manifest: `(bytes, digest)`. An index is
    /// resolved to the entry for `platform` (`os/arch`, e.g. `linux/amd64`).
    pub async fn image_manifest(&self, r: &Reference, platform: &str) -> Result<(Vec<u8>, String)> {
        let (bytes, digest) = self.manifest(r).await?;
        match manifest::parse(&bytes, "", &r.to_string())? {
            manifest::Parsed::Image(_) => Ok((bytes, digest)),
            manifest::Parsed::Index(index) => {
                let (os, arch) = platform.split_once('/').unwrap_or(("linux", platform));
                let entry = index
                    .manifests
                    .iter()
                    .find(|m| {
                        m.platform
                            .as_ref()
                            .is_some_and(|p| p.os == os && p.architecture == arch)
                    })
                    .ok_or_else(|| {
                        let have: Vec<String> = index
                            .manifests
                            .iter()
                            .filter_map(|m| m.platform.as_ref())
                            .map(|p| format!("{}/{}", p.os, p.architecture))
                            .collect();
                        Error::NoPlatform {
                            reference: r.to_string(),
                            platform: platform.to_string(),
                            have: have.clone(),
                        }
                    })?;
                let (bytes, digest) = self.manifest(&r.with_digest(&entry.digest)).await?;
                Ok((bytes, digest))
            }
        }
    }

    /// GET a manifest as stored (any accepted media type). The digest is checked against
    /// the bytes when `r` names one.
    pub async fn manifest(&self, r: &Reference) -> Result<(Vec<u8>, String)> {
        let host = self.host(&r.registry).await?;
        let oci = r.to_oci();
        let (bytes, digest) = self
            .retry(&host, &format!("get manifest {r}"), || {
                host.client
                    .pull_manifest_raw(&oci, &host.auth, manifest::ACCEPTED)
            })
            .await?;
        Ok((bytes.to_vec(), digest))
    }

    /// HEAD a manifest: its digest, or `None` when the registry does not have it.
    pub async fn manifest_digest(&self, r: &Reference) -> Result<Option<String>> {
        let host = self.host(&r.registry).await?;
        let oci = r.to_oci();
        let res = self
            .retry(&host, &format!("check manifest {r}"), || {
                host.client.fetch_manifest_digest(&oci, &host.auth)
            })
            .await;
        match res {
            Ok(d) => Ok(Some(d)),
            Err(Error::Registry { message, .. }) if message.contains("not found") => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Does `repo` (a reference whose tag/digest is ignored) have the blob?
    pub async fn blob_exists(&self, repo: &Reference, digest: &str) -> Result<bool> {
        let host = self.host(&repo.registry).await?;
        let oci = repo.with_digest(digest).to_oci();
        let res = self
            .retry(
                &host,
                &format!("check blob {digest} in {}", repo.name()),
                || host.client.blob_exists(&oci, digest),
            )
            .await;
        match res {
            // A registry killed while writing can keep answering 5xx for that blob (CNCF
            // distribution writes its link files in place). Not knowing is not "yes":
            // upload it again — content-addressed, so a second copy is harmless.
            Err(Error::Registry { message, .. }) if message.contains("server error") => {
                tracing::warn!(%digest, %message, "cannot tell whether the registry has the blob; uploading it");
                Ok(false)
            }
            other => other,
        }
    }

    /// Download a blob into `store`, verified against its digest. Returns its path.
    pub async fn pull_blob(
        &self,
        repo: &Reference,
        digest: &str,
        store: &BlobStore,
    ) -> Result<PathBuf> {
        if store.has(digest) {
            return Ok(store.path(digest));
        }
        let host = self.host(&repo.registry).await?;
        let oci = repo.with_digest(digest).to_oci();
        let tmp = store.temp_file()?;
        self.retry(
            &host,
            &format!("download blob {digest} from {}", repo.name()),
            || {
                let file = tmp.reopen();
                let oci = &oci;
                let host = &host;
                async move {
                    let file = tokio::fs::File::from_std(file?);
                    file.set_len(0).await?;
                    host.client.pull_blob(oci, digest, file).await
                }
            },
        )
        .await?;
        // pull_blob verified the digest while streaming; commit by rename.
        store.commit(tmp, digest)
    }

    /// Cross-repository mount of `digest` from `from` into `to` (same registry). `false` when
    /// the registry declined (it answers 202 and expects an upload instead).
    pub async fn mount(&self, to: &Reference, from: &Reference, digest: &str) -> Result<bool> {
        let host = self.host(&to.registry).await?;
        let (to_oci, from_oci) = (to.to_oci(), from.to_oci());
        self.retry(
            &host,
            &format!("mount {digest} from {}", from.name()),
            || async {
                match host.client.mount_blob(&to_oci, &from_oci, digest).await {
                    Ok(()) => Ok(true),
                    // 202: the registry wants an upload instead.
                    Err(OciDistributionError::SpecViolationError(_)) => Ok(false),
                    Err(e) if !is_transient(&e) && !is_unauthorized(&e) => Ok(false),
                    Err(e) => Err(e),
                }
            },
        )
        .await
    }

    /// Upload a blob from a file, reporting progress. Small blobs go up in one piece.
    /// A registry that takes the blob without saying where it is now is fine: see [`landed`].
    pub async fn push_blob_file(
        &self,
        repo: &Reference,
        digest: &str,
        path: &Path,
        size: u64,
        reporter: &dyn Reporter,
    ) -> Result<()> {
        let host = self.host(&repo.registry).await?;
        let oci = repo.with_digest(digest).to_oci();
        reporter.report(Event::UploadStart {
            digest: digest.to_string(),
            total: size,
        });
        let what = format!("upload blob {digest} to {}", repo.name());
        if size as usize <= CHUNK {
            let data = std::fs::read(path).map_err(Error::io("read", path))?;
            self.retry(&host, &what, || async {
                let res = host.client.push_blob(&oci, data.clone(), digest).await;
                landed(&host, &oci, digest, res).await
            })
            .await?;
            reporter.report(Event::UploadProgress {
                digest: digest.to_string(),
                bytes: size,
            });
        } else {
            // Retries restart the blob from its first byte: a new upload session each time.
            let sent_total = Arc::new(AtomicU64::new(0));
            let mut reported = 0u64;
            let mut attempt = 0;
            loop {
                let sent = Arc::new(AtomicU64::new(0));
                let stream = file_stream(path, Arc::clone(&sent))?;
                let push = host
                    .client
                    .push_blob_stream(&oci, stream, digest, Some(size));
                tokio::pin!(push);
                let res = loop {
                    tokio::select! {
                        res = &mut push => break landed(&host, &oci, digest, res).await,
                        _ = tokio::time::sleep(Duration::from_millis(100)) => {
                            let now = sent.load(Ordering::Relaxed).max(sent_total.load(Ordering::Relaxed));
                            if now > reported {
                                reporter.report(Event::UploadProgress { digest: digest.to_string(), bytes: now - reported });
                                reported = now;
                            }
                        }
                    }
                };
                match res {
                    Ok(_) => break,
                    Err(e) if attempt < self.opts.retries && is_transient(&e) => {
                        sent_total.store(reported, Ordering::Relaxed);
                        tokio::time::sleep(self.opts.backoff * 2u32.saturating_pow(attempt)).await;
                        attempt += 1;
                    }
                    Err(e) => return Err(classify(&host.info(), &what, e, attempt)),
                }
            }
            if size > reported {
                reporter.report(Event::UploadProgress {
                    digest: digest.to_string(),
                    bytes: size - reported,
                });
            }
        }
        reporter.report(Event::UploadDone {
            digest: digest.to_string(),
            skipped: false,
        });
        Ok(())
    }

    /// PUT manifest bytes under `r`'s tag (or digest). Returns the manifest digest.
    pub async fn put_manifest(
        &self,
        r: &Reference,
        bytes: &[u8],
        media_type: &str,
    ) -> Result<String> {
        let host = self.host(&r.registry).await?;
        // By digest, the digest is the reference's tag too. oci-client works around a 201
        // without `Location` (AWS ECR, go-containerregistry's registry) by cutting the tag
        // off the URL, and panics when the URL ends in a digest instead ("The manifest URL
        // always ends with the image tag suffix"); the URL is the same either way.
        let oci = match &r.digest {
            Some(d) => oci_client::Reference::with_tag_and_digest(
                r.registry.clone(),
                r.repository.clone(),
                d.clone(),
                d.clone(),
            ),
            None => r.to_oci(),
        };
        let content_type =
            reqwest::header::HeaderValue::from_str(media_type).map_err(|_| Error::MediaType {
                media_type: media_type.to_string(),
            })?;
        let body = bytes::Bytes::copy_from_slice(bytes);
        self.retry(&host, &format!("put manifest {r}"), || {
            host.client
                .push_manifest_raw(&oci, body.clone(), content_type.clone())
        })
        .await?;
        Ok(format!("sha256:{}", crate::digest::sha256_hex(bytes)))
    }

    /// The referrers of `r` (pinned by digest), all of them: the registry's referrers API,
    /// or the `sha256-<hex>` tag index where the registry has none (oci-client falls back
    /// on a 404, as the distribution spec says). Nothing listed → empty. Unfiltered, because
    /// the `artifactType` a registry lists is its own summary (see
    /// [`crate::image::referrers`]); no `?artifactType=` filter for the same reason.
    pub async fn referrers(&self, r: &Reference) -> Result<Vec<manifest::Descriptor>> {
        let host = self.host(&r.registry).await?;
        let oci = r.to_oci();
        let index = self
            .retry(&host, &format!("list the referrers of {r}"), || {
                host.client.pull_referrers(&oci, None)
            })
            .await
            .map_err(|e| match e {
                Error::Registry {
                    registry,
                    message,
                    hint: None,
                } if message.contains("tag schema") => Error::Registry {
                    registry,
                    message,
                    hint: Some(format!(
                        "the tag {} is reserved for the image's referrers index (OCI distribution spec); move what is there to another tag and try again",
                        r.digest.as_deref().unwrap_or_default().replace(':', "-")
                    )),
                },
                other => other,
            })?;
        let json = serde_json::to_vec(&index).expect("an index serialises");
        let index: manifest::Index =
            serde_json::from_slice(&json).map_err(|e| Error::Malformed {
                what: format!("referrers of {r}"),
                expected: "not an OCI index",
                message: e.to_string(),
            })?;
        Ok(index.manifests)
    }

    /// Check credentials: authenticate for push on `registry` and make one request.
    pub async fn check_login(&self, registry: &str) -> Result<()> {
        let host = self.host(registry).await?;
        let probe = Reference::repo(registry, "prisn/login-check").with_tag("latest");
        let oci = probe.to_oci();
        let auth = host
            .client
            .auth(&oci, &host.auth, RegistryOperation::Pull)
            .await;
        if let Err(e) = auth {
            return Err(classify(&host.info(), "log in", e, 0));
        }
        match self.manifest_digest(&probe).await {
            Ok(_) => Ok(()),
            Err(e @ Error::Unauthorized { .. }) => Err(e),
            // Anything but 401 (404, 403 on that one repository) means we got in.
            Err(Error::Registry { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The scheme used for `registry` (for messages and tests).
    pub async fn scheme(&self, registry: &str) -> Result<&'static str> {
        Ok(self.host(registry).await?.scheme)
    }
}

/// `res` of a blob upload, except that a "no Location header" failure becomes success when
/// the blob is there. The distribution spec requires `Location` on the 201 that completes an
/// upload and oci-client refuses a 201 without it, but go-containerregistry's registry
/// (`pkg/registry`, v0.22; ko's and crane's test registry) sends none: the upload did land,
/// and a HEAD says so. The same error from the upload's first POST (no session to upload
/// to) leaves no blob, so it stays an error.
async fn landed(
    host: &Host,
    oci: &oci_client::Reference,
    digest: &str,
    res: std::result::Result<String, OciDistributionError>,
) -> std::result::Result<String, OciDistributionError> {
    if let Err(OciDistributionError::RegistryNoLocationError) = &res
        && let Ok(true) = host.client.blob_exists(oci, digest).await
    {
        tracing::debug!(%digest, "upload completed without a Location header; the blob is there");
        return Ok(String::new());
    }
    res
}

/// Does `registry` answer a TLS handshake (any HTTP status counts)?
async fn speaks_tls(registry: &str) -> bool {
    let Ok(client) = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(10))
        .build()
    else {
        return false;
    };
    client
        .get(format!("https://{registry}/v2/"))
        .send()
        .await
        .is_ok()
}

fn file_stream(
    path: &Path,
    sent: Arc<AtomicU64>,
) -> Result<
    impl futures::Stream<Item = std::result::Result<bytes::Bytes, OciDistributionError>>
    + Send
    + 'static,
> {
    use std::io::Read;
    let mut file = std::fs::File::open(path).map_err(Error::io("read", path))?;
    Ok(futures::stream::iter(std::iter::from_fn(move || {
        let mut buf = vec![0u8; CHUNK];
        let mut filled = 0;
        while filled < CHUNK {
            match file.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) => return Some(Err(OciDistributionError::IoError(e))),
            }
        }
        if filled == 0 {
            return None;
        }
        buf.truncate(filled);
        sent.fetch_add(filled as u64, Ordering::Relaxed);
        Some(Ok(bytes::Bytes::from(buf)))
    })))
}
