//! `prisn status NAME`: one workload in detail — state, process, restarts, last exit, port,
//! isolation and limits, recent runs and the last lines of output.

use std::process::ExitCode;
use std::time::Duration;

use super::get::{age, short};
use crate::cli::Format;
use crate::cli::{Global, StatusArgs};
use crate::printer;
use prisn::backend::{ExitInfo, Kind, Status};

pub fn run(global: &Global, args: StatusArgs) -> anyhow::Result<ExitCode> {
    let (_, backend) = super::backend(global)?;
    let status = backend.status(&args.name)?;
    if args.format != Format::Text {
        printer::value(args.format, &status)?;
    } else {
        render(&status);
    }
    Ok(ExitCode::SUCCESS)
}

fn render(s: &Status) {
    let w = &s.workload;
    let mut rows: Vec<(&str, String)> = vec![
        ("Name", w.name.clone()),
        ("Kind", w.kind.to_string()),
        ("Source", w.source.clone()),
    ];
    let state = match w.kind {
        Kind::App => format!("{} ({}/{} ready)", w.phase, w.ready, w.desired),
        _ => w.phase.clone(),
    };
    rows.push(("Status", state));
    if let Some(m) = &w.message {
        rows.push(("Message", m.clone()));
    }
    if let Some(schedule) = &w.schedule {
        rows.push(("Schedule", schedule.clone()));
    }
    if let Some(t) = &w.last_run {
        rows.push(("Last run", format!("{t} ({} ago)", age(t))));
    }
    if let Some(t) = &w.next_run {
        rows.push(("Next run", t.clone()));
    }
    if let Some(p) = w.port {
        rows.push(("Port", format!("{p} (http://127.0.0.1:{p})")));
    }
    for i in &s.instances {
        let since = i
            .started
            .as_deref()
            .map(|t| format!(", up {}", age(t)))
            .unwrap_or_default();
        rows.push((
            "Instance",
            format!(
                "{} ({}{since})",
                i.name,
                if i.ready { "ready" } else { "not ready" }
            ),
        ));
    }
    if w.kind == Kind::App {
        rows.push(("Restarts", w.restarts.to_string()));
    }
    if let Some(e) = &w.last_exit {
        rows.push(("Last exit", exit_text(e)));
    }
    for (k, v) in &s.details {
        let key: &str = match k.as_str() {
            "pid" => continue,
            "isolation" => "Isolation",
            "limit" => "Limit",
            "code" => "Code",
            "environment" => "Environment",
            "log" => "Log",
            "generation" => "Generation",
            other => other,
        };
        rows.push((key, v.clone()));
    }
    if let Some(c) = &w.created {
        rows.push(("Created", format!("{c} ({} ago)", age(c))));
    }
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0) + 1;
    for (k, v) in &rows {
        printer::line(format!("{:<width$} {v}", format!("{k}:")));
    }
    if !s.runs.is_empty() && w.kind != Kind::App {
        printer::line("Runs:");
        for r in s.runs.iter().take(5) {
            let outcome = r.exit.as_ref().map_or("running".to_string(), exit_text);
            printer::line(format!(
                "  {} started {} ago: {outcome}",
                r.id,
                age(&r.started)
            ));
        }
    }
    if !s.output.is_empty() {
        printer::line("Last output:");
        for l in &s.output {
            printer::line(format!("  {l}"));
        }
    }
}

fn exit_text(e: &ExitInfo) -> String {
    let how = match (e.code, e.signal) {
        (_, Some(sig)) => format!("signal {sig}"),
        (Some(code), None) => format!("code {code}"),
        _ => "-".to_string(),
    };
    let mut text = format!(
        "{} ({how}) after {}, {} ago",
        e.reason,
        short(Duration::from_millis(e.ran_ms)),
        age(&e.finished)
    );
    if let Some(m) = &e.message {
        text.push_str(": ");
        text.push_str(m);
    }
    text
}
