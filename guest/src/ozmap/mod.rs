//! The OZmap platform: its API v2 client and its record formats.

pub mod client;
pub mod page;
pub mod pager;
pub mod partitions;
pub mod records;
