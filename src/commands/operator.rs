//! `prisn operator manifests | image | install`: the YAML that installs the operator (from
//! the same code that writes the committed files under operator/config/), the operator's
//! image (prisn's own image code, on a `prisn base` base), and the install itself.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use prisn::image::{qualify, runtime};
use prisn_builder::image::layout::{self, StoredImage};
use prisn_builder::image::operator::{self as image_op, Inputs};
use prisn_builder::image::{BlobStore, Registries, publish, referrers};

use super::{home, settings};
use crate::cli::{
    Global, OperatorCmd, OperatorImageArgs, OperatorImageSource, OperatorInstallArgs, RegistryArgs,
};
use crate::printer;
use crate::reporter;

pub fn run(global: &Global, cmd: OperatorCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        OperatorCmd::Manifests { image, crds_only } => {
            let yaml = match (crds_only, image) {
                (true, _) => prisn_api::manifests::crds_yaml()?,
                (false, Some(image)) => prisn_api::manifests::render(&image),
                (false, None) => anyhow::bail!("--image REF is required (or --crds-only)"),
            };
            printer::line(yaml.trim_end());
        }
        OperatorCmd::Image(args) => image(global, args)?,
        OperatorCmd::Install(args) => install(global, args)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// The operator image in the blob cache.
fn build(source: &OperatorImageSource) -> anyhow::Result<(StoredImage, BlobStore)> {
    let Some(base) = &source.base else {
        bail!("--base DIR is required: an OCI layout made by `prisn base bash --output DIR`");
    };
    let binary = match &source.binary {
        Some(b) => b.clone(),
        None => beside_this_binary()?,
    };
    let home = home()?;
    let store = prisn_builder::image::build::blob_cache(&home);
    let inputs = Inputs {
        base_layout: base.clone(),
        base_name: source.base_name.clone(),
        binary,
        epoch: prisn_builder::image::layer::source_date_epoch(),
        version: env!("CARGO_PKG_VERSION").to_string(),
    };
    let img = image_op::build(&store, &home.cache(), &inputs)?;
    Ok((img, store))
}

/// The operator image's SBOM (its base's Debian packages and the binary), its blobs in
/// `store`: every image prisn makes has one, the operator's too.
fn sbom(img: &StoredImage, store: &BlobStore) -> anyhow::Result<StoredImage> {
    let cache = home()?.cache();
    Ok(prisn_builder::sbom::for_operator(
        store,
        &cache,
        img,
        env!("CARGO_PKG_VERSION"),
    )?)
}

/// `prisn-operator` in the directory of this executable (cargo's target dir, or where a
/// package installed both).
fn beside_this_binary() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("cannot find this executable's path")?;
    let bin = exe.with_file_name("prisn-operator");
    if !bin.is_file() {
        bail!(
            "no prisn-operator beside {}; pass --binary FILE (build it with `cargo build --release -p prisn-operator`)",
            exe.display()
        );
    }
    Ok(bin)
}

fn push(
    global: &Global,
    reg: &RegistryArgs,
    name: &str,
    img: &StoredImage,
    store: &BlobStore,
) -> anyhow::Result<String> {
    let settings = settings(global)?;
    let flags = prisn::settings::RegistryFlags::from(reg);
    let target = qualify(name, settings.registry(&flags).as_deref())?;
    let regs = Registries::new(settings.registry_options(&flags, false));
    let reporter = reporter::make(global.quiet, global.no_progress);
    let rt = runtime()?;
    let pushed = rt.block_on(publish::push(
        &regs,
        &target,
        img,
        store,
        None,
        reporter.as_ref(),
    ))?;
    rt.block_on(referrers::push(&regs, &target, &sbom(img, store)?, store))?;
    Ok(pushed.reference)
}

fn image(global: &Global, args: OperatorImageArgs) -> anyhow::Result<()> {
    let (img, store) = build(&args.source)?;
    if let Some(dir) = &args.output {
        layout::write(dir, &store, &[img.clone(), sbom(&img, &store)?])?;
    }
    match &args.image {
        Some(name) => printer::line(push(global, &args.registry, name, &img, &store)?),
        None => printer::line(&img.manifest.digest),
    }
    Ok(())
}

fn install(global: &Global, args: OperatorInstallArgs) -> anyhow::Result<()> {
    let image = match &args.image {
        Some(image) if image.contains("@sha256:") => image.clone(),
        Some(image) => bail!(
            "--image {image} is not pinned by digest; give REF@sha256:… (as `prisn operator image --image` prints)"
        ),
        None if args.source.base.is_none() => match prisn::version::recorded_operator_image() {
            Some(image) => image.to_string(),
            None => bail!(
                "give --base DIR (build and push the image) or --image REF@sha256:…: this prisn has no operator image recorded ({})",
                prisn::version::OPERATOR_IMAGE
            ),
        },
        None => {
            let (img, store) = build(&args.source)?;
            let name = format!("prisn-operator:{}", env!("CARGO_PKG_VERSION"));
            push(global, &args.registry, &name, &img, &store)?
        }
    };
    let namespace = global
        .namespace
        .clone()
        .unwrap_or_else(|| prisn_api::manifests::NAMESPACE.to_string());
    let settings = settings(global)?;
    let reporter = reporter::make(global.quiet, global.no_progress);
    let installed = runtime()?.block_on(async {
        let cluster = prisn::deploy::client::connect(&settings.context).await?;
        prisn::operator::install(
            &cluster.client,
            &image,
            &namespace,
            args.timeout,
            reporter.as_ref(),
        )
        .await
    })?;
    drop(reporter);
    printer::note(format!(
        "operator {} is Ready in namespace {}",
        installed.image, installed.namespace
    ));
    printer::line(&installed.image);
    Ok(())
}
