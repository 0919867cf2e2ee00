//! The code layer: the script's files (ignore rules already applied by `script::read`) at
//! `/app`, and the entrypoint each runtime runs them with.

use super::layer::LayerSpec;
use crate::error::Result;
use crate::script::Script;

/// Where the code lives in the image (also the working directory).
pub const APP: &str = "/app";

/// Every file of `script` under `/app`, modes normalised (exec bit kept).
pub fn spec(script: &Script) -> Result<LayerSpec> {
    let mut spec = LayerSpec::new();
    let app = APP.trim_start_matches('/');
    spec.add_dir(app)?;
    for rel in &script.files {
        spec.add_file(&format!("{app}/{rel}"), &script.root.join(rel))?;
    }
    Ok(spec)
}

/// The command the image runs: the runtime's interpreter ([`Runtime::interpreter`](crate::script::Runtime::interpreter), the same
/// the operator uses for code sources: unbuffered Python that writes no bytecode at run time,
/// `node`, or `bash`) on the entrypoint under `/app`.
pub fn entrypoint(script: &Script) -> Vec<String> {
    let mut cmd: Vec<String> = script
        .runtime
        .interpreter()
        .iter()
        .map(|s| s.to_string())
        .collect();
    cmd.push(format!("{APP}/{}", script.entrypoint));
    cmd
}
