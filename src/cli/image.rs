//! Flags of the image commands: build, push, export, import, login, verify.

use std::path::PathBuf;

use clap::Args;

use prisn_builder::base::{self, preset};

use super::args::{BuildFlagsArgs, Format, LockMode, RegistryArgs, ScriptArgs};

/// `prisn build`: the environment, and with --image/--output the image.
#[derive(Debug, Args)]
pub struct BuildArgs {
    #[command(flatten)]
    pub script: ScriptArgs,
    #[command(flatten)]
    pub lock: LockMode,
    /// Build an image and push it: REGISTRY/REPO[:TAG], or REPO[:TAG] under --registry
    /// (or the current context's registry). Prints REGISTRY/REPO@sha256:… on stdout.
    #[arg(long, value_name = "REF")]
    pub image: Option<String>,
    /// Write the image as an OCI image layout into DIR instead of (or as well as) pushing.
    #[arg(long, value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// Rebuild from source and lock with empty layer caches and check the digest is the same.
    #[arg(long)]
    pub verify: bool,
    #[command(flatten)]
    pub build: BuildFlagsArgs,
    /// Output format.
    #[arg(short = 'o', long = "format", value_enum, default_value_t)]
    pub format: Format,
}

impl BuildArgs {
    /// Whether an image is asked for (else only the environment is built).
    pub fn wants_image(&self) -> bool {
        self.image.is_some() || self.output.is_some()
    }
}

#[derive(Debug, Args)]
pub struct PushArgs {
    /// An OCI image layout DIR[:NAME] or a bundle FILE.tar[:NAME] (NAME picks one image).
    pub source: String,
    /// Where to: REGISTRY/REPO[:TAG], or REPO[:TAG] under --registry.
    pub reference: String,
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// Output format.
    #[arg(short = 'o', long = "format", value_enum, default_value_t)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Images to export: REGISTRY/REPO[:TAG|@sha256:…] (REPO[:TAG] under --registry).
    #[arg(required = true)]
    pub references: Vec<String>,
    /// The bundle file to write (an OCI image layout in a tar).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: PathBuf,
    /// Which image to take from a multi-platform index.
    #[arg(long, value_name = "OS/ARCH", default_value = "linux/amd64")]
    pub platform: String,
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// Output format for the list of exported images.
    #[arg(long = "format", value_enum, default_value_t)]
    pub format: Format,
}

/// `prisn sbom REF`: the SBOM attached to an image.
#[derive(Debug, Args)]
pub struct SbomArgs {
    /// The image: REGISTRY/REPO[:TAG|@sha256:…] (REPO[:TAG] under --registry), or an OCI
    /// layout DIR[:NAME] / bundle FILE.tar[:NAME].
    pub reference: String,
    /// Which image to take from a multi-platform index.
    #[arg(long, value_name = "OS/ARCH", default_value = "linux/amd64")]
    pub platform: String,
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// json: the SPDX document as attached, byte for byte; text: one package per line.
    #[arg(short = 'o', long = "format", value_enum, default_value = "json")]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// A bundle written by `prisn export`.
    pub bundle: PathBuf,
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// Output format.
    #[arg(short = 'o', long = "format", value_enum, default_value_t)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// The registry: HOST[:PORT].
    #[arg(value_name = "REGISTRY")]
    pub server: String,
    /// User name.
    #[arg(short, long)]
    pub username: Option<String>,
    /// Read the password from stdin (safer than --password: it stays out of the process list).
    #[arg(long, conflicts_with = "password")]
    pub password_stdin: bool,
    /// The password (prefer --password-stdin).
    #[arg(short, long, env = "PRISN_REGISTRY_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
    /// Forget the stored credentials for the registry instead.
    #[arg(long, conflicts_with_all = ["username", "password", "password_stdin"])]
    pub logout: bool,
    #[command(flatten)]
    pub transport: RegistryArgs,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The image to check: REGISTRY/REPO[:TAG|@sha256:…].
    pub reference: String,
    #[command(flatten)]
    pub script: ScriptArgs,
    /// Platform of the image.
    #[arg(long, value_name = "OS/ARCH", default_value = "linux/amd64")]
    pub platform: String,
    /// uv's --python-platform, if the image was built with one.
    #[arg(long, value_name = "PLATFORM")]
    pub python_platform: Option<String>,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// `prisn base`: a Debian base image from pinned packages.
#[derive(Debug, Args)]
pub struct BaseArgs {
    /// Which base: python3, node or bash.
    #[arg(value_parser = clap::builder::PossibleValuesParser::new(preset::NAMES))]
    pub name: String,
    /// Root packages, comma-separated (default: the runtime's package plus base-files,
    /// ca-certificates, coreutils, dash, netbase and tzdata). `NAME=VERSION` pins one.
    #[arg(long, value_delimiter = ',', value_name = "PKG,…")]
    pub packages: Option<Vec<String>>,
    /// More packages never to install (globs with one `*`), on top of the defaults
    /// (perl, dpkg, debconf, …).
    #[arg(long, value_delimiter = ',', value_name = "PKG,…")]
    pub exclude: Vec<String>,
    /// Debian suite or codename.
    #[arg(long, default_value = base::DEFAULT_SUITE)]
    pub suite: String,
    /// The Debian mirror (an air-gapped site's own copy).
    #[arg(long, env = "PRISN_DEBIAN_MIRROR", default_value = base::DEFAULT_MIRROR, value_name = "URL")]
    pub mirror: String,
    /// The OpenPGP keyring (binary) that signs the mirror's InRelease.
    #[arg(long, default_value = base::release::DEBIAN_KEYRING, value_name = "FILE")]
    pub keyring: PathBuf,
    /// The lock file (one section per base).
    #[arg(long, default_value = "base.lock", value_name = "FILE")]
    pub lock: PathBuf,
    /// Push the image: REGISTRY/REPO[:TAG], or REPO[:TAG] under --registry.
    #[arg(long, value_name = "REF", required_unless_present = "output")]
    pub image: Option<String>,
    /// Write the image as an OCI image layout into DIR (tagged NAME).
    #[arg(long, value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// Fail if base.lock is missing or stale instead of resolving again.
    #[arg(long, conflicts_with_all = ["frozen", "upgrade"])]
    pub locked: bool,
    /// Use base.lock as it is, even if stale; fail if it is missing.
    #[arg(long, conflicts_with = "upgrade")]
    pub frozen: bool,
    /// Resolve again against the archive as it is now and rewrite base.lock (how a
    /// security update reaches the base).
    #[arg(long)]
    pub upgrade: bool,
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// Output format.
    #[arg(short = 'o', long = "format", value_enum, default_value_t)]
    pub format: Format,
}

/// `prisn rebase`: an image on a new base, or every deployed image (`--deployed`).
#[derive(Debug, Args)]
pub struct RebaseArgs {
    /// The image to rebase: REGISTRY/REPO[:TAG|@sha256:…] (REPO… under --registry).
    #[arg(required_unless_present = "deployed", conflicts_with = "deployed")]
    pub image: Option<String>,
    /// The new base (default: the context's base for the image's runtime, as `build` takes it).
    #[arg(long, value_name = "REF")]
    pub base: Option<String>,
    /// Where to push the result (default: the image's repository, tag `<tag>-base-<12 hex of
    /// the new base>`). Prints REGISTRY/REPO@sha256:… on stdout.
    #[arg(long = "image", value_name = "REF", conflicts_with = "deployed")]
    pub target: Option<String>,
    /// Every app and cron job deployed in the context (Kubernetes) whose image is not on the
    /// new base gets the rebased image as a new release.
    #[arg(long)]
    pub deployed: bool,
    /// Say what would change (and the new digests); push and apply nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// With --deployed: wait until each rebased workload is ready, at most this long.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, requires = "deployed")]
    pub wait: Option<std::time::Duration>,
    /// Reach only the image's, the new base's and the target's registries, and resolve no
    /// tag (give digests).
    #[arg(long)]
    pub offline: bool,
    /// Which image to take from multi-platform images and bases.
    #[arg(long, value_name = "OS/ARCH", default_value = "linux/amd64")]
    pub platform: String,
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// Output format.
    #[arg(short = 'o', long = "format", value_enum, default_value_t)]
    pub format: Format,
}
