//! `prisn sbom REF`: the SPDX document attached to an image (prisn_builder::sbom), from a
//! registry (referrers API or tag schema) or from a layout or bundle.

use std::io::Write;
use std::process::ExitCode;

use serde_json::Value;

use super::settings;
use crate::cli::{Format, Global, SbomArgs};
use crate::printer;

pub fn run(global: &Global, args: SbomArgs) -> anyhow::Result<ExitCode> {
    let settings = settings(global)?;
    let (_, doc) = prisn::transfer::sbom(
        &settings,
        &args.reference,
        &args.platform,
        &(&args.registry).into(),
    )?;
    match args.format {
        // Byte for byte what is attached: its digest is the one in the artifact.
        Format::Json => {
            let _ = std::io::stdout().lock().write_all(&doc);
        }
        Format::Yaml => printer::value(Format::Yaml, &serde_json::from_slice::<Value>(&doc)?)?,
        Format::Text => printer::table(&["TYPE", "NAME", "VERSION", "SHA256"], &rows(&doc)?),
    }
    Ok(ExitCode::SUCCESS)
}

/// One row per package: `image`, `base` or its purl type; name, version, first sha256.
fn rows(doc: &[u8]) -> anyhow::Result<Vec<Vec<String>>> {
    let v: Value = serde_json::from_slice(doc)?;
    let text = |p: &Value, k: &str| p[k].as_str().unwrap_or("").to_string();
    Ok(v["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            let kind = match p["SPDXID"].as_str() {
                Some("SPDXRef-Image") => "image".to_string(),
                Some("SPDXRef-Base") => "base".to_string(),
                _ => p["externalRefs"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find_map(|r| r["referenceLocator"].as_str())
                    .and_then(|purl| purl.strip_prefix("pkg:"))
                    .and_then(|rest| rest.split('/').next())
                    .unwrap_or("-")
                    .to_string(),
            };
            let sha = p["checksums"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|c| c["algorithm"] == "SHA256")
                .map(|c| text(c, "checksumValue"))
                .unwrap_or_else(|| "-".into());
            vec![kind, text(p, "name"), text(p, "versionInfo"), sha]
        })
        .collect())
}
