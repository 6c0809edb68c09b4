//! The mutation switch: random and single-step changes keep the network
//! consistent and stamp every changed document.

mod common;

use std::collections::{HashMap, HashSet};

use common::{KEY, enc, get, send};
use ozmap_test_server::{
    GeneratorConfig, INVALID_MARKER, Mutation, Network, ROUTES, ServerConfig, TestServer,
    block_port, change_client_code, create_box_with_splitter, create_property_with_client,
    delete_element, generate, move_property, move_property_to, mutate, update_element,
};
use serde_json::{Value, json};

fn id(doc: &Value) -> &str {
    doc["id"].as_str().unwrap_or_default()
}

fn is_invalid(doc: &Value) -> bool {
    doc.get("id").is_none()
        || doc["observation"]
            .as_str()
            .is_some_and(|o| o.starts_with(INVALID_MARKER))
}

/// Every referential rule the generator promises, as a list of breaches.
fn problems(n: &Network) -> Vec<String> {
    let mut out = Vec::new();
    for route in ROUTES {
        let mut seen = HashSet::new();
        for doc in n.collection(route).iter().filter(|d| d.get("id").is_some()) {
            if !seen.insert(id(doc).to_owned()) {
                out.push(format!("{route}: id {} twice", id(doc)));
            }
        }
    }
    let by_id = |route: &str| -> HashMap<String, Value> {
        n.collection(route)
            .iter()
            .filter(|d| d.get("id").is_some())
            .map(|d| (id(d).to_owned(), d.clone()))
            .collect()
    };
    let (splitters, boxes, clients, poles) = (
        by_id("splitters"),
        by_id("boxes"),
        by_id("ftth-clients"),
        by_id("poles"),
    );
    let properties = by_id("properties");
    let mut taken = HashSet::new();
    let mut held = HashSet::new();
    for p in n.properties.iter().filter(|p| !is_invalid(p)) {
        if let Some(b) = p["box"].as_str()
            && !boxes.contains_key(b)
        {
            out.push(format!("property {} in missing box {b}", id(p)));
        }
        if let Some(c) = p["client"].as_str() {
            if !clients.contains_key(c) {
                out.push(format!("property {} holds missing client {c}", id(p)));
            }
            if !held.insert(c.to_owned()) {
                out.push(format!("client {c} in two properties"));
            }
        }
        for c in p["connections"].as_array().unwrap() {
            let (sid, port) = (c["id"].as_str().unwrap(), c["port"].as_u64().unwrap());
            let Some(s) = splitters.get(sid) else {
                out.push(format!("property {} on missing splitter {sid}", id(p)));
                continue;
            };
            if !taken.insert((sid.to_owned(), port)) {
                out.push(format!("two properties on {sid} port {port}"));
            }
            let i = port as usize - 1;
            if s["isDrop"] != json!(true)
                || port == 0
                || port > s["ratio"]["output"].as_u64().unwrap()
            {
                out.push(format!("property {} on a bad port {port} of {sid}", id(p)));
            }
            if s["ports"][i]["blocked"] == json!(true) {
                out.push(format!(
                    "property {} on blocked port {port} of {sid}",
                    id(p)
                ));
            }
            if s["connectables"]["output"][i] != p["id"] {
                out.push(format!(
                    "{sid} output {port} does not name property {}",
                    id(p)
                ));
            }
            if s["parent"] != p["box"] {
                out.push(format!("property {} not in its splitter's box", id(p)));
            }
        }
    }
    for s in n.splitters.iter().filter(|s| !is_invalid(s)) {
        if !boxes.contains_key(s["parent"].as_str().unwrap()) {
            out.push(format!("splitter {} in missing box", id(s)));
        }
        for (i, slot) in s["connectables"]["output"]
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
        {
            let Some(held) = slot.as_str() else { continue };
            let ok = properties.get(held).is_some_and(|p| {
                p["connections"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|c| c["id"] == s["id"] && c["port"].as_u64() == Some(i as u64 + 1))
            }) || splitters
                .get(held)
                .is_some_and(|fed| fed["connectables"]["input"][0] == s["id"]);
            if !ok {
                out.push(format!(
                    "splitter {} output {} names {held}, which is not there",
                    id(s),
                    i + 1
                ));
            }
        }
    }
    for b in n.boxes.iter().filter(|b| !is_invalid(b)) {
        if !poles.contains_key(b["pole"].as_str().unwrap()) {
            out.push(format!("box {} on missing pole", id(b)));
        }
    }
    for c in &n.ftth_clients {
        if !c["code"].is_string() {
            out.push(format!("client {} without code", id(c)));
        }
    }
    out
}

fn latest(n: &Network) -> String {
    ROUTES
        .iter()
        .flat_map(|r| n.collection(r).iter())
        .filter_map(|d| d["updatedAt"].as_str())
        .max()
        .unwrap()
        .to_owned()
}

fn newer_than(n: &Network, stamp: &str) -> usize {
    ROUTES
        .iter()
        .flat_map(|r| n.collection(r).iter())
        .filter(|d| d["updatedAt"].as_str().is_some_and(|u| u > stamp))
        .count()
}

/// A network's documents without what depends on the clock: stamps, and the
/// time part of ids.
fn timeless(n: &Network) -> Vec<Value> {
    fn strip(v: &Value) -> Value {
        match v {
            Value::String(s) if s.len() == 24 && s.chars().all(|c| c.is_ascii_hexdigit()) => {
                json!(&s[8..])
            }
            Value::String(s) if s.starts_with("20") && s.contains('T') => json!("<stamp>"),
            Value::Array(items) => Value::Array(items.iter().map(strip).collect()),
            Value::Object(map) => map.iter().map(|(k, v)| (k.clone(), strip(v))).collect(),
            other => other.clone(),
        }
    }
    ROUTES
        .iter()
        .flat_map(|r| n.collection(r).iter().map(strip))
        .collect()
}

#[test]
fn mutate_changes_its_share_consistently_and_stamps_what_it_changes() {
    let base = generate(&GeneratorConfig::scaled(6_000));
    assert_eq!(problems(&base), Vec::<String>::new());
    let before = latest(&base);
    let total = base.total_elements();

    let mut a = base.clone();
    let summary = mutate(
        &mut a,
        &Mutation {
            fraction: 0.1,
            seed: 7,
        },
    );
    println!("{summary:?}");
    assert_eq!(
        summary.changes,
        (total as f64 * 0.1).round() as usize,
        "{summary:?}"
    );
    assert_eq!(problems(&a), Vec::<String>::new(), "{summary:?}");
    for (kind, count) in [
        ("updated", summary.updated),
        ("boxes_created", summary.boxes_created),
        ("properties_created", summary.properties_created),
        ("properties_deleted", summary.properties_deleted),
        ("clients_deleted", summary.clients_deleted),
        ("boxes_deleted", summary.boxes_deleted),
        ("properties_moved", summary.properties_moved),
        ("codes_changed", summary.codes_changed),
        ("ports_blocked", summary.ports_blocked),
    ] {
        assert!(count > 0, "no {kind}: {summary:?}");
    }
    assert_eq!(summary.splitters_created, summary.boxes_created);
    assert!(summary.splitters_deleted >= summary.boxes_deleted);
    assert_eq!(summary.clients_created, summary.properties_created);
    // Every changed or new document, and only those, is newer than anything before.
    assert_eq!(
        newer_than(&a, &before),
        summary.records_touched,
        "{summary:?}"
    );
    assert!(
        summary.records_touched
            >= summary.changes
                - summary.properties_deleted
                - summary.clients_deleted
                - summary.boxes_deleted
    );
    let expected_len =
        |route: &str, added: usize, gone: usize| base.collection(route).len() + added - gone;
    assert_eq!(
        a.boxes.len(),
        expected_len("boxes", summary.boxes_created, summary.boxes_deleted)
    );
    assert_eq!(
        a.properties.len(),
        expected_len(
            "properties",
            summary.properties_created,
            summary.properties_deleted
        )
    );
    assert_eq!(
        a.ftth_clients.len(),
        expected_len(
            "ftth-clients",
            summary.clients_created,
            summary.clients_deleted
        )
    );
    // Invalid records are left as they were.
    let invalid = |n: &Network| -> Vec<Value> {
        ROUTES
            .iter()
            .flat_map(|r| n.collection(r).iter().filter(|d| is_invalid(d)).cloned())
            .collect()
    };
    assert_eq!(invalid(&a), invalid(&base));

    // The same seed makes the same changes; another seed others.
    let mut b = base.clone();
    assert_eq!(
        mutate(
            &mut b,
            &Mutation {
                fraction: 0.1,
                seed: 7
            }
        ),
        summary
    );
    assert_eq!(timeless(&a), timeless(&b));
    let mut c = base.clone();
    mutate(
        &mut c,
        &Mutation {
            fraction: 0.1,
            seed: 8,
        },
    );
    assert_ne!(timeless(&a), timeless(&c));

    // Again on the changed network: still consistent, stamps still rising.
    let second = latest(&a);
    let again = mutate(
        &mut a,
        &Mutation {
            fraction: 0.05,
            seed: 9,
        },
    );
    assert_eq!(problems(&a), Vec::<String>::new());
    assert_eq!(newer_than(&a, &second), again.records_touched);
    assert_eq!(
        mutate(
            &mut a,
            &Mutation {
                fraction: 0.0,
                seed: 1
            }
        )
        .changes,
        0
    );
}

/// A service splitter with a free port, and its project and box.
fn open_port(n: &Network) -> (String, u64) {
    for s in n
        .splitters
        .iter()
        .filter(|s| !is_invalid(s) && s["isDrop"] == json!(true))
    {
        for (i, slot) in s["connectables"]["output"]
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
        {
            if slot.is_null() && s["ports"][i]["blocked"] == json!(false) {
                return (id(s).to_owned(), i as u64 + 1);
            }
        }
    }
    panic!("no open port");
}

#[test]
fn single_steps_keep_the_network_consistent() {
    let mut n = generate(&GeneratorConfig::small());
    let stamp_of = |n: &Network, route: &str, key: &str| {
        n.find(route, key).unwrap()["updatedAt"]
            .as_str()
            .unwrap()
            .to_owned()
    };

    // Updates.
    let pole = id(&n.poles[1]).to_owned();
    let before = latest(&n);
    assert!(update_element(&mut n, "poles", &pole));
    assert!(
        n.find("poles", &pole).unwrap()["name"]
            .as_str()
            .unwrap()
            .ends_with("(rev 1)")
    );
    assert!(stamp_of(&n, "poles", &pole) > before);
    assert!(update_element(&mut n, "poles", &pole));
    assert!(
        n.find("poles", &pole).unwrap()["name"]
            .as_str()
            .unwrap()
            .ends_with("(rev 2)")
    );
    assert!(!update_element(&mut n, "poles", "000000000000000000000000"));

    // A property with a new client on a free port, then moved, then deleted.
    let (splitter, port) = open_port(&n);
    let (property, client) =
        create_property_with_client(&mut n, &splitter, port, "SVC-990001").unwrap();
    assert_eq!(problems(&n), Vec::<String>::new());
    assert_eq!(
        n.find("ftth-clients", &client).unwrap()["code"],
        "SVC-990001"
    );
    assert_eq!(
        n.find("splitters", &splitter).unwrap()["connectables"]["output"][port as usize - 1],
        json!(property)
    );
    let taken = create_property_with_client(&mut n, &splitter, port, "SVC-990002").unwrap_err();
    assert!(taken.contains("taken"), "{taken}");

    let before = latest(&n);
    assert!(move_property(&mut n, &property));
    assert_eq!(problems(&n), Vec::<String>::new());
    let moved = n.find("properties", &property).unwrap().clone();
    assert_ne!(
        (
            moved["connections"][0]["id"].clone(),
            moved["connections"][0]["port"].clone()
        ),
        (json!(splitter), json!(port))
    );
    assert!(moved["updatedAt"].as_str().unwrap() > before.as_str());
    assert!(
        stamp_of(&n, "splitters", &splitter) > before,
        "the freed splitter is stamped"
    );
    assert!(
        n.find("splitters", &splitter).unwrap()["connectables"]["output"][port as usize - 1]
            .is_null()
    );
    move_property_to(&mut n, &property, &splitter, port).unwrap();
    assert_eq!(problems(&n), Vec::<String>::new());
    assert_eq!(
        n.find("properties", &property).unwrap()["connections"][0]["port"],
        json!(port)
    );
    let refused = move_property_to(&mut n, &property, &splitter, 999).unwrap_err();
    assert!(refused.contains("out of range"), "{refused}");

    // A client's code, a blocked port.
    let before = latest(&n);
    assert!(change_client_code(&mut n, &client, "SVC-990009"));
    assert_eq!(
        n.find("ftth-clients", &client).unwrap()["code"],
        "SVC-990009"
    );
    assert!(stamp_of(&n, "ftth-clients", &client) > before);
    let (free_splitter, free_port) = open_port(&n);
    assert!(block_port(&mut n, &free_splitter, free_port));
    assert!(
        !block_port(&mut n, &free_splitter, free_port),
        "already blocked"
    );
    assert!(!block_port(&mut n, &splitter, port), "taken");
    assert_eq!(
        n.find("splitters", &free_splitter).unwrap()["ports"][free_port as usize - 1]["blocked"],
        json!(true)
    );
    assert!(create_property_with_client(&mut n, &free_splitter, free_port, "SVC-990003").is_err());

    // Deleting the client leaves its property without one, stamped.
    let before = latest(&n);
    assert!(delete_element(&mut n, "ftth-clients", &client));
    let left = n.find("properties", &property).unwrap();
    assert!(left["client"].is_null());
    assert!(left["history"]["clients"][0]["exit_date"].is_string());
    assert!(left["updatedAt"].as_str().unwrap() > before.as_str());
    assert!(n.find("ftth-clients", &client).is_none());
    // Deleting the property frees its port.
    assert!(delete_element(&mut n, "properties", &property));
    assert!(
        n.find("splitters", &splitter).unwrap()["connectables"]["output"][port as usize - 1]
            .is_null()
    );
    assert_eq!(problems(&n), Vec::<String>::new());

    // A new box with a splitter; deleting a box takes its splitters and properties.
    let (project, pole) = (
        id(&n.projects[0]).to_owned(),
        n.boxes[0]["pole"].as_str().unwrap().to_owned(),
    );
    let (new_box, new_splitter) = create_box_with_splitter(&mut n, &project, &pole).unwrap();
    assert_eq!(
        n.find("splitters", &new_splitter).unwrap()["parent"],
        json!(new_box)
    );
    assert_eq!(
        n.find("boxes", &new_box).unwrap()["underground"],
        json!(false)
    );
    create_property_with_client(&mut n, &new_splitter, 2, "SVC-990004").unwrap();
    assert!(!delete_element(&mut n, "poles", &pole), "a box hangs on it");
    let properties = n.properties.len();
    assert!(delete_element(&mut n, "boxes", &new_box));
    assert!(n.find("splitters", &new_splitter).is_none());
    assert_eq!(n.properties.len(), properties - 1);
    assert_eq!(problems(&n), Vec::<String>::new());

    // A splitter leaves its properties without connection.
    let busy = n
        .splitters
        .iter()
        .find(|s| {
            !is_invalid(s)
                && s["connectables"]["output"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(Value::is_string)
        })
        .map(|s| id(s).to_owned())
        .unwrap();
    assert!(delete_element(&mut n, "splitters", &busy));
    assert!(n.properties.iter().all(|p| {
        p["connections"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["id"] != json!(busy))
    }));
    assert_eq!(problems(&n), Vec::<String>::new());
    assert!(!delete_element(&mut n, "projects", &project));
}

#[test]
fn mutate_over_http_drops_the_caches() {
    let s =
        TestServer::start(ServerConfig::default(), generate(&GeneratorConfig::small())).unwrap();
    let before = s.with_network(|n| latest(n));
    let filter = json!([{"property": "updatedAt", "operator": ">", "value": before}]).to_string();
    let recent = format!("/api/v2/properties?filter={}", enc(&filter));
    assert_eq!(get(s.addr(), &recent).json()["total"], 0);

    let r = send(
        s.addr(),
        "POST",
        "/__test/mutate?fraction=0.2&seed=3",
        Some(KEY),
        None,
    )
    .unwrap();
    assert_eq!(r.status, 200);
    let summary = r.json();
    let total = s.with_network(|n| n.total_elements());
    assert!(summary["changes"].as_u64().unwrap() > 0, "{summary}");
    assert!(
        summary["records_touched"].as_u64().unwrap() > 0,
        "{summary}"
    );
    let changed = get(s.addr(), &recent).json()["total"].as_u64().unwrap();
    assert!(changed > 0, "the cached empty answer was dropped");
    assert_eq!(s.with_network(|n| problems(n)), Vec::<String>::new());
    assert!(total > 0);

    let refused = send(s.addr(), "POST", "/__test/mutate", Some("nope"), None).unwrap();
    assert_eq!(refused.status, 401);
    let bad = send(
        s.addr(),
        "POST",
        "/__test/mutate?fraction=2",
        Some(KEY),
        None,
    )
    .unwrap();
    assert_eq!(bad.status, 400);
    assert_eq!(
        send(s.addr(), "GET", "/__test/mutate", Some(KEY), None)
            .unwrap()
            .status,
        404
    );
}
