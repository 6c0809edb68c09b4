//! How a run lists the platform: its first requests sent together, and a
//! large kind read by ranges of ids, so that several requests are under
//! way at once (see `ozmap::partitions`).

use serde_json::{Value, json};

use super::{Listed, Sync, route};
use crate::http::Http;
use crate::model::ElementKind;
use crate::ozmap::client::condition;
use crate::ozmap::page::Row;
use crate::ozmap::pager::Pager;
use crate::ozmap::partitions::{self, IdListing, IdRange, Partitioned};
use crate::ozmap::records;
use crate::store::ElementStore;

/// A kind is read by ranges only when it fills more pages than this: a
/// range costs a request of its own, and at least one more at its end.
const PAGES_FOR_RANGES: u64 = 2;

/// What a probe of a kind's ids found: the first id one way, and the total.
#[derive(Clone, Default)]
pub(super) struct Probe {
    pub id: Option<String>,
    pub total: Option<u64>,
    /// A row came (with an id or without).
    pub row: bool,
}

/// The kind's ids, one row long, sorted one way: its lowest (or highest)
/// id and its total, in one small answer.
/// `kind`'s listing sorted by id, `fields` only (all when empty),
/// `page_size` rows a page, within `scope` and `extra` conditions.
pub(super) fn id_pager(
    kind: ElementKind,
    scope: &[Value],
    page_size: u32,
    fields: &str,
    extra: &[Value],
) -> Pager {
    let mut filter = scope.to_vec();
    filter.extend_from_slice(extra);
    let pager = Pager::new(route(kind), &filter, page_size).by_id();
    if fields.is_empty() {
        pager
    } else {
        pager.select(fields)
    }
}

fn probe_pager(kind: ElementKind, scope: &[Value], ascending: bool) -> Pager {
    Pager::new(route(kind), scope, 1)
        .sorted(&[json!({"property": "id", "direction": if ascending { 1 } else { -1 }})])
        .select("id")
        .first_page_only()
}

impl<H: Http, S: ElementStore> Sync<'_, H, S> {
    /// The lowest id of `kind` (highest unless `ascending`) and its total.
    /// Each probe is asked once a run.
    pub(super) fn probe(
        &mut self,
        kind: ElementKind,
        scope: &[Value],
        ascending: bool,
    ) -> Result<Probe, String> {
        let mut pager = probe_pager(kind, scope, ascending);
        let Some(query) = pager.next_query() else {
            return Ok(Probe::default());
        };
        if let Some(probe) = self.probes.get(&query) {
            return Ok(probe.clone());
        }
        let rows = pager.next(&mut self.client)?.unwrap_or_default();
        let probe = Probe {
            id: rows.first().and_then(records::id_of),
            total: pager.total(),
            row: !rows.is_empty(),
        };
        self.probes.insert(query, probe.clone());
        Ok(probe)
    }

    /// A probe asked for ahead that is not needed: read if under way, else
    /// not sent.
    fn drop_probe(
        &mut self,
        kind: ElementKind,
        scope: &[Value],
        ascending: bool,
    ) -> Result<(), String> {
        let query = probe_pager(kind, scope, ascending).next_query();
        if let Some(query) = query {
            if self.client.is_ahead(&query) {
                self.probe(kind, scope, ascending)?;
            } else {
                self.client.abandon(&query);
            }
        }
        Ok(())
    }

    /// Have the probe of `kind` sent ahead, for `probe` to take.
    pub(super) fn want_probe(&mut self, kind: ElementKind, scope: &[Value], ascending: bool) {
        probe_pager(kind, scope, ascending).want_next(&mut self.client);
    }

    /// `kind`'s listing sorted by id with `fields` only (all when empty),
    /// `page_size` rows a page: by ranges of ids when the kind is large and
    /// the platform filters ids as asked, plain otherwise.
    pub(super) fn id_listing(
        &mut self,
        kind: ElementKind,
        scope: &[Value],
        page_size: u32,
        fields: &str,
    ) -> Result<IdListing, String> {
        let listing = self.ranges_or_plain(kind, scope, page_size, fields)?;
        // The highest id may have been asked for beside the lowest, in
        // case: its answer is read all the same when it is under way,
        // since a platform pushing back says so in any answer.
        self.drop_probe(kind, scope, false)?;
        Ok(listing)
    }

    fn ranges_or_plain(
        &mut self,
        kind: ElementKind,
        scope: &[Value],
        page_size: u32,
        fields: &str,
    ) -> Result<IdListing, String> {
        let pager_for = |extra: &[Value]| id_pager(kind, scope, page_size, fields, extra);
        let window = self.pages_in_flight;
        let plain = || IdListing::Plain(pager_for(&[]).in_flight(window));
        if window < 2 {
            return Ok(plain());
        }
        let lowest = self.probe(kind, scope, true)?;
        let Some(total) = lowest.total else {
            return Ok(plain());
        };
        // Records without an id sort first; no comparison of ids lists
        // them, so they are listed on their own.
        let without_ids = lowest.row && lowest.id.is_none();
        let pages = total.div_ceil(self.rows_a_page(page_size));
        if pages <= PAGES_FOR_RANGES {
            return Ok(plain());
        }
        // Ranges cut evenly by creation time may hold very different
        // numbers of elements: as many as go at once even that out some;
        // more would hold more first pages in memory while they are checked.
        let count = pages.div_ceil(2).min(u64::from(window)) as usize;
        let mut totals = (total, total);
        // A kind the store holds is cut where its own ids are: ranges that
        // list about as many elements each. Else evenly from the lowest id
        // to the highest, as their creation times spread.
        let cut = match self.walks.remove(&kind) {
            Some(prepared) => Some(prepared),
            None => self.stored_ranges(kind, self.even_ranges(pages))?,
        };
        let cut = match cut {
            Some(ranges) => Some(ranges),
            None => {
                let lowest_id = match lowest.id {
                    Some(id) => id,
                    None => {
                        let mut with_ids = scope.to_vec();
                        with_ids.push(condition("id", "exists", json!(true)));
                        match self.probe(kind, &with_ids, true)?.id {
                            Some(id) => id,
                            None => return Ok(plain()),
                        }
                    }
                };
                let highest = self.probe(kind, scope, false)?;
                let Some(highest_id) = highest.id else {
                    return Ok(plain());
                };
                let other = highest.total.unwrap_or(total);
                totals = (total.min(other), total.max(other));
                partitions::split(&lowest_id, &highest_id, count)
            }
        };
        let Some(mut ranges) = cut else {
            return Ok(plain());
        };
        if without_ids {
            ranges.push(IdRange::without_id());
        }
        match Partitioned::start(&mut self.client, ranges, totals, window, |range| {
            pager_for(&range.conditions())
        })? {
            Ok(ranges) => Ok(IdListing::Ranges(ranges)),
            Err(refused) => {
                crate::log::emit(
                    crate::log::Level::Warn,
                    &format!(
                        "the platform's listing is read whole, one page after another: {}",
                        refused.0
                    ),
                    &[("kind", kind.as_str())],
                );
                Ok(plain())
            }
        }
    }

    /// The rows a page of `asked` holds as the platform cuts them: at its
    /// cap, when it has one, or else at most at the size elements are
    /// asked for at.
    pub(super) fn rows_a_page(&self, asked: u32) -> u64 {
        let cap = self
            .client
            .page_cap()
            .unwrap_or_else(|| u64::from(self.page_size.max(1)));
        u64::from(asked.max(1)).min(cap).max(1)
    }

    /// How many ranges cut where the store's ids are, for a listing of
    /// `pages`: they hold as many each, so as many as go at once beside the
    /// one being read.
    fn even_ranges(&self, pages: u64) -> usize {
        pages
            .div_ceil(2)
            .min(u64::from(self.pages_in_flight.saturating_sub(1)))
            .max(2) as usize
    }

    /// The ids up to the highest the store holds of `kind`, when known: a
    /// condition that elements made since never meet.
    fn up_to_highest(&self, kind: ElementKind, scope: &[Value]) -> Option<Vec<Value>> {
        let highest = self.state.highest(kind).filter(|h| !h.is_empty())?;
        let mut upto = scope.to_vec();
        upto.push(condition("id", "<=", json!(highest)));
        Some(upto)
    }

    /// Have the count of the ids up to the highest stored of `kind` sent
    /// ahead, when that id is known: it tells whether elements went.
    pub(super) fn want_count(&mut self, kind: ElementKind, scope: &[Value]) {
        if let Some(upto) = self.up_to_highest(kind, scope) {
            self.want_probe(kind, &upto, true);
        }
    }

    /// Before what changed of `kind` is read: how many elements went, from
    /// the platform's count of the ids up to the highest the store holds.
    /// Elements made since have higher ids, so there the platform's set
    /// can only have shrunk, and a creation cannot hide a deletion. When
    /// some went, the walk that finds them is started at once.
    pub(super) fn count_before_changes(
        &mut self,
        kind: ElementKind,
        scope: &[Value],
    ) -> Result<(), String> {
        if self.gone.contains_key(&kind) {
            return Ok(());
        }
        let Some(upto) = self.up_to_highest(kind, scope) else {
            return Ok(());
        };
        let Some(listed) = self.probe(kind, &upto, true)?.total else {
            return Ok(());
        };
        let highest = self.state.highest(kind).unwrap_or_default().to_string();
        let unstored = self
            .state
            .unstored(kind)
            .iter()
            .filter(|id| id.as_str() <= highest.as_str())
            .count() as u64;
        let tally = self.store.tally(kind)?;
        let held = u64::from(tally) + unstored;
        // More than the store held: an element restored with its old id,
        // which a count cannot tell from one that stayed; the whole kind's
        // count decides after what changed is read.
        if listed > held {
            return Ok(());
        }
        self.gone.insert(kind, (held - listed, tally));
        if listed < held {
            self.start_walk_early(kind, scope)?;
        }
        Ok(())
    }

    /// The walk of `kind`'s ids that finds what went is sure to come: its
    /// ranges are cut now and their first pages asked for, so that they
    /// come while what changed is read.
    fn start_walk_early(&mut self, kind: ElementKind, scope: &[Value]) -> Result<(), String> {
        if self.pages_in_flight < 2 {
            return Ok(());
        }
        let total = self
            .gone
            .get(&kind)
            .map_or(0, |(_, tally)| u64::from(*tally));
        let page_size = self.page_size.saturating_mul(super::ID_PAGES_SCALE);
        let pages = total.div_ceil(self.rows_a_page(page_size));
        if pages <= PAGES_FOR_RANGES {
            return Ok(());
        }
        let Some(ranges) = self.stored_ranges(kind, self.even_ranges(pages))? else {
            return Ok(());
        };
        for range in &ranges {
            id_pager(kind, scope, page_size, "id", &range.conditions()).want_next(&mut self.client);
        }
        self.walks.insert(kind, ranges);
        Ok(())
    }

    /// `count` ranges that each hold about as many of the ids the store
    /// holds of `kind`, for an incremental run; `None` when it holds too
    /// few.
    fn stored_ranges(
        &mut self,
        kind: ElementKind,
        count: usize,
    ) -> Result<Option<Vec<IdRange>>, String> {
        if !self.since.contains_key(&kind) || count < 2 {
            return Ok(None);
        }
        let held = self.store.tally(kind)? as usize;
        let each = held / count;
        if each == 0 {
            return Ok(None);
        }
        let mut bounds = Vec::with_capacity(count - 1);
        let (mut after, mut seen) = (None, 0);
        const PAGE: u32 = 10_000;
        while bounds.len() + 1 < count {
            let ids = self.store.stored_ids(kind, after.as_deref(), PAGE)?;
            let last = ids.len() < PAGE as usize;
            for id in &ids {
                seen += 1;
                if seen % each == 0 && bounds.len() + 1 < count {
                    bounds.push(id.clone());
                }
            }
            after = ids.last().cloned();
            if last || after.is_none() {
                break;
            }
        }
        Ok((!bounds.is_empty()).then(|| partitions::ranges_at(bounds)))
    }

    /// Every page of `listing`, each handed to `handle` with its range's
    /// place, before the next is read.
    pub(super) fn for_each_range_page(
        &mut self,
        mut listing: IdListing,
        mut handle: impl FnMut(&mut Self, usize, Vec<Row>) -> Result<(), String>,
    ) -> Result<Listed, String> {
        while let Some((at, rows)) = listing.next(&mut self.client)? {
            handle(self, at, rows)?;
        }
        Ok(match listing.incomplete() {
            None => Listed::Complete,
            Some(why) => Listed::Incomplete(why),
        })
    }
}
