//! `mapsync`: synchronises an ISP's fibre network from OZmap into a local
//! store its management system reads.

mod api;
mod cli;
mod component;
mod console;
mod daemon;
mod error;
mod schedule;
mod secrets;
mod services;
mod store;
mod sync;
mod text;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    cli::dispatch::main(cli::Cli::parse())
}
