//! One synchronisation: read the platform kind by kind, page by page, into
//! the store, and account for every record.

// B-trees, not hash maps: no random seed, so no `wasi:random` import, and
// the same order on every run.
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::{Value, json};

use crate::http::Http;
use crate::model::{Batch, Client, ElementKind, Property};
use crate::ozmap::client::{Credentials, OzmapClient, condition};
use crate::ozmap::page::Row;
use crate::ozmap::pager::Pager;
use crate::ozmap::records::{self, Reading, Record};
use crate::retry::RetryPolicy;
use crate::store::{ElementStore, InvalidElement, Sweep};

mod bisect;
mod listing;
mod removals;
use crate::watermark::{self, Mode, SyncState};

/// Rows asked for a page: more than most platforms answer, so that each
/// answers its largest (and says so), which the component then follows.
pub const DEFAULT_PAGE_SIZE: u32 = 1000;
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// A run's requests under way at once, by measure: 40 ms away, a re-sync
/// after 1 % of 100,000 elements changed took 0.91 s at 8, 0.70 s at 12
/// and 0.65 s at 16; 12 is where more stops paying for itself.
pub const DEFAULT_PAGES_IN_FLIGHT: u32 = 12;
/// The most a setting may ask for: a platform serves many tenants.
pub const MAX_PAGES_IN_FLIGHT: u32 = 16;
/// The removal guard's share when a host has no setting of its own.
pub const DEFAULT_MAX_REMOVAL_PERCENT: u8 = 20;
/// Removals of fewer elements than this are never held: a small network's
/// everyday deletions are not a lying listing.
pub const REMOVALS_NEVER_HELD_BELOW: u32 = 10;

/// One integration's settings (the WIT `sync.settings`).
#[derive(Clone)]
pub struct Settings {
    pub credentials: Credentials,
    pub project_name: Option<String>,
    /// 0: default.
    pub page_size: u32,
    /// 0: default.
    pub max_attempts: u32,
    /// 0: default.
    pub timeout_ms: u32,
    /// A listing's requests under way at once (0: default; at most
    /// [`MAX_PAGES_IN_FLIGHT`]).
    pub pages_in_flight: u32,
    /// At most this many requests start in any second (0: no ceiling).
    pub requests_per_second: u32,
    /// Kinds neither read nor removed.
    pub switched_off: Vec<ElementKind>,
    /// The removal guard's share, in percent (100: off).
    pub max_removal_percent: u8,
    /// A person confirmed the held removals.
    pub allow_removals: bool,
    /// What the last applied run answered in `Report::state`.
    pub state: Option<String>,
    /// Read everything, whatever `state` allows.
    pub full: bool,
    /// A full run at least this often (0: default).
    pub full_every_hours: u32,
}

impl Settings {
    /// Settings with every kind on and the default removal guard.
    pub fn new(credentials: Credentials) -> Settings {
        Settings {
            credentials,
            project_name: None,
            page_size: 0,
            max_attempts: 0,
            timeout_ms: 0,
            pages_in_flight: 0,
            requests_per_second: 0,
            switched_off: Vec::new(),
            max_removal_percent: DEFAULT_MAX_REMOVAL_PERCENT,
            allow_removals: false,
            state: None,
            full: false,
            full_every_hours: 0,
        }
    }

    pub fn reads(&self, kind: ElementKind) -> bool {
        kind == ElementKind::Project || !self.switched_off.contains(&kind)
    }

    /// The kinds a switched-on kind cannot do without.
    pub fn check_kinds(&self) -> Result<(), String> {
        if self.reads(ElementKind::Splitter) && !self.reads(ElementKind::Box) {
            return Err(
                "splitters are read with the boxes that hold them: switch boxes on, or splitters off"
                    .into(),
            );
        }
        if self.project_name.is_some()
            && self.reads(ElementKind::Client)
            && !self.reads(ElementKind::Property)
        {
            return Err("a project's clients are found through its properties: switch properties on, or clients off".into());
        }
        Ok(())
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KindReport {
    pub created: u32,
    pub updated: u32,
    pub unchanged: u32,
    pub removed: u32,
    pub invalid: u32,
    /// Invalid records whose stored version was kept, flagged.
    pub kept: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidRecord {
    pub kind: ElementKind,
    pub id: Option<String>,
    pub reason: String,
}

/// A kind whose listing could not be trusted as complete.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IncompleteKind {
    pub kind: ElementKind,
    pub reason: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub kinds: BTreeMap<ElementKind, KindReport>,
    pub invalid: Vec<InvalidRecord>,
    pub incomplete: Vec<IncompleteKind>,
    pub requests: u32,
    pub retries: u32,
    /// Why this run read every element; `None` when it read what changed.
    pub full_reason: Option<String>,
    /// For the next run's `Settings::state`, kept with this run's elements.
    pub state: String,
}

/// Removals the guard held for one kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeldRemoval {
    pub kind: ElementKind,
    pub removed: u32,
    pub stored: u32,
}

/// Why a run failed (the WIT `run-error`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunError {
    Failed(String),
    RemovalsHeld(Vec<HeldRemoval>),
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunError::Failed(message) => f.write_str(message),
            RunError::RemovalsHeld(held) => {
                let each: Vec<String> = held
                    .iter()
                    .map(|h| {
                        format!(
                            "{} of {} stored {} ({:.1} %)",
                            h.removed,
                            h.stored,
                            h.kind.plural(),
                            f64::from(h.removed) * 100.0 / f64::from(h.stored.max(1))
                        )
                    })
                    .collect();
                write!(
                    f,
                    "removals held: the platform's complete listings would remove {}, more than the integration's removal limit allows; nothing was changed. Check the platform, then confirm the removals to apply them",
                    each.join(", ")
                )
            }
        }
    }
}

impl From<String> for RunError {
    fn from(message: String) -> RunError {
        RunError::Failed(message)
    }
}

/// A platform client configured by `settings`.
pub fn client_for<H: Http>(http: H, settings: &Settings) -> OzmapClient<H> {
    let defaults = RetryPolicy::default();
    let policy = RetryPolicy {
        max_attempts: or_default(settings.max_attempts, defaults.max_attempts),
        ..defaults
    };
    let timeout = match settings.timeout_ms {
        0 => DEFAULT_TIMEOUT,
        ms => Duration::from_millis(ms.into()),
    };
    OzmapClient::new(http, settings.credentials.clone(), policy, timeout)
        .in_flight(or_default(
            settings.pages_in_flight,
            DEFAULT_PAGES_IN_FLIGHT,
        ))
        .per_second(settings.requests_per_second)
}

/// Run a synchronisation. On `Err` the host rolls the store back.
pub fn run<H: Http, S: ElementStore>(
    mut http: H,
    store: &mut S,
    settings: &Settings,
) -> Result<Report, RunError> {
    settings.check_kinds()?;
    let now_ms = http.now_ms();
    let project_name = settings.project_name.as_deref();
    let (full_reason, state, since) = match watermark::mode(
        settings.state.as_deref(),
        project_name,
        settings.full,
        settings.full_every_hours,
        now_ms,
    ) {
        Mode::Full(why) => (
            Some(why),
            SyncState::full(project_name, now_ms),
            BTreeMap::new(),
        ),
        Mode::Incremental(state) => {
            let since = ElementKind::ALL
                .iter()
                .filter_map(|k| Some((*k, state.since(*k)?)))
                .collect();
            (None, state, since)
        }
    };
    crate::log::emit(
        crate::log::Level::Info,
        &match &full_reason {
            Some(why) => format!("reading every element: {why}"),
            None => "reading what changed since the last run".to_string(),
        },
        &[],
    );
    let mut sync = Sync {
        client: client_for(http, settings),
        store,
        settings,
        page_size: or_default(settings.page_size, DEFAULT_PAGE_SIZE),
        pages_in_flight: or_default(settings.pages_in_flight, DEFAULT_PAGES_IN_FLIGHT)
            .min(MAX_PAGES_IN_FLIGHT),
        to_keep: Vec::new(),
        held: Vec::new(),
        since,
        probes: BTreeMap::new(),
        walks: BTreeMap::new(),
        gone: BTreeMap::new(),
        latest: BTreeMap::new(),
        state,
        service_types: BTreeMap::new(),
        with_clients: false,
        report: Report {
            kinds: ElementKind::ALL
                .iter()
                .map(|k| (*k, KindReport::default()))
                .collect(),
            full_reason,
            ..Report::default()
        },
    };
    let page_cap = sync.state.page_cap();
    sync.client.note_page_cap(page_cap);
    sync.all(project_name)?;
    let page_cap = sync.client.page_cap();
    sync.state.set_page_cap(page_cap);
    if !sync.held.is_empty() {
        return Err(RunError::RemovalsHeld(sync.held));
    }
    sync.report.requests = sync.client.traffic.requests;
    sync.report.retries = sync.client.traffic.retries;
    sync.report.state = sync.state.to_json();
    Ok(sync.report)
}

fn or_default(value: u32, default: u32) -> u32 {
    if value == 0 { default } else { value }
}

/// Whether a listing can be trusted as complete.
#[derive(Clone)]
enum Listed {
    Complete,
    Incomplete(String),
}

/// The route that lists a kind.
fn route(kind: ElementKind) -> &'static str {
    match kind {
        ElementKind::Project => "projects",
        ElementKind::Pole => "poles",
        ElementKind::Box => "boxes",
        ElementKind::Splitter => "splitters",
        ElementKind::Client => "ftth-clients",
        ElementKind::Property => "properties",
    }
}

/// Ids asked for at once (`id in [...]`): a URL stays well under what
/// servers and proxies take.
pub(crate) const IDS_PER_REQUEST: usize = 100;

/// Id-only listings ask for this many times the page size: rows are small.
const ID_PAGES_SCALE: u32 = 10;

struct Sync<'s, H: Http, S: ElementStore> {
    client: OzmapClient<H>,
    store: &'s mut S,
    settings: &'s Settings,
    page_size: u32,
    pages_in_flight: u32,
    /// Invalid records to keep at the next write, with their kind.
    to_keep: Vec<(ElementKind, InvalidElement)>,
    held: Vec<HeldRemoval>,
    /// Kinds read incrementally: changes from this instant (ms) on. A kind
    /// missing here is read whole.
    since: BTreeMap<ElementKind, i64>,
    /// Probes of a kind's ids read this run, by query.
    probes: BTreeMap<String, listing::Probe>,
    /// How many elements of a kind went, as the count of the ids up to the
    /// highest stored tells it before what changed is read
    /// (`count_before_changes`), with what the store held then.
    gone: BTreeMap<ElementKind, (u64, u32)>,
    /// Ranges of a walk of ids started early, by kind (`start_walk_early`).
    walks: BTreeMap<ElementKind, Vec<crate::ozmap::partitions::IdRange>>,
    /// The latest `updatedAt` read, per kind.
    latest: BTreeMap<ElementKind, i64>,
    /// What this run leaves for the next.
    state: SyncState,
    /// Splitter type id to its "allows client connection" flag.
    service_types: BTreeMap<String, bool>,
    /// Properties bring their clients (a project's clients are its
    /// properties' clients).
    with_clients: bool,
    report: Report,
}

impl<H: Http, S: ElementStore> Sync<'_, H, S> {
    fn all(&mut self, project_name: Option<&str>) -> Result<(), String> {
        // Every project's elements: their first requests go beside the
        // projects' own; one project's wait for its id.
        if project_name.is_none() {
            self.send_first_requests_ahead(&[], false);
        }
        let project = self.projects(project_name)?;
        // Poles carry no project: they belong to every project.
        let in_project: Vec<Value> = project
            .iter()
            .map(|id| condition("project", "=", json!(id)))
            .collect();
        if project.is_some() {
            self.send_first_requests_ahead(&in_project, true);
        }
        self.count_all_before_changes(&in_project, project.is_some())?;
        self.sync_kind(ElementKind::Pole, &[])?;
        self.sync_kind(ElementKind::Box, &in_project)?;
        if self.settings.reads(ElementKind::Splitter) {
            self.service_types = self.splitter_types()?;
            self.sync_kind(ElementKind::Splitter, &in_project)?;
        }
        match project {
            None => {
                self.sync_kind(ElementKind::Client, &[])?;
                self.sync_kind(ElementKind::Property, &[])?;
            }
            // Clients carry no project either: a project's clients are those
            // its properties hold, fetched alongside each page of properties.
            Some(_) if self.settings.reads(ElementKind::Property) => {
                self.project_properties(&in_project)?;
            }
            Some(_) => {}
        }
        Ok(())
    }

    /// One kind: whole, or what changed since its watermark. Whole, it is
    /// asked for in id order, the order of the store's keys: a host then
    /// writes a first sync's elements each after the last rather than
    /// anywhere in its indexes (ids made over years, or imported, come in
    /// any order otherwise). A platform that ignores the sort loses only
    /// that.
    fn sync_kind(&mut self, kind: ElementKind, scope: &[Value]) -> Result<(), String> {
        if !self.settings.reads(kind) {
            return Ok(());
        }
        match self.since.get(&kind).copied() {
            None => {
                self.state.recount(kind);
                self.state.start_highest(kind);
                let listing = self.id_listing(kind, scope, self.page_size, "")?;
                let listed =
                    self.for_each_range_page(listing, |sync, _, rows| sync.ingest(kind, rows))?;
                self.settle(kind, &listed);
                self.complete(kind, listed)
            }
            Some(since) => {
                self.count_before_changes(kind, scope)?;
                let listed =
                    self.changes(kind, scope, since, |sync, rows| sync.ingest(kind, rows))?;
                self.settle(kind, &listed);
                self.removals(kind, scope, false, false)
            }
        }
    }

    /// A project's properties and the clients they hold.
    fn project_properties(&mut self, in_project: &[Value]) -> Result<(), String> {
        let kind = ElementKind::Property;
        self.with_clients = self.settings.reads(ElementKind::Client);
        let since = self.since.get(&kind).copied();
        let clients_since = self.since.get(&ElementKind::Client).copied();
        match (since, clients_since) {
            (Some(since), Some(clients_since)) if self.with_clients => {
                self.count_before_changes(kind, in_project)?;
                let listed = self.changes(kind, in_project, since, |sync, rows| {
                    sync.ingest(kind, rows)
                })?;
                self.settle(kind, &listed);
                // A client changed on its own (its code, say) is the
                // project's when a property of the project holds it.
                let clients =
                    self.changes(ElementKind::Client, &[], clients_since, |sync, rows| {
                        sync.ingest_held_clients(rows)
                    })?;
                self.settle(ElementKind::Client, &clients);
                // A property that changed may hold another client now: the
                // one it left may have left the project.
                let changed = self.counts(kind).created + self.counts(kind).updated > 0;
                self.removals(kind, in_project, true, changed)
            }
            (Some(since), _) if !self.with_clients => {
                self.count_before_changes(kind, in_project)?;
                let listed = self.changes(kind, in_project, since, |sync, rows| {
                    sync.ingest(kind, rows)
                })?;
                self.settle(kind, &listed);
                self.removals(kind, in_project, false, false)
            }
            _ => {
                self.state.recount(kind);
                self.state.recount(ElementKind::Client);
                self.state.start_highest(kind);
                let listing = self.id_listing(kind, in_project, self.page_size, "")?;
                let listed =
                    self.for_each_range_page(listing, |sync, _, rows| sync.ingest(kind, rows))?;
                self.settle(kind, &listed);
                if self.with_clients {
                    let clients = match &listed {
                        Listed::Complete => Listed::Complete,
                        Listed::Incomplete(_) => Listed::Incomplete(
                            "the project's clients are those of its properties, whose listing was incomplete".into(),
                        ),
                    };
                    self.settle(ElementKind::Client, &clients);
                    self.complete(ElementKind::Client, clients)?;
                }
                self.complete(kind, listed)
            }
        }
    }

    /// Store a page of `kind`'s rows.
    fn ingest(&mut self, kind: ElementKind, rows: Vec<Row>) -> Result<(), String> {
        match kind {
            ElementKind::Project => {
                let projects = self.read(kind, &rows, records::project);
                self.write(kind, Batch::Projects(projects))
            }
            ElementKind::Pole => {
                let poles = self.read(kind, &rows, records::pole);
                self.write(kind, Batch::Poles(poles))
            }
            ElementKind::Box => {
                let boxes = self.read(kind, &rows, records::network_box);
                self.write(kind, Batch::Boxes(boxes))
            }
            ElementKind::Splitter => self.ingest_splitters(rows),
            ElementKind::Client => {
                let clients = self.read(kind, &rows, records::client);
                self.write(kind, Batch::Clients(clients))
            }
            ElementKind::Property => self.ingest_properties(rows),
        }
    }

    /// Every page of a listing, each handed to `handle` before the next is
    /// read; answers whether the listing can be trusted as complete.
    fn for_each_page(
        &mut self,
        pager: Pager,
        mut handle: impl FnMut(&mut Self, Vec<Row>) -> Result<(), String>,
    ) -> Result<Listed, String> {
        let mut pager = pager.in_flight(self.pages_in_flight);
        while let Some(rows) = pager.next(&mut self.client)? {
            handle(self, rows)?;
        }
        Ok(match pager.incomplete() {
            None => Listed::Complete,
            Some(why) => Listed::Incomplete(why.to_string()),
        })
    }

    /// What changed of `kind` since `since` (ms), oldest first.
    fn changes(
        &mut self,
        kind: ElementKind,
        scope: &[Value],
        since: i64,
        handle: impl FnMut(&mut Self, Vec<Row>) -> Result<(), String>,
    ) -> Result<Listed, String> {
        let pager = self.changes_pager(kind, scope, since);
        self.for_each_page(pager, handle)
    }

    /// The listing of what changed of `kind` since `since` (ms).
    fn changes_pager(&self, kind: ElementKind, scope: &[Value], since: i64) -> Pager {
        let mut filter = scope.to_vec();
        filter.push(condition(
            "updatedAt",
            ">=",
            json!(watermark::format_instant(since)),
        ));
        Pager::new(route(kind), &filter, self.page_size).sorted(&[
            json!({"property": "updatedAt", "direction": 1}),
            json!({"property": "id", "direction": 1}),
        ])
    }

    /// Have sent ahead, together as far as the window allows and the rest
    /// as it frees, the first request of each listing the run makes next
    /// (what changed, the probes of each kind's ids, the splitter types),
    /// so that their round trips overlap rather than add up; each listing
    /// takes its answer when it gets there.
    fn send_first_requests_ahead(&mut self, in_project: &[Value], project: bool) {
        for (kind, scope) in self.listed_kinds(in_project, project) {
            if kind == ElementKind::Splitter {
                // The splitters' catalogue, read just before them.
                Pager::new("splitter-types", &[], self.page_size).want_next(&mut self.client);
            }
            match self.since.get(&kind).copied() {
                Some(since) => {
                    self.changes_pager(kind, &scope, since)
                        .want_next(&mut self.client);
                    // A project's clients are counted through its properties.
                    if !(project && kind == ElementKind::Client) {
                        self.want_count(kind, &scope);
                        self.want_probe(kind, &scope, true);
                    }
                }
                None if !(project && kind == ElementKind::Client) => {
                    self.want_probe(kind, &scope, true);
                    self.want_probe(kind, &scope, false);
                }
                None => {}
            }
        }
    }

    /// Before any kind is read: how many of each kind read incrementally
    /// went (see `count_before_changes`), so that the walks that find them
    /// start at once and follow one another without a pause.
    fn count_all_before_changes(
        &mut self,
        in_project: &[Value],
        project: bool,
    ) -> Result<(), String> {
        for (kind, scope) in self.listed_kinds(in_project, project) {
            if self.since.contains_key(&kind) && !(project && kind == ElementKind::Client) {
                self.count_before_changes(kind, &scope)?;
            }
        }
        Ok(())
    }

    /// The kinds the run lists, in order, each with its scope.
    fn listed_kinds(&self, in_project: &[Value], project: bool) -> Vec<(ElementKind, Vec<Value>)> {
        let mut kinds = vec![(ElementKind::Pole, Vec::new())];
        kinds.push((ElementKind::Box, in_project.to_vec()));
        kinds.push((ElementKind::Splitter, in_project.to_vec()));
        if project {
            kinds.push((ElementKind::Property, in_project.to_vec()));
            if self.settings.reads(ElementKind::Property) {
                kinds.push((ElementKind::Client, Vec::new()));
            }
        } else {
            kinds.push((ElementKind::Client, Vec::new()));
            kinds.push((ElementKind::Property, Vec::new()));
        }
        kinds.retain(|(kind, _)| self.settings.reads(*kind));
        kinds
    }

    /// The listing of `kind` was read: its watermark moves to the latest
    /// change read, when the listing can be trusted.
    fn settle(&mut self, kind: ElementKind, listed: &Listed) {
        if let Listed::Complete = listed {
            let mut latest = self.latest.get(&kind).copied();
            if kind == ElementKind::Client && self.with_clients {
                // Read through properties: every change the properties'
                // listing saw is behind it too.
                latest = latest.max(self.latest.get(&ElementKind::Property).copied());
            }
            self.state.advance(kind, latest);
        }
    }

    /// Clients that changed: those a stored or read property holds are
    /// the project's, and stored.
    fn ingest_held_clients(&mut self, mut rows: Vec<Row>) -> Result<(), String> {
        self.note_latest(ElementKind::Client, &rows);
        let ids: Vec<String> = rows.iter().filter_map(records::id_of).collect();
        let held: BTreeSet<String> = self
            .store
            .known(ElementKind::Client, &ids)?
            .into_iter()
            .collect();
        rows.retain(|row| records::id_of(row).is_some_and(|id| held.contains(&id)));
        self.ingest(ElementKind::Client, rows)
    }

    /// Normalise rows, setting aside (and reporting) those that break the schema.
    fn read<T>(
        &mut self,
        kind: ElementKind,
        rows: &[Row],
        reader: impl Fn(&Row) -> Reading<T>,
    ) -> Vec<T> {
        self.note_latest(kind, rows);
        rows.iter()
            .filter_map(|row| {
                reader(row)
                    .map_err(|reason| self.invalid(kind, records::id_of(row), reason))
                    .ok()
            })
            .collect()
    }

    /// The latest `updatedAt` among these rows of `kind`, for its watermark.
    fn note_latest(&mut self, kind: ElementKind, rows: &[Row]) {
        let latest = rows
            .iter()
            .filter_map(|row| watermark::parse_instant(row.get("updatedAt")?.as_str()?))
            .max();
        if let Some(latest) = latest {
            let at = self.latest.entry(kind).or_insert(latest);
            *at = (*at).max(latest);
        }
    }

    /// Report a record that breaks the schema; one that has an id is kept
    /// as stored, if it was, at the next write.
    fn invalid(&mut self, kind: ElementKind, id: Option<String>, reason: String) {
        self.counts(kind).invalid += 1;
        if id.is_none() {
            *self.state.anonymous(kind) += 1;
        }
        if let Some(id) = &id {
            self.to_keep.push((
                kind,
                InvalidElement {
                    id: id.clone(),
                    reason: reason.clone(),
                },
            ));
        }
        self.report.invalid.push(InvalidRecord { kind, id, reason });
    }

    fn counts(&mut self, kind: ElementKind) -> &mut KindReport {
        self.report.kinds.entry(kind).or_default()
    }

    fn write(&mut self, kind: ElementKind, batch: Batch) -> Result<(), String> {
        self.keep_invalid()?;
        if batch.is_empty() {
            return Ok(());
        }
        let unstored = self.state.unstored(kind);
        if !unstored.is_empty() {
            for id in batch.ids() {
                unstored.remove(id);
            }
        }
        if let Some(highest) = batch.ids().into_iter().max() {
            self.state.stored_up_to(kind, highest);
        }
        let outcome = self
            .store
            .write_batch(batch)
            .map_err(|e| format!("storing {}s: {e}", kind.as_str()))?;
        let report = self.counts(kind);
        report.created += outcome.created;
        report.updated += outcome.updated;
        report.unchanged += outcome.unchanged;
        Ok(())
    }

    /// An invalid record is not a removed one: the store keeps what it had.
    fn keep_invalid(&mut self) -> Result<(), String> {
        let mut pending = std::mem::take(&mut self.to_keep);
        while let Some((kind, _)) = pending.first() {
            let kind = *kind;
            let (these, rest): (Vec<_>, Vec<_>) =
                pending.into_iter().partition(|(k, _)| *k == kind);
            pending = rest;
            let elements: Vec<InvalidElement> = these.into_iter().map(|(_, e)| e).collect();
            let kept = self
                .store
                .keep_invalid(kind, &elements)
                .map_err(|e| format!("keeping invalid {}s: {e}", kind.as_str()))?;
            self.counts(kind).kept += kept;
            // Those the store does not hold count on the platform's side only.
            let ids: Vec<String> = elements.into_iter().map(|e| e.id).collect();
            let held = if kept == 0 {
                Vec::new()
            } else {
                self.store.known(kind, &ids)?
            };
            let unstored = self.state.unstored(kind);
            for id in ids {
                if !held.contains(&id) {
                    unstored.insert(id);
                }
            }
        }
        Ok(())
    }

    /// Remove what a listing did not see, when the listing is complete and
    /// the removals stay within the guard.
    fn complete(&mut self, kind: ElementKind, listed: Listed) -> Result<(), String> {
        self.sweep(kind, listed, None)
    }

    /// Remove what a complete listing did not see (`gone`: what the run
    /// found gone itself, already marked), within the guard.
    fn sweep(
        &mut self,
        kind: ElementKind,
        listed: Listed,
        gone: Option<Sweep>,
    ) -> Result<(), String> {
        self.keep_invalid()?;
        if let Listed::Incomplete(reason) = listed {
            crate::log::emit(
                crate::log::Level::Warn,
                &format!("the listing is incomplete, so nothing is removed: {reason}"),
                &[("kind", kind.as_str())],
            );
            self.report.incomplete.push(IncompleteKind { kind, reason });
            return Ok(());
        }
        let sweep = match gone {
            Some(sweep) => sweep,
            None => self
                .store
                .complete_kind(kind)
                .map_err(|e| format!("sweeping {}s: {e}", kind.as_str()))?,
        };
        let percent = u64::from(self.settings.max_removal_percent.min(100));
        if !self.settings.allow_removals
            && sweep.removed >= REMOVALS_NEVER_HELD_BELOW
            && u64::from(sweep.removed) * 100 > percent * u64::from(sweep.stored)
        {
            self.held.push(HeldRemoval {
                kind,
                removed: sweep.removed,
                stored: sweep.stored,
            });
        }
        let r = self.counts(kind);
        r.removed = sweep.removed;
        let r = *r;
        let counts = [
            r.created,
            r.updated,
            r.unchanged,
            r.removed,
            r.invalid,
            r.kept,
        ]
        .map(|n| n.to_string());
        crate::log::emit(
            crate::log::Level::Info,
            &format!(
                "{}: {} created, {} updated, {} unchanged, {} removed, {} invalid ({} kept)",
                kind.as_str(),
                counts[0],
                counts[1],
                counts[2],
                counts[3],
                counts[4],
                counts[5]
            ),
            &[
                ("kind", kind.as_str()),
                ("created", &counts[0]),
                ("updated", &counts[1]),
                ("unchanged", &counts[2]),
                ("removed", &counts[3]),
                ("invalid", &counts[4]),
                ("kept", &counts[5]),
            ],
        );
        Ok(())
    }

    /// All projects, or only the one named exactly; answers its id.
    fn projects(&mut self, wanted: Option<&str>) -> Result<Option<String>, String> {
        let mut others = Vec::new();
        let mut found = None;
        let pager = Pager::new(route(ElementKind::Project), &[], self.page_size);
        let listed = self.for_each_page(pager, |sync, rows| {
            let mut projects = sync.read(ElementKind::Project, &rows, records::project);
            if let Some(wanted) = wanted {
                projects.retain(|p| p.name == wanted || (others.push(p.name.clone()), false).1);
                found = found
                    .take()
                    .or_else(|| projects.first().map(|p| p.id.clone()));
            }
            sync.write(ElementKind::Project, Batch::Projects(projects))
        })?;
        if let Some(wanted) = wanted
            && found.is_none()
        {
            others.sort();
            others.dedup();
            let names = if others.is_empty() {
                "none".to_string()
            } else {
                others
                    .iter()
                    .map(|n| format!("{n:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            return Err(format!(
                "no project on the platform is named exactly {wanted:?} (case and spaces count); projects that exist: {names}"
            ));
        }
        self.complete(ElementKind::Project, listed)?;
        Ok(found)
    }

    /// Splitters, each kept only when its box is held: one read this run
    /// when boxes were read whole, else one stored or read.
    fn ingest_splitters(&mut self, rows: Vec<Row>) -> Result<(), String> {
        let types = std::mem::take(&mut self.service_types);
        let splitters = self.read(ElementKind::Splitter, &rows, |r| {
            records::splitter(r, |t| types.get(t).copied())
        });
        self.service_types = types;
        let boxes: Vec<String> = splitters.iter().map(|s| s.box_id.clone()).collect();
        let known = if self.since.contains_key(&ElementKind::Box) {
            self.store.known(ElementKind::Box, &boxes)?
        } else {
            self.store.seen(ElementKind::Box, &boxes)?
        };
        let known: BTreeSet<String> = known.into_iter().collect();
        let mut valid = Vec::with_capacity(splitters.len());
        for splitter in splitters {
            if known.contains(&splitter.box_id) {
                valid.push(splitter);
            } else {
                let reason = format!(
                    "its box {} is not among the synchronised boxes",
                    splitter.box_id
                );
                self.invalid(ElementKind::Splitter, Some(splitter.id), reason);
            }
        }
        self.write(ElementKind::Splitter, Batch::Splitters(valid))
    }

    /// The splitter-type catalogue's "allows client connection" flags, for
    /// splitters that do not carry `isDrop` themselves. A small catalogue.
    fn splitter_types(&mut self) -> Result<BTreeMap<String, bool>, String> {
        let mut service = BTreeMap::new();
        let pager = Pager::new("splitter-types", &[], self.page_size);
        self.for_each_page(pager, |_, rows| {
            for row in rows {
                if let (Some(id), Some(is_drop)) = (
                    records::id_of(&row),
                    row.get("isDrop").and_then(Value::as_bool),
                ) {
                    service.insert(id, is_drop);
                }
            }
            Ok(())
        })?;
        Ok(service)
    }

    /// A page of properties; with `with_clients`, the clients they hold
    /// are fetched and stored with it.
    fn ingest_properties(&mut self, rows: Vec<Row>) -> Result<(), String> {
        let read = self.read(ElementKind::Property, &rows, records::property);
        let (mut properties, embedded): (Vec<Property>, Vec<Option<Client>>) =
            read.into_iter().unzip();
        if self.with_clients {
            let clients = self.clients_of(&properties, embedded.into_iter().flatten().collect())?;
            let codes: BTreeMap<&str, &str> = clients
                .iter()
                .filter_map(|c| Some((c.id.as_str(), c.code.as_deref()?)))
                .collect();
            for property in &mut properties {
                if let Some(code) = property.client.as_deref().and_then(|id| codes.get(id)) {
                    property.client_code = Some(code.to_string());
                }
            }
            self.write(ElementKind::Client, Batch::Clients(clients))?;
        }
        self.write(ElementKind::Property, Batch::Properties(properties))
    }

    /// The clients these properties hold and this run has not stored yet:
    /// those sent whole, and the rest fetched by id.
    fn clients_of(
        &mut self,
        properties: &[Property],
        mut clients: Vec<Client>,
    ) -> Result<Vec<Client>, String> {
        let mut wanted: Vec<String> = properties.iter().filter_map(|p| p.client.clone()).collect();
        wanted.sort();
        wanted.dedup();
        let seen: BTreeSet<String> = self
            .store
            .seen(ElementKind::Client, &wanted)?
            .into_iter()
            .collect();
        clients.retain(|c| !seen.contains(&c.id));
        let missing: Vec<String> = wanted
            .into_iter()
            .filter(|id| !seen.contains(id) && !clients.iter().any(|c| &c.id == id))
            .collect();
        if !missing.is_empty() {
            let filter = [condition("id", "in", json!(missing))];
            let pager = Pager::new(route(ElementKind::Client), &filter, self.page_size);
            self.for_each_page(pager, |sync, rows| {
                clients.extend(sync.read(ElementKind::Client, &rows, records::client));
                Ok(())
            })?;
        }
        let mut unique = BTreeSet::new();
        clients.retain(|c| unique.insert(c.id.clone()));
        Ok(clients)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The guard's message names each kind as many (it said "boxs" and
    /// "propertys").
    #[test]
    fn held_removals_name_their_kinds_in_the_plural() {
        let held = |kind| HeldRemoval {
            kind,
            removed: 12,
            stored: 40,
        };
        let told =
            RunError::RemovalsHeld(vec![held(ElementKind::Box), held(ElementKind::Property)])
                .to_string();
        assert!(
            told.contains("12 of 40 stored boxes (30.0 %), 12 of 40 stored properties"),
            "{told}"
        );
    }
}
