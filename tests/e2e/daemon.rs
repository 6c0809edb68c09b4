//! `mapsync serve` as a service: catch-up at start, a clean stop during a
//! sync, and the `runs` and `status` commands.

use std::time::Duration;

use ozmap_test_server::{GeneratorConfig, ServerConfig, generate};
use serde_json::Value;

use crate::common::{Bench, server_config, terminate, wait_for};

fn runs(bench: &Bench) -> Vec<Value> {
    serde_json::from_str(&bench.ok(&["runs", "--json"])).unwrap()
}

/// Once `served` caught up on its missed run, stopped cleanly: all it printed.
fn caught_up_and_stopped(bench: &Bench, served: crate::common::Served) -> String {
    let (mut child, mut printed, mut out) = (served.child, served.printed, served.rest);
    wait_for("the catch-up run", || {
        runs(bench)
            .iter()
            .any(|r| r["trigger"] == "catch-up" && r["outcome"] == "succeeded")
    });
    assert!(terminate(&mut child).success());
    std::io::Read::read_to_string(&mut out, &mut printed).unwrap();
    printed
}

#[test]
fn serve_catches_up_a_missed_run_and_stops_cleanly() {
    let bench = Bench::new();
    bench.add_integration("isp", None);
    let printed = caught_up_and_stopped(&bench, bench.serve("test-token"));
    assert!(
        printed.contains("next sync of \"isp\"") && printed.contains("04:00"),
        "{printed}"
    );

    // Synced less than a day ago: no catch-up at the next start.
    let mut child = bench.serve("test-token").child;
    std::thread::sleep(Duration::from_secs(2));
    assert!(terminate(&mut child).success());
    assert_eq!(runs(&bench).len(), 1);

    let status: Vec<Value> = serde_json::from_str(&bench.ok(&["status", "--json"])).unwrap();
    assert_eq!(status[0]["integration"], "isp");
    assert_eq!(status[0]["sync_time"], "04:00");
    assert_eq!(status[0]["last_run"]["outcome"], "succeeded");
    assert!(
        status[0]["next_run"]
            .as_str()
            .unwrap()
            .contains("T04:00:00-03:00"),
        "{status:?}"
    );
    bench.ok(&["integration", "schedule", "isp", "--at", "23:15"]);
    let status: Vec<Value> = serde_json::from_str(&bench.ok(&["status", "--json"])).unwrap();
    assert!(
        status[0]["next_run"]
            .as_str()
            .unwrap()
            .contains("T23:15:00-03:00"),
        "{status:?}"
    );
    assert!(
        bench
            .fails(&["integration", "schedule", "isp", "--at", "25:00"])
            .contains("HH:MM")
    );
}

#[test]
fn a_stop_during_a_sync_leaves_the_store_consistent() {
    // Every answer is slow, so the catch-up sync is still running when the
    // stop comes.
    let config = ServerConfig {
        latency: Duration::from_millis(400),
        ..server_config()
    };
    let bench = Bench::with(config, generate(&GeneratorConfig::small()));
    bench.add_integration("isp", None);
    let mut child = bench.serve("test-token").child;
    wait_for("the sync to start", || {
        runs(&bench).iter().any(|r| r["outcome"] == "running")
    });
    let status = terminate(&mut child);
    assert!(status.success(), "{status:?}");
    let runs = runs(&bench);
    assert!(runs.iter().all(|r| r["outcome"] != "running"), "{runs:#?}");
    // All or nothing: a finished run stored everything, a cut-short one nothing.
    let poles = bench.elements("isp", "pole").len();
    let properties = bench.elements("isp", "property").len();
    match runs[0]["outcome"].as_str().unwrap() {
        "succeeded" => assert!(poles > 0 && properties > 0),
        _ => assert_eq!(
            (poles, properties),
            (0, 0),
            "a rolled-back run left elements: {runs:#?}"
        ),
    }
}

#[test]
fn runs_lists_the_history_newest_first() {
    let bench = Bench::new();
    bench.add_integration("isp", None);
    bench.sync_ok("isp");
    bench
        .server
        .inject("projects", ozmap_test_server::Fault::Status(400), 1);
    bench.sync("isp", &[]);
    let runs = runs(&bench);
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0]["outcome"], "failed");
    assert!(runs[0]["error"].as_str().unwrap().contains("400"));
    assert_eq!(runs[1]["outcome"], "succeeded");
    assert_eq!(runs[1]["trigger"], "manual");
    assert_eq!(
        runs[1]["report"]["kinds"]["pole"]["created"],
        runs[1]["report"]["kinds"]["pole"]["created"]
    );
    assert!(
        runs[1]["report"]["kinds"]["pole"]["created"]
            .as_u64()
            .unwrap()
            > 0
    );
    let text = bench.ok(&["runs", "--integration", "isp"]);
    assert_eq!(text.lines().count(), 2);
    assert!(
        bench
            .fails(&["runs", "--integration", "nope"])
            .contains("no integration named")
    );
}

#[test]
fn other_commands_write_while_a_long_sync_runs() {
    let config = ServerConfig {
        latency: Duration::from_millis(700),
        ..server_config()
    };
    let bench = Bench::with(config, generate(&GeneratorConfig::small()));
    bench.add_integration("isp", None);
    let mut sync = bench.spawn(&["sync", "--integration", "isp", "--json"]);
    // Mid-sync: the poles are staged (in the run's own connection, out of
    // sight here) once the boxes are asked for.
    wait_for("the sync to store its first pages", || {
        bench
            .server
            .requests()
            .iter()
            .any(|r| r.path.ends_with("/boxes"))
    });
    let file = bench.dir.path().join("s.csv");
    std::fs::write(&file, "id_cliente_servico,name\nSVC-1,Maria\n").unwrap();
    bench.ok(&["services", "import", file.to_str().unwrap()]);
    bench.ok(&["project", "create", "Outro"]);
    assert!(
        sync.try_wait().unwrap().is_none(),
        "the writes had to wait for the sync to end"
    );
    assert!(sync.wait().unwrap().success());
    assert!(!bench.elements("isp", "pole").is_empty());
    let staged = bench.sql_i64("SELECT count(*) FROM run_elements");
    assert_eq!(staged, 0, "a finished run leaves no staging behind");
}

#[test]
fn one_sync_per_integration_across_processes() {
    let config = ServerConfig {
        latency: Duration::from_millis(500),
        ..server_config()
    };
    let bench = Bench::with(config, generate(&GeneratorConfig::small()));
    bench.add_integration("isp", None);
    let mut first = bench.spawn(&["sync", "--integration", "isp", "--json"]);
    wait_for("the first sync to start", || {
        runs(&bench).iter().any(|r| r["outcome"] == "running")
    });
    let refused = bench.fails(&["sync", "--integration", "isp"]);
    assert!(refused.contains("already running"), "{refused}");
    assert!(first.wait().unwrap().success());
    assert_eq!(runs(&bench).len(), 1);
    bench.sync_ok("isp");
}

/// `serve` says which integrations it will not schedule and why, and the
/// API says the same; nothing is silent.
#[test]
fn serve_names_what_it_will_not_schedule() {
    let bench = Bench::new();
    bench.add_integration("linked", None);
    bench.add_unlinked(
        "loose",
        crate::common::PASSWORD,
        &[],
        &["--refresh-every", "0"],
    );
    let served = bench.serve("test-token");
    let api = ureq::get(format!("{}/api/v1/integrations/loose", served.address))
        .header("Authorization", "Bearer test-token")
        .call()
        .unwrap()
        .into_body()
        .read_json::<Value>()
        .unwrap();
    assert_eq!(api["synchronising"], false);
    let why = api["not_synchronising_because"].as_str().unwrap();
    assert!(why.contains("feeds no project"), "{why}");
    let printed = caught_up_and_stopped(&bench, served);
    assert!(
        printed.contains("not scheduling \"loose\": it feeds no project: link it with"),
        "{printed}"
    );
    assert!(!printed.contains("not scheduling \"linked\""), "{printed}");
}
