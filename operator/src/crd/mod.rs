//! The custom resources, defined once in [`prisn_api::crd`] (types and schema, shared with the
//! CLI); re-exported here where the operator's code has always found them.

pub use prisn_api::crd::*;
