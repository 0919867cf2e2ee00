//! `prisn server …`: clap types of remote mode's server.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::Format;

/// `prisn server [--listen …] [--data …]`, or one of its subcommands.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ServerArgs {
    #[command(subcommand)]
    pub cmd: Option<ServerCmd>,
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// Where the server keeps its state.
#[derive(Debug, Args, Clone)]
pub struct DataArg {
    /// The server's data directory (default: $PRISN_HOME/server).
    #[arg(long, env = "PRISN_SERVER_DATA", value_name = "DIR")]
    pub data: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:7331", value_name = "ADDR:PORT")]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub data: DataArg,
    /// Plain HTTP instead of TLS (only on a loopback address).
    #[arg(long)]
    pub insecure_http: bool,
    /// Never try the package index (an air-gapped server): `/v1/info` says it is unreachable.
    #[arg(long)]
    pub offline: bool,
    /// Let the server build packages from source distributions (default: wheels only).
    #[arg(long)]
    pub allow_sdist: bool,
    /// Largest file a deploy may upload, in bytes.
    #[arg(long, value_name = "BYTES")]
    pub max_blob_bytes: Option<u64>,
    /// Largest deploy (all files together), in bytes.
    #[arg(long, value_name = "BYTES")]
    pub max_deploy_bytes: Option<u64>,
}

#[derive(Debug, Subcommand)]
pub enum ServerCmd {
    /// Make a CA and a server certificate (or take --cert/--key) and a first admin token;
    /// print the `prisn context add …` line for clients.
    #[command(
        after_help = "Examples:\n  prisn server init --host prod.example.com\n  prisn server init --cert server.pem --key server.key --host prod.example.com"
    )]
    Init {
        #[command(flatten)]
        data: DataArg,
        /// A name or address clients reach the server by (repeatable; the first one goes
        /// into the printed line). Default: localhost and 127.0.0.1.
        #[arg(long = "host", value_name = "HOST")]
        hosts: Vec<String>,
        /// The port clients connect to (for the printed line).
        #[arg(long, default_value_t = 7331)]
        port: u16,
        /// Use this certificate chain (PEM) instead of making one.
        #[arg(long, value_name = "FILE", requires = "key")]
        cert: Option<PathBuf>,
        /// The private key (PEM) of --cert.
        #[arg(long, value_name = "FILE", requires = "cert")]
        key: Option<PathBuf>,
        /// Make a new key and certificate even if there are some (clients must re-pin).
        /// The first token's namespace is `--namespace` (default: default).
        #[arg(long)]
        force: bool,
    },
    /// Create, list and revoke tokens.
    #[command(subcommand)]
    Token(TokenCmd),
    /// Print the audit log: who (token id), what, when, result.
    Audit {
        #[command(flatten)]
        data: DataArg,
        /// Only entries this recent (e.g. 1h, 30m, 7d).
        #[arg(long, value_parser = humantime::parse_duration)]
        since: Option<std::time::Duration>,
        /// Output format.
        #[arg(short = 'o', long = "format", value_enum, default_value_t)]
        format: Format,
    },
    /// Whether the server runs, where, its key's fingerprint, its namespaces.
    Status {
        #[command(flatten)]
        data: DataArg,
        /// Output format.
        #[arg(short = 'o', long = "format", value_enum, default_value_t)]
        format: Format,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RoleArg {
    /// get, status, logs.
    Read,
    /// Also deploy, scale, delete.
    Deploy,
    /// Also the namespace's audit log over the API.
    Admin,
}

#[derive(Debug, Subcommand)]
pub enum TokenCmd {
    /// Create a token for `--namespace NS` and print it (once: the server keeps only a hash).
    #[command(
        after_help = "Examples:\n  prisn server token create --namespace production --role deploy --expires 30d"
    )]
    Create {
        #[command(flatten)]
        data: DataArg,
        #[arg(long, value_enum)]
        role: RoleArg,
        /// How long it is valid (e.g. 30d, 12h); default: until revoked.
        #[arg(long, value_parser = humantime::parse_duration)]
        expires: Option<std::time::Duration>,
        /// A note for `token list` (who or what uses it).
        #[arg(long, default_value = "")]
        description: String,
    },
    /// List tokens (ids, never secrets).
    List {
        #[command(flatten)]
        data: DataArg,
        /// Output format.
        #[arg(short = 'o', long = "format", value_enum, default_value_t)]
        format: Format,
    },
    /// Revoke a token; the next request with it gets 401.
    Revoke {
        #[command(flatten)]
        data: DataArg,
        /// The token's id (the part after `sk_`).
        id: String,
    },
}
