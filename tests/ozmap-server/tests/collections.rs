//! A network's collections read and change like the `Vec<Value>`s they once
//! were (what mapsync's tests do inside `with_network`), and the server
//! follows every change.

mod common;

use common::get;
use ozmap_test_server::{
    GeneratorConfig, INVALID_MARKER, Network, ServerConfig, TestServer, generate,
};
use serde_json::{Value, json};

fn id(doc: &Value) -> String {
    doc["id"].as_str().unwrap_or_default().to_owned()
}

fn is_invalid(doc: &Value) -> bool {
    doc["observation"]
        .as_str()
        .is_some_and(|o| o.starts_with(INVALID_MARKER))
}

#[test]
fn collections_change_like_vectors_and_the_server_follows() {
    let s =
        TestServer::start(ServerConfig::default(), generate(&GeneratorConfig::small())).unwrap();
    let total =
        |route: &str| get(s.addr(), &format!("/api/v2/{route}?limit=1")).json()["total"].clone();

    let valid: Vec<Value> = s.with_network(|n: &mut Network| {
        n.collection("boxes")
            .iter()
            .filter(|d| !is_invalid(d))
            .cloned()
            .collect()
    });
    assert!(!valid.is_empty());

    let (pole, renamed, property) = s.with_network(|n| {
        let pole = n.collection_mut("poles").remove(0);
        let boxes = n.collection_mut("boxes");
        boxes[0]["name"] = Value::from("CTO renamed");
        let renamed = id(&boxes[0]);
        let properties = n.collection_mut("properties");
        let position = properties.iter().position(|p| !is_invalid(p)).unwrap();
        (id(&pole), renamed, properties.remove(position))
    });
    assert_eq!(get(s.addr(), &format!("/api/v2/poles/{pole}")).status, 404);
    assert_eq!(
        get(s.addr(), &format!("/api/v2/boxes/{renamed}")).json()["name"],
        "CTO renamed"
    );
    assert_eq!(
        get(s.addr(), &format!("/api/v2/properties/{}", id(&property))).status,
        404
    );

    let broken = s.with_network(|n| {
        let boxes = n.collection_mut("boxes");
        let b = boxes.iter_mut().find(|b| !is_invalid(b)).unwrap();
        b["lat"] = Value::from(95.0);
        id(b)
    });
    assert_eq!(
        get(s.addr(), &format!("/api/v2/boxes/{broken}")).json()["lat"],
        95.0
    );
    s.with_network(|n| n.find_mut("boxes", &broken).unwrap()["lat"] = Value::from(-27.5));
    assert_eq!(
        get(s.addr(), &format!("/api/v2/boxes/{broken}")).json()["lat"],
        -27.5
    );

    let gone = s.with_network(|n| {
        let all = n.collection_mut("poles");
        let keep = all.len() / 2;
        all.drain(keep..).filter(|p| !is_invalid(p)).count()
    });
    assert!(gone > 0);
    let left = s.with_network(|n| n.poles.len());
    assert_eq!(total("poles"), json!(left));
    s.with_network(|n| n.collection_mut("poles").truncate(3));
    assert_eq!(total("poles"), 3);

    let splitter = s.with_network(|n| id(&n.splitters[0]));
    s.with_network(|n| n.collection_mut("splitters").retain(|d| id(d) != splitter));
    assert_eq!(
        get(s.addr(), &format!("/api/v2/splitters/{splitter}")).status,
        404
    );

    s.with_network(|n| {
        let properties = n.collection_mut("properties");
        let mut taker = properties
            .iter()
            .find(|p| p["connections"][0]["id"].is_string())
            .unwrap()
            .clone();
        taker["id"] = Value::from("6a0000000000000000000001");
        taker["_id"] = taker["id"].clone();
        properties.push(taker);
    });
    assert_eq!(
        get(s.addr(), "/api/v2/properties/6a0000000000000000000001").status,
        200
    );

    let clients = s.with_network(|n| n.ftth_clients.len());
    s.with_network(|n| n.boxes.retain(|b| b["name"] != "CTO renamed"));
    assert_eq!(
        get(s.addr(), &format!("/api/v2/boxes/{renamed}")).status,
        404
    );
    s.with_network(|n| n.collection_mut("properties").clear());
    assert_eq!(total("properties"), 0);
    assert_eq!(total("ftth-clients"), json!(clients));
    let copy: Vec<Value> = s.with_network(|n| n.ftth_clients.to_vec());
    assert!(s.with_network(|n| n.ftth_clients == copy));
    for doc in s.with_network(|n| n.projects.clone()).iter() {
        assert!(doc["name"].is_string());
    }
}

#[test]
fn a_changed_stamp_is_later_than_any_set_by_hand() {
    let s =
        TestServer::start(ServerConfig::default(), generate(&GeneratorConfig::small())).unwrap();
    let p = s.with_network(|n| {
        n.poles[0]["updatedAt"] = json!("2199-01-01T00:00:00.000Z");
        id(&n.poles[1])
    });
    assert!(s.with_network(|n| ozmap_test_server::update_element(n, "poles", &p)));
    let stamp = get(s.addr(), &format!("/api/v2/poles/{p}")).json()["updatedAt"].clone();
    assert!(
        stamp.as_str().unwrap() > "2199-01-01T00:00:00.000Z",
        "{stamp}"
    );
}
