//! Requirements → pinned packages, through uv (or pip, slower) for Python and npm for Node.
//! prisn never resolves versions itself.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::{LockSection, Package};
use crate::analyze::Requirements;
use crate::interpreter::Python;
use crate::reporter::{Event, Reporter};
use crate::script::{Runtime, Script};
use crate::{Error, Result};

/// The Python package tool found on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PyTool {
    /// uv: the program and any leading arguments (`uv`, or `python3 -m uv`).
    Uv(Vec<OsString>),
    /// pip of this interpreter (`python -m pip`): slower, one hash per package.
    Pip(PathBuf),
}

impl PyTool {
    /// uv on PATH, else `python -m uv`, else pip.
    pub fn find(python: &Python) -> PyTool {
        if let Some(uv) = crate::interpreter::uv_binary(Some(python)) {
            return PyTool::Uv(vec![uv.into_os_string()]);
        }
        let has_module = Command::new(&python.executable)
            .args(["-m", "uv", "--version"])
            .output()
            .is_ok_and(|o| o.status.success());
        if has_module {
            return PyTool::Uv(vec![
                python.executable.clone().into_os_string(),
                "-m".into(),
                "uv".into(),
            ]);
        }
        PyTool::Pip(python.executable.clone())
    }

    pub fn name(&self) -> &'static str {
        match self {
            PyTool::Uv(_) => "uv",
            PyTool::Pip(_) => "pip",
        }
    }

    /// A command for `uv <args>`; `None` for pip.
    pub fn uv(&self) -> Option<Command> {
        let PyTool::Uv(argv) = self else { return None };
        let mut cmd = Command::new(&argv[0]);
        cmd.args(&argv[1..]);
        // uv must never try to download an interpreter: prisn picks the interpreter.
        cmd.env("UV_PYTHON_DOWNLOADS", "never");
        Some(cmd)
    }
}

/// What a Python lock is resolved for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `major.minor`
    pub python: String,
    /// uv's platform name, e.g. `x86_64-manylinux_2_28`.
    pub platform: String,
}

impl Target {
    /// The default target for `python`: its minor version on manylinux_2_28 for this CPU
    /// (glibc ≥ 2.28: Debian 10+, the python:3.x-slim images), overridable with
    /// `PRISN_PYTHON_PLATFORM`.
    pub fn for_python(python: &Python) -> Target {
        let platform = std::env::var("PRISN_PYTHON_PLATFORM")
            .ok()
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| format!("{}-manylinux_2_28", std::env::consts::ARCH));
        Target {
            python: python.minor.clone(),
            platform,
        }
    }
}

/// Resolve Python requirements into pins with hashes.
///
/// # Errors
/// The resolver's own explanation when it refuses (unknown package, conflict, no wheel).
pub fn resolve_python(
    script: &Script,
    req: &Requirements,
    target: &Target,
    exclude_newer: &str,
    tool: &PyTool,
    reporter: &dyn Reporter,
) -> Result<LockSection> {
    let label = script.entrypoint.clone();
    let mut section = LockSection {
        runtime: Runtime::Python3,
        inputs: req.input_hash(),
        requires_python: req.requires_python.clone(),
        python: Some(target.python.clone()),
        platform: Some(target.platform.clone()),
        exclude_newer: None,
        resolver: "none".into(),
        base: None,
        packages: Vec::new(),
    };
    if req.requirements.is_empty() {
        return Ok(section);
    }
    reporter.report(Event::ResolveStart {
        script: label.clone(),
        tool: tool.name().into(),
    });
    let tmp =
        tempfile::tempdir().map_err(Error::io("create a temp dir in", std::env::temp_dir()))?;
    let input = tmp.path().join("requirements.in");
    fs::write(&input, req.requirements.join("\n") + "\n").map_err(Error::io("write", &input))?;
    let constraints = tmp.path().join("constraints.txt");
    fs::write(&constraints, req.constraints.join("\n") + "\n")
        .map_err(Error::io("write", &constraints))?;
    section.packages = match tool {
        PyTool::Uv(_) => uv_compile(
            tool,
            &input,
            &constraints,
            req,
            target,
            exclude_newer,
            &label,
        )?,
        PyTool::Pip(python) => {
            reporter.report(Event::Note(
                "warning: uv not found, resolving with pip (slower, one hash per package); `pip install uv` to speed this up".into(),
            ));
            pip_report(
                python,
                &input,
                &constraints,
                req,
                target,
                &label,
                tmp.path(),
            )?
        }
    };
    section.resolver = tool.name().into();
    section.exclude_newer = Some(exclude_newer.to_string());
    reporter.report(Event::ResolveDone {
        script: label,
        packages: section.packages.len(),
    });
    Ok(section)
}

/// The index options of the declarations, as uv and pip spell them.
pub(crate) fn index_args(cmd: &mut Command, req: &Requirements) {
    if let Some(url) = &req.index.index_url {
        cmd.args(["--index-url", url]);
    }
    for url in &req.index.extra_index_urls {
        cmd.args(["--extra-index-url", url]);
    }
    for link in &req.index.find_links {
        cmd.args(["--find-links", link]);
    }
    if req.index.no_index {
        cmd.arg("--no-index");
    }
}

fn uv_compile(
    tool: &PyTool,
    input: &Path,
    constraints: &Path,
    req: &Requirements,
    target: &Target,
    exclude_newer: &str,
    label: &str,
) -> Result<Vec<Package>> {
    let out_file = input.with_file_name("requirements.txt");
    let mut cmd = tool.uv().expect("uv tool");
    cmd.args([
        "pip",
        "compile",
        "--quiet",
        "--generate-hashes",
        "--no-header",
        "--no-annotate",
    ])
    .args([
        "--python-version",
        &target.python,
        "--python-platform",
        &target.platform,
    ])
    .args(["--exclude-newer", exclude_newer])
    .arg("--constraint")
    .arg(constraints)
    .arg("--output-file")
    .arg(&out_file)
    .arg(input);
    index_args(&mut cmd, req);
    let out = run(cmd, "uv")?;
    if !out.status.success() {
        return Err(Error::Resolve {
            script: label.into(),
            tool: "uv".into(),
            output: describe_failure(&out),
        });
    }
    let text = fs::read_to_string(&out_file).map_err(Error::io("read", &out_file))?;
    parse_pinned(&text)
}

/// Parse `uv pip compile --generate-hashes` output.
pub fn parse_pinned(text: &str) -> Result<Vec<Package>> {
    let joined = text.replace("\\\n", " ");
    let mut out = Vec::new();
    for line in joined.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut words = line.split_whitespace();
        let spec = words.next().unwrap_or_default();
        let hashes: Vec<String> = line
            .split_whitespace()
            .filter_map(|w| w.strip_prefix("--hash="))
            .map(|h| h.replacen("sha256=", "sha256:", 1))
            .collect();
        let (name, version, url) = if let Some((n, v)) = spec.split_once("==") {
            (n.to_string(), v.to_string(), None)
        } else if line.contains(" @ ") {
            let (n, rest) = line.split_once(" @ ").unwrap_or_default();
            let url = rest.split_whitespace().next().unwrap_or_default();
            (n.trim().to_string(), String::new(), Some(url.to_string()))
        } else {
            return Err(Error::ResolverOutput {
                tool: "pip",
                detail: format!("unexpected line {line:?}"),
            });
        };
        let name = name
            .split('[')
            .next()
            .unwrap_or(&name)
            .to_lowercase()
            .replace(['_', '.'], "-");
        out.push(Package {
            name,
            version,
            url,
            hashes,
        });
    }
    out.sort();
    Ok(out)
}

fn pip_report(
    python: &Path,
    input: &Path,
    constraints: &Path,
    req: &Requirements,
    target: &Target,
    label: &str,
    tmp: &Path,
) -> Result<Vec<Package>> {
    let report = tmp.join("report.json");
    let (arch, glibc) = target
        .platform
        .split_once('-')
        .unwrap_or(("x86_64", "manylinux_2_28"));
    let mut cmd = Command::new(python);
    cmd.args([
        "-m",
        "pip",
        "install",
        "--quiet",
        "--dry-run",
        "--ignore-installed",
        "--only-binary=:all:",
    ])
    .args([
        "--platform",
        &format!("{glibc}_{arch}"),
        "--python-version",
        &target.python,
        "--implementation",
        "cp",
    ])
    .arg("--target")
    .arg(tmp.join("target"))
    .arg("--report")
    .arg(&report)
    .arg("-c")
    .arg(constraints)
    .arg("-r")
    .arg(input);
    index_args(&mut cmd, req);
    let out = run(cmd, "pip")?;
    if !out.status.success() {
        return Err(Error::Resolve {
            script: label.into(),
            tool: "pip".into(),
            output: describe_failure(&out),
        });
    }
    let json: serde_json::Value = serde_json::from_slice(
        &fs::read(&report).map_err(Error::io("read", &report))?,
    )
    .map_err(|e| Error::ResolverOutput {
        tool: "pip",
        detail: format!("{}: {e}", report.display()),
    })?;
    let mut pkgs = Vec::new();
    for item in json["install"].as_array().into_iter().flatten() {
        let name = item["metadata"]["name"].as_str().unwrap_or_default();
        let version = item["metadata"]["version"].as_str().unwrap_or_default();
        let hash = item["download_info"]["archive_info"]["hashes"]["sha256"]
            .as_str()
            .unwrap_or_default();
        pkgs.push(Package {
            name: name.to_lowercase().replace(['_', '.'], "-"),
            version: version.to_string(),
            url: None,
            hashes: vec![format!("sha256:{hash}")],
        });
    }
    pkgs.sort();
    Ok(pkgs)
}

/// Lock Node packages from npm's package-lock.json, writing it first with
/// `npm install --package-lock-only` when it is missing.
///
/// # Errors
/// npm failing, or a lock it cannot read.
pub fn resolve_node(
    script: &Script,
    req: &Requirements,
    exclude_newer: &str,
    reporter: &dyn Reporter,
) -> Result<(LockSection, bool)> {
    let mut wrote_lock = false;
    let node = req.node.as_ref();
    let mut lock_text = node.and_then(|n| n.package_lock.clone());
    if node.is_some_and(|n| n.declared > 0) && lock_text.is_none() {
        reporter.report(Event::ResolveStart {
            script: script.entrypoint.clone(),
            tool: "npm".into(),
        });
        let mut cmd = Command::new("npm");
        cmd.current_dir(&script.root).args([
            "install",
            "--package-lock-only",
            "--ignore-scripts",
            "--no-audit",
            "--no-fund",
            "--before",
            exclude_newer,
        ]);
        let out = run(cmd, "npm")?;
        if !out.status.success() {
            return Err(Error::Resolve {
                script: script.entrypoint.clone(),
                tool: "npm".into(),
                output: describe_failure(&out),
            });
        }
        let path = script.root.join("package-lock.json");
        lock_text = Some(fs::read_to_string(&path).map_err(Error::io("read", &path))?);
        wrote_lock = true;
    }
    let mut packages = Vec::new();
    if let Some(text) = &lock_text {
        let path = script.root.join("package-lock.json");
        let json: serde_json::Value =
            serde_json::from_str(text).map_err(|e| Error::LockCorrupt {
                path: path.clone(),
                message: e.to_string(),
            })?;
        for (key, entry) in json["packages"].as_object().into_iter().flatten() {
            let Some(name) = key.strip_prefix("node_modules/") else {
                continue;
            };
            if entry.get("link").and_then(|l| l.as_bool()) == Some(true) {
                continue;
            }
            packages.push(Package {
                name: name.to_string(),
                version: entry["version"].as_str().unwrap_or_default().to_string(),
                url: None,
                hashes: entry["integrity"]
                    .as_str()
                    .map(|s| vec![s.to_string()])
                    .unwrap_or_default(),
            });
        }
        packages.sort();
    }
    let mut analysed = req.clone();
    if let Some(n) = analysed.node.as_mut() {
        n.package_lock = lock_text;
    }
    if wrote_lock {
        reporter.report(Event::ResolveDone {
            script: script.entrypoint.clone(),
            packages: packages.len(),
        });
    }
    let has_packages = !packages.is_empty();
    Ok((
        LockSection {
            runtime: Runtime::Node,
            inputs: analysed.input_hash(),
            requires_python: None,
            python: None,
            platform: None,
            exclude_newer: has_packages.then(|| exclude_newer.to_string()),
            resolver: if has_packages {
                "npm".into()
            } else {
                "none".into()
            },
            base: None,
            packages,
        },
        wrote_lock,
    ))
}

/// Run a tool, mapping "not found" to an error that says what to install.
///
/// The tool dies with the thread that waits for it (`PR_SET_PDEATHSIG`): a prisn killed
/// with -9 leaves no uv, pip or npm writing into `store/.tmp` (issue 13, item 6).
pub(crate) fn run(mut cmd: Command, tool: &str) -> Result<Output> {
    use std::os::unix::process::CommandExt;
    // SAFETY: prctl(2) is async-signal-safe and touches only the child.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    cmd.output().map_err(|e| {
        Error::tool(
            format!("cannot run {tool}: {e}"),
            Some(match tool {
                "npm" => "install Node.js and npm (Debian: apt-get install npm)".to_string(),
                _ => format!("install {tool}"),
            }),
        )
    })
}

/// The tool's stderr, or how it died.
pub(crate) fn describe_failure(out: &std::process::Output) -> String {
    use std::os::unix::process::ExitStatusExt;
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    match out.status.signal() {
        Some(sig) => format!(
            "it was killed by signal {sig}{}",
            if stderr.is_empty() {
                String::new()
            } else {
                format!(": {stderr}")
            }
        ),
        None if stderr.is_empty() => format!("it exited with {}", out.status),
        None => stderr,
    }
}
