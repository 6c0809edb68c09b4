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

#[test]
fn services_imported_after_a_sync_are_identified_at_once_and_bind_says_where() {
    let bench = Bench::new();
    bench.add_integration("isp", None);
    bench.sync_ok("isp");
    let properties = valid_docs(&bench, "properties");
    let (code, property) = valid_docs(&bench, "ftth-clients")
        .into_iter()
        .filter_map(|c| {
            let code = c["code"].as_str().filter(|c| !c.is_empty())?.to_string();
            let p = properties
                .iter()
                .find(|p| p["client"] == c["id"] && p["connections"][0]["id"].is_string())?
                .clone();
            Some((code, p))
        })
        .next()
        .unwrap();
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
            "already bound to port {port} of splitter {splitter}"
        )),
        "{refused}"
    );
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
    let writes: Vec<(String, String)> = bench
        .server
        .requests()
        .into_iter()
        .filter(|r| r.method != "GET" && !r.path.ends_with("/users/login"))
        .map(|r| (r.method, r.path))
        .collect();
    assert_eq!(
        writes,
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
