//! `prisn gc`: delete store entries neither pinned nor used recently.

use std::process::ExitCode;

use prisn_builder::store::Store;
use serde::Serialize;

use super::home;
use crate::cli::Format;
use crate::cli::{GcArgs, Global};
use crate::printer;

#[derive(Serialize)]
struct Report<'a> {
    dry_run: bool,
    freed_bytes: u64,
    entries: &'a [prisn_builder::store::Entry],
}

pub fn run(global: &Global, args: GcArgs) -> anyhow::Result<ExitCode> {
    let store = Store::new(&home()?);
    let freed = store.gc(args.keep, args.dry_run)?;
    let total: u64 = freed.iter().map(|e| e.size).sum();
    if args.format != Format::Text {
        printer::value(
            args.format,
            &Report {
                dry_run: args.dry_run,
                freed_bytes: total,
                entries: &freed,
            },
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    let verb = if args.dry_run {
        "would delete"
    } else {
        "deleted"
    };
    for e in &freed {
        printer::line(format!(
            "{verb} {} ({})",
            e.path.display(),
            printer::bytes(e.size)
        ));
    }
    if !global.quiet {
        printer::note(format!(
            "{verb} {}, {} freed",
            printer::count(freed.len(), "entry", "entries"),
            printer::bytes(total)
        ));
    }
    Ok(ExitCode::SUCCESS)
}
