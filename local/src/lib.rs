//! Local mode: the supervisor daemon, its SQLite state and its HTTP API.
