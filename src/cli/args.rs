//! Flags shared by several commands, and clap-side mirrors of the library's words (the
//! library's types derive no clap traits; `From` turns each mirror into the library's type).

use std::path::PathBuf;

use clap::Args;

/// How results are printed on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// Tables and plain lines for people.
    #[default]
    Text,
    /// One JSON document (pretty-printed, stable key order).
    Json,
    /// One YAML document.
    Yaml,
}

/// Which script, and how to find its interpreter.
#[derive(Debug, Args, Clone)]
pub struct ScriptArgs {
    /// A script file (.py, .js/.mjs/.cjs, .sh, or with a shebang) or a project directory.
    pub script: PathBuf,
    /// The entrypoint inside a directory (default: main.py, app.py, index.js, main.sh, …).
    #[arg(long, value_name = "FILE")]
    pub entrypoint: Option<String>,
    /// The Python interpreter to build environments for (default: python3 on PATH).
    #[arg(long, env = "PRISN_PYTHON", value_name = "PATH")]
    pub python: Option<PathBuf>,
}

/// How to treat prisn.lock.
#[derive(Debug, Args, Clone, Default)]
pub struct LockMode {
    /// Fail if prisn.lock is missing or stale instead of re-locking.
    #[arg(long, conflicts_with = "frozen")]
    pub locked: bool,
    /// Use prisn.lock as it is, even if stale; fail if it is missing.
    #[arg(long)]
    pub frozen: bool,
}

impl ScriptArgs {
    /// The typed request for the library: the script and how to lock it.
    pub fn request(&self, lock: &LockMode) -> prisn::request::ScriptRequest {
        use prisn_builder::lock::{EnsureOptions, LockMode as Mode};
        prisn::request::ScriptRequest {
            path: self.script.clone(),
            prepare: prisn_builder::prepare::Options {
                entrypoint: self.entrypoint.clone(),
                python: self.python.clone(),
                lock: EnsureOptions {
                    mode: if lock.locked {
                        Mode::Locked
                    } else if lock.frozen {
                        Mode::Frozen
                    } else {
                        Mode::Refresh
                    },
                    ..Default::default()
                },
            },
        }
    }
}

/// How to build an image: flattened into `build` and `deploy`, so every build flag works the
/// same on both (a test in this module checks that none is missing from `deploy`).
#[derive(Debug, Args, Clone)]
pub struct BuildFlagsArgs {
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
    /// Platform of the image (picks from multi-platform bases).
    #[arg(long, value_name = "OS/ARCH", default_value = "linux/amd64")]
    pub platform: String,
    /// uv's --python-platform for the dependencies (default: read from the base's libc).
    #[arg(long, value_name = "PLATFORM")]
    pub python_platform: Option<String>,
    /// Ship the dependencies byte-compiled (PEP 552 unchecked-hash .pyc, faster imports) by
    /// the base image's own Python, in a user + mount namespace over the unpacked base. The
    /// default; `--no-bytecode` turns it off.
    #[arg(long, overrides_with = "no_bytecode")]
    pub bytecode: bool,
    /// Ship no .pyc files (for machines that refuse user namespaces).
    #[arg(long, overrides_with = "bytecode")]
    pub no_bytecode: bool,
    /// The user the image runs as (its config's `User`); default 65532:65532, the
    /// `nonroot` user of `prisn base` bases. `--user 0` runs as root.
    #[arg(long, value_name = "USER[:GROUP]")]
    pub user: Option<String>,
    /// Build packages that publish no wheel for the base's platform from source on this
    /// machine (only sound for pure-Python packages).
    #[arg(long)]
    pub allow_sdist: bool,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

impl From<&BuildFlagsArgs> for prisn::image::BuildFlags {
    fn from(a: &BuildFlagsArgs) -> Self {
        prisn::image::BuildFlags {
            base: a.base.clone(),
            refresh_base: a.refresh_base,
            offline: a.offline,
            platform: a.platform.clone(),
            python_platform: a.python_platform.clone(),
            bytecode: !a.no_bytecode,
            user: a.user.clone(),
            allow_sdist: a.allow_sdist,
            registry: (&a.registry).into(),
        }
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

impl From<&RegistryArgs> for prisn::settings::RegistryFlags {
    fn from(a: &RegistryArgs) -> Self {
        prisn::settings::RegistryFlags {
            registry: a.registry.clone(),
            insecure: a.insecure_registry.clone(),
            ca_files: a.registry_ca.clone(),
        }
    }
}

/// `--isolation`: how local-mode processes are isolated (other modes ignore it, with a warning).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum IsolationArg {
    /// Namespaces where the kernel allows them, else a plain process (status says which).
    Auto,
    /// Own pid and mount namespaces, read-only code and environment, private /tmp; or fail.
    Namespaces,
    /// A plain process.
    None,
}

impl From<IsolationArg> for prisn_api::Isolation {
    fn from(a: IsolationArg) -> Self {
        match a {
            IsolationArg::Auto => prisn_api::Isolation::Auto,
            IsolationArg::Namespaces => prisn_api::Isolation::Namespaces,
            IsolationArg::None => prisn_api::Isolation::None,
        }
    }
}

/// `--network`: the network of local-mode processes (other modes ignore it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum NetworkArg {
    /// The machine's network: an app listens on the host's ports.
    #[default]
    Host,
    /// A network namespace of its own with only loopback.
    None,
}

impl From<NetworkArg> for prisn_api::Network {
    fn from(a: NetworkArg) -> Self {
        match a {
            NetworkArg::Host => prisn_api::Network::Host,
            NetworkArg::None => prisn_api::Network::None,
        }
    }
}

/// `--concurrency`: what a cron job does when a run is due while the previous one still runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ConcurrencyArg {
    /// Runs may overlap.
    Allow,
    /// Skip the new run.
    #[default]
    Forbid,
    /// Stop the running one and start the new run.
    Replace,
}

impl From<ConcurrencyArg> for prisn_api::Concurrency {
    fn from(a: ConcurrencyArg) -> Self {
        match a {
            ConcurrencyArg::Allow => prisn_api::Concurrency::Allow,
            ConcurrencyArg::Forbid => prisn_api::Concurrency::Forbid,
            ConcurrencyArg::Replace => prisn_api::Concurrency::Replace,
        }
    }
}

/// `--mode`: where a context's workloads run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ModeArg {
    /// Processes on this machine, supervised by `prisn daemon`, state in SQLite.
    #[default]
    Local,
    /// A prisn server reached over HTTPS.
    Remote,
    /// PrisnApp / PrisnJob / PrisnCronJob objects in a Kubernetes cluster.
    Kubernetes,
}

impl From<ModeArg> for prisn::context::Mode {
    fn from(a: ModeArg) -> Self {
        match a {
            ModeArg::Local => prisn::context::Mode::Local,
            ModeArg::Remote => prisn::context::Mode::Remote,
            ModeArg::Kubernetes => prisn::context::Mode::Kubernetes,
        }
    }
}
