//! Wheels for an air-gapped server: for each package of the lock, one wheel the *server's*
//! Python and platform can install, whose sha256 is one the lock records for that package.
//!
//! The client keeps them in `$PRISN_HOME/cache/wheels/sha256/<hex>/<file name>` (the file
//! name carries the tags the installer needs), so a client that is offline as well ships
//! from its cache. A package with no compatible wheel there is looked up on the index the
//! script declares (else `UV_DEFAULT_INDEX`/`UV_INDEX_URL`/`PIP_INDEX_URL`, else PyPI)
//! through the simple API (PEP 691 JSON, PEP 503 HTML), downloaded, hashed and kept.
//!
//! Decisions: only wheels travel (an air-gapped server never builds an sdist); a direct-URL
//! requirement is refused (its artifact is not on an index); among several compatible
//! wheels the most specific one is shipped (see [`rank`]).

use std::io::Read as _;
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use prisn_api::remote::WheelFile;
use prisn_builder::analyze::IndexOptions;
use prisn_builder::home::Home;
use prisn_builder::lock::{LockSection, Package};
use sha2::{Digest, Sha256};

/// What the server installs for: `major.minor` and uv's platform spelling
/// (`x86_64-manylinux_2_28`), as `GET /v1/info` reports them.
#[derive(Debug, Clone)]
pub struct ServerTarget {
    pub python: String,
    pub platform: String,
}

/// A wheel picked for a package, and where its bytes are on this machine.
#[derive(Debug, Clone)]
pub struct Picked {
    pub file: WheelFile,
    pub path: PathBuf,
}

fn cache_dir(home: &Home) -> PathBuf {
    home.cache().join("wheels").join("sha256")
}

/// One wheel per package of `section`, for `target`, from the cache or the index.
///
/// # Errors
/// A direct-URL package, a package without a compatible wheel whose hash the lock records,
/// an unreachable index for a wheel not cached, a download whose bytes do not match.
pub fn pick(
    home: &Home,
    section: &LockSection,
    index: &IndexOptions,
    target: &ServerTarget,
) -> anyhow::Result<Vec<Picked>> {
    let mut out = Vec::new();
    let mut http = None;
    for p in &section.packages {
        if p.url.is_some() {
            bail!(
                "package {} is a direct URL requirement; a server without a package index takes index packages only",
                p.name
            );
        }
        if let Some(found) = cached(home, p, target)? {
            out.push(found);
            continue;
        }
        let client = match &mut http {
            Some(c) => c,
            None => http.insert(
                reqwest::blocking::Client::builder()
                    .connect_timeout(std::time::Duration::from_secs(20))
                    .user_agent(concat!("prisn/", env!("CARGO_PKG_VERSION")))
                    .build()?,
            ),
        };
        out.push(download(client, home, p, index, target)?);
    }
    Ok(out)
}

/// The best compatible wheel of `p` in the cache, checked again against its digest.
fn cached(home: &Home, p: &Package, target: &ServerTarget) -> anyhow::Result<Option<Picked>> {
    let mut found = Vec::new();
    for hash in &p.hashes {
        let Some(hex) = hash.strip_prefix("sha256:") else {
            continue;
        };
        let dir = cache_dir(home).join(hex);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(score) = rank(&name, target) {
                found.push((score, name, hash.clone(), e.path()));
            }
        }
    }
    found.sort();
    let Some((_, filename, digest, path)) = found.pop() else {
        return Ok(None);
    };
    let bytes = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let got = sha256(&bytes);
    if got != digest {
        let _ = std::fs::remove_file(&path);
        bail!(
            "the cached wheel {filename} of package {} hashes to {got}, not to the lock's {digest}; it was removed from the cache ({}), deploy again to download it",
            p.name,
            path.display()
        );
    }
    Ok(Some(Picked {
        file: WheelFile {
            package: p.name.clone(),
            filename,
            digest,
            size: bytes.len() as u64,
        },
        path,
    }))
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// The index pages to ask, in order.
fn indexes(index: &IndexOptions) -> Vec<String> {
    let primary = index.index_url.clone().unwrap_or_else(|| {
        ["UV_DEFAULT_INDEX", "UV_INDEX_URL", "PIP_INDEX_URL"]
            .iter()
            .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
            .unwrap_or_else(|| "https://pypi.org/simple".to_string())
    });
    let mut out = vec![primary];
    out.extend(index.extra_index_urls.iter().cloned());
    out
}

/// A file the index lists: name, absolute URL, sha256 (when it says).
struct Listed {
    filename: String,
    url: String,
    sha256: Option<String>,
}

fn download(
    client: &reqwest::blocking::Client,
    home: &Home,
    p: &Package,
    index: &IndexOptions,
    target: &ServerTarget,
) -> anyhow::Result<Picked> {
    let mut best: Option<(Score, Listed, String)> = None;
    let mut errors = Vec::new();
    for base in indexes(index) {
        let page = format!("{}/{}/", base.trim_end_matches('/'), p.name);
        let listed = match list(client, &page) {
            Ok(l) => l,
            Err(e) => {
                errors.push(format!("{page}: {e:#}"));
                continue;
            }
        };
        for f in listed {
            let Some(digest) = f.sha256.as_ref().map(|h| format!("sha256:{h}")) else {
                continue;
            };
            if !p.hashes.contains(&digest) {
                continue;
            }
            if let Some(score) = rank(&f.filename, target)
                && best.as_ref().is_none_or(|(s, ..)| score > *s)
            {
                best = Some((score, f, digest));
            }
        }
    }
    let Some((_, f, digest)) = best else {
        let why = if errors.is_empty() {
            String::new()
        } else {
            format!(" (index errors: {})", errors.join("; "))
        };
        bail!(
            "no wheel of {}=={} with a hash the lock records fits the server's Python {} on {}, in this machine's cache or on the index{why}",
            p.name,
            p.version,
            target.python,
            target.platform
        );
    };
    let mut bytes = Vec::new();
    client
        .get(&f.url)
        .send()
        .and_then(reqwest::blocking::Response::error_for_status)
        .with_context(|| format!("cannot download {} (package {})", f.url, p.name))?
        .read_to_end(&mut bytes)
        .with_context(|| format!("the download of {} broke off", f.url))?;
    let got = sha256(&bytes);
    if got != digest {
        bail!(
            "the wheel {} of package {} downloaded from {} hashes to {got}, not to the lock's {digest}",
            f.filename,
            p.name,
            f.url
        );
    }
    check_filename(&f.filename)?;
    let dir = cache_dir(home).join(&digest["sha256:".len()..]);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let path = dir.join(&f.filename);
    prisn_builder::atomic::write(&path, &bytes)?;
    Ok(Picked {
        file: WheelFile {
            package: p.name.clone(),
            filename: f.filename,
            digest,
            size: bytes.len() as u64,
        },
        path,
    })
}

/// A wheel file name is a plain name (an index could list anything).
fn check_filename(name: &str) -> anyhow::Result<()> {
    if name.contains('/') || name.contains('\\') || name.starts_with('.') || !name.ends_with(".whl")
    {
        bail!("the index lists a wheel named {name:?}, which is not a plain wheel file name");
    }
    Ok(())
}

/// The files of an index page (PEP 691 JSON, else PEP 503 HTML).
fn list(client: &reqwest::blocking::Client, page: &str) -> anyhow::Result<Vec<Listed>> {
    let resp = client
        .get(page)
        .header(
            reqwest::header::ACCEPT,
            "application/vnd.pypi.simple.v1+json, text/html;q=0.1",
        )
        .send()?
        .error_for_status()?;
    let base = resp.url().clone();
    let json = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"));
    let text = resp.text()?;
    let absolute = |href: &str| base.join(href).map(|u| u.to_string()).ok();
    if json {
        #[derive(serde::Deserialize)]
        struct Page {
            files: Vec<File>,
        }
        #[derive(serde::Deserialize)]
        struct File {
            filename: String,
            url: String,
            #[serde(default)]
            hashes: std::collections::BTreeMap<String, String>,
        }
        let page: Page = serde_json::from_str(&text).context("an unreadable index page")?;
        return Ok(page
            .files
            .into_iter()
            .filter_map(|f| {
                Some(Listed {
                    url: absolute(&f.url)?,
                    sha256: f.hashes.get("sha256").cloned(),
                    filename: f.filename,
                })
            })
            .collect());
    }
    Ok(html_links(&text)
        .into_iter()
        .filter_map(|href| {
            let (url, frag) = href.split_once('#').unwrap_or((href.as_str(), ""));
            let filename = url.rsplit('/').next()?.split('?').next()?.to_string();
            Some(Listed {
                url: absolute(url)?,
                sha256: frag.strip_prefix("sha256=").map(str::to_string),
                filename,
            })
        })
        .collect())
}

/// The `href` values of a PEP 503 page.
fn html_links(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("href=\"") {
        rest = &rest[i + 6..];
        let Some(end) = rest.find('"') else { break };
        out.push(rest[..end].replace("&amp;", "&"));
        rest = &rest[end..];
    }
    out
}

/// How well a wheel fits (higher is better); `None`: the target cannot install it.
type Score = (u8, u32);

/// Whether the server's CPython can install the wheel `filename`, and how specific it is:
/// a CPython ABI build over `abi3` over pure Python, then the newest platform tag.
pub fn rank(filename: &str, target: &ServerTarget) -> Option<Score> {
    let stem = filename.strip_suffix(".whl")?;
    let parts: Vec<&str> = stem.split('-').collect();
    let (py, abi, plat) = match parts.len() {
        5 => (parts[2], parts[3], parts[4]),
        6 => (parts[3], parts[4], parts[5]),
        _ => return None,
    };
    let minor: u32 = target.python.strip_prefix("3.")?.parse().ok()?;
    let (arch, libc) = target.platform.split_once('-')?;
    let mut best = None;
    for py in py.split('.') {
        for abi in abi.split('.') {
            let Some(kind) = python_fits(py, abi, minor) else {
                continue;
            };
            for plat in plat.split('.') {
                if let Some(p) = platform_fits(plat, arch, libc) {
                    best = best.max(Some((kind, p)));
                }
            }
        }
    }
    best
}

/// 3: built for this CPython's ABI; 2: the stable ABI; 1: pure Python.
fn python_fits(py: &str, abi: &str, minor: u32) -> Option<u8> {
    let version = |tag: &str, prefix: &str| -> Option<u32> {
        let v = tag.strip_prefix(prefix)?;
        if v == "3" {
            return Some(0);
        }
        v.strip_prefix('3')?.parse().ok()
    };
    match abi {
        "none" => {
            let v = version(py, "py").or_else(|| version(py, "cp"))?;
            (v <= minor).then_some(1)
        }
        "abi3" => {
            let v = version(py, "cp")?;
            (v <= minor).then_some(2)
        }
        _ => (py == format!("cp3{minor}") && abi == format!("cp3{minor}")).then_some(3),
    }
}

/// The platform tag's glibc/musl version as a number (higher = newer), 1 for `any`.
fn platform_fits(tag: &str, arch: &str, libc: &str) -> Option<u32> {
    if tag == "any" {
        return Some(1);
    }
    let (family, max) = libc.split_once('_').map(|(f, v)| (f, version(v)))?;
    let max = max?;
    let legacy = [
        ("manylinux1_", (2, 5)),
        ("manylinux2010_", (2, 12)),
        ("manylinux2014_", (2, 17)),
    ];
    let (fam, v, tag_arch) = legacy
        .iter()
        .find_map(|(p, v)| tag.strip_prefix(p).map(|a| ("manylinux", *v, a)))
        .or_else(|| {
            let (fam, rest) = tag.split_once('_')?;
            let mut it = rest.splitn(3, '_');
            let (a, b) = (it.next()?.parse().ok()?, it.next()?.parse().ok()?);
            Some((fam, (a, b), it.next()?))
        })?;
    (fam == family && tag_arch == arch && v <= max).then_some(v.0 * 1000 + v.1 + 1)
}

/// `2_28` → (2, 28).
fn version(v: &str) -> Option<(u32, u32)> {
    let (a, b) = v.split_once('_')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(python: &str, platform: &str) -> ServerTarget {
        ServerTarget {
            python: python.into(),
            platform: platform.into(),
        }
    }

    #[test]
    fn wheels_fit_the_servers_python_and_platform() {
        let srv = t("3.11", "x86_64-manylinux_2_28");
        assert!(rank("six-1.16.0-py2.py3-none-any.whl", &srv).is_some());
        let cp = rank(
            "m-1-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
            &srv,
        )
        .unwrap();
        let abi3 = rank("m-1-cp38-abi3-manylinux_2_28_x86_64.whl", &srv).unwrap();
        let pure = rank("m-1-py3-none-any.whl", &srv).unwrap();
        assert!(cp > abi3 && abi3 > pure, "{cp:?} {abi3:?} {pure:?}");
        for no in [
            "m-1-cp312-cp312-manylinux_2_17_x86_64.whl", // another Python
            "m-1-cp311-cp311-manylinux_2_34_x86_64.whl", // a newer glibc
            "m-1-cp311-cp311-manylinux_2_17_aarch64.whl", // another CPU
            "m-1-cp311-cp311-musllinux_1_2_x86_64.whl",  // another C library
            "m-1-cp311-cp311-win_amd64.whl",
            "m-1-cp313-abi3-manylinux_2_17_x86_64.whl", // stable ABI of a newer Python
            "m-1.tar.gz",
        ] {
            assert_eq!(rank(no, &srv), None, "{no}");
        }
        assert!(rank("m-1-cp311-cp311-manylinux1_x86_64.whl", &srv).is_some());
        let musl = t("3.12", "aarch64-musllinux_1_2");
        assert!(rank("m-1-cp312-cp312-musllinux_1_1_aarch64.whl", &musl).is_some());
        assert!(rank("m-1-cp312-cp312-manylinux_2_17_aarch64.whl", &musl).is_none());
    }

    #[test]
    fn index_pages_in_html() {
        let links = html_links(
            r#"<a href="../../f/six-1.16.0-py2.py3-none-any.whl#sha256=ab&amp;x">six</a><a href="x.tar.gz">"#,
        );
        assert_eq!(
            links,
            [
                "../../f/six-1.16.0-py2.py3-none-any.whl#sha256=ab&x",
                "x.tar.gz"
            ]
        );
        assert!(check_filename("../evil.whl").is_err());
        assert!(check_filename("a/b.whl").is_err());
        assert!(check_filename("six-1-py3-none-any.whl").is_ok());
    }
}
