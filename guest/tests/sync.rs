//! The sync logic natively, against an in-memory platform and store.

// Native tests, not the component: std's hash maps are fine here.
#![allow(clippy::disallowed_types)]

use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::time::Duration;

use mapsync_guest::http::{Answer, FetchError, Http, Method, Request, Response, Started};
use mapsync_guest::model::{Batch, ElementKind};
use mapsync_guest::ozmap::client::{Credentials, percent_encode};
use mapsync_guest::store::{BatchOutcome, ElementStore, InvalidElement, Sweep};
use mapsync_guest::sync::{self, HeldRemoval, RunError, Settings};
use serde_json::{Value, json};

/// A scripted platform: routes with rows, a page cap, and either page shape.
#[derive(Default)]
struct Platform {
    rows: HashMap<&'static str, Vec<Value>>,
    max_page: usize,
    legacy: bool,
    requests: Vec<String>,
    failures: Vec<Result<Response, FetchError>>,
    slept: Duration,
    /// A lying server: `hasNextPage: false` on every page.
    no_next_page: bool,
    /// A lying server: this `total` on every page.
    total: Option<usize>,
    /// A broken server: page 1 again and again, announcing more.
    repeat_first_page: bool,
    /// Requests `start`ed are sent at once (as a host running them beside
    /// the component does), and counted.
    eager: bool,
    ahead: Ahead,
    /// A platform that ignores every filter (on ids, or any other).
    ignore_id_filters: bool,
}

/// Requests started ahead: how many, how many were answered, and the most
/// under way at once.
#[derive(Clone, Default)]
struct Ahead {
    started: Rc<Cell<usize>>,
    finished: Rc<Cell<usize>>,
    most: Rc<Cell<usize>>,
}

/// An answer computed when the request was started, and said to be in
/// only once taken (as from a platform far away); taken or dropped, it is
/// no longer under way.
struct Eager {
    answer: Option<Result<Response, FetchError>>,
    ahead: Ahead,
}

impl Answer for Eager {
    fn ready(&mut self) -> bool {
        false
    }
    fn wait(mut self: Box<Self>) -> Result<Response, FetchError> {
        self.answer.take().expect("answered once")
    }
}

impl Drop for Eager {
    fn drop(&mut self) {
        self.ahead.finished.set(self.ahead.finished.get() + 1);
    }
}

fn query_param<'a>(url: &'a str, name: &str) -> Option<&'a str> {
    url.split_once('?')?
        .1
        .split('&')
        .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

impl Http for &mut Platform {
    fn fetch(&mut self, request: Request) -> Result<Response, FetchError> {
        assert_eq!(request.method, Method::Get);
        self.requests.push(request.url.clone());
        if !self.failures.is_empty() {
            return self.failures.remove(0);
        }
        let path = request.url.split_once("/api/v2/").unwrap().1;
        let route = path.split('?').next().unwrap();
        let page: usize = query_param(path, "page").unwrap().parse().unwrap();
        let limit: usize = query_param(path, "limit")
            .unwrap()
            .parse::<usize>()
            .unwrap()
            .min(self.max_page.max(1));
        let filter: Vec<Value> = query_param(path, "filter")
            .map(|f| serde_json::from_str(&decode(f)).unwrap())
            .unwrap_or_default();
        let sort: Vec<Value> = query_param(path, "sort")
            .map(|f| serde_json::from_str(&decode(f)).unwrap())
            .unwrap_or_default();
        let mut rows: Vec<Value> = self
            .rows
            .get(route)
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|row| {
                self.ignore_id_filters
                    || filter.iter().all(|c| {
                        let value = &row[c["property"].as_str().unwrap()];
                        // Ids, and ISO instants of one shape, compare as text.
                        let text = value.as_str().unwrap_or_default();
                        let bound = c["value"].as_str().unwrap_or_default();
                        match c["operator"].as_str().unwrap() {
                            "=" => value == &c["value"],
                            "in" => c["value"].as_array().unwrap().contains(value),
                            ">=" => text >= bound,
                            ">" => text > bound,
                            "<=" => text <= bound,
                            "<" => text < bound,
                            other => panic!("operator {other}"),
                        }
                    })
            })
            .collect();
        // A sort by one key (the first asked), as text.
        if let Some(key) = sort.first() {
            let property = key["property"].as_str().unwrap();
            rows.sort_by(|a, b| {
                let order = a[property].as_str().cmp(&b[property].as_str());
                if key["direction"] == -1 {
                    order.reverse()
                } else {
                    order
                }
            });
        }
        let start = if self.repeat_first_page {
            0
        } else {
            (page - 1) * limit
        };
        let page_rows: Vec<Value> = rows.iter().skip(start).take(limit).cloned().collect();
        let total = self.total.unwrap_or(rows.len());
        let mut body =
            json!({"total": total, "count": page_rows.len(), "limit": limit, "rows": page_rows});
        if !self.repeat_first_page {
            body["start"] = json!(start);
        }
        if !self.legacy {
            let more = self.repeat_first_page || start + limit < rows.len();
            body["hasNextPage"] = json!(more && !self.no_next_page);
        }
        Ok(Response {
            status: 200,
            headers: vec![],
            body: body.to_string().into_bytes(),
        })
    }

    fn start(&mut self, request: Request) -> Started {
        if !self.eager {
            return Started::deferred(request);
        }
        let answer = self.fetch(request);
        let ahead = self.ahead.clone();
        ahead.started.set(ahead.started.get() + 1);
        let under_way = ahead.started.get() - ahead.finished.get();
        ahead.most.set(ahead.most.get().max(under_way));
        Started::under_way(Eager {
            answer: Some(answer),
            ahead,
        })
    }

    fn sleep(&mut self, duration: Duration) {
        self.slept += duration;
    }

    /// A clock that moves only by the component's sleeps.
    fn now_ms(&mut self) -> u64 {
        1_800_000_000_000 + self.slept.as_millis() as u64
    }
}

#[derive(Default)]
struct Memory {
    elements: HashMap<(ElementKind, String), String>,
    seen: HashSet<(ElementKind, String)>,
    flagged: HashMap<(ElementKind, String), String>,
    /// How often each kind was counted.
    tallies: HashMap<ElementKind, u32>,
}

impl ElementStore for Memory {
    fn write_batch(&mut self, batch: Batch) -> Result<BatchOutcome, String> {
        let (kind, items): (ElementKind, Vec<(String, String)>) = match batch {
            Batch::Projects(v) => (
                ElementKind::Project,
                v.iter().map(|e| (e.id.clone(), format!("{e:?}"))).collect(),
            ),
            Batch::Poles(v) => (
                ElementKind::Pole,
                v.iter().map(|e| (e.id.clone(), format!("{e:?}"))).collect(),
            ),
            Batch::Boxes(v) => (
                ElementKind::Box,
                v.iter().map(|e| (e.id.clone(), format!("{e:?}"))).collect(),
            ),
            Batch::Splitters(v) => (
                ElementKind::Splitter,
                v.iter().map(|e| (e.id.clone(), format!("{e:?}"))).collect(),
            ),
            Batch::Clients(v) => (
                ElementKind::Client,
                v.iter().map(|e| (e.id.clone(), format!("{e:?}"))).collect(),
            ),
            Batch::Properties(v) => (
                ElementKind::Property,
                v.iter().map(|e| (e.id.clone(), format!("{e:?}"))).collect(),
            ),
        };
        let mut outcome = BatchOutcome::default();
        for (id, data) in items {
            match self.elements.insert((kind, id.clone()), data.clone()) {
                None => outcome.created += 1,
                Some(old) if old == data => outcome.unchanged += 1,
                Some(_) => outcome.updated += 1,
            }
            self.seen.insert((kind, id));
        }
        Ok(outcome)
    }

    fn keep_invalid(
        &mut self,
        kind: ElementKind,
        elements: &[InvalidElement],
    ) -> Result<u32, String> {
        let mut kept = 0;
        for e in elements {
            if self.elements.contains_key(&(kind, e.id.clone())) {
                self.seen.insert((kind, e.id.clone()));
                self.flagged.insert((kind, e.id.clone()), e.reason.clone());
                kept += 1;
            }
        }
        Ok(kept)
    }

    fn complete_kind(&mut self, kind: ElementKind) -> Result<Sweep, String> {
        let stored = self.elements.keys().filter(|(k, _)| *k == kind).count();
        let seen = &self.seen;
        self.elements
            .retain(|(k, id), _| *k != kind || seen.contains(&(kind, id.clone())));
        let after = self.elements.keys().filter(|(k, _)| *k == kind).count();
        Ok(Sweep {
            removed: (stored - after) as u32,
            stored: stored as u32,
        })
    }

    fn seen(&mut self, kind: ElementKind, ids: &[String]) -> Result<Vec<String>, String> {
        Ok(ids
            .iter()
            .filter(|id| self.seen.contains(&(kind, (*id).clone())))
            .cloned()
            .collect())
    }

    fn tally(&mut self, kind: ElementKind) -> Result<u32, String> {
        *self.tallies.entry(kind).or_default() += 1;
        Ok(self.elements.keys().filter(|(k, _)| *k == kind).count() as u32)
    }

    fn mark_seen(&mut self, kind: ElementKind, ids: &[String]) -> Result<Vec<String>, String> {
        let mut missing = Vec::new();
        for id in ids {
            if self.elements.contains_key(&(kind, id.clone())) {
                self.seen.insert((kind, id.clone()));
            } else {
                missing.push(id.clone());
            }
        }
        Ok(missing)
    }

    fn known(&mut self, kind: ElementKind, ids: &[String]) -> Result<Vec<String>, String> {
        Ok(ids
            .iter()
            .filter(|id| self.elements.contains_key(&(kind, (*id).clone())))
            .cloned()
            .collect())
    }

    fn stored_ids(
        &mut self,
        kind: ElementKind,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<String>, String> {
        let mut ids: Vec<String> = self
            .elements
            .keys()
            .filter(|(k, id)| *k == kind && after.is_none_or(|a| id.as_str() > a))
            .map(|(_, id)| id.clone())
            .collect();
        ids.sort();
        ids.truncate(limit as usize);
        Ok(ids)
    }

    fn mark_gone(&mut self, kind: ElementKind, ids: &[String]) -> Result<u32, String> {
        let mut gone = 0;
        for id in ids {
            if self.elements.remove(&(kind, id.clone())).is_some() {
                gone += 1;
            }
        }
        Ok(gone)
    }
}

fn network() -> Platform {
    let mut p = Platform {
        max_page: 1000,
        ..Platform::default()
    };
    p.rows.insert(
        "projects",
        vec![
            json!({"id": "p1", "name": "Centro"}),
            json!({"id": "p2", "name": "centro"}),
        ],
    );
    p.rows.insert(
        "poles",
        (0..7)
            .map(|i| json!({"id": format!("pole{i}"), "coords": [-48.5, -27.5]}))
            .collect(),
    );
    p.rows.insert(
        "boxes",
        vec![
            json!({"id": "b1", "project": "p1", "pole": "pole0"}),
            json!({"id": "b2", "project": "p2", "pole": "pole0"}),
        ],
    );
    p.rows.insert("splitters", vec![
        json!({"id": "s1", "parent": "b1", "project": "p1", "isDrop": true, "ratio": {"input": 1, "output": 8}}),
        json!({"id": "s2", "parent": "b2", "project": "p2", "isDrop": false, "ratio": {"input": 1, "output": 8}}),
        json!({"id": "s3", "parent": "nope", "project": "p1", "isDrop": true, "ratio": {"input": 1, "output": 8}}),
    ]);
    p.rows.insert(
        "ftth-clients",
        vec![
            json!({"id": "c1", "code": "SVC-1"}),
            json!({"id": "c2", "code": ""}),
        ],
    );
    p.rows.insert("properties", vec![
        json!({"id": "h1", "project": "p1", "client": "c1", "connections": [{"id": "s1", "kind": "Splitter", "port": 1}]}),
        json!({"id": "h2", "project": "p2", "client": "c2", "connections": [{"id": "s2", "port": 2}]}),
        json!({"id": "h3", "project": "p1", "client": null, "connections": [{"id": "s1", "port": 2}]}),
    ]);
    p
}

fn settings(project: Option<&str>, page_size: u32) -> Settings {
    Settings {
        project_name: project.map(str::to_string),
        page_size,
        max_attempts: 3,
        ..Settings::new(Credentials {
            api_url: "http://ozmap.test".into(),
            api_key: "k".into(),
            user: "u".into(),
            password: "p".into(),
        })
    }
}

fn count(store: &Memory, kind: ElementKind) -> usize {
    store.elements.keys().filter(|(k, _)| *k == kind).count()
}

#[test]
fn pages_in_both_shapes_and_under_a_server_cap() {
    for (legacy, max_page) in [(false, 1000), (true, 1000), (false, 2), (true, 3)] {
        let mut platform = Platform {
            legacy,
            max_page,
            ..network()
        };
        let mut store = Memory::default();
        let report = sync::run(&mut platform, &mut store, &settings(None, 5)).unwrap();
        assert_eq!(
            count(&store, ElementKind::Pole),
            7,
            "legacy {legacy} cap {max_page}"
        );
        assert_eq!(report.kinds[&ElementKind::Pole].created, 7);
        assert_eq!(count(&store, ElementKind::Splitter), 2);
        assert_eq!(report.kinds[&ElementKind::Splitter].invalid, 1);
        assert!(platform.requests.iter().all(|r| !r.contains("cables")));
    }
}

/// Requests sent ahead (pages, probes, ranges of ids) read the same
/// network, page by number (the total known) or by `hasNextPage`, and
/// never more at once than the integration allows.
#[test]
fn requests_sent_ahead_read_the_same_within_the_bound() {
    for legacy in [false, true] {
        let mut alone = Vec::new();
        for in_flight in [1, 2, 4, 8] {
            let mut platform = Platform {
                legacy,
                eager: true,
                ..with_poles(23)
            };
            let mut store = Memory::default();
            let settings = Settings {
                pages_in_flight: in_flight,
                ..settings(None, 5)
            };
            let report = sync::run(&mut platform, &mut store, &settings).unwrap();
            assert!(report.incomplete.is_empty(), "{:?}", report.incomplete);
            let mut elements: Vec<_> = store.elements.into_iter().collect();
            elements.sort();
            let ahead = &platform.ahead;
            let why = format!("legacy {legacy}, {in_flight} in flight");
            assert!(ahead.finished.get() <= ahead.started.get(), "{why}");
            assert!(ahead.most.get() <= in_flight as usize, "{why}");
            if in_flight == 1 {
                assert_eq!(ahead.most.get(), 0, "{why}");
                alone = elements;
            } else {
                assert!(ahead.most.get() > 1 || in_flight == 2, "{why}");
                assert!(alone == elements, "{why}");
            }
        }
    }
}

/// A platform that ignores the filter on ids is read by its plain listing,
/// and said so; the store is the same.
#[test]
fn a_platform_ignoring_filters_on_ids_is_read_whole() {
    let mut plain = Memory::default();
    let settings = Settings {
        pages_in_flight: 4,
        ..poles_alone()
    };
    sync::run(&mut with_poles(23), &mut plain, &settings).unwrap();
    let mut platform = Platform {
        ignore_id_filters: true,
        ..with_poles(23)
    };
    let mut store = Memory::default();
    let report = sync::run(&mut platform, &mut store, &settings).unwrap();
    assert!(report.incomplete.is_empty(), "{:?}", report.incomplete);
    assert_eq!(report.kinds[&ElementKind::Pole].created, 23);
    assert!(store.elements == plain.elements);
    // Read by ranges first, then whole.
    assert!(platform.requests.iter().any(|r| r.contains("%3E")));
}

#[test]
fn project_filter_keeps_poles_and_matches_exactly() {
    let mut platform = network();
    let mut store = Memory::default();
    sync::run(&mut platform, &mut store, &settings(Some("centro"), 100)).unwrap();
    assert_eq!(count(&store, ElementKind::Project), 1);
    assert_eq!(count(&store, ElementKind::Pole), 7);
    assert!(
        store
            .elements
            .contains_key(&(ElementKind::Box, "b2".into()))
    );
    assert!(
        !store
            .elements
            .contains_key(&(ElementKind::Box, "b1".into()))
    );
    assert_eq!(
        count(&store, ElementKind::Client),
        1,
        "only the clients of the project's properties"
    );

    let error = sync::run(
        &mut network(),
        &mut Memory::default(),
        &settings(Some("CENTRO"), 100),
    )
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("\"Centro\"") && error.contains("\"centro\""),
        "{error}"
    );
}

#[test]
fn second_run_is_unchanged_and_removal_follows_a_complete_listing() {
    let mut store = Memory::default();
    sync::run(&mut network(), &mut store, &settings(None, 100)).unwrap();
    let again = sync::run(&mut network(), &mut store, &settings(None, 100)).unwrap();
    for (kind, r) in &again.kinds {
        assert_eq!((r.created, r.updated, r.removed), (0, 0, 0), "{kind:?}");
    }
    let mut platform = network();
    platform.rows.get_mut("poles").unwrap().pop();
    store.seen.clear();
    let third = sync::run(&mut platform, &mut store, &settings(None, 100)).unwrap();
    assert_eq!(third.kinds[&ElementKind::Pole].removed, 1);
}

#[test]
fn retries_passing_failures_then_gives_up_with_a_clear_error() {
    let mut platform = network();
    let retry_after = Response {
        status: 429,
        headers: vec![("Retry-After".into(), "2".into())],
        body: vec![],
    };
    let unavailable = Response {
        status: 503,
        headers: vec![],
        body: vec![],
    };
    platform.failures = vec![
        Ok(retry_after),
        Ok(unavailable),
        Err(FetchError::ConnectionReset),
    ];
    let patient = Settings {
        max_attempts: 4,
        ..settings(None, 100)
    };
    let report = sync::run(&mut platform, &mut Memory::default(), &patient).unwrap();
    assert_eq!(report.retries, 3);
    assert!(platform.slept >= Duration::from_secs(2));

    let mut platform = network();
    platform.failures = (0..3).map(|_| Err(FetchError::Timeout)).collect();
    let error = sync::run(&mut platform, &mut Memory::default(), &settings(None, 100))
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("projects page 1")
            && error.contains("timed out")
            && error.contains("3 attempts"),
        "{error}"
    );
}

#[test]
fn a_connection_check_reports_each_step() {
    let steps = mapsync_guest::check::run(&mut network(), &settings(None, 100));
    assert_eq!(
        steps.iter().map(|s| (s.step, s.ok)).collect::<Vec<_>>(),
        [
            ("reach the platform", true),
            ("authenticate", true),
            ("read one row", true)
        ]
    );
    assert!(steps[2].detail.contains("2 project"), "{steps:?}");

    let mut down = network();
    down.failures = vec![Err(FetchError::ConnectionRefused)];
    let steps = mapsync_guest::check::run(&mut down, &settings(None, 100));
    assert_eq!(steps.len(), 1);
    assert!(
        !steps[0].ok && steps[0].detail.contains("connection refused"),
        "{steps:?}"
    );
}

fn with_poles(n: usize) -> Platform {
    let mut p = network();
    p.rows.insert(
        "poles",
        (0..n)
            .map(|i| json!({"id": pole_id(i), "coords": [-48.5, -27.5]}))
            .collect(),
    );
    p
}

/// Poles only (projects are always read), 5 a page.
fn poles_alone() -> Settings {
    Settings {
        switched_off: vec![
            ElementKind::Box,
            ElementKind::Splitter,
            ElementKind::Client,
            ElementKind::Property,
        ],
        ..settings(None, 5)
    }
}

/// Pole `i`'s id, an ObjectId: one created every few minutes.
fn pole_id(i: usize) -> String {
    format!("6a{:06x}0000000000{:06x}", i * 317, i)
}

/// A store as one sync left it, ready for the next run.
fn synced(platform: &mut Platform) -> Memory {
    let mut store = Memory::default();
    sync::run(platform, &mut store, &settings(None, 10)).unwrap();
    store.seen.clear();
    store
}

#[test]
fn a_lying_has_next_page_removes_nothing_and_says_why() {
    let mut store = synced(&mut with_poles(40));
    let mut liar = Platform {
        no_next_page: true,
        ..with_poles(40)
    };
    let report = sync::run(&mut liar, &mut store, &settings(None, 10)).unwrap();
    assert_eq!(count(&store, ElementKind::Pole), 40);
    assert_eq!(report.kinds[&ElementKind::Pole].removed, 0);
    let poles = report
        .incomplete
        .iter()
        .find(|i| i.kind == ElementKind::Pole)
        .expect("poles reported incomplete");
    assert!(
        // Read by ranges of ids: the range that ended early says so.
        poles.reason.contains("after 10 rows") && poles.reason.contains("announced a total of"),
        "{poles:?}"
    );
}

#[test]
fn a_total_that_disagrees_with_the_rows_removes_nothing() {
    // More rows than the total announces: the total cannot be trusted.
    let mut store = synced(&mut with_poles(40));
    let mut liar = Platform {
        total: Some(5),
        ..with_poles(12)
    };
    let report = sync::run(&mut liar, &mut store, &settings(None, 100)).unwrap();
    assert_eq!(count(&store, ElementKind::Pole), 40, "{report:?}");
    let poles = report
        .incomplete
        .iter()
        .find(|i| i.kind == ElementKind::Pole)
        .unwrap();
    assert!(
        poles.reason.contains("sent 12 rows") && poles.reason.contains("total of 5"),
        "{poles:?}"
    );

    // A legacy server announcing a huge total: the short last page ends it.
    let mut huge = Platform {
        total: Some(1_000_000_000_000),
        legacy: true,
        ..with_poles(25)
    };
    let mut store = synced(&mut with_poles(40));
    let report = sync::run(&mut huge, &mut store, &settings(None, 10)).unwrap();
    let poles = report
        .incomplete
        .iter()
        .find(|i| i.kind == ElementKind::Pole)
        .unwrap();
    assert!(
        poles.reason.contains("page 3 held 5 rows") && poles.reason.contains("1000000000000"),
        "{poles:?}"
    );
    assert!(!poles.reason.contains("page size"), "{poles:?}");
    assert_eq!(count(&store, ElementKind::Pole), 40);
}

#[test]
fn pages_that_repeat_for_ever_stop_with_a_clear_error() {
    let mut endless = Platform {
        repeat_first_page: true,
        ..with_poles(40)
    };
    let error = sync::run(&mut endless, &mut Memory::default(), &settings(None, 10))
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("same") && error.contains("page 2"),
        "{error}"
    );
    assert!(endless.requests.len() < 10, "{}", endless.requests.len());
}

#[test]
fn the_removal_guard_holds_mass_removals_until_allowed() {
    let mut store = synced(&mut with_poles(40));
    let error = sync::run(&mut with_poles(20), &mut store, &settings(None, 10)).unwrap_err();
    assert_eq!(
        error,
        RunError::RemovalsHeld(vec![HeldRemoval {
            kind: ElementKind::Pole,
            removed: 20,
            stored: 40
        }])
    );
    assert!(error.to_string().contains("20 of 40 stored poles (50.0 %)"));

    // Within the share, or allowed, the removals go through. (This store
    // does not roll back a failed run as a host does: start afresh.)
    let mut store = synced(&mut with_poles(40));
    let lenient = Settings {
        max_removal_percent: 60,
        ..settings(None, 10)
    };
    let report = sync::run(&mut with_poles(20), &mut store, &lenient).unwrap();
    assert_eq!(report.kinds[&ElementKind::Pole].removed, 20);

    let mut store = synced(&mut with_poles(40));
    let allowed = Settings {
        allow_removals: true,
        ..settings(None, 10)
    };
    let report = sync::run(&mut with_poles(20), &mut store, &allowed).unwrap();
    assert_eq!(report.kinds[&ElementKind::Pole].removed, 20);

    // A few removals are never held, whatever the share.
    let mut store = synced(&mut network());
    let mut fewer = network();
    fewer.rows.get_mut("poles").unwrap().truncate(2);
    let report = sync::run(&mut fewer, &mut store, &settings(None, 10)).unwrap();
    assert_eq!(report.kinds[&ElementKind::Pole].removed, 5);
}

#[test]
fn an_element_that_turns_invalid_is_kept_with_its_children() {
    let mut store = synced(&mut network());
    let mut platform = network();
    platform.rows.get_mut("boxes").unwrap()[0] =
        json!({"id": "b1", "project": "p1", "pole": "pole0", "coords": [-48.5, 95.0]});
    let report = sync::run(&mut platform, &mut store, &settings(None, 10)).unwrap();
    let boxes = report.kinds[&ElementKind::Box];
    assert_eq!((boxes.invalid, boxes.kept, boxes.removed), (1, 1, 0));
    assert!(
        store
            .elements
            .contains_key(&(ElementKind::Box, "b1".into()))
    );
    assert!(store.flagged[&(ElementKind::Box, "b1".into())].contains("95"));
    // Its splitter still finds its box among the synchronised ones.
    assert!(
        store
            .elements
            .contains_key(&(ElementKind::Splitter, "s1".into()))
    );
    assert_eq!(report.kinds[&ElementKind::Splitter].removed, 0);
}

#[test]
fn a_switched_off_kind_is_neither_read_nor_removed() {
    let mut store = synced(&mut network());
    let mut platform = network();
    let without = Settings {
        switched_off: vec![ElementKind::Client, ElementKind::Property],
        ..settings(None, 10)
    };
    sync::run(&mut platform, &mut store, &without).unwrap();
    assert!(
        platform
            .requests
            .iter()
            .all(|r| !r.contains("ftth-clients") && !r.contains("properties")),
        "{:?}",
        platform.requests
    );
    assert_eq!(count(&store, ElementKind::Property), 3);
    assert_eq!(count(&store, ElementKind::Client), 2);

    let splitters_alone = Settings {
        switched_off: vec![ElementKind::Box],
        ..settings(None, 10)
    };
    let error = sync::run(&mut network(), &mut store, &splitters_alone)
        .unwrap_err()
        .to_string();
    assert!(error.contains("switch boxes on"), "{error}");
}

/// An incremental run reads what changed, and finds what went by walking
/// the platform's ids beside the store's, or, when the platform does not
/// sort them as asked, by marking each one still there.
fn incremental(reverse_poles: bool) {
    let mut platform = network();
    for rows in platform.rows.values_mut() {
        for row in rows.iter_mut() {
            row["updatedAt"] = json!("2026-01-01T00:00:00.000Z");
        }
    }
    let mut store = Memory::default();
    let first = sync::run(&mut platform, &mut store, &settings(None, 100)).unwrap();
    assert_eq!(first.full_reason.as_deref(), Some("first run"));
    let poles = platform.rows.get_mut("poles").unwrap();
    poles[0]["name"] = json!("Poste renomeado");
    poles[0]["updatedAt"] = json!("2026-02-01T00:00:00.000Z");
    poles.remove(6);
    if reverse_poles {
        poles.reverse();
    }
    let mut again = settings(None, 100);
    again.state = Some(first.state.clone());
    platform.requests.clear();
    // A new run: nothing seen yet.
    store.seen.clear();
    store.tallies.clear();
    let second = sync::run(&mut platform, &mut store, &again).unwrap();
    assert_eq!(second.full_reason, None, "{second:?}");
    // The store counted the poles twice: before what changed was read, for
    // the count of the ids up to its highest, and after, for the whole
    // kind's; the walk took the first.
    assert_eq!(store.tallies[&ElementKind::Pole], 2, "{:?}", store.tallies);
    let poles = second.kinds[&ElementKind::Pole];
    assert_eq!((poles.updated, poles.removed), (1, 1), "{poles:?}");
    assert!(
        !store
            .elements
            .contains_key(&(ElementKind::Pole, pole_id(6)))
    );
    assert_eq!(count(&store, ElementKind::Pole), 6);
    assert!(
        platform
            .requests
            .iter()
            .any(|r| r.contains("poles?") && r.contains("updatedAt")),
        "{:?}",
        platform.requests
    );
    // Boxes did not change in number: no listing of their ids.
    assert!(
        !platform
            .requests
            .iter()
            .any(|r| r.contains("boxes?") && r.contains("limit=1000")),
        "{:?}",
        platform.requests
    );
}

#[test]
fn an_incremental_run_walks_the_ids_to_find_what_went() {
    incremental(false);
}

#[test]
fn an_incremental_run_marks_ids_seen_when_the_platform_does_not_sort() {
    incremental(true);
}

/// A kind read whole is asked for in id order, the order of a store's
/// keys, so a host writes a first sync's elements each after the last.
#[test]
fn a_kind_read_whole_is_asked_for_in_id_order() {
    let mut platform = network();
    let mut store = Memory::default();
    sync::run(&mut platform, &mut store, &settings(None, 100)).unwrap();
    let by_id = format!(
        "sort={}",
        percent_encode(r#"[{"direction":1,"property":"id"}]"#)
    );
    for route in ["poles", "boxes", "splitters", "properties", "ftth-clients"] {
        let listings: Vec<&String> = platform
            .requests
            .iter()
            .filter(|r| r.contains(&format!("/{route}?")))
            .collect();
        assert!(!listings.is_empty(), "{route}: {:?}", platform.requests);
        // All but the probes of the highest id, one row long.
        for request in listings.iter().filter(|r| !r.contains("limit=1&")) {
            assert!(request.contains(&by_id), "{request}");
        }
    }
}

/// A creation cannot hide a deletion: the platform's count of the ids up
/// to the highest the store holds can only shrink, so a pole made and one
/// deleted (the whole count unchanged) still has the deleted one found;
/// poles only made have no id read at all.
#[test]
fn a_creation_cannot_hide_a_deletion() {
    let mut platform = with_poles(30);
    for row in platform.rows.get_mut("poles").unwrap() {
        row["updatedAt"] = json!("2026-01-01T00:00:00.000Z");
    }
    let mut store = Memory::default();
    let alone = |state: &str| Settings {
        state: Some(state.to_string()),
        ..poles_alone()
    };
    let first = sync::run(
        &mut platform,
        &mut store,
        &Settings {
            state: None,
            ..alone("")
        },
    )
    .unwrap();
    let made = |n: usize| json!({"id": pole_id(n), "coords": [-48.5, -27.5], "updatedAt": "2026-02-01T00:00:00.000Z"});
    let poles = platform.rows.get_mut("poles").unwrap();
    poles.push(made(100));
    poles.remove(3);
    store.seen.clear();
    let second = sync::run(&mut platform, &mut store, &alone(&first.state)).unwrap();
    let counts = second.kinds[&ElementKind::Pole];
    assert_eq!((counts.created, counts.removed), (1, 1), "{counts:?}");
    assert!(
        !store
            .elements
            .contains_key(&(ElementKind::Pole, pole_id(3)))
    );
    assert!(
        store
            .elements
            .contains_key(&(ElementKind::Pole, pole_id(100)))
    );

    platform.rows.get_mut("poles").unwrap().push(made(101));
    platform.requests.clear();
    store.seen.clear();
    let third = sync::run(&mut platform, &mut store, &alone(&second.state)).unwrap();
    assert_eq!(third.kinds[&ElementKind::Pole].created, 1);
    assert_eq!(count(&store, ElementKind::Pole), 31);
    // The count and what changed; no listing of the poles' ids.
    let walks: Vec<&String> = (platform.requests.iter())
        .filter(|r| r.contains("poles?") && r.contains("select=id") && !r.contains("limit=1&"))
        .collect();
    assert!(walks.is_empty(), "{walks:?}");
}
