//! `prisn`: script → hashed lock → content-addressed environment → reproducible image →
//! digest-pinned Kubernetes object. This binary only parses (`cli`), turns flags into typed
//! requests and calls the `prisn` library (`commands`), and prints (`printer`, `reporter`).

mod cli;
mod commands;
mod printer;
mod reporter;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    prisn_builder::timings::mark("prisn started");
    // One TLS stack and one crypto provider in the whole graph (see crates.md §5): ring.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = cli::Cli::parse();
    // A serving server logs what it does (builds, index probe, daemons) unless told otherwise.
    let serving = matches!(&cli.command, cli::Command::Server(a) if a.cmd.is_none());
    init_tracing(cli.global.verbose, serving);
    match commands::dispatch(cli) {
        Ok(code) => {
            prisn_builder::timings::mark("prisn done");
            code
        }
        Err(err) => {
            printer::error(&err);
            ExitCode::from(1)
        }
    }
}

/// Logs go to stderr; `-v` shows debug logs, `RUST_LOG` overrides; `serving`: info by default.
fn init_tracing(verbose: u8, serving: bool) {
    // rustls logs certificate failures itself; prisn's error already says what failed and how
    // to fix it, so its line would only repeat it.
    let default = match verbose {
        // kube-client logs a failed call at ERROR before returning it; the error prisn prints
        // names the call and the server, so the log line would only repeat it (and ignore -q).
        0 if serving => "info,rustls=off",
        0 => "warn,rustls=off,kube_client=off,kube_runtime=off",
        1 => "info,prisn=debug,prisn_builder=debug",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .without_time()
        .with_target(false)
        .try_init();
}
