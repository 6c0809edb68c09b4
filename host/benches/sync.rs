//! Sync throughput and memory, end to end: the OZmap test server with a
//! generated network, and the real `mapsync sync` as a child process.
//!
//! cargo bench -p mapsync --bench sync -- [ELEMENTS ...]   (default 10000 100000)
//!
//! On SQLite by default; with `MAPSYNC_BENCH_POSTGRES=postgres://USER@HOST:PORT/postgres`
//! (a user that may create databases; `.ci/postgres PID` starts a throwaway
//! server) each size syncs into a fresh PostgreSQL database instead.
//!
//! Prints, per size: elements served, wall time, elements per second, and
//! the child's peak resident memory. Figures, not assertions.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use ozmap_test_server::{GeneratorConfig, ServerConfig, TestServer, generate};

fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn mapsync(db: &str, cache: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mapsync"));
    command
        .arg("--db")
        .arg(db)
        .args(args)
        .env("MAPSYNC_CACHE_DIR", cache)
        .env("MAPSYNC_SECRET_KEY_FILE", cache.with_extension("key"));
    command
}

fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![10_000, 100_000]
    } else {
        sizes
    };
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    println!(
        "{:>10} {:>10} {:>9} {:>12} {:>12} {:>10}",
        "elements", "generate", "sync", "elements/s", "peak RSS", "resync"
    );
    for size in sizes {
        let started = Instant::now();
        let network = generate(&GeneratorConfig::scaled(size));
        let served = network.total_elements();
        let generated = started.elapsed();
        let config = ServerConfig::default();
        let server = TestServer::start(config.clone(), network).unwrap();
        let db = match std::env::var("MAPSYNC_BENCH_POSTGRES") {
            Ok(admin) => {
                let name = format!("bench_{size}_{}", std::process::id());
                postgres::Client::connect(&admin, postgres::NoTls)
                    .unwrap()
                    .batch_execute(&format!("CREATE DATABASE {name}"))
                    .unwrap();
                let mut url = url::Url::parse(&admin).unwrap();
                url.set_path(&format!("/{name}"));
                url.to_string()
            }
            Err(_) => dir
                .path()
                .join(format!("bench-{size}.db"))
                .display()
                .to_string(),
        };
        let url = server.url();
        let added = mapsync(
            &db,
            &cache,
            &[
                "integration",
                "add",
                "--name",
                "bench",
                "--api-url",
                &url,
                "--api-key",
                config.api_key.as_deref().unwrap(),
                "--user",
                &config.user,
                "--password",
                &config.password,
            ],
        )
        .output()
        .unwrap();
        assert!(added.status.success());
        let linked = mapsync(
            &db,
            &cache,
            &[
                "integration",
                "link",
                "--integration",
                "bench",
                "--new",
                "bench",
            ],
        )
        .output()
        .unwrap();
        assert!(linked.status.success());

        let timed = |label: &str| -> (Duration, u64) {
            let started = Instant::now();
            let mut child = mapsync(&db, &cache, &["sync", "--integration", "bench", "--json"])
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap();
            let mut peak = 0;
            loop {
                peak = peak.max(peak_rss_kib(child.id()).unwrap_or(0));
                if let Some(status) = child.try_wait().unwrap() {
                    assert!(status.success(), "{label} sync failed");
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            (started.elapsed(), peak)
        };
        let (first, peak) = timed("first");
        let (again, _) = timed("second");
        println!(
            "{served:>10} {:>9.1}s {:>8.1}s {:>12.0} {:>9} MiB {:>9.1}s",
            generated.as_secs_f64(),
            first.as_secs_f64(),
            served as f64 / first.as_secs_f64(),
            peak / 1024,
            again.as_secs_f64()
        );
    }
}
