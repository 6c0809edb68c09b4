//! The bench every end-to-end test stands on: the OZmap test server on
//! loopback, a fresh store (a SQLite file, or a PostgreSQL database of its
//! own when the suite runs on PostgreSQL), and the real `mapsync` binary
//! (which runs the real component).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use ozmap_test_server::{GeneratorConfig, Network, ServerConfig, TestServer, generate};
use serde_json::Value;

/// Distinctive secrets, so a leak is easy to spot in any output.
pub const API_KEY: &str = "KEY-7f3a9c1e5b2d8a4f6c0e";
pub const USER: &str = "integracao";
pub const PASSWORD: &str = "PW-q8Zr4-x1Lk9-t7Nm";

pub fn server_config() -> ServerConfig {
    ServerConfig {
        api_key: Some(API_KEY.into()),
        user: USER.into(),
        password: PASSWORD.into(),
        ..ServerConfig::default()
    }
}

pub struct Bench {
    pub server: TestServer,
    pub dir: tempfile::TempDir,
    /// Every output the binary printed, to check for secrets.
    pub outputs: std::cell::RefCell<Vec<String>>,
    /// The bench's PostgreSQL database, when the suite runs on PostgreSQL.
    postgres: Option<PostgresDatabase>,
}

/// Whether this test binary runs the suite on PostgreSQL.
pub fn on_postgres() -> bool {
    crate::ON_POSTGRES
}

/// A database of its own for one bench, dropped with it.
struct PostgresDatabase {
    admin: String,
    name: String,
    url: String,
}

impl PostgresDatabase {
    fn create() -> PostgresDatabase {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let admin = crate::parts::postgres_server();
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("bench_{}_{n}", std::process::id());
        let mut client = postgres::Client::connect(&admin, postgres::NoTls)
            .unwrap_or_else(|e| panic!("connecting to {}: {e}", crate::parts::POSTGRES_VARIABLE));
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap();
        let mut url = url::Url::parse(&admin).unwrap();
        url.set_path(&format!("/{name}"));
        PostgresDatabase {
            admin,
            name,
            url: url.to_string(),
        }
    }
}

impl Drop for PostgresDatabase {
    fn drop(&mut self) {
        if let Ok(mut client) = postgres::Client::connect(&self.admin, postgres::NoTls) {
            let _ = client.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}

/// The component compiled once for the whole suite, not once per test.
fn cache_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("component-cache")
}

impl Bench {
    pub fn new() -> Bench {
        Bench::with(server_config(), generate(&GeneratorConfig::small()))
    }

    pub fn with(config: ServerConfig, network: Network) -> Bench {
        crate::parts::require();
        Bench {
            server: TestServer::start(config, network).expect("starting the OZmap test server"),
            dir: tempfile::tempdir().unwrap(),
            outputs: Default::default(),
            postgres: on_postgres().then(PostgresDatabase::create),
        }
    }

    /// The SQLite file of the bench (the suite on SQLite).
    pub fn db(&self) -> PathBuf {
        self.dir.path().join("mapsync.db")
    }

    /// What `--db` is given: the SQLite file, or the PostgreSQL URL.
    pub fn store(&self) -> String {
        match &self.postgres {
            Some(pg) => pg.url.clone(),
            None => self.db().display().to_string(),
        }
    }

    /// Run statements on the bench's store, as something other than
    /// mapsync would (a crash's leftovers, a time moved forward).
    pub fn sql(&self, statements: &str) {
        match &self.postgres {
            Some(pg) => postgres::Client::connect(&pg.url, postgres::NoTls)
                .unwrap()
                .batch_execute(statements)
                .unwrap(),
            None => rusqlite::Connection::open(self.db())
                .unwrap()
                .execute_batch(statements)
                .unwrap(),
        }
    }

    /// The first row of a query on the bench's store, each value as text
    /// (`None` for NULL).
    pub fn sql_row(&self, query: &str) -> Vec<Option<String>> {
        match &self.postgres {
            Some(pg) => {
                let mut client = postgres::Client::connect(&pg.url, postgres::NoTls).unwrap();
                let messages = client.simple_query(query).unwrap();
                messages
                    .iter()
                    .find_map(|m| match m {
                        postgres::SimpleQueryMessage::Row(row) => Some(
                            (0..row.len())
                                .map(|i| row.get(i).map(str::to_string))
                                .collect(),
                        ),
                        _ => None,
                    })
                    .unwrap_or_default()
            }
            None => {
                let conn = rusqlite::Connection::open(self.db()).unwrap();
                let mut stmt = conn.prepare(query).unwrap();
                let columns = stmt.column_count();
                stmt.query_row([], |r| {
                    Ok((0..columns)
                        .map(|i| match r.get_ref(i).unwrap() {
                            rusqlite::types::ValueRef::Null => None,
                            rusqlite::types::ValueRef::Integer(n) => Some(n.to_string()),
                            rusqlite::types::ValueRef::Real(x) => Some(x.to_string()),
                            rusqlite::types::ValueRef::Text(t) => {
                                Some(String::from_utf8_lossy(t).into_owned())
                            }
                            rusqlite::types::ValueRef::Blob(_) => None,
                        })
                        .collect())
                })
                .unwrap()
            }
        }
    }

    /// A count (or any integer) a query answers.
    pub fn sql_i64(&self, query: &str) -> i64 {
        self.sql_row(query)[0]
            .as_deref()
            .unwrap_or("0")
            .parse()
            .unwrap()
    }

    /// Run `mapsync --db <bench db> args...`.
    /// `mapsync --db <bench db> args...`, with the suite's component cache.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_mapsync"));
        command
            .arg("--db")
            .arg(self.store())
            .args(args)
            .env("MAPSYNC_CACHE_DIR", cache_dir())
            .env_remove("MAPSYNC_DB")
            .env_remove("MAPSYNC_LOG")
            .env_remove("MAPSYNC_SECRET_KEY")
            .env_remove("MAPSYNC_SECRET_KEY_FILE")
            .env_remove("MAPSYNC_API_KEY")
            .env_remove("MAPSYNC_PASSWORD");
        if self.postgres.is_some() {
            // No file sits beside a PostgreSQL database: the key is named.
            command.env(
                "MAPSYNC_SECRET_KEY_FILE",
                self.dir.path().join("secret.key"),
            );
        }
        command
    }

    /// Start `mapsync args...` in the background, its output discarded.
    #[allow(clippy::zombie_processes)]
    pub fn spawn(&self, args: &[&str]) -> Child {
        self.command(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting mapsync")
    }

    pub fn mapsync(&self, args: &[&str]) -> Output {
        self.record(self.command(args).output().expect("running mapsync"))
    }

    /// Keep what a run printed, for `assert_no_secret_printed`.
    pub fn record(&self, output: Output) -> Output {
        let mut outputs = self.outputs.borrow_mut();
        outputs.push(String::from_utf8_lossy(&output.stdout).into_owned());
        outputs.push(String::from_utf8_lossy(&output.stderr).into_owned());
        output
    }

    /// Run and expect success; answer stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let output = self.mapsync(args);
        assert!(
            output.status.success(),
            "mapsync {args:?} failed:\n{}\n{}",
            stdout(&output),
            stderr(&output)
        );
        stdout(&output)
    }

    /// Run and expect failure; answer stderr and stdout together.
    pub fn fails(&self, args: &[&str]) -> String {
        let output = self.mapsync(args);
        assert!(
            !output.status.success(),
            "mapsync {args:?} succeeded but should not have:\n{}",
            stdout(&output)
        );
        format!("{}{}", stderr(&output), stdout(&output))
    }

    /// An integration linked to a new project. It refreshes only when a
    /// test says so (`--refresh-every 0`): a `serve` whose clock crosses a
    /// quarter hour would otherwise sync it in the middle of a test.
    pub fn add_integration(&self, name: &str, project: Option<&str>) {
        let mut extra: Vec<&str> = project
            .map(|p| vec!["--project-name", p])
            .unwrap_or_default();
        extra.extend(["--refresh-every", "0"]);
        self.add_unlinked(name, PASSWORD, &[], &extra);
        self.link(name, &[]);
    }

    /// `integration add` with the bench's server and credentials but this
    /// password; `before` goes ahead of the command (e.g. `-vv`).
    pub fn add_unlinked(&self, name: &str, password: &str, before: &[&str], extra: &[&str]) {
        let url = self.server.url();
        let add = [
            "integration",
            "add",
            "--name",
            name,
            "--api-url",
            &url,
            "--api-key",
            API_KEY,
            "--user",
            USER,
            "--password",
            password,
        ];
        self.ok(&[before, &add[..], extra].concat());
    }

    /// Link the integration to a new mapping project named after it.
    pub fn link(&self, name: &str, before: &[&str]) {
        let project = format!("{name} (local)");
        self.ok(&[
            before,
            &[
                "integration",
                "link",
                "--integration",
                name,
                "--new",
                &project,
            ][..],
        ]
        .concat());
    }

    /// `sync --json`: the report, and whether the command succeeded.
    pub fn sync(&self, integration: &str, extra: &[&str]) -> (Value, bool) {
        let mut args = vec!["sync", "--integration", integration, "--json"];
        args.extend(extra);
        let output = self.mapsync(&args);
        let report: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
            panic!(
                "sync --json printed no JSON ({e}):\n{}\n{}",
                stdout(&output),
                stderr(&output)
            )
        });
        (report, output.status.success())
    }

    pub fn sync_ok(&self, integration: &str) -> Value {
        let (report, ok) = self.sync(integration, &[]);
        assert!(ok, "sync failed: {report:#}");
        assert_eq!(report["status"], "succeeded");
        report
    }

    pub fn elements(&self, integration: &str, kind: &str) -> Vec<Value> {
        let out = self.ok(&[
            "elements",
            "--integration",
            integration,
            "--kind",
            kind,
            "--json",
        ]);
        serde_json::from_str(&out).unwrap()
    }

    /// The writes the platform received so far (method, path), logins left out.
    pub fn writes(&self) -> Vec<(String, String)> {
        self.server
            .requests()
            .into_iter()
            .filter(|r| r.method != "GET" && !r.path.ends_with("/users/login"))
            .map(|r| (r.method, r.path))
            .collect()
    }

    /// A (splitter, port) of a service splitter of integration `isp` whose
    /// port is in `state` (`free`, `taken`, ...).
    pub fn port_in_state(&self, state: &str) -> (String, u64) {
        ports_in_state(&self.elements("isp", "splitter"), state)
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("no {state} port in the generated network"))
    }

    /// No output so far holds a secret.
    pub fn assert_no_secret_printed(&self) {
        for output in self.outputs.borrow().iter() {
            for secret in [API_KEY, PASSWORD] {
                assert!(!output.contains(secret), "a secret was printed:\n{output}");
            }
        }
    }
}

/// A running `mapsync serve`.
pub struct Served {
    pub child: Child,
    /// `http://127.0.0.1:PORT`.
    pub address: String,
    /// What it printed up to and including its `listening on` line.
    pub printed: String,
    /// The rest of its stdout.
    pub rest: BufReader<ChildStdout>,
}

impl Bench {
    /// `mapsync serve` on a free port with this API token, once it listens.
    /// Stop it with `terminate`, which waits for it.
    #[allow(clippy::zombie_processes)]
    pub fn serve(&self, token: &str) -> Served {
        self.serve_with(token, &[], &[])
    }

    /// `serve` with more arguments and environment.
    #[allow(clippy::zombie_processes)]
    pub fn serve_with(&self, token: &str, args: &[&str], env: &[(&str, &str)]) -> Served {
        let mut command = self.command(&[&["serve", "--listen", "127.0.0.1:0"], args].concat());
        command.envs(env.iter().copied());
        let mut child = command
            .env("MAPSYNC_API_TOKEN", token)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting mapsync serve");
        let mut rest = BufReader::new(child.stdout.take().unwrap());
        let mut printed = String::new();
        loop {
            let mut line = String::new();
            assert!(
                rest.read_line(&mut line).unwrap() > 0,
                "serve ended before listening"
            );
            printed.push_str(&line);
            if let Some(address) = line.trim().strip_prefix("listening on ") {
                let address = address.to_string();
                return Served {
                    child,
                    address,
                    printed,
                    rest,
                };
            }
        }
    }
}

/// SIGTERM, then wait (within a bound) for the exit.
pub fn terminate(child: &mut Child) -> ExitStatus {
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "serve did not stop within its bound"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A platform document's id.
/// Stamp a platform record as changed now, as the platform does on every
/// write: an incremental sync reads what changed by `updatedAt`.
pub fn touch(doc: &mut Value) {
    doc["updatedAt"] =
        Value::from(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
}

pub fn id(doc: &Value) -> String {
    doc["id"]
        .as_str()
        .or(doc["_id"].as_str())
        .unwrap_or_default()
        .to_string()
}

/// The platform's documents of a route that are not deliberately invalid.
pub fn valid_docs(bench: &Bench, route: &str) -> Vec<Value> {
    bench.server.with_network(|n| {
        n.collection(route)
            .iter()
            .filter(|d| !is_invalid(d))
            .cloned()
            .collect()
    })
}

pub fn is_invalid(doc: &Value) -> bool {
    let marked = |k: &str| {
        doc[k]
            .as_str()
            .is_some_and(|s| s.starts_with(ozmap_test_server::INVALID_MARKER))
    };
    marked("observation") || marked("name")
}

pub fn counts(report: &Value, kind: &str) -> (u64, u64, u64, u64, u64) {
    let k = &report["kinds"][kind];
    let n = |f: &str| {
        k[f].as_u64()
            .unwrap_or_else(|| panic!("report lacks kinds.{kind}.{f}: {report:#}"))
    };
    (
        n("created"),
        n("updated"),
        n("unchanged"),
        n("removed"),
        n("invalid"),
    )
}

/// Every (splitter, port) of the service splitters among `splitters` (as
/// `elements --json` and the API list them) whose port is in `state`.
pub fn ports_in_state(splitters: &[Value], state: &str) -> Vec<(String, u64)> {
    splitters
        .iter()
        .filter(|s| s["service"] == true)
        .flat_map(|s| {
            let ports = s["ports"].as_array().cloned().unwrap_or_default();
            ports
                .into_iter()
                .filter(|p| p["state"] == state)
                .filter_map(|p| Some((id(s), p["port"].as_u64()?)))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Poll `done` every 100 ms until it holds; fail naming `what` after a minute.
pub fn wait_for(what: &str, done: impl FnMut() -> bool) {
    wait_for_within(what, Duration::from_secs(60), done)
}

/// Poll `done` every 100 ms until it holds; fail naming `what` after `within`.
pub fn wait_for_within(what: &str, within: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}
