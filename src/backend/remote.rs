//! Remote mode: a client of a `prisn server` over HTTPS (see `prisn_server`). The server
//! runs the local daemon's API per namespace, so every answer is the daemon's and converts
//! to the same results as local mode (the printer is shared).
//!
//! A deploy locks the script here (this machine resolves; the server never does), then
//! ships it by content: the digests of the code files and of the lock go first, the server
//! answers which it lacks, only those are uploaded, and the deploy names the files by digest.
//! The server builds the environment from the lock in its own store.
//!
//! The context: `server` (`HOST:PORT`, `https://HOST:PORT`, or `http://` on loopback only),
//! `namespace` (default `default`), `token` (sent only as `Authorization: Bearer`), and
//! `fingerprint` (the server key's pin, required for HTTPS).

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::PermissionsExt as _;

use anyhow::{Context as _, bail};
use prisn_api::remote::{
    BlobList, DEFAULT_NAMESPACE, Info, Manifest, ManifestFile, NAMESPACE_HEADER, RemoteDeployBody,
};
use prisn_local::api::{DeployReply, LocalSource, LogQuery};
use prisn_local::client::Client;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use sha2::{Digest, Sha256};

mod wheels;

use super::local::{deploy_body, deployed, expect_for, status, wait, wait_timeout, workload};
use super::{Backend, Deleted, DeployRequest, Deployed, Kind, LogOptions, Status, Workload};
use crate::context::{Context, Mode};
use crate::settings::Settings;

pub struct RemoteBackend {
    home: prisn_builder::home::Home,
    client: Client,
    /// The server's host, for the endpoints of apps.
    host: String,
}

/// `https://host:port` (or `http://` on loopback) from the context's `server`.
fn base_url(ctx: &Context) -> anyhow::Result<(String, String, bool)> {
    let raw = ctx.server.trim().trim_end_matches('/');
    if raw.is_empty() {
        bail!(
            "context {:?} is in remote mode but names no server; add it with `prisn context add {} --mode remote --server HOST:7331 --fingerprint sha256:… --token sk_…`",
            ctx.name,
            ctx.name
        );
    }
    let (plain, rest) = match raw.split_once("://") {
        Some(("https", rest)) => (false, rest),
        Some(("http", rest)) => (true, rest),
        Some((scheme, _)) => bail!("server {raw:?}: unknown scheme {scheme:?}; use HOST:PORT"),
        None => (false, raw),
    };
    let host = match rest.rsplit_once(':') {
        Some((h, port)) if port.parse::<u16>().is_ok() => h.trim_matches(['[', ']']).to_string(),
        _ => bail!("server {raw:?}: expected HOST:PORT, e.g. prod.example.com:7331"),
    };
    if plain {
        let loopback = host == "localhost"
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        if !loopback {
            bail!(
                "server {raw:?}: plain http is only allowed to a loopback address; use HOST:PORT (https)"
            );
        }
    }
    let scheme = if plain { "http" } else { "https" };
    Ok((format!("{scheme}://{rest}"), host, plain))
}

impl RemoteBackend {
    /// The backend of a remote context: checks the context, makes no request yet.
    ///
    /// # Errors
    /// A context without a server, a token, or (for HTTPS) a fingerprint.
    pub fn new(settings: &Settings) -> anyhow::Result<RemoteBackend> {
        let ctx = &settings.context;
        let (base, host, plain) = base_url(ctx)?;
        if ctx.token.is_empty() {
            bail!(
                "context {:?} has no token; create one on the server (`prisn server token create --namespace NS --role deploy`) and add it with --token",
                ctx.name
            );
        }
        if !plain && !ctx.fingerprint.starts_with("sha256:") {
            bail!(
                "context {:?} has no server fingerprint; add the `--fingerprint sha256:…` that `prisn server init` printed (`prisn server status` on the server prints it again)",
                ctx.name
            );
        }
        let mut headers = HeaderMap::new();
        let mut auth = HeaderValue::from_str(&format!("Bearer {}", ctx.token))
            .context("the context's token has characters a header cannot carry")?;
        auth.set_sensitive(true);
        headers.insert(AUTHORIZATION, auth);
        let ns = if ctx.namespace.is_empty() {
            DEFAULT_NAMESPACE
        } else {
            &ctx.namespace
        };
        headers.insert(
            NAMESPACE_HEADER,
            HeaderValue::from_str(ns).context("invalid namespace")?,
        );
        let tls = prisn_server::tls::pinned_client_config(&ctx.fingerprint);
        Ok(RemoteBackend {
            home: settings.home.clone(),
            client: Client::remote(&base, headers, tls)?,
            host,
        })
    }
}

/// The bytes of an upload: read already (code, lock) or a file read when it travels (a
/// wheel, possibly large, often already on the server).
enum Blob {
    Bytes(Vec<u8>),
    File(std::path::PathBuf),
}

impl Blob {
    fn bytes(&self) -> anyhow::Result<Vec<u8>> {
        match self {
            Blob::Bytes(b) => Ok(b.clone()),
            Blob::File(p) => {
                std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))
            }
        }
    }
}

/// The code files and the lock, by content: the manifest and the bytes of each digest.
fn manifest(
    resolved: &prisn_builder::prepare::Resolved,
) -> anyhow::Result<(Manifest, BTreeMap<String, Blob>)> {
    let script = &resolved.script;
    let mut blobs = BTreeMap::new();
    let mut files = Vec::new();
    for rel in &script.files {
        let path = script.root.join(rel);
        let bytes =
            std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        let mode = std::fs::metadata(&path)?.permissions().mode();
        let digest = format!("sha256:{}", hex::encode(Sha256::digest(&bytes)));
        files.push(ManifestFile {
            path: rel.clone(),
            digest: digest.clone(),
            size: bytes.len() as u64,
            executable: mode & 0o111 != 0,
        });
        blobs.insert(digest, Blob::Bytes(bytes));
    }
    // The lock the server builds from: this entrypoint's section only.
    let mut lock = prisn_builder::lock::LockFile::default();
    lock.scripts
        .insert(script.entrypoint.clone(), resolved.lock.section.clone());
    let text = lock.to_text().into_bytes();
    let lock_digest = format!("sha256:{}", hex::encode(Sha256::digest(&text)));
    blobs.insert(lock_digest.clone(), Blob::Bytes(text));
    Ok((
        Manifest {
            files,
            lock: Some(lock_digest),
            wheels: Vec::new(),
        },
        blobs,
    ))
}

impl RemoteBackend {
    /// Upload what the server lacks; returns (files sent, bytes sent).
    fn upload(&self, blobs: &BTreeMap<String, Blob>) -> anyhow::Result<(usize, u64)> {
        let asked = BlobList {
            digests: blobs.keys().cloned().collect(),
        };
        let missing: BlobList =
            self.client
                .send_json(reqwest::Method::POST, "/v1/blobs/missing", &asked)?;
        let mut sent = 0u64;
        for d in &missing.digests {
            let bytes = blobs
                .get(d)
                .with_context(|| {
                    format!("the server asked for {d}, which this deploy does not have")
                })?
                .bytes()?;
            sent += bytes.len() as u64;
            self.client.put_bytes(&format!("/v1/blobs/{d}"), bytes)?;
        }
        Ok((missing.digests.len(), sent))
    }

    /// For a server that cannot reach a package index: the lock's wheels for its Python and
    /// platform join the manifest (the server lacks only some of them; `upload` sends those).
    fn add_wheels(
        &self,
        resolved: &prisn_builder::prepare::Resolved,
        manifest: &mut Manifest,
        blobs: &mut BTreeMap<String, Blob>,
    ) -> anyhow::Result<usize> {
        let section = &resolved.lock.section;
        if section.runtime != prisn_builder::script::Runtime::Python3 || section.packages.is_empty()
        {
            return Ok(0);
        }
        let info: Info = self.client.get_json("/v1/info")?;
        if info.index_reachable {
            return Ok(0);
        }
        let (Some(python), Some(platform)) = (info.python.first(), info.platforms.first()) else {
            bail!(
                "the server cannot reach a package index and reports no Python to build environments for; install python3 where the server runs"
            );
        };
        let target = wheels::ServerTarget {
            python: python.clone(),
            platform: platform.clone(),
        };
        let picked = wheels::pick(&self.home, section, &resolved.requirements.index, &target)
            .context("the server cannot reach a package index, so this deploy ships the wheels")?;
        for w in picked {
            blobs.insert(w.file.digest.clone(), Blob::File(w.path));
            manifest.wheels.push(w.file);
        }
        Ok(manifest.wheels.len())
    }
}

impl Backend for RemoteBackend {
    fn mode(&self) -> Mode {
        Mode::Remote
    }

    fn deploy(
        &self,
        req: &DeployRequest,
        reporter: &dyn prisn_builder::Reporter,
    ) -> anyhow::Result<Deployed> {
        let expect = expect_for(req, self.client.get(&req.name)?.as_ref())?;
        let resolved = prisn_builder::prepare::resolve(
            &req.script.path,
            &req.script.prepare,
            &self.home,
            reporter,
        )?;
        let (mut manifest, mut blobs) = manifest(&resolved)?;
        let wheels = self.add_wheels(&resolved, &mut manifest, &mut blobs)?;
        let (files, bytes) = self.upload(&blobs)?;
        let script = &resolved.script;
        let code = LocalSource {
            // The server lays the files out and fills in both paths.
            root: Default::default(),
            entrypoint: script.entrypoint.clone(),
            files: script.files.clone(),
            runtime: script.runtime,
            is_dir: script.is_dir,
        };
        let body = RemoteDeployBody {
            manifest,
            deploy: deploy_body(req, code, Default::default(), expect),
        };
        let reply: DeployReply = self.client.send_json(
            reqwest::Method::PUT,
            &format!("/v1/workloads/{}", req.name),
            &body,
        )?;
        let mut notes = vec![format!(
            "uploaded {files} of {} files ({bytes} bytes)",
            blobs.len()
        )];
        if wheels > 0 {
            let s = if wheels == 1 { "" } else { "s" };
            notes.push(format!(
                "the server has no package index: {wheels} wheel{s} shipped for it (sent if it lacked them)"
            ));
        }
        let waited = match wait_timeout(req) {
            Some(timeout) => Some(wait(
                &self.client,
                &req.name,
                req.kind,
                timeout,
                req.until_done,
            )?),
            None => None,
        };
        Ok(deployed(reply, req, &self.host, notes, waited))
    }

    fn list(&self, kind: Option<Kind>) -> anyhow::Result<Vec<Workload>> {
        Ok(self.client.list(kind)?.into_iter().map(workload).collect())
    }

    fn status(&self, name: &str) -> anyhow::Result<Status> {
        let view = self
            .client
            .get(name)?
            .ok_or_else(|| prisn_local::Error::NotFound(name.to_string()))?;
        Ok(status(view))
    }

    fn logs(&self, name: &str, opts: &LogOptions, out: &mut dyn Write) -> anyhow::Result<()> {
        let q = LogQuery {
            follow: opts.follow,
            tail: opts.tail,
            since_seconds: opts.since.map(|d| d.as_secs().max(1)),
            timestamps: opts.timestamps,
            from: None,
        };
        self.client.logs(name, &q, out).map_err(|e| match e {
            prisn_local::Error::Api { status: 404, .. } => {
                prisn_local::Error::NotFound(name.to_string())
            }
            e => e,
        })?;
        Ok(())
    }

    fn delete(&self, name: &str) -> anyhow::Result<Option<Deleted>> {
        Ok(self.client.delete(name)?.map(|notes| Deleted { notes }))
    }

    fn scale(&self, name: &str, replicas: u32) -> anyhow::Result<Workload> {
        let view = self.client.scale(name, replicas).map_err(|e| match e {
            prisn_local::Error::Api { status: 404, .. } => {
                prisn_local::Error::NotFound(name.to_string())
            }
            e => e,
        })?;
        Ok(workload(view))
    }

    /// The server's daemon for the namespace keeps the releases, as local mode's does.
    fn history(&self, name: &str) -> anyhow::Result<Vec<super::Release>> {
        super::local::history(&self.client, name)
    }

    fn rollback(
        &self,
        name: &str,
        to: Option<i64>,
        wait: Option<std::time::Duration>,
    ) -> anyhow::Result<super::RolledBack> {
        super::local::rollback(&self.client, name, to, wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(server: &str) -> Context {
        Context {
            name: "prod".into(),
            mode: Mode::Remote,
            server: server.into(),
            ..Default::default()
        }
    }

    #[test]
    fn server_addresses() {
        let (url, host, plain) = base_url(&ctx("prod.example.com:7331")).unwrap();
        assert_eq!(
            (url.as_str(), host.as_str(), plain),
            ("https://prod.example.com:7331", "prod.example.com", false)
        );
        assert!(base_url(&ctx("http://127.0.0.1:7331")).unwrap().2);
        let err = base_url(&ctx("http://prod.example.com:7331"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("loopback"), "{err}");
        assert!(base_url(&ctx("prod.example.com")).is_err());
        assert!(base_url(&ctx("")).is_err());
    }
}
