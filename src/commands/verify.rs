//! `prisn verify REF SCRIPT`: rebuild an image from source and lock, with empty layer
//! caches, and check the digest is the one in the registry (the library's `verify`).

use std::process::ExitCode;

use prisn::verify::{self, VerifyRequest};

use super::settings;
use crate::cli::{Global, LockMode, VerifyArgs};
use crate::printer;
use crate::reporter;

pub fn run(global: &Global, args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let settings = settings(global)?;
    let req = VerifyRequest {
        reference: args.reference.clone(),
        script: args.script.request(&LockMode {
            locked: false,
            frozen: true,
        }),
        platform: args.platform.clone(),
        python_platform: args.python_platform.clone(),
        registry: (&args.registry).into(),
    };
    let reporter = reporter::make(global.quiet, global.no_progress);
    let verified = verify::rebuild(&settings, &req, reporter.as_ref());
    drop(reporter);
    printer::line(verified?);
    Ok(ExitCode::SUCCESS)
}
