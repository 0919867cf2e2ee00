//! `prisn delete NAME…`: stop workloads and remove them (asks first on a terminal).

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use crate::cli::{DeleteArgs, Global};
use crate::printer;

pub fn run(global: &Global, args: DeleteArgs) -> anyhow::Result<ExitCode> {
    let (ctx, backend) = super::backend(global)?;
    if !args.yes && std::io::stdin().is_terminal() {
        eprint!(
            "Delete {} from the {} context? Their processes stop and their logs are removed. [y/N] ",
            args.names.join(", "),
            ctx.name
        );
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            printer::note("nothing deleted");
            return Ok(ExitCode::from(1));
        }
    }
    let mut missing = Vec::new();
    for name in &args.names {
        match backend.delete(name)? {
            Some(deleted) => {
                printer::line(format!("{name} deleted"));
                if !global.quiet {
                    for n in deleted.notes {
                        printer::note(format!("  {n}"));
                    }
                }
            }
            None => missing.push(name.clone()),
        }
    }
    if missing.is_empty() || args.ignore_not_found {
        return Ok(ExitCode::SUCCESS);
    }
    Err(prisn_local::Error::NotFound(missing.join(", ")).into())
}
