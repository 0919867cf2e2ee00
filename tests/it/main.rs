//! One integration test binary for the `prisn` CLI. Each module drives the real binary
//! against real tools (uv, npm, the package index, the registry, the test bed).

mod common;

// script → lock → store → run (issue: build a script's environment)
mod lock;
mod run;
mod store;
