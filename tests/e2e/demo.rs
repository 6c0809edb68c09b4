//! `mapsync demo`, the README's first command.

use std::process::Command;

#[test]
fn the_demo_synchronises_binds_and_sees_the_port_taken() {
    let cache = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("component-cache");
    // A PATH without mapsync on it, as after `cargo run`.
    let path = "/usr/bin:/bin";
    let output = Command::new(env!("CARGO_BIN_EXE_mapsync"))
        .arg("demo")
        .env("MAPSYNC_CACHE_DIR", &cache)
        .env("PATH", path)
        .env_remove("MAPSYNC_DB")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let network = ozmap_test_server::generate(&ozmap_test_server::GeneratorConfig::small());
    let valid = |route: &str| {
        network
            .collection(route)
            .iter()
            .filter(|d| {
                !d["observation"]
                    .as_str()
                    .is_some_and(|o| o.starts_with("INVALID"))
            })
            .count()
    };
    for (label, count) in [
        ("projects", valid("projects")),
        ("poles", valid("poles")),
        ("boxes", valid("boxes")),
        ("properties", valid("properties")),
        ("clients", valid("ftth-clients")),
    ] {
        let line = stdout
            .lines()
            .find(|l| l.trim_start().starts_with(label) && !l.contains("created"))
            .unwrap_or_else(|| panic!("no {label} line:\n{stdout}"));
        assert!(
            line.split_whitespace().nth(1) == Some(&count.to_string()),
            "{label}: expected {count} in {line:?}"
        );
    }
    assert!(stdout.contains("service splitters") && stdout.contains("distribution splitters"));
    assert!(stdout.contains("confirmed: pushed"), "{stdout}");
    assert!(
        stdout.contains("is \"taken\" by client code \"SVC-DEMO-1\""),
        "{stdout}"
    );

    // The commands it suggests work as printed.
    let suggested: Vec<&str> = stdout
        .lines()
        .skip_while(|l| !l.contains("Explore what was stored"))
        .skip(1)
        .map(str::trim)
        .take_while(|l| !l.is_empty())
        .collect();
    assert_eq!(suggested.len(), 2, "{stdout}");
    let outputs: Vec<String> = suggested
        .iter()
        .map(|command| {
            let run = Command::new("sh")
                .args(["-c", command])
                .env("MAPSYNC_CACHE_DIR", &cache)
                .env("PATH", path)
                .env_remove("MAPSYNC_DB")
                .output()
                .unwrap();
            assert!(
                run.status.success(),
                "{command}: {}",
                String::from_utf8_lossy(&run.stderr)
            );
            String::from_utf8_lossy(&run.stdout).into_owned()
        })
        .collect();
    let splitters: serde_json::Value = serde_json::from_str(&outputs[0]).unwrap();
    assert!(!splitters.as_array().unwrap().is_empty());
    assert!(outputs[1].contains("SVC-DEMO-1"), "{}", outputs[1]);

    // It tells how to open the console on such data.
    assert!(stdout.contains("demo --serve"), "{stdout}");

    // The demo's database stays for exploring; the test's is cleaned up.
    let db = stdout
        .lines()
        .find_map(|l| l.split_once("in a fresh database (")?.1.strip_suffix(')'))
        .unwrap();
    let _ = std::fs::remove_dir_all(std::path::Path::new(db).parent().unwrap());
}

/// `demo --serve --listen 127.0.0.1:0`, `token` in MAPSYNC_API_TOKEN if
/// given, once it listens: the child, what it printed, its address and the
/// demo's database.
fn demo_serving(token: Option<&str>) -> (std::process::Child, String, String, Option<String>) {
    use std::io::{BufRead, BufReader};
    let cache = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("component-cache");
    let mut command = Command::new(env!("CARGO_BIN_EXE_mapsync"));
    command
        .args(["demo", "--serve", "--listen", "127.0.0.1:0"])
        .env("MAPSYNC_CACHE_DIR", &cache)
        .env_remove("MAPSYNC_DB")
        .env_remove("MAPSYNC_API_TOKEN")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    if let Some(token) = token {
        command.env("MAPSYNC_API_TOKEN", token);
    }
    let mut child = command.spawn().unwrap();
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut printed, mut address, mut db) = (String::new(), None, None);
    for line in lines {
        let line = line.unwrap();
        printed.push_str(&line);
        printed.push('\n');
        if let Some(rest) = line.split_once("in a fresh database (") {
            db = rest.1.strip_suffix(')').map(str::to_string);
        }
        if let Some(rest) = line.strip_prefix("listening on ") {
            address = Some(rest.to_string());
            break;
        }
    }
    (child, printed, address.expect("never listened"), db)
}

/// GET `path` of `address` with `token`: its status.
fn status_with(address: &str, path: &str, token: &str) -> u16 {
    let request = ureq::http::Request::builder()
        .uri(format!("{address}{path}"))
        .header("Authorization", format!("Bearer {token}"))
        .body(())
        .unwrap();
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent()
        .run(request)
        .unwrap()
        .status()
        .as_u16()
}

/// `demo --serve` with MAPSYNC_API_TOKEN set: serve takes that token and
/// no other, so the demo says so instead of printing one it would refuse.
#[test]
fn the_demo_with_a_token_in_the_environment_says_it_is_in_use() {
    let (mut child, printed, address, db) = demo_serving(Some("env-token-5d1c9a7e3b"));
    assert!(
        printed.contains("the environment's token is in use"),
        "{printed}"
    );
    assert!(
        !printed.contains("sign in with the API token "),
        "{printed}"
    );
    assert_eq!(
        status_with(&address, "/api/v1/integrations", "env-token-5d1c9a7e3b"),
        200
    );
    assert!(crate::common::terminate(&mut child).success());
    if let Some(db) = db {
        let _ = std::fs::remove_dir_all(std::path::Path::new(&db).parent().unwrap());
    }
}

/// `demo --serve`: the console and the API on the demo's data, with the
/// token it prints, until stopped.
#[test]
fn the_demo_serves_the_console_on_its_data() {
    let (mut child, printed, address, db) = demo_serving(None);
    let token = printed
        .lines()
        .find_map(|line| line.split_once("sign in with the API token "))
        .map(|(_, rest)| rest.trim_end_matches('.').to_string())
        .expect("no token printed");
    assert_eq!(status_with(&address, "/api/v1/integrations", &token), 200);
    let page = ureq::get(&format!("{address}/console/"))
        .call()
        .unwrap()
        .into_body()
        .read_to_string()
        .unwrap();
    assert!(page.contains("signin-token"), "{page}");
    let call = |method: &str, path: &str| -> serde_json::Value {
        let request = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{address}{path}"))
            .header("Authorization", format!("Bearer {token}"))
            .body(())
            .unwrap();
        ureq::run(request).unwrap().into_body().read_json().unwrap()
    };
    assert_eq!(call("GET", "/api/v1/integrations")[0]["name"], "demo");
    // Its test server is still up: a sync from the API succeeds.
    let started = call("POST", "/api/v1/integrations/demo/sync");
    let run = started["status_url"].as_str().unwrap();
    crate::common::wait_for("the demo's sync from the API", || {
        let run = call("GET", run);
        assert_ne!(run["outcome"], "failed", "{run:#}");
        run["outcome"] == "succeeded"
    });
    assert!(crate::common::terminate(&mut child).success());
    if let Some(db) = db {
        let _ = std::fs::remove_dir_all(std::path::Path::new(&db).parent().unwrap());
    }
}

/// `mapsync --version`: mapsync's version and the WIT package its
/// component keeps, the one an embedder's package must match.
#[test]
fn the_version_names_mapsync_and_its_wit_package() {
    let wit = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../wit/mapsync.wit"))
        .unwrap();
    let package = wit
        .lines()
        .find_map(|l| l.strip_prefix("package ")?.strip_suffix(';'))
        .unwrap();
    assert!(package.starts_with("mapsync:integration@"), "{package}");
    let output = Command::new(env!("CARGO_BIN_EXE_mapsync"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        format!("mapsync {} (WIT {package})\n", env!("CARGO_PKG_VERSION"))
    );
}
