//! `prisn server [init|token|audit|status]`: remote mode's server (see `prisn_server`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use prisn_server::token::Role;

use super::home;
use crate::cli::{DataArg, Format, Global, RoleArg, ServeArgs, ServerArgs, ServerCmd, TokenCmd};
use crate::printer;

fn data_dir(d: &DataArg) -> anyhow::Result<PathBuf> {
    Ok(match &d.data {
        Some(p) => p.clone(),
        None => home()?.root().join("server"),
    })
}

fn role(r: RoleArg) -> Role {
    match r {
        RoleArg::Read => Role::Read,
        RoleArg::Deploy => Role::Deploy,
        RoleArg::Admin => Role::Admin,
    }
}

pub fn run(global: &Global, args: ServerArgs) -> anyhow::Result<ExitCode> {
    match args.cmd {
        None => serve(args.serve),
        Some(ServerCmd::Init {
            data,
            hosts,
            port,
            cert,
            key,
            force,
        }) => {
            let ns = global.namespace.as_deref().unwrap_or("default");
            init(
                global,
                &data_dir(&data)?,
                hosts,
                port,
                cert.zip(key),
                force,
                ns,
            )
        }
        Some(ServerCmd::Token(cmd)) => token(global, cmd),
        Some(ServerCmd::Audit {
            data,
            since,
            format,
        }) => {
            let db = prisn_server::db::Db::open(&data_dir(&data)?)?;
            let since = since.map_or(0, |d| prisn_api::daemon::now_ms() - d.as_millis() as i64);
            let entries = db.audit_since(since, None)?;
            if format != Format::Text {
                printer::value(format, &entries)?;
            } else {
                let rows: Vec<Vec<String>> = entries
                    .iter()
                    .map(|e| {
                        vec![
                            e.at.clone(),
                            e.token.clone(),
                            e.namespace.clone(),
                            e.action.clone(),
                            e.status.to_string(),
                        ]
                    })
                    .collect();
                printer::table(&["AT", "TOKEN", "NAMESPACE", "ACTION", "STATUS"], &rows);
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(ServerCmd::Status { data, format }) => status(&data_dir(&data)?, format),
    }
}

fn serve(a: ServeArgs) -> anyhow::Result<ExitCode> {
    let data = data_dir(&a.data)?;
    if !a.allow_sdist {
        // SAFETY: still single-threaded (the server's runtime starts below). uv then never
        // builds a source distribution on the server; the environment's installs inherit it.
        unsafe { std::env::set_var("UV_NO_BUILD", "1") };
    }
    let mut limits = prisn_server::serve::LIMITS;
    if let Some(n) = a.max_blob_bytes {
        limits.max_blob_bytes = n;
    }
    if let Some(n) = a.max_deploy_bytes {
        limits.max_deploy_bytes = n;
    }
    prisn_server::serve::run(prisn_server::serve::Options {
        data,
        listen: a.listen,
        insecure_http: a.insecure_http,
        limits,
        exe: std::env::current_exe().context("cannot find the prisn executable")?,
        offline: a.offline,
    })?;
    Ok(ExitCode::SUCCESS)
}

fn init(
    global: &Global,
    data: &std::path::Path,
    mut hosts: Vec<String>,
    port: u16,
    user: Option<(PathBuf, PathBuf)>,
    force: bool,
    ns: &str,
) -> anyhow::Result<ExitCode> {
    if hosts.is_empty() {
        hosts = vec!["localhost".into(), "127.0.0.1".into()];
    }
    let exists = prisn_server::tls::cert_file(data).exists();
    let fingerprint = if exists && !force && user.is_none() {
        if !global.quiet {
            printer::note(format!(
                "keeping the certificate in {} (--force makes a new key; clients must then re-pin)",
                prisn_server::tls::dir(data).display()
            ));
        }
        prisn_server::tls::server_fingerprint(data)?
    } else {
        let user = user.as_ref().map(|(c, k)| (c.as_path(), k.as_path()));
        prisn_server::tls::init(data, &hosts, user)?
    };
    let db = prisn_server::db::Db::open(data)?;
    let (rec, token) =
        prisn_server::token::create(&db, ns, Role::Admin, None, "made by server init")?;
    if !global.quiet {
        printer::note(format!(
            "server key {fingerprint}; admin token {} for namespace {ns} (shown once, below)",
            rec.id
        ));
        printer::note(format!(
            "start it with `prisn server --data {} --listen 0.0.0.0:{port}`; on each client run:",
            data.display()
        ));
    }
    printer::line(format!(
        "prisn context add {ns} --mode remote --server {}:{port} --namespace {ns} --fingerprint {fingerprint} --token {token}",
        hosts[0]
    ));
    Ok(ExitCode::SUCCESS)
}

fn token(global: &Global, cmd: TokenCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        TokenCmd::Create {
            data,
            role: r,
            expires,
            description,
        } => {
            let Some(token_namespace) = global.namespace.as_deref() else {
                anyhow::bail!("which namespace is the token for? add --namespace NS");
            };
            let db = prisn_server::db::Db::open(&data_dir(&data)?)?;
            let (rec, token) =
                prisn_server::token::create(&db, token_namespace, role(r), expires, &description)?;
            if !global.quiet {
                printer::note(format!(
                    "token {} ({} in namespace {}{}); it is shown once:",
                    rec.id,
                    rec.role.as_str(),
                    rec.namespace,
                    rec.expires_ms
                        .map(|ms| format!(", expires {}", prisn_api::daemon::rfc3339(ms)))
                        .unwrap_or_default()
                ));
            }
            printer::line(token);
        }
        TokenCmd::List { data, format } => {
            let db = prisn_server::db::Db::open(&data_dir(&data)?)?;
            let tokens = db.tokens()?;
            if format != Format::Text {
                printer::value(format, &tokens)?;
            } else {
                let when = |ms: Option<i64>| ms.map_or("-".to_string(), prisn_api::daemon::rfc3339);
                let rows: Vec<Vec<String>> = tokens
                    .iter()
                    .map(|t| {
                        vec![
                            t.id.clone(),
                            t.namespace.clone(),
                            t.role.as_str().to_string(),
                            when(t.expires_ms),
                            when(t.revoked_ms),
                            when(t.last_used_ms),
                            t.description.clone(),
                        ]
                    })
                    .collect();
                printer::table(
                    &[
                        "ID",
                        "NAMESPACE",
                        "ROLE",
                        "EXPIRES",
                        "REVOKED",
                        "LAST USED",
                        "DESCRIPTION",
                    ],
                    &rows,
                );
            }
        }
        TokenCmd::Revoke { data, id } => {
            let db = prisn_server::db::Db::open(&data_dir(&data)?)?;
            if !db.revoke(&id)? {
                anyhow::bail!("no token with id {id:?} (`prisn server token list` shows them)");
            }
            if !global.quiet {
                printer::note(format!("revoked token {id}; its next request gets 401"));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn status(data: &std::path::Path, format: Format) -> anyhow::Result<ExitCode> {
    let state: Option<prisn_server::serve::RunningState> =
        std::fs::read(prisn_server::serve::state_file(data))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
    // SAFETY: kill(2) with signal 0 only checks that the process exists.
    let running = state
        .as_ref()
        .filter(|s| unsafe { libc::kill(s.pid as i32, 0) } == 0);
    let fingerprint = prisn_server::tls::server_fingerprint(data).ok();
    let mut namespaces = Vec::new();
    if let Ok(dirs) = std::fs::read_dir(data.join("ns")) {
        for d in dirs.flatten() {
            let name = d.file_name().to_string_lossy().into_owned();
            let paths = prisn_local::Paths::new(&prisn_server::namespace::home(data, &name));
            let health = prisn_local::client::connect(&paths)
                .ok()
                .flatten()
                .map(|(_, h)| h);
            namespaces.push(serde_json::json!({
                "name": name,
                "daemon_pid": health.as_ref().map(|h| h.pid),
                "workloads": health.as_ref().map(|h| h.workloads),
                "running": health.as_ref().map(|h| h.running),
            }));
        }
    }
    let value = serde_json::json!({
        "running": running.is_some(),
        "pid": running.map(|s| s.pid),
        "listen": running.map(|s| s.listen.clone()),
        "tls": running.map(|s| s.tls),
        "started": running.map(|s| s.started.clone()),
        "fingerprint": fingerprint,
        "data": data,
        "namespaces": namespaces,
    });
    if format != Format::Text {
        printer::value(format, &value)?;
    } else {
        let s = |k: &str| match &value[k] {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Null => "-".into(),
            v => v.to_string(),
        };
        for k in [
            "running",
            "pid",
            "listen",
            "tls",
            "started",
            "fingerprint",
            "data",
        ] {
            printer::line(format!("{:<12} {}", format!("{k}:"), s(k)));
        }
        for n in &namespaces {
            printer::line(format!(
                "namespace    {} (daemon pid {}, {} workloads, {} running)",
                n["name"].as_str().unwrap_or("?"),
                n["daemon_pid"],
                n["workloads"],
                n["running"]
            ));
        }
    }
    Ok(if running.is_some() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
