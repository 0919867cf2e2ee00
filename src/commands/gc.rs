//! `prisn gc`: delete store entries neither pinned nor used recently, and the image-build
//! cache entries not used recently (see `prisn_builder::cache`), with the same `--keep`.

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
    /// Store and cache together.
    freed_bytes: u64,
    entries: &'a [prisn_builder::store::Entry],
    cache: CacheReport<'a>,
}

#[derive(Serialize)]
struct CacheReport<'a> {
    freed_bytes: u64,
    entries: &'a [prisn_builder::cache::Entry],
    /// Why the cache was left alone (a build was using it); absent when it was collected.
    #[serde(skip_serializing_if = "Option::is_none")]
    skipped: Option<&'a str>,
}

pub fn run(global: &Global, args: GcArgs) -> anyhow::Result<ExitCode> {
    let home = home()?;
    let store = Store::new(&home);
    let freed = store.gc(args.keep, args.dry_run)?;
    let cache = prisn_builder::cache::gc(&home, args.keep, args.dry_run)?;
    let store_bytes: u64 = freed.iter().map(|e| e.size).sum();
    let cache_bytes: u64 = cache.entries.iter().map(|e| e.size).sum();
    if args.format != Format::Text {
        printer::value(
            args.format,
            &Report {
                dry_run: args.dry_run,
                freed_bytes: store_bytes + cache_bytes,
                entries: &freed,
                cache: CacheReport {
                    freed_bytes: cache_bytes,
                    entries: &cache.entries,
                    skipped: cache.skipped.as_deref(),
                },
            },
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    let verb = if args.dry_run {
        "would delete"
    } else {
        "deleted"
    };
    let paths = freed.iter().map(|e| (&e.path, e.size));
    for (path, size) in paths.chain(cache.entries.iter().map(|e| (&e.path, e.size))) {
        printer::line(format!(
            "{verb} {} ({})",
            path.display(),
            printer::bytes(size)
        ));
    }
    if let Some(why) = &cache.skipped {
        printer::warn(format!("{why}; run prisn gc again when no build runs"));
    }
    if global.quiet {
        return Ok(ExitCode::SUCCESS);
    }
    printer::note(format!(
        "{verb} {}, {} freed",
        printer::count(freed.len(), "entry", "entries"),
        printer::bytes(store_bytes)
    ));
    if !cache.entries.is_empty() {
        printer::note(format!(
            "{verb} {} from the image cache, {} freed",
            printer::count(cache.entries.len(), "entry", "entries"),
            printer::bytes(cache_bytes)
        ));
    }
    Ok(ExitCode::SUCCESS)
}
