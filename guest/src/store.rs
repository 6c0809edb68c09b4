//! What the sync needs of storage: the `element-store` import, as a trait.

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
