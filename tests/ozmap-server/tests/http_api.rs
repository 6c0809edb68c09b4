//! The read routes, authentication and pagination over real HTTP.

mod common;

use std::collections::HashSet;

use common::{KEY, enc, get, send};
use ozmap_test_server::{GeneratorConfig, ServerConfig, TestServer, generate};
use serde_json::{Value, json};

fn server(config: ServerConfig) -> TestServer {
    TestServer::start(config, generate(&GeneratorConfig::small())).expect("server starts")
}

#[test]
fn api_key_is_checked() {
    let s = server(ServerConfig::default());
    let ok = get(s.addr(), "/api/v2/projects");
    assert_eq!(ok.status, 200);
    assert_eq!(ok.json()["total"], 3);

    let wrong = send(s.addr(), "GET", "/api/v2/projects", Some("nope"), None).unwrap();
    assert_eq!(wrong.status, 401);
    assert!(wrong.json()["message"].is_string());
    let none = send(s.addr(), "GET", "/api/v2/projects", None, None).unwrap();
    assert_eq!(none.status, 401);
    let bearer = format!("Bearer {KEY}");
    let with_scheme = send(s.addr(), "GET", "/api/v2/projects", Some(&bearer), None).unwrap();
    assert_eq!(
        with_scheme.status, 401,
        "OZmap takes the raw key, no scheme"
    );

    assert_eq!(get(s.addr(), "/api/v2/authenticated").status, 200);
    let unauth = send(s.addr(), "GET", "/api/v2/authenticated", Some("x"), None).unwrap();
    assert_eq!(unauth.status, 401);

    let keyless = server(ServerConfig {
        api_key: None,
        ..ServerConfig::default()
    });
    assert_eq!(get(keyless.addr(), "/api/v2/projects").status, 401);
}

fn login(s: &TestServer, password: &str) -> common::Reply {
    let body = json!({"login": "mapsync", "password": password}).to_string();
    send(
        s.addr(),
        "POST",
        "/api/v2/users/login?type=API",
        None,
        Some(&body),
    )
    .unwrap()
}

#[test]
fn login_tokens_expire_after_their_requests() {
    let s = server(ServerConfig {
        api_key: None,
        token_ttl_requests: Some(2),
        ..ServerConfig::default()
    });
    assert_eq!(login(&s, "wrong").status, 401);
    assert_eq!(s.logins(), 0);

    let token = login(&s, "secret").json()["authorization"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(s.logins(), 1);
    for _ in 0..2 {
        let r = send(s.addr(), "GET", "/api/v2/boxes?limit=1", Some(&token), None).unwrap();
        assert_eq!(r.status, 200);
    }
    let expired = send(s.addr(), "GET", "/api/v2/boxes?limit=1", Some(&token), None).unwrap();
    assert_eq!(expired.status, 401);

    let fresh = login(&s, "secret").json()["authorization"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(fresh, token);
    let r = send(s.addr(), "GET", "/api/v2/authenticated", Some(&fresh), None).unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(s.logins(), 2);
    let logged = &s.requests()[0];
    assert_eq!(logged.method, "POST");
    assert_eq!(logged.path, "/api/v2/users/login");
    assert_eq!(logged.query, "type=API");
}

/// Follows `nextUrl` to the end and returns the ids seen.
fn walk_next_url(s: &TestServer, first: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut target = first.to_owned();
    loop {
        let page = get(s.addr(), &target).json();
        assert_eq!(
            page["count"].as_u64().unwrap() as usize,
            page["rows"].as_array().unwrap().len()
        );
        assert_eq!(page["start"].as_u64().unwrap() as usize, ids.len());
        ids.extend(
            page["rows"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["id"].as_str().unwrap().to_owned()),
        );
        if page["hasNextPage"] != json!(true) {
            assert!(page["nextUrl"].is_null());
            return ids;
        }
        target = page["nextUrl"].as_str().unwrap().to_owned();
    }
}

#[test]
fn pages_follow_next_url_and_cap_the_limit() {
    let s = server(ServerConfig {
        max_page_size: 7,
        ..ServerConfig::default()
    });
    let expected: Vec<String> = s.with_network(|n| {
        n.poles
            .iter()
            .map(|p| p["id"].as_str().unwrap().to_owned())
            .collect()
    });
    let ids = walk_next_url(&s, "/api/v2/poles?limit=5");
    assert_eq!(ids, expected, "insertion order, nothing missed or repeated");

    let capped = get(s.addr(), "/api/v2/poles?limit=500&page=2").json();
    assert_eq!(capped["limit"], 7);
    assert_eq!(capped["start"], 7);
    assert_eq!(capped["count"], 7);
    let next = capped["nextUrl"].as_str().unwrap();
    assert!(
        next.contains("page=3") && next.contains("limit=7"),
        "{next}"
    );

    let beyond = get(s.addr(), "/api/v2/poles?page=99").json();
    assert_eq!(beyond["count"], 0);
    assert_eq!(beyond["hasNextPage"], false);
    assert_eq!(get(s.addr(), "/api/v2/poles?page=abc").status, 400);
}

#[test]
fn legacy_pages_omit_has_next_page_and_next_url() {
    let s = server(ServerConfig {
        legacy_pagination: true,
        ..ServerConfig::default()
    });
    let total = s.with_network(|n| n.boxes.len());
    let mut seen = 0;
    for page in 1.. {
        let body = get(s.addr(), &format!("/api/v2/boxes?page={page}&limit=6")).json();
        let obj = body.as_object().unwrap();
        assert!(!obj.contains_key("hasNextPage") && !obj.contains_key("nextUrl"));
        assert_eq!(body["total"].as_u64().unwrap() as usize, total);
        seen += body["count"].as_u64().unwrap() as usize;
        if body["start"].as_u64().unwrap() + body["count"].as_u64().unwrap() >= total as u64 {
            break;
        }
    }
    assert_eq!(seen, total);
}

fn a_client_code(s: &TestServer) -> (String, String) {
    s.with_network(|n| {
        let c = n
            .ftth_clients
            .iter()
            .find(|c| c["code"].as_str().is_some_and(|c| c.starts_with("SVC-")))
            .unwrap();
        (
            c["id"].as_str().unwrap().to_owned(),
            c["code"].as_str().unwrap().to_owned(),
        )
    })
}

#[test]
fn filters_in_the_query_string_and_in_the_body() {
    let s = server(ServerConfig::default());
    let (id, code) = a_client_code(&s);
    let filter = json!([{"property": "code", "operator": "=", "value": code}]).to_string();

    let by_query = get(
        s.addr(),
        &format!("/api/v2/ftth-clients?filter={}", enc(&filter)),
    )
    .json();
    assert_eq!(by_query["total"], 1);
    assert_eq!(by_query["rows"][0]["id"], json!(id));

    let body = json!({"filter": serde_json::from_str::<Value>(&filter).unwrap()}).to_string();
    let by_body = send(
        s.addr(),
        "GET",
        "/api/v2/ftth-clients",
        Some(KEY),
        Some(&body),
    )
    .unwrap();
    assert_eq!(by_body.json()["rows"][0]["id"], json!(id));

    // A nested array is an OR group; top-level conditions are ANDed.
    let either = json!([[{"property": "id", "operator": "=", "value": id},
                         {"property": "code", "operator": "=", "value": "no-such-code"}]]);
    let r = get(
        s.addr(),
        &format!("/api/v2/ftth-clients?filter={}", enc(&either.to_string())),
    )
    .json();
    assert_eq!(r["total"], 1);

    let like = json!([{"property": "code", "operator": "like", "value": "^svc-0000"}]);
    let r = get(
        s.addr(),
        &format!(
            "/api/v2/ftth-clients?filter={}&limit=1000",
            enc(&like.to_string())
        ),
    )
    .json();
    assert!(r["total"].as_u64().unwrap() > 1);
    assert!(
        r["rows"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["code"].as_str().unwrap().starts_with("SVC-0000"))
    );

    let drops = json!([{"property": "isDrop", "operator": "=", "value": true},
                       {"property": "ratio.output", "operator": "in", "value": [8, 16]}]);
    let r = get(
        s.addr(),
        &format!(
            "/api/v2/splitters?filter={}&limit=1000",
            enc(&drops.to_string())
        ),
    )
    .json();
    assert!(
        r["rows"]
            .as_array()
            .unwrap()
            .iter()
            .all(|sp| sp["isDrop"] == json!(true))
    );
    let boxes = s.with_network(|n| n.boxes.iter().filter(|b| b.get("id").is_some()).count());
    assert!(
        r["total"].as_u64().unwrap() as usize >= boxes,
        "a service splitter per box"
    );

    let within = json!([{"property": "coords", "operator": "within", "value": {"id": "x", "model": "project"}}]);
    let r = get(
        s.addr(),
        &format!("/api/v2/boxes?filter={}", enc(&within.to_string())),
    );
    assert_eq!(r.status, 400);
    assert!(r.json()["message"].as_str().unwrap().contains("within"));
    assert_eq!(
        get(s.addr(), &format!("/api/v2/boxes?filter={}", enc("[{oops"))).status,
        400
    );
    let bad_body = send(
        s.addr(),
        "GET",
        "/api/v2/boxes",
        Some(KEY),
        Some("{not json"),
    )
    .unwrap();
    assert_eq!(bad_body.status, 400);
}

#[test]
fn sort_select_populate_and_get_by_id() {
    let s = server(ServerConfig::default());
    let sort = json!([{"property": "name", "direction": -1}]).to_string();
    let r = get(s.addr(), &format!("/api/v2/projects?sort={}", enc(&sort))).json();
    let names: Vec<&str> = r["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    sorted.reverse();
    assert_eq!(names, sorted);

    let r = get(s.addr(), "/api/v2/ftth-clients?select=code,name&limit=20").json();
    for row in r["rows"].as_array().unwrap() {
        let keys: HashSet<&str> = row
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert!(
            keys.is_subset(&HashSet::from(["id", "code", "name"])),
            "{keys:?}"
        );
        assert!(keys.contains("id") && keys.contains("name"));
    }

    let held = json!([{"property": "client", "operator": "!=", "value": null}]).to_string();
    let r = get(
        s.addr(),
        &format!(
            "/api/v2/properties?populate=client&limit=3&filter={}",
            enc(&held)
        ),
    )
    .json();
    let row = &r["rows"][0];
    assert_eq!(row["client"]["kind"], "ftth", "{row}");

    let (id, code) = a_client_code(&s);
    let one = get(s.addr(), &format!("/api/v2/ftth-clients/{id}"));
    assert_eq!(one.status, 200);
    assert_eq!(one.json()["code"], json!(code));
    assert_eq!(
        get(s.addr(), "/api/v2/ftth-clients/000000000000000000000000").status,
        404
    );
    assert_eq!(get(s.addr(), "/api/v2/nothing-here").status, 404);
}

#[test]
fn cached_answers_follow_changes_to_the_network() {
    let s = server(ServerConfig::default());
    let filter =
        enc(&json!([{"property": "name", "operator": "=", "value": "CTO-9999"}]).to_string());
    let target = format!("/api/v2/boxes?filter={filter}");
    assert_eq!(get(s.addr(), &target).json()["total"], 0);
    s.with_network(|n| n.collection_mut("boxes")[0]["name"] = json!("CTO-9999"));
    assert_eq!(get(s.addr(), &target).json()["total"], 1);
    s.with_network(|n| n.collection_mut("boxes").remove(0));
    assert_eq!(get(s.addr(), &target).json()["total"], 0);
}
