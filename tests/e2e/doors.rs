//! Every door of the CLI bounded and strict, tried as a careless or
//! hostile user would: names that are terminal commands, secrets over
//! plain http, oversized input, bad input's exit code, bounded error
//! answers, and logs fit for a file.

use std::io::Write;
use std::process::{Output, Stdio};

use crate::common::{API_KEY, Bench, PASSWORD, USER, stderr, stdout};

/// What acts on a terminal or reorders text, as mapsync refuses it.
fn is_unsafe(c: char) -> bool {
    (c.is_control() && c != '\n')
        || matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

#[track_caller]
fn assert_exit(output: &Output, code: i32) {
    assert_eq!(
        output.status.code(),
        Some(code),
        "{}\n{}",
        stdout(output),
        stderr(output)
    );
}

#[track_caller]
fn assert_printable(output: &Output) {
    for text in [stdout(output), stderr(output)] {
        assert!(
            !text.chars().any(is_unsafe),
            "printed what acts on a terminal: {text:?}"
        );
    }
}

/// Screen clears, forged lines, titles and bidi overrides are refused as
/// names with exit 2, and what the store already holds is printed escaped.
#[test]
fn names_are_text_not_terminal_commands() {
    let bench = Bench::new();
    let hostile = [
        "Proj\u{1b}[2J\u{1b}[31m",
        "Centro\nerror: the database is corrupt",
        "\u{1b}]0;pwned\u{7}",
        "Norte\u{202E}etroN",
        "csi\u{9b}2J",
    ];
    for name in hostile {
        let output = bench.mapsync(&["project", "create", name]);
        assert_exit(&output, 2);
        assert!(
            stderr(&output).contains("control character"),
            "{}",
            stderr(&output)
        );
        assert_printable(&output);
        let output = add_at(&bench, name, &bench.server.url(), &[]);
        assert_exit(&output, 2);
        assert_printable(&output);
    }
    let long = "P".repeat(101);
    let output = bench.mapsync(&["project", "create", &long]);
    assert_exit(&output, 2);
    assert!(
        stderr(&output).contains("at most 100"),
        "{}",
        stderr(&output)
    );
    bench.ok(&["project", "create", "Centro – Fibra Ótica"]);

    // Names stored before the rule (or written by another program) are
    // printed escaped, by the list and by its JSON alike.
    bench.sql(
        "INSERT INTO projects (name, created_at) VALUES
             ('Old' || char(27) || '[2J', '2026-01-01T00:00:00Z'),
             ('Bidi' || char(8238) || 'x' || char(155), '2026-01-01T00:00:00Z')",
    );
    for args in [&["project", "list"][..], &["project", "list", "--json"]] {
        let output = bench.mapsync(args);
        assert_exit(&output, 0);
        assert_printable(&output);
        assert!(stdout(&output).contains("Old"), "{}", stdout(&output));
    }
    let listed: serde_json::Value =
        serde_json::from_str(&bench.ok(&["project", "list", "--json"])).unwrap();
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"Old\u{1b}[2J"),
        "the JSON keeps the name: {names:?}"
    );
    assert!(names.contains(&"Bidi\u{202E}x\u{9b}"), "{names:?}");
}

fn add_at(bench: &Bench, name: &str, url: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "integration",
        "add",
        "--name",
        name,
        "--api-url",
        url,
        "--user",
        USER,
        "--api-key",
        API_KEY,
        "--password",
        PASSWORD,
    ];
    args.extend(extra);
    bench.mapsync(&args)
}

/// Plain http only to loopback and private addresses (with a warning), or
/// anywhere with `--insecure-http`, which is kept and shown.
#[test]
fn secrets_never_travel_in_clear_unasked() {
    let bench = Bench::new();
    let output = add_at(&bench, "public", "http://203.0.113.7:9994", &[]);
    assert_exit(&output, 2);
    let error = stderr(&output);
    assert!(
        error.contains("https://203.0.113.7:9994") && error.contains("--insecure-http"),
        "{error}"
    );
    let output = add_at(&bench, "named", "http://ozmap.example.com", &[]);
    assert_exit(&output, 2);

    let output = add_at(
        &bench,
        "public",
        "http://203.0.113.7:9994",
        &["--insecure-http"],
    );
    assert_exit(&output, 0);
    assert!(stderr(&output).contains("in clear"), "{}", stderr(&output));
    let shown: serde_json::Value =
        serde_json::from_str(&bench.ok(&["integration", "show", "public", "--json"])).unwrap();
    assert_eq!(shown["insecure_http"], true, "{shown}");
    assert!(
        bench
            .ok(&["integration", "show", "public"])
            .contains("insecure_http yes")
    );

    for (name, url) in [
        ("lan", "http://192.168.10.5:9994"),
        ("here", &bench.server.url()),
    ] {
        let output = add_at(&bench, name, url, &[]);
        assert_exit(&output, 0);
        assert!(
            stderr(&output).contains("plain http"),
            "{}",
            stderr(&output)
        );
        let shown: serde_json::Value =
            serde_json::from_str(&bench.ok(&["integration", "show", name, "--json"])).unwrap();
        assert_eq!(shown["insecure_http"], false, "{shown}");
    }
    bench.ok(&["integration", "link", "--integration", "here", "--new", "P"]);
    bench.sync_ok("here");

    // One stored with a public http address before the rule does not sync
    // until its person says so.
    bench.sql("UPDATE integrations SET api_url = 'http://203.0.113.7:9994' WHERE name = 'here'");
    let output = bench.mapsync(&["sync", "--integration", "here"]);
    assert_exit(&output, 2);
    assert!(
        stderr(&output).contains("--insecure-http"),
        "{}",
        stderr(&output)
    );
    bench.assert_no_secret_printed();
}

fn add_with_stdin(bench: &Bench, input: &[u8]) -> Output {
    let mut child = bench
        .command(&[
            "integration",
            "add",
            "--name",
            "stdin",
            "--api-url",
            &bench.server.url(),
            "--user",
            USER,
            "--api-key-stdin",
            "--password",
            PASSWORD,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // mapsync stops reading past a key's length: the rest may not be taken.
    let _ = stdin.write_all(input);
    drop(stdin);
    child.wait_with_output().unwrap()
}

/// Keys, passwords and names have maximum lengths; every refusal of bad
/// input exits 2; an error echoes a short prefix of what it refuses.
#[test]
fn sizes_are_bounded_and_bad_input_exits_2() {
    let bench = Bench::new();
    let mut huge = vec![b'k'; 10 << 20];
    huge.push(b'\n');
    let output = add_with_stdin(&bench, &huge);
    assert_exit(&output, 2);
    assert!(
        stderr(&output).contains("4096 characters"),
        "{}",
        stderr(&output)
    );
    assert!(stderr(&output).len() < 500, "{}", stderr(&output));
    let output = add_with_stdin(&bench, b"\n");
    assert_exit(&output, 2);
    let key = "k".repeat(5000);
    let output = bench.mapsync(&[
        "integration",
        "add",
        "--name",
        "flag",
        "--api-url",
        &bench.server.url(),
        "--user",
        USER,
        "--api-key",
        &key,
        "--password",
        PASSWORD,
    ]);
    assert_exit(&output, 2);
    assert!(!stderr(&output).contains(&key[..100]), "a secret echoed");
    assert_eq!(bench.ok(&["integration", "list", "--json"]).trim(), "[]");

    let long = "n".repeat(8000);
    let output = bench.mapsync(&["integration", "show", &long]);
    assert_exit(&output, 3);
    assert!(stderr(&output).len() < 300, "{}", stderr(&output));
    assert!(
        stderr(&output).contains("8000 characters"),
        "{}",
        stderr(&output)
    );
}

/// A file of many bad rows: the error lists the first hundred and how many
/// more there are, exits 2, and `--report` has every one.
#[test]
fn a_refused_import_lists_a_hundred_rows_and_reports_them_all() {
    let bench = Bench::new();
    let mut csv = String::from("id_cliente_servico;document\n");
    for n in 0..5000 {
        csv.push_str(&format!("SVC-{n};529.982.247-24\n"));
    }
    let file = bench.dir.path().join("ruim.csv");
    std::fs::write(&file, &csv).unwrap();
    let output = bench.mapsync(&["services", "import", file.to_str().unwrap()]);
    assert_exit(&output, 2);
    let error = stderr(&output);
    assert!(error.contains("5000 bad row(s)"), "{error}");
    assert_eq!(error.matches("is not a valid CPF").count(), 100, "{error}");
    assert!(error.contains("... and 4900 more bad row(s)"), "{error}");
    assert!(error.contains("--report"), "{error}");

    let report = bench.dir.path().join("report.csv");
    let output = bench.mapsync(&[
        "services",
        "import",
        file.to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
    ]);
    assert_exit(&output, 2);
    let written = std::fs::read_to_string(&report).unwrap();
    let mut rows = csv::Reader::from_reader(written.as_bytes());
    assert_eq!(rows.headers().unwrap(), vec!["at", "reason"]);
    let rows: Vec<csv::StringRecord> = rows.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 5000);
    assert_eq!(&rows[0][0], "line 2");
    assert_eq!(&rows[4999][0], "line 5001");
    assert!(rows[0][1].contains("is not a valid CPF"), "{:?}", rows[0]);
    assert_eq!(bench.ok(&["services", "list", "--json"]).trim(), "[]");
}

/// Logs written to a file or a pipe carry no colour codes, and their
/// values are text, not Rust's debug forms.
#[test]
fn logs_in_a_file_are_plain_text() {
    let bench = Bench::new();
    bench.add_integration("isp", None);
    let output = bench
        .command(&["sync", "--integration", "isp"])
        .env("MAPSYNC_LOG", "mapsync=debug")
        .output()
        .unwrap();
    assert_exit(&output, 0);
    let log = stderr(&output);
    assert!(log.contains("platform request"), "{log}");
    assert!(!log.contains('\u{1b}'), "colour codes in a log: {log:?}");
    assert!(!log.contains("Some("), "{log}");
    assert!(
        log.contains("method=\"GET\"") || log.contains("method=GET"),
        "{log}"
    );
}
