//! Prints the CRDs (or, with `--write`, regenerates `config/crd/bases/` and `config/manager/`).
//!
//! `cargo run -p prisn-operator --bin crdgen -- --write` after changing a type in `crd/`; the
//! `committed_manifests_are_current` test fails until the files are regenerated and committed.
#![allow(clippy::print_stdout)]

use std::path::PathBuf;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("--write") => {
            let root = args
                .get(1)
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config"));
            for (path, text) in
                prisn_operator::manifests::config_files(prisn_operator::manifests::DEFAULT_IMAGE)?
            {
                let full = root.join(&path);
                if let Some(dir) = full.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                std::fs::write(&full, text)?;
                eprintln!("wrote {}", full.display());
            }
        }
        None => print!("{}", prisn_operator::manifests::crds_yaml()?),
        Some(other) => {
            anyhow::bail!("unknown argument {other:?}; usage: crdgen [--write [CONFIG_DIR]]")
        }
    }
    Ok(())
}
