//! Downloads from the mirror: small files into memory, indexes and `.deb`s into a
//! content-addressed cache (`$PRISN_HOME/cache/debian-v1/sha256/<hex>`), each checked
//! against the sha256 that the signed Release (or base.lock) names before it is kept.
//!
//! A file already in the cache is never downloaded again, so a warm build needs no network
//! for packages. Transient failures (connection errors, 5xx, 429) are retried with backoff;
//! a 404 or a wrong hash is not (it will not get better).

use std::path::PathBuf;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};

use super::lock::Pin;
use crate::error::{Error, Result};
use crate::image::blobs::{BlobStore, HashingWriter};

/// How many downloads run at once.
const PARALLEL: usize = 6;

/// An HTTP client for one mirror, with retries.
#[derive(Debug, Clone)]
pub struct Http {
    client: reqwest::Client,
    retries: u32,
    backoff: Duration,
}

impl Http {
    /// # Errors
    /// When the HTTP client cannot be set up (no TLS provider installed).
    pub fn new(retries: u32) -> Result<Http> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(20))
            .user_agent(concat!("prisn/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::tool(format!("cannot set up the HTTP client: {e}"), None))?;
        Ok(Http {
            client,
            retries,
            backoff: Duration::from_millis(300),
        })
    }

    /// GET `url` with retries; the response is 2xx.
    async fn get(&self, url: &str) -> Result<reqwest::Response> {
        let mut attempt = 0;
        loop {
            let outcome = self.client.get(url).send().await;
            let transient = match &outcome {
                Ok(r) => r.status().is_server_error() || r.status().as_u16() == 429,
                Err(e) => e.is_connect() || e.is_timeout() || e.is_request(),
            };
            if transient && attempt < self.retries {
                tokio::time::sleep(self.backoff * 2u32.saturating_pow(attempt)).await;
                attempt += 1;
                continue;
            }
            let after = if attempt > 0 {
                format!(" (after {} attempts)", attempt + 1)
            } else {
                String::new()
            };
            return match outcome {
                Ok(r) if r.status().is_success() => Ok(r),
                Ok(r) => Err(Error::Archive {
                    what: url.to_string(),
                    message: format!("the mirror answered {}{after}", r.status()),
                    hint: Some(if r.status().as_u16() == 404 {
                        "the mirror does not have it: check --mirror and --suite, or run with --upgrade if base.lock names a version the mirror dropped".into()
                    } else {
                        "try again later, or use another --mirror".into()
                    }),
                }),
                Err(e) => Err(Error::Archive {
                    what: url.to_string(),
                    message: format!("cannot download: {e}{after}"),
                    hint: Some(
                        "check the network and --mirror (an air-gapped site passes its own mirror)"
                            .into(),
                    ),
                }),
            };
        }
    }

    /// The whole body of `url` (InRelease).
    ///
    /// # Errors
    /// Network errors after retries, or a non-2xx answer.
    pub async fn bytes(&self, url: &str, limit: u64) -> Result<Vec<u8>> {
        let r = self.get(url).await?;
        let mut body = r.bytes_stream();
        let mut out = Vec::new();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| broke_off(url, e))?;
            out.extend_from_slice(&chunk);
            too_big(url, out.len() as u64, limit)?;
        }
        Ok(out)
    }

    /// `url` into `cache`, refused unless its sha256 is `sha256` (hex). Returns the cached
    /// path; when the cache has it already, nothing is downloaded.
    ///
    /// # Errors
    /// Network errors, or [`Error::Archive`] naming `what` when the hash differs.
    pub async fn cached(
        &self,
        cache: &BlobStore,
        url: &str,
        (sha256, size): (&str, u64),
        what: &str,
    ) -> Result<PathBuf> {
        let digest = format!("sha256:{sha256}");
        if cache.has(&digest) {
            return Ok(cache.path(&digest));
        }
        let resp = self.get(url).await?;
        let tmp = cache.temp_file()?;
        let tmp_path = tmp.path().to_path_buf();
        let mut w = HashingWriter::new(std::io::BufWriter::new(tmp));
        let mut body = resp.bytes_stream();
        let mut n = 0u64;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| broke_off(url, e))?;
            n += chunk.len() as u64;
            // The signed size, when known: a mirror cannot fill the disk.
            too_big(what, n, if size == 0 { MAX_UNSIZED } else { size })?;
            std::io::Write::write_all(&mut w, &chunk).map_err(Error::io("write", &tmp_path))?;
        }
        let (got, _, buf) = w.finish();
        if got != digest {
            return Err(Error::Archive {
                what: what.to_string(),
                message: format!(
                    "sha256 mismatch: the signed index (or base.lock) says {sha256}, {url} gave {}",
                    got.trim_start_matches("sha256:")
                ),
                hint: Some(
                    "the mirror serves a changed or damaged file; nothing was kept. Re-sync the mirror, or run with --upgrade if the archive moved on".into(),
                ),
            });
        }
        let tmp = buf
            .into_inner()
            .map_err(|e| Error::io("write", &tmp_path)(e.into_error()))?;
        cache.commit(tmp, &digest)
    }
}

/// The most a download of unknown size may be (the largest Debian package is ~2 GB).
const MAX_UNSIZED: u64 = 4 << 30;

fn broke_off(url: &str, e: reqwest::Error) -> Error {
    Error::Archive {
        what: url.to_string(),
        message: format!("the download broke off: {e}"),
        hint: Some("try again".into()),
    }
}

fn too_big(what: &str, got: u64, limit: u64) -> Result<()> {
    if got > limit {
        return Err(Error::Archive {
            what: what.to_string(),
            message: format!("the mirror sent more than the {limit} bytes expected"),
            hint: Some("the mirror serves a changed or damaged file; nothing was kept".into()),
        });
    }
    Ok(())
}

/// `mirror` + `path`, with exactly one `/` between them.
pub fn url(mirror: &str, path: &str) -> String {
    format!(
        "{}/{}",
        mirror.trim_end_matches('/'),
        path.trim_start_matches('/')
    )
}

/// Every pinned `.deb` into the cache (at most [`PARALLEL`] at a time), in `pins` order.
///
/// # Errors
/// The first download or hash failure, naming the `.deb`.
pub async fn debs(
    http: &Http,
    cache: &BlobStore,
    mirror: &str,
    pins: &[Pin],
) -> Result<Vec<PathBuf>> {
    futures::stream::iter(pins)
        .map(|p| async move {
            let what = format!("{} ({} {})", p.filename, p.name, p.version);
            http.cached(cache, &url(mirror, &p.filename), (&p.sha256, p.size), &what)
                .await
        })
        .buffered(PARALLEL)
        .try_collect()
        .await
}
