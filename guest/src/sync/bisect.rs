//! The few elements that went, found by counting rather than by reading
//! every id: the platform counts the ids of a range in one small answer,
//! the store its own; a range whose counts agree lost nothing, one whose
//! counts differ is cut again, and only ranges that fit a page and lost
//! some are listed, id by id. Against a platform that answers 100 rows a
//! page, a walk of 100,000 ids is 1,000 requests; three deletions are
//! found in a few rounds of counts.

use serde_json::Value;

use super::removals::Walk;
use super::{ID_PAGES_SCALE, Sync};
use crate::http::Http;
use crate::model::ElementKind;
use crate::ozmap::partitions::{self, IdListing, IdRange, Partitioned};
use crate::store::ElementStore;

/// How many ranges a range that lost some is cut into.
const BRANCHES: u64 = 8;

impl<H: Http, S: ElementStore> Sync<'_, H, S> {
    /// The rows a page of ids holds, as the platform cuts them.
    fn id_page(&self) -> u64 {
        self.rows_a_page(self.page_size.saturating_mul(ID_PAGES_SCALE))
    }

    /// Whether counting finds `gone` of `held` in fewer requests than a
    /// walk of every id, by half at least: each one gone costs a round of
    /// `BRANCHES` counts a level, down to ranges of a page.
    pub(super) fn bisecting_pays(&self, gone: u64, held: u64) -> bool {
        if gone == 0 || self.pages_in_flight < 2 {
            return false;
        }
        let page = self.id_page();
        let walk = held.div_ceil(page);
        let (mut levels, mut span) = (1, held);
        while span > page {
            span = span.div_ceil(BRANCHES);
            levels += 1;
        }
        (gone * BRANCHES * levels + gone) * 2 <= walk
    }

    /// Find what went of `kind` by counting (see the module); `Unsorted`
    /// or a refusal of the platform's leaves it to a walk of every id.
    pub(super) fn gone_by_counts(
        &mut self,
        kind: ElementKind,
        scope: &[Value],
        tally: u32,
    ) -> Result<Walk, String> {
        let Some(highest) = self.state.highest(kind).map(str::to_string) else {
            return Ok(Walk::Unsorted);
        };
        let page = self.id_page();
        let unstored = self.state.unstored(kind).clone();
        // Ranges still to look into, each with the store's ids there.
        let whole = IdRange {
            after: None,
            upto: Some(highest),
            without_id: false,
        };
        let mut frontier = vec![(whole.clone(), self.stored_in(kind, &whole)?)];
        let mut leaves: Vec<(IdRange, u64)> = Vec::new();
        let mut rounds = 0;
        while !frontier.is_empty() {
            rounds += 1;
            let mut asked: Vec<(IdRange, Vec<String>)> = Vec::new();
            for (range, ids) in frontier {
                for (sub, held) in cut(&range, ids) {
                    asked.push((sub, held));
                }
            }
            // Every count of the round goes at once.
            let conditions: Vec<Vec<Value>> = asked
                .iter()
                .map(|(sub, _)| [scope, &sub.conditions()[..]].concat())
                .collect();
            for filter in &conditions {
                self.want_probe(kind, filter, true);
            }
            let mut next = Vec::new();
            for ((sub, held), filter) in asked.into_iter().zip(&conditions) {
                let Some(listed) = self.probe(kind, filter, true)?.total else {
                    return Ok(Walk::Unsorted);
                };
                let expected =
                    held.len() as u64 + unstored.iter().filter(|id| sub.holds(id)).count() as u64;
                if listed == expected {
                    continue;
                }
                if held.len() as u64 <= page {
                    leaves.push((sub, listed));
                } else {
                    next.push((sub, held));
                }
            }
            frontier = next;
        }
        crate::log::emit(
            crate::log::Level::Debug,
            &format!(
                "{} range(s) of ids lost elements, found in {rounds} round(s) of counts",
                leaves.len()
            ),
            &[("kind", kind.as_str())],
        );
        if leaves.is_empty() {
            // The counts that said some went no longer do (a restore, a
            // deletion undone): nothing to mark.
            return Ok(Walk::Unsorted);
        }
        let listed: u64 = leaves.iter().map(|(_, n)| n).sum();
        let ranges: Vec<IdRange> = leaves.into_iter().map(|(range, _)| range).collect();
        // What broke the schema in those ranges is found again by listing them.
        self.state
            .unstored(kind)
            .retain(|id| !ranges.iter().any(|r| r.holds(id)));
        let page_size = self.page_size.saturating_mul(ID_PAGES_SCALE);
        let started = Partitioned::start(
            &mut self.client,
            ranges,
            (listed, listed),
            self.pages_in_flight,
            |range| super::listing::id_pager(kind, scope, page_size, "id", &range.conditions()),
        )?;
        match started {
            Ok(listing) => self.walk_ranges(kind, IdListing::Ranges(listing), tally, &unstored),
            Err(refused) => {
                *self.state.unstored(kind) = unstored;
                crate::log::warn!(
                    "counting what went of the {}s: {}",
                    kind.as_str(),
                    refused.0
                );
                Ok(Walk::Unsorted)
            }
        }
    }

    /// The store's ids of `kind` in `range`, ascending.
    fn stored_in(&mut self, kind: ElementKind, range: &IdRange) -> Result<Vec<String>, String> {
        const PAGE: u32 = 10_000;
        let mut ids = Vec::new();
        let mut after = range.after.clone();
        loop {
            let page = self.store.stored_ids(kind, after.as_deref(), PAGE)?;
            let last = page.len() < PAGE as usize;
            after = page.last().cloned();
            for id in page {
                if !range.holds(&id) {
                    return Ok(ids);
                }
                ids.push(id);
            }
            if last || after.is_none() {
                return Ok(ids);
            }
        }
    }
}

/// `range` cut into up to `BRANCHES` ranges where the store's `ids` (in
/// it, ascending) are, each with its ids.
fn cut(range: &IdRange, ids: Vec<String>) -> Vec<(IdRange, Vec<String>)> {
    let each = (ids.len() as u64).div_ceil(BRANCHES).max(1) as usize;
    let mut bounds: Vec<String> = ids.iter().skip(each - 1).step_by(each).cloned().collect();
    // The last range ends where `range` does.
    if bounds.last() == ids.last() {
        bounds.pop();
    }
    let mut ranges = partitions::ranges_at(bounds);
    if let Some(first) = ranges.first_mut() {
        first.after = range.after.clone();
    }
    if let Some(last) = ranges.last_mut() {
        last.upto = range.upto.clone();
    }
    let mut rest = ids.into_iter().peekable();
    ranges
        .into_iter()
        .map(|sub| {
            let mut held = Vec::new();
            while let Some(id) = rest.next_if(|id| sub.holds(id)) {
                held.push(id);
            }
            (sub, held)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_range_is_cut_where_its_ids_are() {
        let ids: Vec<String> = (0..20).map(|i| format!("6a{i:022x}")).collect();
        let range = IdRange {
            after: Some("69".into()),
            upto: Some(ids[19].clone()),
            without_id: false,
        };
        let parts = cut(&range, ids.clone());
        assert!(
            parts.len() <= BRANCHES as usize && parts.len() > 1,
            "{parts:?}"
        );
        assert_eq!(parts[0].0.after.as_deref(), Some("69"));
        assert_eq!(parts.last().unwrap().0.upto, range.upto);
        let all: Vec<String> = parts.iter().flat_map(|(_, held)| held.clone()).collect();
        assert_eq!(all, ids);
        for (sub, held) in &parts {
            assert!(held.iter().all(|id| sub.holds(id)));
        }
    }
}
