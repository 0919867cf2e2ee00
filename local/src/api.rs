//! The daemon's HTTP API: the wire types live in [`prisn_api::daemon`] (one definition for the
//! CLI, the daemon and, later, `prisn server`); this module re-exports them where the daemon's
//! code has always found them.

pub use prisn_api::daemon::*;
