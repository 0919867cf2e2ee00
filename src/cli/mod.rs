//! Command-line types, and nothing else: clap's "low-level args" (ripgrep's term). Each
//! command in `commands/` turns them into the library's typed requests. Doc comments are the
//! `--help` text: the first line is the short help.

mod args;
mod image;
mod server;
mod workload;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

pub use args::{Format, LockMode, ModeArg, RegistryArgs, ScriptArgs};
pub use image::{
    BaseArgs, BuildArgs, ExportArgs, ImportArgs, LoginArgs, PushArgs, RebaseArgs, SbomArgs,
    VerifyArgs,
};
pub use server::{DataArg, RoleArg, ServeArgs, ServerArgs, ServerCmd, TokenCmd};
pub use workload::{
    DaemonCmd, DeleteArgs, DeployArgs, GetArgs, GetFormat, HistoryArgs, LogsArgs, RollbackArgs,
    ScaleArgs, SourceKind, StatusArgs,
};

/// prisn: turn a script into a pinned, reproducible deployment.
///
/// A script (Python, Node or Bash) and its declared dependencies become a hashed lock
/// (prisn.lock), an environment in a content-addressed store, a byte-for-byte reproducible
/// OCI image, and a Kubernetes object that points at that image by digest.
#[derive(Debug, Parser)]
#[command(
    name = "prisn",
    version = prisn::version::LONG,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command understands.
#[derive(Debug, Args)]
pub struct Global {
    /// Say less: no progress and no notes on stderr (errors still print).
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Never draw progress bars, even on a terminal.
    #[arg(long, global = true)]
    pub no_progress: bool,
    /// Show more of what happens (-v: info, -vv: debug). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// The context to act in (overrides PRISN_CONTEXT and the current context).
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,
    /// The Kubernetes namespace (overrides PRISN_NAMESPACE and the context's).
    #[arg(short = 'n', long, global = true, value_name = "NS")]
    pub namespace: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a script from its locked environment.
    ///
    /// Resolves the script's dependencies into prisn.lock (unless it is fresh), builds the
    /// environment once into the store, and runs the script from it. Arguments after `--`
    /// go to the script; its exit code becomes prisn's.
    #[command(
        after_help = "Examples:\n  prisn run examples/hello.py\n  prisn run examples/api.py -e PORT=8080\n  prisn run examples/project -- --verbose\n  prisn run --locked job.py   # fail instead of re-locking"
    )]
    Run(RunArgs),

    /// Resolve a script's dependencies and write prisn.lock beside it.
    ///
    /// prisn.lock holds one section per entrypoint: every package with its exact version and
    /// the sha256 of every artifact, the Python version and platform it was resolved for, the
    /// resolution date, and a hash of the declarations it came from.
    #[command(
        after_help = "Examples:\n  prisn lock examples/api.py\n  prisn lock --check examples/api.py   # exit 1 if missing or stale\n  prisn lock --upgrade examples/api.py # resolve again at today's date"
    )]
    Lock(LockCmd),

    /// Build a script's environment (and, with --image or --output, its OCI image).
    ///
    /// Without --image/--output this builds the environment into the store and prints its
    /// path; `-o json` prints a machine-readable record. With --image it builds a
    /// byte-reproducible image (base@digest + dependency layer + code layer), pushes it and
    /// prints REGISTRY/REPO@sha256:…; with --output DIR it writes an OCI image layout.
    #[command(
        after_help = "Examples:\n  prisn build examples/api.py\n  prisn build examples/api.py -o json\n  prisn build examples/api.py --image 127.0.0.1:5000/team/api:v1\n  prisn build examples/api.py --output ./api-image --offline\n  prisn build examples/api.py --image team/api --registry 127.0.0.1:5000 --verify"
    )]
    Build(BuildArgs),

    /// Build a Debian base image (python3, node, bash) from pinned packages, no Docker needed.
    ///
    /// Resolves the packages' closure from a Debian mirror's signed index (InRelease checked
    /// with gpgv), pins every package in base.lock, fetches each .deb by sha256 and unpacks it
    /// into one deterministic layer: the same base.lock gives the same digest anywhere.
    #[command(
        after_help = "Examples:\n  prisn base python3 --output ./python3-base\n  prisn base node --image 127.0.0.1:5000/base/node:18\n  prisn base python3 --locked --mirror http://mirror.airgap.local/debian --image registry.airgap.local/base/python3\n  prisn base python3 --upgrade --output ./python3-base   # take the archive's security updates"
    )]
    Base(BaseArgs),

    /// Push an image from an OCI layout or a bundle to a registry, and verify it there.
    #[command(
        after_help = "Examples:\n  prisn push ./image-dir 127.0.0.1:5000/team/app:v1\n  prisn push bundle.tar:127.0.0.1:5000/team/app:v1 registry.local/team/app:v1"
    )]
    Push(PushArgs),

    /// Write images and all their blobs (as stored, never re-encoded) into one bundle tar.
    #[command(
        after_help = "Examples:\n  prisn export 127.0.0.1:5000/team/app:v1 127.0.0.1:5000/base/python:3.11 -o bundle.tar"
    )]
    Export(ExportArgs),

    /// Push every image of a bundle to another registry, checking every digest.
    #[command(
        after_help = "Examples:\n  prisn import bundle.tar --registry registry.airgap.local:5000/mirror"
    )]
    Import(ImportArgs),

    /// Print the SBOM (SPDX 2.3 JSON) attached to an image: its base's Debian packages and
    /// the Python/npm packages of its lock, with versions, purls and sha256s.
    #[command(
        after_help = "Examples:\n  prisn sbom 127.0.0.1:5000/team/app:v1 > app.spdx.json\n  prisn sbom registry.airgap.local/mirror/team/app:v1 -o text\n  prisn sbom ./api-image:latest"
    )]
    Sbom(SbomArgs),

    /// Store credentials for a registry (checked against it first).
    #[command(
        after_help = "Examples:\n  echo \"$TOKEN\" | prisn login registry.example.com -u ci --password-stdin\n  prisn login registry.example.com --logout"
    )]
    Login(LoginArgs),

    /// Rebuild an image from source and lock and check it has the same digest.
    #[command(after_help = "Examples:\n  prisn verify 127.0.0.1:5000/team/app:v1 examples/api.py")]
    Verify(VerifyArgs),

    /// Run a script as an app, a job (--once) or a cron job (--schedule) in the current context.
    ///
    /// Locks the script, builds its environment, and hands it to the context: locally the
    /// prisn daemon (started on demand) supervises it — restarts with backoff, logs, isolation
    /// in its own pid and mount namespaces, limits through cgroups or rlimits. Redeploying
    /// the same thing changes nothing; a changed script or flag replaces the running one.
    #[command(
        after_help = "Examples:\n  prisn deploy examples/api.py --port 8080\n  prisn deploy examples/job.sh --schedule \"*/5 * * * *\"\n  prisn deploy examples/job.sh --once --name nightly -- --full\n  prisn deploy api.py --memory 256Mi --cpu 500m -e LOG_LEVEL=debug\n  prisn deploy api.py --isolation none --no-wait"
    )]
    Deploy(DeployArgs),

    /// List workloads: apps, jobs, cron jobs.
    #[command(
        after_help = "Examples:\n  prisn get\n  prisn get apps\n  prisn get cronjobs -o wide\n  prisn get apps api -o json"
    )]
    Get(GetArgs),

    /// Show one workload: state, process, restarts, last exit, port, isolation, output.
    #[command(after_help = "Examples:\n  prisn status api\n  prisn status api -o json")]
    Status(StatusArgs),

    /// Print a workload's output (stdout and stderr).
    #[command(
        after_help = "Examples:\n  prisn logs api\n  prisn logs api -f --tail 20\n  prisn logs nightly --since 1h --timestamps"
    )]
    Logs(LogsArgs),

    /// Stop workloads and remove them with their logs.
    #[command(
        after_help = "Examples:\n  prisn delete api\n  prisn delete api nightly --yes\n  prisn delete old --ignore-not-found"
    )]
    Delete(DeleteArgs),

    /// Set how many instances of an app run (0 stops it); 0 or 1 suspends or resumes a cron job.
    #[command(
        after_help = "Examples:\n  prisn scale api 0      # stop it, keep it deployed\n  prisn scale api 1      # start it again\n  prisn --context prod scale api 3   # more than one needs Kubernetes"
    )]
    Scale(ScaleArgs),

    /// List a workload's releases: one per deploy (or rollback) that changed what runs.
    #[command(after_help = "Examples:\n  prisn history api\n  prisn history api -o json")]
    History(HistoryArgs),

    /// Make an earlier release current again, exactly as it was, without building anything.
    #[command(
        after_help = "Examples:\n  prisn rollback api            # the release before the current one\n  prisn rollback api --to 3\n  prisn rollback api --no-wait"
    )]
    Rollback(RollbackArgs),

    /// Put an image's dependency and code layers onto a new base, without building anything.
    ///
    /// crane's `rebase` for prisn images: allowed only when the new base has the same Python
    /// minor (Node major) and platform as the image's, read from the bases themselves. Prints
    /// the new REGISTRY/REPO@sha256:…, ready for `deploy --image`. With --deployed (Kubernetes
    /// contexts), every deployed image not on the new base gets it as a new release, which
    /// `prisn rollback` undoes.
    #[command(
        after_help = "Examples:\n  prisn rebase 127.0.0.1:5000/team/api:v1 --base 127.0.0.1:5000/base/python3:patched\n  prisn rebase reg/team/api@sha256:… --base reg/base/python3@sha256:… --image reg/team/api:v1-patched --offline\n  prisn rebase --deployed --dry-run            # the context's base per runtime\n  prisn rebase --deployed --base reg/base/python3:patched --wait 5m"
    )]
    Rebase(RebaseArgs),

    /// Manage the local-mode daemon (started on demand by deploy, get, logs…).
    #[command(
        subcommand,
        after_help = "Examples:\n  prisn daemon status\n  prisn daemon stop             # stops the apps too; the next start brings them back\n  prisn daemon stop --keep-apps # restart the daemon under running apps"
    )]
    Daemon(DaemonCmd),

    /// Inspect and manage the content-addressed store.
    #[command(subcommand)]
    Store(StoreCmd),

    /// Manage contexts: where deploy, get, logs… act (local, remote, kubernetes).
    #[command(subcommand)]
    Context(ContextCmd),

    /// Delete store entries that were not used recently and are not pinned, and image-build
    /// cache entries (layers, unpacked bases, downloads) that were not used recently.
    ///
    /// While a build is using the image cache, gc leaves the cache alone and says so.
    #[command(
        after_help = "Examples:\n  prisn gc                 # keep what was used in the last 14 days\n  prisn gc --keep 0s       # delete every unpinned entry and the whole image cache\n  prisn gc --dry-run"
    )]
    Gc(GcArgs),

    /// The Kubernetes operator: its manifests, its image, its install.
    #[command(subcommand)]
    Operator(OperatorCmd),

    /// Print the version, the git revision and the operator image this prisn was built with.
    Version,
    /// Remote mode's server: the daemon's API over HTTPS, with tokens and namespaces.
    #[command(
        after_help = "Examples:\n  prisn server init --host prod.example.com   # prints the `prisn context add` line\n  prisn server --listen 0.0.0.0:7331\n  prisn server token create --namespace production --role deploy --expires 30d"
    )]
    Server(ServerArgs),
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub script: ScriptArgs,
    #[command(flatten)]
    pub lock: LockMode,
    /// Set an environment variable for the script (repeatable).
    #[arg(short = 'e', long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Start it as a one-off job in the current context and return (see `prisn logs`).
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// With --detach: the job's name (default: the script's name and a random suffix).
    #[arg(long, value_name = "NAME", requires = "detach")]
    pub name: Option<String>,
    /// Arguments passed to the script.
    #[arg(last = true)]
    pub args: Vec<String>,
}

#[derive(Debug, Args)]
pub struct LockCmd {
    #[command(flatten)]
    pub script: ScriptArgs,
    /// Check only: exit 1 if prisn.lock is missing or stale, write nothing.
    #[arg(long)]
    pub check: bool,
    /// Resolve again with today's date instead of the date recorded in the lock.
    #[arg(long)]
    pub upgrade: bool,
    /// Ignore packages uploaded after this instant (RFC 3339, e.g. 2025-06-01T00:00:00Z).
    #[arg(long, value_name = "TIMESTAMP", value_parser = rfc3339)]
    pub exclude_newer: Option<String>,
    /// Output format.
    #[arg(short = 'o', long = "format", value_enum, default_value_t)]
    pub format: Format,
}

#[derive(Debug, Subcommand)]
pub enum StoreCmd {
    /// List store entries with size, last use and pins.
    Ls {
        /// Output format.
        #[arg(short = 'o', long = "format", value_enum, default_value_t)]
        format: Format,
    },
    /// Keep an entry from garbage collection (a store path or a script).
    Pin {
        /// A store path, an entry name, or a script whose environment to pin.
        target: PathBuf,
    },
    /// Let garbage collection delete an entry again.
    Unpin {
        /// A store path or entry name.
        target: PathBuf,
    },
    /// Byte-compile Python entries and hard-link files identical across entries.
    ///
    /// prisn does this in the background after building an environment; run it by hand to
    /// catch up, e.g. after an interrupted build.
    Optimise {
        /// Store paths or entry names (default: every entry).
        targets: Vec<PathBuf>,
        /// Only deduplicate; do not byte-compile.
        #[arg(long)]
        no_compile: bool,
        /// Output format.
        #[arg(short = 'o', long = "format", value_enum, default_value_t)]
        format: Format,
    },
}

#[derive(Debug, Args)]
pub struct GcArgs {
    /// Keep store and cache entries used within this long (e.g. 14d, 12h, 0s).
    #[arg(long, default_value = "14d", value_parser = humantime::parse_duration)]
    pub keep: std::time::Duration,
    /// Print what would be deleted, delete nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Output format.
    #[arg(short = 'o', long = "format", value_enum, default_value_t)]
    pub format: Format,
}

/// Accept an RFC 3339 instant such as `2025-06-01T00:00:00Z`.
fn rfc3339(value: &str) -> Result<String, String> {
    humantime::parse_rfc3339_weak(value)
        .map(|_| value.to_string())
        .map_err(|e| format!("{e}; expected an RFC 3339 instant such as 2025-06-01T00:00:00Z"))
}

#[derive(Debug, Subcommand)]
pub enum ContextCmd {
    /// Add (or replace) a context.
    ///
    /// `--namespace` (or `-n`) sets the context's default namespace.
    #[command(
        after_help = "Examples:\n  prisn context add prod --mode kubernetes --namespace apps --registry registry.internal:5000/team\n  prisn context add laptop --mode local"
    )]
    Add {
        /// The context's name.
        name: String,
        /// Where workloads run.
        #[arg(long, value_enum, default_value_t = ModeArg::Kubernetes)]
        mode: ModeArg,
        /// The kubeconfig context (default: the kubeconfig's current one).
        #[arg(long, value_name = "NAME")]
        kube_context: Option<String>,
        /// Registry to push images to: HOST[:PORT][/PREFIX].
        #[arg(long, value_name = "REGISTRY")]
        registry: Option<String>,
        /// Trust this CA (PEM file) for the context's registry (saved under [registries]).
        #[arg(long, value_name = "FILE", requires = "registry")]
        registry_ca: Option<PathBuf>,
        /// The context's registry speaks plain HTTP or has an unverifiable certificate.
        /// (localhost and 127.0.0.0/8 need no flag.)
        #[arg(long, requires = "registry")]
        insecure_registry: bool,
        /// The base image of RUNTIME (python3, node, bash) for images built in this
        /// context, e.g. the team's `prisn base` image (repeatable; `--base` overrides it).
        #[arg(long = "base", value_name = "RUNTIME=REF")]
        bases: Vec<String>,
        /// Remote mode: the prisn server URL.
        #[arg(long, value_name = "URL")]
        server: Option<String>,
        /// Remote mode: the bearer token.
        #[arg(long, value_name = "TOKEN")]
        token: Option<String>,
        /// Remote mode: the server key's `sha256:…` (printed by `prisn server init`).
        #[arg(long, value_name = "SHA256")]
        fingerprint: Option<String>,
        /// Make it the current context.
        #[arg(long = "use")]
        make_current: bool,
        /// `deploy` in this context returns to the previous release when the new one does
        /// not become ready (as with `deploy --rollback-on-failure`).
        #[arg(long)]
        rollback_on_failure: bool,
    },
    /// Make a context the current one.
    Use { name: String },
    /// List contexts; `*` marks the current one.
    List {
        /// Output format.
        #[arg(short = 'o', long = "format", value_enum, default_value_t)]
        format: Format,
    },
    /// Print the context in effect (after --context, PRISN_CONTEXT, current).
    Current,
    /// Remove a context.
    Remove { name: String },
}

#[derive(Debug, Subcommand)]
pub enum OperatorCmd {
    /// Print the CRDs and the operator's namespace, RBAC and Deployment as YAML.
    #[command(
        after_help = "Examples:\n  prisn operator manifests --image registry.internal:5000/prisn-operator@sha256:… | kubectl apply -f -\n  prisn operator manifests --image … --crds-only > crds.yaml"
    )]
    Manifests {
        /// The operator image (pin it by digest).
        #[arg(long, value_name = "REF", required_unless_present = "crds_only")]
        image: Option<String>,
        /// Print only the CustomResourceDefinitions.
        #[arg(long)]
        crds_only: bool,
    },
    /// Build the operator image: a `prisn base` image plus the prisn-operator binary.
    ///
    /// The digest depends only on the base's digest, the binary's bytes and
    /// SOURCE_DATE_EPOCH (not on the umask, time zone, user or directory). Prints
    /// REGISTRY/REPO@sha256:… with --image, else the digest.
    #[command(
        after_help = "Examples:\n  prisn base bash --output /tmp/base\n  prisn operator image --base /tmp/base --output /tmp/prisn-operator-oci\n  prisn operator image --base /tmp/base --image 127.0.0.1:5000/prisn-operator:0.1.0"
    )]
    Image(OperatorImageArgs),
    /// Push the operator image, apply the CRDs and the manager by digest, and wait until the
    /// operator is Ready.
    ///
    /// The operator runs in --namespace (default prisn-system); the kubeconfig context is the
    /// one of the prisn context in effect (--context).
    #[command(
        after_help = "Examples:\n  prisn operator install --base /tmp/base --registry 127.0.0.1:5000\n  prisn operator install --image registry.internal/prisn-operator@sha256:…"
    )]
    Install(OperatorInstallArgs),
}

/// What the operator image is made of.
#[derive(Debug, Args)]
pub struct OperatorImageSource {
    /// The base: an OCI layout written by `prisn base NAME --output DIR`.
    #[arg(long, value_name = "DIR")]
    pub base: Option<PathBuf>,
    /// The image in the base layout to use (its ref name), when it holds more than one.
    #[arg(long, value_name = "NAME", requires = "base")]
    pub base_name: Option<String>,
    /// The prisn-operator executable (default: the one beside this prisn).
    #[arg(long, value_name = "FILE", requires = "base")]
    pub binary: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct OperatorImageArgs {
    #[command(flatten)]
    pub source: OperatorImageSource,
    /// Write an OCI image layout here (image name `prisn-operator`).
    #[arg(long, value_name = "DIR", required_unless_present = "image")]
    pub output: Option<PathBuf>,
    /// Push to REGISTRY/REPO[:TAG].
    #[arg(long, value_name = "REF")]
    pub image: Option<String>,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

#[derive(Debug, Args)]
pub struct OperatorInstallArgs {
    #[command(flatten)]
    pub source: OperatorImageSource,
    /// Install this already pushed image (pinned by digest) instead of building one
    /// (default without --base: the image recorded in this build, see `prisn version`).
    #[arg(long, value_name = "REF@sha256:…", conflicts_with = "base")]
    pub image: Option<String>,
    /// How long to wait for the operator to be Ready.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = humantime::parse_duration)]
    pub timeout: std::time::Duration,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_cli_definition_is_consistent() {
        <super::Cli as CommandFactory>::command().debug_assert();
    }

    /// Flags of `build` that only make sense there: where the image goes (deploy names it
    /// `<name>:latest` under the registry) and the rebuild check.
    const BUILD_ONLY: [&str; 4] = ["image", "output", "verify", "format"];

    /// Every build flag works the same on `build` and `deploy` (issue 10: `deploy` had lost
    /// --registry-ca, --insecure-registry, --platform, --allow-sdist, --refresh-base,
    /// --bytecode). Walks `build`'s flags and fails when `deploy` lacks one or takes it
    /// differently (value, default, env, help).
    #[test]
    fn every_build_flag_is_a_deploy_flag() {
        let cli = super::Cli::command();
        let sub = |name: &str| {
            cli.find_subcommand(name)
                .unwrap_or_else(|| panic!("no `{name}` command"))
                .clone()
        };
        let (build, deploy) = (sub("build"), sub("deploy"));
        let mut checked = 0;
        for arg in build.get_arguments() {
            let id = arg.get_id().as_str();
            if arg.is_positional() || BUILD_ONLY.contains(&id) {
                continue;
            }
            let other = deploy
                .get_arguments()
                .find(|a| a.get_id() == arg.get_id())
                .unwrap_or_else(|| panic!("`prisn deploy` has no --{id}, `prisn build` has"));
            let shape = |a: &clap::Arg| {
                (
                    a.get_long().map(str::to_string),
                    format!("{:?}", a.get_action()),
                    format!("{:?}", a.get_num_args()),
                    format!("{:?}", a.get_default_values()),
                    format!("{:?}", a.get_env()),
                    a.get_help().map(|h| h.to_string()),
                )
            };
            assert_eq!(
                shape(arg),
                shape(other),
                "--{id} differs between build and deploy"
            );
            checked += 1;
        }
        // base, refresh-base, offline, platform, python-platform, bytecode, allow-sdist,
        // registry, insecure-registry, registry-ca; plus the script and lock flags.
        assert!(checked >= 10, "only {checked} flags compared");
    }
}
