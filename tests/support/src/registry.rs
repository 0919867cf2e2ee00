//! A real OCI registry for tests: Debian's `docker-registry` (CNCF distribution 2.8) on a
//! free 127.0.0.1 port with its own temp storage, killed on drop. [`Registry::start_tls`]
//! adds a self-signed certificate and htpasswd (bcrypt) basic auth.
//!
//! Also: where the test base images live ([`base_layout`]) and how to push them
//! ([`Registry::push_layout`], with skopeo, an independent client).
//!
//! [`Registry::start_referrers`] starts the other implementation the tests use instead:
//! go-containerregistry's in-memory registry with the OCI referrers API, which
//! distribution 2.8 lacks (tests/referrers-registry, built by tests/run.sh).
//!
//! Needs the Debian packages docker-registry, skopeo, openssl and apache2-utils (htpasswd).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// Credentials of the TLS registry.
pub const USER: &str = "testuser";
pub const PASSWORD: &str = "testpass";

/// A running registry. Dropping it kills the process and deletes its storage.
pub struct Registry {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
    tls: bool,
    referrers: bool,
}

/// The environment variable naming the referrers registry's binary (tests/run.sh sets it).
pub const REFERRERS_REGISTRY_ENV: &str = "PRISN_REFERRERS_REGISTRY";

/// Files of the TLS variant.
pub struct TlsFiles {
    /// The CA that signed the registry's certificate (what clients must trust).
    pub ca: PathBuf,
    /// A `certs.d`-style directory for skopeo's `--cert-dir`.
    pub cert_dir: PathBuf,
}

impl Registry {
    /// Plain HTTP, anonymous.
    pub fn start() -> Result<Registry> {
        Self::launch(false, false)
    }

    /// HTTPS with a self-signed certificate for 127.0.0.1, basic auth [`USER`]/[`PASSWORD`].
    pub fn start_tls() -> Result<Registry> {
        Self::launch(true, false)
    }

    /// Plain HTTP, anonymous, with the OCI referrers API (`GET /v2/<repo>/referrers/<digest>`):
    /// go-containerregistry's `pkg/registry`, the binary `$PRISN_REFERRERS_REGISTRY`. It keeps
    /// everything in memory: [`Registry::storage`] is empty and a restart loses the content.
    /// A missing binary is an error naming how to build it.
    pub fn start_referrers() -> Result<Registry> {
        Self::launch(false, true)
    }

    fn launch(tls: bool, referrers: bool) -> Result<Registry> {
        let dir = tempfile::Builder::new()
            .prefix("prisn-registry-")
            .tempdir()?;
        std::fs::create_dir_all(dir.path().join("data"))?;
        if tls {
            make_tls_files(dir.path())?;
        }
        let mut reg = Registry {
            child: None,
            port: 0,
            dir,
            tls,
            referrers,
        };
        // A free port can be taken between our probe and the registry's bind: try again.
        let mut last_err = None;
        for _ in 0..5 {
            reg.port = free_port()?;
            match reg.spawn() {
                Ok(()) => {
                    reg.ensure_cert_dir()?;
                    return Ok(reg);
                }
                Err(e) => last_err = Some(e),
            }
        }
        Err(last_err.unwrap_or_else(|| anyhow::anyhow!("registry did not start")))
    }

    fn spawn(&mut self) -> Result<()> {
        if self.referrers {
            return self.spawn_referrers();
        }
        let root = self.dir.path();
        let mut config = format!(
            "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\n\
             storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
             http:\n  addr: 127.0.0.1:{}\n  secret: prisn-tests\n",
            root.join("data").display(),
            self.port
        );
        if self.tls {
            config.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\nauth:\n  htpasswd:\n    realm: prisn-test\n    path: {}\n",
                root.join("cert.pem").display(),
                root.join("key.pem").display(),
                root.join("htpasswd").display()
            ));
        }
        let config_path = root.join("config.yml");
        std::fs::write(&config_path, config)?;
        let log = std::fs::File::create(root.join("registry.log"))?;
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting docker-registry (apt-get install docker-registry)")?;
        self.child = Some(child);
        self.wait_ready()
    }

    fn spawn_referrers(&mut self) -> Result<()> {
        let bin = std::env::var_os(REFERRERS_REGISTRY_ENV).with_context(|| {
            format!(
                "{REFERRERS_REGISTRY_ENV} is not set: run tests/run.sh, or \
                 `export {REFERRERS_REGISTRY_ENV}=$(tests/referrers-registry/build.sh)`"
            )
        })?;
        let log = std::fs::File::create(self.dir.path().join("registry.log"))?;
        let child = Command::new(&bin)
            .arg("-port")
            .arg(self.port.to_string())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| {
                format!(
                    "starting the referrers registry {} (from {REFERRERS_REGISTRY_ENV}; \
                     tests/referrers-registry/build.sh builds it)",
                    Path::new(&bin).display()
                )
            })?;
        self.child = Some(child);
        self.wait_ready()
    }

    fn wait_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(15);
        let addr: SocketAddr = format!("127.0.0.1:{}", self.port).parse()?;
        loop {
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                let log = std::fs::read_to_string(self.dir.path().join("registry.log"))
                    .unwrap_or_default();
                self.child = None;
                bail!("{} exited with {status}: {log}", self.program());
            }
            if self.tls {
                if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                    return Ok(());
                }
            } else if http_status(addr, "/v2/").is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("{} on {addr} did not answer within 15 s", self.program());
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    fn program(&self) -> &'static str {
        if self.referrers {
            "the referrers registry"
        } else {
            "docker-registry"
        }
    }

    /// `127.0.0.1:PORT`
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The registry's storage directory (tests inspect or corrupt it).
    pub fn storage(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn tls_files(&self) -> Option<TlsFiles> {
        self.tls.then(|| TlsFiles {
            ca: self.dir.path().join("ca.pem"),
            cert_dir: self.dir.path().join("certs.d"),
        })
    }

    /// Kill the registry (storage is kept): a registry dying mid-push.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Start it again on the same port with the same storage.
    pub fn restart(&mut self) -> Result<()> {
        self.stop();
        self.spawn()
    }

    /// The process id (to kill it from another thread in tests).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Push image `name` of the OCI layout `layout` to `repo_tag` here, with skopeo.
    /// Returns `HOST/repo_tag`.
    pub fn push_layout(&self, layout: &Path, name: &str, repo_tag: &str) -> Result<String> {
        let dest = format!("{}/{repo_tag}", self.host());
        let mut cmd = Command::new("skopeo");
        cmd.args(["copy", "--quiet"]).args(self.skopeo_dest_flags());
        cmd.arg(format!("oci:{}:{name}", layout.display()))
            .arg(format!("docker://{dest}"));
        run(cmd)?;
        Ok(dest)
    }

    fn skopeo_flags(&self, dir: &str) -> Vec<String> {
        match self.tls_files() {
            Some(t) => vec![
                format!(
                    "--{dir}-cert-dir={}",
                    t.cert_dir.join(self.host()).display()
                ),
                format!("--{dir}-creds={USER}:{PASSWORD}"),
            ],
            None => vec![format!("--{dir}-tls-verify=false")],
        }
    }

    fn skopeo_dest_flags(&self) -> Vec<String> {
        self.skopeo_flags("dest")
    }

    /// skopeo's flags to read from this registry (`--tls-verify=false`, or certs + creds).
    pub fn skopeo_src_flags(&self) -> Vec<String> {
        self.skopeo_flags("src")
    }

    /// `skopeo inspect` of `reference` (`HOST/repo@sha256:…`), parsed. `raw` gives the
    /// manifest as stored instead of skopeo's summary.
    pub fn skopeo_inspect(&self, reference: &str, raw: bool) -> Result<serde_json::Value> {
        let mut cmd = Command::new("skopeo");
        cmd.arg("inspect");
        if raw {
            cmd.arg("--raw");
        }
        match self.tls_files() {
            Some(t) => {
                cmd.arg(format!(
                    "--cert-dir={}",
                    t.cert_dir.join(self.host()).display()
                ))
                .arg(format!("--creds={USER}:{PASSWORD}"));
            }
            None => {
                cmd.arg("--tls-verify=false");
            }
        }
        cmd.arg(format!("docker://{reference}"));
        let out = run(cmd)?;
        Ok(serde_json::from_slice(&out)?)
    }

    /// Copy `reference` from here into an OCI layout `dir` (tagged `name`) with skopeo.
    pub fn pull_to_layout(&self, reference: &str, dir: &Path, name: &str) -> Result<()> {
        let mut cmd = Command::new("skopeo");
        cmd.args(["copy", "--quiet"]).args(self.skopeo_src_flags());
        cmd.arg(format!("docker://{reference}"))
            .arg(format!("oci:{}:{name}", dir.display()));
        run(cmd)?;
        Ok(())
    }

    /// A Docker-style `config.json` holding this registry's credentials (TLS variant).
    pub fn write_docker_config(&self, dir: &Path) -> Result<PathBuf> {
        use std::fmt::Write as _;
        let token = base64(format!("{USER}:{PASSWORD}").as_bytes());
        let mut s = String::new();
        write!(
            s,
            "{{\"auths\":{{\"{}\":{{\"auth\":\"{token}\"}}}}}}",
            self.host()
        )?;
        std::fs::create_dir_all(dir)?;
        let path = dir.join("config.json");
        std::fs::write(&path, s)?;
        Ok(path)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The OCI layout of test base image `name` (`python3`, `bash`, `node`), built by
/// `prisn base NAME` (tests/run.sh) into `${XDG_CACHE_HOME:-~/.cache}/prisn/base-images`.
pub fn base_layout(name: &str) -> Result<PathBuf> {
    let root = match std::env::var_os("PRISN_BASE_IMAGES") {
        Some(d) => PathBuf::from(d),
        None => match std::env::var_os("XDG_CACHE_HOME") {
            Some(c) => PathBuf::from(c).join("prisn/base-images"),
            None => PathBuf::from(std::env::var_os("HOME").context("HOME is not set")?)
                .join(".cache/prisn/base-images"),
        },
    };
    let dir = root.join(name);
    if !dir.join("index.json").is_file() {
        bail!(
            "no base image layout at {}: run tests/run.sh (or `prisn base {name} --output {}-prisn` and link it as {name})",
            dir.display(),
            dir.display()
        );
    }
    Ok(dir)
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A minimal HTTP/1.0 GET of `path` on the plain-HTTP registry at `host`: the status
/// and the body (read to the end; HTTP/1.0 replies are neither chunked nor kept alive).
/// The tests read the registry API with it directly, not through prisn's client.
pub fn http_get(host: &str, path: &str) -> Result<(u16, Vec<u8>)> {
    let addr: SocketAddr = host.parse()?;
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n")?;
    let mut reply = Vec::new();
    s.read_to_end(&mut reply)?;
    let end = reply
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .with_context(|| format!("no end of the HTTP header in the reply to GET {path}"))?;
    let status = std::str::from_utf8(&reply[..end])?
        .get(9..12)
        .context("short HTTP reply")?
        .parse()?;
    Ok((status, reply[end + 4..].to_vec()))
}

/// A minimal HTTP/1.0 GET; returns the status code.
pub fn http_status(addr: SocketAddr, path: &str) -> Result<u16> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(500))?;
    s.set_read_timeout(Some(Duration::from_secs(2)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut head = [0u8; 12];
    s.read_exact(&mut head)?;
    let text = std::str::from_utf8(&head)?;
    Ok(text.get(9..12).context("short HTTP reply")?.parse()?)
}

fn run(mut cmd: Command) -> Result<Vec<u8>> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{:?} failed ({}): {}",
            cmd,
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(out.stdout)
}

/// A test CA and a server certificate for IP 127.0.0.1 signed by it (rustls refuses a
/// self-signed CA certificate used as the server's own: CaUsedAsEndEntity).
fn make_tls_files(dir: &Path) -> Result<()> {
    let openssl = |args: &[&str]| {
        let mut cmd = Command::new("openssl");
        cmd.current_dir(dir).args(args);
        run(cmd).map(drop)
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=prisn-test-ca",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    ])?;
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        "key.pem",
        "-out",
        "leaf.csr",
    ])?;
    std::fs::write(
        dir.join("leaf.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
    )?;
    openssl(&[
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-out",
        "cert.pem",
        "-extfile",
        "leaf.ext",
    ])?;
    std::fs::write(dir.join("htpasswd"), htpasswd_line()?)?;
    Ok(())
}

/// `USER:<bcrypt>` for the registry's htpasswd file: apache2-utils' htpasswd, else Python's
/// crypt module (libxcrypt does bcrypt on Debian).
fn htpasswd_line() -> Result<Vec<u8>> {
    let mut cmd = Command::new("htpasswd");
    cmd.args(["-Bbn", USER, PASSWORD]);
    if let Ok(line) = run(cmd) {
        return Ok(line);
    }
    let mut cmd = Command::new("python3");
    cmd.args([
        "-W",
        "ignore",
        "-c",
        &format!(
            "import crypt; print('{USER}:' + crypt.crypt('{PASSWORD}', crypt.mksalt(crypt.METHOD_BLOWFISH)))"
        ),
    ]);
    run(cmd).context("no htpasswd (apt-get install apache2-utils) and no python3 with crypt")
}

impl Registry {
    /// Lay out skopeo's cert dir once the port is known.
    fn ensure_cert_dir(&self) -> Result<()> {
        if let Some(t) = self.tls_files() {
            let d = t.cert_dir.join(self.host());
            std::fs::create_dir_all(&d)?;
            std::fs::copy(&t.ca, d.join("ca.crt"))?;
        }
        Ok(())
    }
}

fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
