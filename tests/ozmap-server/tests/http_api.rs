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
        next.contains("cursor=") && next.contains("limit=7") && !next.contains("page="),
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

/// The query parameters of a `nextUrl`, decoded.
fn next_params(next_url: &str) -> Vec<(String, String)> {
    let query = next_url.split_once('?').map_or("", |(_, q)| q);
    form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// What the official SDK's `findAll` does: replay every parameter of
/// `nextUrl` but `page`, with its own `limit`, while `hasNextPage`.
fn sdk_find_all(s: &TestServer, route: &str, extra: &[(&str, &str)], limit: usize) -> Vec<Value> {
    let mut rows = Vec::new();
    let mut params: Vec<(String, String)> = extra
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    for round in 0.. {
        assert!(round < 1000, "findAll does not terminate");
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (k, v) in params.iter().filter(|(k, _)| k != "page" && k != "limit") {
            query.append_pair(k, v);
        }
        query.append_pair("limit", &limit.to_string());
        let page = get(s.addr(), &format!("/api/v2/{route}?{}", query.finish())).json();
        rows.extend(page["rows"].as_array().unwrap().iter().cloned());
        if page["hasNextPage"] != json!(true) {
            return rows;
        }
        params = next_params(page["nextUrl"].as_str().unwrap());
    }
    unreachable!()
}

#[test]
fn the_sdks_find_all_terminates_with_every_row() {
    let s = server(ServerConfig::default());
    for route in ["poles", "ftth-clients", "properties"] {
        let expected: Vec<Value> = s.with_network(|n| n.collection(route).to_vec());
        let rows = sdk_find_all(&s, route, &[("page", "1")], 7);
        assert_eq!(rows.len(), expected.len(), "{route}");
        assert_eq!(rows, expected, "{route}: in order, none missed or repeated");
    }
    // Filters and sort travel in nextUrl too.
    let sort = json!([{"property": "updatedAt", "direction": -1}]).to_string();
    let rows = sdk_find_all(
        &s,
        "boxes",
        &[("sort", &sort), ("select", "id,updatedAt")],
        4,
    );
    let stamps: Vec<&str> = rows
        .iter()
        .map(|r| r["updatedAt"].as_str().unwrap())
        .collect();
    assert_eq!(rows.len(), s.with_network(|n| n.boxes.len()));
    assert!(stamps.windows(2).all(|w| w[0] >= w[1]), "{stamps:?}");
}

#[test]
fn a_cursor_is_an_offset_whatever_the_limit() {
    let s = server(ServerConfig::default());
    let all: Vec<Value> = s.with_network(|n| n.poles.to_vec());
    let first = get(s.addr(), "/api/v2/poles?limit=5&page=1").json();
    let next = first["nextUrl"].as_str().unwrap();
    assert!(next.starts_with("/api/v2/poles?"), "{next}");
    let cursor = next_params(next)
        .into_iter()
        .find(|(k, _)| k == "cursor")
        .unwrap()
        .1;
    assert!(
        cursor.parse::<u64>().is_err(),
        "opaque, not a number: {cursor}"
    );

    // Another limit, and a page number that the cursor overrides.
    let second = get(
        s.addr(),
        &format!("/api/v2/poles?limit=3&page=9&cursor={}", enc(&cursor)),
    )
    .json();
    assert_eq!(second["start"], 5);
    assert_eq!(second["limit"], 3);
    assert_eq!(second["rows"].as_array().unwrap()[..], all[5..8]);
    let third = get(s.addr(), second["nextUrl"].as_str().unwrap()).json();
    assert_eq!(third["start"], 8);

    for bad in ["42", "not-a-cursor", "b3Jhbmdl", "%00"] {
        let r = get(s.addr(), &format!("/api/v2/poles?cursor={bad}"));
        assert_eq!(r.status, 400, "{bad}");
        let message = r.json()["message"].as_str().unwrap().to_owned();
        assert!(message.contains("cursor"), "{message}");
    }
    // `page` still works for the clients that count pages.
    assert_eq!(
        get(s.addr(), "/api/v2/poles?limit=5&page=2").json()["rows"][0],
        all[5]
    );
}

#[test]
fn legacy_pages_carry_no_cursor() {
    let s = server(ServerConfig {
        legacy_pagination: true,
        ..ServerConfig::default()
    });
    let page = get(s.addr(), "/api/v2/poles?limit=5").json();
    assert!(page.get("nextUrl").is_none() && page.get("hasNextPage").is_none());
}

fn list(s: &TestServer, route: &str, query: &str, body: Option<&Value>) -> Value {
    let target = format!("/api/v2/{route}?{query}");
    let r = send(
        s.addr(),
        "GET",
        &target,
        Some(KEY),
        body.map(|b| b.to_string()).as_deref(),
    )
    .unwrap();
    assert_eq!(
        r.status,
        200,
        "{target}: {}",
        String::from_utf8_lossy(&r.body)
    );
    r.json()
}

/// Every property's `key` (a string), sorted.
fn sorted_property_field(s: &TestServer, key: &str) -> Vec<String> {
    let mut values: Vec<String> = s.with_network(|n| {
        n.properties
            .iter()
            .map(|p| p[key].as_str().unwrap().to_owned())
            .collect()
    });
    values.sort();
    values
}

#[test]
fn updated_at_filters_sorts_and_id_selection() {
    let s = server(ServerConfig::default());
    let stamps = sorted_property_field(&s, "updatedAt");
    let total = stamps.len();
    let mid = stamps[total / 2].clone();
    let count = |op: &str, value: &str| {
        let f = json!([{"property": "updatedAt", "operator": op, "value": value}]).to_string();
        let by_query = list(
            &s,
            "properties",
            &format!("filter={}&limit=1", enc(&f)),
            None,
        );
        let body = json!({"filter": serde_json::from_str::<Value>(&f).unwrap()});
        let by_body = list(&s, "properties", "limit=1", Some(&body));
        assert_eq!(by_query["total"], by_body["total"], "{op} {value}");
        by_query["total"].as_u64().unwrap() as usize
    };
    let below = stamps.iter().filter(|t| **t < mid).count();
    let at = stamps.iter().filter(|t| **t == mid).count();
    assert_eq!(count("<", &mid), below);
    assert_eq!(count("<=", &mid), below + at);
    assert_eq!(count(">", &mid), total - below - at);
    assert_eq!(count(">=", &mid), total - below);
    // The same instant written another way compares the same; a stamp
    // without milliseconds or zone is that second, in UTC.
    let other_zone = format!("{}+00:00", &mid[..23]);
    assert_eq!(count(">=", &other_zone), total - below);
    assert_eq!(
        count("<", &mid[..19]),
        stamps.iter().filter(|t| t[..19] < mid[..19]).count()
    );

    // Sort by updatedAt then id, ascending, in the query string and the body.
    let sort =
        json!([{"property": "updatedAt", "direction": 1}, {"property": "id", "direction": 1}]);
    let by_query = list(
        &s,
        "properties",
        &format!(
            "sort={}&limit=1000&select=id,updatedAt",
            enc(&sort.to_string())
        ),
        None,
    );
    let by_body = list(
        &s,
        "properties",
        "limit=1000&select=id,updatedAt",
        Some(&json!({"sort": sort})),
    );
    assert_eq!(by_query["rows"], by_body["rows"]);
    let keys: Vec<(String, String)> = by_query["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["updatedAt"].as_str().unwrap().to_owned(),
                r["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(keys.len(), total);
    assert!(
        keys.windows(2).all(|w| w[0] < w[1]),
        "strictly ordered by (updatedAt, id)"
    );
    let descending =
        json!([{"property": "updatedAt", "direction": -1}, {"property": "id", "direction": -1}]);
    let down = list(
        &s,
        "properties",
        &format!("sort={}&limit=1000&select=id", enc(&descending.to_string())),
        None,
    );
    let down_ids: Vec<&Value> = down["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["id"])
        .collect();
    let up_ids: Vec<&Value> = by_query["rows"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .map(|r| &r["id"])
        .collect();
    assert_eq!(down_ids, up_ids);

    // select=id answers rows of the id alone; select=id,client the two.
    let ids = list(&s, "properties", "select=id&limit=5", None);
    for row in ids["rows"].as_array().unwrap() {
        assert_eq!(
            row.as_object().unwrap().keys().collect::<Vec<_>>(),
            ["id"],
            "{row}"
        );
    }
    let two = list(&s, "properties", "select=id,client&limit=50", None);
    for row in two["rows"].as_array().unwrap() {
        let keys: HashSet<&str> = row
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, HashSet::from(["id", "client"]), "{row}");
    }
    let in_body = list(&s, "properties", "limit=5", Some(&json!({"select": "id"})));
    assert_eq!(in_body["rows"][0].as_object().unwrap().len(), 1);

    // A filter and sort on updatedAt page consistently through nextUrl, and
    // follow a change: the cache is dropped when the network changes.
    let recent = json!([{"property": "updatedAt", "operator": ">", "value": mid}]).to_string();
    let sorted = json!([{"property": "updatedAt", "direction": 1}]).to_string();
    let rows = sdk_find_all(
        &s,
        "properties",
        &[("filter", &recent), ("sort", &sorted), ("select", "id")],
        6,
    );
    assert_eq!(rows.len(), total - below - at);
    let first = rows[0]["id"].as_str().unwrap().to_owned();
    s.with_network(|n| {
        n.find_mut("properties", &first).unwrap()["updatedAt"] = json!("2099-01-01T00:00:00.000Z")
    });
    let again = sdk_find_all(
        &s,
        "properties",
        &[("filter", &recent), ("sort", &sorted), ("select", "id")],
        6,
    );
    assert_eq!(again.len(), rows.len());
    assert_eq!(
        again.last().unwrap()["id"],
        json!(first),
        "the changed one now sorts last"
    );
}

/// The ids of the rows `target` answers, in their order.
fn row_ids(s: &TestServer, target: &str) -> Vec<String> {
    get(s.addr(), target).json()["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect()
}

/// What a re-sync asks of every element: the ids sorted by id (answered
/// from the ids kept beside the documents) and the ones its walk found
/// missing, by `id in [...]` (answered from the index of ids); both as a
/// scan of the documents answers them, before and after changes.
#[test]
fn ids_sorted_and_asked_by_id_agree_with_the_documents() {
    let s = server(ServerConfig::default());
    let check = |s: &TestServer| {
        let ids = sorted_property_field(s, "id");
        let sort = enc(&json!([{"property": "id", "direction": 1}]).to_string());
        let walked = row_ids(
            s,
            &format!("/api/v2/properties?select=id&sort={sort}&limit=100000"),
        );
        assert_eq!(walked, ids);
        let asked = [&ids[3], &ids[1], &ids[3], "000000000000000000000000"];
        let filter =
            enc(&json!([{"property": "id", "operator": "in", "value": asked}]).to_string());
        let mut found = row_ids(s, &format!("/api/v2/properties?filter={filter}"));
        found.sort();
        assert_eq!(found, [ids[1].clone(), ids[3].clone()]);
    };
    check(&s);
    let summary = s.with_network(|n| {
        ozmap_test_server::mutate(
            n,
            &ozmap_test_server::Mutation {
                fraction: 0.2,
                seed: 3,
            },
        )
    });
    assert!(summary.properties_created > 0 && summary.properties_deleted > 0);
    check(&s);
}
