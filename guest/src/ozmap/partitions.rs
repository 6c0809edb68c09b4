//! One listing read as several, each over a range of ids, so that a large
//! kind keeps several requests under way although each listing the
//! platform pages by cursor names only its next page.
//!
//! An ObjectId begins with its creation time, so a range of ids is a
//! period of creation; each range is listed with its own `filter` on `id`
//! and its own cursor. The ranges cover every id (the first has no lower
//! bound, the last no upper one), so elements created meanwhile are listed
//! too. The platform must filter as asked: before any row is handed on,
//! the first page of every range is read and checked (each row in its
//! range, the ranges' totals adding up to the whole listing's); a platform
//! that fails the check is read by the plain listing instead. Afterwards
//! each range's listing is judged as any listing is, and a row outside its
//! range makes the whole listing incomplete.

use std::collections::VecDeque;

use serde_json::{Value, json};

use super::client::{OzmapClient, condition};
use super::page::Row;
use super::pager::Pager;
use super::records::id_of;
use crate::http::Http;

/// Ids above `after` up to `upto`, both included when `None`: unbounded;
/// or, `without_id`, the records that have none (which no comparison of
/// ids lists, and a broken platform may hold).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IdRange {
    pub after: Option<String>,
    pub upto: Option<String>,
    pub without_id: bool,
}

impl IdRange {
    /// The records without an id.
    pub fn without_id() -> IdRange {
        IdRange {
            without_id: true,
            ..IdRange::default()
        }
    }

    pub fn holds(&self, id: &str) -> bool {
        !self.without_id
            && self.after.as_deref().is_none_or(|after| id > after)
            && self.upto.as_deref().is_none_or(|upto| id <= upto)
    }

    /// The filter conditions that list this range.
    pub fn conditions(&self) -> Vec<Value> {
        if self.without_id {
            return vec![condition("id", "exists", json!(false))];
        }
        let mut conditions = Vec::new();
        if let Some(after) = &self.after {
            conditions.push(condition("id", ">", json!(after)));
        }
        if let Some(upto) = &self.upto {
            conditions.push(condition("id", "<=", json!(upto)));
        }
        conditions
    }

    fn describe(&self) -> String {
        if self.without_id {
            return "records without an id".into();
        }
        match (&self.after, &self.upto) {
            (None, None) => "every id".into(),
            (None, Some(upto)) => format!("ids up to {upto}"),
            (Some(after), None) => format!("ids above {after}"),
            (Some(after), Some(upto)) => format!("ids above {after} up to {upto}"),
        }
    }
}

/// An ObjectId (24 hex digits) as the number it writes.
fn object_id(id: &str) -> Option<u128> {
    (id.len() == 24 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
        .then(|| u128::from_str_radix(id, 16).ok())
        .flatten()
}

/// `count` ranges covering every id, their bounds spread evenly from
/// `lowest` to `highest`; `None` when those are not ObjectIds (lowercase,
/// as OZmap writes them, whose text orders as their numbers do).
pub fn split(lowest: &str, highest: &str, count: usize) -> Option<Vec<IdRange>> {
    let (lo, hi) = (object_id(lowest)?, object_id(highest)?);
    if hi <= lo || count < 2 {
        return None;
    }
    let span = hi - lo;
    let mut bounds: Vec<String> = (1..count as u128)
        .map(|j| {
            format!(
                "{:024x}",
                lo + span / count as u128 * j + span % count as u128 * j / count as u128
            )
        })
        .collect();
    bounds.dedup();
    Some(ranges_at(bounds))
}

/// The ranges `bounds` (ascending) cut every id into: up to the first,
/// above each up to the next, above the last.
pub fn ranges_at(bounds: Vec<String>) -> Vec<IdRange> {
    let mut ranges = Vec::with_capacity(bounds.len() + 1);
    let mut after = None;
    for bound in bounds {
        ranges.push(IdRange {
            after: after.replace(bound.clone()),
            upto: Some(bound),
            without_id: false,
        });
    }
    ranges.push(IdRange {
        after,
        upto: None,
        without_id: false,
    });
    ranges
}

/// Why a listing by ranges was not used: the plain listing is read instead.
#[derive(Debug)]
pub struct Refused(pub String);

struct Part {
    range: IdRange,
    pager: Pager,
}

/// A listing read by ranges of ids, the ranges' pages handed on in turn.
pub struct Partitioned {
    parts: Vec<Part>,
    /// The range read next.
    turn: usize,
    /// First pages read for the check, handed on first.
    checked: VecDeque<(usize, Vec<Row>)>,
    /// A row outside its range after the check.
    stray: Option<String>,
}

impl Partitioned {
    /// The listing `pager_for` makes for each range (`pager_for` adds the
    /// range's conditions to its filter), whose whole listing announced
    /// `total`: each range's first page is read and checked here.
    pub fn start<H: Http>(
        client: &mut OzmapClient<H>,
        ranges: Vec<IdRange>,
        total: (u64, u64),
        in_flight: u32,
        pager_for: impl Fn(&IdRange) -> Pager,
    ) -> Result<Result<Partitioned, Refused>, String> {
        let share = in_flight.div_ceil(ranges.len() as u32).max(1);
        let mut listing = Partitioned {
            parts: ranges
                .into_iter()
                .map(|range| Part {
                    pager: pager_for(&range).in_flight(share),
                    range,
                })
                .collect(),
            turn: 0,
            checked: VecDeque::new(),
            stray: None,
        };
        // Every range's first page goes before any range's second.
        for part in &mut listing.parts {
            part.pager.hold(true);
        }
        for at in 0..listing.parts.len() {
            listing.send_ahead(client, at);
            // A platform may refuse a filter on ids, as one it does not
            // know; the plain listing tells whether it fails otherwise.
            let rows = match listing.parts[at].pager.next(client) {
                Ok(Some(rows)) => rows,
                Ok(None) => continue,
                Err(error) => {
                    listing.abandon(client);
                    return Ok(Err(Refused(format!(
                        "asked for {}: {error}",
                        listing.parts[at].range.describe()
                    ))));
                }
            };
            let range = listing.parts[at].range.clone();
            if let Some(id) = rows.iter().filter_map(id_of).find(|id| !range.holds(id)) {
                listing.abandon(client);
                return Ok(Err(Refused(format!(
                    "asked for {}, the platform answered id {id}: it does not filter on ids as asked",
                    range.describe()
                ))));
            }
            listing.checked.push_back((at, rows));
        }
        for part in &mut listing.parts {
            part.pager.hold(false);
        }
        let (lo, hi) = total;
        let (mut least, mut most) = (0, 0);
        for part in &listing.parts {
            let (l, m) = part.pager.totals().unwrap_or_default();
            least += l;
            most += m;
        }
        // Elements created or deleted meanwhile move the totals, by as much
        // as the announcements drift; anything more is a platform whose
        // filter on ids loses or repeats elements.
        let drift = (hi - lo) + (most - least);
        if most + drift < lo || least > hi + drift {
            listing.abandon(client);
            return Ok(Err(Refused(format!(
                "its listings by range of ids hold {least} elements together, its whole listing {hi}: it does not filter on ids as asked"
            ))));
        }
        Ok(Ok(listing))
    }

    /// The ranges, in order.
    pub fn ranges(&self) -> impl Iterator<Item = &IdRange> {
        self.parts.iter().map(|p| &p.range)
    }

    /// The next page of some range, with the range's place in `ranges`;
    /// `None` once every range ended.
    pub fn next<H: Http>(
        &mut self,
        client: &mut OzmapClient<H>,
    ) -> Result<Option<(usize, Vec<Row>)>, String> {
        if let Some(page) = self.checked.pop_front() {
            // The range handed on first: its next page goes first.
            self.send_ahead(client, page.0);
            return Ok(Some(page));
        }
        let count = self.parts.len();
        for step in 0..count {
            let at = (self.turn + step) % count;
            if self.parts[at].pager.done() {
                continue;
            }
            self.turn = (at + 1) % count;
            self.send_ahead(client, at);
            let Some(rows) = self.parts[at].pager.next(client)? else {
                continue;
            };
            let range = &self.parts[at].range;
            if self.stray.is_none()
                && let Some(id) = rows.iter().filter_map(id_of).find(|id| !range.holds(id))
            {
                self.stray = Some(format!(
                    "asked for {}, the platform answered id {id}",
                    range.describe()
                ));
            }
            self.send_ahead(client, self.turn);
            return Ok(Some((at, rows)));
        }
        Ok(None)
    }

    /// Once `next` answered `None`: why the listing cannot be trusted as
    /// complete, or `None`.
    pub fn incomplete(&self) -> Option<String> {
        if let Some(stray) = &self.stray {
            return Some(stray.clone());
        }
        self.parts.iter().find_map(|p| {
            p.pager
                .incomplete()
                .map(|why| format!("{}: {why}", p.range.describe()))
        })
    }

    /// Send ahead what every range reads next, from range `from` on, as far
    /// as the window has room.
    fn send_ahead<H: Http>(&mut self, client: &mut OzmapClient<H>, from: usize) {
        let count = self.parts.len();
        for step in 0..count {
            self.parts[(from + step) % count].pager.send_ahead(client);
        }
    }

    fn abandon<H: Http>(&mut self, client: &mut OzmapClient<H>) {
        for part in &mut self.parts {
            part.pager.abandon(client);
        }
    }
}

/// A kind's listing by id: plain, or by ranges.
pub enum IdListing {
    Plain(Pager),
    Ranges(Partitioned),
}

impl IdListing {
    /// The ranges read, in order: the one of every id when plain.
    pub fn ranges(&self) -> Vec<IdRange> {
        match self {
            IdListing::Plain(_) => vec![IdRange::default()],
            IdListing::Ranges(ranges) => ranges.ranges().cloned().collect(),
        }
    }

    /// The next page, with its range's place in `ranges`.
    pub fn next<H: Http>(
        &mut self,
        client: &mut OzmapClient<H>,
    ) -> Result<Option<(usize, Vec<Row>)>, String> {
        match self {
            IdListing::Plain(pager) => Ok(pager.next(client)?.map(|rows| (0, rows))),
            IdListing::Ranges(ranges) => ranges.next(client),
        }
    }

    /// Once `next` answered `None`: why the listing cannot be trusted as
    /// complete, or `None`.
    pub fn incomplete(&self) -> Option<String> {
        match self {
            IdListing::Plain(pager) => pager.incomplete().map(str::to_string),
            IdListing::Ranges(ranges) => ranges.incomplete(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_cover_every_id_once() {
        let lowest = "5f0000000000000000000000";
        let highest = "6a00000000000000000000ff";
        let ranges = split(lowest, highest, 7).unwrap();
        assert_eq!(ranges.len(), 7);
        assert_eq!(ranges[0].after, None);
        assert_eq!(ranges[6].upto, None);
        for pair in ranges.windows(2) {
            assert_eq!(pair[0].upto, pair[1].after);
            assert!(pair[0].upto < pair[1].upto || pair[1].upto.is_none());
        }
        for id in [
            "000000000000000000000000",
            lowest,
            "600000000000000000000000",
            highest,
            "ffffffffffffffffffffffff",
            ranges[3].upto.as_deref().unwrap(),
        ] {
            assert_eq!(ranges.iter().filter(|r| r.holds(id)).count(), 1, "{id}");
        }
    }

    #[test]
    fn only_object_ids_are_split() {
        assert!(split("1", "9", 4).is_none());
        assert!(split("5F0000000000000000000000", "6a0000000000000000000000", 4).is_none());
        assert!(split("6a0000000000000000000000", "6a0000000000000000000000", 4).is_none());
        // Fewer ids than ranges: as many ranges as there are distinct bounds.
        let few = split("6a0000000000000000000000", "6a0000000000000000000002", 8).unwrap();
        assert!(few.len() <= 3, "{few:?}");
    }
}
