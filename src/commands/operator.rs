//! `prisn operator manifests`: the YAML that installs the operator, from the same code that
//! writes the committed files under operator/config/.

use std::process::ExitCode;

use crate::cli::OperatorCmd;
use crate::printer;

pub fn run(cmd: OperatorCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        OperatorCmd::Manifests { image, crds_only } => {
            let yaml = match (crds_only, image) {
                (true, _) => prisn_api::manifests::crds_yaml()?,
                (false, Some(image)) => prisn_api::manifests::render(&image),
                (false, None) => anyhow::bail!("--image REF is required (or --crds-only)"),
            };
            printer::line(yaml.trim_end());
        }
    }
    Ok(ExitCode::SUCCESS)
}
