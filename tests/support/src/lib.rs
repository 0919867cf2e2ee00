//! Test helpers shared by the integration tests of every crate.
pub mod node;
pub mod registry;
pub mod testbed;
