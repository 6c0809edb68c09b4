//! The orchestration of work that reaches the platform through the
//! component: a sync run, identification and matching, and the outbox of
//! pushes. What they read and write goes through the store.

pub mod identification;
pub mod matches;
pub mod outbox;
pub mod run;
pub mod settings;
