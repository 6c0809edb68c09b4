//! mapsync end to end: the real binary and component, real SQLite files, and
//! the OZmap test server over real HTTP on loopback. `on_postgres.rs` runs
//! the same suite on PostgreSQL.

/// This binary runs the suite on SQLite.
const ON_POSTGRES: bool = false;

mod api;
mod binding;
mod browser;
mod common;
mod conformance;
mod console;
mod contents;
mod daemon;
mod demo;
mod doors;
mod hostile;
mod incremental;
mod matching;
mod parts;
mod resilience;
mod secrets;
mod services;
mod webdriver;
