//! The host side of the WIT world `mapsync:integration/integration`.

wasmtime::component::bindgen!({
    world: "integration",
    path: "../wit",
    additional_derives: [serde::Serialize, serde::Deserialize],
});

pub use mapsync::integration::{element_store, http_fetch, types};
pub use exports::mapsync::integration::sync;
