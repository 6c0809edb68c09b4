//! What the sync needs of storage, in two layers: [`Storage`], the
//! `element-store` import as a trait (the host's bytes: what is stored and
//! staged, what to stage), and [`ElementStore`], what the sync asks of it,
//! whose rules [`crate::ledger::Ledger`] keeps over any `Storage`.

use crate::model::{Batch, ElementKind};

/// What a batch changed compared with what was stored before the run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    pub created: u32,
    pub updated: u32,
    pub unchanged: u32,
}

/// A stored element that the platform now sends in a form that breaks the
/// schema.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidElement {
    pub id: String,
    pub reason: String,
}

/// What completing a kind's listing removes, out of what was stored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sweep {
    pub removed: u32,
    pub stored: u32,
}

/// Storage scoped to one run of one integration; the host owns the
/// transaction (see the WIT `element-store` interface).
pub trait ElementStore {
    fn write_batch(&mut self, batch: Batch) -> Result<BatchOutcome, String>;
    /// Keep the stored version of these elements, flagged invalid; answers
    /// how many were stored.
    fn keep_invalid(
        &mut self,
        kind: ElementKind,
        elements: &[InvalidElement],
    ) -> Result<u32, String>;
    fn complete_kind(&mut self, kind: ElementKind) -> Result<Sweep, String>;
    fn seen(&mut self, kind: ElementKind, ids: &[String]) -> Result<Vec<String>, String>;
    /// How many elements of `kind` are stored (not removed) plus those
    /// this run created: what the store holds if the kind is not completed.
    fn tally(&mut self, kind: ElementKind) -> Result<u32, String>;
    /// These stored elements still exist, unchanged: count them seen.
    /// Answers the ids neither stored nor seen by this run.
    fn mark_seen(&mut self, kind: ElementKind, ids: &[String]) -> Result<Vec<String>, String>;
    /// Ids of `kind` held (stored, or written by this run), ascending,
    /// after `after`, at most `limit`.
    fn stored_ids(
        &mut self,
        kind: ElementKind,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<String>, String>;
    /// These stored elements are gone from the platform: removed when the
    /// run is applied. Answers how many were stored.
    fn mark_gone(&mut self, kind: ElementKind, ids: &[String]) -> Result<u32, String>;
    /// Which of `ids` the store holds once the run ends: seen by this run,
    /// or stored (not removed) when the kind was not completed.
    fn known(&mut self, kind: ElementKind, ids: &[String]) -> Result<Vec<String>, String>;
}

/// What a run staged for an element (the WIT `staged`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Staged {
    Created,
    Updated,
    Unchanged,
    Invalid,
    Gone,
    Seen,
}

impl Staged {
    /// Read by this run (written, or read again): the element is there.
    pub fn read(self) -> bool {
        matches!(
            self,
            Staged::Created | Staged::Updated | Staged::Unchanged | Staged::Invalid
        )
    }
}

/// What the store held of an element when the run began.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stored {
    pub fingerprint: Option<u64>,
    pub removed: bool,
}

/// An element as the store knows it now (the WIT `entry`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Entry {
    pub stored: Option<Stored>,
    pub staged: Option<Staged>,
}

impl Entry {
    /// Held, not removed, when the run began.
    pub fn held(&self) -> bool {
        self.stored.is_some_and(|s| !s.removed)
    }
}

/// A state staged without data (the WIT `mark`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mark {
    pub id: String,
    pub staged: Staged,
    pub reason: Option<String>,
}

/// The `element-store` import: one run's view of the host's bytes. No rule
/// of a sync lives behind it (see the WIT).
pub trait Storage {
    /// One entry for each of `ids`, in their order.
    fn look_up(&mut self, kind: ElementKind, ids: &[String]) -> Result<Vec<Entry>, String>;
    /// Stage the batch's elements as written, each with its fingerprint
    /// and state (created or updated).
    fn stage_written(
        &mut self,
        batch: Batch,
        fingerprints: Vec<u64>,
        changes: Vec<Staged>,
    ) -> Result<(), String>;
    /// Stage states without data for elements the store holds.
    fn stage_marks(&mut self, kind: ElementKind, marks: Vec<Mark>) -> Result<(), String>;
    /// Held, not removed, when the run began.
    fn held_count(&mut self, kind: ElementKind) -> Result<u32, String>;
    /// Ids the store would hold were the run applied as staged so far,
    /// ascending, after `after`, at most `limit`.
    fn held_ids(
        &mut self,
        kind: ElementKind,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<String>, String>;
    /// Ids held when the run began that it staged nothing for, ascending,
    /// after `after`, at most `limit`.
    fn unstaged_ids(
        &mut self,
        kind: ElementKind,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<String>, String>;
}

/// A run's storage lent to a ledger.
impl<S: Storage + ?Sized> Storage for &mut S {
    fn look_up(&mut self, kind: ElementKind, ids: &[String]) -> Result<Vec<Entry>, String> {
        (**self).look_up(kind, ids)
    }
    fn stage_written(
        &mut self,
        batch: Batch,
        fingerprints: Vec<u64>,
        changes: Vec<Staged>,
    ) -> Result<(), String> {
        (**self).stage_written(batch, fingerprints, changes)
    }
    fn stage_marks(&mut self, kind: ElementKind, marks: Vec<Mark>) -> Result<(), String> {
        (**self).stage_marks(kind, marks)
    }
    fn held_count(&mut self, kind: ElementKind) -> Result<u32, String> {
        (**self).held_count(kind)
    }
    fn held_ids(
        &mut self,
        kind: ElementKind,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<String>, String> {
        (**self).held_ids(kind, after, limit)
    }
    fn unstaged_ids(
        &mut self,
        kind: ElementKind,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<String>, String> {
        (**self).unstaged_ids(kind, after, limit)
    }
}
