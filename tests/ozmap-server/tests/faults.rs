//! Every injected fault, as a client on the wire sees it.

mod common;

use std::time::{Duration, Instant};

use common::{KEY, get, send};
use ozmap_test_server::{Fault, GeneratorConfig, ServerConfig, TestServer, generate};

fn server() -> TestServer {
    TestServer::start(ServerConfig::default(), generate(&GeneratorConfig::small())).unwrap()
}

#[test]
fn too_many_requests_then_recovers() {
    let s = server();
    s.inject(
        "boxes",
        Fault::TooManyRequests {
            retry_after_secs: 7,
        },
        1,
    );
    let r = get(s.addr(), "/api/v2/boxes");
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), Some("7"));
    assert!(r.json()["message"].is_string());
    assert_eq!(get(s.addr(), "/api/v2/boxes").status, 200);
}

#[test]
fn status_faults_count_down_and_match_by_prefix() {
    let s = server();
    s.inject("ftth-clients", Fault::Status(503), 2);
    assert_eq!(
        get(s.addr(), "/api/v2/poles").status,
        200,
        "other routes untouched"
    );
    assert_eq!(get(s.addr(), "/api/v2/ftth-clients?limit=1").status, 503);
    // Before auth: even an unauthenticated request gets the fault.
    let r = send(s.addr(), "GET", "/api/v2/ftth-clients", None, None).unwrap();
    assert_eq!(r.status, 503);
    assert_eq!(get(s.addr(), "/api/v2/ftth-clients?limit=1").status, 200);

    s.inject("", Fault::Status(500), 5);
    s.clear_faults();
    assert_eq!(get(s.addr(), "/api/v2/poles").status, 200);
    assert_eq!(s.requests().len(), 5, "faulted requests are recorded too");
}

#[test]
fn slow_answers_arrive_late_but_right() {
    let s = server();
    s.inject("projects", Fault::Slow(Duration::from_millis(300)), 1);
    let began = Instant::now();
    let r = get(s.addr(), "/api/v2/projects");
    assert!(began.elapsed() >= Duration::from_millis(300));
    assert_eq!(r.json()["total"], 3);
}

#[test]
fn dropped_connections_get_no_answer() {
    let s = server();
    s.inject("", Fault::DropConnection, 1);
    let err = send(s.addr(), "GET", "/api/v2/boxes", Some(KEY), None).unwrap_err();
    assert!(
        matches!(
            err.kind(),
            std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset
        ),
        "{err:?}"
    );
    assert_eq!(get(s.addr(), "/api/v2/boxes").status, 200);
}

#[test]
fn malformed_json_is_a_200_that_does_not_parse() {
    let s = server();
    s.inject("splitters", Fault::MalformedJson, 1);
    let r = get(s.addr(), "/api/v2/splitters");
    assert_eq!(r.status, 200);
    assert!(r.complete);
    assert!(serde_json::from_slice::<serde_json::Value>(&r.body).is_err());
}

#[test]
fn truncated_json_stops_mid_document() {
    let s = server();
    s.inject("properties", Fault::TruncatedJson, 1);
    let r = get(s.addr(), "/api/v2/properties?limit=50");
    assert_eq!(r.status, 200);
    assert!(!r.complete, "Content-Length announces more than arrives");
    assert!(!r.body.is_empty(), "the first part does arrive");
    assert!(r.body.starts_with(b"{"));
    assert!(serde_json::from_slice::<serde_json::Value>(&r.body).is_err());
    let whole = get(s.addr(), "/api/v2/properties?limit=50");
    assert!(whole.complete);
    assert_eq!(whole.json()["count"], 50);
}

#[test]
fn latency_delays_every_answer() {
    let s = TestServer::start(
        ServerConfig {
            latency: Duration::from_millis(150),
            ..ServerConfig::default()
        },
        generate(&GeneratorConfig::small()),
    )
    .unwrap();
    let began = Instant::now();
    assert_eq!(get(s.addr(), "/api/v2/authenticated").status, 200);
    assert!(began.elapsed() >= Duration::from_millis(150));
}
