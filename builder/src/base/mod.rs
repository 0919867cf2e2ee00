//! `prisn base`: a Debian base image from pinned packages, with no Docker and no apt on the
//! host — apko's idea, for Debian.
//!
//! ```text
//! mirror ─release::fetch→ Release (InRelease, gpgv-checked) ─index→ Index (Packages, sha256-checked)
//! Index + roots ─resolve::closure→ [Pin] ─lock→ base.lock
//! [Pin] ─fetch::debs→ .debs (sha256-checked, cached) ─unpack→ Tree ─setup→ Tree ─pack→ Layer
//! Layer + Section ─image::assemble→ StoredImage → OCI layout (--output) or registry (--image)
//! ```
//!
//! With a fresh base.lock nothing but the pinned `.deb`s is fetched (no InRelease, no index:
//! the lock's sha256s are the trust anchor then), and with those cached nothing at all: a
//! warm build of an unchanged lock reuses the image it built before. Decisions the issue
//! left open are in the module docs of [`setup`] (maintainer scripts), [`preset`] (package
//! sets), [`tree`] (modes and owners) and [`lock`] (what is pinned).

pub mod fetch;
pub mod image;
pub mod index;
pub mod lock;
pub mod preset;
pub mod release;
pub mod resolve;
pub mod setup;
pub mod tree;
pub mod unpack;
pub mod version;

use std::path::PathBuf;

use crate::deb::DebPackage;
use crate::error::{Error, Result};
use crate::home::Home;
use crate::image::BlobStore;
use crate::image::layout::StoredImage;
use crate::lock::LockMode;
use crate::reporter::{Event, Reporter};
use lock::{LockFile, Request, Section};
use preset::Preset;

/// Debian's own archive (the default `--mirror`).
pub const DEFAULT_MIRROR: &str = "http://deb.debian.org/debian";
/// The default suite.
pub const DEFAULT_SUITE: &str = "bookworm";
/// Bumped when the image of a base changes for the same lock (new setup steps, new labels):
/// part of the warm cache's key. v2: the `io.prisn.base.info` label; v3: its `debs`.
const FORMAT: &str = "prisn-base-v3";

/// How to build a base.
#[derive(Debug, Clone)]
pub struct Options {
    pub home: Home,
    pub mirror: String,
    pub keyring: PathBuf,
    pub lock_path: PathBuf,
    pub mode: LockMode,
    /// Resolve again against the archive as it is now, and rewrite the section.
    pub upgrade: bool,
    pub retries: u32,
}

/// A built base.
#[derive(Debug, Clone)]
pub struct Built {
    pub image: StoredImage,
    /// `sha256:` of the manifest.
    pub digest: String,
    pub section: Section,
    /// base.lock was (re)written.
    pub lock_written: bool,
    /// Reused from an earlier build of the same lock.
    pub cached: bool,
    /// Where the image's blobs are.
    pub store: BlobStore,
}

fn cache_dir(home: &Home) -> PathBuf {
    home.cache().join(crate::cache::DEBS)
}

/// Build the base `preset` from `request` (its lock section written or reused per `opts`).
///
/// # Errors
/// A refused `--locked`/`--frozen`, archive and signature errors, a closure that cannot be
/// met, or a download whose sha256 differs — each naming what failed.
pub async fn build(
    preset: &Preset,
    request: &Request,
    opts: &Options,
    reporter: &dyn Reporter,
) -> Result<Built> {
    let http = fetch::Http::new(opts.retries)?;
    // Both blob stores hold a lease on the cache (see crate::cache) for the whole build.
    let blobs = crate::image::build::blob_cache(&opts.home);
    let debs = BlobStore::in_cache(cache_dir(&opts.home), crate::cache::lease(&opts.home));
    let (section, lock_written) =
        ensure_lock(preset, request, opts, &http, &debs, reporter).await?;

    let epoch = crate::image::layer::source_date_epoch();
    let key = crate::digest::sha256_hex(
        format!(
            "{FORMAT}\n{}\n{}\n{}\n{epoch}",
            crate::image::gzip::FORMAT,
            preset.name,
            section.digest()
        )
        .as_bytes(),
    );
    let pointer = opts.home.cache().join(crate::cache::BASES).join(&key);
    if let Some(image) = image::cached(&blobs, &pointer, preset.name) {
        return Ok(Built {
            digest: image.manifest.digest.clone(),
            image,
            section,
            lock_written,
            cached: true,
            store: blobs,
        });
    }

    reporter.report(Event::Note(format!(
        "fetching {} packages from {}",
        section.packages.len(),
        opts.mirror
    )));
    let paths = fetch::debs(&http, &debs, &opts.mirror, &section.packages).await?;
    let (layer, debs) = layer(preset, &section, paths, &blobs, epoch, reporter).await?;
    let info = {
        let (blobs, digest) = (blobs.clone(), layer.digest.clone());
        let arch = section.request.architecture.clone();
        let name = format!("base {}", preset.name);
        crate::image::blocking::run("inspecting the base layer", move || {
            facts(&blobs, &digest, &arch, &name)
        })
        .await?
    };
    let image = image::assemble(&blobs, preset, &section, (&layer, &info, &debs), epoch)?;
    crate::atomic::write(&pointer, image.manifest.digest.as_bytes())?;
    Ok(Built {
        digest: image.manifest.digest.clone(),
        image,
        section,
        lock_written,
        cached: false,
        store: blobs,
    })
}

/// Unpack the `.deb`s into a tree, apply [`setup`], pack the tree as the base's one layer;
/// with the packages its dpkg status lists, read from the very bytes that go into the layer.
async fn layer(
    preset: &Preset,
    section: &Section,
    paths: Vec<PathBuf>,
    blobs: &BlobStore,
    epoch: u64,
    reporter: &dyn Reporter,
) -> Result<(crate::image::Layer, Vec<DebPackage>)> {
    let tree = {
        let section = section.clone();
        crate::image::blocking::run("unpacking the packages", move || rootfs(&section, &paths))
            .await?
    };
    let debs = match tree.get("var/lib/dpkg/status").map(|n| &n.kind) {
        Some(tree::Kind::File(status)) => {
            crate::deb::parse_status(&String::from_utf8_lossy(status))
        }
        _ => Vec::new(),
    };
    let name = format!("base {}", preset.name);
    reporter.report(Event::LayerStart {
        name: name.clone(),
        total: Some(tree.bytes()),
    });
    let layer = {
        let blobs = blobs.clone();
        crate::image::blocking::run("packing the base layer", move || {
            tree.pack(&blobs, epoch, crate::image::gzip::default_threads())
        })
        .await?
    };
    reporter.report(Event::LayerDone {
        name,
        digest: layer.digest.clone(),
        size: layer.size,
    });
    Ok((layer, debs))
}

/// What `prisn build` needs to know of the base (Python, libc, interpreter), found by the scan
/// `build` would make of the packed layer, so the label and a scan agree by construction.
fn facts(
    blobs: &BlobStore,
    digest: &str,
    arch: &str,
    name: &str,
) -> Result<crate::image::base::BaseInfo> {
    let path = blobs.path(digest);
    let file = std::fs::File::open(&path).map_err(Error::io("read", &path))?;
    let reader: Box<dyn std::io::Read> = Box::new(flate2::read::MultiGzDecoder::new(
        std::io::BufReader::new(file),
    ));
    crate::image::base::scan([Ok((digest.to_string(), reader))], arch, name)
}

/// Every `.deb` unpacked (xz decoding is the slow part: one package per core at a time),
/// merged in pin order so that a path two packages ship is decided the same way every time
/// (a file: the later package's; a directory: the first one's mode), then [`setup::apply`].
fn rootfs(section: &Section, paths: &[PathBuf]) -> Result<tree::Tree> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let next = AtomicUsize::new(0);
    let parts: Vec<std::sync::Mutex<Option<Result<tree::Tree>>>> =
        paths.iter().map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|s| {
        for _ in 0..crate::image::gzip::default_threads().min(paths.len()) {
            s.spawn(|| {
                while let Some(i) =
                    Some(next.fetch_add(1, Ordering::Relaxed)).filter(|&i| i < paths.len())
                {
                    let mut t = tree::Tree::default();
                    let r = unpack::deb_into(&paths[i], &section.packages[i].filename, &mut t);
                    *parts[i].lock().expect("no worker panics while holding it") =
                        Some(r.map(|()| t));
                }
            });
        }
    });
    let mut tree = tree::Tree::default();
    for part in parts {
        let part = part
            .into_inner()
            .expect("workers are done")
            .expect("every index was taken")?;
        for (path, node) in part.nodes {
            // A directory keeps the mode of the first package that has it.
            let both_dirs = node.kind == tree::Kind::Dir
                && tree.get(&path).is_some_and(|n| n.kind == tree::Kind::Dir);
            if !both_dirs {
                tree.put(&path, node);
            }
        }
    }
    setup::apply(&mut tree, &section.packages);
    Ok(tree)
}

/// The lock section to build from: reused when fresh, refused or resolved per the mode.
async fn ensure_lock(
    preset: &Preset,
    request: &Request,
    opts: &Options,
    http: &fetch::Http,
    cache: &BlobStore,
    reporter: &dyn Reporter,
) -> Result<(Section, bool)> {
    let path = &opts.lock_path;
    let file = LockFile::read(path)?;
    let current = file.as_ref().and_then(|f| f.base.get(preset.name));
    let fresh = current.map(|s| s.check(request));
    let name = preset.name;
    match (opts.mode, current, &fresh) {
        (_, Some(s), Some(Ok(()))) if !opts.upgrade => return Ok((s.clone(), false)),
        (LockMode::Frozen, Some(s), _) => return Ok((s.clone(), false)),
        (LockMode::Locked | LockMode::Frozen, None, _) => {
            return Err(Error::lock_state(
                format!("{} has no section for base {name}", path.display()),
                format!("run `prisn base {name}` (without --locked/--frozen) and commit base.lock"),
            ));
        }
        (LockMode::Locked, Some(_), Some(Err(why))) => {
            return Err(Error::lock_state(
                format!("{} is stale for base {name}: {why}", path.display()),
                format!("run `prisn base {name}` to update it (or --frozen to build it as it is)"),
            ));
        }
        (LockMode::Locked, Some(_), _) if opts.upgrade => {
            return Err(Error::lock_state(
                "--upgrade rewrites base.lock, which --locked forbids".into(),
                "drop one of the two flags".into(),
            ));
        }
        _ => {}
    }
    let release = release::fetch(http, &opts.mirror, &request.suite, &opts.keyring).await?;
    let mut index = index::Index::default();
    for component in &request.components {
        let (rel, sha, size) = release::packages_index(&release, component, &request.architecture)?;
        let url = fetch::url(&opts.mirror, &format!("dists/{}/{rel}", request.suite));
        let what = format!("dists/{}/{rel}", request.suite);
        let path = http.cached(cache, &url, (&sha, size), &what).await?;
        let text = read_index(&path, &rel)?;
        let part = index::parse(&text, &request.architecture, &what)?;
        for (k, v) in part.packages {
            index.packages.entry(k).or_default().extend(v);
        }
        for (k, v) in part.providers {
            index.providers.entry(k).or_default().extend(v);
        }
    }
    let pins = resolve::closure(&index, &request.packages, &request.exclude)?;
    reporter.report(Event::ResolveDone {
        script: format!("base {name}"),
        packages: pins.len(),
    });
    let section = Section {
        inputs: request.digest(),
        request: request.clone(),
        archive: lock::Archive {
            suite: release.suite.clone(),
            codename: release.codename.clone(),
            version: release.version.clone(),
            date: release.date.clone(),
            valid_until: release.valid_until.clone(),
            in_release: format!("sha256:{}", release.in_release_sha256),
        },
        packages: pins,
    };
    let mut file = file.unwrap_or(LockFile {
        version: lock::VERSION,
        ..Default::default()
    });
    file.version = lock::VERSION;
    file.base.insert(name.to_string(), section.clone());
    file.write(path)?;
    Ok((section, true))
}

/// A cached Packages index, decompressed by its extension.
fn read_index(path: &std::path::Path, rel: &str) -> Result<String> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(Error::io("read", path))?;
    let mut r: Box<dyn Read> = if rel.ends_with(".xz") {
        Box::new(xz2::read::XzDecoder::new_multi_decoder(
            std::io::BufReader::new(file),
        ))
    } else if rel.ends_with(".gz") {
        Box::new(flate2::read::MultiGzDecoder::new(std::io::BufReader::new(
            file,
        )))
    } else {
        Box::new(std::io::BufReader::new(file))
    };
    let mut text = String::new();
    r.read_to_string(&mut text).map_err(|e| Error::Archive {
        what: rel.to_string(),
        message: format!("cannot decompress: {e}"),
        hint: Some(format!("delete {} and run again", path.display())),
    })?;
    Ok(text)
}

/// The request for `preset`, with the user's package list, excludes and suite.
pub fn request(
    preset: &Preset,
    packages: Option<Vec<String>>,
    exclude: Vec<String>,
    suite: &str,
) -> Request {
    let mut packages = packages.unwrap_or_else(|| preset.default_packages());
    packages.sort();
    packages.dedup();
    let mut ex = preset.default_exclude();
    ex.extend(exclude);
    ex.sort();
    ex.dedup();
    Request {
        packages,
        exclude: ex,
        suite: suite.to_string(),
        architecture: "amd64".into(),
        components: vec!["main".into()],
    }
}
