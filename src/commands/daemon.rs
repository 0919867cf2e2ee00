//! `prisn daemon run|start|status|stop`: the local-mode supervisor. Other commands start it on
//! demand; these manage it by hand. `prisn daemon shim` is internal (one per running process).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use prisn_local::Paths;

use super::home;
use crate::cli::Format;
use crate::cli::{DaemonCmd, Global};
use crate::printer;

pub fn run(global: &Global, cmd: DaemonCmd) -> anyhow::Result<ExitCode> {
    // The shim runs with an empty environment and needs nothing but its run directory.
    if let DaemonCmd::Shim { run_dir } = &cmd {
        let code = prisn_local::shim::main(run_dir);
        return Ok(ExitCode::from(code.clamp(0, 255) as u8));
    }
    let paths = Paths::new(&home()?);
    match cmd {
        DaemonCmd::Shim { .. } => unreachable!("handled above"),
        DaemonCmd::Run => {
            let config = prisn_local::daemon::Config::from_env(PathBuf::from("/proc/self/exe"));
            prisn_local::daemon::run(paths, config)?;
            Ok(ExitCode::SUCCESS)
        }
        DaemonCmd::Start => {
            let exe = std::env::current_exe()?;
            let client = prisn_local::client::connect_or_start(&paths, &exe)?;
            let health = client.health()?;
            if !global.quiet {
                printer::note(format!(
                    "prisn daemon running (pid {}, {})",
                    health.pid,
                    health.socket.display()
                ));
            }
            Ok(ExitCode::SUCCESS)
        }
        DaemonCmd::Status { format } => match prisn_local::client::connect(&paths)? {
            Some((_, health)) => {
                if format != Format::Text {
                    printer::value(format, &health)?;
                } else {
                    let rows = [
                        ("Status", "running".to_string()),
                        ("PID", health.pid.to_string()),
                        ("Version", health.version.clone()),
                        ("Socket", health.socket.display().to_string()),
                        ("Home", health.home.display().to_string()),
                        (
                            "Started",
                            format!(
                                "{} ({} ago)",
                                health.started,
                                super::get::age(&health.started)
                            ),
                        ),
                        (
                            "Workloads",
                            format!(
                                "{} ({} processes running)",
                                health.workloads, health.running
                            ),
                        ),
                        ("Memory", printer::bytes(health.rss_bytes)),
                    ];
                    for (k, v) in rows {
                        printer::line(format!("{:<10} {v}", format!("{k}:")));
                    }
                }
                Ok(ExitCode::SUCCESS)
            }
            None => {
                printer::line("not running");
                Ok(ExitCode::from(1))
            }
        },
        DaemonCmd::Stop { keep_apps } => {
            match prisn_local::client::stop(&paths, keep_apps, Duration::from_secs(60))? {
                Some(pid) => printer::line(format!("stopped prisn daemon (pid {pid})")),
                None => printer::line("not running"),
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
