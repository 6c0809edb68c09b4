//! One sync of one integration: the run's record, the guest's run in a
//! transaction, and the report people and scripts read.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::component::bindings::sync as wit_sync;
use crate::component::{Limits, Runtime, Timing};
use crate::store::Db;
use crate::store::integrations::Integration;
use crate::store::run_store::RunStore;
use crate::store::runs::{self, Start};
use crate::store::staging::{Progress, kind_name};
use crate::store::states::RunOutcome;
pub use crate::sync::settings::{Tuning, settings};

#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct KindCounts {
    pub created: u32,
    pub updated: u32,
    pub unchanged: u32,
    pub removed: u32,
    pub invalid: u32,
    /// Of the invalid, elements stored before: their last valid version
    /// was kept, flagged, instead of being removed.
    pub kept: u32,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct InvalidRecord {
    pub kind: String,
    pub id: Option<String>,
    pub reason: String,
}

/// A kind whose listing could not be trusted as complete: nothing of it
/// was removed.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct IncompleteKind {
    pub kind: String,
    pub reason: String,
}

/// Removals the guard held for one kind.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct HeldRemoval {
    pub kind: String,
    pub removed: u32,
    pub stored: u32,
}

/// The `sync --json` output: a public contract.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SyncReport {
    pub integration: String,
    pub run_id: i64,
    /// "succeeded" or "failed".
    pub status: RunOutcome,
    pub error: Option<String>,
    pub started_at: String,
    pub finished_at: String,
    pub kinds: BTreeMap<String, KindCounts>,
    pub invalid: Vec<InvalidRecord>,
    /// Kinds whose listing was incomplete, with the reason.
    #[serde(default)]
    pub incomplete: Vec<IncompleteKind>,
    /// Removals held for a person to confirm (`sync --allow-removals`).
    #[serde(default)]
    pub held_removals: Vec<HeldRemoval>,
    pub requests: u32,
    pub retries: u32,
    /// Why the run read every element ("first run", "a full sync was
    /// asked for", ...); null when it read only what changed since the
    /// last run.
    #[serde(default)]
    pub full_reason: Option<String>,
    /// Where the run's time went.
    #[serde(default)]
    pub timing: Timing,
}

impl SyncReport {
    pub fn succeeded(&self) -> bool {
        self.status == RunOutcome::Succeeded
    }
}

/// Synchronise `integration` now. A failure of the sync itself is reported
/// (status "failed"), not returned as `Err`; `Err` means the run could not
/// even be recorded.
pub fn run(
    conn: Db,
    runtime: &Runtime,
    integration: &Integration,
    trigger: &str,
    tuning: Tuning,
    progress: Box<dyn Progress>,
) -> Result<(SyncReport, Db)> {
    let run_id = begin(&conn, runtime, integration, trigger)?;
    execute(conn, runtime, integration, run_id, tuning, progress)
}

/// Check the integration may sync, send queued pushes, and record a run
/// as running; answers its id.
pub fn begin(
    conn: &Db,
    runtime: &Runtime,
    integration: &Integration,
    trigger: &str,
) -> Result<i64> {
    crate::store::projects::ensure_can_sync(conn, integration)?;
    // One added before the rule on plain http was kept: its secrets do not
    // go out in clear until its person says so.
    crate::store::integrations::plain_http(&integration.api_url, integration.insecure_http)?;
    // Pushes left queued by an earlier command go first, so the sync sees them.
    crate::sync::outbox::process(conn, runtime, None).context("sending queued pushes")?;
    // One sync per integration across processes and hosts: a running run
    // whose host is alive refuses it; one whose host is gone was cut short.
    // The store's index on running runs keeps two hosts from both starting.
    let already = || {
        anyhow::Error::new(crate::error::conflict(format!(
            "a sync of {:?} is already running",
            integration.name
        )))
    };
    let run_id = match runs::start(conn, &integration.id, trigger)? {
        Start::Started(id) => id,
        Start::Running { run, host } => {
            return Err(already()).with_context(|| {
                format!(
                    "run {run} on {}",
                    host.as_deref().unwrap_or("another process")
                )
            });
        }
        Start::Raced => return Err(already()),
    };
    tracing::info!(run_id, integration = %integration.name, trigger, "sync started");
    Ok(run_id)
}

/// Run the recorded run `run_id` and record its outcome.
pub fn execute(
    conn: Db,
    runtime: &Runtime,
    integration: &Integration,
    run_id: i64,
    tuning: Tuning,
    progress: Box<dyn Progress>,
) -> Result<(SyncReport, Db)> {
    let started_at = runs::started_at(&conn, run_id)?;
    let scope = crate::store::scope::get(&conn, &integration.id)?;
    let settings = wit_sync::Settings {
        switched_off: scope.switched_off(),
        max_removal_percent: scope.max_removal_percent,
        state: crate::store::sync_state::get(&conn, &integration.id)?,
        full_every_hours: scope.full_sync_hours,
        // One run's `--pages-in-flight` wins over the integration's own.
        pages_in_flight: match tuning.pages_in_flight {
            0 => scope.requests_at_once,
            n => n,
        },
        requests_per_second: scope.requests_per_second,
        ..settings(integration, tuning)
    };
    let store = RunStore::begin(conn, &integration.id, run_id, progress)?;
    let (answer, store, timing) =
        runtime.sync(&integration.api_url, settings, store, Limits::default());
    let mut report = SyncReport {
        integration: integration.name.clone(),
        run_id,
        status: RunOutcome::Succeeded,
        error: None,
        started_at,
        finished_at: crate::store::now(),
        // Every kind is always present, so scripts can read any count.
        kinds: crate::store::elements::KINDS
            .iter()
            .map(|k| (k.to_string(), KindCounts::default()))
            .collect(),
        invalid: Vec::new(),
        incomplete: Vec::new(),
        held_removals: Vec::new(),
        requests: 0,
        retries: 0,
        full_reason: None,
        timing,
    };
    let conn = match answer {
        Ok(Ok(guest)) => {
            let state = guest.state.clone();
            report.fill(guest);
            // The outcome and the state for the next run are written with
            // the elements, in one transaction.
            store.commit(|tx| {
                crate::store::sync_state::keep(tx, &integration.id, &state)?;
                record_outcome(tx, &report, false)
            })?
        }
        failed => {
            report.status = RunOutcome::Failed;
            report.error = Some(match failed {
                Ok(Err(wit_sync::RunError::Failed(message))) => message,
                Ok(Err(wit_sync::RunError::RemovalsHeld(held))) => {
                    report.held_removals = held
                        .kinds
                        .into_iter()
                        .map(|h| HeldRemoval {
                            kind: kind_name(h.kind).into(),
                            removed: h.removed,
                            stored: h.stored,
                        })
                        .collect();
                    held.message
                }
                Err(trap) => format!("{trap:#}"),
                Ok(Ok(_)) => unreachable!("a report is a success"),
            });
            let conn = store.roll_back()?;
            record_outcome(&conn, &report, true)?;
            conn
        }
    };
    if report.succeeded() {
        if report.full_reason.is_some() || report.changed_customers() {
            identify(&conn, runtime, integration, run_id)?;
        } else {
            // No client or property changed: who is identified is as the
            // last identification left it.
            runs::mark_identified(&conn, run_id)?;
        }
    }
    for incomplete in &report.incomplete {
        tracing::warn!(run_id, integration = %integration.name, kind = %incomplete.kind, reason = %incomplete.reason,
            "listing incomplete; nothing of this kind was removed");
    }
    match &report.error {
        None => tracing::info!(run_id, integration = %integration.name, "sync succeeded"),
        Some(error) => {
            tracing::warn!(run_id, integration = %integration.name, %error, "sync failed; nothing was changed")
        }
    }
    Ok((report, conn))
}

impl SyncReport {
    /// Whether a client or a property changed, was removed or was kept invalid.
    fn changed_customers(&self) -> bool {
        ["client", "property"].iter().any(|kind| {
            self.kinds
                .get(*kind)
                .is_some_and(|k| k.created + k.updated + k.removed + k.invalid + k.kept > 0)
        })
    }

    fn fill(&mut self, guest: wit_sync::Report) {
        self.kinds.extend(guest.kinds.iter().map(|k| {
            let counts = KindCounts {
                created: k.created,
                updated: k.updated,
                unchanged: k.unchanged,
                removed: k.removed,
                invalid: k.invalid,
                kept: k.kept,
            };
            (kind_name(k.kind).to_string(), counts)
        }));
        self.invalid = guest
            .invalid
            .into_iter()
            .map(|i| InvalidRecord {
                kind: kind_name(i.kind).into(),
                id: i.id,
                reason: i.reason,
            })
            .collect();
        self.incomplete = guest
            .incomplete
            .into_iter()
            .map(|i| IncompleteKind {
                kind: kind_name(i.kind).into(),
                reason: i.reason,
            })
            .collect();
        self.requests = guest.requests;
        self.retries = guest.retries;
        self.full_reason = guest.full_reason;
    }
}

/// Write the run's outcome; a succeeded run's identification is still to do.
fn record_outcome(conn: &Db, report: &SyncReport, identified: bool) -> Result<()> {
    let json = serde_json::to_string(report)?;
    runs::record_outcome(
        conn,
        &runs::Outcome {
            run_id: report.run_id,
            ended_at: &report.finished_at,
            outcome: report.status,
            report: &json,
            error: report.error.as_deref(),
            identified,
        },
    )
    .context("recording the run's outcome")
}

/// Identify clients after run `run_id`, and note that it is done.
fn identify(conn: &Db, runtime: &Runtime, integration: &Integration, run_id: i64) -> Result<()> {
    crate::sync::identification::apply(conn, runtime, integration)
        .context("identifying clients after the sync")?;
    runs::mark_identified(conn, run_id)
}

/// Finish what a process that died between a run's apply and its
/// identification left undone. Called at every start.
pub fn finish_interrupted(conn: &Db) -> Result<()> {
    let pending = runs::unidentified(conn)?;
    if pending.is_empty() {
        return Ok(());
    }
    let runtime = Runtime::new()?;
    for runs::Unidentified {
        run_id,
        integration: name,
    } in pending
    {
        let integration = crate::store::integrations::get(conn, &name)?;
        tracing::info!(run_id, integration = %name, "finishing the identification of an interrupted run");
        identify(conn, &runtime, &integration, run_id)?;
    }
    Ok(())
}
