//! Runs: recording a sync's run and its outcome; run history and each
//! integration's status, for `runs` and `status`.

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::params;
use crate::schedule;
use crate::store::integrations::FEEDS_A_PROJECT;
use crate::store::states::RunOutcome;
use crate::store::{Db, Row, leases};

#[derive(Debug, Serialize)]
pub struct Run {
    pub id: i64,
    pub integration: String,
    pub trigger: String,
    pub started_at: String,
    pub ended_at: Option<String>,
    pub outcome: RunOutcome,
    pub error: Option<String>,
    /// The sync report (as `sync --json` prints it), once ended.
    pub report: Option<serde_json::Value>,
}

fn from_row(r: &Row) -> Result<Run> {
    Ok(Run {
        id: r.get(0)?,
        integration: r.get(1)?,
        trigger: r.get(2)?,
        started_at: r.get(3)?,
        ended_at: r.get(4)?,
        outcome: r.get(5)?,
        error: r.get(6)?,
        report: r
            .get::<Option<String>>(7)?
            .and_then(|t| serde_json::from_str(&t).ok()),
    })
}

const SELECT: &str =
    "SELECT r.id, i.name, r.trigger, r.started_at, r.ended_at, r.outcome, r.error, r.report
     FROM runs r JOIN integrations i ON i.id = r.integration_id";

pub fn history(conn: &Db, integration: Option<&str>, limit: u32) -> Result<Vec<Run>> {
    if let Some(name) = integration {
        crate::store::integrations::get(conn, name)?;
    }
    conn.query(
        &format!(
            "{SELECT} WHERE CAST(?1 AS TEXT) IS NULL OR i.name = ?1 ORDER BY r.id DESC LIMIT ?2"
        ),
        params![integration, limit],
        from_row,
    )
}

/// Whether run `id` has its outcome recorded (0: not begun yet).
pub fn ended(conn: &Db, id: i64) -> Result<bool> {
    let outcome: Option<RunOutcome> =
        conn.query_opt("SELECT outcome FROM runs WHERE id = ?1", params![id], |r| {
            r.get(0)
        })?;
    Ok(outcome.is_some_and(|o| o != RunOutcome::Running))
}

pub fn get(conn: &Db, id: i64) -> Result<Option<Run>> {
    conn.query_opt(&format!("{SELECT} WHERE r.id = ?1"), params![id], from_row)
}

#[derive(Debug, Serialize)]
pub struct Status {
    pub integration: String,
    pub project: Option<String>,
    pub sync_time: String,
    pub last_run: Option<Run>,
    /// The next planned run, local time in America/Sao_Paulo (RFC 3339).
    pub next_run: Option<String>,
}

pub fn status(conn: &Db) -> Result<Vec<Status>> {
    let now = chrono::Utc::now();
    let next: std::collections::HashMap<String, String> = next_runs(conn, now)?
        .into_iter()
        .map(|(name, at)| (name, at.with_timezone(&schedule::ZONE).to_rfc3339()))
        .collect();
    let rows = conn.query(
        "SELECT i.name, p.name, i.sync_time, (SELECT max(id) FROM runs r WHERE r.integration_id = i.id)
         FROM integrations i LEFT JOIN projects p ON p.id = i.project_id AND i.detached_at IS NULL ORDER BY i.name",
        params![],
        |r| {
            Ok((
                r.get::<String>(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get::<Option<i64>>(3)?,
            ))
        },
    )?;
    rows.into_iter()
        .map(|(integration, project, sync_time, last)| {
            Ok(Status {
                next_run: next.get(&integration).cloned(),
                last_run: match last {
                    Some(id) => get(conn, id)?,
                    None => None,
                },
                integration,
                project,
                sync_time,
            })
        })
        .collect()
}

/// A run marked running whose host is gone was cut short by a crash or a
/// kill: the store rolled its writes back, so say so. Runs of live hosts
/// (a daemon's, another command's) are left alone.
pub fn mark_interrupted(conn: &Db) -> Result<()> {
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
            interrupt(conn, id)?;
        }
    }
    Ok(())
}

/// Mark a running run whose host is gone interrupted; what it staged is
/// dropped with it.
pub fn interrupt(conn: &Db, id: i64) -> Result<()> {
    conn.execute("DELETE FROM run_elements WHERE run_id = ?1", params![id])?;
    conn.execute(
        "UPDATE runs SET outcome = 'interrupted', ended_at = ?2,
             error = 'the process stopped before the run ended; nothing it read was kept'
         WHERE id = ?1 AND outcome = 'running'",
        params![id, crate::store::now()],
    )?;
    Ok(())
}

/// An integration on the schedule: its name, daily time, last success.
/// An integration's schedule.
pub struct Planned {
    pub name: String,
    /// The daily sync's time, `HH:MM` in São Paulo.
    pub sync_time: String,
    /// When its last successful sync ended.
    pub last_success: Option<DateTime<Utc>>,
    /// Minutes between refreshes; 0: none.
    pub refresh_every: u32,
}

/// Integrations that synchronise on schedule: those that feed a project.
pub fn scheduled(conn: &Db) -> Result<Vec<Planned>> {
    let rows = conn.query(
        &format!(
            "SELECT i.name, i.sync_time,
                    (SELECT max(ended_at) FROM runs r WHERE r.integration_id = i.id AND r.outcome = 'succeeded'),
                    i.refresh_every
             FROM integrations i WHERE {FEEDS_A_PROJECT} ORDER BY i.name"
        ),
        params![],
        |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get::<Option<String>>(2)?,
                r.get(3)?,
            ))
        },
    )?;
    Ok(rows
        .into_iter()
        .map(|(name, sync_time, last, refresh_every)| Planned {
            name,
            sync_time,
            last_success: last
                .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
                .map(|t| t.with_timezone(&Utc)),
            refresh_every,
        })
        .collect())
}

/// Integrations that do not synchronise, each with why (see
/// `integrations::not_synchronising_because`), by name.
pub fn unscheduled(conn: &Db) -> Result<Vec<(String, String)>> {
    let rows: Vec<(String, bool, Option<String>)> = conn.query(
        &format!(
            "SELECT i.name, i.project_id IS NOT NULL, i.detached_at FROM integrations i
             WHERE NOT {FEEDS_A_PROJECT} ORDER BY i.name"
        ),
        params![],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    Ok(rows
        .into_iter()
        .filter_map(|(name, linked, detached_at)| {
            let why = crate::store::integrations::not_synchronising_because(
                &name,
                linked,
                detached_at.as_deref(),
            )?;
            Some((name, why))
        })
        .collect())
}

/// When the integration's last successful sync started reading the
/// platform (RFC 3339): the platform the store shows is that of then.
pub fn last_fresh(conn: &Db, integration_id: &str) -> Result<Option<String>> {
    conn.query_row(
        "SELECT max(started_at) FROM runs WHERE integration_id = ?1 AND outcome = 'succeeded'",
        params![integration_id],
        |r| r.get(0),
    )
}

/// Each integration's next planned run, from now.
pub fn next_runs(conn: &Db, now: DateTime<Utc>) -> Result<Vec<(String, DateTime<Utc>)>> {
    scheduled(conn)?
        .into_iter()
        .map(|planned| {
            Ok((
                planned.name,
                schedule::next_run(
                    now,
                    schedule::parse_time(&planned.sync_time)?,
                    schedule::ZONE,
                ),
            ))
        })
        .collect()
}

/// What recording a run as running came to.
#[derive(Debug)]
pub enum Start {
    /// Recorded: the new run's id.
    Started(i64),
    /// A run of the integration is running on a host that is alive.
    Running { run: i64, host: Option<String> },
    /// Another host recorded its run between the check and the write: the
    /// index on running runs refused this one.
    Raced,
}

/// Record a run of `integration_id` as running, by this host and process,
/// if none is: one sync per integration across processes and hosts. A
/// running run whose host is gone was cut short and is marked interrupted;
/// one whose host is alive refuses the start, and the store's index on
/// running runs keeps two hosts from both starting. All in one transaction,
/// left uncommitted (rolled back) unless the run was recorded.
pub fn start(conn: &Db, integration_id: &str, trigger: &str) -> Result<Start> {
    let tx = conn.transaction()?;
    let running: Option<(i64, Option<String>, Option<String>)> = tx.query_opt(
        "SELECT id, host, heartbeat_at FROM runs WHERE integration_id = ?1 AND outcome = 'running'",
        params![integration_id],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    if let Some((run, host, beat)) = running {
        if !leases::gone(host.as_deref(), beat.as_deref()) {
            return Ok(Start::Running { run, host });
        }
        interrupt(&tx, run)?;
    }
    let now = crate::store::now();
    let inserted = tx.query_row(
        "INSERT INTO runs (integration_id, trigger, started_at, outcome, pid, host, heartbeat_at)
         VALUES (?1, ?2, ?3, 'running', ?4, ?5, ?3)
         RETURNING id",
        params![
            integration_id,
            trigger,
            now,
            std::process::id(),
            leases::host()
        ],
        |r| r.get::<i64>(0),
    );
    let run_id = match inserted {
        Ok(id) => id,
        // Another host recorded its run between the check and this write:
        // the index on running runs refused this one (SQLite names the
        // index's column, PostgreSQL the index).
        Err(e)
            if ["one_running_run", "runs.integration_id"]
                .iter()
                .any(|index| format!("{e:#}").contains(index)) =>
        {
            return Ok(Start::Raced);
        }
        Err(e) => return Err(e).context("recording the run"),
    };
    tx.commit()?;
    Ok(Start::Started(run_id))
}

/// When run `id` started (its report says so).
pub fn started_at(conn: &Db, id: i64) -> Result<String> {
    conn.query_row(
        "SELECT started_at FROM runs WHERE id = ?1",
        params![id],
        |r| r.get(0),
    )
}

/// How a run ended, as its report says.
#[derive(Debug)]
pub struct Outcome<'a> {
    pub run_id: i64,
    pub ended_at: &'a str,
    /// Succeeded or failed.
    pub outcome: RunOutcome,
    /// The sync report, as JSON (what `sync --json` prints).
    pub report: &'a str,
    pub error: Option<&'a str>,
    /// Whether nothing is left to do after it: a succeeded run's
    /// identification of clients is still to do (false) until
    /// [`mark_identified`].
    pub identified: bool,
}

/// Write a run's outcome; on success, in the transaction that applies
/// what the run staged, so both happen or neither.
pub fn record_outcome(conn: &Db, outcome: &Outcome<'_>) -> Result<()> {
    conn.execute(
        "UPDATE runs SET ended_at = ?2, outcome = ?3, report = ?4, error = ?5, identified = ?6 WHERE id = ?1",
        params![
            outcome.run_id,
            outcome.ended_at,
            outcome.outcome,
            outcome.report,
            outcome.error,
            outcome.identified
        ],
    )?;
    Ok(())
}

/// Clients were identified after run `id`: nothing of it is left to do.
pub fn mark_identified(conn: &Db, id: i64) -> Result<()> {
    conn.execute(
        "UPDATE runs SET identified = TRUE WHERE id = ?1",
        params![id],
    )?;
    Ok(())
}

/// A succeeded run whose identification of clients was not done (its
/// process died between the apply and it).
#[derive(Debug)]
pub struct Unidentified {
    pub run_id: i64,
    pub integration: String,
}

/// The succeeded runs still to identify clients after, oldest first.
pub fn unidentified(conn: &Db) -> Result<Vec<Unidentified>> {
    conn.query(
        "SELECT r.id, i.name FROM runs r JOIN integrations i ON i.id = r.integration_id
         WHERE r.outcome = 'succeeded' AND NOT r.identified ORDER BY r.id",
        params![],
        |r| {
            Ok(Unidentified {
                run_id: r.get(0)?,
                integration: r.get(1)?,
            })
        },
    )
}

/// Keep a running run's progress (JSON), for the hosts that do not run it.
pub fn save_progress(db: &Db, run_id: i64, progress: &str) -> Result<()> {
    db.execute(
        "UPDATE runs SET progress = ?2 WHERE id = ?1 AND outcome = 'running'",
        params![run_id, progress],
    )?;
    Ok(())
}

/// A run's progress as its host last kept it.
pub fn stored_progress(db: &Db, run_id: i64) -> Result<Option<String>> {
    Ok(db
        .query_opt(
            "SELECT progress FROM runs WHERE id = ?1",
            params![run_id],
            |r| r.get::<Option<String>>(0),
        )?
        .flatten())
}

/// The running run of an integration, if one runs (on any host).
pub fn running_of(db: &Db, integration_id: &str) -> Result<Option<i64>> {
    db.query_opt(
        "SELECT id FROM runs WHERE integration_id = ?1 AND outcome = 'running'",
        params![integration_id],
        |r| r.get(0),
    )
}
