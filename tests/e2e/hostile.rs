//! A platform that lies, breaks or loses most of the network: mapsync keeps
//! what it read, removes nothing it cannot trust, holds mass removals for a
//! person to confirm, and never pushes to a port it can no longer bind.

use ozmap_test_server::{Fault, GeneratorConfig, ListingLie, ServerConfig, generate};
use serde_json::Value;

use crate::common::{Bench, counts, id, is_invalid, server_config};

/// Every page of `route` lies, for the whole sync. The lies are told to
/// full runs (`--full`), whose listings decide removals; an incremental
/// run's listings go through the same pager.
fn lie(bench: &Bench, route: &str, how: ListingLie) {
    bench.server.inject(route, Fault::Lie(how), 100_000);
}

fn stored(bench: &Bench, integration: &str, kind: &str) -> usize {
    bench.elements(integration, kind).len()
}

fn incomplete_reason(report: &Value, kind: &str) -> String {
    report["incomplete"]
        .as_array()
        .unwrap_or_else(|| panic!("no incomplete list: {report:#}"))
        .iter()
        .find(|i| i["kind"] == kind)
        .unwrap_or_else(|| panic!("{kind} not reported incomplete: {report:#}"))["reason"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A bench synced once, cleanly, on a network with enough poles that
/// losing half of them is more than the guard's floor.
fn synced(name: &str) -> Bench {
    let network = generate(&GeneratorConfig {
        boxes_per_project: 24,
        ..GeneratorConfig::small()
    });
    let bench = Bench::with(server_config(), network);
    bench.add_integration(name, None);
    bench.sync_ok(name);
    bench
}

#[test]
fn a_listing_that_says_it_ended_on_page_one_removes_nothing() {
    let bench = synced("liar");
    let poles = stored(&bench, "liar", "pole");
    assert!(
        poles > 30,
        "the network is too small for this test: {poles}"
    );
    lie(&bench, "poles", ListingLie::NoNextPage);
    let (report, ok) = bench.sync("liar", &["--page-size", "10", "--full"]);
    assert!(ok, "{report:#}");
    assert_eq!(counts(&report, "pole").3, 0, "{report:#}");
    assert_eq!(stored(&bench, "liar", "pole"), poles);
    // Read by ranges of ids: the first range that ended early says so.
    let reason = incomplete_reason(&report, "pole");
    assert!(
        reason.contains("after 10 rows") && reason.contains("announced a total of"),
        "{reason}"
    );
    // Said to a person too.
    bench.server.clear_faults();
    lie(&bench, "poles", ListingLie::NoNextPage);
    let shown = bench.ok(&["sync", "--integration", "liar", "--page-size", "10"]);
    assert!(
        shown.contains("listing incomplete, nothing removed"),
        "{shown}"
    );
}

#[test]
fn a_total_that_disagrees_with_the_rows_removes_nothing() {
    let bench = synced("total");
    let poles = stored(&bench, "total", "pole");
    // Fewer announced than sent.
    lie(&bench, "poles", ListingLie::Total(5));
    let (report, ok) = bench.sync("total", &["--page-size", "10", "--full"]);
    assert!(ok, "{report:#}");
    let reason = incomplete_reason(&report, "pole");
    assert!(reason.contains("announced only a total of 5"), "{reason}");
    assert_eq!(stored(&bench, "total", "pole"), poles);
}

#[test]
fn a_total_that_lies_low_and_ends_the_listing_is_held_by_the_guard() {
    // The server stops where its lie says: the listing looks complete, and
    // only the removal guard stands between it and the network.
    let bench = synced("low");
    let poles = stored(&bench, "low", "pole") as u64;
    lie(&bench, "poles", ListingLie::Total(10));
    let (report, ok) = bench.sync("low", &["--page-size", "10", "--full"]);
    assert!(!ok, "{report:#}");
    assert_eq!(report["status"], "failed");
    let held = &report["held_removals"][0];
    assert_eq!(held["kind"], "pole", "{report:#}");
    assert_eq!(held["removed"], poles - 10);
    assert_eq!(held["stored"], poles);
    assert!(
        report["error"]
            .as_str()
            .unwrap()
            .contains(&format!("{} of {poles} stored poles", poles - 10)),
        "{report:#}"
    );
    assert_eq!(
        stored(&bench, "low", "pole") as u64,
        poles,
        "nothing applied"
    );
}

#[test]
fn a_legacy_server_announcing_a_huge_total_says_what_happened() {
    let bench = Bench::with(
        ServerConfig {
            legacy_pagination: true,
            ..server_config()
        },
        generate(&GeneratorConfig::small()),
    );
    bench.add_integration("huge", None);
    bench.sync_ok("huge");
    let poles = stored(&bench, "huge", "pole");
    lie(&bench, "poles", ListingLie::Total(1_000_000_000_000));
    let (report, ok) = bench.sync("huge", &["--page-size", "10", "--full"]);
    assert!(ok, "{report:#}");
    let reason = incomplete_reason(&report, "pole");
    assert!(
        reason.contains("1000000000000") && !reason.contains("page size"),
        "{reason}"
    );
    assert_eq!(stored(&bench, "huge", "pole"), poles);
}

#[test]
fn pages_that_repeat_for_ever_stop_with_a_clear_error() {
    let bench = synced("endless");
    let poles = stored(&bench, "endless", "pole");
    bench.server.clear_requests();
    lie(&bench, "poles", ListingLie::RepeatFirstPage);
    let (report, ok) = bench.sync("endless", &["--page-size", "10", "--full"]);
    assert!(!ok, "{report:#}");
    let error = report["error"].as_str().unwrap();
    assert!(
        error.contains("poles page 2") && error.contains("same 10 rows"),
        "{error}"
    );
    let pole_requests = bench
        .server
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/poles"))
        .count();
    // Stopped at the first page sent again: no more than the window's
    // worth of requests (the probes, each range's first page and those
    // sent ahead).
    assert!(pole_requests <= 20, "{pole_requests} requests for poles");
    assert_eq!(stored(&bench, "endless", "pole"), poles);
}

#[test]
fn mass_removal_is_held_until_allowed_then_applied() {
    let bench = synced("mass");
    let poles = stored(&bench, "mass", "pole");
    let gone = bench.server.with_network(|n| {
        let all = n.collection_mut("poles");
        let keep = all.len() / 2;
        all.drain(keep..).filter(|p| !is_invalid(p)).count()
    });
    let (report, ok) = bench.sync("mass", &[]);
    assert!(!ok, "{report:#}");
    assert_eq!(report["held_removals"][0]["removed"], gone as u64);
    assert_eq!(stored(&bench, "mass", "pole"), poles, "nothing applied");
    let told = bench.fails(&["sync", "--integration", "mass"]);
    assert!(
        told.contains("removals held") && told.contains("--allow-removals"),
        "{told}"
    );
    assert!(told.contains(" stored poles ("), "{told}");

    // A person's confirmation applies them; a wider share for this
    // integration lets later ones through.
    let (allowed, ok) = bench.sync("mass", &["--allow-removals"]);
    assert!(ok, "{allowed:#}");
    assert_eq!(counts(&allowed, "pole").3, gone as u64);
    assert_eq!(stored(&bench, "mass", "pole"), poles - gone);

    bench.server.with_network(|n| {
        let all = n.collection_mut("poles");
        let keep = all.len() / 2;
        all.truncate(keep);
    });
    bench.ok(&[
        "integration",
        "scope",
        "mass",
        "--max-removal-percent",
        "60",
    ]);
    let (report, ok) = bench.sync("mass", &[]);
    assert!(ok, "{report:#}");
}

#[test]
fn a_stored_element_that_turns_invalid_is_kept_flagged_with_its_splitters() {
    let bench = synced("invalid");
    let splitters_before = stored(&bench, "invalid", "splitter");
    let broken = bench.server.with_network(|n| {
        let boxes = n.collection_mut("boxes");
        let b = boxes.iter_mut().find(|b| !is_invalid(b)).unwrap();
        b["coords"] = serde_json::json!([-48.5, 95.0]);
        b["lat"] = Value::from(95.0);
        id(b)
    });
    let report = bench.sync_ok("invalid");
    assert_eq!(report["kinds"]["box"]["kept"], 1, "{report:#}");
    assert_eq!(counts(&report, "box").3, 0);
    assert_eq!(counts(&report, "splitter").3, 0);
    let boxes = bench.elements("invalid", "box");
    let kept = boxes
        .iter()
        .find(|b| id(b) == broken)
        .expect("the box is kept");
    assert!(kept["invalid"].as_str().unwrap().contains("95"), "{kept:#}");
    assert_ne!(kept["lat"], 95.0, "the last valid version is kept");
    assert_eq!(stored(&bench, "invalid", "splitter"), splitters_before);

    // Valid again: the flag goes.
    bench.server.with_network(|n| {
        let b = n.find_mut("boxes", &broken).unwrap();
        b["coords"] = serde_json::json!([-48.5, -27.5]);
        b["lat"] = Value::from(-27.5);
    });
    bench.sync_ok("invalid");
    let boxes = bench.elements("invalid", "box");
    let back = boxes.iter().find(|b| id(b) == broken).unwrap();
    assert!(back["invalid"].is_null(), "{back:#}");
}

#[test]
fn a_switched_off_kind_is_neither_read_nor_removed() {
    let bench = synced("kinds");
    let properties = stored(&bench, "kinds", "property");
    let clients = stored(&bench, "kinds", "client");
    let shown = bench.ok(&[
        "integration",
        "scope",
        "kinds",
        "--kinds",
        "pole,box,splitter",
        "--json",
    ]);
    let scope: Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(
        scope["kinds"],
        serde_json::json!(["pole", "box", "splitter"])
    );
    bench.server.clear_requests();
    bench
        .server
        .with_network(|n| n.collection_mut("properties").clear());
    let report = bench.sync_ok("kinds");
    assert!(
        bench
            .server
            .requests()
            .iter()
            .all(|r| !r.path.contains("properties") && !r.path.contains("ftth-clients")),
        "a switched-off kind was read"
    );
    assert_eq!(counts(&report, "property").3, 0);
    assert_eq!(stored(&bench, "kinds", "property"), properties);
    assert_eq!(stored(&bench, "kinds", "client"), clients);

    let refused = bench.fails(&["integration", "scope", "kinds", "--kinds", "pole,splitter"]);
    assert!(refused.contains("add box"), "{refused}");
    let refused = bench.fails(&["integration", "scope", "kinds", "--kinds", "pole,cable"]);
    assert!(
        refused.contains("\"cable\"") && refused.contains("choose from"),
        "{refused}"
    );
    let refused = bench.fails(&[
        "integration",
        "scope",
        "kinds",
        "--max-removal-percent",
        "120",
    ]);
    assert!(refused.contains("0 to 100"), "{refused}");
}

/// What a sync of a fresh bench on `config` stores, with `args`, and what
/// it said on stderr (`-v`).
fn stored_on(config: ServerConfig, args: &[&str]) -> (Vec<Vec<Value>>, Value, String) {
    let bench = Bench::with(config, generate(&GeneratorConfig::small()));
    bench.add_integration("a", None);
    let mut all = vec!["sync", "--integration", "a", "--json", "-v"];
    all.extend(args);
    let output = bench.mapsync(&all);
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(output.status.success(), "{report:#}");
    let stored = ["pole", "box", "splitter", "client", "property"]
        .iter()
        .map(|kind| bench.elements("a", kind))
        .collect();
    (stored, report, crate::common::stderr(&output))
}

/// A platform that ignores comparisons of ids in a filter would answer
/// every range of ids with the whole kind: the first pages show it, before
/// any row is stored, and the kind is read by its plain listing, said why,
/// storing what a platform that filters stores.
#[test]
fn a_platform_ignoring_filters_on_ids_is_read_plainly_and_said_so() {
    let args = ["--page-size", "4"];
    let (clean, clean_report, _) = stored_on(server_config(), &args);
    let deaf = ServerConfig {
        ignore_id_ranges: true,
        ..server_config()
    };
    let (stored, report, said) = stored_on(deaf, &args);
    assert!(stored == clean, "the stores differ");
    assert_eq!(report["incomplete"], serde_json::json!([]), "{report:#}");
    for kind in ["pole", "box", "splitter", "client", "property"] {
        assert_eq!(counts(&report, kind), counts(&clean_report, kind), "{kind}");
    }
    assert!(
        said.contains("read whole, one page after another")
            && said.contains("does not filter on ids as asked"),
        "{said}"
    );
}

/// A platform that caps its pages silently (answering the `limit` asked
/// for with fewer rows) is read at its size, by ranges all the same,
/// said so once a kind, and stores what a platform that says its cap does.
#[test]
fn a_silently_capped_page_is_followed_at_the_platforms_size() {
    let args = ["--page-size", "50"];
    let capped = |silent| ServerConfig {
        max_page_size: 3,
        silent_page_cap: silent,
        ..server_config()
    };
    let (clean, clean_report, _) = stored_on(capped(false), &args);
    let (stored, report, said) = stored_on(capped(true), &args);
    assert!(stored == clean, "the stores differ");
    assert_eq!(report["incomplete"], serde_json::json!([]), "{report:#}");
    for kind in ["pole", "box", "splitter", "client", "property"] {
        assert_eq!(counts(&report, kind), counts(&clean_report, kind), "{kind}");
    }
    assert!(
        said.contains("fewer than the 50 asked (it said limit 50)"),
        "{said}"
    );
    // Once a route, not once a range.
    let told = said.matches("fewer than the 50 asked").count();
    assert!((1..=8).contains(&told), "said {told} times: {said}");
}
