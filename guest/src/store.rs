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
}
