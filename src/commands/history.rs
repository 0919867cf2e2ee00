//! `prisn history NAME`: the releases of a workload, newest first.

use std::process::ExitCode;

use crate::cli::{Format, Global, HistoryArgs};
use crate::printer;

pub fn run(global: &Global, args: HistoryArgs) -> anyhow::Result<ExitCode> {
    let (_, backend) = super::backend(global)?;
    let releases = backend.history(&args.name)?;
    if args.format != Format::Text {
        printer::value(args.format, &releases)?;
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Vec<String>> = releases
        .iter()
        .map(|r| {
            let mut note = match r.rollback_of {
                Some(rev) => format!("rollback to {rev}"),
                None => String::new(),
            };
            if !r.available {
                note = [note.as_str(), "artifact gone"]
                    .iter()
                    .filter(|s| !s.is_empty())
                    .copied()
                    .collect::<Vec<_>>()
                    .join(", ");
            }
            vec![
                format!("{}{}", r.revision, if r.current { "*" } else { "" }),
                r.created.clone(),
                r.who.clone().unwrap_or_else(|| "-".into()),
                short(&r.artifact),
                r.lock_digest.as_deref().map_or("-".into(), short),
                if r.flags.is_empty() {
                    "-".into()
                } else {
                    r.flags.join(" ")
                },
                if note.is_empty() { "-".into() } else { note },
            ]
        })
        .collect();
    printer::table(
        &[
            "REVISION", "CREATED", "WHO", "ARTIFACT", "LOCK", "FLAGS", "NOTE",
        ],
        &rows,
    );
    if !global.quiet {
        printer::note(
            "* marks the release that runs now; `prisn rollback NAME --to REVISION` returns to one",
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `sha256:0123456789ab` from a digest, `repo@sha256:0123456789ab` from a reference.
fn short(digest: &str) -> String {
    match digest.rfind("sha256:") {
        Some(i) => digest[..(i + 7 + 12).min(digest.len())].to_string(),
        None => digest.to_string(),
    }
}
