//! The SQLite file: opening it (owner-only: it holds the integrations'
//! secrets), its schema brought up to date.

use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use rusqlite::Connection;

use crate::params;
use crate::store::{Db, leases};

/// Open (creating if need be) the database and bring its schema up to date.
pub fn open(path: &Path) -> Result<Db> {
    let tightened = owner_only(path)?;
    let sqlite = Connection::open(path)
        .with_context(|| format!("opening the database {}", path.display()))?;
    sqlite.busy_timeout(std::time::Duration::from_secs(30))?;
    sqlite.pragma_update(None, "journal_mode", "WAL")?;
    sqlite.pragma_update(None, "synchronous", "NORMAL")?;
    sqlite.pragma_update(None, "foreign_keys", "ON")?;
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
    let encrypted = crate::integration::encrypt_plaintext_secrets(&conn).with_context(|| {
        format!(
            "encrypting the integrations' secrets in the database {}",
            path.display()
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
            encrypted.integrations,
            path.display(),
            encrypted.key
        );
    }
    mark_interrupted_runs(&conn)?;
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

/// A run marked running whose host is gone was cut short by a crash or a
/// kill: the store rolled its writes back, so say so. Runs of live hosts
/// (a daemon's, another command's) are left alone.
pub fn mark_interrupted_runs(conn: &Db) -> Result<()> {
    type Running = (i64, Option<String>, Option<String>, Option<u32>);
    let running: Vec<Running> = conn.query(
        "SELECT id, host, heartbeat_at, pid FROM runs WHERE outcome = 'running'",
        params![],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )?;
    for (id, host, beat, pid) in running {
        // Runs from before hosts were recorded: a process of this machine.
        let host = host.or_else(|| pid.map(|pid| format!("{}:{pid}", leases::machine())));
        if leases::gone(host.as_deref(), beat.as_deref()) {
            interrupt_run(conn, id)?;
        }
    }
    Ok(())
}

/// Mark a running run whose host is gone interrupted; what it staged is
/// dropped with it.
pub fn interrupt_run(conn: &Db, id: i64) -> Result<()> {
    conn.execute("DELETE FROM run_elements WHERE run_id = ?1", params![id])?;
    conn.execute("DELETE FROM run_kinds WHERE run_id = ?1", params![id])?;
    conn.execute(
        "UPDATE runs SET outcome = 'interrupted', ended_at = ?2,
             error = 'the process stopped before the run ended; nothing it read was kept'
         WHERE id = ?1 AND outcome = 'running'",
        params![id, now()],
    )?;
    Ok(())
}

/// Timestamps are stored as RFC 3339 UTC text, which sorts as time does.
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
