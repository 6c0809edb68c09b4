//! Run history and each integration's status, for `runs` and `status`.

use anyhow::Result;
use serde::Serialize;

use crate::params;
use crate::store::{Db, Row};
use crate::{schedule, serve};

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
        crate::integration::get(conn, name)?;
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
    let next: std::collections::HashMap<String, String> = serve::next_runs(conn, now)?
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
