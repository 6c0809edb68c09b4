//! Sync speed and memory, end to end, beside the floor: one generated
//! network served by the OZmap test server (in a process of its own), read by
//!
//! - the floor: a bare loop written here that fetches every page of the six
//!   routes a sync reads (the same page size) and parses its JSON;
//! - the real `mapsync sync` (a child process): a full sync, a re-sync with
//!   nothing changed, and a re-sync after 1 % of the elements changed
//!   (updated, created, deleted, properties moved, codes changed, ports
//!   blocked: the test server's `mutate`);
//! - the guest's logic built natively, against the same server with an
//!   in-memory store, to hold the component's own work against;
//! - the official SDK's `findAll` of the same routes (Node, with the SDK
//!   installed by `npm ci` in `tests/sdk`), when it can run here.
//!
//! cargo bench -p mapsync --bench sync -- [ELEMENTS ...]   (default 10000 100000)
//!
//! With `--wan [--latency-ms MS]` (default 40), the served network answers
//! every request that much later, as a platform across a real network
//! does, and the run prints, side by side: the SDK's `findAll` at 100 rows a
//! page (its default) and at 500, then mapsync's full sync, unchanged
//! re-sync and 1 %-changed re-sync, each with its wall time, the requests
//! the server answered, the most it answered at once, the bytes it sent and
//! the peak resident memory (`cargo bench -p mapsync --bench sync -- --wan
//! 100000`). Then a platform as far away that answers 100 rows a page at
//! most: a full sync, and a re-sync after a dozen changes, in round trips.
//!
//! On SQLite by default; with `MAPSYNC_BENCH_POSTGRES=postgres://USER@HOST:PORT/postgres`
//! (a user that may create databases; `tests/postgres PID` starts a throwaway
//! server) each size syncs into a fresh PostgreSQL database instead.
//!
//! Prints figures and each against its target; asserts nothing.

// A benchmark's own bookkeeping: std's hash maps are fine here.
#![allow(clippy::disallowed_types)]

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

#[path = "../src/component/cpu.rs"]
mod cpu;

use mapsync_guest::http::{FetchError, Http, Method, Request, Response};
use mapsync_guest::ledger::Ledger;
use mapsync_guest::model::{Batch, ElementKind};
use mapsync_guest::ozmap::client::Credentials;
use mapsync_guest::store::{Entry, Mark, Staged, Storage};
use ozmap_test_server::{GeneratorConfig, ServerConfig, TestServer, generate};
use serde_json::Value;

mod support;

use support::{add_integration, fresh_store, mapsync};

/// What a sync reads, in its order.
const ROUTES: [&str; 6] = [
    "projects",
    "poles",
    "boxes",
    "splitters",
    "ftth-clients",
    "properties",
];
/// mapsync's page size when the integration sets none.
const PAGE_SIZE: usize = 500;

fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// The floor: every page of every route, fetched and parsed, one at a
/// time on one connection. Answers the rows read.
fn floor(base: &str, api_key: &str) -> usize {
    let agent = support::agent(Duration::from_secs(120));
    let mut rows = 0;
    for route in ROUTES {
        let mut next = Some(format!("/api/v2/{route}?page=1&limit={PAGE_SIZE}"));
        while let Some(path) = next.take() {
            let mut answer = agent
                .get(format!("{base}{path}"))
                .header("Authorization", api_key)
                .call()
                .unwrap();
            let page: Value =
                serde_json::from_slice(&answer.body_mut().read_to_vec().unwrap()).unwrap();
            rows += page["rows"].as_array().map_or(0, Vec::len);
            if page["hasNextPage"] == true {
                next = page["nextUrl"].as_str().map(str::to_string);
            }
        }
    }
    rows
}

/// The official SDK's `findAll` of the same routes, held to the end as its
/// callers hold them (`tests/sdk/bench/find-all.mjs`): what an ISP would
/// script instead of mapsync. `Err` says why it cannot run here.
fn sdk_find_all(base: &str, api_key: &str, rows_a_page: Option<u32>) -> Result<Timed, String> {
    let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/sdk");
    if !sdk.join("node_modules/@ozmap/ozmap-sdk").is_dir() {
        return Err("the SDK is not installed (`npm ci` in tests/sdk)".into());
    }
    if std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_err()
    {
        return Err("no `node` on the PATH".into());
    }
    let mut command = std::process::Command::new("node");
    command
        .arg(sdk.join("bench/find-all.mjs"))
        .args([base, api_key]);
    if let Some(rows) = rows_a_page {
        command.arg(rows.to_string());
    }
    Ok(watch(command, "the SDK's findAll"))
}

/// The guest's `Http` natively, timing what the platform takes.
struct NativeHttp {
    agent: ureq::Agent,
    waited: Duration,
    /// The thread's CPU time spent fetching (reading the answers): the
    /// component's host does that on threads of its own.
    fetch_cpu: Duration,
}

impl Http for &mut NativeHttp {
    fn fetch(&mut self, request: Request) -> Result<Response, FetchError> {
        let (started, cpu) = (Instant::now(), cpu::thread_cpu());
        assert_eq!(request.method, Method::Get, "the sync only reads");
        let mut call = self.agent.get(&request.url);
        for (name, value) in &request.headers {
            call = call.header(name, value);
        }
        let mut answer = call.call().map_err(|e| FetchError::Other(e.to_string()))?;
        let response = Response {
            status: answer.status().as_u16(),
            headers: Vec::new(),
            body: answer.body_mut().read_to_vec().unwrap(),
        };
        self.waited += started.elapsed();
        self.fetch_cpu += cpu::thread_cpu().saturating_sub(cpu);
        Ok(response)
    }

    fn sleep(&mut self, duration: Duration) {
        std::thread::sleep(duration);
        self.waited += duration;
    }

    fn now_ms(&mut self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64
    }
}

/// A store that keeps ids, fingerprints and what a run staged in memory,
/// at next to no cost, under the component's own rules (`Ledger`) and with
/// the stored form it writes: so the native run does the guest's whole work
/// in a first sync, as the component does it, and times it.
#[derive(Default)]
struct MemoryStore {
    staged: HashMap<(ElementKind, String), Staged>,
}

impl Storage for MemoryStore {
    fn look_up(&mut self, kind: ElementKind, ids: &[String]) -> Result<Vec<Entry>, String> {
        Ok(ids
            .iter()
            .map(|id| Entry {
                stored: None,
                staged: self.staged.get(&(kind, id.clone())).copied(),
            })
            .collect())
    }

    fn stage_written(
        &mut self,
        batch: Batch,
        _: Vec<u64>,
        changes: Vec<Staged>,
    ) -> Result<(), String> {
        let kind = batch.kind();
        // The component writes each element's stored form: so does this.
        for ((id, _, _), change) in batch.stored()?.into_iter().zip(changes) {
            self.staged.insert((kind, id), change);
        }
        Ok(())
    }

    fn stage_marks(&mut self, kind: ElementKind, marks: Vec<Mark>) -> Result<(), String> {
        for mark in marks {
            self.staged.insert((kind, mark.id), mark.staged);
        }
        Ok(())
    }

    fn held_count(&mut self, _: ElementKind) -> Result<u32, String> {
        Ok(0)
    }

    fn held_ids(&mut self, _: ElementKind, _: Option<&str>, _: u32) -> Result<Vec<String>, String> {
        Ok(Vec::new())
    }

    fn unstaged_ids(
        &mut self,
        _: ElementKind,
        _: Option<&str>,
        _: u32,
    ) -> Result<Vec<String>, String> {
        Ok(Vec::new())
    }
}

/// The guest's own work in a full sync run natively: the run's time less
/// the platform's, and its thread's CPU time less what fetching took.
fn native_guest_work(base: &str, api_key: &str) -> GuestWork {
    let mut http = NativeHttp {
        agent: support::agent(Duration::from_secs(120)),
        waited: Duration::ZERO,
        fetch_cpu: Duration::ZERO,
    };
    let mut store = Ledger::new(MemoryStore::default());
    let settings = mapsync_guest::sync::Settings::new(Credentials {
        api_url: base.to_string(),
        api_key: api_key.to_string(),
        user: String::new(),
        password: String::new(),
    });
    let (started, cpu) = (Instant::now(), cpu::thread_cpu());
    mapsync_guest::sync::run(&mut http, &mut store, &settings).unwrap();
    GuestWork {
        wall: started.elapsed().saturating_sub(http.waited),
        cpu: cpu::thread_cpu()
            .saturating_sub(cpu)
            .saturating_sub(http.fetch_cpu),
    }
}

/// The guest's own work in a sync: by the wall clock, and in CPU time of
/// the thread running it, which leaves out the moments it waited for a
/// core (in `mapsync`, the store's thread and the test server share the
/// cores with it; natively only the test server does).
struct GuestWork {
    wall: Duration,
    cpu: Duration,
}

struct Timed {
    wall: Duration,
    peak_kib: u64,
    report: Value,
}

fn sync(db: &str, cache: &Path, extra: &[&str]) -> Timed {
    let mut args = vec!["sync", "--integration", "bench", "--json"];
    args.extend(extra);
    watch(mapsync(db, cache, &args), &format!("sync {extra:?}"))
}

/// Run `command` to its end, which must succeed, with its peak resident
/// memory and what it printed, read as JSON.
fn watch(mut command: std::process::Command, what: &str) -> Timed {
    let out = std::env::temp_dir().join(format!("mapsync-bench-{}.json", std::process::id()));
    command.stdout(std::fs::File::create(&out).unwrap());
    let started = Instant::now();
    let mut child = command.spawn().unwrap_or_else(|e| panic!("{what}: {e}"));
    let mut peak_kib = 0;
    loop {
        peak_kib = peak_kib.max(peak_rss_kib(child.id()).unwrap_or(0));
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "{what} failed");
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let wall = started.elapsed();
    let report = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let _ = std::fs::remove_file(out);
    Timed {
        wall,
        peak_kib,
        report,
    }
}

/// The store's size on disk, in bytes.
fn database_bytes(db: &str) -> u64 {
    if db.starts_with("postgres") {
        let mut client = postgres::Client::connect(db, postgres::NoTls).unwrap();
        let row = client
            .query_one("SELECT pg_database_size(current_database())", &[])
            .unwrap();
        return row.get::<_, i64>(0) as u64;
    }
    ["", "-wal"]
        .iter()
        .filter_map(|suffix| std::fs::metadata(format!("{db}{suffix}")).ok())
        .map(|m| m.len())
        .sum()
}

/// Compile the component into the cache the timed runs load it from, as
/// any host does once, before its first sync.
fn warm_up(dir: &Path, cache: &Path) {
    let config = ServerConfig::default();
    let server = TestServer::start(config.clone(), generate(&GeneratorConfig::small())).unwrap();
    let db = dir.join("warm-up.db").display().to_string();
    add_integration(&db, cache, &config, &server.url());
    sync(&db, cache, &[]);
}

/// Where a sync's time went: the run (platform, store, component) and the
/// rest (starting, applying the run, identifying clients).
fn profile(t: &Timed) -> String {
    let ms = |k: &str| t.report["timing"][k].as_u64().unwrap_or(0) as f64 / 1e3;
    format!(
        "platform {:.2} s, store {:.2} s, component {:.2} s, outside the run {:.2} s",
        ms("platform_ms"),
        ms("store_ms"),
        ms("component_ms"),
        secs(t.wall) - ms("total_ms")
    )
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// A figure against its target: `value` must not exceed `target`.
fn verdict(label: &str, value: f64, target: f64, unit: &str) {
    let mark = if value <= target { "met" } else { "MISSED" };
    println!("    {label:<44} {value:>9.2}{unit:<3} target ≤ {target:.2}{unit:<3} {mark}");
}

/// The served network's process: `MAPSYNC_BENCH_SERVE=N` makes this
/// benchmark a test server of about N elements, which prints its address,
/// its element count and how long the generation took, then serves until
/// its standard input closes. Served from a process of its own, the
/// server's gigabyte of heap does not slow the floor and the native run,
/// which the measured syncs (child processes too) do not share it with:
/// in the benchmark's own process they took 3.5 times as long at 1M.
fn serve(size: usize) {
    let started = Instant::now();
    let network = generate(&GeneratorConfig::scaled(size));
    let served = network.total_elements();
    let generated = started.elapsed();
    let latency = std::env::var("MAPSYNC_BENCH_LATENCY_MS")
        .ok()
        .and_then(|ms| ms.parse().ok())
        .map_or(Duration::ZERO, Duration::from_millis);
    let defaults = ServerConfig::default();
    let config = ServerConfig {
        latency,
        max_page_size: std::env::var("MAPSYNC_BENCH_MAX_PAGE")
            .ok()
            .and_then(|rows| rows.parse().ok())
            .unwrap_or(defaults.max_page_size),
        ..defaults
    };
    let server = TestServer::start(config, network).unwrap();
    println!("{} {served} {:.1}", server.url(), secs(generated));
    let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut Vec::new());
}

/// A test server in a child process (see [`serve`]); it stops when dropped.
struct Served {
    child: std::process::Child,
    url: String,
    elements: usize,
    generated: f64,
}

impl Served {
    /// About `size` elements, each answer `latency_ms` late.
    fn start(size: usize, latency_ms: u64) -> Served {
        Served::paging(size, latency_ms, None)
    }

    /// `start`, the server answering at most `max_page` rows a page.
    fn paging(size: usize, latency_ms: u64, max_page: Option<usize>) -> Served {
        let mut command = std::process::Command::new(std::env::current_exe().unwrap());
        if let Some(rows) = max_page {
            command.env("MAPSYNC_BENCH_MAX_PAGE", rows.to_string());
        }
        let mut child = command
            .env("MAPSYNC_BENCH_SERVE", size.to_string())
            .env("MAPSYNC_BENCH_LATENCY_MS", latency_ms.to_string())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        let mut words = line.split_whitespace();
        let (url, elements, generated) = (words.next(), words.next(), words.next());
        Served {
            url: url.expect("the server's address").to_string(),
            elements: elements.and_then(|e| e.parse().ok()).unwrap(),
            generated: generated.and_then(|g| g.parse().ok()).unwrap(),
            child,
        }
    }

    /// The test server's `mutate` over HTTP: answers the changes made.
    fn mutate(&self, api_key: &str, fraction: f64, seed: u64) -> u64 {
        let mut answer = support::agent(Duration::from_secs(120))
            .post(format!(
                "{}/__test/mutate?fraction={fraction}&seed={seed}",
                self.url
            ))
            .header("Authorization", api_key)
            .send_empty()
            .unwrap();
        let summary: Value = answer.body_mut().read_json().unwrap();
        summary["changes"].as_u64().expect("the mutation's summary")
    }

    /// What the server was asked since the last call: requests, the most at
    /// once, the bytes it sent (`POST /__test/stats`).
    fn stats(&self, api_key: &str) -> Traffic {
        let mut answer = support::agent(Duration::from_secs(120))
            .post(format!("{}/__test/stats", self.url))
            .header("Authorization", api_key)
            .send_empty()
            .unwrap();
        let stats: Value = answer.body_mut().read_json().unwrap();
        let count = |k: &str| stats[k].as_u64().expect("the server's stats");
        Traffic {
            requests: count("requests"),
            most_under_way: count("most_under_way"),
            bytes: count("bytes"),
        }
    }
}

/// What the server saw of one measured run.
struct Traffic {
    requests: u64,
    most_under_way: u64,
    bytes: u64,
}

impl Drop for Served {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

fn main() {
    if let Ok(size) = std::env::var("MAPSYNC_BENCH_SERVE") {
        return serve(
            size.parse()
                .expect("MAPSYNC_BENCH_SERVE: a number of elements"),
        );
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let wan = args.iter().any(|a| a == "--wan");
    let latency_ms: u64 = args
        .iter()
        .position(|a| a == "--latency-ms")
        .map(|at| {
            args.get(at + 1)
                .and_then(|ms| ms.parse().ok())
                .expect("--latency-ms: a number of milliseconds")
        })
        .unwrap_or(40);
    let sizes: Vec<usize> = args
        .iter()
        .enumerate()
        .filter(|(i, _)| *i == 0 || args[i - 1] != "--latency-ms")
        .filter_map(|(_, a)| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![10_000, 100_000]
    } else {
        sizes
    };
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    warm_up(dir.path(), &cache);
    if wan {
        for size in sizes {
            across_a_wan(dir.path(), &cache, size, latency_ms);
        }
        return;
    }
    for size in sizes {
        let server = Served::start(size, 0);
        let (url, served) = (server.url.clone(), server.elements);
        let config = ServerConfig::default();
        let api_key = config.api_key.clone().unwrap();
        println!("{served} elements (generated in {:.1} s)", server.generated);

        let started = Instant::now();
        let rows = floor(&url, &api_key);
        let floor_time = started.elapsed();
        println!(
            "  floor (fetch and parse every page)    {:>8.2} s  {:>9.0} rows/s",
            secs(floor_time),
            rows as f64 / secs(floor_time)
        );

        let sdk = sdk_find_all(&url, &api_key, None);
        match &sdk {
            Ok(sdk) => println!(
                "  the official SDK's findAll            {:>8.2} s  {:>9.0} rows/s  peak {:.0} MiB",
                secs(sdk.wall),
                sdk.report["rows"]
                    .as_f64()
                    .expect("the rows the SDK's findAll read")
                    / secs(sdk.wall),
                sdk.peak_kib as f64 / 1024.0
            ),
            Err(why) => println!("  the official SDK's findAll            not run: {why}"),
        }

        let db = fresh_store(dir.path(), &format!("bench_{size}"));
        add_integration(&db, &cache, &config, &url);
        let full = sync(&db, &cache, &["--full"]);
        let unchanged = sync(&db, &cache, &[]);
        let changes = server.mutate(&api_key, 0.01, 7);
        let changed = sync(&db, &cache, &[]);
        let bytes = database_bytes(&db);
        let native = native_guest_work(&url, &api_key);
        let timing = &full.report["timing"];
        // A figure the report lacks would read as 0 and pass its target.
        let ms = |k: &str| {
            timing[k]
                .as_u64()
                .unwrap_or_else(|| panic!("the full sync's timing has no {k}: {timing}"))
        };
        let component = GuestWork {
            wall: Duration::from_millis(ms("component_ms")),
            cpu: Duration::from_millis(ms("component_cpu_ms")),
        };
        let peak_mib = |t: &Timed| t.peak_kib as f64 / 1024.0;

        println!(
            "  full sync                             {:>8.2} s  {:>9.0} elements/s  peak {:.0} MiB  ({})",
            secs(full.wall),
            served as f64 / secs(full.wall),
            peak_mib(&full),
            profile(&full)
        );
        println!(
            "  re-sync, nothing changed              {:>8.2} s  peak {:.0} MiB  ({})",
            secs(unchanged.wall),
            peak_mib(&unchanged),
            profile(&unchanged)
        );
        println!(
            "  re-sync, 1 % changed ({} changes)  {:>8.2} s  peak {:.0} MiB  ({})",
            changes,
            secs(changed.wall),
            peak_mib(&changed),
            profile(&changed)
        );
        println!(
            "  database                              {:>8.1} MiB  {:.0} bytes/element",
            bytes as f64 / (1 << 20) as f64,
            bytes as f64 / served as f64
        );
        println!(
            "  guest work: component {:.2} s (CPU {:.2} s), native {:.2} s (CPU {:.2} s); by the wall clock {:.2} ×",
            secs(component.wall),
            secs(component.cpu),
            secs(native.wall),
            secs(native.cpu),
            secs(component.wall) / secs(native.wall).max(1e-3)
        );
        verdict(
            "full sync / floor",
            secs(full.wall) / secs(floor_time),
            2.0,
            "×",
        );
        if let Ok(sdk) = &sdk {
            verdict(
                "full sync / the SDK's findAll",
                secs(full.wall) / secs(sdk.wall),
                1.0,
                "×",
            );
        }
        verdict(
            "unchanged re-sync / full sync",
            100.0 * secs(unchanged.wall) / secs(full.wall),
            10.0,
            "%",
        );
        verdict(
            "1 %-changed re-sync / full sync",
            100.0 * secs(changed.wall) / secs(full.wall),
            15.0,
            "%",
        );
        let peak = [&full, &unchanged, &changed]
            .iter()
            .map(|t| peak_mib(t))
            .fold(0.0, f64::max);
        verdict("peak RSS of any sync", peak, 150.0, "MiB");
        verdict(
            "component / native guest work (CPU time)",
            secs(component.cpu) / secs(native.cpu).max(1e-3),
            1.25,
            "×",
        );
    }
}

/// The WAN mode (see the top): the SDK and mapsync side by side on one
/// network served `latency_ms` away.
fn across_a_wan(dir: &Path, cache: &Path, size: usize, latency_ms: u64) {
    let server = Served::start(size, latency_ms);
    let (url, served) = (server.url.clone(), server.elements);
    let config = ServerConfig::default();
    let api_key = config.api_key.clone().unwrap();
    println!(
        "{served} elements (generated in {:.1} s), every answer {latency_ms} ms late",
        server.generated
    );
    let line = |label: &str, timed: &Timed, traffic: &Traffic| {
        println!(
            "  {label:<38} {:>8.2} s  {:>6} requests  {:>3} at most at once  {:>8.1} MiB read  peak {:.0} MiB",
            secs(timed.wall),
            traffic.requests,
            traffic.most_under_way,
            traffic.bytes as f64 / (1 << 20) as f64,
            timed.peak_kib as f64 / 1024.0
        );
    };
    server.stats(&api_key);
    let mut sdk = Vec::new();
    for rows in [100, 500] {
        let label = format!("the SDK's findAll, {rows} rows a page");
        match sdk_find_all(&url, &api_key, Some(rows)) {
            Ok(timed) => {
                line(&label, &timed, &server.stats(&api_key));
                sdk.push(timed.wall);
            }
            Err(why) => println!("  {label:<38} not run: {why}"),
        }
    }
    let db = fresh_store(dir, &format!("wan_{size}"));
    add_integration(&db, cache, &config, &url);
    server.stats(&api_key);
    let full = sync(&db, cache, &["--full"]);
    line("mapsync full sync", &full, &server.stats(&api_key));
    let unchanged = sync(&db, cache, &[]);
    let unchanged_traffic = server.stats(&api_key);
    line(
        "mapsync re-sync, nothing changed",
        &unchanged,
        &unchanged_traffic,
    );
    let changes = server.mutate(&api_key, 0.01, 7);
    server.stats(&api_key);
    let changed = sync(&db, cache, &[]);
    line(
        &format!("mapsync re-sync, 1 % changed ({changes})"),
        &changed,
        &server.stats(&api_key),
    );
    if let [by_100, by_500] = sdk[..] {
        verdict(
            "full sync / the SDK's findAll by 500",
            secs(full.wall) / secs(by_500),
            0.5,
            "×",
        );
        verdict(
            "full sync / the SDK's findAll by 100",
            secs(full.wall) / secs(by_100),
            0.125,
            "×",
        );
        verdict(
            "1 %-changed re-sync / findAll by 500",
            100.0 * secs(changed.wall) / secs(by_500),
            10.0,
            "%",
        );
        verdict(
            "unchanged re-sync / findAll by 500",
            100.0 * secs(unchanged.wall) / secs(by_500),
            5.0,
            "%",
        );
    }
    verdict(
        "unchanged re-sync: requests a kind",
        unchanged_traffic.requests as f64 / ROUTES.len() as f64,
        4.0,
        "",
    );
    drop(server);
    by_small_pages(dir, cache, size, latency_ms);
}

/// A platform that answers 100 rows a page at most: after a few changes
/// (some deleted), a re-sync counts ranges of ids to find what went
/// rather than reading every id a page of 100 at a time, and takes a few
/// dozen round trips end to end.
fn by_small_pages(dir: &Path, cache: &Path, size: usize, latency_ms: u64) {
    let server = Served::paging(size, latency_ms, Some(100));
    let config = ServerConfig::default();
    let api_key = config.api_key.clone().unwrap();
    println!(
        "{} elements, every answer {latency_ms} ms late, at most 100 rows a page",
        server.elements
    );
    let db = fresh_store(dir, &format!("small_pages_{size}"));
    add_integration(&db, cache, &config, &server.url);
    let full = sync(&db, cache, &["--full"]);
    let traffic = server.stats(&api_key);
    println!(
        "  {:<38} {:>8.2} s  {:>6} requests  {:>3} at most at once",
        "mapsync full sync",
        secs(full.wall),
        traffic.requests,
        traffic.most_under_way
    );
    let changes = server.mutate(&api_key, 12.0 / server.elements as f64, 11);
    server.stats(&api_key);
    let changed = sync(&db, cache, &[]);
    let traffic = server.stats(&api_key);
    let trips = secs(changed.wall) * 1000.0 / latency_ms.max(1) as f64;
    println!(
        "  {:<38} {:>8.2} s  {:>6} requests  {:>3} at most at once  {trips:.0} round trips",
        format!("mapsync re-sync, {changes} changed"),
        secs(changed.wall),
        traffic.requests,
        traffic.most_under_way
    );
    verdict(
        "a few changed, 100 rows a page: round trips",
        trips,
        36.0,
        "",
    );
}
