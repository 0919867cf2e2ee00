//! What this build of prisn is: its version, the git revision it was built from and the
//! operator image recorded for it (see build.rs for where each comes from and what is
//! printed when it is not known). `prisn version` and `prisn --version` print [`LONG`].

/// The workspace version (CLI, CRDs and operator move together).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// `git rev-parse HEAD` at build time, `PRISN_GIT_REVISION`, or "unknown (…)".
pub const GIT_REVISION: &str = env!("PRISN_GIT_REVISION");
/// `PRISN_OPERATOR_IMAGE` at build time, or "not recorded (…)".
pub const OPERATOR_IMAGE: &str = env!("PRISN_BUILD_OPERATOR_IMAGE");

/// Three lines: version, git revision, operator image.
pub const LONG: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    "\ngit revision: ",
    env!("PRISN_GIT_REVISION"),
    "\noperator image: ",
    env!("PRISN_BUILD_OPERATOR_IMAGE"),
);

/// The operator image recorded at build time, when it is a digest-pinned reference.
pub fn recorded_operator_image() -> Option<&'static str> {
    OPERATOR_IMAGE
        .contains("@sha256:")
        .then_some(OPERATOR_IMAGE)
}
