//! `prisn build SCRIPT --image REF | --output DIR`: the reproducible OCI image. Also the
//! registry flags and helpers the push/export/import/login/verify commands share.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::Args;
use prisn_builder::image::auth::AuthFiles;
use prisn_builder::image::{BuiltImage, Bytecode, ImageOptions, Reference, RegistryOptions};

use super::{home, prepare_options};
use crate::cli::{BuildArgs, Global};
use crate::printer::{self, Format};
use crate::reporter;

/// How `prisn build` makes an image (all optional; without --image/--output no image is made).
#[derive(Debug, Args, Clone, Default)]
pub struct ImageArgs {
    /// Build an image and push it: REGISTRY/REPO[:TAG], or REPO[:TAG] under --registry
    /// (or the current context's registry). Prints REGISTRY/REPO@sha256:… on stdout.
    #[arg(long, value_name = "REF")]
    pub image: Option<String>,
    /// Write the image as an OCI image layout into DIR instead of (or as well as) pushing.
    #[arg(long, value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// The base image (default per runtime: python:<lock's Python>-slim, node:20-slim,
    /// bash:5; or `[base]` in config.toml). Pinned by digest in prisn.lock on first use.
    #[arg(long, value_name = "REF", env = "PRISN_BASE")]
    pub base: Option<String>,
    /// Resolve the base's tag again instead of using the digest pinned in prisn.lock.
    #[arg(long)]
    pub refresh_base: bool,
    /// Use only prisn.lock, the store and local caches; fail if anything is missing.
    #[arg(long)]
    pub offline: bool,
    /// Rebuild from source and lock with empty layer caches and check the digest is the same.
    #[arg(long)]
    pub verify: bool,
    /// Platform of the image (picks from multi-platform bases).
    #[arg(long, value_name = "OS/ARCH", default_value = "linux/amd64")]
    pub platform: String,
    /// uv's --python-platform for the dependencies (default: read from the base's libc).
    #[arg(long, value_name = "PLATFORM")]
    pub python_platform: Option<String>,
    /// Ship byte-compiled packages (PEP 552 unchecked-hash .pyc, faster imports) compiled
    /// with a python3.X of the base's minor version found on PATH (or PY).
    #[arg(long, value_name = "PY", num_args = 0..=1, default_missing_value = "")]
    pub bytecode: Option<String>,
    /// Build packages that publish no wheel for the base's platform from source on this
    /// machine (only sound for pure-Python packages).
    #[arg(long)]
    pub allow_sdist: bool,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

impl ImageArgs {
    pub fn wanted(&self) -> bool {
        self.image.is_some() || self.output.is_some()
    }
}

/// Where registries are and how to reach them.
#[derive(Debug, Args, Clone, Default)]
pub struct RegistryArgs {
    /// Registry (HOST[:PORT][/PREFIX]) for image names without one; default: the context's.
    #[arg(long, value_name = "HOST[/PREFIX]", env = "PRISN_REGISTRY")]
    pub registry: Option<String>,
    /// Allow plain HTTP or an unverified certificate for this registry (repeatable).
    /// localhost and 127.0.0.0/8 need no flag.
    #[arg(long, value_name = "HOST[:PORT]")]
    pub insecure_registry: Vec<String>,
    /// Trust the CA certificate in this PEM file for registries (repeatable).
    #[arg(long, value_name = "FILE")]
    pub registry_ca: Vec<PathBuf>,
}

/// A tokio runtime for one command (the library is async; the CLI is not).
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Registry options from flags and `$PRISN_HOME/config.toml` (`[registries."HOST"]`).
pub fn registry_options(
    args: &RegistryArgs,
    home: &prisn_builder::home::Home,
    offline: bool,
) -> anyhow::Result<RegistryOptions> {
    let config = crate::context::Config::load(home)?;
    let mut opts = RegistryOptions {
        auth: AuthFiles::standard(home.root()),
        offline,
        ..Default::default()
    };
    opts.insecure = args.insecure_registry.clone();
    opts.ca_files = args.registry_ca.clone();
    for (host, settings) in &config.registries {
        if settings.insecure && !opts.insecure.contains(host) {
            opts.insecure.push(host.clone());
        }
        if let Some(ca) = &settings.ca {
            opts.ca_files.push(ca.clone());
        }
    }
    if let Ok(n) = std::env::var("PRISN_PUSH_RETRIES")
        && let Ok(n) = n.parse()
    {
        opts.retries = n;
    }
    Ok(opts)
}

/// The registry prefix from the flag, else the registry of the context in effect
/// (`--context`, `PRISN_CONTEXT`, the current one).
pub fn default_registry(
    args: &RegistryArgs,
    home: &prisn_builder::home::Home,
    global: &Global,
) -> anyhow::Result<Option<String>> {
    if let Some(r) = &args.registry {
        return Ok(Some(r.trim_end_matches('/').to_string()));
    }
    let ctx = crate::context::Config::load(home)?.resolve(global.context.as_deref(), None)?;
    Ok(Some(ctx.registry).filter(|r| !r.is_empty()))
}

/// `REPO[:TAG]` → `REGISTRY[/PREFIX]/REPO[:TAG]` when the name has no registry of its own.
pub fn qualify(name: &str, registry: Option<&str>) -> anyhow::Result<Reference> {
    let first = name.split('/').next().unwrap_or("");
    let has_registry =
        name.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    let full = match (has_registry, registry) {
        (true, _) => name.to_string(),
        (false, Some(reg)) => format!("{}/{name}", reg.trim_end_matches('/')),
        (false, None) => bail!(
            "{name:?} names no registry; write REGISTRY/REPO[:TAG] (e.g. 127.0.0.1:5000/{name}), pass --registry, or set one in the context"
        ),
    };
    Ok(Reference::parse(&full)?)
}

/// `prisn build … --image/--output`.
pub fn run(global: &Global, args: BuildArgs) -> anyhow::Result<ExitCode> {
    let home = home()?;
    let img = &args.image;
    let reporter = reporter::make(global.quiet, global.no_progress);
    let resolved = prisn_builder::prepare::resolve(
        &args.script.script,
        &prepare_options(&args.script, &args.lock),
        &home,
        reporter.as_ref(),
    )?;
    let target = match &img.image {
        Some(name) => Some(qualify(
            name,
            default_registry(&img.registry, &home, global)?.as_deref(),
        )?),
        None => None,
    };
    let config = crate::context::Config::load(&home)?;
    let runtime_name = resolved.script.runtime.as_str();
    let mut opts = ImageOptions::new(home.clone());
    opts.target = target;
    opts.output = img.output.clone();
    opts.base = img
        .base
        .clone()
        .or_else(|| config.base.get(runtime_name).cloned());
    opts.platform = img.platform.clone();
    opts.python_platform = img.python_platform.clone();
    opts.refresh_base = img.refresh_base;
    opts.offline = img.offline;
    opts.allow_sdist = img.allow_sdist;
    opts.registry = registry_options(&img.registry, &home, img.offline)?;
    opts.bytecode = bytecode(img.bytecode.as_deref(), &resolved.lock.section)?;
    // A lock written during this run already holds what a later pin needs.
    let mut section = resolved.lock.section.clone();
    let rt = runtime()?;
    let built: BuiltImage = rt.block_on(prisn_builder::image::build_image(
        &resolved.script,
        &section,
        &opts,
        reporter.as_ref(),
    ))?;
    if img.verify {
        section.base = Some(prisn_builder::lock::BasePin {
            image: built.base.clone(),
            digest: built.base_digest.clone(),
        });
        let mut again = opts.clone();
        again.target = None;
        again.output = None;
        again.record_base = false;
        again.no_layer_cache = true;
        let rebuilt = rt.block_on(prisn_builder::image::build_image(
            &resolved.script,
            &section,
            &again,
            reporter.as_ref(),
        ))?;
        super::verify::compare(&built, &rebuilt)?;
        reporter.report(prisn_builder::Event::Note(format!(
            "verified: a rebuild from source and lock with empty layer caches gives {}",
            built.digest
        )));
    }
    drop(reporter);
    match args.format {
        Format::Text => printer::line(
            built
                .reference
                .clone()
                .unwrap_or_else(|| built.digest.clone()),
        ),
        f => printer::value(f, &built)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// `--bytecode [PY]` → the interpreter to compile with (same minor version as the lock).
fn bytecode(
    flag: Option<&str>,
    section: &prisn_builder::lock::LockSection,
) -> anyhow::Result<Bytecode> {
    let Some(flag) = flag else {
        return Ok(Bytecode::None);
    };
    if !flag.is_empty() {
        return Ok(Bytecode::Compile(PathBuf::from(flag)));
    }
    let minor = section.python.as_deref().unwrap_or("3");
    let name = format!("python{minor}");
    match prisn_builder::interpreter::find_on_path(&name) {
        Some(p) => Ok(Bytecode::Compile(p)),
        None => bail!(
            "--bytecode needs {name} on PATH to compile for the base's Python; give one with --bytecode /path/to/{name}"
        ),
    }
}
