//! `element-store`: one run's view of the SQLite store.
//!
//! A run is one transaction: it begins before the guest is called and is
//! committed only when the guest answers a report, so a failed or trapped
//! sync leaves the store exactly as it was.

use anyhow::{Context, Result};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use crate::bindings::element_store::BatchOutcome;
use crate::bindings::types::{ElementBatch, ElementKind};
use crate::db;

/// Told of each batch and each completed kind, for a progress display.
pub trait Progress: Send {
    fn batch(&mut self, kind: ElementKind, outcome: &BatchOutcome);
    fn completed(&mut self, kind: ElementKind, removed: u32);
    /// The run should stop (mapsync is shutting down): the next store call
    /// fails, so the guest ends and the run rolls back.
    fn cancelled(&self) -> bool {
        false
    }
}

pub struct NoProgress;

impl Progress for NoProgress {
    fn batch(&mut self, _: ElementKind, _: &BatchOutcome) {}
    fn completed(&mut self, _: ElementKind, _: u32) {}
}

pub struct RunStore {
    conn: Connection,
    integration_id: String,
    now: String,
    progress: Box<dyn Progress>,
}

pub fn kind_name(kind: ElementKind) -> &'static str {
    match kind {
        ElementKind::Project => "project",
        ElementKind::Pole => "pole",
        ElementKind::Box => "box",
        ElementKind::Splitter => "splitter",
        ElementKind::Client => "client",
        ElementKind::Property => "property",
    }
}

/// One element ready for its row: (id, name, data as JSON).
type Row = (String, String, String);

fn rows<T: Serialize>(items: &[T], key: impl Fn(&T) -> (&str, &str)) -> Result<Vec<Row>> {
    items
        .iter()
        .map(|item| {
            let (id, name) = key(item);
            Ok((
                id.to_string(),
                name.to_string(),
                serde_json::to_string(item)?,
            ))
        })
        .collect()
}

fn batch_rows(batch: &ElementBatch) -> Result<(ElementKind, Vec<Row>)> {
    Ok(match batch {
        ElementBatch::Projects(v) => (ElementKind::Project, rows(v, |e| (&e.id, &e.name))?),
        ElementBatch::Poles(v) => (ElementKind::Pole, rows(v, |e| (&e.id, &e.name))?),
        ElementBatch::Boxes(v) => (ElementKind::Box, rows(v, |e| (&e.id, &e.name))?),
        ElementBatch::Splitters(v) => (ElementKind::Splitter, rows(v, |e| (&e.id, &e.name))?),
        ElementBatch::Clients(v) => (ElementKind::Client, rows(v, |e| (&e.id, &e.name))?),
        ElementBatch::Properties(v) => (ElementKind::Property, rows(v, |e| (&e.id, &e.name))?),
    })
}

impl RunStore {
    /// Begin the run's transaction.
    pub fn begin(
        conn: Connection,
        integration_id: &str,
        progress: Box<dyn Progress>,
    ) -> Result<RunStore> {
        conn.execute_batch(
            "BEGIN IMMEDIATE;
             CREATE TEMP TABLE IF NOT EXISTS seen (kind TEXT NOT NULL, id TEXT NOT NULL, PRIMARY KEY (kind, id)) WITHOUT ROWID;
             DELETE FROM temp.seen;",
        )
        .context("starting the run's transaction")?;
        Ok(RunStore {
            conn,
            integration_id: integration_id.to_string(),
            now: db::now(),
            progress,
        })
    }

    /// Keep everything the run wrote.
    pub fn commit(self) -> Result<Connection> {
        self.conn
            .execute_batch("DELETE FROM temp.seen; COMMIT;")
            .context("committing the run")?;
        Ok(self.conn)
    }

    /// Drop everything the run wrote.
    pub fn roll_back(self) -> Result<Connection> {
        self.conn
            .execute_batch("ROLLBACK;")
            .context("rolling the run back")?;
        Ok(self.conn)
    }

    fn check_cancelled(&self) -> Result<()> {
        if self.progress.cancelled() {
            anyhow::bail!("mapsync is stopping: the run was cut short and rolled back");
        }
        Ok(())
    }

    pub fn write_batch(&mut self, batch: &ElementBatch) -> Result<BatchOutcome> {
        self.check_cancelled()?;
        let (kind, rows) = batch_rows(batch)?;
        let kind_name = kind_name(kind);
        let mut outcome = BatchOutcome {
            created: 0,
            updated: 0,
            unchanged: 0,
        };
        let mut stored = self.conn.prepare_cached(
            "SELECT data, removed_at IS NOT NULL FROM elements WHERE integration_id = ?1 AND kind = ?2 AND id = ?3",
        )?;
        let mut insert = self.conn.prepare_cached(
            "INSERT INTO elements (integration_id, kind, id, name, data, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
        )?;
        let mut update = self.conn.prepare_cached(
            "UPDATE elements SET name = ?4, data = ?5, updated_at = ?6, removed_at = NULL
             WHERE integration_id = ?1 AND kind = ?2 AND id = ?3",
        )?;
        let mut mark = self
            .conn
            .prepare_cached("INSERT OR IGNORE INTO temp.seen (kind, id) VALUES (?1, ?2)")?;
        for (id, name, data) in &rows {
            let before: Option<(String, bool)> = stored
                .query_row(params![self.integration_id, kind_name, id], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()?;
            let at = (&self.integration_id, kind_name, id, name, data, &self.now);
            match before {
                None => {
                    insert.execute(params![at.0, at.1, at.2, at.3, at.4, at.5])?;
                    outcome.created += 1;
                }
                // An element that comes back after being removed counts as new.
                Some((_, true)) => {
                    update.execute(params![at.0, at.1, at.2, at.3, at.4, at.5])?;
                    outcome.created += 1;
                }
                Some((old, false)) if old == *data => outcome.unchanged += 1,
                Some(_) => {
                    update.execute(params![at.0, at.1, at.2, at.3, at.4, at.5])?;
                    outcome.updated += 1;
                }
            }
            mark.execute(params![kind_name, id])?;
        }
        self.progress.batch(kind, &outcome);
        Ok(outcome)
    }

    pub fn complete_kind(&mut self, kind: ElementKind) -> Result<u32> {
        self.check_cancelled()?;
        let removed = self.conn.execute(
            "UPDATE elements SET removed_at = ?3
             WHERE integration_id = ?1 AND kind = ?2 AND removed_at IS NULL
               AND id NOT IN (SELECT id FROM temp.seen WHERE kind = ?2)",
            params![self.integration_id, kind_name(kind), self.now],
        )? as u32;
        self.progress.completed(kind, removed);
        Ok(removed)
    }

    pub fn seen(&mut self, kind: ElementKind, ids: &[String]) -> Result<Vec<String>> {
        self.check_cancelled()?;
        let mut query = self
            .conn
            .prepare_cached("SELECT 1 FROM temp.seen WHERE kind = ?1 AND id = ?2")?;
        let mut found = Vec::new();
        for id in ids {
            if query.exists(params![kind_name(kind), id])? {
                found.push(id.clone());
            }
        }
        Ok(found)
    }
}
