//! One file per subcommand. Each returns the process exit code.

use std::process::ExitCode;

use crate::cli::{Cli, Command};

pub(crate) mod base;
mod build;
pub(crate) mod build_image;
mod context;
pub(crate) mod export;
mod gc;
pub(crate) mod import;
mod lock;
pub(crate) mod login;
mod operator;
pub(crate) mod push;
mod run;
mod store;
pub(crate) mod verify;
// Workloads in the current context (local mode: the prisn daemon).
pub(crate) mod daemon;
pub(crate) mod delete;
pub(crate) mod deploy;
pub(crate) mod get;
pub(crate) mod logs;
pub(crate) mod scale;
pub(crate) mod status;

/// Run the chosen subcommand.
pub fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    let global = &cli.global;
    match cli.command {
        Command::Run(args) => run::run(global, args),
        Command::Lock(args) => lock::run(global, args),
        Command::Build(args) => build::run(global, args),
        Command::Base(args) => base::run(global, args),
        Command::Push(args) => push::run(global, args),
        Command::Export(args) => export::run(global, args),
        Command::Import(args) => import::run(global, args),
        Command::Login(args) => login::run(global, args),
        Command::Verify(args) => verify::run(global, args),
        Command::Store(cmd) => store::run(global, cmd),
        Command::Context(cmd) => context::run(global, cmd),
        Command::Gc(args) => gc::run(global, args),
        Command::Operator(cmd) => operator::run(cmd),
        Command::Deploy(args) => deploy::run(global, args),
        Command::Get(args) => get::run(global, args),
        Command::Status(args) => status::run(global, args),
        Command::Logs(args) => logs::run(global, args),
        Command::Delete(args) => delete::run(global, args),
        Command::Scale(args) => scale::run(global, args),
        Command::Daemon(cmd) => daemon::run(global, cmd),
    }
}

/// The context the flags and the environment select, and its backend.
fn backend(
    global: &crate::cli::Global,
) -> anyhow::Result<(crate::context::Context, Box<dyn crate::backend::Backend>)> {
    let home = home()?;
    let ctx = crate::context::Config::load(&home)?
        .resolve(global.context.as_deref(), global.namespace.as_deref())?;
    let backend = crate::backend::for_context(&ctx, &home)?;
    Ok((ctx, backend))
}

/// `$PRISN_HOME`.
fn home() -> anyhow::Result<prisn_builder::home::Home> {
    Ok(prisn_builder::home::Home::from_env()?)
}

/// The builder options the script and lock flags ask for.
pub(crate) fn prepare_options(
    script: &crate::cli::ScriptArgs,
    lock: &crate::cli::LockMode,
) -> prisn_builder::prepare::Options {
    use prisn_builder::lock::{EnsureOptions, LockMode};
    prisn_builder::prepare::Options {
        entrypoint: script.entrypoint.clone(),
        python: script.python.clone(),
        lock: EnsureOptions {
            mode: if lock.locked {
                LockMode::Locked
            } else if lock.frozen {
                LockMode::Frozen
            } else {
                LockMode::Refresh
            },
            ..Default::default()
        },
    }
}

/// After a new environment lands in the store: byte-compile it and deduplicate it against the
/// other entries, in a detached `prisn store optimise` so nobody waits for it (a first run
/// simply starts without bytecode). `PRISN_OPTIMISE=sync` does it before returning, `off`
/// not at all.
pub(crate) fn optimise_new_env(env: &prisn_builder::env::Env) {
    if !env.built || env.runtime != prisn_builder::script::Runtime::Python3 {
        return;
    }
    let mode = std::env::var("PRISN_OPTIMISE").unwrap_or_default();
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let mut cmd = std::process::Command::new(exe);
    cmd.args(["--quiet", "store", "optimise"]).arg(&env.path);
    match mode.as_str() {
        "off" => {}
        "sync" => {
            let _ = cmd.status();
        }
        _ => {
            // Through `sh … &` so the worker is re-parented at once: `prisn run` execs the
            // script next, which would otherwise inherit an unreaped child.
            let _ = std::process::Command::new("sh")
                .arg("-c")
                .arg("\"$@\" </dev/null >/dev/null 2>&1 &")
                .arg("sh")
                .arg(cmd.get_program())
                .args(cmd.get_args())
                .status();
        }
    }
}
