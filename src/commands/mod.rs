//! One file per subcommand. Each turns its flags into the library's typed request, calls the
//! library and prints the result; it returns the process exit code.

use std::process::ExitCode;

use crate::cli::{Cli, Command, Global};

pub(crate) mod base;
mod build;
mod context;
mod daemon;
mod delete;
mod deploy;
mod export;
mod gc;
mod get;
mod history;
mod import;
mod lock;
mod login;
mod logs;
mod operator;
mod push;
mod rebase;
mod rollback;
mod run;
mod sbom;
mod scale;
mod server;
mod status;
mod store;
mod verify;

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
        Command::Sbom(args) => sbom::run(global, args),
        Command::Login(args) => login::run(global, args),
        Command::Verify(args) => verify::run(global, args),
        Command::Store(cmd) => store::run(global, cmd),
        Command::Context(cmd) => context::run(global, cmd),
        Command::Gc(args) => gc::run(global, args),
        Command::Operator(cmd) => operator::run(global, cmd),
        Command::Deploy(args) => deploy::run(global, args),
        Command::Get(args) => get::run(global, args),
        Command::Status(args) => status::run(global, args),
        Command::Logs(args) => logs::run(global, args),
        Command::Delete(args) => delete::run(global, args),
        Command::Scale(args) => scale::run(global, args),
        Command::History(args) => history::run(global, args),
        Command::Rollback(args) => rollback::run(global, args),
        Command::Rebase(args) => rebase::run(global, args),
        Command::Daemon(cmd) => daemon::run(global, cmd),
        Command::Version => {
            crate::printer::line(format!("prisn {}", prisn::version::LONG));
            Ok(ExitCode::SUCCESS)
        }
        Command::Server(args) => server::run(global, args),
    }
}

/// The settings (`$PRISN_HOME`, config.toml, the context in effect) the flags select.
fn settings(global: &Global) -> anyhow::Result<prisn::settings::Settings> {
    prisn::settings::Settings::load(global.context.as_deref(), global.namespace.as_deref())
}

/// The settings and the backend of the context in effect.
fn backend(
    global: &Global,
) -> anyhow::Result<(prisn::context::Context, Box<dyn prisn::backend::Backend>)> {
    let settings = settings(global)?;
    let backend = prisn::backend::for_context(&settings)?;
    Ok((settings.context, backend))
}

/// `$PRISN_HOME`.
fn home() -> anyhow::Result<prisn_builder::home::Home> {
    Ok(prisn_builder::home::Home::from_env()?)
}
