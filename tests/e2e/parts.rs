//! The parts outside the project that the suite runs against: Chromium
//! with chromedriver (the console's tests, in the suite on SQLite) and a
//! PostgreSQL server (the suite on PostgreSQL). `tests/run` installs and
//! starts them; plain `cargo test` on a machine without them ends at the
//! first bench, in one line that says what is missing and names
//! `tests/run`, rather than in a failure of every test.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};

/// The variable naming a PostgreSQL server to run the suite on: a URL whose
/// user may create databases.
pub const POSTGRES_VARIABLE: &str = "MAPSYNC_TEST_POSTGRES";

/// Checks, once for the test binary, that what it needs is here.
pub fn require() {
    static CHECKED: OnceLock<()> = OnceLock::new();
    CHECKED.get_or_init(|| {
        if crate::ON_POSTGRES {
            postgres_server();
        } else {
            chromedriver();
        }
    });
}

/// chromedriver on the PATH, or where Debian's package puts it.
pub fn chromedriver() -> PathBuf {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("chromedriver"))
            .find(|p| p.is_file())
    });
    on_path
        .or_else(|| Some(PathBuf::from("/usr/bin/chromedriver")).filter(|p| p.is_file()))
        .unwrap_or_else(|| {
            missing(
                "the console's browser tests need Chromium and chromedriver, which are not installed \
                 (Debian: apt-get install chromium chromium-driver)",
            )
        })
}

/// The PostgreSQL server's URL: `MAPSYNC_TEST_POSTGRES`, or else a
/// throwaway server started once for this test binary by `tests/postgres`
/// (it stops when the binary ends).
pub fn postgres_server() -> String {
    static SERVER: OnceLock<String> = OnceLock::new();
    SERVER
        .get_or_init(|| {
            if let Ok(url) = std::env::var(POSTGRES_VARIABLE) {
                return url;
            }
            let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/postgres");
            let out = Command::new(&script)
                .arg(std::process::id().to_string())
                .stderr(Stdio::piped())
                .output()
                .unwrap_or_else(|e| panic!("running {}: {e}", script.display()));
            if !out.status.success() {
                let said = String::from_utf8_lossy(&out.stderr);
                missing(&format!(
                    "the suite on PostgreSQL could not start a server ({}); or set \
                     {POSTGRES_VARIABLE}=postgres://USER@HOST:PORT/postgres",
                    said.trim().replace('\n', "; ")
                ))
            }
            String::from_utf8(out.stdout).unwrap().trim().to_string()
        })
        .clone()
}

/// Says in one line, on the terminal rather than in a test's captured
/// output, what is missing and how to get it, and ends the test binary:
/// every test after would fail the same way.
fn missing(what: &str) -> ! {
    // One line, whichever tests get here at once; the others wait for the
    // end here rather than go on to start anything.
    static SAYING: Mutex<()> = Mutex::new(());
    let _saying = SAYING.lock();
    let _ = writeln!(
        std::io::stderr().lock(),
        "\n{what}: run `tests/run`, which installs what the suite needs and runs every test"
    );
    std::process::exit(1);
}
