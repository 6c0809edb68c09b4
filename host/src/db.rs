//! The SQLite file: opening it (owner-only: it holds the integrations'
//! secrets), and its schema, created and migrated here.

use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use rusqlite::{Connection, params};

/// Each entry moves the schema one version up; append, never edit.
const MIGRATIONS: &[&str] = &[
    // 1: integrations, their runs and the elements they bring.
    "CREATE TABLE integrations (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        api_url TEXT NOT NULL,
        api_key TEXT NOT NULL,
        user TEXT NOT NULL,
        password TEXT NOT NULL,
        project_name TEXT,
        created_at TEXT NOT NULL
    );
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        integration_id TEXT NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
        trigger TEXT NOT NULL,
        started_at TEXT NOT NULL,
        ended_at TEXT,
        outcome TEXT NOT NULL,
        report TEXT,
        error TEXT
    );
    CREATE INDEX runs_by_integration ON runs(integration_id, id);
    CREATE TABLE elements (
        integration_id TEXT NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
        kind TEXT NOT NULL,
        id TEXT NOT NULL,
        name TEXT NOT NULL,
        data TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        removed_at TEXT,
        PRIMARY KEY (integration_id, kind, id)
    ) WITHOUT ROWID;",
    // 2: local mapping projects, the ISP's customer services, bindings of
    // services to splitter ports with their audit trail, and the outbox of
    // pushes to the platform.
    "CREATE TABLE projects (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL
    );
    ALTER TABLE integrations ADD COLUMN project_id INTEGER REFERENCES projects(id);
    ALTER TABLE integrations ADD COLUMN detached_at TEXT;
    CREATE UNIQUE INDEX integrations_by_project ON integrations(project_id) WHERE project_id IS NOT NULL;
    CREATE TABLE services (
        id_cliente_servico TEXT PRIMARY KEY,
        name TEXT,
        document TEXT,
        address TEXT,
        lat REAL,
        lng REAL,
        pppoe_login TEXT,
        onu_serial TEXT,
        onu_mac TEXT,
        status TEXT,
        imported_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE bindings (
        service_id TEXT PRIMARY KEY REFERENCES services(id_cliente_servico),
        integration_id TEXT NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
        splitter_id TEXT NOT NULL,
        port INTEGER NOT NULL,
        box_id TEXT,
        state TEXT NOT NULL,
        reason TEXT,
        platform_client_id TEXT,
        platform_property_id TEXT,
        created_property INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE UNIQUE INDEX bindings_by_port ON bindings(integration_id, splitter_id, port);
    CREATE TABLE binding_events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        service_id TEXT NOT NULL,
        at TEXT NOT NULL,
        state TEXT NOT NULL,
        detail TEXT
    );
    CREATE INDEX binding_events_by_service ON binding_events(service_id, id);
    CREATE INDEX elements_client_code ON elements(integration_id, json_extract(data, '$.code'))
        WHERE kind = 'client';
    CREATE INDEX elements_property_client ON elements(integration_id, json_extract(data, '$.client'))
        WHERE kind = 'property';
    CREATE INDEX elements_property_port ON elements(integration_id, json_extract(data, '$.connection.splitter'))
        WHERE kind = 'property';
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        service_id TEXT NOT NULL,
        operation TEXT NOT NULL,
        payload TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at TEXT NOT NULL,
        last_error TEXT,
        created_at TEXT NOT NULL
    );",
    // 3: which process runs a run (to tell a crashed run from a live one),
    // each integration's daily sync time, and the daemon's settings.
    "ALTER TABLE runs ADD COLUMN pid INTEGER;
    ALTER TABLE integrations ADD COLUMN sync_time TEXT NOT NULL DEFAULT '04:00';
    CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);",
    // 4: a run's staging: what it read, applied to `elements` at its end.
    "CREATE TABLE run_elements (
        run_id INTEGER NOT NULL,
        kind TEXT NOT NULL,
        id TEXT NOT NULL,
        name TEXT NOT NULL,
        data TEXT NOT NULL,
        change TEXT NOT NULL,
        PRIMARY KEY (run_id, kind, id)
    ) WITHOUT ROWID;
    CREATE TABLE run_kinds (
        run_id INTEGER NOT NULL,
        kind TEXT NOT NULL,
        PRIMARY KEY (run_id, kind)
    ) WITHOUT ROWID;",
    // 5: an element the platform now sends invalid keeps its last valid
    // version, flagged; which kinds an integration synchronises and its
    // removal guard; whether a succeeded run's identification is done.
    "ALTER TABLE elements ADD COLUMN invalid_reason TEXT;
    ALTER TABLE integrations ADD COLUMN kinds TEXT NOT NULL DEFAULT 'pole,box,splitter,client,property';
    ALTER TABLE integrations ADD COLUMN max_removal_percent INTEGER NOT NULL DEFAULT 20;
    ALTER TABLE runs ADD COLUMN identified INTEGER NOT NULL DEFAULT 1;",
    // 6: integrations' API keys and passwords are encrypted from here on
    // (`open` encrypts those an older mapsync stored in clear). Nothing in
    // the schema changes: the version alone keeps an older mapsync, which
    // would send the ciphertext as its key, away from this database.
    "-- secrets encrypted at rest",
    // 7: each element's fingerprint, computed by the component, by which a
    // run tells updated from unchanged (NULL: stored before fingerprints;
    // compared by content once). Splitters' and properties' data said
    // `box_`, the binding generator's name for the WIT field `box`: stored
    // data uses the WIT's names, so the key is renamed (staged rows of a
    // run still going are renamed too; `invalid` rows hold a reason and
    // unchanged ones nothing, so only created and updated rows).
    "ALTER TABLE elements ADD COLUMN fingerprint INTEGER;
    ALTER TABLE run_elements ADD COLUMN fingerprint INTEGER;
    UPDATE elements
        SET data = json_set(json_remove(data, '$.box_'), '$.box', json_extract(data, '$.box_'))
        WHERE kind IN ('splitter', 'property') AND json_valid(data) AND json_type(data, '$.box_') IS NOT NULL;
    UPDATE run_elements
        SET data = json_set(json_remove(data, '$.box_'), '$.box', json_extract(data, '$.box_'))
        WHERE kind IN ('splitter', 'property') AND change IN ('created', 'updated')
          AND json_valid(data) AND json_type(data, '$.box_') IS NOT NULL;",
    // 8: what a person decided of a suggested match, so a rejected pair is
    // never suggested again and every decision is kept.
    "CREATE TABLE match_decisions (
        integration_id TEXT NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
        service_id TEXT NOT NULL,
        client_id TEXT NOT NULL,
        decision TEXT NOT NULL,
        score REAL,
        decided_at TEXT NOT NULL,
        PRIMARY KEY (integration_id, service_id, client_id)
    ) WITHOUT ROWID;",
    // 9: a binding that moves a customer the platform already places: the
    // platform property its confirmed push reconnects (`bind --move`).
    "ALTER TABLE bindings ADD COLUMN moving_property_id TEXT;",
];

/// Open (creating if need be) the database and bring its schema up to date.
pub fn open(path: &Path) -> Result<Connection> {
    let tightened = owner_only(path)?;
    let conn = Connection::open(path)
        .with_context(|| format!("opening the database {}", path.display()))?;
    conn.busy_timeout(std::time::Duration::from_secs(30))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    migrate(&conn).with_context(|| format!("migrating the database {}", path.display()))?;
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

/// Whether a process with this id is running on this machine.
pub fn process_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// A run marked running whose process is gone was cut short by a crash or
/// a kill: SQLite rolled its writes back, so say so. Runs of live processes
/// (a daemon's, another command's) are left alone.
fn mark_interrupted_runs(conn: &Connection) -> Result<()> {
    let mut stmt = conn.prepare("SELECT id, pid FROM runs WHERE outcome = 'running'")?;
    let dead: Vec<i64> = stmt
        .query_map([], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, Option<u32>>(1)?))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?
        .into_iter()
        .filter(|(_, pid)| pid.is_none_or(|pid| !process_alive(pid)))
        .map(|(id, _)| id)
        .collect();
    for id in dead {
        // What the dead run staged is dropped with it.
        conn.execute("DELETE FROM run_elements WHERE run_id = ?1", [id])?;
        conn.execute("DELETE FROM run_kinds WHERE run_id = ?1", [id])?;
        conn.execute(
            "UPDATE runs SET outcome = 'interrupted', ended_at = ?2,
                 error = 'the process stopped before the run ended; nothing it read was kept'
             WHERE id = ?1 AND outcome = 'running'",
            params![id, now()],
        )?;
    }
    Ok(())
}

fn migrate(conn: &Connection) -> Result<()> {
    let version: usize = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    anyhow::ensure!(
        version <= MIGRATIONS.len(),
        "the database has schema version {version}, newer than this mapsync knows ({}); use a newer mapsync",
        MIGRATIONS.len()
    );
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
        let tx = conn.unchecked_transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i + 1)?;
        tx.commit()?;
    }
    Ok(())
}

/// Timestamps are stored as RFC 3339 UTC text, which sorts as time does.
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
