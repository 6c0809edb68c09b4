//! Resilience: authentication fallbacks, passing failures the client must ride
//! out, failures it must give up on without touching the store, secrets kept
//! out of every output, read-only traffic, and input refused at the door.

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use ozmap_test_server::{Fault, GeneratorConfig, PROJECT_NAMES, ServerConfig, generate};
use serde_json::Value;

use crate::common::{API_KEY, Bench, PASSWORD, USER, counts, id, server_config, valid_docs};

const KINDS: [&str; 6] = ["project", "pole", "box", "splitter", "client", "property"];

/// What a clean sync of `GeneratorConfig::small()` gives: its report and every
/// stored element, by kind. Computed once (the network is deterministic) and
/// compared with the outcome of syncs that had to fight through faults.
struct Baseline {
    report: Value,
    elements: BTreeMap<&'static str, Vec<Value>>,
}

fn baseline() -> &'static Baseline {
    static BASELINE: OnceLock<Baseline> = OnceLock::new();
    BASELINE.get_or_init(|| {
        let bench = Bench::new();
        bench.add_integration("clean", None);
        let report = bench.sync_ok("clean");
        assert_eq!(report["retries"], 0, "a clean sync retried: {report:#}");
        Baseline {
            report,
            elements: all_elements(&bench, "clean"),
        }
    })
}

fn all_elements(bench: &Bench, integration: &str) -> BTreeMap<&'static str, Vec<Value>> {
    KINDS
        .iter()
        .map(|k| (*k, bench.elements(integration, k)))
        .collect()
}

/// The store holds exactly what a clean sync stores, and the report counts
/// the same elements.
fn assert_same_as_clean(bench: &Bench, integration: &str, report: &Value) {
    let clean = baseline();
    for kind in KINDS {
        assert_eq!(
            counts(report, kind),
            counts(&clean.report, kind),
            "{kind} counts differ from a clean sync's: {report:#}"
        );
    }
    let stored = all_elements(bench, integration);
    for kind in KINDS {
        assert!(
            !clean.elements[kind].is_empty(),
            "the clean sync stored no {kind}"
        );
        assert!(
            stored[kind] == clean.elements[kind],
            "the stored {kind}s differ from a clean sync's"
        );
    }
}

fn retries(report: &Value) -> u64 {
    report["retries"]
        .as_u64()
        .unwrap_or_else(|| panic!("report lacks retries: {report:#}"))
}

fn requests(report: &Value) -> u64 {
    report["requests"]
        .as_u64()
        .unwrap_or_else(|| panic!("report lacks requests: {report:#}"))
}

/// A server that refuses every API key, so the client must log in.
fn key_refused() -> ServerConfig {
    ServerConfig {
        api_key: None,
        ..server_config()
    }
}

/// `integration add` against the bench's server with the given password (and
/// `-vv` when `verbose`), linked to a new mapping project like
/// `Bench::add_integration` does.
fn add_with_password(bench: &Bench, name: &str, password: &str, verbose: bool) {
    let v: &[&str] = if verbose { &["-vv"] } else { &[] };
    bench.add_unlinked(name, password, v, &[]);
    bench.link(name, v);
}

fn assert_store_empty(bench: &Bench, integration: &str) {
    for kind in KINDS {
        let stored = bench.elements(integration, kind);
        assert!(
            stored.is_empty(),
            "a failed sync stored {} {kind}(s)",
            stored.len()
        );
    }
}

fn error_of(report: &Value) -> String {
    assert_eq!(report["status"], "failed", "{report:#}");
    report["error"]
        .as_str()
        .unwrap_or_else(|| panic!("a failed report without error: {report:#}"))
        .to_string()
}

#[test]
fn refused_key_falls_back_to_login_and_a_wrong_password_fails_cleanly() {
    let bench = Bench::with(key_refused(), generate(&GeneratorConfig::small()));
    bench.add_integration("login", None);
    let report = bench.sync_ok("login");
    assert!(bench.server.logins() >= 1, "the sync never logged in");
    let logins: Vec<_> = bench
        .server
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/users/login"))
        .collect();
    assert!(
        logins.iter().all(|r| r.authorization.is_none()),
        "the refused key is not sent again with the login"
    );
    assert_same_as_clean(&bench, "login", &report);
    let logins = bench.server.logins();

    add_with_password(&bench, "wrong", "not-the-password", false);
    let (report, ok) = bench.sync("wrong", &[]);
    assert!(
        !ok,
        "a sync with a refused key and a wrong password succeeded: {report:#}"
    );
    let error = error_of(&report);
    assert!(
        error.contains("refused the API key"),
        "the error does not say the key was refused: {error}"
    );
    assert!(
        error.contains("login") && error.contains("failed"),
        "the error does not say the login failed: {error}"
    );
    assert!(
        !error.contains("not-the-password"),
        "the error holds the password: {error}"
    );
    assert_eq!(
        bench.server.logins(),
        logins,
        "a login with the wrong password succeeded"
    );
    assert_store_empty(&bench, "wrong");
}

#[test]
fn expiring_tokens_are_renewed_by_logging_in_again() {
    let config = ServerConfig {
        token_ttl_requests: Some(3),
        ..key_refused()
    };
    let bench = Bench::with(config, generate(&GeneratorConfig::small()));
    bench.add_integration("ttl", None);
    let (report, ok) = bench.sync("ttl", &["--page-size", "5"]);
    assert!(ok, "sync failed: {report:#}");
    let logins = bench.server.logins() as u64;
    // Every token serves three requests: a listing of ~70 pages needs many.
    assert!(
        requests(&report) > 30,
        "page size 5 should need many requests: {report:#}"
    );
    // A token serves 3 requests; the 4th is refused and costs a login: about
    // one login per 5 requests.
    assert!(
        logins >= 10 && logins * 6 >= requests(&report),
        "only {logins} login(s) for {} requests",
        requests(&report)
    );
    let stored = all_elements(&bench, "ttl");
    assert!(
        stored == baseline().elements,
        "syncing with expiring tokens stored something else than a clean sync"
    );
}

#[test]
fn rate_limits_and_server_errors_are_retried() {
    let bench = Bench::new();
    bench.add_integration("flaky", None);
    bench.server.inject(
        "projects",
        Fault::TooManyRequests {
            retry_after_secs: 1,
        },
        2,
    );
    bench.server.inject("poles", Fault::Status(500), 2);
    bench.server.inject("splitters", Fault::Status(503), 2);
    bench.server.inject("properties", Fault::Status(502), 1);
    let report = bench.sync_ok("flaky");
    assert!(retries(&report) >= 7, "7 faults were injected: {report:#}");
    // A request sent ahead and not needed once a wait held the run (the
    // highest id of a small kind) may never go: at most a clean sync's.
    assert!(
        requests(&report) - retries(&report) <= requests(&baseline().report),
        "requests minus retries should be at most a clean sync's requests: {report:#}"
    );
    assert_same_as_clean(&bench, "flaky", &report);

    // Retry-After alone: two 429s asking for 1 s each. The back-off the
    // client uses when no wait is asked for is far shorter, and a clean sync
    // of this network takes well under a second. Two requests under way
    // together may both be refused: the run waits once for both.
    bench.server.inject(
        "boxes",
        Fault::TooManyRequests {
            retry_after_secs: 1,
        },
        2,
    );
    let started = Instant::now();
    let report = bench.sync_ok("flaky");
    let elapsed = started.elapsed();
    // The two refused, and those sent ahead that the wait held back.
    assert!(retries(&report) >= 2, "{report:#}");
    assert!(
        elapsed >= Duration::from_secs(1),
        "Retry-After was not honoured: the sync took {elapsed:?}"
    );
    let (created, updated, _, removed, _) = counts(&report, "box");
    assert_eq!((created, updated, removed), (0, 0, 0), "{report:#}");
}

#[test]
fn broken_connections_and_bodies_are_retried() {
    let bench = Bench::new();
    bench.add_integration("broken", None);
    bench.server.inject("poles", Fault::DropConnection, 2);
    bench.server.inject("boxes", Fault::MalformedJson, 2);
    bench.server.inject("ftth-clients", Fault::TruncatedJson, 2);
    let report = bench.sync_ok("broken");
    assert!(retries(&report) >= 6, "6 faults were injected: {report:#}");
    assert!(
        requests(&report) - retries(&report) <= requests(&baseline().report),
        "{report:#}"
    );
    assert_same_as_clean(&bench, "broken", &report);
}

#[test]
fn a_sync_that_gives_up_changes_nothing_and_the_next_one_catches_up() {
    let bench = Bench::new();
    bench.add_integration("store", None);
    bench.sync_ok("store");
    let before = all_elements(&bench, "store");

    // The platform changes: two poles and two boxes go, a pole is renamed.
    let poles = valid_docs(&bench, "poles");
    let boxes = valid_docs(&bench, "boxes");
    let gone_poles = [id(&poles[1]), id(&poles[4])];
    let gone_boxes = [id(&boxes[2]), id(&boxes[7])];
    let renamed = id(&poles[0]);
    bench.server.with_network(|n| {
        n.poles.retain(|d| !gone_poles.contains(&id(d)));
        n.boxes.retain(|d| !gone_boxes.contains(&id(d)));
        let pole = n.find_mut("poles", &renamed).unwrap();
        pole["name"] = "Poste renomeado".into();
        crate::common::touch(pole);
    });
    // Properties are read last: poles and boxes are already listed (and their
    // removals swept) when the sync gives up.
    bench.server.inject("properties", Fault::Status(503), 20);
    let (report, ok) = bench.sync("store", &["--max-attempts", "2"]);
    assert!(!ok, "the sync should have given up: {report:#}");
    let error = error_of(&report);
    assert!(
        error.contains("properties"),
        "the error does not name the route: {error}"
    );
    assert!(
        error.contains("503"),
        "the error does not give the status: {error}"
    );
    assert!(
        error.contains("after 2 attempts"),
        "the error does not say it was retried: {error}"
    );
    // A failed report still lists every kind, so scripts can read any count.
    for kind in ["project", "pole", "box", "splitter", "client", "property"] {
        assert_eq!(report["kinds"][kind]["created"], 0, "{report:#}");
    }
    let after = all_elements(&bench, "store");
    for kind in KINDS {
        assert!(
            after[kind] == before[kind],
            "the failed sync changed the stored {kind}s"
        );
    }
    let stored_poles: Vec<String> = after["pole"].iter().map(id).collect();
    let stored_boxes: Vec<String> = after["box"].iter().map(id).collect();
    assert!(
        gone_poles.iter().all(|p| stored_poles.contains(p)),
        "poles were removed by a failed sync"
    );
    assert!(
        gone_boxes.iter().all(|b| stored_boxes.contains(b)),
        "boxes were removed by a failed sync"
    );

    bench.server.clear_faults();
    let report = bench.sync_ok("store");
    let (_, updated, _, removed, _) = counts(&report, "pole");
    assert_eq!((updated, removed), (1, 2), "{report:#}");
    assert_eq!(counts(&report, "box").3, 2, "{report:#}");
    let stored_poles = bench.elements("store", "pole");
    let stored_boxes: Vec<String> = bench.elements("store", "box").iter().map(id).collect();
    assert_eq!(stored_poles.len(), before["pole"].len() - 2);
    assert_eq!(stored_boxes.len(), before["box"].len() - 2);
    assert!(!stored_poles.iter().any(|p| gone_poles.contains(&id(p))));
    assert!(!stored_boxes.iter().any(|b| gone_boxes.contains(b)));
    let renamed_pole = stored_poles.iter().find(|p| id(p) == renamed).unwrap();
    assert_eq!(renamed_pole["name"], "Poste renomeado");
}

#[test]
fn a_slow_answer_times_out_and_is_retried() {
    let bench = Bench::new();
    bench.add_integration("slow", None);
    bench
        .server
        .inject("boxes", Fault::Slow(Duration::from_secs(3)), 1);
    let (report, ok) = bench.sync("slow", &["--timeout-ms", "1000"]);
    assert!(ok, "sync failed: {report:#}");
    // Without the timeout the slow answer would have come, unretried: the
    // retry is the timeout's proof (a wall-clock bound flakes on a busy
    // machine).
    assert!(
        retries(&report) >= 1,
        "the timed-out request was not counted as a retry: {report:#}"
    );
    assert!(
        requests(&report) - retries(&report) <= requests(&baseline().report),
        "{report:#}"
    );
    assert_same_as_clean(&bench, "slow", &report);
}

#[test]
fn secrets_are_never_printed() {
    let bench = Bench::with(key_refused(), generate(&GeneratorConfig::small()));
    add_with_password(&bench, "good", PASSWORD, true);
    add_with_password(&bench, "bad", "wrong-password", true);
    bench.ok(&["-vv", "integration", "list"]);
    bench.ok(&["-vv", "integration", "list", "--json"]);
    bench.ok(&["-vv", "integration", "show", "good"]);
    bench.ok(&["-vv", "project", "list"]);
    let shown: Value =
        serde_json::from_str(&bench.ok(&["-vv", "integration", "show", "good", "--json"])).unwrap();
    for field in ["api_key", "password"] {
        let masked = shown[field]
            .as_str()
            .unwrap_or_else(|| panic!("show --json lacks {field}: {shown:#}"));
        assert!(!masked.is_empty(), "{field} is shown empty");
        assert!(
            !API_KEY.contains(masked) && !PASSWORD.contains(masked),
            "{field} is not masked: {masked}"
        );
    }
    assert_eq!(shown["password"], "********");
    assert_eq!(shown["user"], USER);

    bench.ok(&["-vv", "sync", "--integration", "good"]);
    let (report, ok) = bench.sync("good", &["-vv"]);
    assert!(ok, "{report:#}");
    bench.fails(&["-vv", "sync", "--integration", "bad"]);
    let (report, ok) = bench.sync("bad", &["-vv"]);
    assert!(!ok, "{report:#}");
    bench.ok(&[
        "-vv",
        "elements",
        "--integration",
        "good",
        "--kind",
        "client",
        "--json",
    ]);
    bench.ok(&["-vv", "project", "remove-integration", "bad (local)"]);
    bench.ok(&["-vv", "integration", "remove", "bad"]);
    // The debug log did run (so the check below looked at something).
    assert!(
        bench.outputs.borrow().iter().any(|o| o.contains("DEBUG")),
        "-vv printed no debug line"
    );
    // Each platform request is logged with its method and route, those
    // started ahead of their turn as the others.
    assert!(
        bench.outputs.borrow().iter().any(|o| o
            .lines()
            .any(|l| l.contains("platform request") && l.contains("method=\"GET\""))),
        "no platform request was logged with its method"
    );
    bench.assert_no_secret_printed();
}

#[test]
fn syncs_only_read_and_never_ask_for_cables() {
    let bench = Bench::with(key_refused(), generate(&GeneratorConfig::small()));
    bench.add_integration("all", None);
    bench.add_integration("one", Some(PROJECT_NAMES[1]));
    bench.sync_ok("all");
    bench.sync_ok("one");
    let (_, ok) = bench.sync("all", &["--page-size", "7"]);
    assert!(ok);
    let requests = bench.server.requests();
    assert!(
        requests.len() > 20,
        "suspiciously few requests: {}",
        requests.len()
    );
    let mut logins = 0;
    for r in &requests {
        assert!(!r.path.contains("cables"), "cables were requested: {r:?}");
        match r.method.as_str() {
            "GET" => {
                assert!(r.body.is_empty(), "a GET with a body: {r:?}");
                assert!(
                    r.authorization.is_some(),
                    "a GET without authorization: {r:?}"
                );
            }
            "POST" if r.path == "/api/v2/users/login" => logins += 1,
            _ => panic!("a write request reached the platform: {r:?}"),
        }
    }
    assert!(logins >= 1, "the key is refused, yet no login was seen");
}

#[test]
fn bad_integration_input_is_refused_and_nothing_is_stored() {
    let bench = Bench::new();
    let url = bench.server.url();
    let add = |name: &str, api_url: &str, key: &str, user: &str, password: &str| {
        bench.fails(&[
            "integration",
            "add",
            "--name",
            name,
            "--api-url",
            api_url,
            "--api-key",
            key,
            "--user",
            user,
            "--password",
            password,
        ])
    };
    let cases = [
        (
            "--api-url",
            add("x", "isp.ozmap.com.br", API_KEY, USER, PASSWORD),
        ),
        (
            "--api-url",
            add("x", "https://exa mple.com:99999", API_KEY, USER, PASSWORD),
        ),
        (
            "--api-url",
            add("x", "ftp://isp.ozmap.com.br", API_KEY, USER, PASSWORD),
        ),
        ("--api-url", add("x", "", API_KEY, USER, PASSWORD)),
        ("--api-key", add("x", &url, "", USER, PASSWORD)),
        ("--api-key", add("x", &url, "   ", USER, PASSWORD)),
        ("--user", add("x", &url, API_KEY, "", PASSWORD)),
        ("--password", add("x", &url, API_KEY, USER, "")),
        ("--name", add("", &url, API_KEY, USER, PASSWORD)),
    ];
    for (parameter, message) in &cases {
        assert!(
            message.contains(parameter),
            "the refusal does not name {parameter}: {message}"
        );
    }
    let listed: Value =
        serde_json::from_str(&bench.ok(&["integration", "list", "--json"])).unwrap();
    assert_eq!(
        listed,
        serde_json::json!([]),
        "a refused integration was stored"
    );

    bench.add_integration("dup", None);
    let message = bench.fails(&[
        "integration",
        "add",
        "--name",
        "dup",
        "--api-url",
        &url,
        "--api-key",
        "another-key",
        "--user",
        USER,
        "--password",
        PASSWORD,
    ]);
    assert!(
        message.contains("\"dup\"") && message.contains("already exists"),
        "{message}"
    );
    let listed: Value =
        serde_json::from_str(&bench.ok(&["integration", "list", "--json"])).unwrap();
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 1, "{listed:#?}");
    assert!(
        listed[0]["api_key"]
            .as_str()
            .unwrap()
            .starts_with(&API_KEY[..2]),
        "the duplicate replaced the first"
    );
    bench.assert_no_secret_printed();
}

#[test]
fn an_unknown_project_name_fails_listing_the_projects_that_exist() {
    let bench = Bench::new();
    for (name, project) in [("unknown", "Centro Sul"), ("case", "CENTRO NORTE")] {
        bench.add_integration(name, Some(project));
        let (report, ok) = bench.sync(name, &[]);
        assert!(
            !ok,
            "a sync of the missing project {project:?} succeeded: {report:#}"
        );
        let error = error_of(&report);
        assert!(
            error.contains(&format!("{project:?}")),
            "the error does not name the project asked for: {error}"
        );
        for existing in &PROJECT_NAMES[..3] {
            assert!(
                error.contains(&format!("{existing:?}")),
                "the error does not list {existing:?}: {error}"
            );
        }
        assert_store_empty(&bench, name);
    }
}

#[test]
fn an_api_url_ending_in_the_apis_own_path_is_stored_without_it() {
    let bench = Bench::new();
    let url = bench.server.url();
    for (name, given) in [
        ("v2", format!("{url}/api/v2")),
        ("api", format!("{url}/api/")),
    ] {
        let output = bench.mapsync(&[
            "integration",
            "add",
            "--name",
            name,
            "--api-url",
            &given,
            "--api-key",
            API_KEY,
            "--user",
            USER,
            "--password",
            PASSWORD,
        ]);
        assert!(output.status.success(), "{output:?}");
        let note = String::from_utf8_lossy(&output.stderr);
        assert!(
            note.contains(&format!(
                "note: mapsync adds /api/v2 itself; stored the address as {url}"
            )),
            "{note}"
        );
        let shown: Value =
            serde_json::from_str(&bench.ok(&["integration", "show", name, "--json"])).unwrap();
        assert_eq!(shown["api_url"], url.as_str());
    }
    // And it synchronises, where `/api/v2/api/v2` found no route.
    bench.link("v2", &[]);
    bench.sync_ok("v2");
}

#[test]
fn a_login_in_the_api_url_is_refused_without_being_echoed() {
    let bench = Bench::new();
    let url = bench.server.url();
    let host = url.trim_start_matches("http://");
    let add = |name: &str, api_url: &str| {
        bench.mapsync(&[
            "integration",
            "add",
            "--name",
            name,
            "--api-url",
            api_url,
            "--api-key",
            API_KEY,
            "--user",
            USER,
            "--password",
            PASSWORD,
        ])
    };
    for given in [
        format!("http://{USER}:{PASSWORD}@{host}"),
        format!("http://{USER}:{PASSWORD}@{host}/path@x"),
        format!("{USER}:{PASSWORD}@{host}"),
    ] {
        let output = add("login", &given);
        assert!(!output.status.success(), "{given} was accepted");
        let message = String::from_utf8_lossy(&output.stderr);
        assert!(message.contains("--api-url"), "{message}");
        assert!(
            !message.contains(PASSWORD),
            "the password was echoed: {message}"
        );
    }
    let message = String::from_utf8_lossy(
        &add("login", &format!("http://{USER}:{PASSWORD}@{host}/a@b")).stderr,
    )
    .into_owned();
    assert!(
        message.contains(&format!("\"http://***@{host}/a@b\" holds a login"))
            && message.contains("--user and --password"),
        "{message}"
    );
    // An `@` after the host is part of the path, as the requests read it.
    let output = add("path", &format!("{url}/a@b"));
    assert!(output.status.success(), "{output:?}");
    let shown: Value =
        serde_json::from_str(&bench.ok(&["integration", "show", "path", "--json"])).unwrap();
    assert_eq!(shown["api_url"], format!("{url}/a@b"));
    bench.assert_no_secret_printed();
}

/// Requests under way at once (`--pages-in-flight`, sent beside the
/// component's work by the host: pages ahead, each listing's first request
/// together, large kinds by ranges of ids) store what one request at a
/// time stores, with few more requests, never more at once than allowed;
/// more than 16 at once is refused before anything is asked.
#[test]
fn pages_in_flight_store_the_same_within_the_bound() {
    let read = |in_flight: &str| {
        // Answers a little late, as a platform away: requests overlap.
        let late = ServerConfig {
            latency: Duration::from_millis(10),
            ..server_config()
        };
        let bench = Bench::with(late, generate(&GeneratorConfig::small()));
        bench.add_integration("a", None);
        let args = ["--page-size", "7", "--pages-in-flight", in_flight];
        let (report, ok) = bench.sync("a", &args);
        assert!(ok, "{report}");
        let elements: Vec<Vec<Value>> = ["pole", "box", "splitter", "client", "property"]
            .iter()
            .map(|kind| bench.elements("a", kind))
            .collect();
        let most = bench.server.most_under_way();
        (bench, report["requests"].as_u64().unwrap(), elements, most)
    };
    let (_, requests_alone, alone, most_alone) = read("1");
    assert_eq!(most_alone, 1);
    for in_flight in ["4", "16"] {
        let (_, requests, ahead, most) = read(in_flight);
        assert!(alone == ahead, "the stores differ with {in_flight} at once");
        let bound: usize = in_flight.parse().unwrap();
        assert!(
            most <= bound && most > 2,
            "{most} at once with {in_flight} allowed"
        );
        assert!(
            requests * 2 <= requests_alone * 3,
            "{requests} requests with {in_flight} at once, {requests_alone} one at a time"
        );
    }
    assert!(alone[0].len() > 10);
    let (bench, ..) = read("2");

    let before = bench.server.requests().len();
    let refused = bench.fails(&["sync", "--integration", "a", "--pages-in-flight", "17"]);
    assert!(refused.contains("--pages-in-flight"), "{refused}");
    assert_eq!(bench.server.requests().len(), before);
}

/// A 503 whose `Retry-After` is an HTTP date pauses the whole run until
/// then: no request of any listing goes out before it, where the back-off
/// alone would have tried again within a quarter of a second.
#[test]
fn a_retry_after_date_holds_every_request_until_then() {
    let bench = Bench::new();
    bench.add_integration("paused", None);
    bench.server.inject(
        "boxes",
        Fault::RetryAfterDate {
            status: 503,
            secs: 2,
        },
        1,
    );
    let (report, ok) = bench.sync("paused", &["--page-size", "5", "--pages-in-flight", "4"]);
    assert!(ok, "{report:#}");
    let requests = bench.server.requests();
    let refused = requests
        .iter()
        .position(|r| r.path.ends_with("/boxes"))
        .expect("boxes were asked for");
    let at = requests[refused].received;
    // The date is whole seconds: 2 s from the refusal is 1 to 2 s after it.
    // Those already under way when it was answered come within milliseconds.
    let next = requests[refused + 1..]
        .iter()
        .map(|r| r.received - at)
        .find(|after| *after > Duration::from_millis(100))
        .expect("requests after the refusal");
    assert!(
        next >= Duration::from_millis(900),
        "a request went out {next:?} after a Retry-After of about 1 to 2 s"
    );
    assert_same_as_clean(&bench, "paused", &report);
}

/// A platform that answers 429 beyond a rate limit: the run waits out each
/// `Retry-After` as a whole, then spaces its requests at the rate the
/// platform accepted, so that few of them are refused; the store is the
/// same as a clean sync's.
#[test]
fn a_rate_limited_platform_is_waited_out_and_seldom_refused() {
    let limited = ServerConfig {
        rate_limit: Some(20),
        ..server_config()
    };
    let bench = Bench::with(limited, generate(&GeneratorConfig::small()));
    bench.add_integration("limited", None);
    let (report, ok) = bench.sync("limited", &["--page-size", "5", "--pages-in-flight", "8"]);
    assert!(ok, "{report:#}");
    let refusals = bench.server.rate_limited();
    let refused = refusals.len() as u64;
    let requests = requests(&report);
    assert!(refused > 0, "the rate limit was never reached: {report:#}");
    assert!(
        refused * 10 <= requests,
        "{refused} of {requests} requests were refused (at most a tenth may be)"
    );
    let stored = all_elements(&bench, "limited");
    for kind in KINDS {
        assert!(
            stored[kind] == baseline().elements[kind],
            "the stored {kind}s differ from a clean sync's"
        );
    }
    // Nothing went out inside a Retry-After: no request came in while one
    // held, but those already under way when the refusal was answered
    // (within milliseconds on loopback; a loaded machine, the rest of the
    // suite beside, can hold one back for longer).
    // The end is the platform's clock against the run's, read to the
    // millisecond: a few are allowed there.
    let grace = Duration::from_millis(300);
    let clocks = Duration::from_millis(3);
    for (refused_at, wait) in &refusals {
        let inside: Vec<Duration> = (bench.server.requests().iter())
            .filter(|r| {
                r.received > *refused_at + grace && r.received + clocks < *refused_at + *wait
            })
            .map(|r| r.received - *refused_at)
            .collect();
        assert!(
            inside.is_empty(),
            "requests came {inside:?} after a refusal that asked for {wait:?}"
        );
    }
}

/// A command that outlives a beat of its leases (a long sync) still closes
/// the database as a short one does: SQLite checkpoints the write-ahead log
/// and deletes it when the last connection closes, and the beat's own
/// connection, kept for the process's life and never closed, left a first
/// sync's whole log on disk for the next command to delete.
#[test]
fn a_long_command_leaves_no_write_ahead_log_behind() {
    if crate::common::on_postgres() {
        return; // the log is SQLite's
    }
    // Slow answers, so that the sync outlasts a beat (a third of the lease).
    let config = ServerConfig {
        latency: Duration::from_millis(400),
        ..server_config()
    };
    let bench = Bench::with(config, generate(&GeneratorConfig::small()));
    bench.add_integration("isp", None);
    let started = Instant::now();
    let out = bench.record(
        bench
            .command(&["sync", "--integration", "isp", "--json"])
            .env("MAPSYNC_LEASE_SECONDS", "3")
            .output()
            .expect("running mapsync"),
    );
    assert!(out.status.success(), "{}", crate::common::stderr(&out));
    assert!(
        started.elapsed() > Duration::from_millis(1500),
        "the sync took {:?}: no beat (each second) came while it ran",
        started.elapsed()
    );
    let wal = bench.db().with_extension("db-wal");
    assert!(!wal.exists(), "{} is still there", wal.display());
}

/// How hard an integration may ask its platform is its own setting
/// (`integration set --requests-at-once N --requests-per-second N`, kept
/// for every run, `serve`'s too): under a ceiling well below the
/// platform's limit no request is refused, never more go at once than
/// allowed, the run takes as long as the ceiling makes it, and the store
/// is the same as a clean sync's.
#[test]
fn an_integration_keeps_its_own_bound_and_ceiling() {
    let limited = ServerConfig {
        // Well above the integration's ceiling: a loaded machine may send
        // a second's requests closer together than they were started.
        rate_limit: Some(24),
        latency: Duration::from_millis(5),
        ..server_config()
    };
    let bench = Bench::with(limited, generate(&GeneratorConfig::small()));
    bench.add_integration("gentle", None);
    let refused = bench.fails(&["integration", "set", "gentle", "--requests-at-once", "17"]);
    assert!(refused.contains("--requests-at-once"), "{refused}");
    let set = bench.ok(&[
        "integration",
        "set",
        "gentle",
        "--requests-at-once",
        "3",
        "--requests-per-second",
        "8",
    ]);
    assert!(set.contains("requests_per_second  8"), "{set}");
    let started = Instant::now();
    let (report, ok) = bench.sync("gentle", &[]);
    let elapsed = started.elapsed();
    assert!(ok, "{report:#}");
    assert!(
        bench.server.rate_limited().is_empty(),
        "refused under a ceiling below the platform's limit: {report:#}"
    );
    assert!(
        bench.server.most_under_way() <= 3,
        "{}",
        bench.server.most_under_way()
    );
    // At most 8 a second: the requests made take that long at least.
    let requests = requests(&report);
    assert!(
        elapsed >= Duration::from_millis(requests.saturating_sub(8) * 125),
        "{requests} requests in {elapsed:?}"
    );
    assert_same_as_clean(&bench, "gentle", &report);
}
