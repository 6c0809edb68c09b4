//! The end-to-end suite again, every bench on a PostgreSQL database of its
//! own (`MAPSYNC_TEST_POSTGRES`; `tests/run` starts a throwaway server).
//! Tests of what only a SQLite file has (its file modes, the key file
//! beside it) return at once here.

/// This binary runs the suite on PostgreSQL.
const ON_POSTGRES: bool = true;

#[path = "api.rs"]
mod api;
#[path = "binding.rs"]
mod binding;
#[path = "common.rs"]
mod common;
#[path = "conformance.rs"]
mod conformance;
#[path = "contents.rs"]
mod contents;
#[path = "daemon.rs"]
mod daemon;
#[path = "demo.rs"]
mod demo;
#[path = "hostile.rs"]
mod hostile;
mod hosts;
#[path = "incremental.rs"]
mod incremental;
#[path = "matching.rs"]
mod matching;
#[path = "parts.rs"]
mod parts;
mod postgres_staging;
#[path = "resilience.rs"]
mod resilience;
#[path = "secrets.rs"]
mod secrets;
#[path = "services.rs"]
mod services;
