//! `element-store`: one run's view of the SQLite store.
//!
//! A run stages what it reads in `run_elements`, each batch in a short
//! transaction, and applies it to `elements` in one transaction only when
//! the guest answers a report; a failed or trapped sync drops its staging
//! and leaves the store exactly as it was. Holding no lock for the whole
//! run lets other commands and the API write while a long sync goes on.

use anyhow::{Context, Result};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use crate::bindings::element_store::{BatchOutcome, InvalidElement, Sweep};
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
    run_id: i64,
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
    /// Begin run `run_id`: its writes are staged until `commit`.
    pub fn begin(
        conn: Connection,
        integration_id: &str,
        run_id: i64,
        progress: Box<dyn Progress>,
    ) -> Result<RunStore> {
        let store = RunStore {
            conn,
            integration_id: integration_id.to_string(),
            run_id,
            now: db::now(),
            progress,
        };
        // Leftovers of an earlier attempt under the same id, if any.
        store.discard().context("starting the run")?;
        Ok(store)
    }

    fn discard(&self) -> Result<()> {
        self.conn
            .execute("DELETE FROM run_elements WHERE run_id = ?1", [self.run_id])?;
        self.conn
            .execute("DELETE FROM run_kinds WHERE run_id = ?1", [self.run_id])?;
        Ok(())
    }

    /// Apply everything the run staged, in one short transaction: create
    /// and update what changed, flag what came back invalid, mark removed
    /// what complete listings did not see. `record_outcome` writes the
    /// run's outcome in the same transaction, so a crash leaves either
    /// nothing applied and the run unfinished, or both.
    pub fn commit(
        self,
        record_outcome: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<()>,
    ) -> Result<Connection> {
        let tx = self.conn.unchecked_transaction()?;
        tx.execute(
            "INSERT INTO elements (integration_id, kind, id, name, data, created_at, updated_at)
             SELECT ?1, kind, id, name, data, ?3, ?3 FROM run_elements
             WHERE run_id = ?2 AND change IN ('created', 'updated')
             ON CONFLICT (integration_id, kind, id) DO UPDATE
                 SET name = excluded.name, data = excluded.data, updated_at = excluded.updated_at, removed_at = NULL,
                     invalid_reason = NULL",
            params![self.integration_id, self.run_id, self.now],
        )?;
        // Valid again, unchanged: the flag goes.
        tx.execute(
            "UPDATE elements SET invalid_reason = NULL
             WHERE integration_id = ?1 AND invalid_reason IS NOT NULL
               AND EXISTS (SELECT 1 FROM run_elements r WHERE r.run_id = ?2 AND r.kind = elements.kind
                           AND r.id = elements.id AND r.change = 'unchanged')",
            params![self.integration_id, self.run_id],
        )?;
        // Invalid now: the last valid version stays, flagged with the reason.
        tx.execute(
            "UPDATE elements SET invalid_reason = (SELECT r.data FROM run_elements r WHERE r.run_id = ?2
                     AND r.kind = elements.kind AND r.id = elements.id AND r.change = 'invalid')
             WHERE integration_id = ?1
               AND EXISTS (SELECT 1 FROM run_elements r WHERE r.run_id = ?2 AND r.kind = elements.kind
                           AND r.id = elements.id AND r.change = 'invalid')",
            params![self.integration_id, self.run_id],
        )?;
        tx.execute(
            "UPDATE elements SET removed_at = ?3
             WHERE integration_id = ?1 AND removed_at IS NULL
               AND kind IN (SELECT kind FROM run_kinds WHERE run_id = ?2)
               AND NOT EXISTS (SELECT 1 FROM run_elements r
                               WHERE r.run_id = ?2 AND r.kind = elements.kind AND r.id = elements.id)",
            params![self.integration_id, self.run_id, self.now],
        )?;
        tx.execute("DELETE FROM run_elements WHERE run_id = ?1", [self.run_id])?;
        tx.execute("DELETE FROM run_kinds WHERE run_id = ?1", [self.run_id])?;
        record_outcome(&tx)?;
        tx.commit().context("committing the run")?;
        Ok(self.conn)
    }

    /// Drop everything the run staged; the store is as it was.
    pub fn roll_back(self) -> Result<Connection> {
        self.discard().context("rolling the run back")?;
        Ok(self.conn)
    }

    fn check_cancelled(&self) -> Result<()> {
        if self.progress.cancelled() {
            anyhow::bail!("mapsync is stopping: the run was cut short and rolled back");
        }
        Ok(())
    }

    /// Stage a batch, each element classed against what is stored now.
    pub fn write_batch(&mut self, batch: &ElementBatch) -> Result<BatchOutcome> {
        self.check_cancelled()?;
        let (kind, rows) = batch_rows(batch)?;
        let kind_name = kind_name(kind);
        let mut outcome = BatchOutcome {
            created: 0,
            updated: 0,
            unchanged: 0,
        };
        let tx = self.conn.unchecked_transaction()?;
        {
            let mut stored = tx.prepare_cached(
                "SELECT data, removed_at IS NOT NULL FROM elements WHERE integration_id = ?1 AND kind = ?2 AND id = ?3",
            )?;
            let mut stage = tx.prepare_cached(
                "INSERT OR REPLACE INTO run_elements (run_id, kind, id, name, data, change) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            for (id, name, data) in &rows {
                let before: Option<(String, bool)> = stored
                    .query_row(params![self.integration_id, kind_name, id], |r| {
                        Ok((r.get(0)?, r.get(1)?))
                    })
                    .optional()?;
                let change = match before {
                    // An element that comes back after being removed counts as new.
                    None | Some((_, true)) => {
                        outcome.created += 1;
                        "created"
                    }
                    Some((old, false)) if old == *data => {
                        outcome.unchanged += 1;
                        "unchanged"
                    }
                    Some(_) => {
                        outcome.updated += 1;
                        "updated"
                    }
                };
                // Unchanged elements only need to be remembered as seen.
                let data = if change == "unchanged" {
                    ""
                } else {
                    data.as_str()
                };
                stage.execute(params![self.run_id, kind_name, id, name, data, change])?;
            }
        }
        tx.commit()?;
        self.progress.batch(kind, &outcome);
        Ok(outcome)
    }

    /// Stored elements that came back invalid: each is staged as seen with
    /// its reason, so `commit` keeps its stored version and flags it.
    pub fn keep_invalid(&mut self, kind: ElementKind, elements: &[InvalidElement]) -> Result<u32> {
        self.check_cancelled()?;
        let kind_name = kind_name(kind);
        let tx = self.conn.unchecked_transaction()?;
        let mut kept = 0;
        {
            let mut keep = tx.prepare_cached(
                "INSERT OR REPLACE INTO run_elements (run_id, kind, id, name, data, change)
                 SELECT ?1, kind, id, name, ?4, 'invalid' FROM elements
                 WHERE integration_id = ?2 AND kind = ?3 AND id = ?5 AND removed_at IS NULL",
            )?;
            for element in elements {
                kept += keep.execute(params![
                    self.run_id,
                    self.integration_id,
                    kind_name,
                    element.reason,
                    element.id
                ])? as u32;
            }
        }
        tx.commit()?;
        Ok(kept)
    }

    /// The listing of `kind` is complete: answer how many stored elements
    /// the run did not see, out of how many; `commit` marks them removed.
    pub fn complete_kind(&mut self, kind: ElementKind) -> Result<Sweep> {
        self.check_cancelled()?;
        self.conn.execute(
            "INSERT OR IGNORE INTO run_kinds (run_id, kind) VALUES (?1, ?2)",
            params![self.run_id, kind_name(kind)],
        )?;
        let (stored, removed): (u32, u32) = self.conn.query_row(
            "SELECT count(*), count(*) FILTER (WHERE NOT EXISTS
                 (SELECT 1 FROM run_elements r WHERE r.run_id = ?3 AND r.kind = e.kind AND r.id = e.id))
             FROM elements e
             WHERE e.integration_id = ?1 AND e.kind = ?2 AND e.removed_at IS NULL",
            params![self.integration_id, kind_name(kind), self.run_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        self.progress.completed(kind, removed);
        Ok(Sweep { removed, stored })
    }

    pub fn seen(&mut self, kind: ElementKind, ids: &[String]) -> Result<Vec<String>> {
        self.check_cancelled()?;
        let mut query = self.conn.prepare_cached(
            "SELECT 1 FROM run_elements WHERE run_id = ?1 AND kind = ?2 AND id = ?3",
        )?;
        let mut found = Vec::new();
        for id in ids {
            if query.exists(params![self.run_id, kind_name(kind), id])? {
                found.push(id.clone());
            }
        }
        Ok(found)
    }
}
