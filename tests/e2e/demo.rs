//! `mapsync demo`, the README's first command.

use std::process::Command;

#[test]
fn the_demo_synchronises_binds_and_sees_the_port_taken() {
    let cache = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("component-cache");
    let output = Command::new(env!("CARGO_BIN_EXE_mapsync"))
        .arg("demo")
        .env("MAPSYNC_CACHE_DIR", cache)
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
}
