//! Paging through an OZmap list, and deciding whether the listing can be
//! trusted as complete.
//!
//! Removal follows a complete listing, so a listing that lies (a
//! `hasNextPage: false` on page 1 of 11, a `total` that disagrees with the
//! rows sent, pages that repeat for ever) must never pass for complete: it
//! would mark the network removed. What was read is still kept.

use std::collections::{BTreeSet, VecDeque};

use serde_json::Value;

use super::client::{OzmapClient, percent_encode};
use super::page::{Page, Row};
use super::records::id_of;
use crate::http::Http;

/// Walks a list page by page: each `next` fetches one page, so memory holds
/// one page at a time.
///
/// Follows `hasNextPage` when the server sends it; otherwise a page is the
/// last when it is empty or reaches `total`. A server that answers fewer rows
/// than asked (its own page cap) is followed at its pace. Once done,
/// `incomplete` says whether (and why) the listing cannot be trusted.
///
/// With `in_flight` above 1, the pages that come next are asked for as
/// soon as they are known, so the platform sends them while the caller
/// stores this one. Each is used only if it is the page the walk then
/// asks for; any other is abandoned.
pub struct Pager {
    route: String,
    filter: Option<String>,
    /// More query parameters (`&sort=…`, `&select=…`), encoded.
    extra: String,
    /// The next page as the platform's `nextUrl` gives it (path and query
    /// under `/api/v2/`): followed when sent, since a platform may page by
    /// an opaque cursor rather than by page number.
    next_url: Option<String>,
    limit: u64,
    /// Rows read so far: the next page starts there.
    offset: u64,
    pages: u64,
    /// The smallest and largest `total` the platform announced.
    totals: Option<(u64, u64)>,
    /// Each page's fingerprint, to notice a page sent again.
    fingerprints: BTreeSet<u64>,
    done: bool,
    incomplete: Option<String>,
    /// Requests under way at most, the page being read included.
    in_flight: u32,
    /// The queries of the pages sent ahead (the client holds them), in order.
    ahead: VecDeque<String>,
    /// Only the first page is read (a probe): nothing is sent ahead of it.
    first_page_only: bool,
    /// Pages are sent ahead only when asked (`send_ahead`), not after
    /// each page read: while other listings' first pages go first.
    held: bool,
}

impl Pager {
    pub fn new(route: &str, filter: &[Value], page_size: u32) -> Pager {
        Pager {
            route: route.to_string(),
            filter: (!filter.is_empty())
                .then(|| percent_encode(&Value::Array(filter.to_vec()).to_string())),
            extra: String::new(),
            next_url: None,
            limit: page_size.max(1) as u64,
            offset: 0,
            pages: 0,
            totals: None,
            fingerprints: BTreeSet::new(),
            done: false,
            incomplete: None,
            in_flight: 1,
            ahead: VecDeque::new(),
            first_page_only: false,
            held: false,
        }
    }

    /// Send pages ahead only when `send_ahead` is called (`true`), or
    /// after each page read too (`false`, the default).
    pub fn hold(&mut self, held: bool) {
        self.held = held;
    }

    /// Only the first page is to be read (a probe of the listing's first
    /// row and total): no page is sent ahead after it.
    pub fn first_page_only(mut self) -> Pager {
        self.first_page_only = true;
        self
    }

    /// Up to `in_flight` requests of the listing under way at once (see
    /// [`Pager`]); 1, the default, reads one page at a time.
    pub fn in_flight(mut self, in_flight: u32) -> Pager {
        self.in_flight = in_flight.max(1);
        self
    }

    /// Sorted by these keys (`[{"property", "direction"}]`).
    pub fn sorted(mut self, keys: &[Value]) -> Pager {
        self.extra.push_str("&sort=");
        self.extra
            .push_str(&percent_encode(&Value::Array(keys.to_vec()).to_string()));
        self
    }

    /// Sorted by id, ascending: the order of the store's keys.
    pub fn by_id(self) -> Pager {
        self.sorted(&[serde_json::json!({"property": "id", "direction": 1})])
    }

    /// Only these fields of each row (`id`, `id,client`).
    pub fn select(mut self, fields: &str) -> Pager {
        self.extra.push_str("&select=");
        self.extra.push_str(&percent_encode(fields));
        self
    }

    /// The largest `total` the platform announced, once a page was read.
    pub fn total(&self) -> Option<u64> {
        self.totals.map(|(_, hi)| hi)
    }

    /// The smallest and largest `total` the platform announced.
    pub fn totals(&self) -> Option<(u64, u64)> {
        self.totals
    }

    /// Whether the listing ended.
    pub fn done(&self) -> bool {
        self.done
    }

    /// Abandon the pages sent ahead: the listing is not read further.
    pub fn abandon<H: Http>(&mut self, client: &mut OzmapClient<H>) {
        for asked in self.ahead.drain(..) {
            client.abandon(&asked);
        }
    }

    /// Once `next` answered `None`: why the listing cannot be trusted as
    /// complete, or `None` when what was read agrees with what the platform
    /// announced.
    pub fn incomplete(&self) -> Option<&str> {
        self.incomplete.as_deref()
    }

    /// The next page's rows; `None` once the listing ended.
    pub fn next<H: Http>(
        &mut self,
        client: &mut OzmapClient<H>,
    ) -> Result<Option<Vec<Row>>, String> {
        if self.done {
            return Ok(None);
        }
        let page = self.offset / self.limit + 1;
        let query = match self.next_url.take() {
            Some(next) => next,
            None => self.numbered(page),
        };
        let what = format!("{} page {page}", self.route);
        self.take_ahead(client, &query);
        let parsed = client.get_parsed(&query, &what, super::page::parse)?;
        let listing = Listing::parse(parsed).map_err(|e| format!("{what}: {e}"))?;
        if let Some(start) = listing.start
            && start != self.offset
        {
            return Err(format!(
                "{what}: the platform answered rows from {start}, expected {}; refusing to skip or repeat elements",
                self.offset
            ));
        }
        let count = listing.rows.len() as u64;
        crate::log::emit(
            crate::log::Level::Debug,
            &format!("{what}: {count} rows"),
            &[
                ("route", &self.route),
                ("page", &page.to_string()),
                ("rows", &count.to_string()),
            ],
        );
        if count > 0 && !self.fingerprints.insert(fingerprint(&listing.rows)) {
            return Err(format!(
                "{what}: the platform sent the same {count} rows as on an earlier page while announcing more; stopped rather than read for ever"
            ));
        }
        if let Some(total) = listing.total {
            self.totals = Some(match self.totals {
                None => (total, total),
                Some((lo, hi)) => (lo.min(total), hi.max(total)),
            });
        }
        let asked = self.limit;
        let more = listing.more(self.offset, count, asked);
        // The server capped our page size: go on at its size. Adopted on the
        // first page only, where the offset (0) fits any size.
        if more && count > 0 && count < asked && self.offset == 0 {
            self.limit = listing
                .limit
                .filter(|l| *l > 0 && *l < asked)
                .unwrap_or(count);
            client.note_page_cap(Some(self.limit));
            if client.first_time(&format!("page cap {}", self.route)) {
                crate::log::emit(
                    crate::log::Level::Info,
                    &format!(
                        "the platform answers {} rows a page, fewer than the {asked} asked (it said {}): going on at its size",
                        self.limit,
                        listing
                            .limit
                            .map_or("nothing".into(), |l| format!("limit {l}"))
                    ),
                    &[("route", &self.route)],
                );
            }
        }
        self.offset += count;
        self.pages += 1;
        // Only a path on the platform we already talk to is followed.
        self.next_url = listing
            .next_url
            .filter(|_| more && count > 0)
            .and_then(|url| url.split_once("/api/v2/").map(|(_, rest)| rest.to_string()))
            .filter(|rest| rest.starts_with(&format!("{}?", self.route)));
        if more && count > 0 && self.next_url.is_none() && !self.offset.is_multiple_of(self.limit) {
            // A short page in the middle: the next page number would not
            // start where this one ended, so the listing cannot go on.
            self.end(Some(format!(
                "page {page} held {count} rows, fewer than the {} of a full page, yet the platform announced more{}",
                self.limit,
                self.announced()
            )));
        } else if !more || count == 0 {
            let verdict = self.verdict(page, listing.has_next_page.is_some());
            self.end(verdict);
        } else if let Some(bound) = self.page_bound()
            && self.pages >= bound
        {
            return Err(format!(
                "{what}: the platform keeps announcing more pages: {} rows read in {} pages, more than its total{} allows; stopped",
                self.offset,
                self.pages,
                self.announced()
            ));
        }
        if !self.held {
            self.send_ahead(client);
        }
        Ok(Some(listing.rows))
    }

    /// The query of page `page` by number.
    fn numbered(&self, page: u64) -> String {
        let mut query = format!("{}?page={page}&limit={}", self.route, self.limit);
        if let Some(filter) = &self.filter {
            query.push_str("&filter=");
            query.push_str(filter);
        }
        query.push_str(&self.extra);
        query
    }

    /// `query` is read now: when it is not the next page sent ahead, the
    /// walk went elsewhere, and those sent ahead are abandoned.
    fn take_ahead<H: Http>(&mut self, client: &mut OzmapClient<H>, query: &str) {
        match self.ahead.pop_front() {
            Some(asked) if asked == query => {}
            Some(asked) => {
                client.abandon(&asked);
                self.abandon(client);
            }
            None => {}
        }
    }

    /// Have the client send the page the walk reads next as soon as its
    /// window has room, after those wanted before.
    pub fn want_next<H: Http>(&self, client: &mut OzmapClient<H>) {
        if let Some(query) = self.next_query() {
            if self.first_page_only {
                client.want_alone(&query);
            } else {
                client.want(&query);
            }
        }
    }

    /// The query of the page the walk reads next; `None` once it ended.
    pub fn next_query(&self) -> Option<String> {
        if self.done {
            return None;
        }
        Some(match &self.next_url {
            Some(next) => next.clone(),
            None => self.numbered(self.offset / self.limit + 1),
        })
    }

    /// Send ahead the pages that come next, as far as they are known (the
    /// one a cursor names, or those numbered up to the announced total)
    /// and the client's window has room: the platform sends them while the
    /// caller stores this one, or reads another listing.
    pub fn send_ahead<H: Http>(&mut self, client: &mut OzmapClient<H>) {
        if self.done || (self.first_page_only && self.pages > 0) {
            self.abandon(client);
            return;
        }
        let room = (self.in_flight as usize).saturating_sub(self.ahead.len());
        if room == 0 {
            return;
        }
        let next: Vec<String> = match &self.next_url {
            Some(url) => vec![url.clone()],
            None => {
                let first = self.offset / self.limit + 1;
                let last = self
                    .total()
                    .map_or(first, |total| total.div_ceil(self.limit).max(first));
                (first..=last)
                    .map(|page| self.numbered(page))
                    .filter(|query| !self.ahead.contains(query))
                    .take(room)
                    .collect()
            }
        };
        for query in next {
            if self.ahead.contains(&query) {
                continue;
            }
            if !client.send_ahead(&query) {
                return;
            }
            self.ahead.push_back(query);
        }
    }

    fn end(&mut self, incomplete: Option<String>) {
        self.done = true;
        self.incomplete = incomplete;
    }

    /// Whether the rows read agree with the totals announced. Elements
    /// created or deleted while the listing ran move the total, and with it
    /// the rows a listing can legitimately see, by as much.
    fn verdict(&self, last_page: u64, flagged: bool) -> Option<String> {
        let (lo, hi) = self.totals?;
        let drift = hi - lo;
        let read = self.offset;
        let how = if flagged {
            format!("hasNextPage was false on page {last_page}")
        } else {
            format!("page {last_page} was the last")
        };
        if read + drift < lo {
            Some(format!(
                "the listing ended after {read} rows ({how}) while the platform announced {}",
                self.announced_total()
            ))
        } else if read > hi + drift {
            Some(format!(
                "the platform sent {read} rows while it announced only {}",
                self.announced_total()
            ))
        } else {
            None
        }
    }

    /// At most the pages the largest total fills, and one more for
    /// elements created meanwhile.
    fn page_bound(&self) -> Option<u64> {
        let (lo, hi) = self.totals?;
        Some((hi + (hi - lo)).div_ceil(self.limit) + 2)
    }

    fn announced_total(&self) -> String {
        match self.totals {
            Some((lo, hi)) if lo == hi => format!("a total of {hi}"),
            Some((lo, hi)) => format!("totals from {lo} to {hi}"),
            None => "no total".to_string(),
        }
    }

    fn announced(&self) -> String {
        match self.totals {
            Some(_) => format!(" ({})", self.announced_total()),
            None => String::new(),
        }
    }
}

/// A stable hash of a page's ids, to tell a page sent again. A row without
/// an id counts whole (what is read of it).
fn fingerprint(rows: &[Row]) -> u64 {
    let mut keys = Vec::new();
    for row in rows {
        match id_of(row) {
            Some(id) => keys.extend_from_slice(id.as_bytes()),
            None => keys.extend_from_slice(row.clone().into_value().to_string().as_bytes()),
        }
        keys.push(0);
    }
    crate::model::fnv1a(keys)
}

/// One page of a list, in either of the shapes servers send.
struct Listing {
    rows: Vec<Row>,
    total: Option<u64>,
    start: Option<u64>,
    limit: Option<u64>,
    has_next_page: Option<bool>,
    next_url: Option<String>,
}

impl Listing {
    fn parse(page: Page) -> Result<Listing, String> {
        if let Some(unlike) = page.unlike {
            return Err(unlike.into());
        }
        if page.bare {
            return Ok(Listing {
                rows: page.rows,
                total: None,
                start: None,
                limit: None,
                has_next_page: Some(false),
                next_url: None,
            });
        }
        let body = &page.rest;
        let number = |v: Option<&Value>| v.and_then(Value::as_u64);
        Ok(Listing {
            total: number(body.get("total")),
            start: number(body.get("start")),
            limit: number(body.get("limit")),
            has_next_page: body.get("hasNextPage").and_then(Value::as_bool),
            next_url: body
                .get("nextUrl")
                .and_then(Value::as_str)
                .map(str::to_string),
            rows: page.rows,
        })
    }

    /// Whether pages remain after this one, which started at `offset`.
    fn more(&self, offset: u64, count: u64, asked: u64) -> bool {
        if let Some(next) = self.has_next_page {
            return next;
        }
        match self.total {
            Some(total) => offset + count < total,
            // Neither flag nor total: only a full page suggests more.
            None => count >= asked,
        }
    }
}
