//! The host side of the WIT world `mapsync:integration/integration`.

wasmtime::component::bindgen!({
    world: "integration",
    path: "../wit",
    additional_derives: [serde::Serialize, serde::Deserialize],
    with: {
        "mapsync:integration/http-fetch.pending": crate::component::fetch::Pending,
    },
});

pub use exports::mapsync::integration::{binding, matching, sync};
pub use mapsync::integration::{clock, element_store, http_fetch, log, types};
