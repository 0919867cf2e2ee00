//! The image plan: one composition of build → push used by `prisn build --image/--output`,
//! `prisn deploy` in Kubernetes mode and, next, the remote server (ko's `makeBuilder`: compose
//! once, so the commands cannot drift). [`BuildFlags`] are the typed build flags every command
//! that builds accepts; [`plan`] turns them and the [`Settings`] into the builder's
//! [`ImageOptions`]; [`build`] runs it, with `--verify`'s rebuild when asked.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use prisn_builder::Reporter;
use prisn_builder::image::{BuiltImage, Bytecode, ImageOptions, Reference};
use prisn_builder::prepare::Resolved;

use crate::settings::{RegistryFlags, Settings};

/// How to build an image: the same flags on `build` and `deploy` (typed, no clap).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildFlags {
    /// `--base REF`: overrides `[base]` in config.toml and the runtime's default.
    pub base: Option<String>,
    /// `--refresh-base`: resolve the base's tag again instead of using the lock's pin.
    pub refresh_base: bool,
    /// `--offline`: only prisn.lock, the store and local caches.
    pub offline: bool,
    /// `--platform OS/ARCH`.
    pub platform: String,
    /// `--python-platform`: uv's platform for the dependencies.
    pub python_platform: Option<String>,
    /// Ship the dependencies byte-compiled by the base's own Python (`--no-bytecode`: false).
    pub bytecode: bool,
    /// `--user USER[:GROUP]`: the image's `User`; `None` = 65532:65532
    /// ([`prisn_builder::image::build::DEFAULT_USER`]).
    pub user: Option<String>,
    /// `--allow-sdist`: build packages without a wheel for the platform from source.
    pub allow_sdist: bool,
    /// `--registry`, `--insecure-registry`, `--registry-ca`.
    pub registry: RegistryFlags,
}

impl Default for BuildFlags {
    fn default() -> Self {
        BuildFlags {
            base: None,
            refresh_base: false,
            offline: false,
            platform: "linux/amd64".into(),
            python_platform: None,
            bytecode: true,
            user: None,
            allow_sdist: false,
            registry: RegistryFlags::default(),
        }
    }
}

/// Where the image goes.
#[derive(Debug, Clone, Default)]
pub struct Destination {
    /// Push here.
    pub target: Option<Reference>,
    /// Write an OCI image layout here.
    pub output: Option<PathBuf>,
}

/// The builder's options for `resolved`, from the flags and the settings.
///
/// # Errors
/// A malformed `--user`.
pub fn plan(
    settings: &Settings,
    resolved: &Resolved,
    flags: &BuildFlags,
    dest: Destination,
) -> anyhow::Result<ImageOptions> {
    let mut opts = ImageOptions::new(settings.home.clone());
    opts.target = dest.target;
    opts.output = dest.output;
    opts.base = settings.base(resolved.script.runtime, flags.base.as_deref());
    opts.platform = flags.platform.clone();
    opts.python_platform = flags.python_platform.clone();
    opts.refresh_base = flags.refresh_base;
    opts.offline = flags.offline;
    opts.allow_sdist = flags.allow_sdist;
    opts.registry = settings.registry_options(&flags.registry, flags.offline);
    // The uv beside the host Python (not a shim on PATH), as the lock and `prisn run` use.
    if let prisn_builder::env::Interpreter::Python(py) = &resolved.interpreter {
        opts.uv = prisn_builder::interpreter::uv_binary(Some(py));
    }
    opts.bytecode = if flags.bytecode {
        Bytecode::Base
    } else {
        Bytecode::None
    };
    if let Some(user) = &flags.user {
        check_user(user)?;
        opts.user = Some(user.clone());
    }
    Ok(opts)
}

/// `--user`: `USER[:GROUP]`, each a number or a passwd-style name (what the OCI config's
/// `User` allows), so nothing odd reaches the image config.
///
/// # Errors
/// An empty part, or a character outside letters, digits, `.`, `_` and `-`.
pub fn check_user(user: &str) -> anyhow::Result<()> {
    let ok = |part: &str| {
        !part.is_empty()
            && part.len() <= 64
            && !part.starts_with('-')
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    };
    let (name, group) = match user.split_once(':') {
        Some((n, g)) => (n, Some(g)),
        None => (user, None),
    };
    if !ok(name) || group.is_some_and(|g| !ok(g)) {
        bail!(
            "--user {user:?} is not USER[:GROUP] (each a number or a name of letters, digits, '.', '_' and '-'); e.g. --user 65532:65532 or --user 0 for root"
        );
    }
    Ok(())
}

/// Build (and push / write) the image `opts` describe; with `verify`, rebuild it from source
/// and lock with empty layer caches and fail unless the digest is the same.
///
/// # Errors
/// Any builder or registry error; a rebuild with another digest (naming what differs).
pub fn build(
    rt: &tokio::runtime::Runtime,
    resolved: &Resolved,
    opts: &ImageOptions,
    verify: bool,
    reporter: &dyn Reporter,
) -> anyhow::Result<BuiltImage> {
    // The SBOM's reading of the base runs beside the build, and its push beside the image's
    // manifest, not after it (both dropped when the build fails).
    let built = rt.block_on(async {
        let (staged, ()) = tokio::try_join!(
            prisn_builder::image::stage_image(
                &resolved.script,
                &resolved.lock.section,
                opts,
                reporter,
            ),
            async {
                prisn_builder::sbom::prepare(&resolved.script, &resolved.lock.section, opts).await;
                Ok(())
            },
        )?;
        let (mut built, sbom) = tokio::try_join!(
            staged.publish(reporter),
            prisn_builder::sbom::attach(
                &resolved.script,
                &resolved.lock.section,
                opts,
                staged.built(),
                reporter,
            ),
        )?;
        built.sbom = Some(sbom);
        Ok::<_, prisn_builder::Error>(built)
    })?;
    if verify {
        // A lock written during this run already holds what a later pin needs.
        let mut section = resolved.lock.section.clone();
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
            reporter,
        ))?;
        compare(&built, &rebuilt)?;
        reporter.report(prisn_builder::Event::Note(format!(
            "verified: a rebuild from source and lock with empty layer caches gives {}",
            built.digest
        )));
    }
    Ok(built)
}

/// `REPO[:TAG]` → `REGISTRY[/PREFIX]/REPO[:TAG]` when the name has no registry of its own.
///
/// # Errors
/// A name without a registry when none is configured; a malformed reference.
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

/// A tokio runtime for one command (the libraries are async; the CLI is not).
///
/// # Errors
/// When the runtime cannot start.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Same digest, or an error that says which part differs.
///
/// # Errors
/// The digests differ: names each layer, the base and the config that differ.
pub fn compare(first: &BuiltImage, again: &BuiltImage) -> anyhow::Result<()> {
    if first.digest == again.digest {
        return Ok(());
    }
    let mut diffs = Vec::new();
    let roles = |b: &BuiltImage| {
        b.layers
            .iter()
            .filter(|l| l.role != "base")
            .map(|l| (l.role.clone(), l.digest.clone()))
            .collect::<Vec<_>>()
    };
    let (a, b) = (roles(first), roles(again));
    for (role, digest) in &a {
        match b.iter().find(|(r, _)| r == role) {
            Some((_, d)) if d != digest => diffs.push(format!("{role} layer: {digest} vs {d}")),
            None => diffs.push(format!("{role} layer missing in the rebuild")),
            _ => {}
        }
    }
    if first.base_digest != again.base_digest {
        diffs.push(format!(
            "base: {} vs {}",
            first.base_digest, again.base_digest
        ));
    }
    if first.config_digest != again.config_digest {
        diffs.push(format!(
            "config: {} vs {}",
            first.config_digest, again.config_digest
        ));
    }
    bail!(
        "not reproducible: the rebuild gives {} instead of {}\n  {}",
        again.digest,
        first.digest,
        diffs.join("\n  ")
    )
}

#[cfg(test)]
mod tests {
    use super::check_user;

    #[test]
    fn user_is_user_colon_group_of_plain_names() {
        for good in ["65532:65532", "0", "nonroot", "app:staff", "a.b_c-d"] {
            check_user(good).unwrap_or_else(|e| panic!("{good}: {e}"));
        }
        for bad in [
            "", ":", "1:", ":1", "a b", "-1", "1:2:3", "root\n", "../x", "a;b",
        ] {
            let e = check_user(bad).expect_err(bad).to_string();
            assert!(e.contains("--user") && e.contains("USER[:GROUP]"), "{e}");
        }
    }
}
