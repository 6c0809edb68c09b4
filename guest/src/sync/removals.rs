//! An incremental run's removals. OZmap keeps no feed of deletions: what
//! went is learnt from the platform's ids, after counting tells that
//! something did.

use std::cmp::Ordering;
use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::{ID_PAGES_SCALE, IDS_PER_REQUEST, Listed, Sync, route};
use crate::http::Http;
use crate::model::ElementKind;
use crate::ozmap::client::condition;
use crate::ozmap::pager::Pager;
use crate::ozmap::partitions::{IdListing, IdRange};
use crate::ozmap::records::{self, Record};
use crate::store::{ElementStore, Sweep};

/// The byte order of two ids, as `str`'s, taken eight bytes at a time: a
/// walk compares each of the platform's ids with the store's two or three
/// times, and in WebAssembly `memcmp` goes a byte at a time through ids
/// that share their first bytes (an ObjectId begins with its creation
/// time).
fn byte_order(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut chunks = a.chunks_exact(8).zip(b.chunks_exact(8));
    let mut at = 0;
    for (x, y) in &mut chunks {
        let (x, y) = (
            u64::from_be_bytes(x.try_into().expect("eight bytes")),
            u64::from_be_bytes(y.try_into().expect("eight bytes")),
        );
        if x != y {
            return x.cmp(&y);
        }
        at += 8;
    }
    a[at..].cmp(&b[at..])
}

/// One range's walk: the store's ids there, and the platform's last.
struct RangeWalk {
    held: StoredIds,
    last: Option<String>,
}

/// How a walk of the platform's ids beside the store's ended.
pub(super) enum Walk {
    Done,
    /// The platform did not sort them: nothing was marked gone.
    Unsorted,
}

/// The store's ids of a kind in a range, ascending, read a page at a time.
struct StoredIds {
    kind: ElementKind,
    page: u32,
    buffer: std::collections::VecDeque<String>,
    after: Option<String>,
    upto: Option<String>,
    done: bool,
}

impl StoredIds {
    fn new(kind: ElementKind, page: u32, range: &IdRange) -> StoredIds {
        StoredIds {
            kind,
            page: page.max(1),
            buffer: Default::default(),
            after: range.after.clone(),
            upto: range.upto.clone(),
            // The store holds no record without an id.
            done: range.without_id,
        }
    }

    /// The next id, reading a page when the buffer ran out.
    fn peek<S: ElementStore + ?Sized>(&mut self, store: &mut S) -> Result<Option<&String>, String> {
        if self.buffer.is_empty() && !self.done {
            let ids = store.stored_ids(self.kind, self.after.as_deref(), self.page)?;
            self.done = (ids.len() as u32) < self.page;
            self.after = ids.last().cloned().or(self.after.take());
            self.buffer.extend(ids);
        }
        let beyond = match (self.buffer.front(), &self.upto) {
            (Some(id), Some(upto)) => byte_order(id, upto).is_gt(),
            _ => false,
        };
        if beyond {
            self.done = true;
            self.buffer.clear();
        }
        Ok(self.buffer.front())
    }

    /// The id `peek` answered.
    fn take(&mut self) -> String {
        self.buffer.pop_front().expect("peeked")
    }
}

impl<H: Http, S: ElementStore> Sync<'_, H, S> {
    /// An incremental run's removals. OZmap has no deletion feed, so they
    /// are learnt by listing the ids still there; but when the store would
    /// hold exactly as many elements as the platform lists, every element
    /// listed is held (all changes since the watermark were read), so
    /// none was removed and the listing is spared, unless `always`.
    /// `with_clients`: the properties' clients are checked too.
    pub(super) fn removals(
        &mut self,
        kind: ElementKind,
        scope: &[Value],
        with_clients: bool,
        always: bool,
    ) -> Result<(), String> {
        self.keep_invalid()?;
        // What the store holds of the kind, asked once for the count and
        // the walk.
        // How many went, counted before what changed was read (of what the
        // store held then), when the highest stored id is known.
        let before = self.gone.get(&kind).copied();
        let mut tally = before.map(|(_, held)| held);
        // The whole kind's count against what the store holds now: the two
        // agree when every element listed is held (the changes read
        // brought every creation) and, counted before, nothing went.
        let mut explained = false;
        if !always {
            let total = self.probe(kind, scope, true)?.total;
            let held = self
                .store
                .tally(kind)
                .map_err(|e| format!("counting {}s: {e}", kind.as_str()))?;
            let held = u64::from(held) + self.state.never_stored(kind);
            let gone = before.map_or(0, |(gone, _)| gone);
            if total == Some(held) && gone == 0 {
                return Ok(());
            }
            // The deletions counted are all the difference: no creation
            // went unread.
            explained = before.is_some() && total == held.checked_sub(gone);
            tally = tally.or(Some(
                held.saturating_sub(self.state.never_stored(kind)) as u32
            ));
        }
        // Few went of many: found by counting ranges of ids, listing only
        // those that lost some.
        if !with_clients
            && explained
            && let (Some((gone, held)), Some(tally)) = (before, tally)
            && self.bisecting_pays(gone, u64::from(held))
            && let Walk::Done = self.gone_by_counts(kind, scope, tally)?
        {
            return Ok(());
        }
        // The listing finds the records that break the schema again; those
        // known not to be stored are not asked for again.
        let unstored = self.state.unstored(kind).clone();
        self.state.recount(kind);
        if !with_clients {
            match self.gone_by_id(kind, scope, tally, &unstored)? {
                Walk::Done => return Ok(()),
                // Not sorted as asked: every id still there is marked seen.
                Walk::Unsorted => self.state.recount(kind),
            }
        } else {
            self.state.recount(ElementKind::Client);
        }
        let fields = if with_clients { "id,client" } else { "id" };
        let listing = self.id_listing(
            kind,
            scope,
            self.page_size.saturating_mul(ID_PAGES_SCALE),
            fields,
        )?;
        let listed = self.for_each_range_page(listing, |sync, _, rows| {
            let ids: Vec<String> = rows.iter().filter_map(records::id_of).collect();
            *sync.state.anonymous(kind) += (rows.len() - ids.len()) as u32;
            let missing = sync.store.mark_seen(kind, &ids)?;
            sync.fetch_by_id(kind, missing)?;
            if with_clients {
                let clients: Vec<String> = rows
                    .iter()
                    .filter_map(|row| match row.get("client")? {
                        Value::String(id) => Some(id.clone()),
                        object => records::id_of(object),
                    })
                    .collect();
                let missing = sync.store.mark_seen(ElementKind::Client, &clients)?;
                sync.fetch_by_id(ElementKind::Client, missing)?;
            }
            Ok(())
        })?;
        if with_clients {
            self.complete(ElementKind::Client, listed.clone())?;
        }
        self.complete(kind, listed)
    }

    /// The platform's ids of `kind`, sorted, walked beside the store's
    /// (sorted alike): a stored id the platform skips is gone, a listed id
    /// the store lacks is read. Only what differs is written; memory holds
    /// a page of each and the ids gone.
    fn gone_by_id(
        &mut self,
        kind: ElementKind,
        scope: &[Value],
        tally: Option<u32>,
        unstored: &BTreeSet<String>,
    ) -> Result<Walk, String> {
        let page = self.page_size.saturating_mul(ID_PAGES_SCALE);
        let listing = self.id_listing(kind, scope, page, "id")?;
        let tally = match tally {
            Some(tally) => tally,
            None => self.store.tally(kind)?,
        };
        self.walk_ranges(kind, listing, tally, unstored)
    }

    /// Walk `listing` (of ids, sorted, by ranges) beside the store's ids
    /// in the same ranges, and mark gone what the platform no longer
    /// lists there, when every range's listing is complete.
    pub(super) fn walk_ranges(
        &mut self,
        kind: ElementKind,
        listing: IdListing,
        tally: u32,
        unstored: &BTreeSet<String>,
    ) -> Result<Walk, String> {
        let page = self.page_size.saturating_mul(ID_PAGES_SCALE);
        // Each range walked beside the store's ids in the same range.
        let mut walks: Vec<RangeWalk> = listing
            .ranges()
            .iter()
            .map(|range| RangeWalk {
                held: StoredIds::new(kind, page, range),
                last: None,
            })
            .collect();
        let mut gone: Vec<String> = Vec::new();
        let mut unsorted = false;
        let listed = self.for_each_range_page(listing, |sync, at, rows| {
            if unsorted {
                return Ok(());
            }
            let walk = &mut walks[at];
            let listed = rows.len();
            let ids: Vec<String> = rows.into_iter().filter_map(records::into_id).collect();
            *sync.state.anonymous(kind) += (listed - ids.len()) as u32;
            let mut missing = Vec::new();
            for id in ids {
                if walk
                    .last
                    .as_ref()
                    .is_some_and(|l| byte_order(l, &id).is_ge())
                {
                    unsorted = true;
                    return Ok(());
                }
                let mut order = Ordering::Greater;
                while let Some(stored) = walk.held.peek(sync.store)? {
                    order = byte_order(stored, &id);
                    if order.is_ge() {
                        break;
                    }
                    gone.push(walk.held.take());
                }
                if order.is_eq() {
                    walk.held.take();
                } else if unstored.contains(&id) {
                    // Broke the schema when last read, and not changed since
                    // (a change would have been read): still not stored.
                    sync.state.unstored(kind).insert(id.clone());
                } else {
                    missing.push(id.clone());
                }
                walk.last = Some(id);
            }
            sync.fetch_by_id(kind, missing)
        })?;
        if unsorted {
            crate::log::emit(
                crate::log::Level::Warn,
                "the platform did not sort the ids as asked; each one still there is marked seen instead",
                &[("kind", kind.as_str())],
            );
            return Ok(Walk::Unsorted);
        }
        if let Listed::Complete = listed {
            for walk in &mut walks {
                while walk.held.peek(self.store)?.is_some() {
                    gone.push(walk.held.take());
                }
            }
        }
        let mut removed = 0;
        if let Listed::Complete = listed {
            for chunk in gone.chunks(IDS_PER_REQUEST * 10) {
                removed += self.store.mark_gone(kind, chunk)?;
            }
        }
        let sweep = Sweep {
            removed,
            stored: tally,
        };
        self.sweep(kind, listed, Some(sweep))?;
        Ok(Walk::Done)
    }

    /// Read and store these elements of `kind`, asked for by id.
    fn fetch_by_id(&mut self, kind: ElementKind, ids: Vec<String>) -> Result<(), String> {
        for chunk in ids.chunks(IDS_PER_REQUEST) {
            let filter = [condition("id", "in", json!(chunk))];
            let pager = Pager::new(route(kind), &filter, self.page_size);
            self.for_each_page(pager, |sync, rows| sync.ingest(kind, rows))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::byte_order;

    #[test]
    fn ids_are_ordered_as_strings_are() {
        let ids = [
            "",
            "6",
            "60",
            "603c2e9c727622000000db76",
            "603c2e9c727622000000db77",
            "603c2e9c727622000000db7",
            "603c2e9c727622000000db76a",
            "603c2e9c727622001000db76",
            "703c2e9c",
            "703c2e9c7",
            "603c2e9b727622000000db76",
            "é",
            "e",
            "abcdefgh",
            "abcdefgi",
            "abcdefghabcdefgh",
            "abcdefghabcdefgg",
        ];
        for a in ids {
            for b in ids {
                assert_eq!(byte_order(a, b), a.cmp(b), "{a:?} against {b:?}");
            }
        }
    }
}
