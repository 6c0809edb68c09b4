//! mapsync's guest: all sync, reconciliation and matching logic.
//!
//! Plain modules that build natively (and are tested so), plus a thin
//! bindings layer (`component`) for the component (see `host/build.rs`).

pub mod check;
pub mod http;
pub mod ledger;
mod log;
pub mod matching;
pub mod model;
pub mod ozmap;
pub mod pace;
pub mod push;
pub mod retry;
pub mod store;
pub mod sync;
pub mod watermark;

#[cfg(target_arch = "wasm32")]
mod component;
