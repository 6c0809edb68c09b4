//! The HTTP API of `mapsync serve`, over real HTTP on loopback: the token,
//! every route over a synchronised integration, the error shape of bad
//! requests, and syncs on demand.

use std::io::Read;
use std::process::Child;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ozmap_test_server::{Fault, delete_element, move_property_to};
use serde_json::{Value, json};
use ureq::http::Request;

use crate::common::{API_KEY, Bench, PASSWORD, USER, id, ports_in_state, terminate};

const TOKEN: &str = "api-token-3c9e1f7a5b";
const V1: &str = "/api/v1";

/// `mapsync serve` on a free port, driven over HTTP.
struct Api {
    child: Child,
    base: String,
    agent: ureq::Agent,
    /// What serve printed, read on a thread so it never blocks on a full pipe.
    printed: Arc<Mutex<String>>,
    /// Every body answered, to check for secrets.
    bodies: Mutex<Vec<String>>,
}

struct Answer {
    status: u16,
    body: Value,
    raw: String,
    headers: ureq::http::HeaderMap,
}

impl Api {
    fn start(bench: &Bench) -> Api {
        let served = bench.serve(TOKEN);
        let (child, base, mut out) = (served.child, served.address, served.rest);
        let printed = Arc::new(Mutex::new(String::new()));
        let sink = printed.clone();
        std::thread::spawn(move || {
            let mut rest = String::new();
            let _ = out.read_to_string(&mut rest);
            sink.lock().unwrap().push_str(&rest);
        });
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .proxy(None)
            .timeout_global(Some(Duration::from_secs(120)))
            .build()
            .into();
        Api {
            child,
            base,
            agent,
            printed,
            bodies: Mutex::new(Vec::new()),
        }
    }

    /// One request; `body` is (content type, bytes).
    fn request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<(&str, Vec<u8>)>,
    ) -> Answer {
        self.request_with(method, path, token, &[], body)
    }

    fn request_with(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<(&str, Vec<u8>)>,
    ) -> Answer {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(token) = token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        let sent = match body {
            Some((content_type, bytes)) => {
                if !content_type.is_empty() {
                    request = request.header("Content-Type", content_type);
                }
                self.agent.run(request.body(bytes).unwrap())
            }
            None => self.agent.run(request.body(()).unwrap()),
        };
        let mut response = sent.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let raw = response.body_mut().read_to_string().unwrap_or_default();
        self.bodies.lock().unwrap().push(raw.clone());
        let body = serde_json::from_str(&raw).unwrap_or(Value::Null);
        Answer {
            status,
            body,
            raw,
            headers,
        }
    }

    fn get(&self, path: &str) -> Answer {
        self.request("GET", path, Some(TOKEN), None)
    }

    fn send(&self, method: &str, path: &str, body: Value) -> Answer {
        let bytes = serde_json::to_vec(&body).unwrap();
        self.request(method, path, Some(TOKEN), Some(("application/json", bytes)))
    }

    fn post(&self, path: &str) -> Answer {
        self.request("POST", path, Some(TOKEN), None)
    }

    /// A 200 answer's body.
    fn ok(&self, path: &str) -> Value {
        let answer = self.get(path);
        assert_eq!(answer.status, 200, "GET {path}: {}", answer.raw);
        answer.body
    }

    /// Stop with SIGTERM; serve must end cleanly.
    fn stop(mut self) {
        let status = terminate(&mut self.child);
        assert!(
            status.success(),
            "serve did not stop cleanly ({status}):\n{}",
            self.printed.lock().unwrap()
        );
        for body in self.bodies.lock().unwrap().iter() {
            for secret in [API_KEY, PASSWORD, TOKEN] {
                assert!(!body.contains(secret), "an answer holds a secret:\n{body}");
            }
        }
    }
}

impl Drop for Api {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The error shape, with this status and code.
#[track_caller]
fn assert_error(answer: &Answer, status: u16, code: &str) {
    assert_eq!(answer.status, status, "{}", answer.raw);
    let error = &answer.body["error"];
    assert_eq!(error["status"], status, "{}", answer.raw);
    assert_eq!(error["code"], code, "{}", answer.raw);
    let message = error["message"].as_str().unwrap_or_default();
    assert!(
        message.len() > 10,
        "a message a person understands: {}",
        answer.raw
    );
    assert_eq!(
        answer
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/json")
    );
}

/// A bench with "isp" added, linked and synchronised (so serve does not
/// start a catch-up run of its own).
fn synced() -> Bench {
    let bench = Bench::new();
    bench.add_integration("isp", None);
    bench.sync_ok("isp");
    bench
}

#[test]
fn without_the_right_token_every_request_gets_401_and_learns_nothing() {
    let bench = synced();
    let api = Api::start(&bench);
    let paths = [
        format!("{V1}/integrations"),
        format!("{V1}/integrations/isp"),
        format!("{V1}/openapi.json"),
        format!("{V1}/no-such-route"),
        "/no-such-page".to_string(),
    ];
    let wrong = [
        None,
        Some("wrong"),
        Some(&TOKEN[..TOKEN.len() - 1]),
        Some("api-token-3c9e1f7a5bX"),
    ];
    for path in &paths {
        for token in wrong {
            let answer = api.request("GET", path, token, None);
            assert_error(&answer, 401, "unauthorized");
            assert_eq!(
                answer.headers.get("www-authenticate").unwrap(),
                "Bearer",
                "{path}"
            );
            for leak in ["isp", API_KEY, PASSWORD, TOKEN, USER, "openapi\":"] {
                assert!(
                    !answer.raw.contains(leak),
                    "{path} leaks {leak}: {}",
                    answer.raw
                );
            }
        }
    }
    // The console's files are served to anyone (its sign-in page is one),
    // and hold no data: every screen's data comes through the API.
    for path in ["/", "/console/", "/console/app.js", "/console/i18n.js"] {
        let answer = api.request("GET", path, None, None);
        assert_eq!(answer.status, 200, "{path}");
        for leak in [API_KEY, PASSWORD, TOKEN, USER] {
            assert!(!answer.raw.contains(leak), "{path} leaks {leak}");
        }
    }
    // A supervisor asks whether the process is up and the store answers,
    // without a token, and learns nothing else.
    for (path, status) in [("/healthz", "up"), ("/readyz", "ready")] {
        let answer = api.request("GET", path, None, None);
        assert_eq!(answer.status, 200, "{path}: {}", answer.raw);
        assert_eq!(answer.body, json!({ "status": status }), "{path}");
    }
    // Another scheme, or the token without one, is no better.
    let answer = api.request("DELETE", &format!("{V1}/integrations/isp"), None, None);
    assert_error(&answer, 401, "unauthorized");
    assert_eq!(
        api.ok(&format!("{V1}/integrations"))
            .as_array()
            .unwrap()
            .len(),
        1
    );
    api.stop();
}

#[test]
fn integrations_are_managed_with_secrets_masked() {
    let bench = synced();
    let api = Api::start(&bench);
    let url = bench.server.url();

    let all = api.ok(&format!("{V1}/integrations"));
    assert_eq!(all.as_array().unwrap().len(), 1);
    let isp = api.ok(&format!("{V1}/integrations/isp"));
    assert_eq!(isp["name"], "isp");
    assert_eq!(isp["sync_time"], "04:00");
    assert_eq!(isp["project"], "isp (local)");
    assert_eq!(isp["synchronising"], true);
    assert_eq!(isp["password"], "********");
    assert!(isp["api_key"].as_str().unwrap().contains("masked"));

    let new = json!({
        "name": "other", "api_url": format!("{url}/"), "api_key": "OTHER-KEY-0123456789abcdef",
        "user": "u", "password": "OTHER-PW-secret", "project_name": "Centro",
    });
    let added = api.send("POST", &format!("{V1}/integrations"), new.clone());
    assert_eq!(added.status, 201, "{}", added.raw);
    assert_eq!(
        added.body["api_url"],
        url.as_str(),
        "normalised as the CLI does"
    );
    assert_eq!(
        added.headers.get("location").unwrap(),
        &format!("{V1}/integrations/other")
    );
    assert!(!added.raw.contains("OTHER-KEY-0123456789abcdef") && !added.raw.contains("OTHER-PW"));
    assert_error(
        &api.send("POST", &format!("{V1}/integrations"), new.clone()),
        409,
        "conflict",
    );

    let mut bad = new.clone();
    bad["name"] = json!("third");
    bad["api_url"] = json!("yourisp.ozmap.com.br");
    let refused = api.send("POST", &format!("{V1}/integrations"), bad.clone());
    assert_error(&refused, 400, "bad_request");
    assert!(
        refused.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("api_url"),
        "{}",
        refused.raw
    );
    bad["api_url"] = json!(url);
    bad["password"] = json!("  ");
    let refused = api.send("POST", &format!("{V1}/integrations"), bad);
    assert_error(&refused, 400, "bad_request");
    assert!(
        refused.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("password"),
        "{}",
        refused.raw
    );

    let changed = api.send(
        "PATCH",
        &format!("{V1}/integrations/other"),
        json!({ "sync_time": "5:30", "project_name": null, "password": "NEW-PW-secret" }),
    );
    assert_eq!(changed.status, 200, "{}", changed.raw);
    assert_eq!(changed.body["sync_time"], "05:30");
    assert!(changed.body["project_name"].is_null());
    assert!(!changed.raw.contains("NEW-PW"));
    let shown: Value =
        serde_json::from_str(&bench.ok(&["integration", "show", "other", "--json"])).unwrap();
    assert!(shown["project_name"].is_null());
    for (body, named) in [
        (json!({ "sync_time": "25:00" }), "sync time"),
        (json!({ "api_url": "ftp://x" }), "api_url"),
        (json!({ "user": "" }), "user"),
        (json!({}), "nothing to change"),
    ] {
        let refused = api.send("PATCH", &format!("{V1}/integrations/other"), body);
        assert_error(&refused, 400, "bad_request");
        assert!(
            refused.body["error"]["message"]
                .as_str()
                .unwrap()
                .contains(named),
            "{}",
            refused.raw
        );
    }
    assert_error(
        &api.send(
            "PATCH",
            &format!("{V1}/integrations/nope"),
            json!({ "user": "x" }),
        ),
        404,
        "not_found",
    );

    // Still linked to its project: refused with the reason.
    assert_error(
        &api.request(
            "DELETE",
            &format!("{V1}/integrations/isp"),
            Some(TOKEN),
            None,
        ),
        409,
        "conflict",
    );
    let removed = api.request(
        "DELETE",
        &format!("{V1}/integrations/other"),
        Some(TOKEN),
        None,
    );
    assert_eq!(removed.status, 200, "{}", removed.raw);
    assert_eq!(removed.body["removed"], "other");
    assert_error(
        &api.get(&format!("{V1}/integrations/other")),
        404,
        "not_found",
    );
    api.stop();
}

#[test]
fn the_connection_test_walks_its_steps() {
    let bench = synced();
    let api = Api::start(&bench);
    let test = api.post(&format!("{V1}/integrations/isp/test"));
    assert_eq!(test.status, 200, "{}", test.raw);
    assert_eq!(test.body["ok"], true, "{}", test.raw);
    let steps: Vec<&str> = test.body["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step"].as_str().unwrap())
        .collect();
    assert_eq!(
        steps,
        ["reach the platform", "authenticate", "read one row"]
    );

    let wrong = json!({
        "name": "wrong", "api_url": bench.server.url(), "api_key": "WRONG-KEY-0123456789",
        "user": USER, "password": "WRONG-PW",
    });
    assert_eq!(
        api.send("POST", &format!("{V1}/integrations"), wrong)
            .status,
        201
    );
    let test = api.post(&format!("{V1}/integrations/wrong/test"));
    assert_eq!(test.status, 200, "{}", test.raw);
    assert_eq!(test.body["ok"], false, "{}", test.raw);
    let failed = test.body["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["ok"] == false)
        .unwrap();
    assert_eq!(failed["step"], "authenticate", "{}", test.raw);
    assert_error(
        &api.post(&format!("{V1}/integrations/nope/test")),
        404,
        "not_found",
    );
    api.stop();
}

#[test]
fn the_network_is_read_by_box_splitter_and_free_port() {
    let bench = synced();
    let boxes = bench.elements("isp", "box");
    let splitters = bench.elements("isp", "splitter");
    let api = Api::start(&bench);

    let projects = api.ok(&format!("{V1}/projects"));
    assert_eq!(projects[0]["name"], "isp (local)");
    assert_eq!(projects[0]["integration"], "isp");

    let all = api.ok(&format!("{V1}/boxes"));
    assert_eq!(all.as_array().unwrap().len(), boxes.len());
    assert!(
        all.as_array()
            .unwrap()
            .iter()
            .all(|b| b["integration"] == "isp")
    );
    let first = &boxes[0];
    let project = first["project"].as_str().unwrap();
    let of_project = api.ok(&format!("{V1}/boxes?project={project}"));
    let expected = boxes.iter().filter(|b| b["project"] == project).count();
    assert_eq!(of_project.as_array().unwrap().len(), expected);
    assert!(expected < boxes.len());
    let name = first["name"].as_str().unwrap();
    let part: String = name
        .chars()
        .skip(1)
        .take(4)
        .collect::<String>()
        .to_uppercase();
    let named = api.ok(&format!("{V1}/boxes?name={}", urlencode(&part)));
    assert!(
        named
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["id"] == first["id"]),
        "{named}"
    );
    let (lat, lng) = (
        first["lat"].as_f64().unwrap(),
        first["lng"].as_f64().unwrap(),
    );
    let bbox = format!(
        "{},{},{},{}",
        lng - 0.0001,
        lat - 0.0001,
        lng + 0.0001,
        lat + 0.0001
    );
    let framed = api.ok(&format!("{V1}/boxes?bbox={bbox}"));
    assert!(
        framed
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["id"] == first["id"])
    );
    assert!(framed.as_array().unwrap().len() < boxes.len());
    assert_eq!(
        api.ok(&format!("{V1}/boxes?integration=isp"))
            .as_array()
            .unwrap()
            .len(),
        boxes.len()
    );
    assert_error(
        &api.get(&format!("{V1}/boxes?integration=nope")),
        404,
        "not_found",
    );
    assert_error(
        &api.get(&format!("{V1}/boxes?bbox=1,2,3")),
        400,
        "bad_request",
    );

    let one = api.ok(&format!("{V1}/boxes/{}", id(first)));
    assert_eq!(one["name"], first["name"]);
    let inside: Vec<&Value> = splitters
        .iter()
        .filter(|s| s["box"] == first["id"])
        .collect();
    assert_eq!(one["splitters"].as_array().unwrap().len(), inside.len());
    assert!(!inside.is_empty());
    for s in one["splitters"].as_array().unwrap() {
        assert_eq!(s["box"], first["id"]);
        assert!(!s["ports"].as_array().unwrap().is_empty());
    }
    assert_error(&api.get(&format!("{V1}/boxes/nope")), 404, "not_found");

    let splitter = inside[0];
    let ports = api.ok(&format!("{V1}/splitters/{}/ports", id(splitter)));
    let states = |ports: &Value| -> Vec<(u64, String)> {
        ports
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["port"].as_u64().unwrap(),
                    p["state"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    assert_eq!(states(&ports), states(&splitter["ports"]));
    assert_error(
        &api.get(&format!("{V1}/splitters/nope/ports")),
        404,
        "not_found",
    );

    // Free ports near a box that has one: it comes first, at 0 m, and the
    // rest follow nearest first, within the radius, on service splitters.
    let has_free = |b: &Value| {
        splitters.iter().any(|s| {
            s["box"] == b["id"]
                && s["service"] == true
                && s["ports"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|p| p["state"] == "free")
        })
    };
    let here = boxes.iter().find(|b| has_free(b)).unwrap();
    let (lat, lng) = (here["lat"].as_f64().unwrap(), here["lng"].as_f64().unwrap());
    let near = api.ok(&format!("{V1}/ports/free?lat={lat}&lng={lng}&radius=5000"));
    let near = near.as_array().unwrap();
    assert_eq!(near[0]["id"], here["id"]);
    assert_eq!(near[0]["distance_m"], 0.0);
    let distances: Vec<f64> = near
        .iter()
        .map(|b| b["distance_m"].as_f64().unwrap())
        .collect();
    assert!(distances.windows(2).all(|w| w[0] <= w[1]), "{distances:?}");
    assert!(distances.iter().all(|d| *d <= 5000.0));
    for b in near {
        assert!(has_free(b));
        for free in b["free_ports"].as_array().unwrap() {
            let s = splitters
                .iter()
                .find(|s| s["id"] == free["splitter"])
                .unwrap();
            assert_eq!(s["service"], true);
            assert_eq!(s["box"], b["id"]);
            let port = s["ports"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["port"] == free["port"])
                .unwrap();
            assert_eq!(port["state"], "free");
        }
    }
    let within_5km = boxes
        .iter()
        .filter(|b| has_free(b) && haversine(lat, lng, b) <= 5000.0)
        .count();
    assert_eq!(near.len(), within_5km);
    let closer = api.ok(&format!("{V1}/ports/free?lat={lat}&lng={lng}&radius=1"));
    assert_eq!(closer.as_array().unwrap().len(), 1);
    let default_radius = api.ok(&format!("{V1}/ports/free?lat={lat}&lng={lng}"));
    assert!(
        default_radius
            .as_array()
            .unwrap()
            .iter()
            .all(|b| b["distance_m"].as_f64().unwrap() <= 500.0)
    );
    api.stop();
}

/// What the API reads of ports and places follows each sync: a property
/// moved to another port frees the one it had and takes the new one; a
/// removed box is near no point and found no more.
#[test]
fn ports_and_places_follow_a_move_and_a_removal() {
    let bench = synced();
    let boxes = bench.elements("isp", "box");
    let splitters = bench.elements("isp", "splitter");
    let properties = bench.elements("isp", "property");
    let box_of = |splitter: &str| -> String {
        let s = splitters.iter().find(|s| id(s) == splitter).unwrap();
        s["box"].as_str().unwrap().to_string()
    };
    let free = ports_in_state(&splitters, "free");
    let (from, from_port) = ports_in_state(&splitters, "taken")[0].clone();
    let (to, to_port) = free
        .iter()
        .find(|(s, _)| box_of(s) != box_of(&from))
        .unwrap()
        .clone();
    let moved = properties
        .iter()
        .find(|p| p["splitter"] == from.as_str() && p["port"] == from_port)
        .map(id)
        .unwrap();
    // A box offering a free port, neither of those two.
    let gone = boxes
        .iter()
        .find(|b| {
            let here = id(b);
            here != box_of(&from)
                && here != box_of(&to)
                && free.iter().any(|(s, _)| box_of(s) == here)
        })
        .unwrap();
    bench.server.with_network(|n| {
        move_property_to(n, &moved, &to, to_port).unwrap();
        assert!(delete_element(n, "boxes", &id(gone)));
    });
    bench.sync_ok("isp");

    let api = Api::start(&bench);
    let port = |splitter: &str, number: u64| -> Value {
        let ports = api.ok(&format!("{V1}/splitters/{splitter}/ports"));
        ports
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["port"] == number)
            .unwrap()
            .clone()
    };
    assert_eq!(port(&from, from_port)["state"], "free");
    let taken = port(&to, to_port);
    assert_eq!(
        (taken["state"].as_str(), taken["property"].as_str()),
        (Some("taken"), Some(moved.as_str()))
    );
    let place = |b: &str| -> (f64, f64) {
        let b = boxes.iter().find(|x| id(x) == b).unwrap();
        (b["lat"].as_f64().unwrap(), b["lng"].as_f64().unwrap())
    };
    // The free ports offered at a box's place.
    let offered = |b: &str| -> Vec<(String, u64)> {
        let (lat, lng) = place(b);
        let near = api.ok(&format!("{V1}/ports/free?lat={lat}&lng={lng}&radius=1"));
        near.as_array()
            .unwrap()
            .iter()
            .filter(|x| x["id"] == b)
            .flat_map(|x| x["free_ports"].as_array().unwrap().clone())
            .map(|p| {
                (
                    p["splitter"].as_str().unwrap().to_string(),
                    p["port"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    assert!(offered(&box_of(&from)).contains(&(from.clone(), from_port)));
    assert!(!offered(&box_of(&to)).contains(&(to.clone(), to_port)));
    let (lat, lng) = place(&id(gone));
    let near = api.ok(&format!("{V1}/ports/free?lat={lat}&lng={lng}&radius=5000"));
    assert!(!near.as_array().unwrap().is_empty());
    assert!(
        near.as_array()
            .unwrap()
            .iter()
            .all(|b| b["id"] != id(gone).as_str())
    );
    assert_error(
        &api.get(&format!("{V1}/boxes/{}", id(gone))),
        404,
        "not_found",
    );
    api.stop();
}

fn haversine(lat: f64, lng: f64, b: &Value) -> f64 {
    let (lat2, lng2) = (b["lat"].as_f64().unwrap(), b["lng"].as_f64().unwrap());
    let (p1, p2) = (lat.to_radians(), lat2.to_radians());
    let a = ((lat2 - lat).to_radians() / 2.0).sin().powi(2)
        + p1.cos() * p2.cos() * ((lng2 - lng).to_radians() / 2.0).sin().powi(2);
    2.0 * 6_371_008.8 * a.sqrt().asin()
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[test]
fn services_are_imported_bound_confirmed_and_unbound() {
    let bench = synced();
    let splitters = bench.elements("isp", "splitter");
    let api = Api::start(&bench);
    let import = |content_type: &str, text: &str| {
        api.request(
            "POST",
            &format!("{V1}/services/import"),
            Some(TOKEN),
            Some((content_type, text.as_bytes().to_vec())),
        )
    };
    let csv = "id_cliente_servico;name;pppoe_login;onu_mac\n\
               SVC-900001;Maria da Silva;maria.silva;aa-bb-cc-dd-ee-01\n\
               SVC-900002;José Santos;jose.santos;\n\
               SVC-900003;Ana Lima;;\n";
    let imported = import("text/csv; charset=utf-8", csv);
    assert_eq!(imported.status, 200, "{}", imported.raw);
    assert_eq!(
        imported.body,
        json!({ "created": 3, "updated": 0, "unchanged": 0 })
    );
    let json_file = r#"[{"id_cliente_servico": "SVC-900003", "name": "Ana Lima Souza"}, {"id_cliente_servico": 900004}]"#;
    let imported = import("application/json", json_file);
    assert_eq!(
        imported.body,
        json!({ "created": 1, "updated": 1, "unchanged": 0 }),
        "{}",
        imported.raw
    );
    let bad = "id_cliente_servico,document,lat\n\
               SVC-1,529.982.247-24,\n\
               SVC-2,,\n\
               ,,\n\
               SVC-2,,-27.5\n";
    let refused = import("text/csv", bad);
    assert_error(&refused, 422, "invalid_file");
    let rows = refused.body["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{}", refused.raw);
    assert_eq!(rows[0]["at"], "line 2");
    assert!(
        rows[0]["reason"].as_str().unwrap().contains("CPF"),
        "{}",
        refused.raw
    );
    assert_eq!(rows[1]["at"], "line 5");
    let refused = import("application/json", "{\"not\": \"an array\"}");
    assert_error(&refused, 422, "invalid_file");
    assert_error(&import("text/plain", csv), 415, "unsupported_media_type");

    let services = api.ok(&format!("{V1}/services"));
    assert_eq!(services.as_array().unwrap().len(), 4);
    let one = api.ok(&format!("{V1}/services/SVC-900003"));
    assert_eq!(one["name"], "Ana Lima Souza");
    assert_error(
        &api.get(&format!("{V1}/services/SVC-404")),
        404,
        "not_found",
    );

    let port_in = |state: &str| ports_in_state(&splitters, state).remove(0);
    let (splitter, port) = port_in("free");
    let bind = |service: &str, splitter: &str, port: Value| {
        api.send(
            "POST",
            &format!("{V1}/bindings"),
            json!({ "service": service, "splitter": splitter, "port": port }),
        )
    };
    let bound = bind("SVC-900001", &splitter, json!(port));
    assert_eq!(bound.status, 201, "{}", bound.raw);
    assert_eq!(bound.body["state"], "pending");
    assert_eq!(
        bound.headers.get("location").unwrap(),
        &format!("{V1}/bindings/SVC-900001")
    );

    // The port is no longer offered as free.
    let near = api.ok(&format!(
        "{V1}/boxes/{}",
        bound.body["box"].as_str().unwrap()
    ));
    let listed = near["splitters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == splitter.as_str())
        .unwrap()["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["port"] == port)
        .unwrap()
        .clone();
    assert_eq!(listed["binding"]["service"], "SVC-900001");

    let again = bind("SVC-900001", &splitter, json!(port));
    assert_error(&again, 409, "conflict");
    assert!(
        again.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("already bound")
    );
    assert_error(&bind("SVC-900002", &splitter, json!(port)), 409, "conflict");
    let (taken_splitter, taken_port) = port_in("taken");
    let taken = bind("SVC-900002", &taken_splitter, json!(taken_port));
    assert_error(&taken, 409, "conflict");
    assert!(
        taken.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("taken")
    );
    assert_error(&bind("SVC-900002", "nope", json!(1)), 422, "unprocessable");
    assert_error(&bind("SVC-404", &splitter, json!(1)), 422, "unprocessable");
    let out_of_range = bind("SVC-900002", &splitter, json!(999));
    assert_error(&out_of_range, 422, "unprocessable");
    assert_eq!(
        out_of_range.body["error"]["field"], "port",
        "{}",
        out_of_range.raw
    );
    assert_error(
        &bind("SVC-900002", &splitter, json!(-1)),
        400,
        "invalid_body",
    );

    let all = api.ok(&format!("{V1}/bindings"));
    assert_eq!(all.as_array().unwrap().len(), 1);
    assert_eq!(all[0]["history"][0]["state"], "pending");
    assert_eq!(api.ok(&format!("{V1}/bindings/SVC-900001"))["port"], port);
    assert_error(
        &api.get(&format!("{V1}/bindings/SVC-900002")),
        404,
        "not_found",
    );

    let confirmed = api.post(&format!("{V1}/bindings/SVC-900001/confirm"));
    assert_eq!(confirmed.status, 200, "{}", confirmed.raw);
    assert_eq!(confirmed.body["state"], "pushed", "{}", confirmed.raw);
    assert!(confirmed.body["platform_property"].is_string());
    assert_error(
        &api.post(&format!("{V1}/bindings/SVC-900001/confirm")),
        409,
        "conflict",
    );
    // Pushed, it is on the platform: moved only when asked, by moving its
    // property there.
    let pushed_property = confirmed.body["platform_property"].clone();
    let (to_splitter, to_port) = ports_in_state(&splitters, "free")
        .into_iter()
        .find(|(s, p)| (s, *p) != (&splitter, port))
        .unwrap();
    let refused = bind("SVC-900001", &to_splitter, json!(to_port));
    assert_error(&refused, 409, "conflict");
    let moving = api.send(
        "POST",
        &format!("{V1}/bindings"),
        json!({ "service": "SVC-900001", "splitter": to_splitter, "port": to_port, "move": true }),
    );
    assert_eq!(moving.status, 201, "{}", moving.raw);
    assert_eq!(moving.body["moving_property"], pushed_property);
    let moved = api.post(&format!("{V1}/bindings/SVC-900001/confirm"));
    assert_eq!(moved.body["state"], "pushed", "{}", moved.raw);
    assert_eq!(moved.body["platform_property"], pushed_property);
    assert_eq!(moved.body["port"], to_port);
    assert_error(
        &api.post(&format!("{V1}/bindings/SVC-900002/confirm")),
        404,
        "not_found",
    );

    let unbound = api.request(
        "DELETE",
        &format!("{V1}/bindings/SVC-900001"),
        Some(TOKEN),
        None,
    );
    assert_eq!(unbound.status, 200, "{}", unbound.raw);
    assert_eq!(unbound.body["unbound"], true);
    assert_error(
        &api.request(
            "DELETE",
            &format!("{V1}/bindings/SVC-900001"),
            Some(TOKEN),
            None,
        ),
        404,
        "not_found",
    );

    let report = api.ok(&format!("{V1}/identification"));
    assert_eq!(report["counts"]["services_without_client"], 4, "{report}");
    assert!(report["counts"]["clients_without_code"].as_u64().unwrap() > 0);
    api.stop();
}

#[test]
fn an_integration_is_linked_and_removed_from_its_project_over_http_as_with_the_cli() {
    let bench = Bench::new();
    bench.add_unlinked("isp", PASSWORD, &[], &[]);
    bench.add_unlinked("other", PASSWORD, &[], &[]);
    bench.add_unlinked("third", PASSWORD, &[], &[]);
    let api = Api::start(&bench);
    let projects = format!("{V1}/projects");

    let created = api.send("POST", &projects, json!({ "name": "Centro" }));
    assert_eq!(created.status, 201, "{}", created.raw);
    assert_eq!(created.body["name"], "Centro");
    assert_eq!(created.body["integration"], Value::Null);
    let again = api.send("POST", &projects, json!({ "name": "Centro" }));
    assert_error(&again, 409, "conflict");
    assert!(again.raw.contains("already exists"), "{}", again.raw);
    assert_error(
        &api.send("POST", &projects, json!({ "name": "  " })),
        400,
        "bad_request",
    );
    assert_error(
        &api.send("POST", &projects, json!({ "nome": "x" })),
        400,
        "invalid_body",
    );

    let link =
        |name: &str, body: Value| api.send("POST", &format!("{V1}/integrations/{name}/link"), body);
    assert_error(&link("isp", json!({})), 400, "bad_request");
    assert_error(
        &link("isp", json!({ "existing": "Centro", "new": "Norte" })),
        400,
        "bad_request",
    );
    let unknown = link("isp", json!({ "existing": "Norte" }));
    assert_error(&unknown, 422, "unprocessable");
    assert!(
        unknown.raw.contains("\\\"Centro\\\""),
        "lists the projects: {}",
        unknown.raw
    );
    assert_error(
        &link("nope", json!({ "existing": "Centro" })),
        404,
        "not_found",
    );

    let linked = link("isp", json!({ "existing": "Centro" }));
    assert_eq!(linked.status, 200, "{}", linked.raw);
    assert_eq!(linked.body["name"], "isp");
    assert_eq!(linked.body["project"], "Centro");
    assert_eq!(linked.body["synchronising"], true);
    // An integration feeds one project, a project has one integration.
    assert_error(&link("isp", json!({ "new": "Norte" })), 409, "conflict");
    assert_error(
        &link("other", json!({ "existing": "Centro" })),
        409,
        "conflict",
    );
    assert_error(&link("other", json!({ "new": "Centro" })), 409, "conflict");
    let linked = link("other", json!({ "new": "Zona Sul" }));
    assert_eq!(linked.status, 200, "{}", linked.raw);
    assert_eq!(linked.body["project"], "Zona Sul");
    let listed: Vec<(Value, Value)> = api
        .ok(&projects)
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].clone(), p["integration"].clone()))
        .collect();
    assert_eq!(
        listed,
        [
            (json!("Centro"), json!("isp")),
            (json!("Zona Sul"), json!("other"))
        ]
    );

    let remove = |project: &str| {
        api.request(
            "DELETE",
            &format!("{V1}/projects/{}/integration", urlencode(project)),
            Some(TOKEN),
            None,
        )
    };
    let removed = remove("Zona Sul");
    assert_eq!(removed.status, 200, "{}", removed.raw);
    assert_eq!(removed.body["removed"], "other");
    assert_eq!(removed.body["project"]["name"], "Zona Sul");
    assert_eq!(removed.body["project"]["integration"], Value::Null);
    assert_error(&remove("Zona Sul"), 409, "conflict");
    assert_error(&remove("Norte"), 404, "not_found");
    let other = api.ok(&format!("{V1}/integrations/other"));
    assert_eq!(other["synchronising"], false);
    assert_eq!(other["project"], Value::Null);
    // The elements "other" brought stay the project's: no other
    // integration may feed it (a 409, where the store's index once made it
    // a 500).
    let taken = link("third", json!({ "existing": "Zona Sul" }));
    assert_error(&taken, 409, "conflict");
    assert!(taken.raw.contains("was removed from it"), "{}", taken.raw);
    // Linked again, it synchronises again.
    let relinked = link("other", json!({ "existing": "Zona Sul" }));
    assert_eq!(relinked.status, 200, "{}", relinked.raw);
    assert_eq!(relinked.body["synchronising"], true);
    api.stop();
}

#[test]
fn bad_requests_get_the_error_shape_and_the_daemon_keeps_serving() {
    let bench = synced();
    let api = Api::start(&bench);
    let post_raw = |path: &str, content_type: &str, body: &[u8]| {
        api.request(
            "POST",
            path,
            Some(TOKEN),
            Some((content_type, body.to_vec())),
        )
    };
    let integrations = format!("{V1}/integrations");
    let malformed = post_raw(&integrations, "application/json", b"{\"name\": \"x\",");
    assert_error(&malformed, 400, "invalid_json");

    let mut fields = json!({
        "name": "x", "api_url": "http://127.0.0.1:1", "api_key": "k", "user": "u", "password": "p",
    });
    fields["colour"] = json!("blue");
    let unknown = api.send("POST", &integrations, fields.clone());
    assert_error(&unknown, 400, "invalid_body");
    assert!(
        unknown.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("colour"),
        "{}",
        unknown.raw
    );

    fields.as_object_mut().unwrap().remove("colour");
    fields["password"] = json!(987654321);
    let wrong_type = api.send("POST", &integrations, fields.clone());
    assert_error(&wrong_type, 400, "invalid_body");
    let message = wrong_type.body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("password") && !message.contains("987654321"),
        "{message}"
    );

    fields.as_object_mut().unwrap().remove("password");
    let missing = api.send("POST", &integrations, fields);
    assert_error(&missing, 400, "invalid_body");
    assert!(missing.raw.contains("password"), "{}", missing.raw);

    assert_error(
        &post_raw(&integrations, "", b"{}"),
        415,
        "unsupported_media_type",
    );
    assert_error(
        &post_raw(&integrations, "text/plain", b"{}"),
        415,
        "unsupported_media_type",
    );

    // A body over the limit is refused on its announced length, before it
    // is sent: over HTTP/1.1 a client that sends it anyway may not get to
    // read the answer once the server stops reading.
    let post_huge = |path: &str, content_type: &str, body: String| {
        api.request_with(
            "POST",
            path,
            Some(TOKEN),
            &[("Expect", "100-continue")],
            Some((content_type, body.into_bytes())),
        )
    };
    let huge = format!("{{\"name\": \"{}\"}}", "x".repeat(2 << 20));
    assert_error(
        &post_huge(&integrations, "application/json", huge),
        413,
        "payload_too_large",
    );
    // The services import takes up to 16 MiB: a 2 MiB file is read (and its
    // one bad row reported), a 17 MiB one is not.
    let import = format!("{V1}/services/import");
    let big_csv = format!("id_cliente_servico,address\n,{}\n", "r".repeat(2 << 20));
    assert_error(
        &post_huge(&import, "text/csv", big_csv),
        422,
        "invalid_file",
    );
    let too_big = format!("id_cliente_servico,address\nA,{}\n", "r".repeat(17 << 20));
    assert_error(
        &post_huge(&import, "text/csv", too_big),
        413,
        "payload_too_large",
    );

    assert_error(
        &api.get(&format!("{V1}/integrations/nope")),
        404,
        "not_found",
    );
    assert_error(
        &api.post(&format!("{V1}/integrations/nope/sync")),
        404,
        "not_found",
    );
    assert_error(
        &api.get(&format!("{V1}/integrations/nope/runs")),
        404,
        "not_found",
    );
    assert_error(&api.get(&format!("{V1}/runs/abc")), 400, "bad_request");
    assert_error(&api.get(&format!("{V1}/runs/99999")), 404, "not_found");
    assert_error(
        &api.get(&format!("{V1}/integrations/isp/runs?limit=0")),
        400,
        "bad_request",
    );
    assert_error(
        &api.get(&format!("{V1}/integrations/isp/runs?limit=x")),
        400,
        "bad_request",
    );
    assert_error(
        &api.get(&format!("{V1}/ports/free?lat=100&lng=0")),
        400,
        "bad_request",
    );
    assert_error(
        &api.get(&format!("{V1}/ports/free?lat=0&lng=0&radius=5001")),
        400,
        "bad_request",
    );
    assert_error(
        &api.get(&format!("{V1}/ports/free?lat=0&lng=0&radius=-1")),
        400,
        "bad_request",
    );
    assert_error(
        &api.get(&format!("{V1}/ports/free?lng=0")),
        400,
        "bad_request",
    );
    let unknown_param = api.get(&format!("{V1}/ports/free?lat=0&lng=0&radios=10"));
    assert_error(&unknown_param, 400, "bad_request");
    assert!(
        unknown_param.raw.contains("radios"),
        "{}",
        unknown_param.raw
    );
    assert_error(&api.get(&format!("{V1}/nowhere")), 404, "not_found");
    assert_error(
        &api.request("PUT", &integrations, Some(TOKEN), None),
        405,
        "method_not_allowed",
    );

    // Integers as JSON Schema has them: 30.0 is 30, 30.5 is no integer; a
    // field the document does not call nullable refuses null.
    let isp = format!("{V1}/integrations/isp");
    let whole = api.send("PATCH", &isp, json!({ "refresh_every": 30.0 }));
    assert_eq!(whole.status, 200, "{}", whole.raw);
    assert_eq!(whole.body["refresh_every"], 30);
    assert_error(
        &api.send("PATCH", &isp, json!({ "refresh_every": 30.5 })),
        400,
        "invalid_body",
    );
    assert_error(
        &api.send("PATCH", &isp, json!({ "user": null, "refresh_every": 15 })),
        400,
        "invalid_body",
    );
    // The sync's optional body is limited as every other, in the error shape.
    assert_error(
        &post_huge(
            &format!("{V1}/integrations/isp/sync"),
            "application/json",
            " ".repeat(2 << 20),
        ),
        413,
        "payload_too_large",
    );

    // Still serving, and nothing was added by the refused requests.
    let all = api.ok(&integrations);
    assert_eq!(all.as_array().unwrap().len(), 1);
    assert_eq!(
        api.ok(&format!("{V1}/services")).as_array().unwrap().len(),
        0
    );
    api.stop();
}

#[test]
fn a_sync_on_demand_runs_in_the_background_and_a_second_is_refused() {
    let bench = synced();
    bench.add_unlinked("unlinked", PASSWORD, &[], &[]);
    let api = Api::start(&bench);
    // Slow answers keep the run going long enough to be seen running.
    bench
        .server
        .inject("", Fault::Slow(Duration::from_millis(300)), 20);

    let started = api.post(&format!("{V1}/integrations/isp/sync"));
    assert_eq!(started.status, 202, "{}", started.raw);
    let run_id = started.body["run_id"].as_i64().unwrap();
    let status_url = started.body["status_url"].as_str().unwrap().to_string();
    assert_eq!(status_url, format!("{V1}/runs/{run_id}"));

    let second = api.post(&format!("{V1}/integrations/isp/sync"));
    assert_error(&second, 409, "already_running");
    assert_eq!(second.body["progress"]["run_id"], run_id, "{}", second.raw);
    assert_eq!(second.body["progress"]["integration"], "isp");

    let running = api.ok(&status_url);
    assert_eq!(running["id"], run_id);
    assert_eq!(running["trigger"], "api");
    if running["outcome"] == "running" {
        assert_eq!(running["progress"]["run_id"], run_id, "{running}");
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    let finished = loop {
        let run = api.ok(&status_url);
        if run["outcome"] != "running" {
            break run;
        }
        assert!(Instant::now() < deadline, "the run did not end: {run}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(finished["outcome"], "succeeded", "{finished}");
    assert_eq!(finished["report"]["status"], "succeeded");
    assert!(finished["ended_at"].is_string());
    assert!(finished.get("progress").is_none());

    let history = api.ok(&format!("{V1}/integrations/isp/runs?limit=5"));
    let ids: Vec<i64> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids.len(), 2, "the CLI's run and this one: {history}");
    assert_eq!(ids[0], run_id, "newest first");
    assert!(ids[1] < ids[0]);
    assert_eq!(
        api.ok(&format!("{V1}/integrations/isp/runs?limit=1"))
            .as_array()
            .unwrap()
            .len(),
        1
    );

    let refused = api.post(&format!("{V1}/integrations/unlinked/sync"));
    assert_error(&refused, 409, "conflict");
    assert!(
        refused.raw.contains("feeds no mapping project"),
        "{}",
        refused.raw
    );

    // A new one may start once the first has ended.
    let again = api.post(&format!("{V1}/integrations/isp/sync"));
    assert_eq!(again.status, 202, "{}", again.raw);
    api.stop();
}

#[test]
fn the_openapi_document_describes_every_route() {
    let bench = Bench::new();
    let api = Api::start(&bench);
    let doc = api.ok(&format!("{V1}/openapi.json"));
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    for (path, methods) in [
        ("/integrations", &["get", "post"][..]),
        ("/integrations/{name}", &["get", "patch", "delete"]),
        ("/integrations/{name}/test", &["post"]),
        ("/integrations/{name}/sync", &["post"]),
        ("/integrations/{name}/runs", &["get"]),
        ("/runs/{id}", &["get"]),
        ("/integrations/{name}/link", &["post"]),
        ("/projects", &["get", "post"]),
        ("/projects/{name}/integration", &["delete"]),
        ("/boxes", &["get"]),
        ("/boxes/{id}", &["get"]),
        ("/splitters/{id}/ports", &["get"]),
        ("/ports/free", &["get"]),
        ("/services/import", &["post"]),
        ("/services", &["get"]),
        ("/services/{id}", &["get"]),
        ("/bindings", &["get", "post"]),
        ("/bindings/{service}", &["get", "delete"]),
        ("/bindings/{service}/confirm", &["post"]),
        ("/identification", &["get"]),
        ("/matches", &["get"]),
        ("/matches/{id}/accept", &["post"]),
        ("/matches/{id}/reject", &["post"]),
    ] {
        for method in methods {
            assert!(
                paths[path].get(*method).is_some(),
                "{method} {path} is not described"
            );
        }
    }
    assert!(doc["components"]["schemas"]["Error"]["properties"]["error"].is_object());

    // The running router agrees: each method described on a path reaches
    // a handler (whatever it answers, not the router's own 404 or 405), and
    // each other method is refused with 405. The store is empty, so no
    // request here changes anything.
    for (path, item) in paths {
        let concrete = path
            .split('/')
            .map(|segment| match segment.starts_with('{') {
                true => "1",
                false => segment,
            })
            .collect::<Vec<_>>()
            .join("/");
        let url = format!("{V1}{concrete}");
        for method in ["get", "post", "put", "patch", "delete"] {
            let answer = api.request(&method.to_uppercase(), &url, Some(TOKEN), None);
            if item.get(method).is_some() {
                assert!(
                    answer.status != 405 && !answer.raw.contains("there is no such route"),
                    "{method} {path} is described and not served: {}",
                    answer.raw
                );
            } else {
                assert_eq!(
                    answer.status, 405,
                    "{method} {path} is served and not described: {}",
                    answer.raw
                );
            }
        }
    }
    api.stop();
}

/// The run a `POST .../sync` started, once it ended.
fn ended(api: &Api, started: &Answer) -> Value {
    assert_eq!(started.status, 202, "{}", started.raw);
    let status_url = started.body["status_url"].as_str().unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let run = api.ok(status_url);
        if run["outcome"] != "running" {
            return run;
        }
        assert!(Instant::now() < deadline, "the run did not end: {run}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn the_scope_is_set_and_held_removals_are_confirmed_over_http() {
    let bench = synced();
    let api = Api::start(&bench);
    let path = format!("{V1}/integrations/isp");
    let shown = api.ok(&path);
    assert_eq!(shown["max_removal_percent"], 20);
    assert_eq!(
        shown["kinds"],
        json!(["pole", "box", "splitter", "client", "property"])
    );
    let changed = api.send("PATCH", &path, json!({ "max_removal_percent": 5 }));
    assert_eq!(changed.status, 200, "{}", changed.raw);
    assert_eq!(changed.body["max_removal_percent"], 5);
    let refused = api.send("PATCH", &path, json!({ "kinds": ["pole", "cable"] }));
    assert_error(&refused, 400, "bad_request");
    assert!(
        refused.raw.contains("kinds: \\\"cable\\\""),
        "{}",
        refused.raw
    );

    let gone = bench.server.with_network(|n| {
        let poles = n.collection_mut("poles");
        let removed = poles.len() - 5;
        poles.truncate(5);
        removed
    });
    assert!(gone >= 10, "{gone}");
    let sync = format!("{path}/sync");
    let held = ended(&api, &api.post(&sync));
    assert_eq!(held["outcome"], "failed", "{held}");
    assert_eq!(held["report"]["held_removals"][0]["kind"], "pole", "{held}");
    assert!(held["error"].as_str().unwrap().contains("removals held"));

    let bad = api.send("POST", &sync, json!({ "allow": true }));
    assert_error(&bad, 400, "invalid_body");
    let allowed = ended(
        &api,
        &api.send("POST", &sync, json!({ "allow_removals": true })),
    );
    assert_eq!(allowed["outcome"], "succeeded", "{allowed}");
    assert!(
        allowed["report"]["kinds"]["pole"]["removed"]
            .as_u64()
            .unwrap()
            >= 10
    );
    assert_eq!(allowed["report"]["full_reason"], Value::Null, "{allowed}");

    // A full sync on demand, and how often one runs anyway.
    assert_eq!(shown["full_sync_hours"], 168);
    let weekly = api.send("PATCH", &path, json!({ "full_sync_hours": 0 }));
    assert_error(&weekly, 400, "bad_request");
    assert!(weekly.raw.contains("full_sync_hours"), "{}", weekly.raw);
    let daily = api.send("PATCH", &path, json!({ "full_sync_hours": 24 }));
    assert_eq!(daily.body["full_sync_hours"], 24, "{}", daily.raw);
    let full = ended(&api, &api.send("POST", &sync, json!({ "full": true })));
    assert_eq!(
        full["report"]["full_reason"], "a full sync was asked for",
        "{full}"
    );
    api.stop();
}

#[test]
fn matches_are_listed_and_decided_over_http() {
    let bench = synced();
    // A service whose ONU serial only a client without a code carries.
    let client = crate::common::valid_docs(&bench, "ftth-clients")
        .into_iter()
        .find(|c| c["code"].as_str().unwrap_or_default().is_empty())
        .unwrap();
    let serial = client["onu"]["serial_number"]
        .as_str()
        .unwrap()
        .to_lowercase();
    let csv = format!("id_cliente_servico,name,onu_serial\nSVC-700001,Alguém,{serial}\n");
    let api = Api::start(&bench);
    let imported = api.request(
        "POST",
        &format!("{V1}/services/import"),
        Some(TOKEN),
        Some(("text/csv", csv.into_bytes())),
    );
    assert_eq!(imported.status, 200, "{}", imported.raw);
    let found = api.ok(&format!("{V1}/matches"));
    let m = found
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["service"] == "SVC-700001")
        .unwrap_or_else(|| panic!("{found:#}"))
        .clone();
    assert_eq!(m["client"], client["id"]);
    assert_eq!(m["agreed"], json!(["onu_serial"]));
    let bad = api.get(&format!("{V1}/matches?min_score=2"));
    assert_error(&bad, 400, "bad_request");
    let unknown = api.post(&format!("{V1}/matches/nope/accept"));
    assert_error(&unknown, 404, "not_found");
    let rejected = api.post(&format!(
        "{V1}/matches/{}/reject",
        m["id"].as_str().unwrap()
    ));
    assert_eq!(rejected.status, 200, "{}", rejected.raw);
    let after = api.ok(&format!("{V1}/matches?min_score=0"));
    assert!(
        after.as_array().unwrap().iter().all(|x| x["id"] != m["id"]),
        "{after:#}"
    );
    api.stop();
}

/// `serve` reads what changed every `refresh-every` minutes beside the
/// daily sync (default 15; set by the CLI's `integration set` or the API;
/// 0 turns it off): a refresh tick starts an incremental sync that brings
/// a change made on the platform, and `integration show` and the API say
/// when the integration was last fresh.
#[test]
fn serve_refreshes_what_changed_every_few_minutes() {
    let bench = Bench::new();
    bench.add_unlinked("isp", PASSWORD, &[], &[]);
    let shown: Value =
        serde_json::from_str(&bench.ok(&["integration", "show", "isp", "--json"])).unwrap();
    assert_eq!(shown["refresh_every"], 15, "{shown:#}");
    assert_eq!(shown["last_fresh_at"], Value::Null, "{shown:#}");
    bench.link("isp", &[]);
    // Synchronised just now: `serve` catches nothing up at start.
    bench.sync_ok("isp");
    let refused = bench.fails(&["integration", "set", "isp", "--refresh-every", "1441"]);
    assert!(
        refused.contains("--refresh-every") && refused.contains("1440"),
        "{refused}"
    );
    let set = bench.ok(&["integration", "set", "isp", "--refresh-every", "0"]);
    assert!(set.contains("refresh_every        0"), "{set}");
    let fresh_before: Value =
        serde_json::from_str(&bench.ok(&["integration", "show", "isp", "--json"])).unwrap();
    let fresh_before = fresh_before["last_fresh_at"].as_str().unwrap().to_string();
    assert!(
        bench
            .ok(&["integration", "show", "isp"])
            .contains(&fresh_before)
    );

    // A change on the platform, for the refresh to bring.
    let (box_id, renamed) = bench.server.with_network(|n| {
        let doc = n.collection_mut("boxes").get_mut(0).unwrap();
        doc["name"] = json!("renamed for the refresh");
        crate::common::touch(doc);
        (crate::common::id(doc), doc["name"].clone())
    });
    let api = Api::start(&bench);
    let path = format!("{V1}/integrations/isp");
    let refused = api.send("PATCH", &path, json!({ "refresh_every": 2000 }));
    assert_eq!(refused.status, 400, "{}", refused.raw);
    assert!(refused.raw.contains("refresh_every"), "{}", refused.raw);
    let changed = api.send("PATCH", &path, json!({ "refresh_every": 1 }));
    assert_eq!(changed.status, 200, "{}", changed.raw);
    assert_eq!(changed.body["refresh_every"], 1, "{}", changed.raw);
    assert_eq!(
        changed.body["last_fresh_at"],
        fresh_before.as_str(),
        "{}",
        changed.raw
    );
    // The next minute's slot.
    crate::common::wait_for_within("a refresh tick", Duration::from_secs(100), || {
        runs(&bench)
            .iter()
            .any(|r| r["trigger"] == "refresh" && r["outcome"] == "succeeded")
    });
    let shown = api.ok(&path);
    let fresh = shown["last_fresh_at"].as_str().unwrap();
    assert!(fresh > fresh_before.as_str(), "{shown:#}");
    api.stop();
    let refresh = runs(&bench)
        .into_iter()
        .find(|r| r["trigger"] == "refresh")
        .unwrap();
    // What changed, not everything.
    assert_eq!(refresh["report"]["full_reason"], Value::Null, "{refresh:#}");
    let stored = bench.elements("isp", "box");
    let found = stored.iter().find(|b| b["id"] == box_id.as_str()).unwrap();
    assert_eq!(found["name"], renamed, "{found:#}");
}

fn runs(bench: &Bench) -> Vec<Value> {
    serde_json::from_str(&bench.ok(&["runs", "--json"])).unwrap()
}

/// The API's doors, as the CLI's (`doors.rs`): names that are terminal
/// commands and plain http to a public address refused, a refused import
/// answered with at most 100 rows and its count (every one as CSV with
/// `?report=csv`), an 8,000 character name not echoed back whole.
#[test]
fn the_api_doors_are_bounded_and_strict() {
    let bench = Bench::new();
    let api = Api::start(&bench);
    for name in ["Proj\u{1b}[2J", "a\nerror: forged", "x\u{202E}y"] {
        let answer = api.send("POST", &format!("{V1}/projects"), json!({ "name": name }));
        assert!(matches!(answer.status, 400 | 422), "{}", answer.raw);
        assert!(answer.raw.contains("control character"), "{}", answer.raw);
        assert_eq!(answer.body["error"]["field"], "name", "{}", answer.raw);
    }
    let add = |name: &str, url: &str, insecure: Option<bool>| {
        let mut body = json!({
            "name": name, "api_url": url, "api_key": API_KEY, "user": USER, "password": PASSWORD,
        });
        if let Some(insecure) = insecure {
            body["insecure_http"] = json!(insecure);
        }
        api.send("POST", &format!("{V1}/integrations"), body)
    };
    let refused = add("public", "http://203.0.113.7:9994", None);
    assert_error(&refused, 400, "bad_request");
    assert!(refused.raw.contains("https://"), "{}", refused.raw);
    assert_eq!(refused.body["error"]["field"], "api_url", "{}", refused.raw);
    let taken = add("public", "http://203.0.113.7:9994", Some(true));
    assert_eq!(taken.status, 201, "{}", taken.raw);
    assert_eq!(taken.body["insecure_http"], true, "{}", taken.raw);
    let changed = api.send(
        "PATCH",
        &format!("{V1}/integrations/public"),
        json!({ "insecure_http": false }),
    );
    assert_error(&changed, 400, "bad_request");

    // A body is an object: serde alone would read a struct from an array.
    for (method, path, body) in [
        ("POST", "integrations/public/sync", json!([])),
        ("PATCH", "integrations/public", json!(["https://x.y"])),
        ("POST", "projects", json!(["Centro"])),
    ] {
        let answer = api.send(method, &format!("{V1}/{path}"), body);
        assert_error(&answer, 400, "invalid_body");
    }
    // The api_url's plain form, as the document's pattern gives it.
    for url in [
        "https://x_y.z",
        "https:\\\\x.y",
        "https://[::1]:9994",
        "https://0x7f.1",
    ] {
        let refused = add("odd", url, None);
        assert_error(&refused, 400, "bad_request");
        assert_eq!(refused.body["error"]["field"], "api_url", "{}", refused.raw);
    }

    // Kinds that do not fit the project named in the same body are bad
    // input; kinds that do not fit the project stored are a conflict.
    let mut scoped = json!({
        "name": "scoped", "api_url": "http://127.0.0.1:9", "api_key": API_KEY, "user": USER,
        "password": PASSWORD, "project_name": "Centro", "kinds": ["pole", "client"],
    });
    let refused = api.send("POST", &format!("{V1}/integrations"), scoped.clone());
    assert_error(&refused, 400, "bad_request");
    scoped["kinds"] = json!(["pole", "client", "property"]);
    assert_eq!(
        api.send("POST", &format!("{V1}/integrations"), scoped)
            .status,
        201
    );
    let conflict = api.send(
        "PATCH",
        &format!("{V1}/integrations/scoped"),
        json!({ "kinds": ["pole", "client"] }),
    );
    assert_error(&conflict, 409, "conflict");
    assert!(conflict.raw.contains("Centro"), "{}", conflict.raw);

    let long = "n".repeat(8000);
    let missing = api.get(&format!("{V1}/integrations/{long}"));
    assert_error(&missing, 404, "not_found");
    assert!(missing.raw.len() < 400, "{}", missing.raw);

    let mut csv = String::from("id_cliente_servico;onu_mac\n");
    for n in 0..3000 {
        csv.push_str(&format!("SVC-{n};not-a-mac\n"));
    }
    let import = |query: &str| {
        api.request(
            "POST",
            &format!("{V1}/services/import{query}"),
            Some(TOKEN),
            Some(("text/csv", csv.clone().into_bytes())),
        )
    };
    let refused = import("");
    assert_error(&refused, 422, "invalid_file");
    assert_eq!(refused.body["rows"].as_array().unwrap().len(), 100);
    assert_eq!(refused.body["bad_rows"], 3000, "{}", refused.raw);
    assert!(refused.raw.contains("report=csv"), "{}", refused.raw);
    let report = import("?report=csv");
    assert_eq!(report.status, 422);
    assert!(
        report.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv"),
        "{:?}",
        report.headers
    );
    let mut rows = csv::Reader::from_reader(report.raw.as_bytes());
    assert_eq!(rows.headers().unwrap(), vec!["at", "reason"]);
    let rows: Vec<csv::StringRecord> = rows.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 3000);
    assert_eq!(&rows[2999][0], "line 3001");
    assert!(rows[0][1].contains("is not a MAC address"), "{:?}", rows[0]);
    assert_error(&import("?report=pdf"), 400, "bad_request");
    assert_eq!(api.ok(&format!("{V1}/services")), json!([]));
    api.stop();
}
