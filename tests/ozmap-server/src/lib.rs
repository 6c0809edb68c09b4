//! An OZmap API v2 stand-in for mapsync's end-to-end tests and demo.
//!
//! [`generate`] builds a seeded, realistic fibre network; [`TestServer`] serves
//! it over HTTP under `/api/v2/` with OZmap's authentication, pagination,
//! filters and write routes, and can inject faults ([`Fault`]) and record
//! every request ([`RecordedRequest`]). [`mutate`] and the single-step
//! changes beside it (`update_element`, `delete_element`, `move_property`,
//! ...) change a network consistently between two syncs, stamping every
//! changed document; a served one through [`TestServer::with_network`] or
//! `POST /__test/mutate?fraction=0.01&seed=7`.
//!
//! ```no_run
//! use ozmap_test_server::{Fault, GeneratorConfig, ServerConfig, TestServer, generate};
//!
//! let server = TestServer::start(ServerConfig::default(), generate(&GeneratorConfig::small()))?;
//! server.inject("boxes", Fault::Status(503), 2);
//! println!("api_url = {}", server.url());
//! # anyhow::Ok(())
//! ```

#![warn(missing_docs)]

mod auth;
mod clock;
mod collection;
mod faults;
pub mod generator;
mod http;
pub mod matching;
mod mutate;
mod network;
mod pattern;
mod query;
mod rate_limit;
mod rng;
mod routes;
mod server;
mod store;
mod writes;

pub use collection::Collection;
pub use faults::{Fault, ListingLie};
pub use generator::{GeneratorConfig, INVALID_MARKER, PROJECT_NAMES, generate};
pub use mutate::{
    Mutation, MutationSummary, block_port, change_client_code, create_box_with_splitter,
    create_property_with_client, delete_element, move_property, move_property_to, mutate,
    update_element,
};
pub use network::{Network, ROUTES};
pub use server::{RecordedRequest, ServerConfig, TestServer};
