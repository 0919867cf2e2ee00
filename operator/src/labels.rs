//! Label and annotation conventions, defined once in [`prisn_api::labels`].

pub use prisn_api::labels::*;
