//! The SQLite file: opening it owner-only (it holds the integrations'
//! secrets), with its pragmas, its schema brought up to date.

use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use rusqlite::Connection;

use crate::store::Db;

/// What SQLite may hold in memory, in bytes, before it gives some back.
const SOFT_HEAP_LIMIT: i64 = 48 << 20;

/// Open (creating if need be) the database and bring its schema up to date.
pub fn open(path: &Path) -> Result<Db> {
    let tightened = owner_only(path)?;
    let sqlite = Connection::open(path)
        .with_context(|| format!("opening the database {}", path.display()))?;
    sqlite.busy_timeout(std::time::Duration::from_secs(30))?;
    sqlite.pragma_update(None, "journal_mode", "WAL")?;
    sqlite.pragma_update(None, "synchronous", "NORMAL")?;
    sqlite.pragma_update(None, "foreign_keys", "ON")?;
    // A sync stages and applies a network's elements in B-trees far larger
    // than SQLite's default 2 MiB page cache: 32 MiB keeps their upper
    // levels in memory (it is a ceiling, not an allocation).
    sqlite.pragma_update(None, "cache_size", -32_768)?;
    // And SQLite as a whole (every connection of the process: caches,
    // sorts building an index) keeps under 48 MiB, recycling cache pages
    // and writing sorted runs out sooner past it: a sync's memory stays
    // flat however large the network.
    sqlite.pragma_update(None, "soft_heap_limit", SOFT_HEAP_LIMIT)?;
    sqlite.pragma_update(None, "temp_store", "MEMORY")?;
    let conn = Db::sqlite(sqlite);
    crate::store::schema::migrate(&conn)
        .with_context(|| format!("migrating the database {}", path.display()))?;
    if !tightened.is_empty() {
        let files: Vec<String> = tightened
            .iter()
            .map(|(file, mode)| {
                format!(
                    "{} (was {mode:04o}, now {:04o})",
                    file.display(),
                    mode & !0o077
                )
            })
            .collect();
        eprintln!(
            "note: made owner-only, as the database holds the integrations' secrets: {}",
            files.join(", ")
        );
    }
    Ok(conn)
}

/// The files SQLite keeps beside the database: its write-ahead log, the
/// WAL's shared memory and the rollback journal.
const COMPANIONS: [&str; 3] = ["-wal", "-shm", "-journal"];

/// Make the database and its companions owner-only before SQLite opens
/// them: a new database file is created with mode 0600 (SQLite gives its
/// companions the database file's mode), an existing one and its companions
/// lose any group and other bits. Answers the files tightened, with the mode
/// each had.
fn owner_only(path: &Path) -> Result<Vec<(PathBuf, u32)>> {
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => {
            return Err(e).with_context(|| format!("creating the database {}", path.display()));
        }
    }
    let mut files = vec![path.to_path_buf()];
    for suffix in COMPANIONS {
        let mut companion = path.as_os_str().to_owned();
        companion.push(suffix);
        files.push(companion.into());
    }
    let mut tightened = Vec::new();
    for file in files {
        let Ok(metadata) = std::fs::metadata(&file) else {
            continue;
        };
        let mode = metadata.permissions().mode() & 0o7777;
        if mode & 0o077 == 0 || !metadata.is_file() {
            continue;
        }
        match std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode & !0o077)) {
            Ok(()) => tightened.push((file, mode)),
            // Not ours to change (another user's file we may still read):
            // say so and go on.
            Err(e) => eprintln!(
                "warning: {} is readable by others (mode {mode:04o}) and could not be made owner-only: {e}",
                file.display()
            ),
        }
    }
    Ok(tightened)
}
