//! After a new environment lands in the store: byte-compile it and deduplicate it against the
//! other entries, in a detached `prisn store optimise` so nobody waits for it.

/// Start `prisn store optimise ENV` for a newly built Python environment (a first run simply
/// starts without bytecode). `PRISN_OPTIMISE=sync` does it before returning, `off` not at all.
pub fn new_env(env: &prisn_builder::env::Env) {
    if !env.built || env.runtime != prisn_builder::script::Runtime::Python3 {
        return;
    }
    let mode = std::env::var("PRISN_OPTIMISE").unwrap_or_default();
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let mut cmd = std::process::Command::new(exe);
    cmd.args(["--quiet", "store", "optimise"]).arg(&env.path);
    match mode.as_str() {
        "off" => {}
        "sync" => {
            let _ = cmd.status();
        }
        _ => {
            // Through `sh … &` so the worker is re-parented at once: `prisn run` execs the
            // script next, which would otherwise inherit an unreaped child.
            let _ = std::process::Command::new("sh")
                .arg("-c")
                .arg("\"$@\" </dev/null >/dev/null 2>&1 &")
                .arg("sh")
                .arg(cmd.get_program())
                .args(cmd.get_args())
                .status();
        }
    }
}
