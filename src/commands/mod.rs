//! One file per subcommand. Each returns the process exit code.

use std::process::ExitCode;

use crate::cli::{Cli, Command};

mod build;
pub(crate) mod build_image;
pub(crate) mod export;
pub(crate) mod import;
pub(crate) mod login;
pub(crate) mod push;
pub(crate) mod verify;
mod context;
mod gc;
mod lock;
mod run;
mod store;

/// Run the chosen subcommand.
pub fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    let global = &cli.global;
    match cli.command {
        Command::Run(args) => run::run(global, args),
        Command::Lock(args) => lock::run(global, args),
        Command::Build(args) => build::run(global, args),
        Command::Push(args) => push::run(global, args),
        Command::Export(args) => export::run(global, args),
        Command::Import(args) => import::run(global, args),
        Command::Login(args) => login::run(global, args),
        Command::Verify(args) => verify::run(global, args),
        Command::Store(cmd) => store::run(global, cmd),
        Command::Context(cmd) => context::run(global, cmd),
        Command::Gc(args) => gc::run(global, args),
    }
}

/// `$PRISN_HOME`.
fn home() -> anyhow::Result<prisn_builder::home::Home> {
    Ok(prisn_builder::home::Home::from_env()?)
}

/// The builder options the script and lock flags ask for.
fn prepare_options(
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
