//! The ConfigMap/Secret key scheme for multi-file code, defined once in [`prisn_api::source`].

pub use prisn_api::source::*;
