//! mapsync end to end: the real binary and component, real SQLite files, and
//! the OZmap test server over real HTTP on loopback.

mod api;
mod binding;
mod common;
mod contents;
mod daemon;
mod demo;
mod hostile;
mod matching;
mod resilience;
mod secrets;
mod services;
