//! `mapsync demo`: the main job end to end on embedded defaults, with no
//! account and no server to install.

use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use ozmap_test_server::{GeneratorConfig, ServerConfig, TestServer, generate};

use crate::integration::{self, NewIntegration};
use crate::run_store::NoProgress;
use crate::sync_run::{self, Tuning};
use crate::{db, print_report, runtime, summary};

pub fn run() -> Result<ExitCode> {
    let started = Instant::now();
    let config = ServerConfig::default();
    let network = generate(&GeneratorConfig::small());
    let server = TestServer::start(config.clone(), network)
        .context("starting the built-in OZmap test server")?;
    println!(
        "OZmap test server with a generated network at {}",
        server.url()
    );

    let dir = std::env::temp_dir().join(format!("mapsync-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("demo.db");
    let conn = db::open(&path)?;
    let added = integration::add(
        &conn,
        NewIntegration {
            name: "demo".into(),
            api_url: server.url(),
            api_key: config.api_key.clone().unwrap_or_default(),
            user: config.user.clone(),
            password: config.password.clone(),
            project_name: None,
        },
    )?;
    println!(
        "integration {:?} registered in a fresh database ({})",
        added.name,
        path.display()
    );

    let runtime = runtime::Runtime::new()?;
    let (report, conn) = sync_run::run(
        conn,
        &runtime,
        &added,
        "demo",
        Tuning::default(),
        Box::new(NoProgress),
    )?;
    print_report(&report);
    if !report.succeeded() {
        return Ok(ExitCode::FAILURE);
    }
    println!("\nWhat mapsync found:");
    println!("{}", summary::of(&conn, &added.id)?);
    println!(
        "\ndone in {:.1?}. Explore what was stored:",
        started.elapsed()
    );
    println!(
        "  mapsync --db {} elements --integration demo --kind splitter --json",
        path.display()
    );
    Ok(ExitCode::SUCCESS)
}
