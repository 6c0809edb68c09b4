//! What the sync needs of storage: the `element-store` import, as a trait.

use crate::model::{Batch, ElementKind};

/// What a batch changed compared with what was stored before the run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    pub created: u32,
    pub updated: u32,
    pub unchanged: u32,
}

/// Storage scoped to one run of one integration; the host owns the
/// transaction (see the WIT `element-store` interface).
pub trait ElementStore {
    fn write_batch(&mut self, batch: Batch) -> Result<BatchOutcome, String>;
    fn complete_kind(&mut self, kind: ElementKind) -> Result<u32, String>;
    fn seen(&mut self, kind: ElementKind, ids: &[String]) -> Result<Vec<String>, String>;
}
