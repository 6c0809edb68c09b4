//! Serving a million elements: generation time, resident memory (at most
//! 1 GiB), and that paging a filtered, sorted list stays cheap after the first
//! page. Ignored by default (slow in debug builds):
//! `cargo test -p ozmap-test-server --release --test scale -- --ignored --nocapture`

mod common;

use std::time::Instant;

use common::{KEY, enc, get, send};
use ozmap_test_server::{GeneratorConfig, ServerConfig, TestServer, generate};
use serde_json::json;

/// This process's peak resident memory, in MiB (Linux).
fn peak_rss_mib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib / 1024)
}

#[test]
#[ignore = "slow: generates and serves a million elements"]
fn a_million_elements_page_quickly() {
    let began = Instant::now();
    let network = generate(&GeneratorConfig::scaled(1_000_000));
    println!(
        "generated {} elements in {:.2?}; peak RSS {:?} MiB",
        network.total_elements(),
        began.elapsed(),
        peak_rss_mib()
    );
    let project = network.projects[1]["id"].as_str().unwrap().to_owned();
    let s = TestServer::start(ServerConfig::default(), network).unwrap();

    let filter =
        enc(&json!([{"property": "project", "operator": "=", "value": project}]).to_string());
    let sort = enc(&json!([{"property": "updatedAt", "direction": 1}]).to_string());
    for page in [1, 2, 30] {
        let t = Instant::now();
        let r = get(
            s.addr(),
            &format!("/api/v2/properties?filter={filter}&sort={sort}&limit=1000&page={page}"),
        );
        let body = r.json();
        println!(
            "filtered+sorted page {page}: {} of {} in {:.2?}",
            body["count"],
            body["total"],
            t.elapsed()
        );
        assert_eq!(body["count"], 1000);
    }
    let t = Instant::now();
    let r = get(s.addr(), "/api/v2/ftth-clients?limit=1000&page=300").json();
    println!(
        "unfiltered page 300: {} rows in {:.2?}",
        r["count"],
        t.elapsed()
    );
    for n in 0..6 {
        let code = format!("SVC-{:06}", 123_456 + n);
        let filter =
            enc(&json!([{"property": "code", "operator": "=", "value": code}]).to_string());
        let t = Instant::now();
        let r = get(s.addr(), &format!("/api/v2/ftth-clients?filter={filter}")).json();
        println!(
            "client by code: {} found in {:.2?}",
            r["total"],
            t.elapsed()
        );
    }
    let t = Instant::now();
    let ids = get(s.addr(), "/api/v2/properties?select=id&limit=1000&page=100").json();
    assert_eq!(ids["rows"][0].as_object().unwrap().len(), 1);
    println!("select=id page: {:.2?}", t.elapsed());
    let t = Instant::now();
    let mutated = send(
        s.addr(),
        "POST",
        "/__test/mutate?fraction=0.01&seed=7",
        Some(KEY),
        None,
    )
    .unwrap()
    .json();
    println!("mutated 1% in {:.2?}: {mutated}", t.elapsed());
    let t = Instant::now();
    let r = get(
        s.addr(),
        &format!("/api/v2/properties?filter={filter}&sort={sort}&limit=1000&page=1"),
    );
    assert_eq!(r.json()["count"], 1000);
    println!(
        "filtered+sorted page 1 after the change: {:.2?}",
        t.elapsed()
    );
    let peak = peak_rss_mib();
    println!("peak RSS serving a million elements: {peak:?} MiB");
    assert!(peak.is_none_or(|p| p <= 1024), "{peak:?} MiB");
    let t = Instant::now();
    s.shutdown();
    println!("shut down in {:.2?}", t.elapsed());
}
