//! Incremental sync: after random changes on the platform, a sync that
//! reads only what changed leaves the store as a full sync of the same
//! platform does, element by element.

use ozmap_test_server::{GeneratorConfig, Mutation, PROJECT_NAMES, generate};
use serde_json::Value;

use crate::common::{Bench, server_config};

const KINDS: [&str; 6] = ["project", "pole", "box", "splitter", "client", "property"];

/// Every stored element of every kind, as `elements --json` shows it.
fn store_of(bench: &Bench, integration: &str) -> Vec<(String, Vec<Value>)> {
    KINDS
        .iter()
        .map(|kind| {
            let mut elements = bench.elements(integration, kind);
            for e in &mut elements {
                if let Some(fields) = e.as_object_mut() {
                    fields.remove("integration");
                }
            }
            elements.sort_by_key(|e| e["id"].as_str().unwrap_or_default().to_string());
            (kind.to_string(), elements)
        })
        .collect()
}

fn assert_same(round: u64, incremental: &[(String, Vec<Value>)], full: &[(String, Vec<Value>)]) {
    for ((kind, inc), (_, all)) in incremental.iter().zip(full) {
        assert_eq!(inc.len(), all.len(), "round {round}: {kind}s stored");
        for (a, b) in inc.iter().zip(all) {
            assert_eq!(a, b, "round {round}: {kind} {}", a["id"]);
        }
    }
}

/// 20 rounds of changes (created, updated, deleted, a property moved to
/// another port, a client's code changed, a port blocked), each followed by
/// an incremental sync with `args`, compared with a full sync of the same
/// platform read one page of 500 after another.
fn rounds(project: Option<&str>, args: &[&str]) {
    let network = generate(&GeneratorConfig::small());
    let bench = Bench::with(server_config(), network);
    bench.add_integration("changes", project);
    bench.add_integration("everything", project);
    let (first, ok) = bench.sync("changes", args);
    assert!(ok, "{first:#}");
    assert_eq!(first["full_reason"], "first run");
    // Where the time went, in parts that add up.
    let timing = &first["timing"];
    let part = |k: &str| {
        timing[k]
            .as_u64()
            .unwrap_or_else(|| panic!("{k}: {timing}"))
    };
    assert_eq!(
        part("platform_ms") + part("store_ms") + part("component_ms"),
        part("total_ms"),
        "{timing}"
    );
    assert!(part("platform_ms") > 0, "{timing}");
    // The component's work in its thread's CPU time leaves out the moments
    // it waited for a core, never adds to it (a millisecond each way for
    // rounding).
    assert!(
        part("component_cpu_ms") <= part("component_ms") + 2,
        "{timing}"
    );
    let mut read_less = 0;
    for round in 0..20 {
        let summary = bench.server.with_network(|n| {
            ozmap_test_server::mutate(
                n,
                &Mutation {
                    fraction: 0.02,
                    seed: round + 1,
                },
            )
        });
        assert!(summary.changes > 0, "round {round}: {summary:?}");
        let (report, ok) = bench.sync("changes", args);
        assert!(ok, "round {round}: {report:#}");
        assert_eq!(
            report["full_reason"],
            Value::Null,
            "round {round}: {report:#}"
        );
        let (full, ok) = bench.sync("everything", &["--full", "--pages-in-flight", "1"]);
        assert!(ok, "round {round}: {full:#}");
        assert_same(
            round,
            &store_of(&bench, "changes"),
            &store_of(&bench, "everything"),
        );
        let unchanged = |r: &Value| -> u64 {
            KINDS
                .iter()
                .map(|k| r["kinds"][k]["unchanged"].as_u64().unwrap())
                .sum()
        };
        if unchanged(&report) < unchanged(&full) {
            read_less += 1;
        }
    }
    assert!(
        read_less >= 15,
        "the incremental syncs read as much as full ones: {read_less} of 20 read less"
    );
}

#[test]
fn twenty_rounds_of_changes_leave_the_store_as_a_full_sync_does() {
    rounds(None, &[]);
}

#[test]
fn twenty_rounds_of_changes_in_one_project() {
    rounds(Some(PROJECT_NAMES[0]), &[]);
}

/// Small pages: every kind is read by ranges of ids, several requests
/// under way, and so are the walks of ids that find removals, while
/// creations, updates and deletions fall in the same ranges.
#[test]
fn twenty_rounds_read_by_ranges_of_ids() {
    rounds(None, &["--page-size", "4", "--pages-in-flight", "16"]);
}

#[test]
fn twenty_rounds_in_one_project_read_by_ranges_of_ids() {
    rounds(
        Some(PROJECT_NAMES[0]),
        &["--page-size", "4", "--pages-in-flight", "6"],
    );
}
