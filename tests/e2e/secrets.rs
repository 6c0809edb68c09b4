//! Secrets at rest: the database and its key owner-only, the API key and
//! password encrypted in it (and older databases migrated), the key kept
//! outside it, and secrets given off the command line.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use ozmap_test_server::{GeneratorConfig, ServerConfig, generate};
use serde_json::Value;

use crate::common::{API_KEY, Bench, PASSWORD, USER, on_postgres, server_config, stderr, stdout};

/// Keys for `MAPSYNC_SECRET_KEY`: 32 bytes, base64 and hex.
const KEY_BASE64: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const OTHER_KEY_HEX: &str = "f0e0d0c0b0a090807060504030201000f1e1d1c1b1a191817161514131211101";

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

fn beside(db: &Path, suffix: &str) -> PathBuf {
    let mut path = db.as_os_str().to_owned();
    path.push(suffix);
    path.into()
}

/// Where the bench's key file is: beside the SQLite file, or where the
/// bench names it for PostgreSQL.
fn key_file(bench: &Bench) -> PathBuf {
    if on_postgres() {
        return bench.dir.path().join("secret.key");
    }
    beside(&bench.db(), ".key")
}

/// The database's bytes, with its write-ahead log's when there is one (on
/// PostgreSQL, what the integrations table holds).
fn stored_bytes(bench: &Bench) -> Vec<u8> {
    if on_postgres() {
        let row = bench.sql_row(
            "SELECT string_agg(name || api_url || api_key || \"user\" || password, ' ') FROM integrations",
        );
        return row[0].clone().unwrap_or_default().into_bytes();
    }
    let mut bytes = std::fs::read(bench.db()).unwrap();
    if let Ok(wal) = std::fs::read(beside(&bench.db(), "-wal")) {
        bytes.extend(wal);
    }
    bytes
}

fn holds(bytes: &[u8], text: &str) -> bool {
    bytes.windows(text.len()).any(|w| w == text.as_bytes())
}

fn assert_no_secret_in(what: &str, bytes: &[u8]) {
    for secret in [API_KEY, PASSWORD] {
        assert!(!holds(bytes, secret), "{what} holds a secret in clear");
    }
}

/// `mapsync args...` with these variables set and this standard input.
fn run_with(bench: &Bench, env: &[(&str, &str)], stdin: Option<&str>, args: &[&str]) -> Output {
    let mut command = bench.command(args);
    command.envs(env.iter().copied());
    command.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = command.spawn().expect("starting mapsync");
    if let Some(text) = stdin {
        // A run refused before it reads may close its input first.
        let _ = child.stdin.take().unwrap().write_all(text.as_bytes());
    }
    bench.record(child.wait_with_output().unwrap())
}

fn ok_with(bench: &Bench, env: &[(&str, &str)], stdin: Option<&str>, args: &[&str]) -> String {
    let output = run_with(bench, env, stdin, args);
    assert!(
        output.status.success(),
        "mapsync {args:?} failed:\n{}\n{}",
        stdout(&output),
        stderr(&output)
    );
    stdout(&output)
}

fn fails_with(bench: &Bench, env: &[(&str, &str)], args: &[&str]) -> String {
    let output = run_with(bench, env, None, args);
    assert!(
        !output.status.success(),
        "mapsync {args:?} succeeded but should not have:\n{}",
        stdout(&output)
    );
    format!("{}{}", stderr(&output), stdout(&output))
}

fn sync_ok_with(bench: &Bench, env: &[(&str, &str)], integration: &str) {
    let out = ok_with(
        bench,
        env,
        None,
        &["sync", "--integration", integration, "--json"],
    );
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["status"], "succeeded", "{report:#}");
}

#[test]
fn the_database_its_log_and_the_key_file_are_owner_only() {
    if on_postgres() {
        return; // a SQLite file's own concern
    }
    // Slow answers keep the sync's connection open long enough to see the
    // log and shared memory SQLite makes beside the database.
    let config = ServerConfig {
        latency: Duration::from_millis(150),
        ..server_config()
    };
    let bench = Bench::with(config, generate(&GeneratorConfig::small()));
    bench.add_integration("modes", None);
    assert_eq!(mode(&bench.db()), 0o600, "the database");
    assert_eq!(mode(&key_file(&bench)), 0o600, "the key file");

    let mut sync = bench
        .command(&["sync", "--integration", "modes", "--json"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (wal, shm) = (beside(&bench.db(), "-wal"), beside(&bench.db(), "-shm"));
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = None;
    while seen.is_none() && Instant::now() < deadline && sync.try_wait().unwrap().is_none() {
        if let (Ok(w), Ok(s)) = (std::fs::metadata(&wal), std::fs::metadata(&shm)) {
            seen = Some((
                w.permissions().mode() & 0o777,
                s.permissions().mode() & 0o777,
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(sync.wait().unwrap().success(), "the sync failed");
    assert_eq!(
        seen,
        Some((0o600, 0o600)),
        "the -wal and -shm modes while the sync ran"
    );
    assert_eq!(mode(&bench.db()), 0o600, "the database after a sync");
    assert_eq!(mode(&key_file(&bench)), 0o600, "the key file after a sync");
}

#[test]
fn secrets_are_stored_encrypted_and_still_work() {
    let bench = Bench::new();
    bench.add_integration("enc", None);
    bench.sync_ok("enc");
    if !on_postgres() {
        assert_no_secret_in("the database", &stored_bytes(&bench));
        assert_no_secret_in("the key file", &std::fs::read(key_file(&bench)).unwrap());
    }

    let raw = bench.sql_row("SELECT api_key, password FROM integrations WHERE name = 'enc'");
    let (key, password) = (raw[0].clone().unwrap(), raw[1].clone().unwrap());
    assert!(key.starts_with("enc:v1:"), "{key}");
    assert!(password.starts_with("enc:v1:"), "{password}");

    let shown: Value =
        serde_json::from_str(&bench.ok(&["integration", "show", "enc", "--json"])).unwrap();
    assert_eq!(shown["password"], "********");
    assert_eq!(shown["api_key"], "KE…0e (masked)");
    bench.assert_no_secret_printed();
}

#[test]
fn a_database_with_secrets_in_clear_is_migrated_once() {
    if on_postgres() {
        return; // a SQLite file's own concern
    }
    let bench = Bench::new();
    bench.add_integration("old", None);
    // What every mapsync before encryption stored: the secrets in clear.
    rusqlite::Connection::open(bench.db())
        .unwrap()
        .execute(
            "UPDATE integrations SET api_key = ?1, password = ?2",
            [API_KEY, PASSWORD],
        )
        .unwrap();
    assert!(holds(&stored_bytes(&bench), PASSWORD), "the setup failed");

    let output = bench.mapsync(&["integration", "list"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let notice = stderr(&output);
    assert!(
        notice.contains("now encrypted")
            && notice.contains(&key_file(&bench).display().to_string()),
        "no notice of the migration: {notice}"
    );
    assert!(notice.contains("backups"), "{notice}");
    assert_no_secret_in("the migrated database", &stored_bytes(&bench));

    let again = bench.mapsync(&["integration", "list"]);
    assert!(
        !stderr(&again).contains("encrypted"),
        "the notice came twice: {}",
        stderr(&again)
    );
    bench.sync_ok("old");
    assert_no_secret_in("the database after a sync", &stored_bytes(&bench));
    bench.assert_no_secret_printed();
}

#[test]
fn a_key_in_the_environment_makes_no_key_file_and_a_wrong_key_is_refused() {
    let bench = Bench::new();
    let key = [("MAPSYNC_SECRET_KEY", KEY_BASE64)];
    let url = bench.server.url();
    ok_with(
        &bench,
        &key,
        None,
        &[
            "integration",
            "add",
            "--name",
            "envkey",
            "--api-url",
            &url,
            "--api-key",
            API_KEY,
            "--user",
            USER,
            "--password",
            PASSWORD,
        ],
    );
    ok_with(
        &bench,
        &key,
        None,
        &[
            "integration",
            "link",
            "--integration",
            "envkey",
            "--new",
            "P",
        ],
    );
    sync_ok_with(&bench, &key, "envkey");
    assert!(!key_file(&bench).exists(), "a key file was made");
    assert_no_secret_in("the database", &stored_bytes(&bench));

    let wrong = fails_with(
        &bench,
        &[("MAPSYNC_SECRET_KEY", OTHER_KEY_HEX)],
        &["sync", "--integration", "envkey"],
    );
    assert!(
        wrong.contains("MAPSYNC_SECRET_KEY") && wrong.contains("cannot be decrypted"),
        "{wrong}"
    );
    assert!(
        !wrong.contains(OTHER_KEY_HEX) && !wrong.contains(KEY_BASE64),
        "{wrong}"
    );

    let none = fails_with(&bench, &[], &["integration", "show", "envkey"]);
    assert!(
        none.contains("no key") && none.contains(&key_file(&bench).display().to_string()),
        "{none}"
    );
    assert!(!key_file(&bench).exists(), "reading made a key file");

    let malformed = fails_with(
        &bench,
        &[("MAPSYNC_SECRET_KEY", "not-a-key-3f9a")],
        &["integration", "show", "envkey"],
    );
    assert!(
        malformed.contains("MAPSYNC_SECRET_KEY") && malformed.contains("base64"),
        "{malformed}"
    );
    assert!(!malformed.contains("not-a-key-3f9a"), "{malformed}");
    bench.assert_no_secret_printed();
}

#[test]
fn secrets_are_taken_from_the_environment_or_standard_input() {
    let bench = Bench::new();
    let url = bench.server.url();
    let add = |name: &'static str| -> Vec<String> {
        [
            "integration",
            "add",
            "--name",
            name,
            "--api-url",
            &url,
            "--user",
            USER,
        ]
        .map(String::from)
        .to_vec()
    };
    fn args(v: &[String]) -> Vec<&str> {
        v.iter().map(String::as_str).collect()
    }

    let from_env = add("from-env");
    let secrets = [("MAPSYNC_API_KEY", API_KEY), ("MAPSYNC_PASSWORD", PASSWORD)];
    ok_with(&bench, &secrets, None, &args(&from_env));
    bench.link("from-env", &[]);
    bench.sync_ok("from-env");

    let mut from_stdin = add("from-stdin");
    from_stdin.extend(["--api-key-stdin".into(), "--password-stdin".into()]);
    let lines = format!("{API_KEY}\r\n{PASSWORD}\n");
    ok_with(&bench, &[], Some(&lines), &args(&from_stdin));
    bench.link("from-stdin", &[]);
    bench.sync_ok("from-stdin");

    // The password alone on stdin, the key in the environment; a password
    // in the environment too is no conflict: the flag said where it is.
    let mut mixed = add("mixed");
    mixed.push("--password-stdin".into());
    ok_with(
        &bench,
        &[
            ("MAPSYNC_API_KEY", API_KEY),
            ("MAPSYNC_PASSWORD", "not-this-one"),
        ],
        Some(PASSWORD),
        &args(&mixed),
    );
    bench.link("mixed", &[]);
    bench.sync_ok("mixed");

    let mut empty = add("empty");
    empty.extend(["--api-key-stdin".into(), "--password-stdin".into()]);
    let output = run_with(&bench, &[], Some(&format!("{API_KEY}\n\n")), &args(&empty));
    assert!(!output.status.success());
    let refused = stderr(&output);
    assert!(
        refused.contains("--password-stdin") && refused.contains("empty"),
        "{refused}"
    );

    let mut missing = add("missing");
    missing.push("--api-key-stdin".into());
    let output = run_with(&bench, &[], Some(API_KEY), &args(&missing));
    assert!(!output.status.success(), "added without a password");
    assert!(
        stderr(&output).contains("--password"),
        "{}",
        stderr(&output)
    );

    let help = ok_with(&bench, &secrets, None, &["integration", "add", "--help"]);
    assert!(
        help.contains("MAPSYNC_API_KEY") && help.contains("--password-stdin"),
        "{help}"
    );
    // Both on the command line is a mistake worth telling.
    let mut both = add("both");
    both.extend(["--api-key".into(), "k".into(), "--api-key-stdin".into()]);
    let output = run_with(&bench, &secrets, Some("k\n"), &args(&both));
    assert!(!output.status.success(), "a key given twice was taken");
    bench.assert_no_secret_printed();
}

#[test]
fn an_existing_database_readable_by_others_is_made_owner_only() {
    if on_postgres() {
        return; // a SQLite file's own concern
    }
    let bench = Bench::new();
    bench.add_integration("wide", None);
    std::fs::set_permissions(bench.db(), std::fs::Permissions::from_mode(0o644)).unwrap();
    let output = bench.mapsync(&["integration", "list"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(mode(&bench.db()), 0o600);
    let note = stderr(&output);
    assert!(
        note.contains("owner-only") && note.contains("0644"),
        "no word of the change: {note}"
    );
    let again = bench.mapsync(&["integration", "list"]);
    assert!(stderr(&again).is_empty(), "said twice: {}", stderr(&again));
}
