//! The host conformance suite (`tests/conformance`, data) run by this host:
//! every scenario's runs through `mapsync sync` and `mapsync elements`, on
//! SQLite here and on PostgreSQL in `on_postgres`. The Node package runs the
//! same files (`embed/node/test/conformance.test.js`); both must agree with
//! what each scenario expects.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::Bench;

const INTEGRATION: &str = "conformance";

/// Every scenario, by file name.
pub fn scenarios() -> Vec<(String, Value)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/conformance");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(files.len() >= 7, "scenarios missing in {}", dir.display());
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            let scenario =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            (path.file_name().unwrap().to_string_lossy().into(), scenario)
        })
        .collect()
}

/// Whether `got` holds what `want` says: every field `want` names, with the
/// same value (objects compared the same way, arrays element by element
/// and of the same length); with `exact`, nothing more either.
pub fn holds(want: &Value, got: &Value, exact: bool, at: &str) -> Result<(), String> {
    match (want, got) {
        (Value::Object(want), Value::Object(got)) => {
            for (key, value) in want {
                let found = got.get(key).unwrap_or(&Value::Null);
                holds(value, found, exact, &format!("{at}.{key}"))?;
            }
            if exact && let Some(extra) = got.keys().find(|k| !want.contains_key(*k)) {
                return Err(format!("{at}: {extra} is not expected"));
            }
            Ok(())
        }
        (Value::Array(want), Value::Array(got)) => {
            if want.len() != got.len() {
                return Err(format!(
                    "{at}: {} expected, {} found: {}",
                    want.len(),
                    got.len(),
                    Value::Array(got.clone())
                ));
            }
            for (i, (w, g)) in want.iter().zip(got).enumerate() {
                holds(w, g, exact, &format!("{at}[{i}]"))?;
            }
            Ok(())
        }
        (Value::Number(w), Value::Number(g)) if w.as_f64() == g.as_f64() => Ok(()),
        _ if want == got => Ok(()),
        _ => Err(format!("{at}: {want} expected, {got} found")),
    }
}

/// One scenario on a fresh store and platform.
fn run_scenario(scenario: &Value) -> Result<(), String> {
    let bench = Bench::new();
    let mut extra = vec!["--refresh-every".to_string(), "0".to_string()];
    if let Some(percent) = scenario["integration"]["max_removal_percent"].as_u64() {
        extra.extend(["--max-removal-percent".into(), percent.to_string()]);
    }
    if let Some(project) = scenario["integration"]["project_name"].as_str() {
        extra.extend(["--project-name".into(), project.into()]);
    }
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    bench.add_unlinked(INTEGRATION, crate::common::PASSWORD, &[], &extra);
    bench.link(INTEGRATION, &[]);
    let exact = scenario["exact"].as_bool().unwrap_or(false);
    for (n, run) in scenario["runs"].as_array().unwrap().iter().enumerate() {
        let at = format!("run {}", n + 1);
        bench
            .server
            .with_network(|network| network.replace_with(&run["platform"]))
            .map_err(|e| format!("{at}: the platform: {e}"))?;
        let settings = &run["settings"];
        let page_size = settings["page_size"].as_u64().unwrap_or(100).to_string();
        let mut args = vec!["--page-size", page_size.as_str()];
        if settings["full"].as_bool().unwrap_or(false) {
            args.push("--full");
        }
        if settings["allow_removals"].as_bool().unwrap_or(false) {
            args.push("--allow-removals");
        }
        let (report, ok) = bench.sync(INTEGRATION, &args);
        let expect = &run["expect"];
        match expect["error"].as_str() {
            Some(error) => {
                let told = report["error"].as_str().unwrap_or_default();
                if ok || !told.contains(error) {
                    return Err(format!("{at}: an error with {error:?} expected: {report}"));
                }
            }
            None if !ok => return Err(format!("{at}: the sync failed: {report}")),
            None => {}
        }
        if let Some(kinds) = expect["kinds"].as_object() {
            for (kind, counts) in kinds {
                holds(
                    counts,
                    &report["kinds"][kind],
                    false,
                    &format!("{at}: {kind}"),
                )?;
            }
        }
        if let Some(kinds) = expect["elements"].as_object() {
            for (kind, want) in kinds {
                let got = Value::Array(bench.elements(INTEGRATION, kind));
                holds(want, &got, exact, &format!("{at}: the {kind} listing"))?;
            }
        }
    }
    Ok(())
}

#[test]
fn every_scenario_of_the_conformance_suite() {
    let failed: Vec<String> = scenarios()
        .into_iter()
        .filter_map(|(file, scenario)| {
            run_scenario(&scenario)
                .err()
                .map(|why| format!("{file} ({}): {why}", scenario["scenario"]))
        })
        .collect();
    assert!(failed.is_empty(), "\n{}", failed.join("\n"));
}
