//! The store: every SQL statement of mapsync lives under this folder, and
//! the rest of the host calls its functions. [`Db`] is one connection to an
//! embedded SQLite file or a shared PostgreSQL server; the statements are
//! written once for both, and the schema versions are numbered alike.

pub mod bindings;
pub mod bulk;
pub mod db;
pub mod elements;
pub mod identification;
pub mod integrations;
pub mod leases;
pub mod matches;
pub mod network;
pub mod outbox;
pub mod pool;
pub mod projects;
pub mod run_store;
pub mod runs;
pub mod schema;
pub mod scope;
pub mod services;
pub mod settings;
pub mod sqlite;
pub mod staging;
pub mod states;
pub mod statistics;
pub mod steps;
pub mod sync_state;

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use anyhow::{Context, Result};

pub use db::{Db, Row, Transaction};

/// Where the store is: `--db` / `MAPSYNC_DB`, a SQLite file (the default)
/// or a `postgres://` URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    Sqlite(PathBuf),
    Postgres(String),
}

impl FromStr for Location {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Location, Self::Err> {
        Ok(
            if s.starts_with("postgres://") || s.starts_with("postgresql://") {
                Location::Postgres(s.to_string())
            } else {
                Location::Sqlite(PathBuf::from(s))
            },
        )
    }
}

impl fmt::Display for Location {
    /// The file, or the URL without its password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Sqlite(path) => write!(f, "{}", path.display()),
            Location::Postgres(url) => match url::Url::parse(url) {
                Ok(mut u) => {
                    if u.password().is_some() {
                        let _ = u.set_password(Some("***"));
                    }
                    write!(f, "{u}")
                }
                Err(_) => f.write_str("a postgres:// URL that does not parse"),
            },
        }
    }
}

/// Open the store and bring it up to date: its schema, secrets an older
/// mapsync stored in clear (encrypted now), and runs whose host is gone
/// (marked interrupted).
pub fn open(location: &Location) -> Result<Db> {
    let conn = match location {
        Location::Sqlite(path) => sqlite::open(path)?,
        Location::Postgres(url) => {
            let client = postgres::Client::connect(url, postgres::NoTls)
                .map_err(|e| anyhow::Error::new(db::DbError(e.to_string())))
                .with_context(|| format!("connecting to the database {location}"))?;
            let conn = Db::postgres(client);
            schema::migrate(&conn).with_context(|| format!("migrating the database {location}"))?;
            conn
        }
    };
    mend(&conn, location)?;
    Ok(conn)
}

/// What `open` does on every connection, new or kept (`pool`): secrets an
/// older mapsync stored in clear are encrypted, runs whose host is gone
/// marked interrupted.
pub fn mend(conn: &Db, location: &Location) -> Result<()> {
    let encrypted =
        crate::store::integrations::encrypt_plaintext_secrets(conn).with_context(|| {
            format!(
                "encrypting the integrations' secrets in the database {}",
                location
            )
        })?;
    if let Some(encrypted) = encrypted {
        let keep = match &encrypted.key {
            crate::secrets::KeySource::Variable => {
                "keep that key with your backups of the database".to_string()
            }
            crate::secrets::KeySource::File { path, .. } => {
                format!("keep {} with your backups of the database", path.display())
            }
        };
        eprintln!(
            "note: the API keys and passwords of {} integration(s) in {} were stored in clear; \
             they are now encrypted with {}, and the database file is owner-only (0600). \
             The secrets cannot be read without that key: {keep}, or they must be entered again. \
             Copies of the database made before now still hold them in clear",
            encrypted.integrations, location, encrypted.key
        );
    }
    runs::mark_interrupted(conn)
}

/// Open a SQLite store (tests, the demo).
pub fn open_file(path: &std::path::Path) -> Result<Db> {
    open(&Location::Sqlite(path.to_path_buf()))
}

/// Timestamps are stored as RFC 3339 UTC text, which sorts as time does.
/// Whether the store answers a query at all (`GET /readyz`).
pub fn answers(conn: &Db) -> Result<()> {
    let one: i64 = conn.query_row("SELECT 1", crate::params![], |r| r.get(0))?;
    anyhow::ensure!(one == 1, "the store answered {one} to SELECT 1");
    Ok(())
}

pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
