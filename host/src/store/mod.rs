//! The store: every SQL statement of mapsync lives under this folder, and
//! the rest of the host calls its functions. [`Db`] is one connection to an
//! embedded SQLite file or a shared PostgreSQL server; the statements are
//! written once for both, and the schema versions are numbered alike.

pub mod db;
pub mod leases;
pub mod schema;

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

/// Open the store and bring its schema up to date.
pub fn open(location: &Location) -> Result<Db> {
    match location {
        Location::Sqlite(path) => crate::db::open(path),
        Location::Postgres(url) => {
            let client = postgres::Client::connect(url, postgres::NoTls)
                .map_err(|e| anyhow::Error::new(db::DbError(e.to_string())))
                .with_context(|| format!("connecting to the database {location}"))?;
            let db = Db::postgres(client);
            schema::migrate(&db).with_context(|| format!("migrating the database {location}"))?;
            crate::db::mark_interrupted_runs(&db)?;
            Ok(db)
        }
    }
}
