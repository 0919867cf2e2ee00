//! `prisn lock`: resolve and write prisn.lock, or `--check` that it is fresh.

use std::process::ExitCode;

use prisn_builder::lock::{self, EnsureOptions, Freshness, LockFile};
use serde::Serialize;

use super::home;
use crate::cli::Format;
use crate::cli::{Global, LockCmd};
use crate::printer;
use crate::reporter;

#[derive(Serialize)]
struct Summary<'a> {
    lock: String,
    entrypoint: &'a str,
    written: bool,
    section: &'a prisn_builder::lock::LockSection,
}

pub fn run(global: &Global, args: LockCmd) -> anyhow::Result<ExitCode> {
    let home = home()?;
    let script =
        prisn_builder::script::read(&args.script.script, args.script.entrypoint.as_deref())?;
    let path = lock::lock_path(&script);
    if args.check {
        let req = prisn_builder::analyze::analyze(&script)?;
        let python = match script.runtime {
            prisn_builder::script::Runtime::Python3 => Some(prisn_builder::interpreter::python(
                args.script.python.as_deref(),
                &home,
            )?),
            _ => None,
        };
        let (verdict, fresh) = match lock::check(&script, &req, python.as_ref())? {
            Freshness::Fresh => (
                format!("{} is up to date for {}", path.display(), script.entrypoint),
                true,
            ),
            Freshness::Missing if req.is_empty() => (
                format!(
                    "{} declares no dependencies; no lock is needed",
                    script.entrypoint
                ),
                true,
            ),
            Freshness::Missing => (
                format!("{} has no lock for {}", path.display(), script.entrypoint),
                false,
            ),
            Freshness::Stale(why) => (
                format!(
                    "{} is stale for {}: {why}",
                    path.display(),
                    script.entrypoint
                ),
                false,
            ),
        };
        if fresh {
            printer::note(verdict);
            return Ok(ExitCode::SUCCESS);
        }
        printer::note(format!(
            "{verdict}; run `prisn lock {}`",
            args.script.script.display()
        ));
        return Ok(ExitCode::from(1));
    }
    // `prisn lock` is how a broken lock gets repaired: keep the broken one aside.
    if let Err(prisn_builder::Error::LockCorrupt { message, .. }) = LockFile::read(&path) {
        let aside = path.with_extension("lock.broken");
        std::fs::rename(&path, &aside)?;
        printer::warn(format!(
            "{} was not a valid lock ({message}); moved it to {} and writing a new one",
            path.display(),
            aside.display()
        ));
    }
    let reporter = reporter::make(global.quiet, global.no_progress);
    let resolved = prisn_builder::prepare::resolve(
        &args.script.script,
        &prisn_builder::prepare::Options {
            entrypoint: args.script.entrypoint.clone(),
            python: args.script.python.clone(),
            lock: EnsureOptions {
                upgrade: args.upgrade || args.exclude_newer.is_some(),
                exclude_newer: args.exclude_newer.clone(),
                write_empty: true,
                ..Default::default()
            },
        },
        &home,
        reporter.as_ref(),
    )?;
    drop(reporter);
    let out = &resolved.lock;
    if args.format == Format::Text {
        let verb = if out.written { "Locked" } else { "Up to date:" };
        let s = &out.section;
        let target = match (&s.python, &s.platform) {
            (Some(py), Some(pl)) => format!(" for Python {py} on {pl}"),
            _ => String::new(),
        };
        if !global.quiet {
            printer::note(format!(
                "{verb} {} of {}{target} in {}",
                printer::count(s.packages.len(), "package", "packages"),
                script.entrypoint,
                out.path.display()
            ));
        }
        printer::line(out.path.display().to_string());
    } else {
        printer::value(
            args.format,
            &Summary {
                lock: out.path.display().to_string(),
                entrypoint: &script.entrypoint,
                written: out.written,
                section: &out.section,
            },
        )?;
    }
    Ok(ExitCode::SUCCESS)
}
