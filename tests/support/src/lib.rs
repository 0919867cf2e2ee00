//! Test helpers shared by the integration tests of every crate.
pub mod testbed;
pub mod registry;
