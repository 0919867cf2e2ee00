//! `prisn get [apps|jobs|cronjobs] [NAME]`: a kubectl-like table of workloads.

use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use crate::cli::Format;
use crate::cli::{GetArgs, GetFormat, Global};
use crate::printer;
use prisn::backend::{Kind, Workload};

fn kind_of(word: &str) -> Option<Option<Kind>> {
    match word {
        "all" | "workloads" => Some(None),
        "app" | "apps" => Some(Some(Kind::App)),
        "job" | "jobs" => Some(Some(Kind::Job)),
        "cronjob" | "cronjobs" | "cj" => Some(Some(Kind::CronJob)),
        _ => None,
    }
}

pub fn run(global: &Global, args: GetArgs) -> anyhow::Result<ExitCode> {
    let (kind, name) = match args.what.as_slice() {
        [] => (None, None),
        [one] => match kind_of(one) {
            Some(k) => (k, None),
            None => (None, Some(one.clone())),
        },
        [k, n] => match kind_of(k) {
            Some(k) => (k, Some(n.clone())),
            None => anyhow::bail!("unknown kind {k:?}: use apps, jobs, cronjobs or all"),
        },
        _ => unreachable!("clap allows at most two values"),
    };
    let (ctx, backend) = super::backend(global)?;
    let mut items = backend.list(kind)?;
    if let Some(n) = &name {
        items.retain(|w| &w.name == n);
        if items.is_empty() {
            return Err(prisn_local::Error::NotFound(n.clone()).into());
        }
    }
    match args.format {
        GetFormat::Json => printer::value(Format::Json, &items)?,
        GetFormat::Yaml => printer::value(Format::Yaml, &items)?,
        GetFormat::Text | GetFormat::Wide => {
            if items.is_empty() {
                if !global.quiet {
                    let what = kind.map_or("workloads".to_string(), |k| format!("{k}s"));
                    printer::note(format!(
                        "No {what} in the {} context ({} mode).",
                        ctx.name,
                        backend.mode()
                    ));
                }
                return Ok(ExitCode::SUCCESS);
            }
            table(kind, &items, args.format == GetFormat::Wide);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn table(kind: Option<Kind>, items: &[Workload], wide: bool) {
    let mut header: Vec<&str> = match kind {
        None => vec![
            "NAME", "KIND", "SOURCE", "READY", "STATUS", "RESTARTS", "AGE",
        ],
        Some(Kind::App) => vec![
            "NAME", "SOURCE", "READY", "STATUS", "RESTARTS", "PORT", "AGE",
        ],
        Some(Kind::Job) => vec!["NAME", "SOURCE", "STATUS", "EXIT", "DURATION", "AGE"],
        Some(Kind::CronJob) => vec![
            "NAME", "SCHEDULE", "SOURCE", "STATUS", "LAST RUN", "NEXT RUN", "AGE",
        ],
    };
    let extra: Vec<String> = if wide {
        let mut keys: Vec<String> = items.iter().flat_map(|w| w.extra.keys().cloned()).collect();
        keys.sort();
        keys.dedup();
        // The message is long: last.
        if let Some(i) = keys.iter().position(|k| k == "message") {
            let m = keys.remove(i);
            keys.push(m);
        }
        keys
    } else {
        Vec::new()
    };
    let extra_header: Vec<String> = extra.iter().map(|k| k.to_uppercase()).collect();
    header.extend(extra_header.iter().map(String::as_str));
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|w| {
            let ready = format!("{}/{}", w.ready, w.desired);
            let age = w.created.as_deref().map_or("?".into(), age);
            let mut row = match kind {
                None => vec![
                    w.name.clone(),
                    w.kind.to_string(),
                    w.source.clone(),
                    ready,
                    w.phase.clone(),
                    w.restarts.to_string(),
                    age,
                ],
                Some(Kind::App) => vec![
                    w.name.clone(),
                    w.source.clone(),
                    ready,
                    w.phase.clone(),
                    w.restarts.to_string(),
                    w.port.map_or("-".into(), |p| p.to_string()),
                    age,
                ],
                Some(Kind::Job) => vec![
                    w.name.clone(),
                    w.source.clone(),
                    w.phase.clone(),
                    w.last_exit.as_ref().map_or("-".into(), |e| {
                        e.code.map_or_else(
                            || format!("signal {}", e.signal.unwrap_or(0)),
                            |c| c.to_string(),
                        )
                    }),
                    w.last_exit
                        .as_ref()
                        .map_or("-".into(), |e| short(Duration::from_millis(e.ran_ms))),
                    age,
                ],
                Some(Kind::CronJob) => vec![
                    w.name.clone(),
                    w.schedule.clone().unwrap_or_default(),
                    w.source.clone(),
                    w.phase.clone(),
                    w.last_run
                        .as_deref()
                        .map_or("-".into(), |t| format!("{} ago", self::age(t))),
                    w.next_run.as_deref().map_or("-".into(), until),
                    age,
                ],
            };
            row.extend(
                extra
                    .iter()
                    .map(|k| w.extra.get(k).map_or_else(|| "-".into(), cell)),
            );
            row
        })
        .collect();
    printer::table(&header, &rows);
}

/// A JSON value as a table cell: strings without their quotes.
fn cell(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Time since an RFC 3339 instant, kubectl style: `45s`, `12m`, `3h`, `5d`.
pub fn age(rfc3339: &str) -> String {
    match humantime::parse_rfc3339_weak(rfc3339) {
        Ok(t) => short(SystemTime::now().duration_since(t).unwrap_or_default()),
        Err(_) => "?".into(),
    }
}

fn until(rfc3339: &str) -> String {
    match humantime::parse_rfc3339_weak(rfc3339) {
        Ok(t) => format!(
            "in {}",
            short(t.duration_since(SystemTime::now()).unwrap_or_default())
        ),
        Err(_) => "?".into(),
    }
}

pub fn short(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..120 => format!("{s}s"),
        120..7200 => format!("{}m", s / 60),
        7200..172_800 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86400),
    }
}
