//! Lock → an installed environment in the store: a relocatable venv for Python (uv, else
//! `python -m venv` + pip), `npm ci` output for Node, nothing for Bash. Installs are
//! hash-checked (`--require-hashes`, npm's integrity) and never resolve anything.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::analyze::Requirements;
use crate::interpreter::{Node, Python};
use crate::lock::LockSection;
use crate::lock::resolve::{PyTool, describe_failure, index_args, run};
use crate::reporter::{Event, Reporter};
use crate::script::{Runtime, Script};
use crate::store::{FORMAT, Record, Store};
use crate::{Error, Result};

/// The interpreter an environment is built for.
#[derive(Debug, Clone)]
pub enum Interpreter {
    Python(Python),
    Node(Node),
    Bash,
}

impl Interpreter {
    /// Stable identity bytes for the store hash.
    pub fn identity(&self) -> String {
        match self {
            Interpreter::Python(p) => p.identity(),
            Interpreter::Node(n) => n.identity(),
            // Bash scripts run with the system's bash; the entry holds nothing built.
            Interpreter::Bash => "bash\n".into(),
        }
    }
}

/// An environment in the store.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Env {
    pub path: PathBuf,
    pub hash: String,
    pub runtime: Runtime,
    /// True when this call built it (false: it was already there).
    pub built: bool,
    /// How many locked packages it holds.
    pub packages: usize,
    /// Held while the environment is in use: `prisn gc` does not delete a leased entry.
    #[serde(skip)]
    pub lease: Option<std::sync::Arc<crate::fslock::FileLock>>,
}

impl Env {
    /// The command that runs `script` from this environment (`python -u -B`, `node`, `bash`).
    pub fn command(&self, script: &Script) -> Command {
        let entry = script.entry_path();
        match self.runtime {
            Runtime::Python3 => {
                let mut cmd = Command::new(self.path.join("bin/python"));
                cmd.arg("-u").arg("-B").arg(entry);
                cmd
            }
            Runtime::Node => {
                let mut cmd = Command::new("node");
                let modules = self.path.join("node_modules");
                if modules.is_dir() {
                    // CommonJS finds packages through NODE_PATH; ES modules through the
                    // resolve hook (Node ignores NODE_PATH for `import`).
                    cmd.env("NODE_PATH", &modules)
                        .env("PRISN_NODE_ENV", &self.path);
                    cmd.arg("--import").arg(format!(
                        "file://{}",
                        self.path.join(".prisn/register.mjs").display()
                    ));
                }
                cmd.arg(entry);
                cmd
            }
            Runtime::Bash => {
                let mut cmd = Command::new("bash");
                cmd.arg(entry);
                cmd
            }
        }
    }
}

/// Make sure the environment for `section` on `interp` exists in the store.
///
/// # Errors
/// The installer's failure (nothing is left in the store), or store IO errors.
pub fn ensure(
    store: &Store,
    script: &Script,
    req: &Requirements,
    section: &LockSection,
    interp: &Interpreter,
    reporter: &dyn Reporter,
) -> Result<Env> {
    let hash = Store::hash(section, &interp.identity());
    let name = script.name();
    let final_path = store.path_for(&hash, &name);
    let (path, built) = store.ensure(&hash, &name, |tmp| {
        reporter.report(Event::InstallStart {
            name: name.clone(),
            packages: section.packages.len(),
        });
        match interp {
            Interpreter::Python(py) => {
                install_python(tmp, &final_path, req, section, py, &script.entrypoint)?
            }
            Interpreter::Node(_) => install_node(tmp, script, section)?,
            Interpreter::Bash => {}
        }
        reporter.report(Event::InstallDone { name: name.clone() });
        Ok(Record {
            format: FORMAT.into(),
            name: name.clone(),
            hash: hash.clone(),
            runtime: script.runtime.as_str().into(),
            lock: section.digest(),
            interpreter: interp.identity(),
            packages: section.packages.len(),
            created: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        })
    })?;
    let lease = store.lease(&hash, &path)?;
    Ok(Env {
        path,
        hash,
        runtime: script.runtime,
        built,
        packages: section.packages.len(),
        lease: Some(std::sync::Arc::new(lease)),
    })
}

fn install_python(
    tmp: &Path,
    final_path: &Path,
    req: &Requirements,
    section: &LockSection,
    py: &Python,
    label: &str,
) -> Result<()> {
    let tool = PyTool::find(py);
    let reqs_dir =
        tempfile::tempdir().map_err(Error::io("create a temp dir in", std::env::temp_dir()))?;
    let reqs = reqs_dir.path().join("requirements.txt");
    fs::write(&reqs, section.requirements_txt()).map_err(Error::io("write", &reqs))?;
    let fail = |tool: &str, out: std::process::Output| Error::Install {
        script: label.into(),
        tool: tool.into(),
        output: describe_failure(&out),
    };
    match tool.uv() {
        Some(mut venv) => {
            // Relocatable: entry-point scripts find their interpreter relative to
            // themselves, so the venv still works after the rename into the store.
            venv.current_dir(reqs_dir.path())
                .args(["venv", "--quiet", "--relocatable", "--python"])
                .arg(&py.executable)
                .arg(tmp);
            let out = run(venv, "uv")?;
            if !out.status.success() {
                return Err(fail("uv", out));
            }
            if !section.packages.is_empty() {
                let install = |offline: bool| {
                    let mut cmd = tool.uv().expect("uv");
                    cmd.current_dir(reqs_dir.path())
                        .args(["pip", "install", "--quiet", "--require-hashes", "--no-deps"])
                        .arg("--python")
                        .arg(tmp.join("bin/python"))
                        .arg("-r")
                        .arg(&reqs);
                    if offline {
                        cmd.arg("--offline");
                    }
                    index_args(&mut cmd, req);
                    run(cmd, "uv")
                };
                // Exact pins with hashes need no fresh index metadata: when uv's cache holds
                // every wheel, installing offline skips a revalidation round trip per package.
                // Anything missing from the cache fails fast, and the online install follows.
                if !install(true)?.status.success() {
                    let out = install(false)?;
                    if !out.status.success() {
                        return Err(fail("uv", out));
                    }
                }
            }
        }
        None => {
            let mut venv = Command::new(&py.executable);
            venv.args(["-m", "venv"]).arg(tmp);
            let out = run(venv, "python -m venv")?;
            if !out.status.success() {
                return Err(fail("venv", out));
            }
            if !section.packages.is_empty() {
                let mut install = Command::new(tmp.join("bin/python"));
                install
                    .args([
                        "-m",
                        "pip",
                        "install",
                        "--quiet",
                        "--disable-pip-version-check",
                        "--require-hashes",
                        "--no-deps",
                        "-r",
                    ])
                    .arg(&reqs);
                index_args(&mut install, req);
                let out = run(install, "pip")?;
                if !out.status.success() {
                    return Err(fail("pip", out));
                }
            }
            relocate(tmp, final_path)?;
        }
    }
    Ok(())
}

/// After a new Python environment lands in the store: byte-compile it and deduplicate it
/// against the other entries, in a detached `EXE store optimise ENV` (with `PRISN_HOME` =
/// `home`) so nobody waits for it — a first run simply starts without bytecode. The CLI, the
/// daemon's deploys and the server's all come through here. `PRISN_OPTIMISE=sync` does it
/// before returning, `off` not at all.
pub fn optimise_detached(env: &Env, home: &crate::home::Home, exe: &Path) {
    // Nothing to compile without packages: no process for a dependency-free script.
    if !env.built || env.runtime != Runtime::Python3 || env.packages == 0 {
        return;
    }
    let mut cmd = Command::new(exe);
    cmd.env("PRISN_HOME", home.root())
        .args(["--quiet", "store", "optimise"])
        .arg(&env.path);
    match std::env::var("PRISN_OPTIMISE").unwrap_or_default().as_str() {
        "off" => {}
        "sync" => {
            let _ = cmd.status();
        }
        _ => {
            // Through `sh … &` so the worker is re-parented at once: `prisn run` execs the
            // script next, which would otherwise inherit an unreaped child.
            let _ = Command::new("sh")
                .arg("-c")
                .arg("\"$@\" </dev/null >/dev/null 2>&1 &")
                .arg("sh")
                .arg(cmd.get_program())
                .args(cmd.get_args())
                .env("PRISN_HOME", home.root())
                .status();
        }
    }
}

/// Compile the environment's Python files to bytecode with its own interpreter.
///
/// `python -B` (how prisn runs scripts) never writes bytecode, so without this every start
/// compiles the dependencies from source again (flask: ~300 ms). It runs after the entry is in
/// place, so a first run does not wait for it; compileall writes each file atomically, so a
/// running interpreter only ever sees a whole `.pyc` or none.
///
/// # Errors
/// When the interpreter cannot run or compileall fails.
pub fn compile_bytecode(env: &Path) -> Result<()> {
    let python = env.join("bin/python");
    if !python.exists() {
        return Ok(()); // not a Python environment
    }
    let lib = env.join("lib");
    let Ok(dirs) = fs::read_dir(&lib) else {
        return Ok(());
    };
    for dir in dirs.flatten() {
        let site = dir.path().join("site-packages");
        if !site.is_dir() {
            continue;
        }
        let mut cmd = Command::new(&python);
        // The path recorded in each .pyc is rewritten to one that is the same in every
        // entry, so bytecode of shared packages is identical and deduplicates. Python
        // corrects it to the real path when it loads the file.
        cmd.args(["-m", "compileall", "-q", "-j", "0", "-s"])
            .arg(env)
            .args(["-p", "/prisn-env"])
            .arg(&site);
        let out = run(cmd, "python -m compileall")?;
        if !out.status.success() {
            return Err(Error::Install {
                script: env.display().to_string(),
                tool: "compileall".into(),
                output: describe_failure(&out),
            });
        }
    }
    Ok(())
}

/// pip's venvs hard-code their own path in scripts; point them at the final path.
fn relocate(tmp: &Path, final_path: &Path) -> Result<()> {
    let (from, to) = (
        tmp.to_string_lossy().into_owned(),
        final_path.to_string_lossy().into_owned(),
    );
    let bin = tmp.join("bin");
    for entry in fs::read_dir(&bin)
        .map_err(Error::io("read", &bin))?
        .flatten()
    {
        let path = entry.path();
        if entry
            .file_type()
            .map(|t| t.is_symlink() || t.is_dir())
            .unwrap_or(true)
        {
            continue;
        }
        let Ok(text) = fs::read_to_string(&path) else {
            continue;
        };
        if text.contains(&from) {
            fs::write(&path, text.replace(&from, &to)).map_err(Error::io("rewrite", &path))?;
        }
    }
    Ok(())
}

const REGISTER_MJS: &str =
    "import { register } from 'node:module';\nregister('./resolve.mjs', import.meta.url);\n";

/// Bare specifiers that the script's own directory cannot satisfy resolve from the
/// environment's node_modules.
const RESOLVE_MJS: &str = r#"import { pathToFileURL } from 'node:url';
const envParent = pathToFileURL(process.env.PRISN_NODE_ENV + '/index.js').href;
export async function resolve(specifier, context, next) {
  try {
    return await next(specifier, context);
  } catch (err) {
    const bare = !/^(\.|\/|[a-zA-Z][a-zA-Z0-9+.-]*:)/.test(specifier);
    if (!bare || err?.code !== 'ERR_MODULE_NOT_FOUND' || !process.env.PRISN_NODE_ENV) throw err;
    return next(specifier, { ...context, parentURL: envParent });
  }
}
"#;

fn install_node(tmp: &Path, script: &Script, section: &LockSection) -> Result<()> {
    if section.packages.is_empty() {
        return Ok(());
    }
    for name in ["package.json", "package-lock.json"] {
        let from = script.root.join(name);
        fs::copy(&from, tmp.join(name)).map_err(Error::io("copy", &from))?;
    }
    let mut cmd = Command::new("npm");
    cmd.current_dir(tmp)
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"]);
    let out = run(cmd, "npm")?;
    if !out.status.success() {
        return Err(Error::Install {
            script: script.entrypoint.clone(),
            tool: "npm ci".into(),
            output: describe_failure(&out),
        });
    }
    let meta = tmp.join(".prisn");
    fs::create_dir_all(&meta).map_err(Error::io("create", &meta))?;
    fs::write(meta.join("register.mjs"), REGISTER_MJS).map_err(Error::io("write", &meta))?;
    fs::write(meta.join("resolve.mjs"), RESOLVE_MJS).map_err(Error::io("write", &meta))?;
    Ok(())
}
