//! The generated network's guarantees.

use std::collections::{HashMap, HashSet};

use ozmap_test_server::{GeneratorConfig, INVALID_MARKER, PROJECT_NAMES, ROUTES, generate};
use serde_json::{Value, json};

fn is_invalid(doc: &Value) -> bool {
    doc["observation"]
        .as_str()
        .is_some_and(|o| o.starts_with(INVALID_MARKER))
}

fn id(doc: &Value) -> &str {
    doc["id"].as_str().unwrap_or_default()
}

#[test]
fn same_seed_same_network() {
    let a = generate(&GeneratorConfig::small());
    let b = generate(&GeneratorConfig::small());
    for route in ROUTES {
        assert_eq!(a.collection(route), b.collection(route), "{route}");
    }
    let c = generate(&GeneratorConfig {
        seed: 7,
        ..GeneratorConfig::small()
    });
    assert_ne!(a.collection("boxes"), c.collection("boxes"));
}

#[test]
fn small_network_is_a_few_hundred_realistic_elements() {
    let n = generate(&GeneratorConfig::small());
    let total = n.total_elements();
    assert!((200..800).contains(&total), "{total}");
    let names: Vec<&str> = n
        .projects
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, PROJECT_NAMES[..3]);

    for route in ROUTES {
        for doc in n.collection(route) {
            if let Some(i) = doc.get("id") {
                let i = i.as_str().unwrap();
                assert!(
                    i.len() == 24 && i.chars().all(|c| c.is_ascii_hexdigit()),
                    "{i}"
                );
                assert_eq!(doc["_id"], doc["id"]);
                assert!(doc["createdAt"].as_str().unwrap().ends_with('Z'));
            }
        }
    }
    assert!(
        n.poles
            .iter()
            .all(|p| p.get("project").is_none() && p["kind"] == "Pole")
    );
    assert!(
        n.ftth_clients
            .iter()
            .all(|c| c.get("project").is_none() && c["kind"] == "ftth")
    );

    // Some pole carries boxes of two projects.
    let mut projects_by_pole: HashMap<&str, HashSet<&str>> = HashMap::new();
    for b in &n.boxes {
        projects_by_pole
            .entry(b["pole"].as_str().unwrap())
            .or_default()
            .insert(b["project"].as_str().unwrap());
    }
    assert!(projects_by_pole.values().any(|p| p.len() > 1));

    // One service splitter per valid box.
    let valid_boxes: Vec<&Value> = n.boxes.iter().filter(|b| !is_invalid(b)).collect();
    for b in &valid_boxes {
        let service = n
            .splitters
            .iter()
            .filter(|s| s["parent"] == b["id"] && s["isDrop"] == json!(true))
            .count();
        assert_eq!(service, 1);
    }
    assert!(n.splitters.iter().any(|s| s["isDrop"] == json!(false)));

    // Ports: never two properties on one, connectables agree, blocked ones empty.
    let mut taken = HashSet::new();
    for p in &n.properties {
        for c in p["connections"].as_array().unwrap() {
            let key = (c["id"].as_str().unwrap(), c["port"].as_u64().unwrap());
            assert!(taken.insert(key), "two properties on {key:?}");
            let sp = n.find("splitters", key.0).unwrap();
            assert_eq!(sp["isDrop"], json!(true));
            assert_eq!(sp["connectables"]["output"][key.1 as usize - 1], p["id"]);
            assert_eq!(sp["ports"][key.1 as usize - 1]["blocked"], json!(false));
            assert_eq!(sp["parent"], p["box"]);
        }
    }
    assert!(
        n.properties
            .iter()
            .any(|p| p["client"].is_null() && !is_invalid(p))
    );

    let held: HashSet<&str> = n
        .properties
        .iter()
        .filter_map(|p| p["client"].as_str())
        .collect();
    let codes = |f: fn(&Value) -> bool| n.ftth_clients.iter().filter(|c| f(c)).count();
    assert!(codes(|c| c["code"].as_str().is_some_and(|c| c.starts_with("SVC-"))) > 50);
    assert!(codes(|c| c["code"] == json!("")) > 0);
    assert_eq!(
        codes(|c| !c["code"].is_string()),
        0,
        "every client has a code, empty when it has none (the SDK's schema requires it)"
    );
    assert!(n.boxes.iter().all(|b| b["underground"] == json!(false)));
    assert!(
        n.ftth_clients
            .iter()
            .any(|c| c.get("id").is_some() && !held.contains(id(c)))
    );
    for cid in &held {
        assert!(n.find("ftth-clients", cid).is_some());
    }
    assert!(!n.cables.is_empty());
}

#[test]
fn invalid_records_are_injected_and_marked() {
    let n = generate(&GeneratorConfig::small());
    let invalid: Vec<(&str, &Value)> = ROUTES
        .iter()
        .flat_map(|r| n.collection(r).iter().map(move |d| (*r, d)))
        .filter(|(_, d)| is_invalid(d))
        .collect();
    assert_eq!(invalid.len(), 6);
    let out_of_range = |d: &Value| {
        let c = d["coords"].as_array().unwrap();
        !(-180.0..=180.0).contains(&c[0].as_f64().unwrap())
            || !(-90.0..=90.0).contains(&c[1].as_f64().unwrap())
    };
    let kinds: Vec<(&str, bool, bool)> = invalid
        .iter()
        .map(|(r, d)| {
            (
                *r,
                d.get("id").is_none(),
                d.get("coords").is_some_and(|_| out_of_range(d)),
            )
        })
        .collect();
    assert!(kinds.contains(&("poles", false, true)));
    assert!(kinds.contains(&("boxes", true, false)));
    assert!(kinds.contains(&("boxes", false, true)));
    assert!(kinds.contains(&("ftth-clients", true, false)));
    assert!(kinds.contains(&("properties", false, true)));
    let orphan = invalid.iter().find(|(r, _)| *r == "splitters").unwrap().1;
    assert!(
        n.find("boxes", orphan["parent"].as_str().unwrap())
            .is_none()
    );
}

#[test]
fn scaled_hits_its_target() {
    for target in [5_000, 40_000] {
        let n = generate(&GeneratorConfig::scaled(target));
        let got = n.total_elements() as f64;
        assert!((got / target as f64 - 1.0).abs() < 0.2, "{target}: {got}");
    }
}
