//! One synchronisation: read the platform kind by kind, page by page, into
//! the store, and account for every record.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use serde_json::{Value, json};

use crate::http::Http;
use crate::model::{Batch, Client, ElementKind, Property};
use crate::ozmap::client::{Credentials, OzmapClient, Pager, condition};
use crate::ozmap::records::{self, Reading};
use crate::retry::RetryPolicy;
use crate::store::ElementStore;

pub const DEFAULT_PAGE_SIZE: u32 = 500;
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

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
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KindReport {
    pub created: u32,
    pub updated: u32,
    pub unchanged: u32,
    pub removed: u32,
    pub invalid: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidRecord {
    pub kind: ElementKind,
    pub id: Option<String>,
    pub reason: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub kinds: BTreeMap<ElementKind, KindReport>,
    pub invalid: Vec<InvalidRecord>,
    pub requests: u32,
    pub retries: u32,
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
}

/// Run a synchronisation. On `Err` the host rolls the store back.
pub fn run<H: Http, S: ElementStore>(
    http: H,
    store: &mut S,
    settings: &Settings,
) -> Result<Report, String> {
    let mut sync = Sync {
        client: client_for(http, settings),
        store,
        page_size: or_default(settings.page_size, DEFAULT_PAGE_SIZE),
        report: Report {
            kinds: ElementKind::ALL
                .iter()
                .map(|k| (*k, KindReport::default()))
                .collect(),
            ..Report::default()
        },
    };
    let result = sync.all(settings.project_name.as_deref());
    sync.report.requests = sync.client.traffic.requests;
    sync.report.retries = sync.client.traffic.retries;
    result.map(|()| sync.report)
}

fn or_default(value: u32, default: u32) -> u32 {
    if value == 0 { default } else { value }
}

struct Sync<'s, H: Http, S: ElementStore> {
    client: OzmapClient<H>,
    store: &'s mut S,
    page_size: u32,
    report: Report,
}

impl<H: Http, S: ElementStore> Sync<'_, H, S> {
    fn all(&mut self, project_name: Option<&str>) -> Result<(), String> {
        let project = self.projects(project_name)?;
        // Poles carry no project: they belong to every project.
        self.simple_kind(ElementKind::Pole, "poles", &[], records::pole, Batch::Poles)?;
        let in_project: Vec<Value> = project
            .iter()
            .map(|id| condition("project", "=", json!(id)))
            .collect();
        self.simple_kind(
            ElementKind::Box,
            "boxes",
            &in_project,
            records::network_box,
            Batch::Boxes,
        )?;
        self.splitters(&in_project)?;
        match project {
            None => {
                self.simple_kind(
                    ElementKind::Client,
                    "ftth-clients",
                    &[],
                    records::client,
                    Batch::Clients,
                )?;
                self.properties(&[], false)?;
            }
            // Clients carry no project either: a project's clients are those
            // its properties hold, fetched alongside each page of properties.
            Some(_) => {
                self.properties(&in_project, true)?;
                self.complete(ElementKind::Client)?;
            }
        }
        self.complete(ElementKind::Property)
    }

    /// Every page of `route`, each handed to `handle` before the next is read.
    fn for_each_page(
        &mut self,
        route: &str,
        filter: &[Value],
        mut handle: impl FnMut(&mut Self, Vec<Value>) -> Result<(), String>,
    ) -> Result<(), String> {
        let mut pager = Pager::new(route, filter, self.page_size);
        while let Some(rows) = pager.next(&mut self.client)? {
            handle(self, rows)?;
        }
        Ok(())
    }

    /// Normalise rows, setting aside (and reporting) those that break the schema.
    fn read<T>(
        &mut self,
        kind: ElementKind,
        rows: &[Value],
        reader: impl Fn(&Value) -> Reading<T>,
    ) -> Vec<T> {
        rows.iter()
            .filter_map(|row| {
                reader(row)
                    .map_err(|reason| self.invalid(kind, row, reason))
                    .ok()
            })
            .collect()
    }

    fn invalid(&mut self, kind: ElementKind, row: &Value, reason: String) {
        self.kind(kind).invalid += 1;
        self.report.invalid.push(InvalidRecord {
            kind,
            id: records::id_of(row),
            reason,
        });
    }

    fn kind(&mut self, kind: ElementKind) -> &mut KindReport {
        self.report.kinds.entry(kind).or_default()
    }

    fn write(&mut self, kind: ElementKind, batch: Batch) -> Result<(), String> {
        if batch.is_empty() {
            return Ok(());
        }
        let outcome = self
            .store
            .write_batch(batch)
            .map_err(|e| format!("storing {}s: {e}", kind.as_str()))?;
        let report = self.kind(kind);
        report.created += outcome.created;
        report.updated += outcome.updated;
        report.unchanged += outcome.unchanged;
        Ok(())
    }

    fn complete(&mut self, kind: ElementKind) -> Result<(), String> {
        let removed = self
            .store
            .complete_kind(kind)
            .map_err(|e| format!("sweeping {}s: {e}", kind.as_str()))?;
        let r = self.kind(kind);
        r.removed = removed;
        let r = *r;
        crate::log::info!(
            "{}: {} created, {} updated, {} unchanged, {} removed, {} invalid",
            kind.as_str(),
            r.created,
            r.updated,
            r.unchanged,
            r.removed,
            r.invalid
        );
        Ok(())
    }

    fn simple_kind<T>(
        &mut self,
        kind: ElementKind,
        route: &str,
        filter: &[Value],
        reader: fn(&Value) -> Reading<T>,
        batch: fn(Vec<T>) -> Batch,
    ) -> Result<(), String> {
        self.for_each_page(route, filter, |sync, rows| {
            let elements = sync.read(kind, &rows, reader);
            sync.write(kind, batch(elements))
        })?;
        self.complete(kind)
    }

    /// All projects, or only the one named exactly; answers its id.
    fn projects(&mut self, wanted: Option<&str>) -> Result<Option<String>, String> {
        let mut others = Vec::new();
        let mut found = None;
        self.for_each_page("projects", &[], |sync, rows| {
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
        self.complete(ElementKind::Project)?;
        Ok(found)
    }

    fn splitters(&mut self, in_project: &[Value]) -> Result<(), String> {
        let service_types = self.splitter_types()?;
        self.for_each_page("splitters", in_project, |sync, rows| {
            let splitters = sync.read(ElementKind::Splitter, &rows, |r| {
                records::splitter(r, |t| service_types.get(t).copied())
            });
            let boxes: Vec<String> = splitters.iter().map(|s| s.box_id.clone()).collect();
            let known: HashSet<String> = sync
                .store
                .seen(ElementKind::Box, &boxes)?
                .into_iter()
                .collect();
            let mut valid = Vec::with_capacity(splitters.len());
            for splitter in splitters {
                if known.contains(&splitter.box_id) {
                    valid.push(splitter);
                } else {
                    sync.kind(ElementKind::Splitter).invalid += 1;
                    sync.report.invalid.push(InvalidRecord {
                        kind: ElementKind::Splitter,
                        reason: format!(
                            "its box {} is not among the synchronised boxes",
                            splitter.box_id
                        ),
                        id: Some(splitter.id),
                    });
                }
            }
            sync.write(ElementKind::Splitter, Batch::Splitters(valid))
        })?;
        self.complete(ElementKind::Splitter)
    }

    /// The splitter-type catalogue's "allows client connection" flags, for
    /// splitters that do not carry `isDrop` themselves. A small catalogue.
    fn splitter_types(&mut self) -> Result<HashMap<String, bool>, String> {
        let mut service = HashMap::new();
        self.for_each_page("splitter-types", &[], |_, rows| {
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

    /// Properties page by page; with `with_clients`, each page's clients are
    /// fetched and stored with it.
    fn properties(&mut self, in_project: &[Value], with_clients: bool) -> Result<(), String> {
        self.for_each_page("properties", in_project, |sync, rows| {
            let read = sync.read(ElementKind::Property, &rows, records::property);
            let (mut properties, embedded): (Vec<Property>, Vec<Option<Client>>) =
                read.into_iter().unzip();
            if with_clients {
                let clients =
                    sync.clients_of(&properties, embedded.into_iter().flatten().collect())?;
                let codes: HashMap<&str, &str> = clients
                    .iter()
                    .filter_map(|c| Some((c.id.as_str(), c.code.as_deref()?)))
                    .collect();
                for property in &mut properties {
                    if let Some(code) = property.client.as_deref().and_then(|id| codes.get(id)) {
                        property.client_code = Some(code.to_string());
                    }
                }
                sync.write(ElementKind::Client, Batch::Clients(clients))?;
            }
            sync.write(ElementKind::Property, Batch::Properties(properties))
        })
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
        let seen: HashSet<String> = self
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
            self.for_each_page("ftth-clients", &filter, |sync, rows| {
                clients.extend(sync.read(ElementKind::Client, &rows, records::client));
                Ok(())
            })?;
        }
        let mut unique = HashSet::new();
        clients.retain(|c| unique.insert(c.id.clone()));
        Ok(clients)
    }
}
