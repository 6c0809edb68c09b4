//! The bindings layer: the WIT world's imports and exports mapped onto the
//! plain modules, and nothing else.

use std::time::Duration;

use crate::http::{FetchError, Http, Method, Request, Response, Started};
use crate::ledger::Ledger;
use crate::model::{self, Batch, ElementKind};
use crate::ozmap::client::Credentials;
use crate::store::{Entry, Mark, Staged, Storage, Stored};
use crate::{matching, push, sync};

wit_bindgen::generate!({
    world: "integration",
    path: "../wit",
});

use exports::mapsync::integration::binding as wit_binding;
use exports::mapsync::integration::matching as wit_matching;
use exports::mapsync::integration::sync as wit_sync;
use mapsync::integration::{
    clock as wit_clock, element_store as wit_store, http_fetch as wit_http, log as wit_log,
    types as wit,
};

struct Component;

export!(Component);

/// A line for the host's log (see `crate::log`).
pub(crate) fn log(level: crate::log::Level, message: &str, fields: &[(&str, &str)]) {
    let level = match level {
        crate::log::Level::Debug => wit_log::Level::Debug,
        crate::log::Level::Info => wit_log::Level::Info,
        crate::log::Level::Warn => wit_log::Level::Warn,
        crate::log::Level::Error => wit_log::Level::Error,
    };
    let fields: Vec<(String, String)> = fields
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    wit_log::log(level, message, &fields);
}

/// A panic traps the component (the target aborts on panic) and the trap
/// itself says only "unreachable": the hook first tells the host what
/// panicked and where, as an `error` line. Set at every export's entry,
/// since each call may be a fresh instance.
/// The logic's lines go to the host's `log` import from here on.
fn on_entry() {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        crate::log::set_sink(log);
        std::panic::set_hook(Box::new(|info| {
            log(
                crate::log::Level::Error,
                &crate::log::panic_message(info),
                &[],
            )
        }))
    });
}

fn settings_from_wit(settings: wit_sync::Settings) -> sync::Settings {
    sync::Settings {
        credentials: Credentials {
            api_url: settings.api_url,
            api_key: settings.api_key,
            user: settings.user,
            password: settings.password,
        },
        project_name: settings.project_name,
        page_size: settings.page_size,
        max_attempts: settings.max_attempts,
        timeout_ms: settings.timeout_ms,
        pages_in_flight: settings.pages_in_flight,
        requests_per_second: settings.requests_per_second,
        switched_off: settings
            .switched_off
            .into_iter()
            .map(kind_from_wit)
            .collect(),
        max_removal_percent: settings.max_removal_percent,
        allow_removals: settings.allow_removals,
        state: settings.state,
        full: settings.full,
        full_every_hours: settings.full_every_hours,
    }
}

impl wit_binding::Guest for Component {
    fn push(
        settings: wit_sync::Settings,
        binding: wit_binding::PortBinding,
    ) -> Result<wit_binding::Pushed, wit_binding::PushError> {
        on_entry();
        push::run(
            ImportedHttp,
            &settings_from_wit(settings),
            &binding_from_wit(binding),
        )
        .map(pushed_to_wit)
        .map_err(push_error_to_wit)
    }

    fn push_to_client(
        settings: wit_sync::Settings,
        binding: wit_binding::PortBinding,
        client: String,
    ) -> Result<wit_binding::Pushed, wit_binding::PushError> {
        on_entry();
        let binding = binding_from_wit(binding);
        push::run_to_client(
            ImportedHttp,
            &settings_from_wit(settings),
            &binding,
            &client,
        )
        .map(pushed_to_wit)
        .map_err(push_error_to_wit)
    }

    fn move_property(
        settings: wit_sync::Settings,
        binding: wit_binding::PortBinding,
        property: String,
        client: Option<String>,
    ) -> Result<wit_binding::Pushed, wit_binding::PushError> {
        on_entry();
        push::run_move(
            ImportedHttp,
            &settings_from_wit(settings),
            &binding_from_wit(binding),
            &property,
            client.as_deref(),
        )
        .map(pushed_to_wit)
        .map_err(push_error_to_wit)
    }

    fn withdraw(
        settings: wit_sync::Settings,
        code: String,
    ) -> Result<Vec<String>, wit_binding::PushError> {
        on_entry();
        push::run_withdraw(ImportedHttp, &settings_from_wit(settings), &code)
            .map_err(push_error_to_wit)
    }

    fn delete_property(
        settings: wit_sync::Settings,
        property: String,
    ) -> Result<(), wit_binding::PushError> {
        on_entry();
        push::run_delete(ImportedHttp, &settings_from_wit(settings), &property)
            .map_err(push_error_to_wit)
    }
}

fn binding_from_wit(binding: wit_binding::PortBinding) -> push::PortBinding {
    let c = binding.customer;
    push::PortBinding {
        project: binding.project,
        box_id: binding.box_,
        splitter: binding.splitter,
        port: binding.port,
        customer: push::Customer {
            code: c.code,
            name: c.name,
            observation: c.observation,
            pppoe_login: c.pppoe_login,
            onu_serial: c.onu_serial,
            onu_mac: c.onu_mac,
            position: c.position.map(position_from_wit),
            address: c.address,
        },
    }
}

fn pushed_to_wit(p: push::Pushed) -> wit_binding::Pushed {
    wit_binding::Pushed {
        client: p.client,
        property: p.property,
        created_property: p.created_property,
    }
}

fn position_from_wit(p: wit::Position) -> model::Position {
    model::Position {
        lat: p.lat,
        lng: p.lng,
    }
}

fn connection_from_wit(c: wit::Connection) -> model::Connection {
    model::Connection {
        splitter: c.splitter,
        port: c.port,
    }
}

fn connection_to_wit(c: model::Connection) -> wit::Connection {
    wit::Connection {
        splitter: c.splitter,
        port: c.port,
    }
}

impl wit_matching::Guest for Component {
    fn identify(
        services: Vec<wit_matching::Service>,
        clients: Vec<wit_matching::PlatformClient>,
    ) -> wit_matching::Identification {
        on_entry();
        let services: Vec<matching::Service> = services.into_iter().map(service_from_wit).collect();
        let clients: Vec<matching::PlatformClient> =
            clients.into_iter().map(client_from_wit).collect();
        let found = matching::identify(&services, &clients);
        wit_matching::Identification {
            identified: found
                .identified
                .into_iter()
                .map(|i| wit_matching::Identified {
                    service: i.service,
                    client: i.client,
                    property: i.property,
                    connection: i.connection.map(connection_to_wit),
                })
                .collect(),
            clients_without_code: found.clients_without_code,
            codes_without_service: found.codes_without_service,
            services_without_client: found.services_without_client,
        }
    }

    fn suggest(
        services: Vec<wit_matching::Service>,
        clients: Vec<wit_matching::PlatformClient>,
        rejected: Vec<(String, String)>,
        min_score: f64,
    ) -> Vec<wit_matching::Suggestion> {
        on_entry();
        let services: Vec<matching::Service> = services.into_iter().map(service_from_wit).collect();
        let clients: Vec<matching::PlatformClient> =
            clients.into_iter().map(client_from_wit).collect();
        let rejected = rejected.into_iter().collect();
        matching::review(services, clients, &rejected, min_score)
            .into_iter()
            .map(|s| wit_matching::Suggestion {
                service: s.service,
                client: s.client,
                score: s.score,
                agreed: s.agreed.into_iter().map(str::to_string).collect(),
                name_similarity: s.name_similarity,
                distance_m: s.distance_m,
                reasons: s.reasons,
            })
            .collect()
    }
}

fn service_from_wit(s: wit_matching::Service) -> matching::Service {
    matching::Service {
        id: s.id,
        name: s.name,
        document: s.document,
        pppoe_login: s.pppoe_login,
        onu_serial: s.onu_serial,
        position: s.position.map(position_from_wit),
    }
}

fn client_from_wit(c: wit_matching::PlatformClient) -> matching::PlatformClient {
    matching::PlatformClient {
        id: c.id,
        code: c.code,
        name: c.name,
        observation: c.observation,
        pppoe_login: c.pppoe_login,
        onu_serial: c.onu_serial,
        property: c.property,
        position: c.position.map(position_from_wit),
        connection: c.connection.map(connection_from_wit),
    }
}

fn push_error_to_wit(error: push::PushError) -> wit_binding::PushError {
    match error {
        push::PushError::Transient(why) => wit_binding::PushError::Transient(why),
        push::PushError::Refused(why) => wit_binding::PushError::Refused(why),
    }
}

impl wit_sync::Guest for Component {
    fn check(settings: wit_sync::Settings) -> Vec<wit_sync::CheckStep> {
        on_entry();
        crate::check::run(ImportedHttp, &settings_from_wit(settings))
            .into_iter()
            .map(|s| wit_sync::CheckStep {
                step: s.step.to_string(),
                ok: s.ok,
                detail: s.detail,
            })
            .collect()
    }

    fn run(settings: wit_sync::Settings) -> Result<wit_sync::Report, wit_sync::RunError> {
        on_entry();
        let settings = settings_from_wit(settings);
        let report =
            sync::run(ImportedHttp, &mut Ledger::new(ImportedStore), &settings).map_err(|e| {
                let message = e.to_string();
                match e {
                    sync::RunError::Failed(why) => wit_sync::RunError::Failed(why),
                    sync::RunError::RemovalsHeld(held) => {
                        wit_sync::RunError::RemovalsHeld(wit_sync::HeldRemovals {
                            kinds: held
                                .into_iter()
                                .map(|h| wit_sync::HeldRemoval {
                                    kind: kind_to_wit(h.kind),
                                    removed: h.removed,
                                    stored: h.stored,
                                })
                                .collect(),
                            message,
                        })
                    }
                }
            })?;
        Ok(wit_sync::Report {
            kinds: report
                .kinds
                .into_iter()
                .map(|(kind, r)| wit_sync::KindReport {
                    kind: kind_to_wit(kind),
                    created: r.created,
                    updated: r.updated,
                    unchanged: r.unchanged,
                    removed: r.removed,
                    invalid: r.invalid,
                    kept: r.kept,
                })
                .collect(),
            invalid: report
                .invalid
                .into_iter()
                .map(|i| wit_sync::InvalidRecord {
                    kind: kind_to_wit(i.kind),
                    id: i.id,
                    reason: i.reason,
                })
                .collect(),
            incomplete: report
                .incomplete
                .into_iter()
                .map(|i| wit_sync::IncompleteKind {
                    kind: kind_to_wit(i.kind),
                    reason: i.reason,
                })
                .collect(),
            requests: report.requests,
            retries: report.retries,
            full_reason: report.full_reason,
            state: report.state,
        })
    }
}

struct ImportedHttp;

fn request_to_wit(request: Request) -> wit_http::Request {
    wit_http::Request {
        method: match request.method {
            Method::Get => wit_http::Method::Get,
            Method::Post => wit_http::Method::Post,
            Method::Put => wit_http::Method::Put,
            Method::Patch => wit_http::Method::Patch,
            Method::Delete => wit_http::Method::Delete,
        },
        url: request.url,
        headers: request.headers,
        // The component's own JSON, so UTF-8 already.
        body: request.body.map(|b| {
            String::from_utf8(b)
                .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
        }),
        timeout_ms: request.timeout.as_millis().min(u32::MAX as u128) as u32,
    }
}

fn answer_from_wit(
    answer: Result<wit_http::Response, wit_http::FetchError>,
) -> Result<Response, FetchError> {
    match answer {
        Ok(r) => Ok(Response {
            status: r.status,
            headers: r.headers,
            body: r.body.into_bytes(),
        }),
        Err(e) => Err(match e {
            wit_http::FetchError::Denied(why) => FetchError::Denied(why),
            wit_http::FetchError::Timeout => FetchError::Timeout,
            wit_http::FetchError::ConnectionRefused => FetchError::ConnectionRefused,
            wit_http::FetchError::ConnectionReset => FetchError::ConnectionReset,
            wit_http::FetchError::Tls(why) => FetchError::Tls(why),
            wit_http::FetchError::Other(why) => FetchError::Other(why),
        }),
    }
}

/// A request under way at the host (the WIT `pending`).
struct PendingAnswer(wit_http::Pending);

impl crate::http::Answer for PendingAnswer {
    fn ready(&mut self) -> bool {
        self.0.ready()
    }
    fn wait(self: Box<Self>) -> Result<Response, FetchError> {
        answer_from_wit(self.0.finish())
    }
}

impl Http for ImportedHttp {
    fn fetch(&mut self, request: Request) -> Result<Response, FetchError> {
        answer_from_wit(wit_http::fetch(&request_to_wit(request)))
    }

    fn start(&mut self, request: Request) -> Started {
        Started::under_way(PendingAnswer(wit_http::start(&request_to_wit(request))))
    }

    fn sleep(&mut self, duration: Duration) {
        // The host waits: the component has no clock of its own.
        wit_clock::sleep(duration.as_millis().min(u32::MAX as u128) as u32);
    }

    fn now_ms(&mut self) -> u64 {
        wit_clock::now_ms()
    }
}

/// The `element-store` import: the host's bytes, under the rules of
/// `crate::ledger`.
struct ImportedStore;

fn staged_to_wit(staged: Staged) -> wit_store::Staged {
    match staged {
        Staged::Created => wit_store::Staged::Created,
        Staged::Updated => wit_store::Staged::Updated,
        Staged::Unchanged => wit_store::Staged::Unchanged,
        Staged::Invalid => wit_store::Staged::Invalid,
        Staged::Gone => wit_store::Staged::Gone,
        Staged::Seen => wit_store::Staged::Seen,
    }
}

fn staged_from_wit(staged: wit_store::Staged) -> Option<Staged> {
    Some(match staged {
        wit_store::Staged::Nothing => return None,
        wit_store::Staged::Created => Staged::Created,
        wit_store::Staged::Updated => Staged::Updated,
        wit_store::Staged::Unchanged => Staged::Unchanged,
        wit_store::Staged::Invalid => Staged::Invalid,
        wit_store::Staged::Gone => Staged::Gone,
        wit_store::Staged::Seen => Staged::Seen,
    })
}

impl Storage for ImportedStore {
    fn look_up(&mut self, kind: ElementKind, ids: &[String]) -> Result<Vec<Entry>, String> {
        let found = wit_store::look_up(kind_to_wit(kind), ids)?;
        let n = ids.len();
        if found.presence.len() != n || found.fingerprints.len() != n || found.staged.len() != n {
            return Err(format!(
                "the store answered entries of other lengths than the {n} ids"
            ));
        }
        Ok(found
            .presence
            .into_iter()
            .zip(found.fingerprints)
            .zip(found.staged)
            .map(|((presence, fingerprint), staged)| Entry {
                stored: match presence {
                    wit_store::Presence::Absent => None,
                    wit_store::Presence::Removed => Some(Stored {
                        fingerprint: None,
                        removed: true,
                    }),
                    wit_store::Presence::Held => Some(Stored {
                        fingerprint: Some(fingerprint),
                        removed: false,
                    }),
                    wit_store::Presence::HeldUnfingerprinted => Some(Stored {
                        fingerprint: None,
                        removed: false,
                    }),
                },
                staged: staged_from_wit(staged),
            })
            .collect())
    }

    fn stage_written(
        &mut self,
        batch: Batch,
        fingerprints: Vec<u64>,
        changes: Vec<Staged>,
    ) -> Result<(), String> {
        let kind = batch.kind();
        let (mut ids, mut names, mut data) = (Vec::new(), Vec::new(), Vec::new());
        for (id, name, json) in batch.stored()? {
            ids.push(id);
            names.push(name);
            data.push(json);
        }
        let written = wit_store::Written {
            ids,
            names,
            data,
            fingerprints,
            changes: changes.into_iter().map(staged_to_wit).collect(),
        };
        wit_store::stage_written(kind_to_wit(kind), &written)
    }

    fn stage_marks(&mut self, kind: ElementKind, marks: Vec<Mark>) -> Result<(), String> {
        let marks: Vec<wit_store::Mark> = marks
            .into_iter()
            .map(|m| wit_store::Mark {
                id: m.id,
                staged: staged_to_wit(m.staged),
                reason: m.reason,
            })
            .collect();
        wit_store::stage_marks(kind_to_wit(kind), &marks)
    }

    fn held_count(&mut self, kind: ElementKind) -> Result<u32, String> {
        wit_store::held_count(kind_to_wit(kind))
    }

    fn held_ids(
        &mut self,
        kind: ElementKind,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<String>, String> {
        wit_store::held_ids(kind_to_wit(kind), after, limit)
    }

    fn unstaged_ids(
        &mut self,
        kind: ElementKind,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<String>, String> {
        wit_store::unstaged_ids(kind_to_wit(kind), after, limit)
    }
}

fn kind_to_wit(kind: ElementKind) -> wit::ElementKind {
    match kind {
        ElementKind::Project => wit::ElementKind::Project,
        ElementKind::Pole => wit::ElementKind::Pole,
        ElementKind::Box => wit::ElementKind::Box,
        ElementKind::Splitter => wit::ElementKind::Splitter,
        ElementKind::Client => wit::ElementKind::Client,
        ElementKind::Property => wit::ElementKind::Property,
    }
}

fn kind_from_wit(kind: wit::ElementKind) -> ElementKind {
    match kind {
        wit::ElementKind::Project => ElementKind::Project,
        wit::ElementKind::Pole => ElementKind::Pole,
        wit::ElementKind::Box => ElementKind::Box,
        wit::ElementKind::Splitter => ElementKind::Splitter,
        wit::ElementKind::Client => ElementKind::Client,
        wit::ElementKind::Property => ElementKind::Property,
    }
}
