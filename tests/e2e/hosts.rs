//! Several `mapsync serve` hosts on one PostgreSQL: each due sync runs
//! once per slot across them, a killed host's work is redone by another,
//! and each queued push is sent once.

use std::collections::BTreeMap;
use std::time::Duration;

use ozmap_test_server::{Fault, GeneratorConfig, ServerConfig, generate};

use crate::common::{
    Bench, Served, ports_in_state, server_config, terminate, wait_for, wait_for_within,
};

const INTEGRATIONS: usize = 20;
const TOKEN: &str = "hosts-token-0123456789";

/// The hosts, killed if the test ends before it stops them.
struct Hosts(Vec<Served>);

impl Drop for Hosts {
    fn drop(&mut self) {
        for host in &mut self.0 {
            let _ = host.child.kill();
            let _ = host.child.wait();
        }
    }
}

/// Bind each service to a free port and confirm it while the platform
/// fails: the pushes stay queued, due at once.
fn queue_pushes(bench: &Bench, services: &[&str]) {
    let csv: String = std::iter::once("id_cliente_servico,name\n".to_string())
        .chain(services.iter().map(|s| format!("{s},Cliente {s}\n")))
        .collect();
    let file = bench.dir.path().join("services.csv");
    std::fs::write(&file, csv).unwrap();
    bench.ok(&["services", "import", file.to_str().unwrap()]);
    let free = ports_in_state(&bench.elements("isp", "splitter"), "free");
    for (service, (splitter, port)) in services.iter().zip(free) {
        let port = port.to_string();
        bench.ok(&[
            "bind",
            "--service",
            service,
            "--splitter",
            &splitter,
            "--port",
            &port,
        ]);
        bench.server.inject("properties", Fault::Status(503), 3);
        let out = bench.ok(&["confirm", "--service", service]);
        assert!(out.contains("will be retried"), "{out}");
        bench.server.clear_faults();
    }
    bench.sql("UPDATE outbox SET next_attempt_at = '2000-01-01T00:00:00.000Z'");
}

/// Runs by host pid: outcome counts.
fn outcomes_by_pid(bench: &Bench) -> BTreeMap<String, i64> {
    let mut counts = BTreeMap::new();
    for outcome in ["running", "succeeded", "interrupted", "failed"] {
        counts.insert(
            outcome.to_string(),
            bench.sql_i64(&format!(
                "SELECT count(*) FROM runs WHERE outcome = '{outcome}' AND trigger <> 'cli'"
            )),
        );
    }
    counts
}

#[test]
fn three_hosts_run_each_due_sync_once_and_redo_a_killed_hosts_work() {
    if !crate::common::on_postgres() {
        return; // hosts share a PostgreSQL store
    }
    // Slow answers, so that a sync is still going when its host is killed.
    let config = ServerConfig {
        latency: Duration::from_millis(60),
        ..server_config()
    };
    let bench = Bench::with(config, generate(&GeneratorConfig::small()));
    // The first is the bench's usual "isp".
    let names: Vec<String> = (0..INTEGRATIONS)
        .map(|i| {
            if i == 0 {
                "isp".into()
            } else {
                format!("isp{i:02}")
            }
        })
        .collect();
    for name in &names {
        bench.add_integration(name, None);
    }
    // One integration synced (to bind on it) and three pushes queued; then
    // its success is made old, so all twenty are due at once (catch-up).
    bench.sync_ok("isp");
    let services = ["SVC-H1", "SVC-H2", "SVC-H3"];
    queue_pushes(&bench, &services);
    bench.sql("UPDATE runs SET started_at = '2000-01-01T00:00:00.000Z', ended_at = '2000-01-01T00:00:00.000Z'");
    bench.server.clear_requests();

    let env = [("MAPSYNC_LEASE_SECONDS", "3")];
    let mut hosts = Hosts(
        (0..3)
            .map(|_| bench.serve_with(TOKEN, &["--parallel", "2"], &env))
            .collect(),
    );
    let pids: Vec<u32> = hosts.0.iter().map(|h| h.child.id()).collect();

    // Kill a host in the middle of a sync.
    let running_on = |pid: u32| {
        bench.sql_i64(&format!(
            "SELECT count(*) FROM runs WHERE outcome = 'running' AND pid = {pid}"
        ))
    };
    wait_for("every host to run a sync", || {
        pids.iter().all(|pid| running_on(*pid) > 0)
    });
    // A sync asked of one host while another runs it: 409, with the
    // progress the running host keeps in the store.
    let mut answered = None;
    for _ in 0..50 {
        let running = bench.sql_row(&format!(
            "SELECT i.name, r.id FROM runs r JOIN integrations i ON i.id = r.integration_id
             WHERE r.outcome = 'running' AND r.pid = {} LIMIT 1",
            pids[0]
        ));
        let (Some(name), Some(run)) = (
            running.first().cloned().flatten(),
            running.get(1).cloned().flatten(),
        ) else {
            std::thread::sleep(Duration::from_millis(50));
            continue;
        };
        let mut response = ureq::post(format!(
            "{}/api/v1/integrations/{name}/sync",
            hosts.0[2].address
        ))
        .header("Authorization", format!("Bearer {TOKEN}"))
        .config()
        .http_status_as_error(false)
        .build()
        .send_empty()
        .unwrap();
        if response.status() == 409 {
            let body: serde_json::Value =
                serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap();
            answered = Some((run, body));
            break;
        }
    }
    let (run, body) = answered.expect("no 409 for a sync running on another host");
    assert_eq!(body["progress"]["run_id"].to_string(), run, "{body}");

    let killed = pids[1];
    hosts.0[1].child.kill().unwrap();
    hosts.0[1].child.wait().unwrap();
    wait_for_within(
        "every integration to sync for its slot",
        Duration::from_secs(180),
        || {
            bench.sql_i64(
                "SELECT count(DISTINCT integration_id) FROM runs
                 WHERE outcome = 'succeeded' AND trigger IN ('catch-up', 'take-over')",
            ) == INTEGRATIONS as i64
                && bench.sql_i64("SELECT count(*) FROM runs WHERE outcome = 'running'") == 0
                // A slot is done once its run's identification is.
                && bench.sql_i64("SELECT count(*) FROM slot_claims WHERE NOT done") == 0
        },
    );

    // Exactly once per slot: one succeeded run per integration, one claim
    // per integration, done.
    let most = bench.sql_i64(
        "SELECT max(n) FROM (SELECT count(*) AS n FROM runs
         WHERE outcome = 'succeeded' AND trigger IN ('catch-up', 'take-over') GROUP BY integration_id) t",
    );
    assert_eq!(
        most,
        1,
        "an integration synced twice for one slot: {:?}",
        outcomes_by_pid(&bench)
    );
    assert_eq!(
        bench.sql_i64("SELECT count(*) FROM slot_claims"),
        INTEGRATIONS as i64
    );
    // The killed host's runs that were going are interrupted, and were
    // redone by others. (Read now: a commit the host sent as it was killed
    // may land after the kill, so its run counts as ended.)
    let cut_short: Vec<String> = bench.sql_row(&format!(
        "SELECT string_agg(integration_id, ',') FROM runs WHERE outcome = 'interrupted' AND pid = {killed}"
    ))[0]
        .clone()
        .unwrap_or_default()
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    assert!(!cut_short.is_empty(), "the killed host had no sync going");
    for integration in &cut_short {
        let row = bench.sql_row(&format!(
            "SELECT
               (SELECT count(*) FROM runs WHERE integration_id = '{integration}' AND pid = {killed} AND outcome = 'interrupted'),
               (SELECT count(*) FROM runs WHERE integration_id = '{integration}' AND pid <> {killed} AND outcome = 'succeeded'
                  AND trigger IN ('catch-up', 'take-over'))"
        ));
        assert_eq!(
            (row[0].as_deref(), row[1].as_deref()),
            (Some("1"), Some("1")),
            "integration {integration}"
        );
    }
    // Every host that lived did some of the work.
    for pid in [pids[0], pids[2]] {
        assert!(
            bench.sql_i64(&format!(
                "SELECT count(*) FROM runs WHERE pid = {pid} AND outcome = 'succeeded'"
            )) > 0,
            "host {pid} synced nothing"
        );
    }

    // Each queued push was sent once: one property each, all pushed.
    let created = bench
        .server
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path == "/api/v2/properties")
        .count();
    assert_eq!(created, services.len(), "a push was sent twice");
    for service in services {
        let state = bench.sql_row(&format!(
            "SELECT state FROM bindings WHERE service_id = '{service}'"
        ));
        assert_eq!(state[0].as_deref(), Some("pushed"), "{service}");
    }

    // The API of every host answers from the same store.
    let runs_seen_by = |host: &Served| -> serde_json::Value {
        let mut response = ureq::get(format!(
            "{}/api/v1/integrations/isp/runs?limit=100",
            host.address
        ))
        .header("Authorization", format!("Bearer {TOKEN}"))
        .call()
        .unwrap();
        serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap()
    };
    let seen = runs_seen_by(&hosts.0[0]);
    let of_isp = bench.sql_i64(
        "SELECT count(*) FROM runs r JOIN integrations i ON i.id = r.integration_id WHERE i.name = 'isp'",
    );
    assert_eq!(
        seen.as_array().map(Vec::len),
        Some(of_isp as usize),
        "{seen}"
    );
    assert_eq!(seen, runs_seen_by(&hosts.0[2]));

    for (i, host) in hosts.0.iter_mut().enumerate() {
        if i != 1 {
            assert!(terminate(&mut host.child).success());
        }
    }
}
