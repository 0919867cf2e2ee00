//! Upload by content (the anchors: a registry's blob HEAD, `nix copy`): a namespace keeps
//! every file it was sent as `blobs/sha256/<hex>`; a deploy names its files by digest
//! ([`Manifest`]), and only the digests the server lacks travel. A blob is written to a temp
//! file, hashed as it arrives and renamed into place only when the digest matches, so a
//! server killed mid-upload leaves no half blob (temp files are swept at start).
//!
//! A deploy then lays the manifest's files out in `src/<name>/` (a new directory swapped in
//! whole), writes the lock beside them, and builds the environment from the lock in the
//! namespace's own store (`--frozen`: the server never resolves; hashes required; no sdist
//! unless the server runs with `--allow-sdist`).
//!
//! A server that cannot reach a package index installs from the wheels the deploy shipped
//! (`Manifest::wheels`) and nothing else: each one's sha256 must be one the lock records for
//! its package (the blob store already checked the bytes against that sha256), every locked
//! package needs one, and uv runs with `--no-index --find-links` on a directory holding just
//! those wheels (and `--require-hashes`, so it checks them again). No sdist can come in.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Component, Path, PathBuf};

use axum::body::Body;
use futures::StreamExt as _;
use prisn_api::daemon::DeployBody;
use prisn_api::remote::{Limits, Manifest, WheelFile};
use prisn_builder::home::Home;
use prisn_builder::lock::LockSection;
use sha2::{Digest, Sha256};

use crate::{Error, Result};

/// Blobs of a namespace (its directory, see `namespace::dir`).
fn blobs(ns: &Path) -> PathBuf {
    ns.join("blobs").join("sha256")
}

fn tmp_dir(ns: &Path) -> PathBuf {
    ns.join("blobs").join("tmp")
}

/// The hex of a `sha256:<hex>` digest.
///
/// # Errors
/// 400 naming the value.
pub fn hex_of(digest: &str) -> Result<&str> {
    digest
        .strip_prefix("sha256:")
        .filter(|h| {
            h.len() == 64
                && h.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
        .ok_or_else(|| {
            Error::invalid(
                format!("invalid digest {digest:?}: expected sha256:<64 lowercase hex digits>"),
                None,
            )
        })
}

pub fn path_of(ns: &Path, digest: &str) -> Result<PathBuf> {
    Ok(blobs(ns).join(hex_of(digest)?))
}

/// The digests of `wanted` the namespace does not have.
///
/// # Errors
/// 400 for a malformed digest.
pub fn missing(ns: &Path, wanted: &[String]) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for d in wanted {
        if !path_of(ns, d)?.is_file() {
            out.push(d.clone());
        }
    }
    Ok(out)
}

/// 413 naming the limit.
pub fn too_large(what: &str, size: u64, limit: u64, name: &str) -> Error {
    Error::Api {
        status: 413,
        message: format!(
            "{what} is {size} bytes, over the server's limit of {limit} bytes ({name} in `GET /v1/info`)"
        ),
        hint: Some("ship less (a .prisnignore?), or raise the limit where the server runs".into()),
    }
}

/// Remove temp files a killed upload left behind.
pub fn sweep(ns: &Path) {
    let _ = std::fs::remove_dir_all(tmp_dir(ns));
}

/// Store the body as the blob `digest`; refuse it when its bytes hash to something else or
/// exceed the limit. Idempotent.
///
/// # Errors
/// 400 (digest mismatch or malformed), 413 (too large), IO.
pub async fn put(ns: &Path, digest: &str, body: Body, limits: &Limits) -> Result<bool> {
    let dest = path_of(ns, digest)?;
    if dest.is_file() {
        return Ok(false);
    }
    let tmp_dir = tmp_dir(ns);
    for d in [blobs(ns), tmp_dir.clone()] {
        prisn_local::paths::create_private_dir(&d).map_err(Error::io("create", &d))?;
    }
    let mut tmp = tempfile::NamedTempFile::new_in(&tmp_dir)
        .map_err(Error::io("create a temp file in", &tmp_dir))?;
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk =
            chunk.map_err(|e| Error::invalid(format!("the upload broke off: {e}"), None))?;
        size += chunk.len() as u64;
        if size > limits.max_blob_bytes {
            return Err(too_large(
                "the file",
                size,
                limits.max_blob_bytes,
                "max_blob_bytes",
            ));
        }
        hasher.update(&chunk);
        tmp.write_all(&chunk)
            .map_err(Error::io("write", tmp.path().to_path_buf()))?;
    }
    let got = format!("sha256:{}", hex::encode(hasher.finalize()));
    if got != digest {
        return Err(Error::invalid(
            format!("the uploaded bytes hash to {got}, not to {digest}"),
            Some("upload the file again; it changed or broke on the way".into()),
        ));
    }
    tmp.as_file().sync_all().map_err(Error::io("sync", &dest))?;
    tmp.persist(&dest)
        .map_err(|e| Error::io("rename into", &dest)(e.error))?;
    Ok(true)
}

/// A path in the code root: relative, `/`-separated, plain names only.
///
/// # Errors
/// 400 naming the field and the value.
pub fn check_path(field: &str, p: &str) -> Result<()> {
    let bad = |why: &str| {
        Error::invalid(
            format!("{field} {p:?}: {why}"),
            Some("paths are relative to the code root, without `..`".into()),
        )
    };
    if p.is_empty() || p.contains('\0') || p.contains('\\') {
        return Err(bad("not a usable path"));
    }
    if p.starts_with('/') {
        return Err(bad("an absolute path is not allowed"));
    }
    for c in Path::new(p).components() {
        match c {
            Component::Normal(_) => {}
            Component::ParentDir => return Err(bad("`..` would leave the code root")),
            _ => return Err(bad("only plain names are allowed (no `.`, no root)")),
        }
    }
    Ok(())
}

/// A wheel's file name: plain, `.whl`.
fn check_wheel_name(name: &str) -> Result<()> {
    check_path("wheel", name)?;
    if name.contains('/') || name.starts_with('.') || !name.ends_with(".whl") {
        return Err(Error::invalid(
            format!("wheel {name:?}: not a wheel file name (NAME-VERSION-TAGS.whl, no directory)"),
            None,
        ));
    }
    Ok(())
}

/// Every shipped wheel is for a locked package and has one of its sha256s; every locked
/// package has a wheel (this server has no index to fetch one from).
///
/// # Errors
/// 400 naming the package.
pub fn check_wheels(section: &LockSection, wheels: &[WheelFile]) -> Result<()> {
    for w in wheels {
        let Some(p) = section.packages.iter().find(|p| p.name == w.package) else {
            return Err(Error::invalid(
                format!(
                    "wheel {} is for package {:?}, which the lock does not pin",
                    w.filename, w.package
                ),
                None,
            ));
        };
        if !p.hashes.contains(&w.digest) {
            return Err(Error::invalid(
                format!(
                    "wheel {} of package {}: its sha256 {} is not one the lock records for {}=={}",
                    w.filename, p.name, w.digest, p.name, p.version
                ),
                Some("ship the artifact the lock pins (lock again if the package changed)".into()),
            ));
        }
    }
    for p in &section.packages {
        if p.url.is_some() {
            return Err(Error::invalid(
                format!(
                    "package {} is a direct URL requirement, and this server cannot reach a package index",
                    p.name
                ),
                Some(
                    "depend on it through an index, or run the server where it can reach one"
                        .into(),
                ),
            ));
        }
        if !wheels.iter().any(|w| w.package == p.name) {
            return Err(Error::invalid(
                format!(
                    "this server cannot reach a package index, and the deploy brought no wheel for package {}=={}",
                    p.name, p.version
                ),
                Some("deploy with a prisn that ships wheels to such servers (it does so when `GET /v1/info` says index_reachable: false)".into()),
            ));
        }
    }
    Ok(())
}

/// Check a manifest and the deploy's entrypoint against the limits and the rules.
///
/// # Errors
/// 400 for a bad path, digest, duplicate or a missing blob; 413 over a limit.
pub fn check(ns: &Path, m: &Manifest, body: &DeployBody, limits: &Limits) -> Result<()> {
    if m.files.len() > limits.max_files {
        return Err(Error::Api {
            status: 413,
            message: format!(
                "the deploy has {} files, over the server's limit of {} (max_files in `GET /v1/info`)",
                m.files.len(),
                limits.max_files
            ),
            hint: None,
        });
    }
    let total: u64 = m.files.iter().map(|f| f.size).sum();
    if total > limits.max_deploy_bytes {
        return Err(too_large(
            "the code",
            total,
            limits.max_deploy_bytes,
            "max_deploy_bytes",
        ));
    }
    let mut seen = BTreeSet::new();
    for f in &m.files {
        check_path("manifest file", &f.path)?;
        if !seen.insert(f.path.as_str()) {
            return Err(Error::invalid(
                format!("manifest file {:?} is listed twice", f.path),
                None,
            ));
        }
    }
    check_path("entrypoint", &body.code.entrypoint)?;
    if !seen.contains(body.code.entrypoint.as_str()) {
        return Err(Error::invalid(
            format!(
                "entrypoint {:?} is not among the manifest's files",
                body.code.entrypoint
            ),
            None,
        ));
    }
    let mut names = BTreeSet::new();
    for w in &m.wheels {
        check_wheel_name(&w.filename)?;
        if !names.insert(w.filename.as_str()) {
            return Err(Error::invalid(
                format!("wheel {:?} is listed twice", w.filename),
                None,
            ));
        }
    }
    let digests: Vec<String> = m
        .files
        .iter()
        .map(|f| f.digest.clone())
        .chain(m.lock.clone())
        .chain(m.wheels.iter().map(|w| w.digest.clone()))
        .collect();
    let lacking = missing(ns, &digests)?;
    if let Some(d) = lacking.first() {
        return Err(Error::invalid(
            format!(
                "{} of the deploy's files are not on the server (first: {d})",
                lacking.len()
            ),
            Some("upload them first (`POST /v1/blobs/missing` says which)".into()),
        ));
    }
    Ok(())
}

/// Lay the manifest out as `src/<name>/` (whole or not at all) and return the directory.
///
/// # Errors
/// IO.
pub fn materialise(ns: &Path, name: &str, m: &Manifest) -> Result<PathBuf> {
    let src = ns.join("src");
    prisn_local::paths::create_private_dir(&src).map_err(Error::io("create", &src))?;
    let staging = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .tempdir_in(&src)
        .map_err(Error::io("create a temp dir in", &src))?;
    for f in &m.files {
        let to = staging.path().join(&f.path);
        if let Some(dir) = to.parent() {
            std::fs::create_dir_all(dir).map_err(Error::io("create", dir))?;
        }
        let from = path_of(ns, &f.digest)?;
        std::fs::copy(&from, &to).map_err(Error::io("copy", &to))?;
        let mode = if f.executable { 0o755 } else { 0o644 };
        std::fs::set_permissions(&to, std::fs::Permissions::from_mode(mode))
            .map_err(Error::io("chmod", &to))?;
    }
    if let Some(lock) = &m.lock {
        let to = staging.path().join("prisn.lock");
        std::fs::copy(path_of(ns, lock)?, &to).map_err(Error::io("copy", &to))?;
    }
    std::fs::set_permissions(staging.path(), std::fs::Permissions::from_mode(0o755))
        .map_err(Error::io("chmod", staging.path()))?;
    let dest = src.join(name);
    let old = src.join(format!(".{name}.old"));
    let _ = std::fs::remove_dir_all(&old);
    if dest.exists() {
        std::fs::rename(&dest, &old).map_err(Error::io("move aside", &dest))?;
    }
    let staged = staging.keep();
    std::fs::rename(&staged, &dest).map_err(Error::io("rename into", &dest))?;
    let _ = std::fs::remove_dir_all(&old);
    Ok(dest)
}

/// Where a deploy's environment comes from: the index (`None`), or only the wheels it
/// shipped (`Some`: the server cannot reach an index).
pub type Wheels<'a> = Option<&'a [WheelFile]>;

/// Build (or find) the environment of the code in `dir` from its lock, never resolving.
///
/// # Errors
/// The builder's: a lock that is missing for declared dependencies, an install failure;
/// 400 for shipped wheels that do not match the lock.
pub fn environment(
    home: &Home,
    ns: &Path,
    dir: &Path,
    body: &DeployBody,
    wheels: Wheels,
    exe: &Path,
) -> Result<PathBuf> {
    use prisn_builder::lock::{EnsureOptions, LockMode};
    let failed = |e: prisn_builder::Error| {
        let hint = prisn_api::Hint::hint(&e);
        Error::invalid(
            format!("building the environment on the server failed: {e}"),
            hint,
        )
    };
    let opts = prisn_builder::prepare::Options {
        entrypoint: Some(body.code.entrypoint.clone()),
        python: None,
        lock: EnsureOptions {
            mode: LockMode::Frozen,
            ..Default::default()
        },
    };
    let target = if body.code.is_dir {
        dir.to_path_buf()
    } else {
        dir.join(&body.code.entrypoint)
    };
    let reporter = prisn_builder::reporter::NoReporter;
    let started = std::time::Instant::now();
    let mut r = prisn_builder::prepare::resolve(&target, &opts, home, &reporter).map_err(failed)?;
    let section = &r.lock.section;
    // Held until the install is done: the find-links directory of this deploy's wheels.
    let mut _links = None;
    if let Some(wheels) = wheels
        && section.runtime == prisn_builder::script::Runtime::Python3
        && !section.packages.is_empty()
    {
        check_wheels(section, wheels)?;
        let links = find_links(ns, wheels)?;
        r.requirements.index = prisn_builder::analyze::IndexOptions {
            no_index: true,
            find_links: vec![links.path().to_string_lossy().into_owned()],
            ..Default::default()
        };
        _links = Some(links);
    }
    let store = prisn_builder::store::Store::new(home);
    let env = prisn_builder::env::ensure(
        &store,
        &r.script,
        &r.requirements,
        section,
        &r.interpreter,
        &reporter,
    )
    .map_err(failed)?;
    if env.built {
        // What an operator (and bench/remote.sh) reads to see what a cold deploy cost.
        tracing::info!(
            "namespace {}: built the environment of {} in {} ms ({} shipped by the client)",
            ns.file_name().unwrap_or_default().to_string_lossy(),
            body.code.entrypoint,
            started.elapsed().as_millis(),
            match wheels.map_or(0, <[WheelFile]>::len) {
                1 => "1 wheel".to_string(),
                n => format!("{n} wheels"),
            }
        );
    }
    // Bytecode in the background: runs can't write it into the store, and without it every
    // start of a flask app compiled flask again (a code-only deploy 370 ms instead of 210).
    prisn_builder::env::optimise_detached(&env, home, exe);
    Ok(env.path.clone())
}

/// A directory holding exactly the deploy's wheels under their file names (links to the
/// blobs), in the temp directory a restart sweeps.
fn find_links(ns: &Path, wheels: &[WheelFile]) -> Result<tempfile::TempDir> {
    let tmp = tmp_dir(ns);
    prisn_local::paths::create_private_dir(&tmp).map_err(Error::io("create", &tmp))?;
    let links = tempfile::Builder::new()
        .prefix("wheels.")
        .tempdir_in(&tmp)
        .map_err(Error::io("create a temp dir in", &tmp))?;
    for w in wheels {
        let (from, to) = (path_of(ns, &w.digest)?, links.path().join(&w.filename));
        if std::fs::hard_link(&from, &to).is_err() {
            std::fs::copy(&from, &to).map_err(Error::io("copy", &to))?;
        }
    }
    Ok(links)
}
