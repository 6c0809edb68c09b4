//! What a sync stores, compared with what the platform holds.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::Value;

use crate::common::{Bench, counts, id, valid_docs};

fn by_id(elements: Vec<Value>) -> BTreeMap<String, Value> {
    elements.into_iter().map(|e| (id(&e), e)).collect()
}

fn reference(doc: &Value, key: &str) -> Value {
    match &doc[key] {
        Value::Object(_) => doc[key]["id"].clone(),
        Value::String(s) if s.is_empty() => Value::Null,
        other => other.clone(),
    }
}

/// lat/lng from `coords: [lng, lat]`.
fn lat_lng(doc: &Value) -> (Value, Value) {
    (doc["coords"][1].clone(), doc["coords"][0].clone())
}

fn code(client: &Value) -> Value {
    match client["code"].as_str().map(str::trim) {
        Some(code) if !code.is_empty() => Value::from(code),
        _ => Value::Null,
    }
}

#[test]
fn a_full_sync_stores_what_the_platform_holds_element_by_element() {
    let bench = Bench::new();
    bench.add_integration("full", None);
    let report = bench.sync_ok("full");

    let projects = by_id(bench.elements("full", "project"));
    let platform = valid_docs(&bench, "projects");
    assert_eq!(projects.len(), platform.len());
    for doc in &platform {
        assert_eq!(projects[&id(doc)]["name"], doc["name"]);
    }

    let poles = by_id(bench.elements("full", "pole"));
    let platform = valid_docs(&bench, "poles");
    assert_eq!(
        poles.keys().cloned().collect::<BTreeSet<_>>(),
        platform.iter().map(id).collect()
    );
    for doc in &platform {
        let pole = &poles[&id(doc)];
        assert_eq!((pole["lat"].clone(), pole["lng"].clone()), lat_lng(doc));
        assert_eq!(pole["kind"], "pole");
    }

    let boxes = by_id(bench.elements("full", "box"));
    let platform = valid_docs(&bench, "boxes");
    assert_eq!(
        boxes.keys().cloned().collect::<BTreeSet<_>>(),
        platform.iter().map(id).collect()
    );
    for doc in &platform {
        let stored = &boxes[&id(doc)];
        assert_eq!(stored["name"], doc["name"]);
        assert_eq!(stored["project"], reference(doc, "project"));
        assert_eq!(stored["pole"], reference(doc, "pole"));
        assert_eq!((stored["lat"].clone(), stored["lng"].clone()), lat_lng(doc));
        assert_eq!(stored["hierarchy_level"], doc["hierarchyLevel"]);
        assert_eq!(stored["implanted"], doc["implanted"]);
    }

    let clients = by_id(bench.elements("full", "client"));
    let platform = valid_docs(&bench, "ftth-clients");
    assert_eq!(clients.len(), platform.len());
    for doc in &platform {
        let stored = &clients[&id(doc)];
        assert_eq!(stored["code"], code(doc), "{doc}");
        assert_eq!(stored["name"], doc["name"]);
    }
    assert!(
        clients.values().any(|c| c["code"].is_null()),
        "the generator makes clients without code"
    );

    let properties = by_id(bench.elements("full", "property"));
    let platform = valid_docs(&bench, "properties");
    assert_eq!(properties.len(), platform.len());
    let client_code: HashMap<String, Value> = valid_docs(&bench, "ftth-clients")
        .iter()
        .map(|c| (id(c), code(c)))
        .collect();
    for doc in &platform {
        let stored = &properties[&id(doc)];
        assert_eq!(stored["project"], reference(doc, "project"));
        assert_eq!(stored["box"], reference(doc, "box"));
        let connection = &doc["connections"][0];
        assert_eq!(stored["splitter"], connection["id"]);
        assert_eq!(stored["port"], connection["port"]);
        let expected = doc["client"]
            .as_str()
            .and_then(|c| client_code.get(c))
            .cloned()
            .unwrap_or(Value::Null);
        assert_eq!(stored["client_code"], expected);
    }

    let splitters = by_id(bench.elements("full", "splitter"));
    let platform = valid_docs(&bench, "splitters");
    assert_eq!(
        splitters.keys().cloned().collect::<BTreeSet<_>>(),
        platform.iter().map(id).collect()
    );
    for doc in &platform {
        let stored = &splitters[&id(doc)];
        assert_eq!(stored["box"], reference(doc, "parent"));
        assert_eq!(stored["project"], reference(doc, "project"));
        assert_eq!(
            stored["service"], doc["isDrop"],
            "service = allows client connection"
        );
        assert_eq!(
            stored["ports"].as_array().unwrap().len() as u64,
            doc["ratio"]["output"].as_u64().unwrap()
        );
    }
    assert!(
        splitters.values().any(|s| s["service"] == true)
            && splitters.values().any(|s| s["service"] == false)
    );

    // The report counts what was created and every invalid record, by id.
    for (kind, route) in [
        ("pole", "poles"),
        ("box", "boxes"),
        ("splitter", "splitters"),
        ("property", "properties"),
    ] {
        let (created, _, _, removed, _) = counts(&report, kind);
        assert_eq!(created as usize, valid_docs(&bench, route).len(), "{kind}");
        assert_eq!(removed, 0);
    }
    let invalid = report["invalid"].as_array().unwrap();
    let total_invalid: u64 = ["project", "pole", "box", "splitter", "client", "property"]
        .iter()
        .map(|k| counts(&report, k).4)
        .sum();
    assert_eq!(total_invalid as usize, invalid.len());
    assert!(!invalid.is_empty());
    for record in invalid {
        assert!(record["reason"].as_str().is_some_and(|r| !r.is_empty()));
    }
    assert!(
        invalid
            .iter()
            .any(|r| r["kind"] == "splitter" && r["reason"].as_str().unwrap().contains("box"))
    );
    assert!(invalid.iter().any(|r| {
        r["reason"]
            .as_str()
            .unwrap()
            .contains("coordinates out of range")
    }));
    assert!(
        invalid
            .iter()
            .any(|r| r["id"].is_null() && r["reason"].as_str().unwrap().contains("no id"))
    );
}

#[test]
fn port_states_follow_properties_and_blocked_flags() {
    let bench = Bench::new();
    bench.add_integration("ports", None);
    bench.sync_ok("ports");
    let properties = valid_docs(&bench, "properties");
    let takers: HashMap<(String, u64), &Value> = properties
        .iter()
        .map(|p| {
            (
                (
                    p["connections"][0]["id"].as_str().unwrap().to_string(),
                    p["connections"][0]["port"].as_u64().unwrap(),
                ),
                p,
            )
        })
        .collect();
    let platform: HashMap<String, Value> = valid_docs(&bench, "splitters")
        .into_iter()
        .map(|s| (id(&s), s))
        .collect();
    let mut seen = BTreeSet::new();
    for splitter in bench.elements("ports", "splitter") {
        let doc = &platform[&id(&splitter)];
        for port in splitter["ports"].as_array().unwrap() {
            let n = port["port"].as_u64().unwrap();
            let state = port["state"].as_str().unwrap();
            seen.insert(state.to_string());
            match takers.get(&(id(&splitter), n)) {
                Some(property) => {
                    assert_eq!(state, "taken");
                    assert_eq!(port["property"], property["id"]);
                    if property["client"].is_null() {
                        assert!(port["client_code"].is_null());
                        seen.insert("taken without client".into());
                    }
                }
                None if doc["ports"][(n - 1) as usize]["blocked"] == true => {
                    assert_eq!(state, "blocked")
                }
                None => {
                    assert_eq!(state, "free");
                    assert!(port["property"].is_null() && port["client_code"].is_null());
                }
            }
        }
    }
    for state in ["free", "taken", "blocked", "taken without client"] {
        assert!(
            seen.contains(state),
            "the generated network should show a {state} port"
        );
    }
}

#[test]
fn project_name_selects_one_project_exactly_but_every_pole() {
    let bench = Bench::new();
    let (wanted, near_miss) = ("centro norte", "Centro Norte");
    bench.add_integration("one", Some(wanted));
    bench.sync_ok("one");
    let project_id = bench.server.with_network(|n| {
        let matching: Vec<_> = n
            .collection("projects")
            .iter()
            .filter(|p| p["name"] == wanted)
            .collect();
        assert_eq!(matching.len(), 1);
        assert!(
            n.collection("projects")
                .iter()
                .any(|p| p["name"] == near_miss)
        );
        id(matching[0])
    });
    let projects = bench.elements("one", "project");
    assert_eq!(projects.len(), 1);
    assert_eq!(projects[0]["name"], wanted);

    let expected_boxes: BTreeSet<String> = valid_docs(&bench, "boxes")
        .iter()
        .filter(|b| reference(b, "project") == project_id.as_str())
        .map(id)
        .collect();
    let boxes: BTreeSet<String> = bench.elements("one", "box").iter().map(id).collect();
    assert!(!boxes.is_empty());
    assert_eq!(boxes, expected_boxes);
    assert!(
        bench
            .elements("one", "splitter")
            .iter()
            .all(|s| s["project"] == project_id.as_str())
    );
    let properties = bench.elements("one", "property");
    assert!(
        !properties.is_empty()
            && properties
                .iter()
                .all(|p| p["project"] == project_id.as_str())
    );

    // Poles belong to every project.
    let poles: BTreeSet<String> = bench.elements("one", "pole").iter().map(id).collect();
    assert_eq!(poles, valid_docs(&bench, "poles").iter().map(id).collect());

    // Clients: exactly those the project's properties hold.
    let held: BTreeSet<String> = properties
        .iter()
        .filter_map(|p| p["client"].as_str().map(str::to_string))
        .collect();
    let clients: BTreeSet<String> = bench.elements("one", "client").iter().map(id).collect();
    assert_eq!(clients, held);
    assert!(clients.len() < valid_docs(&bench, "ftth-clients").len());

    // Other projects' boxes were never even asked for with this project's filter missing.
    assert!(
        bench
            .server
            .requests()
            .iter()
            .filter(|r| r.path.ends_with("/boxes"))
            .all(|r| r.query.contains("filter"))
    );
}

#[test]
fn a_second_sync_of_unchanged_data_changes_nothing() {
    let bench = Bench::new();
    bench.add_integration("again", None);
    let first = bench.sync_ok("again");
    let stamp = |bench: &Bench| bench.sql_row("SELECT max(updated_at), count(*) FROM elements");
    let before = stamp(&bench);
    // The second reads only what changed since the first: nothing.
    let second = bench.sync_ok("again");
    assert_eq!(second["full_reason"], Value::Null, "{second:#}");
    assert_eq!(first["full_reason"], "first run", "{first:#}");
    for kind in ["project", "pole", "box", "splitter", "client", "property"] {
        let (created, updated, unchanged, removed, _) = counts(&second, kind);
        assert_eq!((created, updated, removed), (0, 0, 0), "{kind}");
        assert!(unchanged <= counts(&first, kind).0, "{kind}");
    }
    assert_eq!(stamp(&bench), before, "an unchanged sync writes no element");
    // A full one reads everything, and finds it unchanged.
    let (full, ok) = bench.sync("again", &["--full"]);
    assert!(ok, "{full:#}");
    assert_eq!(full["full_reason"], "a full sync was asked for");
    for kind in ["project", "pole", "box", "splitter", "client", "property"] {
        let (created, updated, unchanged, removed, _) = counts(&full, kind);
        assert_eq!((created, updated, removed), (0, 0, 0), "{kind}");
        assert_eq!(unchanged, counts(&first, kind).0, "{kind}");
    }
    assert_eq!(stamp(&bench), before, "an unchanged sync writes no element");
}

#[test]
fn changes_and_removals_are_applied_after_a_complete_listing() {
    let bench = Bench::new();
    bench.add_integration("changes", None);
    bench.sync_ok("changes");
    let (pole, renamed_box, property) = bench.server.with_network(|n| {
        let pole = n.collection_mut("poles").remove(0);
        let boxes = n.collection_mut("boxes");
        boxes[0]["name"] = Value::from("CTO renamed");
        crate::common::touch(&mut boxes[0]);
        let renamed = id(&boxes[0]);
        let properties = n.collection_mut("properties");
        let position = properties
            .iter()
            .position(|p| !crate::common::is_invalid(p))
            .unwrap();
        (id(&pole), renamed, properties.remove(position))
    });
    let report = bench.sync_ok("changes");
    assert_eq!(counts(&report, "pole").3, 1);
    assert_eq!(counts(&report, "property").3, 1);
    assert_eq!(counts(&report, "box").1, 1);
    assert!(
        bench
            .elements("changes", "pole")
            .iter()
            .all(|p| id(p) != pole)
    );
    let boxes = by_id(bench.elements("changes", "box"));
    assert_eq!(boxes[&renamed_box]["name"], "CTO renamed");
    // The port the removed property took is free again.
    let (splitter, port) = (
        property["connections"][0]["id"].as_str().unwrap(),
        property["connections"][0]["port"].as_u64().unwrap(),
    );
    let splitters = by_id(bench.elements("changes", "splitter"));
    let state = &splitters[splitter]["ports"][(port - 1) as usize];
    assert_eq!(state["port"], port);
    assert_ne!(state["state"], "taken");
}

/// `mapsync elements ... | head`: the reader is gone before the output is
/// written. The command ends as other Unix tools do, without a panic.
#[test]
fn a_reader_that_stops_early_ends_the_listing_quietly() {
    use std::os::unix::process::ExitStatusExt;
    use std::process::Stdio;

    let bench = Bench::new();
    bench.add_integration("pipe", None);
    bench.sync_ok("pipe");
    for args in [
        &[
            "elements",
            "--integration",
            "pipe",
            "--kind",
            "splitter",
            "--json",
        ][..],
        &["elements", "--integration", "pipe", "--kind", "property"],
        &["integration", "list", "--json"],
    ] {
        let mut child = bench
            .command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let output = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_ne!(output.status.code(), Some(101), "{args:?}: {stderr}");
        assert!(
            output.status.success() || output.status.signal() == Some(13),
            "{args:?} ended with {}: {stderr}",
            output.status
        );
    }
}
