//! The fuzz targets' bodies (see `targets`), shared with the corpus replay test.
pub mod targets;
