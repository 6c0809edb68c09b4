//! Identification and matching through the component: consistent as soon
//! as either side changes, and a review whose decisions stick.

use serde_json::Value;

use crate::common::{Bench, id, valid_docs};

fn write(bench: &Bench, name: &str, text: &str) -> String {
    let path = bench.dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn json(bench: &Bench, args: &[&str]) -> Value {
    serde_json::from_str(&bench.ok(args)).unwrap()
}

/// Platform clients without a code whose property takes a port, with that
/// property.
fn uncoded_on_a_port(bench: &Bench) -> Vec<(Value, Value)> {
    let properties = valid_docs(bench, "properties");
    valid_docs(bench, "ftth-clients")
        .into_iter()
        .filter(|c| c["code"].as_str().unwrap_or_default().is_empty())
        .filter_map(|c| {
            let property = properties
                .iter()
                .find(|p| p["client"] == c["id"] && p["connections"][0]["id"].is_string())?
                .clone();
            Some((c, property))
        })
        .collect()
}

/// Platform clients with a code whose property takes a port: (code, property).
fn coded_on_a_port(bench: &Bench) -> Vec<(String, Value)> {
    let properties = valid_docs(bench, "properties");
    valid_docs(bench, "ftth-clients")
        .into_iter()
        .filter_map(|c| {
            let code = c["code"].as_str().filter(|c| !c.is_empty())?.to_string();
            let p = properties
                .iter()
                .find(|p| p["client"] == c["id"] && p["connections"][0]["id"].is_string())?
                .clone();
            Some((code, p))
        })
        .collect()
}

#[test]
fn a_move_is_refused_when_the_property_meanwhile_holds_another_customer() {
    let bench = Bench::new();
    bench.add_integration("isp", None);
    bench.sync_ok("isp");
    let coded = coded_on_a_port(&bench);
    let (code, property) = &coded[0];
    let (_, other) = &coded[1];
    let file = write(
        &bench,
        "s.csv",
        &format!("id_cliente_servico,name\n{code},Cliente\n"),
    );
    bench.ok(&["services", "import", &file]);
    let (to_splitter, to_port) = bench.port_in_state("free");
    bench.ok(&[
        "bind",
        "--service",
        code,
        "--splitter",
        &to_splitter,
        "--port",
        &to_port.to_string(),
        "--move",
    ]);
    // On the platform, someone puts another customer in that property.
    bench.server.with_network(|n| {
        n.find_mut("properties", &id(property)).unwrap()["client"] = other["client"].clone();
    });
    let refused = bench.fails(&["confirm", "--service", code]);
    assert!(refused.contains("the platform refused it"), "{refused}");
    let failed = json(&bench, &["bindings", "--service", code, "--json"]);
    assert_eq!(failed[0]["state"], "failed", "{failed:#}");
    assert!(
        failed[0]["reason"]
            .as_str()
            .unwrap()
            .contains("holds another customer's client"),
        "{failed:#}"
    );
    let writes = bench.writes();
    assert!(
        writes.is_empty(),
        "nothing was moved or updated: {writes:?}"
    );
}

#[test]
fn services_imported_after_a_sync_are_identified_at_once_and_bind_says_where_or_moves_them() {
    let bench = Bench::new();
    bench.add_integration("isp", None);
    bench.sync_ok("isp");
    let (code, property) = coded_on_a_port(&bench).remove(0);
    let file = write(
        &bench,
        "s.csv",
        &format!("id_cliente_servico,name\n{code},Cliente\n"),
    );
    bench.ok(&["services", "import", &file]);
    // No sync in between: the binding from the platform is there already.
    let bindings = json(&bench, &["bindings", "--service", &code, "--json"]);
    assert_eq!(bindings[0]["state"], "from-platform", "{bindings:#}");
    let port = property["connections"][0]["port"].as_u64().unwrap();
    assert_eq!(bindings[0]["port"], port);
    let identified = json(&bench, &["identification", "--json"]);
    assert_eq!(identified["counts"]["identified"], 1, "{identified:#}");

    // Binding it elsewhere is refused, naming the port it has.
    let splitter = property["connections"][0]["id"].as_str().unwrap();
    let other = if port == 1 { "2" } else { "1" };
    let refused = bench.fails(&[
        "bind",
        "--service",
        &code,
        "--splitter",
        splitter,
        "--port",
        other,
    ]);
    assert!(
        refused.contains(&format!(
            "the platform already places it on port {port} of splitter {splitter}"
        )) && refused.contains("--move"),
        "{refused}"
    );
    assert!(bench.writes().is_empty());

    // Asked to move, the confirmed push reconnects the client's own
    // property: one update of the client, one of the property, nothing new.
    let (to_splitter, to_port) = bench.port_in_state("free");
    let properties_before = bench.server.with_network(|n| n.properties.len());
    let moving = bench.ok(&[
        "bind",
        "--service",
        &code,
        "--splitter",
        &to_splitter,
        "--port",
        &to_port.to_string(),
        "--move",
    ]);
    assert!(
        moving.contains(&format!("moving platform property {}", id(&property))),
        "{moving}"
    );
    let pending = json(&bench, &["bindings", "--service", &code, "--json"]);
    assert_eq!(pending[0]["state"], "pending", "{pending:#}");
    assert_eq!(pending[0]["moving_property"], property["id"]);
    assert!(bench.writes().is_empty(), "binding writes nothing");
    bench.ok(&["confirm", "--service", &code]);
    let pushed = json(&bench, &["bindings", "--service", &code, "--json"]);
    assert_eq!(pushed[0]["state"], "pushed", "{pushed:#}");
    assert_eq!(pushed[0]["platform_property"], property["id"]);
    assert_eq!(pushed[0]["created_property"], false);
    assert!(pushed[0]["moving_property"].is_null());
    let client = property["client"].as_str().unwrap();
    assert_eq!(
        bench.writes(),
        [
            (
                "PATCH".to_string(),
                format!("/api/v2/ftth-clients/{client}")
            ),
            (
                "PATCH".to_string(),
                format!("/api/v2/properties/{}", id(&property))
            ),
        ]
    );
    let (connection, properties_after) = bench.server.with_network(|n| {
        (
            n.find("properties", &id(&property)).unwrap()["connections"][0].clone(),
            n.properties.len(),
        )
    });
    assert_eq!(connection["id"], to_splitter.as_str());
    assert_eq!(connection["port"], to_port);
    assert_eq!(properties_after, properties_before);

    // The next sync agrees: the old port is free, the new one the client's.
    bench.sync_ok("isp");
    let ports_of = |splitter_id: &str| {
        bench
            .elements("isp", "splitter")
            .into_iter()
            .find(|s| id(s) == splitter_id)
            .unwrap()["ports"]
            .clone()
    };
    assert_eq!(ports_of(splitter)[port as usize - 1]["state"], "free");
    let new_port = &ports_of(&to_splitter)[to_port as usize - 1];
    assert_eq!(new_port["state"], "taken", "{new_port:#}");
    let after = json(&bench, &["bindings", "--service", &code, "--json"]);
    assert_eq!(
        (&after[0]["state"], &after[0]["splitter"], &after[0]["port"]),
        (
            &"pushed".into(),
            &to_splitter.as_str().into(),
            &to_port.into()
        )
    );
    assert_eq!(bench.writes().len(), 2, "a sync writes nothing");
}

#[test]
fn suggestions_are_reviewed_and_an_accepted_match_updates_the_existing_client_once() {
    let bench = Bench::new();
    bench.add_integration("isp", None);
    bench.sync_ok("isp");
    let uncoded = uncoded_on_a_port(&bench);
    assert!(
        uncoded.len() >= 2,
        "the network has too few clients without code"
    );
    let (by_serial, _) = &uncoded[0];
    let (by_name, place) = &uncoded[1];
    // The ONU serial as OLTs show it (hex vendor); the name with its
    // accents dropped and its words swapped, a few metres away.
    let serial = by_serial["onu"]["serial_number"].as_str().unwrap();
    let hex: String = serial[..4].bytes().map(|b| format!("{b:02X}")).collect();
    let name = by_name["name"].as_str().unwrap();
    let mut words: Vec<&str> = name.split(' ').collect();
    words.rotate_left(1);
    let (lng, lat) = (
        place["coords"][0].as_f64().unwrap() + 0.0002,
        place["coords"][1].as_f64().unwrap(),
    );
    let csv = format!(
        "id_cliente_servico,name,onu_serial,lat,lng\n\
         SVC-800001,Fulano de Tal,{hex}{},,\n\
         SVC-800002,{},,{lat},{lng}\n",
        &serial[4..],
        words.join(" ")
    );
    let file = write(&bench, "s.csv", &csv);
    bench.ok(&["services", "import", &file]);

    let found = json(&bench, &["matches", "--json"]);
    let pick = |service: &str| {
        found
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["service"] == service)
            .unwrap_or_else(|| panic!("no match for {service}: {found:#}"))
            .clone()
    };
    let serial_match = pick("SVC-800001");
    assert_eq!(serial_match["client"], by_serial["id"]);
    assert_eq!(serial_match["agreed"], serde_json::json!(["onu_serial"]));
    let name_match = pick("SVC-800002");
    assert_eq!(name_match["client"], by_name["id"]);
    assert!(
        name_match["distance_m"].as_f64().unwrap() < 40.0,
        "{name_match:#}"
    );
    assert!(name_match["score"].as_f64().unwrap() >= 0.8);

    // Rejected: never suggested again.
    bench.ok(&["matches", "reject", name_match["id"].as_str().unwrap()]);
    let again = json(&bench, &["matches", "--json", "--min-score", "0"]);
    assert!(
        again
            .as_array()
            .unwrap()
            .iter()
            .all(|m| !(m["service"] == "SVC-800002" && m["client"] == by_name["id"])),
        "{again:#}"
    );

    // Accepted: bound to the client's port, and the client gets the code;
    // no client and no property is created.
    bench.server.clear_requests();
    let clients_before = bench
        .server
        .with_network(|n| n.collection("ftth-clients").len());
    let out = bench.ok(&["matches", "accept", serial_match["id"].as_str().unwrap()]);
    assert!(out.contains("accepted"), "{out}");
    let binding = json(&bench, &["bindings", "--service", "SVC-800001", "--json"]);
    assert_eq!(binding[0]["state"], "pushed", "{binding:#}");
    assert_eq!(binding[0]["platform_client"], by_serial["id"]);
    assert_eq!(
        bench.writes(),
        [(
            "PATCH".to_string(),
            format!("/api/v2/ftth-clients/{}", id(by_serial))
        )]
    );
    let (code, clients_after) = bench.server.with_network(|n| {
        (
            n.find("ftth-clients", &id(by_serial)).unwrap()["code"].clone(),
            n.collection("ftth-clients").len(),
        )
    });
    assert_eq!(code, "SVC-800001");
    assert_eq!(clients_after, clients_before);
    let history: Vec<String> = binding[0]["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["state"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        history,
        ["match-accepted", "pending", "confirmed", "pushed"]
    );
    // Decided: not suggested any more, and the next sync identifies it.
    let refused = bench.fails(&["matches", "accept", serial_match["id"].as_str().unwrap()]);
    assert!(refused.contains("no suggested match"), "{refused}");
    bench.sync_ok("isp");
    let identified = json(&bench, &["identification", "--json"]);
    assert!(
        identified["identified"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["code"] == "SVC-800001"),
        "{identified:#}"
    );
}

#[test]
fn a_cpf_written_in_the_clients_observation_matches_the_services_document() {
    let bench = Bench::new();
    bench.add_integration("isp", None);
    let (client, _) = uncoded_on_a_port(&bench).remove(0);
    bench.server.with_network(|n| {
        n.find_mut("ftth-clients", &id(&client)).unwrap()["observation"] =
            Value::from("cliente antigo, CPF 529.982.247-25");
    });
    bench.sync_ok("isp");
    let file = write(
        &bench,
        "s.csv",
        "id_cliente_servico,name,document\nSVC-600001,Outro Nome,52998224725\n",
    );
    bench.ok(&["services", "import", &file]);
    let found = json(&bench, &["matches", "--json"]);
    let m = found
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["service"] == "SVC-600001")
        .unwrap_or_else(|| panic!("{found:#}"));
    assert_eq!(m["client"], client["id"]);
    assert_eq!(m["agreed"], serde_json::json!(["document"]));
    assert!(m["score"].as_f64().unwrap() >= 0.99, "{m:#}");
}
