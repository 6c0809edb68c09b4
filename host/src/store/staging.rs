//! `element-store`: one run's view of the SQLite store.
//!
//! A run stages what it reads in `run_elements`, each batch in a short
//! transaction, and applies it to `elements` in one transaction only when
//! the guest answers a report; a failed or trapped sync drops its staging
//! and leaves the store exactly as it was. Holding no lock for the whole
//! run lets other commands and the API write while a long sync goes on.

use std::collections::HashMap;

use anyhow::{Context, Result};
use serde::Serialize;

use crate::component::bindings::element_store::{
    Entries, Mark, Presence, Staged as StagedState, Written,
};
use crate::component::bindings::types::ElementKind;
use crate::params;
use crate::store::bulk::DeferredIndexes;
use crate::store::db::{FromValue, Kind, ToValue, Value as DbValue};
use crate::store::steps::Steps;
use crate::store::{Db, Transaction};

/// How many elements a batch (or marks) read, as the progress counts them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    pub created: u32,
    pub updated: u32,
    pub unchanged: u32,
}

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

/// Drop run `run_id`'s staging. On SQLite the table is the run's own (see
/// [`SQLITE_STAGING`]): a `DELETE` without `WHERE` empties it whole, freeing
/// its pages without visiting each row.
fn drop_staging(tx: &Transaction<'_>, run_id: i64) -> Result<()> {
    match tx.kind() {
        Kind::Sqlite => tx.execute("DELETE FROM run_elements", params![])?,
        Kind::Postgres => tx.execute(
            "DELETE FROM run_elements WHERE run_id = ?1",
            params![run_id],
        )?,
    };
    Ok(())
}

/// On SQLite a run stages in a table of its own connection (`TEMP`, which
/// SQLite looks in before the database's own `run_elements`), kept in a
/// temporary file: a network's worth of staged rows then goes neither
/// through the write-ahead log nor into the database file, where each
/// would be written twice (log, then checkpoint) and read back through a
/// log the size of the network. A crash loses only the staging, which a
/// run that did not end never keeps anyway. The file is SQLite's own,
/// deleted when the connection closes; its 16 MiB of cache are freed then.
/// It has the columns of the database's table, whatever the schema adds.
/// Its journal, which only a batch failing halfway reads back, is kept in
/// memory: in the file it was written with each batch, and the run's
/// store spent half its time there (a first sync at 1M: 5.5–6.3 s, 2.9–3.2 s
/// so).
const SQLITE_STAGING: &str = "PRAGMA temp_store = FILE;
    PRAGMA temp.cache_size = -16384;
    PRAGMA temp.journal_mode = MEMORY;
    CREATE TEMP TABLE IF NOT EXISTS run_elements AS SELECT * FROM main.run_elements WHERE 0;
    CREATE UNIQUE INDEX IF NOT EXISTS temp.run_elements_key ON run_elements (run_id, kind, id);";

/// The ids of `?2` held by integration `?1` (stored, not removed) after
/// `?3`, at most `?4`, in byte order. The index of held elements
/// (`elements_held`, schema 19) answers it alone: through the key index
/// each id read its row to see `removed_at`.
fn held_ids_after(kind: Kind) -> String {
    let order = byte_order(kind);
    format!(
        "SELECT id FROM elements
         WHERE integration_id = ?1 AND kind = ?2 AND removed_at IS NULL AND id{order} > ?3
         ORDER BY id{order} LIMIT ?4"
    )
}

/// What follows an id in SQL to compare it byte by byte on both stores:
/// PostgreSQL's text order follows its locale.
fn byte_order(kind: Kind) -> &'static str {
    match kind {
        Kind::Sqlite => "",
        Kind::Postgres => " COLLATE \"C\"",
    }
}

/// How many elements of `?2` integration `?1` holds, counted from their
/// index alone.
const HELD_COUNT: &str =
    "SELECT count(*) FROM elements WHERE integration_id = ?1 AND kind = ?2 AND removed_at IS NULL";

/// The name a staged state has in `run_elements.change`.
fn staged_name(state: StagedState) -> &'static str {
    match state {
        StagedState::Nothing => "nothing",
        StagedState::Created => "created",
        StagedState::Updated => "updated",
        StagedState::Unchanged => "unchanged",
        StagedState::Invalid => "invalid",
        StagedState::Gone => "gone",
        StagedState::Seen => "seen",
    }
}

fn staged_named(name: &str) -> Result<StagedState> {
    [
        StagedState::Created,
        StagedState::Updated,
        StagedState::Unchanged,
        StagedState::Invalid,
        StagedState::Gone,
        StagedState::Seen,
    ]
    .into_iter()
    .find(|s| staged_name(*s) == name)
    .with_context(|| format!("unknown staged state {name:?}"))
}

/// One run's staging and its apply, on the run's connection. Used by
/// [`crate::store::run_store::RunStore`], which keeps it on a thread of
/// its own while the run goes on.
pub struct Staging {
    conn: Db,
    integration_id: String,
    run_id: i64,
    now: String,
    /// The integration held no element when the run began (its first
    /// sync): applying it has nothing stored to compare with or remove.
    first: bool,
    /// Rows staged as invalid and as gone: without any, their steps of the
    /// apply have nothing to do.
    invalid_staged: u32,
    gone_staged: u32,
    /// The page of held ids a walk asks for next (see [`Staging::read_ahead`]).
    ahead: Option<HeldAhead>,
}

/// The stored ids of `kind` held after `after`, at most `limit`: the page
/// a walk of held ids asks for after the one it was just given, read while
/// the component compares that one. Only `elements` is read ahead, which
/// no one writes during the run (one run of an integration at a time, and
/// only its apply writes its elements); what the run itself wrote is read
/// when asked.
struct HeldAhead {
    kind: ElementKind,
    after: String,
    limit: u32,
    /// `None` until read, and when reading failed: the call reads it then.
    ids: Option<Vec<String>>,
}

/// Every element kind, in the order a sync reads them.
pub const ALL_KINDS: [ElementKind; 6] = [
    ElementKind::Project,
    ElementKind::Pole,
    ElementKind::Box,
    ElementKind::Splitter,
    ElementKind::Client,
    ElementKind::Property,
];

/// A kind's name: as stored (`elements.kind`), shown and given.
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

/// The kind named `name` (see [`kind_name`]).
pub fn kind_named(name: &str) -> Option<ElementKind> {
    ALL_KINDS.into_iter().find(|k| kind_name(*k) == name)
}

impl ToValue for ElementKind {
    fn to_value(&self) -> DbValue {
        DbValue::Text(kind_name(*self).to_string())
    }
}

impl FromValue for ElementKind {
    fn from_value(v: &DbValue) -> Result<Self> {
        let name = String::from_value(v)?;
        kind_named(&name).with_context(|| format!("unknown element kind {name:?}"))
    }
}

/// One element of a batch as staged.
#[derive(Serialize)]
struct Staged<'a> {
    id: &'a str,
    name: &'a str,
    data: &'a str,
    change: &'static str,
    fingerprint: i64,
}

impl Staging {
    /// Begin run `run_id`: its writes are staged until `commit`.
    pub fn begin(conn: Db, integration_id: &str, run_id: i64) -> Result<Staging> {
        // One run of an integration at a time (`one_running_run`): none
        // other writes its elements meanwhile.
        let held: bool = conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM elements WHERE integration_id = ?1)",
            params![integration_id],
            |r| r.get(0),
        )?;
        if conn.kind() == Kind::Sqlite {
            conn.batch(SQLITE_STAGING)
                .context("preparing the run's staging")?;
        }
        let store = Staging {
            conn,
            integration_id: integration_id.to_string(),
            run_id,
            now: crate::store::now(),
            first: !held,
            invalid_staged: 0,
            gone_staged: 0,
            ahead: None,
        };
        // Leftovers of an earlier attempt under the same id, if any.
        store.discard().context("starting the run")?;
        Ok(store)
    }

    #[cfg(test)]
    pub(crate) fn conn(&self) -> &Db {
        &self.conn
    }

    fn discard(&self) -> Result<()> {
        self.conn.execute(
            "DELETE FROM run_elements WHERE run_id = ?1",
            params![self.run_id],
        )?;
        Ok(())
    }

    /// Apply everything the run staged, in one short transaction: create
    /// and update what changed, flag what came back invalid, mark removed
    /// what complete listings did not see. `record_outcome` writes the
    /// run's outcome in the same transaction, so a crash leaves either
    /// nothing applied and the run unfinished, or both.
    pub fn commit(self, record_outcome: impl FnOnce(&Transaction<'_>) -> Result<()>) -> Result<Db> {
        let mut steps = Steps::new(self.run_id);
        let tx = self.conn.transaction()?;
        if tx.kind() == Kind::Postgres {
            // The staging was just filled: without fresh statistics the
            // planner takes it for empty and compares every stored element
            // with every staged one (minutes at 100,000 elements). Those
            // of the elements stored are gathered when stale only.
            tx.batch("ANALYZE run_elements")?;
            crate::store::statistics::refresh(&tx, &[("elements", 0)])?;
        }
        // Into an empty `elements` (a first sync, no other network) the
        // rows go without its secondary indexes, built after (`bulk`).
        let deferred = DeferredIndexes::drop(&tx, &["elements"])?;
        tx.execute(
            "INSERT INTO elements (integration_id, kind, id, name, data, fingerprint, created_at, updated_at)
             SELECT ?1, kind, id, name, data, fingerprint, ?3, ?3 FROM run_elements
             WHERE run_id = ?2 AND change IN ('created', 'updated')
             ON CONFLICT (integration_id, kind, id) DO UPDATE
                 SET name = excluded.name, data = excluded.data, fingerprint = excluded.fingerprint,
                     updated_at = excluded.updated_at, removed_at = NULL, invalid_reason = NULL",
            params![self.integration_id, self.run_id, self.now],
        )?;
        steps.done("created and updated written");
        deferred.rebuild(&tx)?;
        steps.done("indexes built");
        // A first sync only adds: nothing stored to fingerprint, flag or
        // find unseen (each of those steps reads every stored element).
        if !self.first {
            self.reconcile(&tx, &mut steps)?;
        }
        crate::store::network::follow(
            &tx,
            &self.integration_id,
            self.run_id,
            &self.now,
            self.first,
            &mut steps,
        )?;
        drop_staging(&tx, self.run_id)?;
        steps.done("staging dropped");
        record_outcome(&tx)?;
        tx.commit().context("committing the run")?;
        steps.done("committed");
        Ok(self.conn)
    }

    /// What applying a run does to the elements stored before it: flags of
    /// invalid ones come and go, and what the component found gone (not in
    /// a complete listing, or no longer listed) is removed.
    fn reconcile(&self, tx: &Transaction<'_>, steps: &mut Steps) -> Result<()> {
        // Valid again, unchanged: the flag goes.
        tx.execute(
            "UPDATE elements SET invalid_reason = NULL
             WHERE integration_id = ?1 AND invalid_reason IS NOT NULL
               AND EXISTS (SELECT 1 FROM run_elements r WHERE r.run_id = ?2 AND r.kind = elements.kind
                           AND r.id = elements.id AND r.change = 'unchanged')",
            params![self.integration_id, self.run_id],
        )?;
        steps.done("valid again");
        // Invalid now: the last valid version stays, flagged with the reason.
        if self.invalid_staged > 0 {
            tx.execute(
                "UPDATE elements SET invalid_reason = (SELECT r.data FROM run_elements r WHERE r.run_id = ?2
                         AND r.kind = elements.kind AND r.id = elements.id AND r.change = 'invalid')
                 WHERE integration_id = ?1
                   AND EXISTS (SELECT 1 FROM run_elements r WHERE r.run_id = ?2 AND r.kind = elements.kind
                               AND r.id = elements.id AND r.change = 'invalid')",
                params![self.integration_id, self.run_id],
            )?;
            steps.done("invalid now");
        }
        // Gone: what a complete listing did not read, and what an
        // incremental run's walk of the platform's ids no longer found.
        if self.gone_staged > 0 {
            tx.execute(
                "UPDATE elements SET removed_at = ?3
                 WHERE integration_id = ?1 AND removed_at IS NULL
                   AND (kind, id) IN (SELECT kind, id FROM run_elements WHERE run_id = ?2 AND change = 'gone')",
                params![self.integration_id, self.run_id, self.now],
            )?;
            steps.done("gone removed");
        }
        Ok(())
    }

    /// Drop everything the run staged; the store is as it was.
    pub fn roll_back(self) -> Result<Db> {
        self.discard().context("rolling the run back")?;
        Ok(self.conn)
    }

    /// What the store held of each of `ids` when the run began, and what
    /// the run staged for it (the WIT `look-up`): two queries a batch, of
    /// `elements` and of the staging, by their keys.
    pub fn look_up(&mut self, kind: ElementKind, ids: &[String]) -> Result<Entries> {
        let list = serde_json::to_string(ids)?;
        let stored: HashMap<String, (Option<i64>, bool)> = self
            .conn
            .query(
                "SELECT id, fingerprint, removed_at IS NOT NULL FROM elements
                 WHERE integration_id = ?1 AND kind = ?2 AND id IN (SELECT value FROM json_each(?3))",
                params![self.integration_id, kind, list],
                |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?))),
            )?
            .into_iter()
            .collect();
        let staged: HashMap<String, String> = self
            .conn
            .query(
                "SELECT id, change FROM run_elements
                 WHERE run_id = ?1 AND kind = ?2 AND id IN (SELECT value FROM json_each(?3))",
                params![self.run_id, kind, list],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?
            .into_iter()
            .collect();
        let mut entries = Entries {
            presence: Vec::with_capacity(ids.len()),
            fingerprints: Vec::with_capacity(ids.len()),
            staged: Vec::with_capacity(ids.len()),
        };
        for id in ids {
            let (presence, fingerprint) = match stored.get(id) {
                None => (Presence::Absent, 0),
                Some((_, true)) => (Presence::Removed, 0),
                // SQLite's integers are signed: the same 64 bits.
                Some((Some(fingerprint), false)) => (Presence::Held, *fingerprint as u64),
                Some((None, false)) => (Presence::HeldUnfingerprinted, 0),
            };
            entries.presence.push(presence);
            entries.fingerprints.push(fingerprint);
            entries.staged.push(match staged.get(id) {
                Some(change) => staged_named(change)?,
                None => StagedState::Nothing,
            });
        }
        Ok(entries)
    }

    /// Stage a batch's elements as written, each with its fingerprint and
    /// state (the WIT `stage-written`), in one statement.
    pub fn stage_written(&mut self, kind: ElementKind, written: &Written) -> Result<()> {
        let n = written.ids.len();
        anyhow::ensure!(
            written.names.len() == n
                && written.data.len() == n
                && written.fingerprints.len() == n
                && written.changes.len() == n,
            "the batch holds {n} ids but {} names, {} data, {} fingerprints and {} states",
            written.names.len(),
            written.data.len(),
            written.fingerprints.len(),
            written.changes.len()
        );
        let mut ids = std::collections::HashSet::with_capacity(n);
        let mut staged = Vec::with_capacity(n);
        for i in 0..n {
            let id = written.ids[i].as_str();
            anyhow::ensure!(ids.insert(id), "the batch holds {id} twice");
            let change = match written.changes[i] {
                StagedState::Created => "created",
                StagedState::Updated => "updated",
                other => anyhow::bail!(
                    "{id} staged as {other:?}: only created or updated come with data"
                ),
            };
            staged.push(Staged {
                id,
                name: &written.names[i],
                data: &written.data[i],
                change,
                fingerprint: written.fingerprints[i] as i64,
            });
        }
        let tx = self.conn.transaction()?;
        const UPSERT: &str = " ON CONFLICT (run_id, kind, id) DO UPDATE
                 SET name = excluded.name, data = excluded.data, change = excluded.change,
                     fingerprint = excluded.fingerprint";
        match tx.kind() {
            // In-process: a prepared statement per element costs less than
            // SQLite's JSON functions reading a batch.
            Kind::Sqlite => {
                let sql = format!(
                    "INSERT INTO run_elements (run_id, kind, id, name, data, change, fingerprint)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7){UPSERT}"
                );
                for row in &staged {
                    tx.execute(
                        &sql,
                        params![
                            self.run_id,
                            kind,
                            row.id,
                            row.name,
                            row.data,
                            row.change,
                            row.fingerprint
                        ],
                    )?;
                }
            }
            // A round trip per element would cost more than the page did:
            // the batch goes as one JSON parameter, read once.
            Kind::Postgres => {
                tx.execute(
                    &format!(
                        "INSERT INTO run_elements (run_id, kind, id, name, data, change, fingerprint)
                         SELECT ?1, ?2, x.id, x.name, x.data, x.change, x.fingerprint
                         FROM jsonb_to_recordset(CAST(CAST(?3 AS text) AS jsonb))
                             AS x(id text, name text, data text, change text, fingerprint bigint){UPSERT}"
                    ),
                    params![self.run_id, kind, serde_json::to_string(&staged)?],
                )?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Stage states without data for elements the store holds (the WIT
    /// `stage-marks`): one statement for each state, an invalid one with
    /// its reason each. The row keeps the element's stored name; its data
    /// is the reason of an invalid one.
    pub fn stage_marks(&mut self, kind: ElementKind, marks: &[Mark]) -> Result<()> {
        let tx = self.conn.transaction()?;
        let mut staged = 0;
        const STAGE: &str = "INSERT INTO run_elements (run_id, kind, id, name, data, change)
             SELECT ?1, e.kind, e.id, e.name, ?4, ?5 FROM elements e
             WHERE e.integration_id = ?2 AND e.kind = ?3 AND e.id IN (SELECT value FROM json_each(?6))
             ON CONFLICT (run_id, kind, id) DO UPDATE
                 SET name = excluded.name, data = excluded.data, change = excluded.change,
                     fingerprint = NULL";
        for state in [StagedState::Unchanged, StagedState::Gone, StagedState::Seen] {
            let ids: Vec<&str> = marks
                .iter()
                .filter(|m| m.staged == state)
                .map(|m| m.id.as_str())
                .collect();
            if ids.is_empty() {
                continue;
            }
            let n = tx.execute(
                STAGE,
                params![
                    self.run_id,
                    self.integration_id,
                    kind,
                    "",
                    staged_name(state),
                    serde_json::to_string(&ids)?
                ],
            )? as u32;
            if state == StagedState::Gone {
                self.gone_staged += n;
            }
            staged += n as usize;
        }
        for mark in marks.iter().filter(|m| m.staged == StagedState::Invalid) {
            let reason = mark.reason.as_deref().unwrap_or_default();
            let n = tx.execute(
                STAGE,
                params![
                    self.run_id,
                    self.integration_id,
                    kind,
                    reason,
                    "invalid",
                    serde_json::to_string(&[&mark.id])?
                ],
            )? as u32;
            self.invalid_staged += n;
            staged += n as usize;
        }
        if let Some(written) = marks
            .iter()
            .find(|m| matches!(m.staged, StagedState::Created | StagedState::Updated))
        {
            anyhow::bail!(
                "{} marked {:?}: a written element comes with its data (stage-written)",
                written.id,
                written.staged
            );
        }
        anyhow::ensure!(
            staged == marks.len(),
            "{} of {} marks name elements the store does not hold (or one twice)",
            marks.len() - staged,
            marks.len()
        );
        tx.commit()?;
        Ok(())
    }

    /// Elements of `kind` held, not removed, when the run began.
    pub fn held_count(&mut self, kind: ElementKind) -> Result<u32> {
        self.conn
            .query_row(HELD_COUNT, params![self.integration_id, kind], |r| r.get(0))
    }

    /// The ids of `kind` held when the run began that it staged nothing
    /// for, ascending by their bytes, after `after`, at most `limit`: what
    /// a complete listing did not read, from the index of held elements.
    pub fn unstaged_ids(
        &mut self,
        kind: ElementKind,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<String>> {
        let order = byte_order(self.conn.kind());
        self.conn.query_texts(
            &format!(
                "SELECT e.id FROM elements e
                 WHERE e.integration_id = ?1 AND e.kind = ?2 AND e.removed_at IS NULL AND e.id{order} > ?3
                   AND NOT EXISTS (SELECT 1 FROM run_elements r WHERE r.run_id = ?4 AND r.kind = e.kind AND r.id = e.id)
                 ORDER BY e.id{order} LIMIT ?5"
            ),
            params![
                self.integration_id,
                kind,
                after.unwrap_or_default(),
                self.run_id,
                limit
            ],
        )
    }

    /// The ids of `kind` held (stored and not removed, or written by this
    /// run), ascending by their bytes, after `after`, at most `limit`. Each
    /// table is read in its key's order up to `limit` and the two merged:
    /// one query over both would sort every id left at every page.
    pub fn held_ids(
        &mut self,
        kind: ElementKind,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<String>> {
        let order = byte_order(self.conn.kind());
        let after = after.unwrap_or_default();
        let stored = match self.ahead.take() {
            Some(HeldAhead {
                kind: k,
                after: a,
                limit: l,
                ids: Some(ids),
            }) if k == kind && a == after && l == limit => ids,
            _ => self.held_after(kind, after, limit)?,
        };
        // A full page of stored ids ends the page where it ends: what the
        // run wrote past its last id cannot be among the first `limit`, and
        // without that bound each page read every row the run wrote after it.
        let written_sql = |upto: &str| {
            format!(
                "SELECT id FROM run_elements
                 WHERE run_id = ?1 AND kind = ?2 AND id{order} > ?3{upto}
                   AND change IN ('created', 'updated', 'unchanged', 'invalid')
                 ORDER BY id{order} LIMIT ?4"
            )
        };
        let written = match stored.last().filter(|_| stored.len() >= limit as usize) {
            Some(last) => self.conn.query_texts(
                &written_sql(&format!(" AND id{order} <= ?5")),
                params![self.run_id, kind, after, limit, last],
            )?,
            None => self
                .conn
                .query_texts(&written_sql(""), params![self.run_id, kind, after, limit])?,
        };
        let mut held: Vec<String> = Vec::with_capacity(limit as usize);
        let (mut a, mut b) = (
            stored.into_iter().peekable(),
            written.into_iter().peekable(),
        );
        while held.len() < limit as usize {
            let next = match (a.peek(), b.peek()) {
                (Some(x), Some(y)) if x.as_bytes() == y.as_bytes() => {
                    b.next();
                    a.next()
                }
                (Some(x), Some(y)) if x.as_bytes() < y.as_bytes() => a.next(),
                (Some(_), Some(_)) | (None, Some(_)) => b.next(),
                (Some(_), None) => a.next(),
                (None, None) => None,
            };
            match next {
                Some(id) => held.push(id),
                None => break,
            }
        }
        // A full page: the walk asks for the one after it next.
        self.ahead = held
            .last()
            .filter(|_| held.len() >= limit as usize)
            .map(|last| HeldAhead {
                kind,
                after: last.clone(),
                limit,
                ids: None,
            });
        Ok(held)
    }

    /// The stored ids of `kind` held after `after`, at most `limit`.
    fn held_after(&self, kind: ElementKind, after: &str, limit: u32) -> Result<Vec<String>> {
        self.conn.query_texts(
            &held_ids_after(self.conn.kind()),
            params![self.integration_id, kind, after, limit],
        )
    }

    /// Read the stored part of the page of held ids the walk asks for next,
    /// if a full page was just given: the store's thread does it while the
    /// component compares that page, rather than while the component waits
    /// for the next (a fifth of a 1 %-changed re-sync's wait for the store
    /// at 1M). A failure is left for the call to meet and report.
    pub fn read_ahead(&mut self) {
        let Some(next) = self.ahead.as_ref().filter(|a| a.ids.is_none()) else {
            return;
        };
        let ids = self.held_after(next.kind, &next.after, next.limit).ok();
        if let Some(next) = self.ahead.as_mut() {
            next.ids = ids;
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A batch of elements of one kind, as the tests give them: the
    /// records of the WIT's `types`, stored as the component stores them
    /// (`stored_form`).
    #[derive(Clone)]
    pub(crate) enum ElementBatch {
        Boxes(Vec<crate::component::bindings::types::BoxData>),
        Splitters(Vec<SplitterData>),
        Clients(Vec<crate::component::bindings::types::ClientData>),
        Properties(Vec<crate::component::bindings::types::PropertyData>),
    }

    /// One element ready for its row: id, name and data as stored.
    struct Row {
        id: String,
        name: String,
        data: String,
    }

    /// An element's data in its stored form: its JSON under the WIT's field
    /// names (snake case), so `box` and not the `box_` the binding generator
    /// names it. Written straight from the record: going through a
    /// `serde_json::Value` cost a map per element.
    pub(crate) fn stored_form<T: Serialize>(item: &T) -> Result<String> {
        let json = serde_json::to_string(item)?;
        // Only a key's closing quote is followed by a colon (a quote inside a
        // string is escaped), so this renames keys and nothing else; only the
        // top-level records (splitter, property) have a `box`.
        Ok(if json.contains(BOX_KEY) {
            json.replacen(BOX_KEY, "\"box\":", 1)
        } else {
            json
        })
    }

    const BOX_KEY: &str = "\"box_\":";

    fn rows<T: Serialize>(items: &[T], key: impl Fn(&T) -> (&str, &str)) -> Result<Vec<Row>> {
        items
            .iter()
            .map(|item| {
                let (id, name) = key(item);
                Ok(Row {
                    id: id.to_string(),
                    name: name.to_string(),
                    data: stored_form(item)?,
                })
            })
            .collect()
    }

    /// The kind of the elements a batch holds.
    pub fn batch_kind(batch: &ElementBatch) -> ElementKind {
        match batch {
            ElementBatch::Boxes(_) => ElementKind::Box,
            ElementBatch::Splitters(_) => ElementKind::Splitter,
            ElementBatch::Clients(_) => ElementKind::Client,
            ElementBatch::Properties(_) => ElementKind::Property,
        }
    }

    fn batch_rows(batch: &ElementBatch) -> Result<Vec<Row>> {
        match batch {
            ElementBatch::Boxes(v) => rows(v, |e| (&e.id, &e.name)),
            ElementBatch::Splitters(v) => rows(v, |e| (&e.id, &e.name)),
            ElementBatch::Clients(v) => rows(v, |e| (&e.id, &e.name)),
            ElementBatch::Properties(v) => rows(v, |e| (&e.id, &e.name)),
        }
    }

    use crate::component::bindings::types::{PortData, SplitterData};
    use crate::store::integrations::{self, NewIntegration};
    use crate::store::run_store::RunStore;

    /// SQLite's plan of `sql` (`what` it is) reads the index `index`.
    pub(crate) fn assert_plan_reads(
        conn: &Db,
        what: &str,
        sql: &str,
        params: crate::store::db::Params<'_>,
        index: &str,
    ) {
        let plan: Vec<String> = conn
            .query(&format!("EXPLAIN QUERY PLAN {sql}"), params, |r| r.get(3))
            .unwrap();
        assert!(
            plan.iter()
                .any(|step| step.contains(&format!("INDEX {index}"))),
            "{what}: {plan:?}"
        );
    }

    #[test]
    fn held_ids_are_walked_and_counted_from_their_own_index() {
        let (_dir, conn, id) = open();
        conn.batch(SQLITE_STAGING).unwrap();
        let kind = ElementKind::Client;
        assert_plan_reads(
            &conn,
            "the walk",
            &held_ids_after(Kind::Sqlite),
            params![id, kind, "", 10],
            "elements_held",
        );
        assert_plan_reads(
            &conn,
            "the count",
            HELD_COUNT,
            params![id, kind],
            "elements_held",
        );
    }

    /// The staging's journal is kept in memory, and a batch that fails
    /// still rolls back whole: rows of a staged batch stay, those of the
    /// failed one go.
    #[test]
    fn the_staging_journals_in_memory_and_still_rolls_back() {
        let (_dir, conn, id) = open();
        let mut staging = Staging::begin(conn, &id, 1).unwrap();
        let mode: String = staging
            .conn()
            .query_row("PRAGMA temp.journal_mode", params![], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "memory");
        staging
            .stage_written(
                ElementKind::Splitter,
                &written(&batch(&[&splitter("s1", "A")]), &[1], StagedState::Created),
            )
            .unwrap();
        {
            let tx = staging.conn().transaction().unwrap();
            tx.execute(
                "INSERT INTO run_elements (run_id, kind, id, name, data, change, fingerprint)
                 VALUES (1, 'splitter', 's2', 'B', '{}', 'created', 2)",
                params![],
            )
            .unwrap();
            // Dropped uncommitted: rolled back.
        }
        let staged: Vec<String> = staging
            .conn()
            .query("SELECT id FROM run_elements ORDER BY id", params![], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(staged, ["s1"]);
    }

    /// A fresh store holding one integration; answers its id.
    pub(crate) fn open() -> (tempfile::TempDir, Db, String) {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::store::open_file(&dir.path().join("mapsync.db")).unwrap();
        let added = integrations::add(
            &conn,
            NewIntegration {
                name: "centro".into(),
                api_url: "http://127.0.0.1:9".into(),
                api_key: "k".into(),
                user: "u".into(),
                password: "p".into(),
                project_name: None,
                insecure_http: false,
            },
        )
        .unwrap();
        (dir, conn, added.id)
    }

    #[test]
    fn kinds_keep_their_names() {
        assert_eq!(ALL_KINDS.map(kind_name), crate::store::elements::KINDS);
        for kind in ALL_KINDS {
            assert_eq!(kind_named(kind_name(kind)), Some(kind));
            assert_eq!(kind.to_value(), DbValue::Text(kind_name(kind).into()));
            assert_eq!(ElementKind::from_value(&kind.to_value()).unwrap(), kind);
        }
        let e = ElementKind::from_value(&DbValue::Text("tower".into())).unwrap_err();
        assert!(format!("{e:#}").contains("\"tower\""), "{e:#}");
    }

    pub(crate) fn splitter(id: &str, name: &str) -> SplitterData {
        SplitterData {
            id: id.into(),
            name: name.into(),
            project: "pr".into(),
            box_: "b1".into(),
            service: true,
            ratio_input: 1,
            ratio_output: 2,
            ports: vec![
                PortData {
                    number: 1,
                    blocked: false,
                },
                PortData {
                    number: 2,
                    blocked: true,
                },
            ],
        }
    }

    pub(crate) fn batch(splitters: &[&SplitterData]) -> ElementBatch {
        ElementBatch::Splitters(splitters.iter().map(|s| (*s).clone()).collect())
    }

    fn counts(o: &BatchOutcome) -> (u32, u32, u32) {
        (o.created, o.updated, o.unchanged)
    }

    /// What completing a listing removed, of what was held.
    pub(crate) struct Sweep {
        pub removed: u32,
        pub stored: u32,
    }

    /// A batch written as the component's ledger writes it (its rules are
    /// the guest's, tested there): the ids looked up, then each staged
    /// created, updated or unchanged by its fingerprint.
    pub(crate) fn write(
        store: &mut RunStore,
        batch: ElementBatch,
        prints: Vec<u64>,
    ) -> BatchOutcome {
        let kind = batch_kind(&batch);
        let rows = batch_rows(&batch).unwrap();
        let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
        let entries = store.look_up(kind, &ids).unwrap();
        let mut outcome = BatchOutcome::default();
        let mut written = Written {
            ids: vec![],
            names: vec![],
            data: vec![],
            fingerprints: vec![],
            changes: vec![],
        };
        let mut unchanged = Vec::new();
        for (i, row) in rows.into_iter().enumerate() {
            let change = match entries.presence[i] {
                Presence::Held if entries.fingerprints[i] == prints[i] => {
                    outcome.unchanged += 1;
                    unchanged.push(Mark {
                        id: row.id,
                        staged: StagedState::Unchanged,
                        reason: None,
                    });
                    continue;
                }
                Presence::Held | Presence::HeldUnfingerprinted => {
                    outcome.updated += 1;
                    StagedState::Updated
                }
                Presence::Absent | Presence::Removed => {
                    outcome.created += 1;
                    StagedState::Created
                }
            };
            written.ids.push(row.id);
            written.names.push(row.name);
            written.data.push(row.data);
            written.fingerprints.push(prints[i]);
            written.changes.push(change);
        }
        if !written.ids.is_empty() {
            store.stage_written(kind, written).unwrap();
        }
        if !unchanged.is_empty() {
            store.stage_marks(kind, unchanged).unwrap();
        }
        outcome
    }

    /// Each row of a batch as the component stages it.
    pub(crate) fn written(batch: &ElementBatch, prints: &[u64], change: StagedState) -> Written {
        let rows = batch_rows(batch).unwrap();
        Written {
            ids: rows.iter().map(|r| r.id.clone()).collect(),
            names: rows.iter().map(|r| r.name.clone()).collect(),
            data: rows.iter().map(|r| r.data.clone()).collect(),
            fingerprints: prints.to_vec(),
            changes: vec![change; rows.len()],
        }
    }

    /// A listing completed as the ledger completes it: every element held
    /// that the run staged nothing for, gone.
    pub(crate) fn complete(store: &mut RunStore, kind: ElementKind) -> Result<Sweep> {
        let stored = store.held_count(kind)?;
        let gone = store.unstaged_ids(kind, None, u32::MAX)?;
        let removed = gone.len() as u32;
        let marks = gone
            .into_iter()
            .map(|id| Mark {
                id,
                staged: StagedState::Gone,
                reason: None,
            })
            .collect::<Vec<_>>();
        if !marks.is_empty() {
            store.stage_marks(kind, marks)?;
        }
        Ok(Sweep { removed, stored })
    }

    /// One run that writes `splitters` with their fingerprints, completes
    /// the kind and commits; answers the batch's outcome.
    fn run(
        conn: Db,
        integration: &str,
        run_id: i64,
        splitters: &[(&SplitterData, u64)],
    ) -> (BatchOutcome, Sweep, Db) {
        let mut store = RunStore::begin(conn, integration, run_id, Box::new(NoProgress)).unwrap();
        let items: Vec<&SplitterData> = splitters.iter().map(|(s, _)| *s).collect();
        let prints: Vec<u64> = splitters.iter().map(|(_, f)| *f).collect();
        let outcome = write(&mut store, batch(&items), prints.to_vec());
        let sweep = complete(&mut store, ElementKind::Splitter).unwrap();
        (outcome, sweep, store.commit(|_| Ok(())).unwrap())
    }

    #[test]
    fn fingerprints_decide_created_updated_unchanged() {
        let (_dir, conn, id) = open();
        let (a, b) = (splitter("s1", "A"), splitter("s2", "B"));
        let (o, _, conn) = run(conn, &id, 1, &[(&a, 1), (&b, u64::MAX)]);
        assert_eq!(counts(&o), (2, 0, 0));

        // The host goes by the fingerprint, not by its own serialisation:
        // same data under a new fingerprint is updated, new data under the
        // same fingerprint unchanged (and kept as it was).
        let renamed = splitter("s2", "B renamed");
        let (o, _, conn) = run(conn, &id, 2, &[(&a, 7), (&renamed, u64::MAX)]);
        assert_eq!(counts(&o), (0, 1, 1));
        let name: String = conn
            .query_row(
                "SELECT name FROM elements WHERE id = 's2'",
                params![],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(name, "B");

        // s2 not listed: removed; when it comes back, it counts as created.
        let (o, sweep, conn) = run(conn, &id, 3, &[(&a, 7)]);
        assert_eq!((counts(&o), sweep.removed, sweep.stored), ((0, 0, 1), 1, 2));
        let (o, _, _) = run(conn, &id, 4, &[(&a, 7), (&b, u64::MAX)]);
        assert_eq!(counts(&o), (1, 0, 1));
    }

    /// A run's commit drops its own staging only: another run's, staged
    /// meanwhile (on SQLite in its own connection's table, nothing in the
    /// database file), stays for its own commit.
    #[test]
    fn committing_a_run_leaves_another_runs_staging() {
        let (dir, conn, id) = open();
        let other = crate::store::open_file(&dir.path().join("mapsync.db")).unwrap();
        let mut waiting = RunStore::begin(other, &id, 7, Box::new(NoProgress)).unwrap();
        write(&mut waiting, batch(&[&splitter("s9", "Z")]), vec![9]);
        let (_, _, conn) = run(conn, &id, 8, &[(&splitter("s1", "A"), 1)]);
        let other = waiting.commit(|_| Ok(())).unwrap();
        let count = |conn: &Db, table: &str| -> i64 {
            conn.query_row(&format!("SELECT count(*) FROM {table}"), params![], |r| {
                r.get(0)
            })
            .unwrap()
        };
        assert_eq!(count(&conn, "elements"), 2);
        for conn in [&conn, &other] {
            assert_eq!(count(conn, "run_elements"), 0);
            assert_eq!(count(conn, "main.run_elements"), 0);
        }
    }

    #[test]
    fn held_ids_come_in_byte_order_from_the_store_and_the_run() {
        let (_dir, conn, id) = open();
        let (a, c) = (splitter("s1", "A"), splitter("s3", "C"));
        let (_, _, conn) = run(conn, &id, 1, &[(&a, 1), (&c, 3)]);
        let mut store = RunStore::begin(conn, &id, 2, Box::new(NoProgress)).unwrap();
        // s1 again (now also staged), s2 and s4 new: each once, in order.
        let (b, d) = (splitter("s2", "B"), splitter("s4", "D"));
        write(&mut store, batch(&[&a, &b, &d]), vec![1, 2, 4]);
        let kind = ElementKind::Splitter;
        let mut pages = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = store.held_ids(kind, after.as_deref(), 2).unwrap();
            if page.is_empty() {
                break;
            }
            after = page.last().cloned();
            pages.push(page);
        }
        assert_eq!(pages, [["s1", "s2"], ["s3", "s4"]]);
        // s3 gone: removed when the run is applied; one never stored (s9)
        // cannot be marked.
        let gone = |id: &str| Mark {
            id: id.into(),
            staged: StagedState::Gone,
            reason: None,
        };
        store.stage_marks(kind, vec![gone("s3")]).unwrap();
        let conn = store.commit(|_| Ok(())).unwrap();
        let removed: Vec<String> = conn
            .query(
                "SELECT id FROM elements WHERE removed_at IS NOT NULL",
                params![],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(removed, ["s3"]);
    }

    /// The stored part of each next page is read ahead, while the caller
    /// compares the last; what the run writes meanwhile still comes in its
    /// place, and a walk that asks for another page reads that one.
    #[test]
    fn held_ids_read_ahead_still_take_in_what_the_run_wrote_meanwhile() {
        let (_dir, conn, id) = open();
        let stored: Vec<SplitterData> = ["s1", "s3", "s5", "s7"]
            .iter()
            .map(|id| splitter(id, "S"))
            .collect();
        let stored: Vec<(&SplitterData, u64)> = stored.iter().map(|s| (s, 1)).collect();
        let (_, _, conn) = run(conn, &id, 1, &stored);
        let mut store = RunStore::begin(conn, &id, 2, Box::new(NoProgress)).unwrap();
        let kind = ElementKind::Splitter;
        let page =
            |store: &mut RunStore, after: Option<&str>| store.held_ids(kind, after, 2).unwrap();
        assert_eq!(page(&mut store, None), ["s1", "s3"]);
        // Written after [s5, s7] was read ahead: s4 and s6 take their place.
        let (four, six) = (splitter("s4", "D"), splitter("s6", "F"));
        write(&mut store, batch(&[&four, &six]), vec![4, 6]);
        store.held_count(ElementKind::Splitter).unwrap();
        assert_eq!(page(&mut store, Some("s3")), ["s4", "s5"]);
        assert_eq!(page(&mut store, Some("s5")), ["s6", "s7"]);
        assert!(page(&mut store, Some("s7")).is_empty());
        // Asked for another page than the one read ahead: read as asked.
        assert_eq!(page(&mut store, None), ["s1", "s3"]);
        assert_eq!(page(&mut store, Some("s1")), ["s3", "s4"]);
        store.commit(|_| Ok(())).unwrap();
    }

    #[test]
    fn a_first_sync_filled_in_bulk_leaves_every_index_as_it_was() {
        let (_dir, conn, id) = open();
        let indexes = |conn: &Db| -> Vec<(String, String)> {
            conn.query(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL ORDER BY name",
                params![],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap()
        };
        let before = indexes(&conn);
        assert!(before.iter().any(|(name, _)| name == "properties_by_port"));
        // The first run fills empty tables (indexes dropped and built
        // again), the second the usual way: both are found by the indexes.
        let (_, _, conn) = run(conn, &id, 1, &[(&splitter("s1", "A"), 1)]);
        assert_eq!(indexes(&conn), before);
        let (_, _, conn) = run(
            conn,
            &id,
            2,
            &[(&splitter("s1", "A"), 1), (&splitter("s2", "B"), 2)],
        );
        assert_eq!(indexes(&conn), before);
        let by_box: i64 = conn
            .query_row(
                "SELECT count(*) FROM splitters INDEXED BY splitters_by_box
                 WHERE integration_id = ?1 AND box_id = 'b1'",
                params![id],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(by_box, 2);
        let integrity: String = conn
            .query_row("PRAGMA integrity_check", params![], |r| r.get(0))
            .unwrap();
        assert_eq!(integrity, "ok");
    }

    /// A batch whose fingerprints or states do not match it is refused:
    /// handed over without waiting, the next call fails.
    #[test]
    fn a_batch_and_its_fingerprints_must_match() {
        let (_dir, conn, id) = open();
        let mut store = RunStore::begin(conn, &id, 1, Box::new(NoProgress)).unwrap();
        let a = splitter("s1", "A");
        let mut two = written(&batch(&[&a]), &[1], StagedState::Created);
        two.fingerprints.push(2);
        store.stage_written(ElementKind::Splitter, two).unwrap();
        let error = store.held_count(ElementKind::Splitter).unwrap_err();
        assert!(
            format!("{error}").contains("1 names, 1 data, 2 fingerprints"),
            "{error}"
        );
    }

    #[test]
    fn nothing_is_visible_before_commit_and_data_says_box() {
        let (dir, conn, id) = open();
        let mut store = RunStore::begin(conn, &id, 1, Box::new(NoProgress)).unwrap();
        write(&mut store, batch(&[&splitter("s1", "A")]), vec![1]);
        store.held_count(ElementKind::Splitter).unwrap();
        let visible: i64 = crate::store::open_file(&dir.path().join("mapsync.db"))
            .unwrap()
            .query_row("SELECT COUNT(*) FROM elements", params![], |r| r.get(0))
            .unwrap();
        assert_eq!(visible, 0, "a run's write was visible before it ended");
        let conn = store.roll_back().unwrap();
        let (_, _, conn) = run(conn, &id, 2, &[(&splitter("s1", "A"), 1)]);
        let data: String = conn
            .query_row(
                "SELECT data FROM elements WHERE id = 's1'",
                params![],
                |r| r.get(0),
            )
            .unwrap();
        let data: serde_json::Value = serde_json::from_str(&data).unwrap();
        assert_eq!(data["box"], "b1");
        assert!(data.get("box_").is_none(), "{data}");
    }

    /// A database of before fingerprints: its `box_` keys are renamed, and
    /// its elements, answered without a fingerprint, are written again
    /// once (updated), with one.
    #[test]
    fn elements_stored_before_fingerprints_are_migrated() {
        let (dir, conn, id) = open();
        let a = splitter("s1", "A");
        let (_, _, conn) = run(conn, &id, 1, &[(&a, 1)]);
        // Back to what schema 5 stored.
        let old = serde_json::to_string(&a).unwrap();
        assert!(old.contains("\"box_\""));
        conn.batch(&format!(
            "UPDATE elements SET data = '{old}';
             DROP INDEX elements_unfingerprinted;
             DROP INDEX elements_flagged;
             ALTER TABLE elements DROP COLUMN fingerprint;
             ALTER TABLE main.run_elements DROP COLUMN fingerprint;
             DROP TABLE match_decisions;
             ALTER TABLE bindings DROP COLUMN moving_property_id;
             DROP INDEX one_running_run;
             ALTER TABLE runs DROP COLUMN host;
             ALTER TABLE runs DROP COLUMN heartbeat_at;
             DROP TABLE slot_claims;
             ALTER TABLE runs DROP COLUMN progress;
             ALTER TABLE integrations DROP COLUMN sync_state;
             ALTER TABLE integrations DROP COLUMN full_sync_hours;
             ALTER TABLE integrations DROP COLUMN refresh_every;
             ALTER TABLE integrations DROP COLUMN requests_at_once;
             ALTER TABLE integrations DROP COLUMN requests_per_second;
             ALTER TABLE integrations DROP COLUMN insecure_http;
             ALTER TABLE outbox DROP COLUMN claimed_by;
             ALTER TABLE outbox DROP COLUMN claimed_until;
             DROP TABLE box_places;
             DROP TABLE boxes;
             DROP TABLE splitters;
             DROP TABLE ports;
             DROP TABLE properties;
             DROP TABLE clients;
             DROP INDEX elements_by_id;
             DROP INDEX elements_removed;
             PRAGMA user_version = 5;"
        ))
        .unwrap();
        drop(conn);
        let conn = crate::store::open_file(&dir.path().join("mapsync.db")).unwrap();
        let (data, fingerprint): (String, Option<i64>) = conn
            .query_row("SELECT data, fingerprint FROM elements", params![], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        let data: serde_json::Value = serde_json::from_str(&data).unwrap();
        assert_eq!((data["box"].as_str(), data.get("box_")), (Some("b1"), None));
        assert_eq!(fingerprint, None);

        let (o, _, conn) = run(conn, &id, 2, &[(&a, 42)]);
        assert_eq!(counts(&o), (0, 1, 0));
        let fingerprint: i64 = conn
            .query_row("SELECT fingerprint FROM elements", params![], |r| r.get(0))
            .unwrap();
        assert_eq!(fingerprint, 42);
        let (o, _, _) = run(conn, &id, 3, &[(&a, 42)]);
        assert_eq!(counts(&o), (0, 0, 1));
    }
}
