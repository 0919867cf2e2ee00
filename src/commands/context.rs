//! `prisn context add|use|list|current|remove`.

use std::process::ExitCode;

use anyhow::bail;

use super::home;
use crate::cli::Format;
use crate::cli::{ContextCmd, Global};
use crate::printer;
use prisn::context::{Config, Context};

pub fn run(global: &Global, cmd: ContextCmd) -> anyhow::Result<ExitCode> {
    let home = home()?;
    let mut config = Config::load(&home)?;
    match cmd {
        ContextCmd::Add {
            name,
            mode,
            kube_context,
            registry,
            registry_ca,
            insecure_registry,
            bases,
            server,
            token,
            fingerprint,
            make_current,
            rollback_on_failure,
        } => {
            check_name(&name)?;
            let base = parse_bases(&bases)?;
            let mode = prisn::context::Mode::from(mode);
            if let Some(reg) = &registry
                && (registry_ca.is_some() || insecure_registry)
            {
                let host = reg.split('/').next().unwrap_or(reg).to_string();
                let settings = config.registries.entry(host).or_default();
                if let Some(ca) = &registry_ca {
                    let ca = std::fs::canonicalize(ca)
                        .map_err(|e| anyhow::anyhow!("--registry-ca {}: {e}", ca.display()))?;
                    settings.ca = Some(ca);
                }
                settings.insecure |= insecure_registry;
            }
            let context = Context {
                name: name.clone(),
                mode,
                kube_context: kube_context.unwrap_or_default(),
                namespace: global.namespace.clone().unwrap_or_default(),
                server: server.unwrap_or_default(),
                token: token.unwrap_or_default(),
                fingerprint: fingerprint.unwrap_or_default(),
                registry: registry.unwrap_or_default(),
                rollback_on_failure,
                base,
            };
            context.check()?;
            config.contexts.insert(name.clone(), context);
            if make_current || config.current_context.is_empty() {
                config.current_context = name.clone();
            }
            config.save(&home)?;
            if !global.quiet {
                printer::note(format!(
                    "added context {name} ({mode}){}",
                    if config.current_context == name {
                        ", now current"
                    } else {
                        ""
                    }
                ));
            }
        }
        ContextCmd::Use { name } => {
            if !config.contexts.contains_key(&name) && name != "local" {
                // Same wording as resolution, so the user sees one message for one problem.
                config.resolve(Some(&name), None)?;
            }
            config.current_context = name.clone();
            config.save(&home)?;
            if !global.quiet {
                printer::note(format!("switched to context {name}"));
            }
        }
        ContextCmd::List { format } => {
            if format != Format::Text {
                // Tokens stay in config.toml: never printed.
                let mut shown = config.clone();
                for c in shown.contexts.values_mut().filter(|c| !c.token.is_empty()) {
                    c.token = "<redacted>".into();
                }
                printer::value(format, &shown)?;
                return Ok(ExitCode::SUCCESS);
            }
            let current = config
                .resolve(global.context.as_deref(), None)
                .map(|c| c.name)
                .unwrap_or_default();
            let rows: Vec<Vec<String>> = config
                .contexts
                .values()
                .map(|c| {
                    vec![
                        if c.name == current {
                            "*".into()
                        } else {
                            String::new()
                        },
                        c.name.clone(),
                        c.mode.to_string(),
                        if c.namespace.is_empty() {
                            "-".into()
                        } else {
                            c.namespace.clone()
                        },
                        if c.registry.is_empty() {
                            "-".into()
                        } else {
                            c.registry.clone()
                        },
                    ]
                })
                .collect();
            printer::table(&["CURRENT", "NAME", "MODE", "NAMESPACE", "REGISTRY"], &rows);
        }
        ContextCmd::Current => {
            let ctx = config.resolve(global.context.as_deref(), global.namespace.as_deref())?;
            printer::line(format!(
                "{} ({}{})",
                ctx.name,
                ctx.mode,
                if ctx.namespace.is_empty() {
                    String::new()
                } else {
                    format!(", namespace {}", ctx.namespace)
                }
            ));
        }
        ContextCmd::Remove { name } => {
            if config.contexts.remove(&name).is_none() {
                let known: Vec<_> = config.contexts.keys().cloned().collect();
                bail!(
                    "no context named {name:?} to remove (known: {}); `prisn context list` shows them",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                );
            }
            if config.current_context == name {
                config.current_context.clear();
            }
            config.save(&home)?;
            if !global.quiet {
                printer::note(format!("removed context {name}"));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Context names go into file keys and messages: keep them simple.
/// `--base RUNTIME=REF` (repeatable) → runtime → reference, each checked.
fn parse_bases(flags: &[String]) -> anyhow::Result<std::collections::BTreeMap<String, String>> {
    let mut out = std::collections::BTreeMap::new();
    for flag in flags {
        let Some((runtime, reference)) = flag.split_once('=') else {
            anyhow::bail!(
                "--base {flag:?} is not RUNTIME=REF; e.g. --base python3=registry.internal/base/python3:12"
            );
        };
        let runtime: prisn_api::Runtime = runtime.parse().map_err(|_| {
            anyhow::anyhow!("--base {flag:?}: {runtime:?} is not a runtime (python3, node, bash)")
        })?;
        prisn_builder::image::Reference::parse(reference)
            .map_err(|e| anyhow::anyhow!("--base {flag:?}: {e}"))?;
        out.insert(runtime.as_str().to_string(), reference.to_string());
    }
    Ok(out)
}

fn check_name(name: &str) -> anyhow::Result<()> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        bail!("invalid context name {name:?}: use letters, digits, '-', '_' or '.'");
    }
    Ok(())
}
