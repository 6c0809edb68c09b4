//! The write routes: a property on a splitter port, its client, updates, deletes.

mod common;

use common::{KEY, enc, get, send};
use ozmap_test_server::{GeneratorConfig, ServerConfig, TestServer, generate};
use serde_json::{Value, json};

fn server() -> TestServer {
    TestServer::start(ServerConfig::default(), generate(&GeneratorConfig::small())).unwrap()
}

fn call(s: &TestServer, method: &str, target: &str, body: &Value) -> common::Reply {
    send(s.addr(), method, target, Some(KEY), Some(&body.to_string())).unwrap()
}

/// A service splitter with a free, unblocked port: (project, box, splitter, port).
fn free_port(s: &TestServer) -> (String, String, String, u64) {
    s.with_network(|n| {
        for sp in &n.splitters {
            if sp["isDrop"] != json!(true) || sp.get("id").is_none() {
                continue;
            }
            let Some(parent) = n.find("boxes", sp["parent"].as_str().unwrap()) else {
                continue;
            };
            for (i, slot) in sp["connectables"]["output"]
                .as_array()
                .unwrap()
                .iter()
                .enumerate()
            {
                if slot.is_null() && sp["ports"][i]["blocked"] == json!(false) {
                    return (
                        parent["project"].as_str().unwrap().to_owned(),
                        parent["id"].as_str().unwrap().to_owned(),
                        sp["id"].as_str().unwrap().to_owned(),
                        i as u64 + 1,
                    );
                }
            }
        }
        panic!("no free port in the small network");
    })
}

#[test]
fn a_port_holds_one_property_until_it_is_deleted() {
    let s = server();
    let (project, box_id, splitter, port) = free_port(&s);
    let body = json!({
        "project": project, "box": box_id, "address": "Rua Nova, 1",
        "client": {"code": "SVC-900001", "name": "Nova Cliente", "implanted": true,
                   "onu": {"user_PPPoE": "svc900001", "serial_number": "ZTEG0", "mac_address": ""}},
        "connector": splitter, "port": port, "auto_connect": false, "force": false,
    });
    let created = call(&s, "POST", "/api/v2/properties", &body);
    assert_eq!(
        created.status,
        201,
        "{}",
        String::from_utf8_lossy(&created.body)
    );
    let property = created.json();
    let pid = property["id"].as_str().unwrap().to_owned();
    assert_eq!(property["connections"][0]["id"], json!(splitter));
    assert_eq!(property["connections"][0]["port"], json!(port));
    let client_id = property["client"].as_str().unwrap().to_owned();

    let filter = json!([{"property": "code", "operator": "=", "value": "SVC-900001"}]).to_string();
    let found = get(
        s.addr(),
        &format!("/api/v2/ftth-clients?filter={}", enc(&filter)),
    )
    .json();
    assert_eq!(found["rows"][0]["id"], json!(client_id));
    assert_eq!(found["rows"][0]["kind"], "ftth");
    let sp = get(s.addr(), &format!("/api/v2/splitters/{splitter}")).json();
    assert_eq!(sp["connectables"]["output"][port as usize - 1], json!(pid));

    let again = call(&s, "POST", "/api/v2/properties", &body);
    assert_eq!(again.status, 409);
    assert!(again.json()["message"].as_str().unwrap().contains("taken"));

    let deleted = send(
        s.addr(),
        "DELETE",
        &format!("/api/v2/properties/{pid}"),
        Some(KEY),
        None,
    )
    .unwrap();
    assert_eq!(deleted.status, 204);
    assert_eq!(
        get(s.addr(), &format!("/api/v2/properties/{pid}")).status,
        404
    );
    let sp = get(s.addr(), &format!("/api/v2/splitters/{splitter}")).json();
    assert!(sp["connectables"]["output"][port as usize - 1].is_null());

    // The port is free again; this time with the existing client, by id.
    let by_id = json!({"project": project, "box": box_id, "client": client_id,
                       "connector": splitter, "port": port, "auto_connect": false, "force": false});
    assert_eq!(call(&s, "POST", "/api/v2/properties", &by_id).status, 201);

    let writes: Vec<_> = s
        .requests()
        .into_iter()
        .filter(|r| r.method != "GET")
        .collect();
    assert_eq!(writes.len(), 4);
    assert!(writes[0].body.contains("SVC-900001"));
}

#[test]
fn refused_connections_say_why() {
    let s = server();
    let (project, box_id, splitter, _) = free_port(&s);
    let base = json!({"project": project, "box": box_id, "client": null, "connector": splitter,
                      "auto_connect": false, "force": false});
    let with = |k: &str, v: Value| {
        let mut b = base.clone();
        b[k] = v;
        b
    };
    let out_of_range = call(&s, "POST", "/api/v2/properties", &with("port", json!(99)));
    assert_eq!(out_of_range.status, 400);
    let unknown = with("port", json!(1));
    let unknown = {
        let mut b = unknown;
        b["connector"] = json!("000000000000000000000000");
        b
    };
    assert_eq!(call(&s, "POST", "/api/v2/properties", &unknown).status, 400);
    let no_box = with("box", json!("000000000000000000000000"));
    assert_eq!(call(&s, "POST", "/api/v2/properties", &no_box).status, 400);

    // A port taken by a property without client is still taken.
    let (taken_splitter, taken_port, taken_box) = s.with_network(|n| {
        let p = n
            .properties
            .iter()
            .find(|p| p["client"].is_null() && !p["connections"].as_array().unwrap().is_empty())
            .unwrap();
        (
            p["connections"][0]["id"].clone(),
            p["connections"][0]["port"].clone(),
            p["box"].clone(),
        )
    });
    let taken = json!({"box": taken_box, "connector": taken_splitter, "port": taken_port});
    assert_eq!(call(&s, "POST", "/api/v2/properties", &taken).status, 409);

    let (project, box_id, splitter, port) = free_port(&s);
    s.with_network(|n| {
        n.find_mut("splitters", &splitter).unwrap()["ports"][port as usize - 1]["blocked"] =
            json!(true)
    });
    let blocked = json!({"project": project, "box": box_id, "connector": splitter, "port": port});
    let r = call(&s, "POST", "/api/v2/properties", &blocked);
    assert_eq!(r.status, 400);
    assert!(r.json()["message"].as_str().unwrap().contains("blocked"));
}

#[test]
fn updates_refuse_external_id() {
    let s = server();
    let id = s.with_network(|n| n.ftth_clients[0]["id"].as_str().unwrap().to_owned());
    let target = format!("/api/v2/ftth-clients/{id}");
    let refused = call(
        &s,
        "PATCH",
        &target,
        &json!({"name": "X", "external_id": "e1"}),
    );
    assert_eq!(refused.status, 400);
    let bad_status = call(&s, "PATCH", &target, &json!({"status": 7}));
    assert_eq!(bad_status.status, 400);
    let ok = call(
        &s,
        "PATCH",
        &target,
        &json!({"name": "Renamed", "observation": "from the ERP", "status": 1}),
    );
    assert_eq!(ok.status, 200);
    let now = get(s.addr(), &target).json();
    assert_eq!(now["name"], "Renamed");
    assert_eq!(now["status"], 1);
    assert_ne!(
        now["updatedAt"],
        s.with_network(|n| n.ftth_clients[1]["updatedAt"].clone())
    );

    let pid = s.with_network(|n| n.properties[3]["id"].as_str().unwrap().to_owned());
    let r = call(
        &s,
        "PATCH",
        &format!("/api/v2/properties/{pid}"),
        &json!({"observation": "ok"}),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["observation"], "ok");
    assert_eq!(
        call(
            &s,
            "PATCH",
            "/api/v2/properties/000000000000000000000000",
            &json!({})
        )
        .status,
        404
    );

    let batch = json!({"filter": [{"property": "id", "operator": "=", "value": id}], "update": {"certified": true}});
    let r = call(&s, "POST", "/api/v2/ftth-clients/batch-update", &batch);
    assert_eq!(r.json()["modified"], 1);
}

/// Two free ports (1-based) of one service splitter: (project, box, splitter, a, b).
fn two_free_ports(s: &TestServer) -> (String, String, String, u64, u64) {
    let (project, box_id, splitter, a) = free_port(s);
    let b = s.with_network(|n| {
        let sp = n.find("splitters", &splitter).unwrap();
        (0..sp["connectables"]["output"].as_array().unwrap().len())
            .map(|i| i as u64 + 1)
            .find(|&p| {
                p != a
                    && sp["connectables"]["output"][p as usize - 1].is_null()
                    && sp["ports"][p as usize - 1]["blocked"] == json!(false)
            })
            .expect("a second free port")
    });
    (project, box_id, splitter, a, b)
}

#[test]
fn a_patch_with_connector_and_port_moves_the_property_to_that_port() {
    let s = server();
    let (project, box_id, splitter, a, b) = two_free_ports(&s);
    let created = call(
        &s,
        "POST",
        "/api/v2/properties",
        &json!({"project": project, "box": box_id, "client": {"code": "SVC-MOVE", "name": "Mover"},
                "connector": splitter, "port": a, "auto_connect": false, "force": false}),
    )
    .json();
    let pid = created["id"].as_str().unwrap().to_owned();
    let target = format!("/api/v2/properties/{pid}");
    let order = json!({"box": box_id, "connector": splitter, "port": b,
                       "auto_connect": false, "force": false});
    let moved = call(&s, "PATCH", &target, &order);
    assert_eq!(
        moved.status,
        200,
        "{}",
        String::from_utf8_lossy(&moved.body)
    );
    let moved = moved.json();
    assert_eq!(moved["connections"][0]["port"], json!(b));
    assert_eq!(moved["connections"].as_array().unwrap().len(), 1);
    assert!(moved.get("connector").is_none() && moved.get("port").is_none());
    let sp = get(s.addr(), &format!("/api/v2/splitters/{splitter}")).json();
    assert!(sp["connectables"]["output"][a as usize - 1].is_null());
    assert_eq!(sp["connectables"]["output"][b as usize - 1], json!(pid));

    // Repeated, it is no change; onto a port another holds, a conflict.
    assert_eq!(call(&s, "PATCH", &target, &order).status, 200);
    let other = call(
        &s,
        "POST",
        "/api/v2/properties",
        &json!({"project": project, "box": box_id, "client": null,
                "connector": splitter, "port": a, "auto_connect": false, "force": false}),
    );
    assert_eq!(other.status, 201);
    let onto_taken = call(
        &s,
        "PATCH",
        &target,
        &json!({"connector": splitter, "port": a}),
    );
    assert_eq!(onto_taken.status, 409);
    assert_eq!(
        get(s.addr(), &target).json()["connections"][0]["port"],
        json!(b),
        "a refused move leaves the property where it was"
    );
    // A null connector takes it off every port.
    assert_eq!(
        call(&s, "PATCH", &target, &json!({"connector": null})).status,
        200
    );
    let sp = get(s.addr(), &format!("/api/v2/splitters/{splitter}")).json();
    assert!(sp["connectables"]["output"][b as usize - 1].is_null());
}
