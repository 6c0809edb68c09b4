//! What the benchmarks share: the real `mapsync` as a child process, a
//! fresh store per size, an integration added and linked, an HTTP agent.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use ozmap_test_server::ServerConfig;

/// `mapsync --db DB ARGS` with the benchmark's component cache and key,
/// and none of the caller's store or log settings.
pub fn mapsync(db: &str, cache: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mapsync"));
    command
        .arg("--db")
        .arg(db)
        .args(args)
        .env("MAPSYNC_CACHE_DIR", cache)
        .env("MAPSYNC_SECRET_KEY_FILE", cache.with_extension("key"))
        .env_remove("MAPSYNC_DB")
        .env_remove("MAPSYNC_LOG");
    command
}

/// Run `mapsync ARGS`, which must succeed.
pub fn run(db: &str, cache: &Path, args: &[&str]) {
    let out = mapsync(db, cache, args).output().unwrap();
    assert!(
        out.status.success(),
        "mapsync {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A fresh store named `name`: a SQLite file in `dir`, or with
/// `MAPSYNC_BENCH_POSTGRES` a new PostgreSQL database.
pub fn fresh_store(dir: &Path, name: &str) -> String {
    match std::env::var("MAPSYNC_BENCH_POSTGRES") {
        Ok(admin) => {
            let name = format!("{name}_{}", std::process::id());
            postgres::Client::connect(&admin, postgres::NoTls)
                .unwrap()
                .batch_execute(&format!("CREATE DATABASE {name}"))
                .unwrap();
            let mut url = url::Url::parse(&admin).unwrap();
            url.set_path(&format!("/{name}"));
            url.to_string()
        }
        Err(_) => dir.join(format!("{name}.db")).display().to_string(),
    }
}

/// Integration "bench" of the test server at `url`, linked to a new project.
pub fn add_integration(db: &str, cache: &Path, config: &ServerConfig, url: &str) {
    run(
        db,
        cache,
        &[
            "integration",
            "add",
            "--name",
            "bench",
            "--api-url",
            url,
            "--api-key",
            config.api_key.as_deref().unwrap(),
            "--user",
            &config.user,
            "--password",
            &config.password,
        ],
    );
    run(
        db,
        cache,
        &[
            "integration",
            "link",
            "--integration",
            "bench",
            "--new",
            "bench",
        ],
    );
}

pub fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .proxy(None)
        .timeout_global(Some(timeout))
        .build()
        .into()
}
