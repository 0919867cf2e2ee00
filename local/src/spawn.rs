//! Starting a run: its directory, its limits, the shim's instructions (the command the
//! environment runs the script with, the complete environment, isolation, log), and the shim
//! itself in a session of its own.

use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use prisn_builder::env::Env;
use prisn_builder::script::Script;

use crate::api::Isolation;
use crate::api::now_ms;
use crate::hub::Daemon;
use crate::shim::{self, ShimSpec};
use crate::state::Record;
use crate::{Error, Result, limits, quantity, sandbox};

/// Variables a script inherits from the daemon's environment; everything else is explicit.
const BASE_ENV: &[&str] = &[
    "PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "LC_CTYPE", "TZ",
];
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Write the run's spec and start its shim in a session of its own.
pub(crate) fn start_run(
    d: &Arc<Daemon>,
    rec: &Record,
    slot: Option<i64>,
) -> std::result::Result<(i64, i32, i64), (Option<i64>, Error)> {
    let id = d
        .db(|db| db.insert_run(&rec.name, rec.generation, slot))
        .map_err(|e| (None, e))?;
    let fail = |e: Error| (Some(id), e);
    let dir = d.paths.run_dir(&rec.name, id);
    crate::paths::create_private_dir(&dir).map_err(|e| fail(Error::io("create", &dir)(e)))?;
    let requested = limits::Requested {
        memory: rec
            .spec
            .memory
            .as_deref()
            .map(quantity::memory)
            .transpose()
            .map_err(fail)?,
        cpu_millis: rec
            .spec
            .cpu
            .as_deref()
            .map(quantity::cpu)
            .transpose()
            .map_err(fail)?,
    };
    let plan =
        limits::plan(requested, &format!("{}-{}-{id}", d.home_id, rec.name)).map_err(fail)?;
    if let Err(e) = plan.create() {
        plan.remove();
        return Err(fail(e));
    }
    let spec = match shim_spec(d, rec, id, plan.clone()) {
        Ok(s) => s,
        Err(e) => {
            plan.remove();
            return Err(fail(e));
        }
    };
    shim::write_json(&dir.join(shim::SPEC), &spec)
        .map_err(|e| fail(Error::io("write", dir.join(shim::SPEC))(e)))?;
    let mut cmd = Command::new(&d.config.shim_exe);
    cmd.arg0(format!("prisn-shim: {}", rec.name))
        .args(["daemon", "shim"])
        .arg(&dir)
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    // SAFETY: setsid(2) is async-signal-safe. Its own session: a killed daemon takes no run with it.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd.spawn().map_err(|e| {
        plan.remove();
        fail(Error::io("start the shim", &d.config.shim_exe)(e))
    })?;
    let pid = child.id() as i32;
    drop(child);
    let start = crate::proc::start_time(pid).unwrap_or(0);
    d.db(|db| db.set_run_shim(id, pid, start)).map_err(fail)?;
    Ok((id, pid, now_ms()))
}

/// The shim's instructions: the command the environment runs the script with, the complete
/// environment, isolation, limits and the log.
fn shim_spec(d: &Daemon, rec: &Record, id: i64, plan: limits::Plan) -> Result<ShimSpec> {
    let s = &rec.spec;
    let script = Script {
        root: s.code_dir.clone(),
        entrypoint: s.entrypoint.clone(),
        runtime: s.runtime,
        files: Vec::new(),
        is_dir: false,
    };
    let env = Env {
        path: s.env_dir.clone(),
        hash: String::new(),
        runtime: s.runtime,
        built: false,
        packages: 0,
        lease: None,
    };
    let cmd = env.command(&script);
    let mut vars: BTreeMap<String, String> = BASE_ENV
        .iter()
        .filter_map(|k| std::env::var(k).ok().map(|v| (k.to_string(), v)))
        .collect();
    vars.entry("PATH".into())
        .or_insert_with(|| DEFAULT_PATH.into());
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            vars.insert(
                k.to_string_lossy().into_owned(),
                v.to_string_lossy().into_owned(),
            );
        }
    }
    vars.extend(s.env.clone());
    if let Some(port) = s.port {
        vars.insert("PORT".into(), port.to_string());
    }
    let program = resolve(
        Path::new(cmd.get_program()),
        vars.get("PATH").map(String::as_str),
    )?;
    let mut args: Vec<String> = cmd
        .get_args()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    args.extend(s.args.iter().cloned());
    // What the run sees of the machine's private places: its code, environment and
    // interpreter; nothing else of $PRISN_HOME or the homes.
    let mut keep = vec![s.code_dir.clone(), s.env_dir.clone()];
    if let Ok(real) = std::fs::canonicalize(&program)
        && let Some(prefix) = real.parent().and_then(Path::parent)
    {
        keep.push(prefix.to_path_buf());
    }
    let mut hide = vec![
        d.paths.root().to_path_buf(),
        PathBuf::from("/root"),
        PathBuf::from("/home"),
        PathBuf::from("/run/user"),
    ];
    hide.extend(std::env::var_os("HOME").map(PathBuf::from));
    // SAFETY: geteuid(2) cannot fail.
    let run_id = (unsafe { libc::geteuid() } == 0 && s.isolation != Isolation::None)
        .then(|| sandbox::run_id(&d.home_id, &rec.name));
    let mut storage = Vec::new();
    for v in &s.storage {
        let dir = d.paths.volumes(&rec.name).join(&v.name);
        crate::paths::create_private_dir(&dir).map_err(Error::io("create", &dir))?;
        // The run's uid owns its storage, so it can write there (and nobody else can).
        if let Some(id) = run_id {
            std::os::unix::fs::chown(&dir, Some(id), Some(id)).map_err(Error::io("chown", &dir))?;
        }
        storage.push((dir, v.path.clone()));
    }
    Ok(ShimSpec {
        workload: rec.name.clone(),
        run: id,
        program,
        args,
        env: vars.into_iter().collect(),
        cwd: s.code_dir.clone(),
        isolation: s.isolation,
        keep_visible: keep,
        hide,
        run_id,
        network: s.network,
        storage,
        limits: plan,
        log: d.paths.log_file(&rec.name),
        log_max_bytes: d.config.log_max_bytes,
        log_keep: d.config.log_keep,
        stop_grace_ms: d.config.stop_grace.as_millis() as u64,
    })
}

/// An absolute program path: as given when it has a '/', else searched on `path`.
fn resolve(program: &Path, path: Option<&str>) -> Result<PathBuf> {
    if program.components().count() > 1 {
        return Ok(program.to_path_buf());
    }
    let path = path.unwrap_or(DEFAULT_PATH);
    for dir in path.split(':').filter(|d| !d.is_empty()) {
        let candidate = Path::new(dir).join(program);
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    Err(Error::invalid(
        format!("{} was not found on PATH ({path})", program.display()),
        Some("install it, or make it reachable on the PATH of the shell that starts the prisn daemon (`prisn daemon stop` and retry)".to_string()),
    ))
}
