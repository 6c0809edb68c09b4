//! Starting and stopping the server from sync and async code.

mod common;

use std::net::TcpStream;

use common::get;
use ozmap_test_server::{GeneratorConfig, ServerConfig, TestServer, generate};

#[test]
fn shutdown_stops_listening() {
    let s =
        TestServer::start(ServerConfig::default(), generate(&GeneratorConfig::small())).unwrap();
    let addr = s.addr();
    assert_eq!(s.url(), format!("http://127.0.0.1:{}", addr.port()));
    assert_eq!(get(addr, "/api/v2/projects").status, 200);
    s.shutdown();
    assert!(TcpStream::connect(addr).is_err());
}

#[test]
fn start_on_a_given_address() {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = probe.local_addr().unwrap();
    drop(probe);
    let s = TestServer::start_on(
        addr,
        ServerConfig::default(),
        generate(&GeneratorConfig::small()),
    )
    .unwrap();
    assert_eq!(s.addr(), addr);
    assert!(TestServer::start_on(addr, ServerConfig::default(), Default::default()).is_err());
}

#[tokio::test]
async fn works_inside_an_async_runtime() {
    let s =
        TestServer::start(ServerConfig::default(), generate(&GeneratorConfig::small())).unwrap();
    let addr = s.addr();
    let status = tokio::task::spawn_blocking(move || get(addr, "/api/v2/boxes?limit=2").status)
        .await
        .unwrap();
    assert_eq!(status, 200);
    s.with_network(|n| n.boxes.clear());
    let total =
        tokio::task::spawn_blocking(move || get(addr, "/api/v2/boxes").json()["total"].clone())
            .await
            .unwrap();
    assert_eq!(total, 0);
    drop(s);
}
