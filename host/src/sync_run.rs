//! One sync of one integration: the run's record, the guest's run in a
//! transaction, and the report people and scripts read.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::bindings::sync as wit_sync;
use crate::db;
use crate::integration::Integration;
use crate::run_store::{Progress, RunStore, kind_name};
use crate::runtime::{Limits, Runtime};

/// Request tuning a test or an operator may want; zero means the guest's default.
#[derive(Clone, Copy, Debug, Default)]
pub struct Tuning {
    pub page_size: u32,
    pub max_attempts: u32,
    pub timeout_ms: u32,
}

#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct KindCounts {
    pub created: u32,
    pub updated: u32,
    pub unchanged: u32,
    pub removed: u32,
    pub invalid: u32,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct InvalidRecord {
    pub kind: String,
    pub id: Option<String>,
    pub reason: String,
}

/// The `sync --json` output: a public contract.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SyncReport {
    pub integration: String,
    pub run_id: i64,
    /// "succeeded" or "failed".
    pub status: String,
    pub error: Option<String>,
    pub started_at: String,
    pub finished_at: String,
    pub kinds: BTreeMap<String, KindCounts>,
    pub invalid: Vec<InvalidRecord>,
    pub requests: u32,
    pub retries: u32,
}

impl SyncReport {
    pub fn succeeded(&self) -> bool {
        self.status == "succeeded"
    }
}

/// The component's settings for an integration.
pub fn settings(integration: &Integration, tuning: Tuning) -> wit_sync::Settings {
    wit_sync::Settings {
        api_url: integration.api_url.clone(),
        api_key: integration.api_key.clone(),
        user: integration.user.clone(),
        password: integration.password.clone(),
        project_name: integration.project_name.clone(),
        page_size: tuning.page_size,
        max_attempts: tuning.max_attempts,
        timeout_ms: tuning.timeout_ms,
    }
}

/// Synchronise `integration` now. A failure of the sync itself is reported
/// (status "failed"), not returned as `Err`; `Err` means the run could not
/// even be recorded.
pub fn run(
    conn: Connection,
    runtime: &Runtime,
    integration: &Integration,
    trigger: &str,
    tuning: Tuning,
    progress: Box<dyn Progress>,
) -> Result<(SyncReport, Connection)> {
    let run_id = begin(&conn, runtime, integration, trigger)?;
    execute(conn, runtime, integration, run_id, tuning, progress)
}

/// Check the integration may sync, send queued pushes, and record a run
/// as running; answers its id.
pub fn begin(
    conn: &Connection,
    runtime: &Runtime,
    integration: &Integration,
    trigger: &str,
) -> Result<i64> {
    crate::projects::ensure_can_sync(conn, integration)?;
    // Pushes left queued by an earlier command go first, so the sync sees them.
    crate::outbox::process(conn, runtime, None).context("sending queued pushes")?;
    // One sync per integration across processes too (a daemon and a
    // command): checked and recorded in one write transaction.
    let tx = rusqlite::Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Immediate)?;
    let running: Option<(i64, Option<u32>)> = tx
        .query_row(
            "SELECT id, pid FROM runs WHERE integration_id = ?1 AND outcome = 'running' ORDER BY id DESC LIMIT 1",
            [&integration.id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    if let Some((run, Some(pid))) = running
        && db::process_alive(pid)
    {
        anyhow::bail!(
            "a sync of {:?} is already running (run {run}, process {pid})",
            integration.name
        );
    }
    tx.execute(
        "INSERT INTO runs (integration_id, trigger, started_at, outcome, pid) VALUES (?1, ?2, ?3, 'running', ?4)",
        params![integration.id, trigger, db::now(), std::process::id()],
    )
    .context("recording the run")?;
    let run_id = tx.last_insert_rowid();
    tx.commit()?;
    tracing::info!(run_id, integration = %integration.name, trigger, "sync started");
    Ok(run_id)
}

/// Run the recorded run `run_id` and record its outcome.
pub fn execute(
    conn: Connection,
    runtime: &Runtime,
    integration: &Integration,
    run_id: i64,
    tuning: Tuning,
    progress: Box<dyn Progress>,
) -> Result<(SyncReport, Connection)> {
    let started_at: String =
        conn.query_row("SELECT started_at FROM runs WHERE id = ?1", [run_id], |r| {
            r.get(0)
        })?;
    let settings = settings(integration, tuning);
    let store = RunStore::begin(conn, &integration.id, run_id, progress)?;
    let (answer, store) = runtime.sync(&integration.api_url, settings, store, Limits::default());
    let (conn, outcome) = match answer {
        Ok(Ok(report)) => match store.commit() {
            Ok(conn) => (conn, Ok(report)),
            Err(e) => return Err(e),
        },
        Ok(Err(message)) => (store.roll_back()?, Err(message)),
        Err(trap) => (store.roll_back()?, Err(format!("{trap:#}"))),
    };

    let mut report = SyncReport {
        integration: integration.name.clone(),
        run_id,
        status: if outcome.is_ok() {
            "succeeded"
        } else {
            "failed"
        }
        .into(),
        error: outcome.as_ref().err().cloned(),
        started_at,
        finished_at: db::now(),
        // Every kind is always present, so scripts can read any count.
        kinds: crate::elements::KINDS
            .iter()
            .map(|k| (k.to_string(), KindCounts::default()))
            .collect(),
        invalid: Vec::new(),
        requests: 0,
        retries: 0,
    };
    if let Ok(guest) = outcome {
        report.kinds.extend(guest.kinds.iter().map(|k| {
            let counts = KindCounts {
                created: k.created,
                updated: k.updated,
                unchanged: k.unchanged,
                removed: k.removed,
                invalid: k.invalid,
            };
            (kind_name(k.kind).to_string(), counts)
        }));
        report.invalid = guest
            .invalid
            .into_iter()
            .map(|i| InvalidRecord {
                kind: kind_name(i.kind).into(),
                id: i.id,
                reason: i.reason,
            })
            .collect();
        report.requests = guest.requests;
        report.retries = guest.retries;
    }
    conn.execute(
        "UPDATE runs SET ended_at = ?2, outcome = ?3, report = ?4, error = ?5 WHERE id = ?1",
        params![
            run_id,
            report.finished_at,
            report.status,
            serde_json::to_string(&report)?,
            report.error
        ],
    )
    .context("recording the run's outcome")?;
    if report.succeeded() {
        crate::identification::apply_after_sync(&conn, integration)
            .context("identifying clients after the sync")?;
    }
    match &report.error {
        None => tracing::info!(run_id, integration = %integration.name, "sync succeeded"),
        Some(error) => {
            tracing::warn!(run_id, integration = %integration.name, %error, "sync failed; nothing was changed")
        }
    }
    Ok((report, conn))
}
