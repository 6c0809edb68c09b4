//! Mapping projects, identification, and binding a service to a port with
//! the push of its informative data.

use serde_json::Value;

use crate::common::{Bench, PASSWORD, id, ports_in_state, stderr};
use ozmap_test_server::Fault;

fn write(bench: &Bench, name: &str, text: &str) -> String {
    let path = bench.dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// A bench with a synced integration "isp" and services SVC-900001..3, which
/// no platform client carries yet.
fn synced_with_services() -> Bench {
    let bench = Bench::new();
    bench.add_integration("isp", None);
    bench.sync_ok("isp");
    let csv = "id_cliente_servico,name,pppoe_login,onu_serial,onu_mac,lat,lng,address\n\
               SVC-900001,Maria da Silva,maria.silva,ZTEG00000001,aa-bb-cc-dd-ee-01,-27.59,-48.54,\"Rua das Flores, 10\"\n\
               SVC-900002,José Santos,jose.santos,,,,,\n\
               SVC-900003,Ana Lima,,,,,,\n";
    let file = write(&bench, "services.csv", csv);
    bench.ok(&["services", "import", &file]);
    bench
}

fn splitters(bench: &Bench) -> Vec<Value> {
    bench.elements("isp", "splitter")
}

/// Bind the service to a free port of a service splitter; answers which.
fn bind_free(bench: &Bench, service: &str) -> (String, u64) {
    let (splitter, port) = bench.port_in_state("free");
    bench.ok(&[
        "bind",
        "--service",
        service,
        "--splitter",
        &splitter,
        "--port",
        &port.to_string(),
    ]);
    (splitter, port)
}

fn binding(bench: &Bench, service: &str) -> Value {
    let out = bench.ok(&["bindings", "--service", service, "--json"]);
    serde_json::from_str::<Vec<Value>>(&out).unwrap().remove(0)
}

#[test]
fn an_integration_feeds_exactly_one_project_and_syncs_only_when_linked() {
    let bench = Bench::new();
    let add = |name: &str| bench.add_unlinked(name, PASSWORD, &[], &[]);
    add("a");
    add("b");
    let refused = bench.fails(&["sync", "--integration", "a"]);
    assert!(
        refused.contains("feeds no mapping project") && refused.contains("integration link"),
        "{refused}"
    );

    let unknown = bench.fails(&[
        "integration",
        "link",
        "--integration",
        "a",
        "--existing",
        "Nowhere",
    ]);
    assert!(unknown.contains("Nowhere"), "{unknown}");
    bench.ok(&["project", "create", "Florianópolis"]);
    bench.ok(&["project", "create", "São José"]);
    let unknown = bench.fails(&[
        "integration",
        "link",
        "--integration",
        "a",
        "--existing",
        "Nowhere",
    ]);
    assert!(
        unknown.contains("\"Florianópolis\"") && unknown.contains("\"São José\""),
        "lists existing projects: {unknown}"
    );

    bench.ok(&[
        "integration",
        "link",
        "--integration",
        "a",
        "--existing",
        "Florianópolis",
    ]);
    let twice = bench.fails(&[
        "integration",
        "link",
        "--integration",
        "a",
        "--new",
        "Other",
    ]);
    assert!(twice.contains("already feeds"), "{twice}");
    let taken = bench.fails(&[
        "integration",
        "link",
        "--integration",
        "b",
        "--existing",
        "Florianópolis",
    ]);
    assert!(taken.contains("already fed by"), "{taken}");
    let projects: Vec<Value> =
        serde_json::from_str(&bench.ok(&["project", "list", "--json"])).unwrap();
    assert_eq!(
        projects
            .iter()
            .find(|p| p["name"] == "Florianópolis")
            .unwrap()["integration"],
        "a"
    );

    bench.sync_ok("a");
    let boxes = bench.elements("a", "box").len();
    assert!(boxes > 0);
    bench.ok(&["project", "remove-integration", "Florianópolis"]);
    let stopped = bench.fails(&["sync", "--integration", "a"]);
    assert!(stopped.contains("removed from project"), "{stopped}");
    assert_eq!(
        bench.elements("a", "box").len(),
        boxes,
        "nothing is silently lost"
    );
    let projects: Vec<Value> =
        serde_json::from_str(&bench.ok(&["project", "list", "--json"])).unwrap();
    let project = projects
        .iter()
        .find(|p| p["name"] == "Florianópolis")
        .unwrap();
    assert!(project["integration"].is_null());
    assert!(project["unsynchronised_elements"].as_u64().unwrap() > 0);
    bench.assert_no_secret_printed();
}

#[test]
fn identification_counts_clients_by_code() {
    let bench = Bench::new();
    bench.add_integration("isp", None);
    let clients = crate::common::valid_docs(&bench, "ftth-clients");
    let coded: Vec<String> = clients
        .iter()
        .filter_map(|c| {
            c["code"]
                .as_str()
                .filter(|c| !c.is_empty())
                .map(str::to_string)
        })
        .collect();
    let without_code = clients.len() - coded.len();
    // Services for the first five codes, and two the platform does not know.
    let mut csv = String::from("id_cliente_servico,name\n");
    for code in &coded[..5] {
        csv.push_str(&format!("{code},Cliente {code}\n"));
    }
    csv.push_str("SVC-999998,Novo\nSVC-999999,Outro\n");
    let file = write(&bench, "services.csv", &csv);
    bench.ok(&["services", "import", &file]);
    bench.sync_ok("isp");

    let report: Value = serde_json::from_str(&bench.ok(&["identification", "--json"])).unwrap();
    assert_eq!(report["counts"]["identified"], 5);
    assert_eq!(report["counts"]["clients_without_code"], without_code);
    assert_eq!(report["counts"]["codes_without_service"], coded.len() - 5);
    assert_eq!(report["counts"]["services_without_client"], 2);
    assert_eq!(report["identified"].as_array().unwrap().len(), 5);

    // Identified clients on a port give their service a binding from the platform.
    let bindings: Vec<Value> = serde_json::from_str(&bench.ok(&["bindings", "--json"])).unwrap();
    assert!(!bindings.is_empty());
    for b in &bindings {
        assert_eq!(b["state"], "from-platform");
        assert!(coded[..5].contains(&b["service"].as_str().unwrap().to_string()));
        assert!(
            b["history"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["state"] == "from-platform")
        );
    }
}

#[test]
fn bind_refuses_every_wrong_binding_with_its_reason() {
    let bench = synced_with_services();
    let (free_splitter, free_port) = bench.port_in_state("free");
    let (blocked_splitter, blocked_port) = bench.port_in_state("blocked");
    let (taken_splitter, taken_port) = bench.port_in_state("taken");
    let distribution = splitters(&bench)
        .into_iter()
        .find(|s| s["service"] == false)
        .map(|s| id(&s))
        .unwrap();
    let port = |n: u64| n.to_string();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec!["NOPE".into(), free_splitter.clone(), port(free_port)],
            "no service",
        ),
        (
            vec![
                "SVC-900001".into(),
                "000000000000000000000000".into(),
                "1".into(),
            ],
            "no synchronised splitter",
        ),
        (
            vec!["SVC-900001".into(), distribution, "1".into()],
            "distribution splitter",
        ),
        (
            vec!["SVC-900001".into(), free_splitter.clone(), "99".into()],
            "out of range",
        ),
        (
            vec!["SVC-900001".into(), blocked_splitter, port(blocked_port)],
            "blocked",
        ),
        (
            vec!["SVC-900001".into(), taken_splitter, port(taken_port)],
            "taken",
        ),
    ];
    for (args, reason) in cases {
        let out = bench.fails(&[
            "bind",
            "--service",
            &args[0],
            "--splitter",
            &args[1],
            "--port",
            &args[2],
        ]);
        assert!(out.contains(reason), "expected {reason:?} in: {out}");
    }
    bench.ok(&[
        "bind",
        "--service",
        "SVC-900001",
        "--splitter",
        &free_splitter,
        "--port",
        &port(free_port),
    ]);
    let again = bench.fails(&[
        "bind",
        "--service",
        "SVC-900001",
        "--splitter",
        &free_splitter,
        "--port",
        &port(free_port),
    ]);
    assert!(
        again.contains("already bound") && again.contains("unbind"),
        "{again}"
    );
    let same_port = bench.fails(&[
        "bind",
        "--service",
        "SVC-900002",
        "--splitter",
        &free_splitter,
        "--port",
        &port(free_port),
    ]);
    assert!(
        same_port.contains("already bound to service"),
        "{same_port}"
    );
    assert_eq!(binding(&bench, "SVC-900001")["state"], "pending");
    assert!(
        bench.writes().is_empty(),
        "binding alone writes nothing to the platform"
    );
}

#[test]
fn a_refusal_exits_with_the_code_of_its_kind_and_names_the_next_step() {
    let bench = synced_with_services();
    let (splitter, port) = bench.port_in_state("free");
    let port = port.to_string();
    let bind = |service: &str| {
        bench.mapsync(&[
            "bind",
            "--service",
            service,
            "--splitter",
            &splitter,
            "--port",
            &port,
        ])
    };
    // Not imported: invalid input (2), with the command that imports.
    let unknown = bind("SVC-404");
    assert_eq!(unknown.status.code(), Some(2));
    assert!(
        stderr(&unknown).contains("hint: mapsync services import FILE"),
        "{}",
        stderr(&unknown)
    );
    // Bound twice: a conflict (4), with the way to move or unbind.
    assert!(bind("SVC-900001").status.success());
    let again = bind("SVC-900001");
    assert_eq!(again.status.code(), Some(4));
    assert!(stderr(&again).contains("--move"), "{}", stderr(&again));
    // An unknown integration: not found (3).
    let missing = bench.mapsync(&["sync", "--integration", "nope"]);
    assert_eq!(missing.status.code(), Some(3));
}

#[test]
fn a_pending_binding_moves_to_another_port_locally() {
    let bench = synced_with_services();
    let (splitter, first) = bind_free(&bench, "SVC-900001");
    let splitters = bench.elements("isp", "splitter");
    let (to_splitter, to_port) = ports_in_state(&splitters, "free")
        .into_iter()
        .find(|(s, p)| (s, *p) != (&splitter, first))
        .unwrap();
    let moved = bench.ok(&[
        "bind",
        "--service",
        "SVC-900001",
        "--splitter",
        &to_splitter,
        "--port",
        &to_port.to_string(),
        "--move",
    ]);
    assert!(moved.contains("bound to port"), "{moved}");
    let b = binding(&bench, "SVC-900001");
    assert_eq!(
        (&b["state"], &b["port"]),
        (&"pending".into(), &to_port.into())
    );
    assert!(
        b["moving_property"].is_null(),
        "nothing of it is on the platform"
    );
    assert!(bench.writes().is_empty());
    // The port it left is free for another service.
    bench.ok(&[
        "bind",
        "--service",
        "SVC-900002",
        "--splitter",
        &splitter,
        "--port",
        &first.to_string(),
    ]);
}

#[test]
fn confirm_creates_one_client_and_property_and_the_next_sync_sees_the_port_taken() {
    let bench = synced_with_services();
    let (splitter, port) = bind_free(&bench, "SVC-900001");
    // The first creation attempt meets a passing failure: retried, still one.
    bench.server.inject("properties", Fault::Status(503), 1);
    bench.server.clear_requests();
    let out = bench.ok(&["confirm", "--service", "SVC-900001"]);
    assert!(out.contains("sent to the platform"), "{out}");
    let b = binding(&bench, "SVC-900001");
    assert_eq!(b["state"], "pushed");
    assert_eq!(b["created_property"], true);

    let (clients, properties) = bench.server.with_network(|n| {
        let clients: Vec<Value> = n
            .collection("ftth-clients")
            .iter()
            .filter(|c| c["code"] == "SVC-900001")
            .cloned()
            .collect();
        let properties: Vec<Value> = n
            .collection("properties")
            .iter()
            .filter(|p| {
                p["connections"].as_array().is_some_and(|c| {
                    c.iter()
                        .any(|c| c["id"] == splitter.as_str() && c["port"] == port)
                })
            })
            .cloned()
            .collect();
        (clients, properties)
    });
    assert_eq!(clients.len(), 1, "exactly one client");
    assert_eq!(properties.len(), 1, "exactly one property on the port");
    let client = &clients[0];
    assert_eq!(client["name"], "Maria da Silva");
    assert_eq!(client["onu"]["user_PPPoE"], "maria.silva");
    assert_eq!(client["onu"]["mac_address"], "AA:BB:CC:DD:EE:01");
    let splitter_doc = bench
        .server
        .with_network(|n| n.find("splitters", &splitter).cloned().unwrap());
    assert_eq!(properties[0]["box"], splitter_doc["parent"]);
    assert_eq!(b["platform_client"], client["id"]);

    // Only the push's writes reached the platform: the failed and the good creation, nothing else.
    let writes = bench.writes();
    assert!(
        writes
            .iter()
            .all(|(m, p)| m == "POST" && p.ends_with("/properties")),
        "{writes:?}"
    );
    assert_eq!(writes.len(), 2);

    let report = bench.sync_ok("isp");
    assert_eq!(report["kinds"]["property"]["created"], 1);
    let splitters = splitters(&bench);
    let seen =
        splitters.iter().find(|s| id(s) == splitter).unwrap()["ports"][(port - 1) as usize].clone();
    assert_eq!(seen["state"], "taken");
    assert_eq!(seen["client_code"], "SVC-900001");
    assert_eq!(
        binding(&bench, "SVC-900001")["state"],
        "pushed",
        "the ISP's own binding is kept"
    );

    // Confirming again cannot create a second one.
    let again = bench.fails(&["confirm", "--service", "SVC-900001"]);
    assert!(again.contains("already confirmed"), "{again}");
}

#[test]
fn a_push_refused_by_the_platform_fails_with_its_reason_and_is_not_retried() {
    let bench = synced_with_services();
    bind_free(&bench, "SVC-900002");
    // Someone takes the port on the platform meanwhile.
    bench.server.inject("properties", Fault::Status(409), 1);
    bench.server.clear_requests();
    let out = bench.fails(&["confirm", "--service", "SVC-900002"]);
    assert!(out.contains("refused"), "{out}");
    let b = binding(&bench, "SVC-900002");
    assert_eq!(b["state"], "failed");
    assert!(b["reason"].as_str().unwrap().contains("409"), "{b}");
    assert_eq!(bench.writes().len(), 1, "a refusal is not retried blindly");
    let history: Vec<&str> = b["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["state"].as_str().unwrap())
        .collect();
    assert_eq!(history, ["pending", "confirmed", "failed"]);
}

#[test]
fn a_push_that_cannot_reach_the_platform_stays_queued_and_goes_at_the_next_start() {
    let bench = synced_with_services();
    bind_free(&bench, "SVC-900003");
    bench.server.inject("properties", Fault::Status(503), 3);
    let out = bench.ok(&["confirm", "--service", "SVC-900003"]);
    assert!(out.contains("will be retried"), "{out}");
    assert_eq!(binding(&bench, "SVC-900003")["state"], "confirmed");
    // Due now, as if the back-off had passed.
    bench.sql("UPDATE outbox SET next_attempt_at = '2000-01-01T00:00:00.000Z'");
    bench.sync_ok("isp");
    assert_eq!(binding(&bench, "SVC-900003")["state"], "pushed");
    let created = bench.server.with_network(|n| {
        n.collection("ftth-clients")
            .iter()
            .filter(|c| c["code"] == "SVC-900003")
            .count()
    });
    assert_eq!(created, 1);
}

#[test]
fn confirming_a_queued_push_again_sends_it_now() {
    let bench = synced_with_services();
    bind_free(&bench, "SVC-900003");
    // Two commands' worth of passing failures (three tries each).
    bench.server.inject("properties", Fault::Status(503), 6);
    let out = bench.ok(&["confirm", "--service", "SVC-900003"]);
    assert!(out.contains("will be retried"), "{out}");
    assert_eq!(binding(&bench, "SVC-900003")["state"], "confirmed");

    // Confirming again tries the queued push now, without waiting out its
    // back-off; still unreachable, it answers as a first confirm does.
    let out = bench.ok(&["confirm", "--service", "SVC-900003"]);
    assert!(out.contains("will be retried"), "{out}");
    assert_eq!(binding(&bench, "SVC-900003")["state"], "confirmed");

    // The platform is back.
    let out = bench.ok(&["confirm", "--service", "SVC-900003"]);
    assert!(out.contains("confirmed and sent to the platform"), "{out}");
    let b = binding(&bench, "SVC-900003");
    assert_eq!(b["state"], "pushed", "{b}");
    let created = bench.server.with_network(|n| {
        n.collection("ftth-clients")
            .iter()
            .filter(|c| c["code"] == "SVC-900003")
            .count()
    });
    assert_eq!(created, 1);
    let queued = bench.sql_i64("SELECT count(*) FROM outbox");
    assert_eq!(queued, 0, "the push left the outbox");
}

#[test]
fn unbind_deletes_only_what_mapsync_created() {
    let bench = Bench::new();
    bench.add_integration("isp", None);
    // SVC-000001 is already on the platform: identified, bound from the platform.
    let code = crate::common::valid_docs(&bench, "properties")
        .iter()
        .filter_map(|p| p["client"].as_str().map(str::to_string))
        .find_map(|c| {
            bench.server.with_network(|n| {
                n.find("ftth-clients", &c).and_then(|c| {
                    c["code"]
                        .as_str()
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                })
            })
        })
        .unwrap();
    let file = write(
        &bench,
        "s.csv",
        &format!("id_cliente_servico,name\n{code},Existente\nSVC-900001,Novo\n"),
    );
    bench.ok(&["services", "import", &file]);
    bench.sync_ok("isp");
    assert_eq!(binding(&bench, &code)["state"], "from-platform");
    bench.server.clear_requests();
    bench.ok(&["unbind", "--service", &code]);
    assert!(
        bench.writes().is_empty(),
        "nothing mapsync did not create is deleted"
    );

    bind_free(&bench, "SVC-900001");
    bench.ok(&["confirm", "--service", "SVC-900001"]);
    let property = binding(&bench, "SVC-900001")["platform_property"]
        .as_str()
        .unwrap()
        .to_string();
    bench.server.clear_requests();
    bench.ok(&["unbind", "--service", "SVC-900001"]);
    assert_eq!(
        bench.writes(),
        vec![(
            "DELETE".to_string(),
            format!("/api/v2/properties/{property}")
        )]
    );
    assert!(
        bench
            .server
            .with_network(|n| n.find("properties", &property).is_none())
    );
    let none: Vec<Value> = serde_json::from_str(&bench.ok(&["bindings", "--json"])).unwrap();
    assert!(none.iter().all(|b| b["service"] != "SVC-900001"));
}

#[test]
fn unbinding_a_push_whose_answer_was_lost_deletes_what_it_created() {
    let bench = synced_with_services();
    let (splitter, port) = bind_free(&bench, "SVC-900003");
    bench.server.inject("properties", Fault::Status(503), 3);
    bench.ok(&["confirm", "--service", "SVC-900003"]);
    assert_eq!(binding(&bench, "SVC-900003")["state"], "confirmed");
    // The platform did create it, but mapsync never heard: as after a lost answer.
    let doc = bench
        .server
        .with_network(|n| n.find("splitters", &splitter).cloned().unwrap());
    let created: Value = ureq::post(format!("{}/api/v2/properties", bench.server.url()))
        .header("Authorization", crate::common::API_KEY)
        .send_json(serde_json::json!({
            "project": doc["project"], "box": doc["parent"], "connector": splitter, "port": port,
            "client": {"code": "SVC-900003", "name": "Ana Lima", "implanted": true},
            "external_id": "mapsync:SVC-900003", "auto_connect": false, "force": false,
        }))
        .unwrap()
        .body_mut()
        .read_json()
        .unwrap();
    let property = id(&created);
    bench.server.clear_requests();
    bench.ok(&["unbind", "--service", "SVC-900003"]);
    assert!(
        bench.writes().contains(&(
            "DELETE".to_string(),
            format!("/api/v2/properties/{property}")
        )),
        "{:?}",
        bench.writes()
    );
    assert!(
        bench
            .server
            .with_network(|n| n.find("properties", &property).is_none())
    );
    assert!(
        serde_json::from_str::<Vec<Value>>(&bench.ok(&["bindings", "--json"]))
            .unwrap()
            .is_empty()
    );
}

#[test]
fn confirm_rechecks_the_port_a_sync_may_have_changed() {
    let bench = synced_with_services();
    // The splitter is deleted on the platform after `bind`.
    let (splitter, _) = bind_free(&bench, "SVC-900001");
    bench.server.with_network(|n| {
        n.collection_mut("splitters").retain(|s| id(s) != splitter);
    });
    bench.sync_ok("isp");
    let refused = bench.fails(&["confirm", "--service", "SVC-900001"]);
    assert!(
        refused.contains("cannot be confirmed") && refused.contains("no synchronised splitter"),
        "{refused}"
    );
    assert_eq!(binding(&bench, "SVC-900001")["state"], "pending");

    // The port is taken on the platform after `bind`.
    let (splitter, port) = bind_free(&bench, "SVC-900002");
    bench.server.with_network(|n| {
        let properties = n.collection_mut("properties");
        let mut taker = properties
            .iter()
            .find(|p| p["connections"][0]["id"].is_string())
            .unwrap()
            .clone();
        taker["id"] = Value::from("6a0000000000000000000001");
        taker["_id"] = taker["id"].clone();
        taker["client"] = Value::Null;
        taker["connections"][0]["id"] = Value::from(splitter.clone());
        taker["connections"][0]["port"] = Value::from(port);
        properties.push(taker);
    });
    bench.sync_ok("isp");
    let before = bench.writes().len();
    let refused = bench.fails(&["confirm", "--service", "SVC-900002"]);
    assert!(refused.contains("is taken on the platform"), "{refused}");
    assert_eq!(bench.writes().len(), before, "nothing was written");
}

#[test]
fn kinds_that_bindings_stand_on_stay_switched_on() {
    let bench = synced_with_services();
    bind_free(&bench, "SVC-900001");
    for kinds in ["box,splitter,client,property", "pole,client,property"] {
        let refused = bench.fails(&["integration", "scope", "isp", "--kinds", kinds]);
        assert!(
            refused.contains("binding(s)") && refused.contains("unbind them first"),
            "{refused}"
        );
    }
    // Clients and properties may go; poles, boxes and splitters stay.
    bench.ok(&[
        "integration",
        "scope",
        "isp",
        "--kinds",
        "pole,box,splitter",
    ]);
}

#[test]
fn identification_left_undone_by_a_killed_process_is_finished_at_the_next_start() {
    let bench = Bench::new();
    bench.add_integration("isp", None);
    let code = crate::common::valid_docs(&bench, "ftth-clients")
        .iter()
        .filter_map(|c| {
            c["code"]
                .as_str()
                .filter(|c| !c.is_empty())
                .map(str::to_string)
        })
        .next()
        .unwrap();
    let file = write(
        &bench,
        "services.csv",
        &format!("id_cliente_servico,name\n{code},Cliente\n"),
    );
    bench.ok(&["services", "import", &file]);
    let report = bench.sync_ok("isp");
    let identified = bench.ok(&["bindings", "--json"]);
    assert!(identified.contains("from-platform"), "{identified}");

    // What a kill between the apply and the identification leaves: the run
    // recorded as succeeded with its elements, the identification not done.
    bench.sql(&format!(
        "DELETE FROM bindings; UPDATE runs SET identified = FALSE WHERE id = {}",
        report["run_id"].as_i64().unwrap()
    ));
    let runs = bench.ok(&["runs", "--json"]);
    assert!(runs.contains("succeeded"), "{runs}");
    let bindings: Vec<Value> = serde_json::from_str(&bench.ok(&["bindings", "--json"])).unwrap();
    assert_eq!(bindings.len(), 1, "{bindings:#?}");
    assert_eq!(bindings[0]["service"], code.as_str());
    assert_eq!(bindings[0]["state"], "from-platform");
}
