//! `prisn store ls|pin|unpin`.

use std::process::ExitCode;
use std::time::SystemTime;

use prisn_builder::store::Store;

use super::home;
use crate::cli::Format;
use crate::cli::{Global, StoreCmd};
use crate::printer;

pub fn run(global: &Global, cmd: StoreCmd) -> anyhow::Result<ExitCode> {
    let home = home()?;
    let store = Store::new(&home);
    match cmd {
        StoreCmd::Ls { format } => {
            let entries = store.list()?;
            if format != Format::Text {
                printer::value(format, &entries)?;
                return Ok(ExitCode::SUCCESS);
            }
            let rows: Vec<Vec<String>> = entries
                .iter()
                .map(|e| {
                    let r = e.record.as_ref();
                    vec![
                        e.id.clone(),
                        r.map_or("?".into(), |r| r.runtime.clone()),
                        r.map_or("?".into(), |r| r.packages.to_string()),
                        printer::bytes(e.size),
                        ago(e.last_used),
                        if e.pinned {
                            "yes".into()
                        } else {
                            String::new()
                        },
                    ]
                })
                .collect();
            printer::table(
                &[
                    "ENTRY",
                    "RUNTIME",
                    "PACKAGES",
                    "SIZE",
                    "LAST USED",
                    "PINNED",
                ],
                &rows,
            );
        }
        StoreCmd::Pin { target } => {
            let id = resolve_target(&store, &target, &home)?;
            store.pin(&id)?;
            if !global.quiet {
                printer::note(format!("pinned {id}"));
            }
        }
        StoreCmd::Optimise {
            targets,
            no_compile,
            format,
        } => {
            let paths: Vec<std::path::PathBuf> = if targets.is_empty() {
                store.list()?.into_iter().map(|e| e.path).collect()
            } else {
                targets
                    .iter()
                    .map(|t| {
                        store
                            .find(&t.to_string_lossy())
                            .map(|e| e.path)
                            .ok_or_else(|| {
                                anyhow::anyhow!(
                                    "no store entry matches {}; `prisn store ls` lists them",
                                    t.display()
                                )
                            })
                    })
                    .collect::<anyhow::Result<_>>()?
            };
            let mut total = prisn_builder::store::optimise::Report::default();
            for path in &paths {
                if !no_compile {
                    prisn_builder::env::compile_bytecode(path)?;
                }
                let r = prisn_builder::store::optimise::optimise(store.dir(), path)?;
                total.files += r.files;
                total.linked += r.linked;
                total.saved_bytes += r.saved_bytes;
            }
            if format != Format::Text {
                printer::value(format, &total)?;
            } else if !global.quiet {
                printer::note(format!(
                    "{}: {} files, {} linked to identical ones, {} saved",
                    printer::count(paths.len(), "entry", "entries"),
                    total.files,
                    total.linked,
                    printer::bytes(total.saved_bytes)
                ));
            }
        }
        StoreCmd::Unpin { target } => {
            let id = resolve_target(&store, &target, &home)?;
            if !store.unpin(&id)? && !global.quiet {
                printer::note(format!("{id} was not pinned"));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A store path, entry id, hash prefix, or a script whose (existing) environment to use.
fn resolve_target(
    store: &Store,
    target: &std::path::Path,
    home: &prisn_builder::home::Home,
) -> anyhow::Result<String> {
    if let Some(entry) = store.find(&target.to_string_lossy()) {
        return Ok(entry.id);
    }
    if target.exists() {
        let (_, env) = prisn_builder::prepare::prepare(
            target,
            &prisn_builder::prepare::Options::default(),
            home,
            &prisn_builder::NoReporter,
        )?;
        if let Some(id) = env.path.file_name() {
            return Ok(id.to_string_lossy().into_owned());
        }
    }
    anyhow::bail!(
        "no store entry matches {}; `prisn store ls` lists them (give a path, an entry name, 8+ hash digits, or a script)",
        target.display()
    )
}

/// "3m ago", "2d ago".
pub fn ago(t: SystemTime) -> String {
    let secs = SystemTime::now()
        .duration_since(t)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    match secs {
        0..60 => format!("{secs}s ago"),
        60..3600 => format!("{}m ago", secs / 60),
        3600..86400 => format!("{}h ago", secs / 3600),
        _ => format!("{}d ago", secs / 86400),
    }
}
