//! The whole image pipeline in one call: base@digest + dependency layer + code layer →
//! config + manifest → pushed to a registry and/or written as an OCI layout.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use super::assemble::{self, Parts};
use super::base::{self, BaseRequest};
use super::blobs::BlobStore;
use super::blocking::run as run_blocking;
use super::bytecode::{BaseCompiler, Unpacking};
use super::code_layer::{self, APP};
use super::deps_layer::{self, Bytecode, DepsInput, SITE_PACKAGES};
use super::layer::{self, Layer};
use super::layout::{self, StoredImage};
use super::manifest::{Descriptor, OCI_MANIFEST};
use super::publish::{self, Pushed, Upstream};
use super::reference::Reference;
use super::registry::{Registries, RegistryOptions};
use crate::analyze;
use crate::error::{Error, Result};
use crate::home::Home;
use crate::lock::{BasePin, LockSection};
use crate::reporter::{Event, Reporter};
use crate::script::{Runtime, Script};

/// Labels every prisn image carries.
pub const LABEL_LOCK: &str = "io.prisn.lock-digest";
pub const LABEL_BASE: &str = "io.prisn.base-digest";
pub const LABEL_BASE_NAME: &str = "org.opencontainers.image.base.name";
pub const LABEL_BASE_DIGEST: &str = "org.opencontainers.image.base.digest";
pub const LABEL_RUNTIME: &str = "io.prisn.runtime";
/// The runtime a base made by `prisn base` is for, and its version: set by `prisn base`, read
/// by `prisn rebase` (defined here, on the image side, so both can use them).
pub const LABEL_BASE_RUNTIME: &str = "io.prisn.base.runtime";
pub const LABEL_BASE_VERSION: &str = "io.prisn.base.runtime-version";
/// Present when the dependency layer holds pycs: the base's interpreter that compiled them.
pub const LABEL_BYTECODE: &str = "io.prisn.bytecode";
/// How many of the image's layers are the base's (the rest are prisn's): what `prisn rebase`
/// takes off, read from the image itself (the old base need not be reachable).
pub const LABEL_BASE_LAYERS: &str = "io.prisn.base-layers";

/// Whether `key` is a label of prisn's own (not the base's): `io.prisn.*`, except the
/// `io.prisn.base.*` labels `prisn base` puts on bases. Every label `build` sets keeps to this,
/// so `prisn rebase` can tell them from the old base's, which it drops.
pub fn is_own_label(key: &str) -> bool {
    key.starts_with("io.prisn.") && !key.starts_with("io.prisn.base.")
}

/// The labels that name the base an image is built on (one definition for build and rebase).
pub fn base_labels(base: &base::Base) -> [(&'static str, String); 4] {
    [
        (LABEL_BASE, base.digest.clone()),
        (LABEL_BASE_NAME, base.name.to_string()),
        (LABEL_BASE_DIGEST, base.digest.clone()),
        (LABEL_BASE_LAYERS, base.manifest.layers.len().to_string()),
    ]
}

/// The variables prisn sets for `runtime` and the PATH entries it puts first: Python's
/// dependency layer goes on PYTHONPATH and its console scripts on PATH.
pub fn runtime_env(runtime: Runtime, has_deps: bool) -> (Vec<(String, String)>, Vec<String>) {
    if runtime == Runtime::Python3 && has_deps {
        (
            vec![("PYTHONPATH".to_string(), SITE_PACKAGES.to_string())],
            vec![format!("{SITE_PACKAGES}/bin")],
        )
    } else {
        (Vec::new(), Vec::new())
    }
}

/// The user images run as unless `--user` says otherwise: uid and gid of the `nonroot` user
/// that `prisn base` bases have (distroless's number, the operator's `runAsUser`). Numeric, so
/// runtimes can enforce `runAsNonRoot` without reading the image's /etc/passwd.
pub const DEFAULT_USER: &str = "65532:65532";

/// How to build and where to put the image.
#[derive(Debug, Clone)]
pub struct ImageOptions {
    pub home: Home,
    /// Push here (`registry/repo[:tag]`).
    pub target: Option<Reference>,
    /// Write an OCI image layout here.
    pub output: Option<PathBuf>,
    /// The base (`--base`, or the config's per-runtime base); `None` = the runtime default.
    pub base: Option<String>,
    /// `os/arch` of the image, used to pick from multi-platform bases.
    pub platform: String,
    /// Override uv's `--python-platform` (otherwise read from the base).
    pub python_platform: Option<String>,
    pub refresh_base: bool,
    pub offline: bool,
    pub bytecode: Bytecode,
    /// The config's `User` ([`DEFAULT_USER`]); `None` keeps the base's (root for most).
    pub user: Option<String>,
    pub allow_sdist: bool,
    pub registry: RegistryOptions,
    /// Record the base pin in prisn.lock when it changed.
    pub record_base: bool,
    /// Pack every layer again in scratch caches (for `--verify`).
    pub no_layer_cache: bool,
    /// gzip worker threads (0 = all cores).
    pub threads: usize,
    /// The uv that installs the dependency layer (`None`: `interpreter::uv_binary(None)`);
    /// the CLI names the one beside the host Python it resolved with.
    pub uv: Option<PathBuf>,
}

impl ImageOptions {
    /// Defaults: linux/amd64, all cores, record the base, no push, no layout.
    pub fn new(home: Home) -> Self {
        Self {
            home,
            target: None,
            output: None,
            base: None,
            platform: "linux/amd64".into(),
            python_platform: None,
            refresh_base: false,
            offline: false,
            bytecode: Bytecode::Base,
            user: Some(DEFAULT_USER.into()),
            allow_sdist: false,
            registry: RegistryOptions::default(),
            record_base: true,
            no_layer_cache: false,
            threads: 0,
            uv: None,
        }
    }
}

/// One layer of the result, for `-o json` and the figures.
#[derive(Debug, Clone, Serialize)]
pub struct LayerInfo {
    /// `base`, `dependencies` or `code`.
    pub role: String,
    pub digest: String,
    pub size: u64,
}

/// What [`build_image`] made.
#[derive(Debug, Clone, Serialize)]
pub struct BuiltImage {
    /// `registry/repo@sha256:…` when pushed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// The manifest digest.
    pub digest: String,
    pub config_digest: String,
    pub base: String,
    pub base_digest: String,
    pub lock_digest: String,
    pub layers: Vec<LayerInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layout: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub push: Option<Pushed>,
    /// Digest of the SBOM artifact attached to the image (crate::sbom::attach_built).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sbom: Option<String>,
    /// The image as stored in the blob cache (for verify and export).
    #[serde(skip)]
    pub stored: Option<StoredImage>,
}

/// The base an image of `runtime` gets when nothing else is configured. Python follows the
/// lock's minor version (`python:3.11-slim` for a 3.11 lock); the others are the runtime's
/// stock base ([`Runtime::default_base_image`]).
pub fn default_base(runtime: Runtime, section: &LockSection) -> String {
    match runtime {
        Runtime::Python3 => format!(
            "python:{}-slim",
            section.python.as_deref().unwrap_or("3.11")
        ),
        Runtime::Node | Runtime::Bash => runtime.default_base_image().into(),
    }
}

/// The base a build of `script` with `opts` is on, as named (`--base`; none named: the one
/// prisn.lock pins, so `--output` and `--offline` rebuild on it instead of reaching for the
/// runtime's default on docker.io; else that default), and how to resolve it.
///
/// # Errors
/// A base name that is not a reference.
pub fn base_request(
    script: &Script,
    section: &LockSection,
    opts: &ImageOptions,
) -> Result<(String, BaseRequest)> {
    let spec = opts
        .base
        .clone()
        .or_else(|| section.base.as_ref().map(|pin| pin.image.clone()))
        .unwrap_or_else(|| default_base(script.runtime, section));
    let request = BaseRequest {
        reference: Reference::parse(&spec)?,
        platform: opts.platform.clone(),
        pinned: section.base.clone(),
        refresh: opts.refresh_base,
    };
    Ok((spec, request))
}

/// The registries a build with `opts` on a base from `base_registry` talks to: offline, only
/// the base's and the target's.
pub fn registries(opts: &ImageOptions, base_registry: &str) -> Registries {
    let mut reg_opts = opts.registry.clone();
    reg_opts.offline |= opts.offline;
    if reg_opts.offline {
        reg_opts.offline_allowed.push(base_registry.to_string());
        reg_opts
            .offline_allowed
            .extend(opts.target.iter().map(|t| t.registry.clone()));
    }
    Registries::new(reg_opts)
}

/// The blob cache, `$PRISN_HOME/cache/blobs`. It holds a lease on the whole cache while it
/// (or a clone) lives, so `prisn gc` leaves the cache alone meanwhile; it waits while a gc
/// runs (see [`crate::cache`]).
pub fn blob_cache(home: &Home) -> BlobStore {
    BlobStore::in_cache(
        home.cache().join(crate::cache::BLOBS),
        crate::cache::lease(home),
    )
}

/// Build `script`'s image from `section` and push it and/or write it out.
///
/// # Example
/// ```no_run
/// # async fn deploy() -> prisn_builder::Result<()> {
/// use prisn_builder::image::{ImageOptions, Reference, build_image};
/// use prisn_builder::{NoReporter, home::Home, prepare};
///
/// let home = Home::from_env()?;
/// let resolved = prepare::resolve("app.py".as_ref(), &Default::default(), &home, &NoReporter)?;
/// let mut opts = ImageOptions::new(home);
/// opts.target = Some(Reference::parse("127.0.0.1:5000/team/app:v1")?);
/// let built = build_image(&resolved.script, &resolved.lock.section, &opts, &NoReporter).await?;
/// println!("{}", built.reference.unwrap()); // 127.0.0.1:5000/team/app@sha256:…
/// # Ok(())
/// # }
/// ```
///
/// # Guarantees
/// The manifest digest depends only on the script's files, the lock section, the base digest
/// and `SOURCE_DATE_EPOCH`; caches only make it faster. Bytecode is compiled by the base's own
/// Python, so the build machine's interpreter does not matter. The base pin is written to prisn.lock when `record_base` is set.
///
/// # Errors
/// Base resolution (registry, offline), a base that cannot run the script (no Python,
/// another minor version), the dependency install (no wheel for the platform), pushing.
pub async fn build_image(
    script: &Script,
    section: &LockSection,
    opts: &ImageOptions,
    reporter: &dyn Reporter,
) -> Result<BuiltImage> {
    stage_image(script, section, opts, reporter)
        .await?
        .publish(reporter)
        .await
}

/// An image built and written out, its blobs pushed as they were packed, all but its
/// manifest: what [`Staged::publish`] tags. Between the two, the image's digest is known, so
/// what refers to it (the SBOM) can be pushed beside its manifest instead of after it.
pub struct Staged {
    built: BuiltImage,
    target: Option<Reference>,
    regs: Registries,
    cache: BlobStore,
    upstream: Upstream,
    early: publish::Early,
}

impl Staged {
    /// The image as built: digest, config, layers, layout (not yet `reference` or `push`).
    pub fn built(&self) -> &BuiltImage {
        &self.built
    }

    /// Push the config and manifest (and tag) to `--image`, if any; the image with its
    /// `reference` and `push` filled in.
    ///
    /// # Errors
    /// Registry errors.
    pub async fn publish(&self, reporter: &dyn Reporter) -> Result<BuiltImage> {
        let mut built = self.built.clone();
        let (Some(target), Some(stored)) = (&self.target, &self.built.stored) else {
            return Ok(built);
        };
        reporter.report(Event::PushStart {
            target: target.to_string(),
        });
        let pushed = publish::push_with(
            &self.regs,
            target,
            stored,
            &self.cache,
            Some(&self.upstream),
            &self.early,
            reporter,
        )
        .await?;
        crate::timings::mark("pushed");
        built.reference = Some(pushed.reference.clone());
        built.push = Some(pushed);
        Ok(built)
    }
}

/// Everything [`build_image`] does but the last push: see [`Staged`].
///
/// # Errors
/// As [`build_image`].
pub async fn stage_image(
    script: &Script,
    section: &LockSection,
    opts: &ImageOptions,
    reporter: &dyn Reporter,
) -> Result<Staged> {
    crate::timings::mark("build started");
    let cache = blob_cache(&opts.home);
    let (base_spec, request) = base_request(script, section, opts)?;
    let regs = registries(opts, &request.reference.registry);
    let base = base::resolve(&regs, &request, &cache, reporter).await?;
    let pin = BasePin {
        image: base_spec.clone(),
        digest: base.digest.clone(),
    };
    if opts.record_base && section.base.as_ref() != Some(&pin) {
        crate::lock::record_base(script, pin, &opts.home)?;
        reporter.report(Event::Note(format!(
            "pinned base {base_spec} to {} in prisn.lock",
            base.digest
        )));
    }

    let threads = if opts.threads == 0 {
        super::gzip::default_threads()
    } else {
        opts.threads
    };
    let mtime = layer::source_date_epoch();
    // Verification packs into scratch caches so nothing cached can hide a difference.
    let scratch = if opts.no_layer_cache {
        Some(tempfile::tempdir().map_err(Error::io("create a temp dir in", std::env::temp_dir()))?)
    } else {
        None
    };
    let (layer_cache_dir, layer_blobs) = match &scratch {
        Some(t) => (
            t.path().to_path_buf(),
            BlobStore::new(t.path().join("blobs")),
        ),
        None => (opts.home.cache(), cache.clone()),
    };
    crate::timings::mark("base resolved");
    // Bytecode needs the base unpacked, which needs its layers: fetched and unpacked while
    // the dependencies install (a labelled base), or before its scan (one without).
    let (mut unpack_start, unpacking) = if script.runtime == Runtime::Python3
        && opts.bytecode == Bytecode::Base
        && !section.packages.is_empty()
    {
        let (start, unpacking) = Unpacking::later();
        (Some(start), Some(unpacking))
    } else {
        (None, None)
    };
    // Python: the base's own interpreter decides the wheels.
    let (python, platform, interpreter) = if script.runtime == Runtime::Python3 {
        let info = match base::labelled(&base) {
            Some(info) => info,
            None => {
                base::fetch_layers(&regs, &base, &cache, reporter).await?;
                if let Some(start) = unpack_start.take() {
                    start.start(base.clone(), cache.clone(), layer_cache_dir.clone());
                }
                // The layers are in the cache now: this only inspects them.
                base::info(&regs, &base, &cache, &opts.home, reporter).await?
            }
        };
        crate::timings::mark("base inspected");
        let Some(py) = info.python.clone() else {
            return Err(no_python(&base_spec));
        };
        if let Some(locked) = &section.python
            && !section.packages.is_empty()
            && *locked != py
        {
            return Err(other_python(&base_spec, script, locked, &py));
        }
        let platform = opts.python_platform.clone().or_else(|| info.uv_platform());
        (Some(py), platform, info.interpreter)
    } else {
        (None, None, None)
    };

    let requirements = analyze::analyze(script)?;
    // The code layer packs while the dependency layer installs (each on the blocking pool).
    let code_spec = code_layer::spec(script)?;
    // Pushing starts now, blob by blob, and the manifest goes last (publish::Early).
    let target = push_target(opts);
    let upstream = Upstream::base(&base);
    let early = publish::Early::default();
    let push_early = |blobs: Vec<Descriptor>, local: BlobStore| {
        let (target, early, upstream, regs) = (&target, &early, &upstream, &regs);
        async move {
            match target {
                Some(t) => {
                    early
                        .push(regs, t, &blobs, &local, Some(upstream), reporter)
                        .await
                }
                None => Ok(()),
            }
        }
    };
    let fetch = async {
        if let Some(start) = unpack_start {
            base::fetch_layers(&regs, &base, &cache, reporter).await?;
            crate::timings::mark("base layers fetched");
            start.start(base.clone(), cache.clone(), layer_cache_dir.clone());
        }
        Ok::<_, Error>(())
    };
    // Base layers mount within a registry at once; copied from another one, after the fetch
    // (which needs them anyway), so no layer is downloaded twice.
    let base_blobs = base.manifest.layers.clone();
    let base_layers = async {
        if target
            .as_ref()
            .is_some_and(|t| t.registry == base.name.registry)
        {
            tokio::try_join!(fetch, push_early(base_blobs, cache.clone()))?;
        } else {
            fetch.await?;
            push_early(base_blobs, cache.clone()).await?;
        }
        crate::timings::mark("base layers pushed");
        Ok::<_, Error>(())
    };
    let ((), deps, code) = tokio::try_join!(
        base_layers,
        async {
            let deps = deps_layer_task(
                script,
                section,
                &requirements.index,
                &base.digest,
                (python.clone(), platform.clone(), interpreter.clone()),
                compiler(unpacking, &base, &interpreter, threads)?,
                opts,
                (layer_cache_dir.clone(), layer_blobs.clone(), mtime, threads),
                reporter,
            )
            .await?;
            if let Some(l) = &deps {
                push_early(vec![descriptor(l)], layer_blobs.clone()).await?;
                crate::timings::mark("dependency layer pushed");
            }
            Ok(deps)
        },
        async {
            reporter.report(Event::LayerStart {
                name: "code".into(),
                total: None,
            });
            let blobs = layer_blobs.clone();
            let code = run_blocking("packing the code layer", move || {
                code_spec.pack(&blobs, mtime, threads)
            })
            .await?;
            crate::timings::mark("code layer packed");
            reporter.report(Event::LayerDone {
                name: "code".into(),
                digest: code.digest.clone(),
                size: code.size,
            });
            push_early(vec![descriptor(&code)], layer_blobs.clone()).await?;
            Ok::<_, Error>(code)
        }
    )?;
    if let Some(t) = scratch {
        // The scratch layers join the main cache, so a push or layout can find them; then the
        // scratch tree goes (copies and the deletion on the blocking pool, off the executor).
        let digests: Vec<String> = deps
            .iter()
            .chain(std::iter::once(&code))
            .map(|l| l.digest.clone())
            .collect();
        let cache = cache.clone();
        run_blocking("moving the verification layers", move || {
            for d in &digests {
                BlobStore::new(t.path().join("blobs")).copy_to(d, &cache)?;
            }
            t.close().map_err(Error::io(
                "remove the scratch directory",
                std::env::temp_dir(),
            ))
        })
        .await?;
    }

    let mut parts = parts(script, section, &base, deps.as_ref(), &code, mtime);
    parts.user = opts.user.clone();
    if let (Bytecode::Base, Some(_), Runtime::Python3) = (opts.bytecode, &deps, script.runtime) {
        parts.labels.insert(
            LABEL_BYTECODE.into(),
            format!(
                "unchecked-hash by the base's {} (Python {})",
                interpreter.as_deref().unwrap_or("python3"),
                python.as_deref().unwrap_or("3")
            ),
        );
    }
    let image = assemble::assemble(&base, &parts);
    crate::timings::mark("assembled");
    cache.put(&image.config)?;
    cache.put(&image.manifest)?;
    let tag = opts
        .target
        .as_ref()
        .and_then(|t| t.tag.clone())
        .unwrap_or_else(|| "latest".into());
    let stored = StoredImage {
        manifest: layout::named(
            OCI_MANIFEST,
            &image.manifest_digest,
            image.manifest.len() as u64,
            &tag,
        ),
        manifest_bytes: image.manifest.clone(),
        blobs: image.blobs(),
    };

    let mut layers: Vec<LayerInfo> = base
        .manifest
        .layers
        .iter()
        .map(|d| LayerInfo {
            role: "base".into(),
            digest: d.digest.clone(),
            size: d.size,
        })
        .collect();
    for (role, l) in deps
        .iter()
        .map(|l| ("dependencies", l))
        .chain([("code", &code)])
    {
        layers.push(LayerInfo {
            role: role.into(),
            digest: l.digest.clone(),
            size: l.size,
        });
    }
    let mut built = BuiltImage {
        reference: None,
        digest: image.manifest_digest.clone(),
        config_digest: image.config_digest.clone(),
        base: base_spec,
        base_digest: base.digest.clone(),
        lock_digest: section.digest(),
        layers,
        layout: None,
        push: None,
        sbom: None,
        stored: None,
    };

    if let Some(dir) = &opts.output {
        base::fetch_layers(&regs, &base, &cache, reporter).await?;
        let (out, blobs, image) = (dir.clone(), cache.clone(), stored.clone());
        run_blocking("writing the image layout", move || {
            layout::write(&out, &blobs, std::slice::from_ref(&image))
        })
        .await?;
        built.layout = Some(dir.clone());
    }
    built.stored = Some(stored);
    Ok(Staged {
        built,
        target,
        regs,
        cache,
        upstream,
        early,
    })
}

/// Where the image goes: `--image`, where a name without tag or digest is pushed as
/// `:latest` too (as ko and docker do), so registries and tools that list tags see it.
fn push_target(opts: &ImageOptions) -> Option<Reference> {
    let mut target = opts.target.clone()?;
    if target.tag.is_none() && target.digest.is_none() {
        target.tag = Some("latest".into());
    }
    Some(target)
}

/// A layer as a manifest names it (what a push needs: digest and size).
fn descriptor(l: &Layer) -> Descriptor {
    Descriptor::new(layer::MEDIA_TYPE, &l.digest, l.size)
}

fn no_python(base: &str) -> Error {
    Error::Base {
        base: base.to_string(),
        message: "has no Python 3 (no lib/python3.*/os.py in any layer)".into(),
        hint: "a Python script needs a base with python3: give one with --base (e.g. python:3.11-slim or your mirror of it)".into(),
    }
}

fn other_python(base: &str, script: &Script, locked: &str, py: &str) -> Error {
    Error::Base {
        base: base.to_string(),
        message: format!(
            "has Python {py}, but prisn.lock resolved {} for Python {locked}",
            script.entrypoint
        ),
        hint: format!(
            "use a base with Python {locked} (e.g. --base python:{locked}-slim), or lock for {py}: prisn lock --python python{py} {}",
            script.entrypoint
        ),
    }
}

/// The base's Python as the dependency layer's compiler, when bytecode is wanted (the base
/// is then being unpacked).
///
/// # Errors
/// A Python base whose `python3` is not where images have it.
fn compiler(
    unpacking: Option<Unpacking>,
    base: &base::Base,
    interpreter: &Option<String>,
    shards: usize,
) -> Result<Option<BaseCompiler>> {
    let Some(rootfs) = unpacking else {
        return Ok(None);
    };
    let Some(interpreter) = interpreter.clone() else {
        return Err(Error::Base {
            base: base.name.to_string(),
            message: "has Python's standard library but no python3 in /usr/local/bin, /usr/bin or /bin to byte-compile the dependencies with".into(),
            hint: "build with --no-bytecode, or use a base with python3 on the usual PATH".into(),
        });
    };
    Ok(Some(BaseCompiler {
        rootfs,
        interpreter,
        shards,
    }))
}

/// The dependency layer on the blocking pool (uv, compile, tar and gzip), with owned copies
/// of the inputs; `None` when nothing is locked.
#[allow(clippy::too_many_arguments)]
async fn deps_layer_task(
    script: &Script,
    section: &LockSection,
    index: &analyze::IndexOptions,
    base_digest: &str,
    (python, platform, interpreter): (Option<String>, Option<String>, Option<String>),
    compiler: Option<BaseCompiler>,
    opts: &ImageOptions,
    (dir, blobs, mtime, threads): (PathBuf, BlobStore, u64, usize),
    reporter: &dyn Reporter,
) -> Result<Option<Layer>> {
    if !section.packages.is_empty() {
        reporter.report(Event::LayerStart {
            name: "dependencies".into(),
            total: None,
        });
    }
    let (script, section, index, base_digest) = (
        script.clone(),
        section.clone(),
        index.clone(),
        base_digest.to_string(),
    );
    let (allow_sdist, offline, uv) = (opts.allow_sdist, opts.offline, opts.uv.clone());
    let layer = run_blocking("building the dependency layer", move || {
        deps_layer::build(
            &DepsInput {
                script: &script,
                section: &section,
                index: &index,
                base_digest: &base_digest,
                python: python.as_deref(),
                interpreter: interpreter.as_deref(),
                platform: platform.as_deref(),
                bytecode: compiler.as_ref(),
                allow_sdist,
                offline,
                mtime,
                uv: uv.as_deref(),
            },
            &dir,
            &blobs,
            threads,
        )
    })
    .await?;
    crate::timings::mark("dependency layer packed");
    if let Some(l) = &layer {
        reporter.report(Event::LayerDone {
            name: "dependencies".into(),
            digest: l.digest.clone(),
            size: l.size,
        });
    }
    Ok(layer)
}

fn parts(
    script: &Script,
    section: &LockSection,
    base: &base::Base,
    deps: Option<&Layer>,
    code: &Layer,
    mtime: u64,
) -> Parts {
    let mut layers = Vec::new();
    let (env, path_prepend) = runtime_env(script.runtime, deps.is_some());
    if let Some(d) = deps {
        layers.push((
            d.clone(),
            format!(
                "prisn: {} locked package(s) for {}",
                section.packages.len(),
                script.runtime
            ),
        ));
    }
    layers.push((
        code.clone(),
        format!("prisn: code of {} at {APP}", script.entrypoint),
    ));
    let labels: BTreeMap<String, String> = [
        (LABEL_LOCK, section.digest()),
        (LABEL_RUNTIME, script.runtime.as_str().to_string()),
    ]
    .into_iter()
    .chain(base_labels(base))
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    Parts {
        layers,
        entrypoint: code_layer::entrypoint(script),
        env,
        path_prepend,
        workdir: APP.into(),
        user: None,
        labels,
        created: assemble::created(mtime),
    }
}
