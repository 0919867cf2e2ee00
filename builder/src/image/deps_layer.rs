//! The dependency layer: the locked packages installed for the *base image's* Python and
//! platform (never the host's environment), packed reproducibly and cached.
//!
//! Python: `uv pip install --target … --python-version X.Y --python-platform P
//! --only-binary :all: --require-hashes --no-deps` into a temp dir that becomes
//! `/opt/prisn/site-packages`. Console scripts in `bin/` get the base's own interpreter
//! (`#!/usr/bin/python3`; `#!/usr/bin/env python3` when the base's is unknown) instead of the
//! build machine's interpreter path, so they start on bases without `/usr/bin/env` too (and
//! their RECORD lines are fixed to match); stray `__pycache__` dirs and uv's `.lock` go. With
//! [`Bytecode::Base`] (the default) the packages are byte-compiled by the base's own Python in a
//! sandbox ([`super::bytecode`]): PEP 552 unchecked-hash pycs, which make imports faster without
//! making the bytes depend on mtimes, on where we built or on the build machine's Python.
//!
//! Node: `npm ci --omit=dev --ignore-scripts` of the script's package-lock.json; the result is
//! `/app/node_modules`.
//!
//! Cache: `cache/layers-v1/<key>.json` → the packed [`Layer`], with the blob in the blob
//! cache. The key covers the lock section, the base digest, the platform, the Python version
//! and the bytecode mode, so an unchanged lock never installs or compresses again.

use std::path::Path;
use std::process::Command;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use super::blobs::BlobStore;
use super::bytecode::BaseCompiler;
use super::layer::{Layer, LayerSpec};
use crate::analyze::IndexOptions;
use crate::error::{Error, Result};
use crate::lock::LockSection;
use crate::script::{Runtime, Script};

pub use super::SITE_PACKAGES;

/// Format version of the cache entries; bump when the layer contents change meaning.
const CACHE_FORMAT: &str = "prisn deps-layer v2";

/// The shebang of console scripts when the base's interpreter is unknown.
const ENV_PYTHON3: &str = "/usr/bin/env python3";

/// Whether to ship compiled bytecode with the packages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Bytecode {
    /// No `.pyc` at all (`--no-bytecode`).
    None,
    /// Unchecked-hash pycs compiled by the base image's own Python (the default).
    #[default]
    Base,
}

/// Everything that decides the dependency layer's bytes.
#[derive(Debug, Clone)]
pub struct DepsInput<'a> {
    pub script: &'a Script,
    pub section: &'a LockSection,
    pub index: &'a IndexOptions,
    pub base_digest: &'a str,
    /// `major.minor` of the base's Python.
    pub python: Option<&'a str>,
    /// Absolute path of the base's `python3`, for console scripts' shebangs.
    pub interpreter: Option<&'a str>,
    /// uv's platform for the base.
    pub platform: Option<&'a str>,
    /// Byte-compile the packages with the base's Python (`None`: ship no pycs).
    pub bytecode: Option<&'a BaseCompiler>,
    /// Allow packages without a wheel for the platform to be built from source here.
    pub allow_sdist: bool,
    pub offline: bool,
    pub mtime: u64,
    /// The uv binary (`None`: [`crate::interpreter::uv_binary`] without a host Python).
    pub uv: Option<&'a Path>,
}

/// Build (or take from the cache) the dependency layer; `None` when nothing is locked.
///
/// # Errors
/// The installer's failure, explained (no wheel for the platform names the package and the
/// platform); IO errors.
pub fn build(
    input: &DepsInput,
    cache_dir: &Path,
    blobs: &BlobStore,
    threads: usize,
) -> Result<Option<Layer>> {
    if input.section.packages.is_empty() {
        return Ok(None);
    }
    let key = cache_key(input)?;
    let entry = cache_dir
        .join(crate::cache::LAYERS)
        .join(format!("{key}.json"));
    if let Ok(text) = std::fs::read_to_string(&entry)
        && let Ok(layer) = serde_json::from_str::<Layer>(&text)
        && blobs.has(&layer.digest)
    {
        crate::cache::touch(&entry);
        return Ok(Some(layer));
    }
    let work = tempfile::Builder::new()
        .prefix("prisn-deps-")
        .tempdir()
        .map_err(Error::io("create a temp dir in", std::env::temp_dir()))?;
    let spec = match input.script.runtime {
        Runtime::Python3 => python_tree(input, work.path())?,
        Runtime::Node => node_tree(input, work.path())?,
        Runtime::Bash => return Ok(None),
    };
    let layer = spec.pack(blobs, input.mtime, threads)?;
    let dir = entry.parent().expect("cache entries live in a directory");
    std::fs::create_dir_all(dir).map_err(Error::io("create", dir))?;
    let mut tmp =
        tempfile::NamedTempFile::new_in(dir).map_err(Error::io("create a temp file in", dir))?;
    std::io::Write::write_all(
        &mut tmp,
        serde_json::to_string_pretty(&layer)
            .expect("Layer serializes")
            .as_bytes(),
    )
    .map_err(Error::io("write", &entry))?;
    tmp.persist(&entry)
        .map_err(|e| Error::io("rename into", &entry)(e.error))?;
    Ok(Some(layer))
}

fn cache_key(input: &DepsInput) -> Result<String> {
    // The compiler is the base's own interpreter, which the base digest already names.
    let bytecode = match input.bytecode {
        None => "none".to_string(),
        Some(c) => format!("base {}", c.interpreter),
    };
    let text = format!(
        "{CACHE_FORMAT}\n{}\nlock {}\nbase {}\npython {}\ninterpreter {}\nplatform {}\nbytecode {bytecode}\nsdist {}\nmtime {}\n",
        super::gzip::FORMAT,
        input.section.digest(),
        input.base_digest,
        input.python.unwrap_or("-"),
        input.interpreter.unwrap_or("-"),
        input.platform.unwrap_or("-"),
        input.allow_sdist,
        input.mtime,
    );
    Ok(crate::digest::sha256_hex(text.as_bytes()))
}

fn python_tree(input: &DepsInput, work: &Path) -> Result<LayerSpec> {
    let base = input.base_digest;
    let (python, platform) = match (input.python, input.platform) {
        (Some(py), Some(p)) => (py, p),
        _ => {
            return Err(Error::Base {
                base: base.to_string(),
                message: "its Python version or C library is unknown, so no wheels can be chosen for it".into(),
                hint: "use a Debian/Ubuntu/Alpine-based Python image, or name the platform with --python-platform".into(),
            });
        }
    };
    let uv = input.uv.map(Path::to_path_buf);
    let uv = uv
        .or_else(|| crate::interpreter::uv_binary(None))
        .ok_or_else(|| {
            Error::tool(
                "uv is needed to install the dependency layer but is not on PATH".into(),
                Some("install it: pip install uv (or pipx install uv)".into()),
            )
        })?;
    let reqs = work.join("requirements.txt");
    std::fs::write(&reqs, input.section.requirements_txt()).map_err(Error::io("write", &reqs))?;
    let target = work.join("site-packages");
    let mut cmd = Command::new(uv);
    cmd.current_dir(work)
        .env("UV_PYTHON_DOWNLOADS", "never")
        .args([
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--require-hashes",
            "--no-compile",
        ])
        .arg("--target")
        .arg(&target)
        .args(["--python-version", python, "--python-platform", platform]);
    if !input.allow_sdist {
        cmd.args(["--only-binary", ":all:"]);
    }
    if input.offline {
        cmd.arg("--offline");
    }
    index_args(&mut cmd, input.index);
    cmd.arg("-r").arg(&reqs);
    let out = cmd
        .output()
        .map_err(|e| Error::tool(format!("cannot run uv: {e}"), Some("install uv".into())))?;
    if !out.status.success() {
        return Err(explain_uv_failure(
            &String::from_utf8_lossy(&out.stderr),
            input,
            python,
            platform,
        ));
    }
    crate::timings::mark("dependencies installed");
    scrub(&target, input.interpreter.unwrap_or(ENV_PYTHON3))?;
    if let Some(compiler) = input.bytecode {
        compiler.compile(&target)?;
    }
    let mut spec = LayerSpec::new();
    spec.add_tree(SITE_PACKAGES, &target)?;
    Ok(spec)
}

fn index_args(cmd: &mut Command, index: &IndexOptions) {
    if let Some(url) = &index.index_url {
        cmd.args(["--index-url", url]);
    }
    for url in &index.extra_index_urls {
        cmd.args(["--extra-index-url", url]);
    }
    for link in &index.find_links {
        cmd.args(["--find-links", link]);
    }
    if index.no_index {
        cmd.arg("--no-index");
    }
}

/// Turn uv's refusal into an error that names the package and the platform.
fn explain_uv_failure(stderr: &str, input: &DepsInput, python: &str, platform: &str) -> Error {
    let stderr = stderr.trim();
    let no_wheel = [
        "has no usable wheels",
        "has no wheels with a matching",
        "no matching distribution",
    ]
    .iter()
    .any(|s| stderr.contains(s));
    if no_wheel {
        let package = stderr
            .split("Because ")
            .nth(1)
            .and_then(|s| s.split_whitespace().next())
            .unwrap_or("a locked package")
            .to_string();
        return Error::Base {
            base: input.base_digest.to_string(),
            message: format!(
                "{package} has no wheel for {platform} (Python {python}), and the image must not build packages on this machine\n{stderr}"
            ),
            hint: format!(
                "pin a version of {} that publishes a wheel for {platform}, use a base whose platform it supports, or pass --allow-sdist if it is pure Python",
                package.split("==").next().unwrap_or(&package)
            ),
        };
    }
    if input.offline {
        return Error::offline(
            format!("the wheels for the dependency layer are not in uv's cache:\n{stderr}"),
            "build once without --offline on this machine, so uv caches the wheels".into(),
        );
    }
    Error::Install {
        script: input.script.entrypoint.clone(),
        tool: "uv pip install --target".into(),
        output: stderr.to_string(),
    }
}

/// Remove what would leak the build machine: host-interpreter shebangs (→ `#!{shebang}`),
/// bytecode caches, and the empty `.lock` file uv leaves in a `--target` directory.
fn scrub(target: &Path, shebang: &str) -> Result<()> {
    let lock = target.join(".lock");
    if lock.is_file() {
        std::fs::remove_file(&lock).map_err(Error::io("remove", &lock))?;
    }
    let mut rewritten: Vec<(String, Vec<u8>)> = Vec::new();
    let bin = target.join("bin");
    if bin.is_dir() {
        for entry in std::fs::read_dir(&bin)
            .map_err(Error::io("read", &bin))?
            .flatten()
        {
            let path = entry.path();
            if !entry.file_type().map(|t| t.is_file()).unwrap_or(false) {
                continue;
            }
            let bytes = std::fs::read(&path).map_err(Error::io("read", &path))?;
            if let Some(new) = fix_shebang(&bytes, shebang) {
                std::fs::write(&path, &new).map_err(Error::io("write", &path))?;
                let name = entry.file_name().to_string_lossy().into_owned();
                rewritten.push((format!("bin/{name}"), new));
            }
        }
    }
    let mut pycache = Vec::new();
    for e in walkdir::WalkDir::new(target).into_iter().flatten() {
        if e.file_type().is_dir() && e.file_name() == "__pycache__" {
            pycache.push(e.path().to_path_buf());
        }
        if e.file_type().is_file() && e.file_name() == "RECORD" && !rewritten.is_empty() {
            fix_record(e.path(), target, &rewritten)?;
        }
    }
    for p in pycache {
        std::fs::remove_dir_all(&p).map_err(Error::io("remove", &p))?;
    }
    Ok(())
}

/// `#!/home/me/.pyenv/…/python` → `#!/usr/bin/python3` (`shebang`; arguments dropped).
fn fix_shebang(bytes: &[u8], shebang: &str) -> Option<Vec<u8>> {
    let rest = bytes.strip_prefix(b"#!")?;
    let end = rest.iter().position(|b| *b == b'\n')?;
    let line = std::str::from_utf8(&rest[..end]).ok()?;
    let program = line.split_whitespace().next()?;
    let name = program.rsplit('/').next()?;
    if !name.starts_with("python") || line.trim() == shebang {
        return None;
    }
    let mut out = format!("#!{shebang}").into_bytes();
    out.extend_from_slice(&rest[end..]);
    Some(out)
}

/// Point RECORD lines of rewritten scripts at their new hash and size (the wheel spec's
/// `sha256=<urlsafe-b64-nopad>,<size>`), so `pip` in the image still sees a consistent install.
fn fix_record(record: &Path, target: &Path, rewritten: &[(String, Vec<u8>)]) -> Result<()> {
    let text = std::fs::read_to_string(record).map_err(Error::io("read", record))?;
    let dist_dir = record.parent().unwrap_or(target);
    let mut changed = false;
    let lines: Vec<String> = text
        .lines()
        .map(|line| {
            let Some((path, _)) = line.split_once(',') else {
                return line.to_string();
            };
            // RECORD paths are relative to site-packages (or to the dist-info's parent).
            let resolved = normalize(&dist_dir.parent().unwrap_or(target).join(path), target);
            match rewritten
                .iter()
                .find(|(rel, _)| Some(rel.as_str()) == resolved.as_deref())
            {
                Some((_, bytes)) => {
                    changed = true;
                    let hash = URL_SAFE_NO_PAD.encode(Sha256::digest(bytes));
                    format!("{path},sha256={hash},{}", bytes.len())
                }
                None => line.to_string(),
            }
        })
        .collect();
    if changed {
        let mut out = lines.join("\n");
        out.push('\n');
        std::fs::write(record, out).map_err(Error::io("write", record))?;
    }
    Ok(())
}

/// `target/x/../bin/f` → `bin/f` (relative to target), lexically.
fn normalize(path: &Path, target: &Path) -> Option<String> {
    let mut parts: Vec<String> = Vec::new();
    for c in path.strip_prefix(target).ok()?.components() {
        match c {
            std::path::Component::ParentDir => {
                parts.pop()?;
            }
            std::path::Component::Normal(s) => parts.push(s.to_string_lossy().into_owned()),
            _ => {}
        }
    }
    Some(parts.join("/"))
}

fn node_tree(input: &DepsInput, work: &Path) -> Result<LayerSpec> {
    let script = input.script;
    for name in ["package.json", "package-lock.json"] {
        let from = script.root.join(name);
        std::fs::copy(&from, work.join(name)).map_err(Error::io("copy", &from))?;
    }
    let mut cmd = Command::new("npm");
    cmd.current_dir(work).args([
        "ci",
        "--omit=dev",
        "--ignore-scripts",
        "--no-audit",
        "--no-fund",
        "--loglevel=error",
    ]);
    if input.offline {
        cmd.arg("--offline");
    }
    let out = cmd.output().map_err(|e| {
        Error::tool(
            format!("cannot run npm: {e}"),
            Some("install Node.js and npm".into()),
        )
    })?;
    if !out.status.success() {
        return Err(Error::Install {
            script: script.entrypoint.clone(),
            tool: "npm ci".into(),
            output: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    let mut spec = LayerSpec::new();
    let modules = work.join("node_modules");
    if modules.is_dir() {
        spec.add_tree(
            &format!(
                "{}/node_modules",
                super::code_layer::APP.trim_start_matches('/')
            ),
            &modules,
        )?;
    }
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_shebangs_become_the_base_python3() {
        let s = b"#!/root/.pyenv/versions/3.11.7/bin/python\n# -*- coding: utf-8 -*-\nimport x\n";
        let fixed = fix_shebang(s, "/usr/bin/python3").unwrap();
        assert!(fixed.starts_with(b"#!/usr/bin/python3\n# -*- coding"));
        assert!(fix_shebang(&fixed, "/usr/bin/python3").is_none());
        assert!(fix_shebang(b"#!/bin/sh\necho\n", ENV_PYTHON3).is_none());
        let env = fix_shebang(s, ENV_PYTHON3).unwrap();
        assert!(env.starts_with(b"#!/usr/bin/env python3\n"));
    }

    #[test]
    fn record_lines_of_rewritten_scripts_get_new_hashes() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path();
        std::fs::create_dir_all(target.join("flask-3.0.dist-info")).unwrap();
        std::fs::create_dir_all(target.join("bin")).unwrap();
        let record = target.join("flask-3.0.dist-info/RECORD");
        std::fs::write(
            &record,
            "flask/__init__.py,sha256=abc,10\nbin/flask,sha256=old,314\n",
        )
        .unwrap();
        std::fs::write(
            target.join("bin/flask"),
            "#!/tmp/host/python\nimport flask\n",
        )
        .unwrap();
        std::fs::write(target.join(".lock"), "").unwrap();
        scrub(target, "/usr/bin/python3").unwrap();
        assert!(!target.join(".lock").exists(), "uv's lock file goes");
        let text = std::fs::read_to_string(&record).unwrap();
        let new = std::fs::read(target.join("bin/flask")).unwrap();
        let hash = URL_SAFE_NO_PAD.encode(Sha256::digest(&new));
        assert!(
            text.contains(&format!("bin/flask,sha256={hash},{}", new.len())),
            "{text}"
        );
        assert!(text.starts_with("flask/__init__.py,sha256=abc,10\n"));
    }
}
