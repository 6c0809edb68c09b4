//! Run history and each integration's status, for `runs` and `status`.

use anyhow::Result;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::params;
use crate::schedule;
use crate::store::{Db, Row, leases};

#[derive(Debug, Serialize)]
pub struct Run {
    pub id: i64,
    pub integration: String,
    pub trigger: String,
    pub started_at: String,
    pub ended_at: Option<String>,
    /// running, succeeded, failed or interrupted.
    pub outcome: String,
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
    let outcome: Option<String> =
        conn.query_opt("SELECT outcome FROM runs WHERE id = ?1", params![id], |r| {
            r.get(0)
        })?;
    Ok(outcome.is_some_and(|o| o != "running"))
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
    conn.execute("DELETE FROM run_kinds WHERE run_id = ?1", params![id])?;
    conn.execute(
        "UPDATE runs SET outcome = 'interrupted', ended_at = ?2,
             error = 'the process stopped before the run ended; nothing it read was kept'
         WHERE id = ?1 AND outcome = 'running'",
        params![id, crate::store::now()],
    )?;
    Ok(())
}

/// An integration on the schedule: its name, daily time, last success.
pub type Planned = (String, String, Option<DateTime<Utc>>);

/// Integrations that synchronise on schedule: those that feed a project.
pub fn scheduled(conn: &Db) -> Result<Vec<Planned>> {
    let rows = conn.query(
        "SELECT i.name, i.sync_time,
                (SELECT max(ended_at) FROM runs r WHERE r.integration_id = i.id AND r.outcome = 'succeeded')
         FROM integrations i WHERE i.project_id IS NOT NULL AND i.detached_at IS NULL ORDER BY i.name",
        params![],
        |r| Ok((r.get(0)?, r.get(1)?, r.get::<Option<String>>(2)?)),
    )?;
    Ok(rows
        .into_iter()
        .map(|(name, time, last)| {
            let last = last
                .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
                .map(|t| t.with_timezone(&Utc));
            (name, time, last)
        })
        .collect())
}

/// Each integration's next planned run, from now.
pub fn next_runs(conn: &Db, now: DateTime<Utc>) -> Result<Vec<(String, DateTime<Utc>)>> {
    scheduled(conn)?
        .into_iter()
        .map(|(name, time, _)| {
            Ok((
                name,
                schedule::next_run(now, schedule::parse_time(&time)?, schedule::ZONE),
            ))
        })
        .collect()
}
