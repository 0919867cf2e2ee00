//! After a new environment lands in the store: this very binary byte-compiles and
//! deduplicates it, detached (see `prisn_builder::env::optimise_detached`).

/// Start `prisn store optimise ENV` for a newly built Python environment in `home`.
pub fn new_env(env: &prisn_builder::env::Env, home: &prisn_builder::home::Home) {
    if let Ok(exe) = std::env::current_exe() {
        prisn_builder::env::optimise_detached(env, home, &exe);
    }
}
