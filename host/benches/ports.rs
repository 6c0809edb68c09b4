//! `GET /ports/free` under load, end to end: a generated network synced by
//! the real `mapsync sync` into a fresh store, served by the real
//! `mapsync serve`, and asked for the free ports near random points of the
//! network by concurrent clients over loopback HTTP.
//!
//! cargo bench -p mapsync --bench ports -- [ELEMENTS ...]   (default 100000)
//!
//! On SQLite by default; with `MAPSYNC_BENCH_POSTGRES=postgres://USER@HOST:PORT/postgres`
//! (a user that may create databases) into a fresh PostgreSQL database.
//! `MAPSYNC_BENCH_CLIENTS` (8), `MAPSYNC_BENCH_SECONDS` (5) and
//! `MAPSYNC_BENCH_RADIUS` (metres; the API's default when unset) change the
//! load; `MAPSYNC_BENCH_DIR` keeps the SQLite stores in that folder, and
//! serves a store found there again without syncing.
//!
//! Prints, per size: elements served, the sync's time, requests per second,
//! the median and 99th percentile latency, and the boxes answered on
//! average. Figures, not assertions.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ozmap_test_server::{GeneratorConfig, ServerConfig, TestServer, generate};
use rand::{Rng, SeedableRng};
use serde_json::Value;

mod support;

use support::{add_integration, fresh_store, mapsync, run};

const TOKEN: &str = "bench-token-5d1c9a";

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `mapsync serve` on a free port; answers it and its address once it
/// listens. Stopped by `stop`, which waits for it.
#[allow(clippy::zombie_processes)]
fn serve(db: &str, cache: &Path) -> (Child, String) {
    let mut child = mapsync(db, cache, &["serve", "--listen", "127.0.0.1:0"])
        .env("MAPSYNC_API_TOKEN", TOKEN)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    loop {
        let mut line = String::new();
        assert!(out.read_line(&mut line).unwrap() > 0, "serve ended");
        if let Some(address) = line.trim().strip_prefix("listening on ") {
            let address = address.to_string();
            // Keep reading its output so that it never blocks on a full pipe.
            std::thread::spawn(move || for _ in out.lines() {});
            return (child, address);
        }
    }
}

fn stop(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

fn get(agent: &ureq::Agent, url: &str) -> Value {
    let mut answer = agent
        .get(url)
        .header("Authorization", &format!("Bearer {TOKEN}"))
        .call()
        .unwrap();
    assert_eq!(answer.status(), 200, "{url}");
    answer
        .body_mut()
        .with_config()
        .limit(1 << 30)
        .read_json()
        .unwrap()
}

/// A generated network of about `size` elements synced into a fresh store:
/// the store, the elements served and the sync's time.
fn synced_store(dir: &Path, cache: &Path, size: usize) -> (String, usize, Duration) {
    let network = generate(&GeneratorConfig::scaled(size));
    let served = network.total_elements();
    let config = ServerConfig::default();
    let server = TestServer::start(config.clone(), network).unwrap();
    let db = fresh_store(dir, &format!("ports_{size}"));
    add_integration(&db, cache, &config, &server.url());
    let started = Instant::now();
    run(&db, cache, &["sync", "--integration", "bench", "--json"]);
    (db, served, started.elapsed())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![100_000]
    } else {
        sizes
    };
    let clients: usize = env_or("MAPSYNC_BENCH_CLIENTS", 8);
    let seconds: f64 = env_or("MAPSYNC_BENCH_SECONDS", 5.0);
    let radius: Option<f64> = std::env::var("MAPSYNC_BENCH_RADIUS")
        .ok()
        .and_then(|r| r.parse().ok());
    // `MAPSYNC_BENCH_DIR` keeps the stores there, to look into after.
    let dir = tempfile::tempdir().unwrap();
    let keep = std::env::var_os("MAPSYNC_BENCH_DIR").is_some();
    let dir = std::env::var_os("MAPSYNC_BENCH_DIR")
        .map_or_else(|| dir.path().to_path_buf(), std::path::PathBuf::from);
    let cache = dir.join("cache");
    println!(
        "{clients} clients for {seconds} s each, radius {}",
        radius.map_or("the API's default".to_string(), |r| format!("{r} m"))
    );
    println!(
        "{:>10} {:>8} {:>10} {:>9} {:>9} {:>9} {:>8}",
        "elements", "sync", "requests", "req/s", "p50", "p99", "boxes"
    );
    for size in sizes {
        // A store kept from an earlier run is served again as it is.
        let kept = dir.join(format!("ports_{size}.db"));
        let reuse = keep && std::env::var("MAPSYNC_BENCH_POSTGRES").is_err() && kept.exists();
        let (db, served, synced) = if reuse {
            (
                kept.display().to_string(),
                "kept".to_string(),
                "-".to_string(),
            )
        } else {
            let (db, served, synced) = synced_store(&dir, &cache, size);
            (
                db,
                served.to_string(),
                format!("{:.1}s", synced.as_secs_f64()),
            )
        };
        let (mut child, address) = serve(&db, &cache);
        let api = format!("{address}/api/v1");
        // The points: random boxes' positions, moved up to about 300 m.
        let places: Vec<(f64, f64)> = get(
            &support::agent(Duration::from_secs(60)),
            &format!("{api}/boxes"),
        )
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|b| Some((b["lat"].as_f64()?, b["lng"].as_f64()?)))
        .collect();
        assert!(!places.is_empty(), "no box was synced");
        let places = Arc::new(places);
        let stop_at = Instant::now() + Duration::from_secs_f64(seconds);
        let workers: Vec<_> = (0..clients)
            .map(|n| {
                let (places, api) = (places.clone(), api.clone());
                std::thread::spawn(move || {
                    let agent = support::agent(Duration::from_secs(60));
                    let mut rng = rand::rngs::StdRng::seed_from_u64(n as u64);
                    let mut latencies = Vec::new();
                    let mut boxes = 0usize;
                    while Instant::now() < stop_at {
                        let (lat, lng) = places[rng.random_range(0..places.len())];
                        let lat = lat + rng.random_range(-0.0027..0.0027);
                        let lng = lng + rng.random_range(-0.0027..0.0027);
                        let mut url = format!("{api}/ports/free?lat={lat:.6}&lng={lng:.6}");
                        if let Some(r) = radius {
                            url.push_str(&format!("&radius={r}"));
                        }
                        let asked = Instant::now();
                        let answer = get(&agent, &url);
                        latencies.push(asked.elapsed());
                        boxes += answer.as_array().map_or(0, Vec::len);
                    }
                    (latencies, boxes)
                })
            })
            .collect();
        let began = Instant::now();
        let mut latencies = Vec::new();
        let mut boxes = 0;
        for worker in workers {
            let (l, b) = worker.join().unwrap();
            latencies.extend(l);
            boxes += b;
        }
        let elapsed = began.elapsed();
        stop(&mut child);
        latencies.sort();
        let ms = |d: Duration| format!("{:.1}ms", d.as_secs_f64() * 1000.0);
        println!(
            "{served:>10} {synced:>8} {:>10} {:>9.0} {:>9} {:>9} {:>8.1}",
            latencies.len(),
            latencies.len() as f64 / elapsed.as_secs_f64(),
            ms(percentile(&latencies, 0.5)),
            ms(percentile(&latencies, 0.99)),
            boxes as f64 / latencies.len().max(1) as f64
        );
    }
}
