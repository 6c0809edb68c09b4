//! Bindings of the ISP's services to splitter ports, and their audit trail.
//!
//! States: `pending` (bound locally), `confirmed` (its push is queued),
//! `pushed` (the platform holds it), `failed` (the platform refused the push;
//! the reason is kept), `from-platform` (identified by a sync: the platform's
//! client with this service's code sits on the port). A binding made with
//! `--move` keeps the platform property its confirmed push reconnects.

use crate::params;
use crate::store::Db;
use crate::store::integrations::FEEDS_A_PROJECT;
use crate::store::states::BindingState;
use anyhow::Result;

use crate::error::{Hint, conflict, invalid};
use crate::refuse;
use serde::Serialize;
use serde_json::Value;

#[derive(Clone, Debug, Serialize)]
pub struct Binding {
    pub service: String,
    pub integration: String,
    pub splitter: String,
    pub port: u32,
    #[serde(rename = "box")]
    pub box_id: Option<String>,
    pub state: BindingState,
    pub reason: Option<String>,
    pub platform_client: Option<String>,
    pub platform_property: Option<String>,
    /// mapsync created the platform's property, so unbinding deletes it.
    pub created_property: bool,
    /// The platform property that the confirmed push moves to this port
    /// (`bind --move`), until it is pushed.
    pub moving_property: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// An entry of a binding's audit trail. Its `state` is a binding state,
/// or a step on the way (`retry-scheduled`, `retry-now`, `unbinding`,
/// `unbound`, `match-accepted`).
#[derive(Debug, Serialize)]
pub struct Event {
    pub at: String,
    pub state: String,
    pub detail: Option<String>,
}

const COLUMNS: &str = "b.service_id, i.name, b.splitter_id, b.port, b.box_id, b.state, b.reason, \
     b.platform_client_id, b.platform_property_id, b.created_property, b.created_at, b.updated_at,
     b.moving_property_id";

fn from_row(r: &crate::store::Row) -> Result<Binding> {
    Ok(Binding {
        service: r.get(0)?,
        integration: r.get(1)?,
        splitter: r.get(2)?,
        port: r.get(3)?,
        box_id: r.get(4)?,
        state: r.get(5)?,
        reason: r.get(6)?,
        platform_client: r.get(7)?,
        platform_property: r.get(8)?,
        created_property: r.get(9)?,
        created_at: r.get(10)?,
        updated_at: r.get(11)?,
        moving_property: r.get(12)?,
    })
}

pub fn list(conn: &Db) -> Result<Vec<Binding>> {
    conn.query(
        &format!(
            "SELECT {COLUMNS} FROM bindings b JOIN integrations i ON i.id = b.integration_id ORDER BY b.service_id"
        ),
        params![],
        from_row,
    )
}

pub fn find(conn: &Db, service: &str) -> Result<Option<Binding>> {
    conn.query_opt(
        &format!("SELECT {COLUMNS} FROM bindings b JOIN integrations i ON i.id = b.integration_id WHERE b.service_id = ?1"),
        params![service],
        from_row,
    )
}

pub fn history(conn: &Db, service: &str) -> Result<Vec<Event>> {
    conn.query(
        "SELECT at, state, detail FROM binding_events WHERE service_id = ?1 ORDER BY id",
        params![service],
        |r| {
            Ok(Event {
                at: r.get(0)?,
                state: r.get(1)?,
                detail: r.get(2)?,
            })
        },
    )
}

/// Record a state change in the audit trail.
pub fn record(conn: &Db, service: &str, state: &str, detail: Option<&str>) -> Result<()> {
    conn.execute(
        "INSERT INTO binding_events (service_id, at, state, detail) VALUES (?1, ?2, ?3, ?4)",
        params![service, crate::store::now(), state, detail],
    )?;
    Ok(())
}

/// Change a binding's state and record it.
pub fn set_state(
    conn: &Db,
    service: &str,
    state: BindingState,
    reason: Option<&str>,
) -> Result<()> {
    conn.execute(
        "UPDATE bindings SET state = ?2, reason = ?3, updated_at = ?4 WHERE service_id = ?1",
        params![service, state, reason, crate::store::now()],
    )?;
    record(conn, service, state.as_str(), reason)
}

/// A synchronised splitter, with the integration that brought it.
pub struct Splitter {
    pub integration_id: String,
    integration: String,
    detached: bool,
    invalid: Option<String>,
    data: Value,
}

impl Splitter {
    /// The box that holds it.
    pub fn box_id(&self) -> Option<&str> {
        self.data["box"].as_str()
    }
}

fn splitter(conn: &Db, id: &str) -> Result<Option<Splitter>> {
    conn.query_opt(
        &format!(
            "SELECT e.integration_id, i.name, NOT {FEEDS_A_PROJECT}, e.invalid_reason, e.data
             FROM elements e JOIN integrations i ON i.id = e.integration_id
             WHERE e.kind = 'splitter' AND e.id = ?1 AND e.removed_at IS NULL
             ORDER BY NOT {FEEDS_A_PROJECT}"
        ),
        params![id],
        |r| {
            Ok(Splitter {
                integration_id: r.get(0)?,
                integration: r.get(1)?,
                detached: r.get(2)?,
                invalid: r.get(3)?,
                data: serde_json::from_str(&r.get::<String>(4)?).unwrap_or(Value::Null),
            })
        },
    )
}

/// Check that `port` of `splitter_id` can take `service` now: the splitter
/// is synchronised, valid and a service splitter, and the port exists, is
/// not blocked, is not taken on the platform (but by `service`'s own client)
/// and is not bound to another service. Checked when binding and again
/// before every push, since a sync may have changed any of it.
pub fn check_port(conn: &Db, service: &str, splitter_id: &str, port: u32) -> Result<Splitter> {
    let Some(splitter) = splitter(conn, splitter_id)? else {
        refuse!(invalid(
            "splitter",
            format!(
                "no synchronised splitter has id {splitter_id:?}; bindable splitters come from a sync"
            )
        ));
    };
    if splitter.detached {
        refuse!(invalid(
            "splitter",
            format!(
                "splitter {splitter_id:?} is no longer synchronised: its integration {:?} feeds no project",
                splitter.integration
            )
        ));
    }
    if let Some(reason) = &splitter.invalid {
        refuse!(invalid(
            "splitter",
            format!(
                "the platform's latest record of splitter {splitter_id:?} is invalid ({reason}); fix it on the platform and sync again"
            )
        ));
    }
    if splitter.data["service"] != true {
        refuse!(invalid(
            "splitter",
            format!(
                "splitter {splitter_id:?} is a distribution splitter: only service splitters (allowing client connection) offer ports for binding"
            )
        ));
    }
    let ports = splitter.data["ports"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let Some(listed) = ports.iter().find(|p| p["number"] == port) else {
        refuse!(invalid(
            "port",
            format!(
                "splitter {splitter_id:?} has ports 1 to {}; port {port} is out of range",
                ports.len()
            )
        ));
    };
    if listed["blocked"] == true {
        refuse!(conflict(format!(
            "port {port} of splitter {splitter_id:?} is blocked on the platform"
        )));
    }
    // The service's own client may sit there: found by its code, or the
    // client a person matched to it (kept on the binding).
    let matched_client: Option<String> = conn
        .query_opt(
            "SELECT platform_client_id FROM bindings WHERE service_id = ?1",
            params![service],
            |r| r.get::<Option<String>>(0),
        )?
        .flatten();
    let taken_by =
        crate::store::network::taker_of(conn, &splitter.integration_id, splitter_id, port)?;
    if let Some((property, code, client)) = taken_by
        && code.as_deref() != Some(service)
        && (client.is_none() || client != matched_client)
    {
        refuse!(conflict(format!(
            "port {port} of splitter {splitter_id:?} is taken on the platform by property {property}"
        )));
    }
    let bound_by: Option<String> = conn.query_opt(
        "SELECT service_id FROM bindings WHERE integration_id = ?1 AND splitter_id = ?2 AND port = ?3",
        params![splitter.integration_id, splitter_id, port],
        |r| r.get(0),
    )?;
    if let Some(other) = bound_by
        && other != service
    {
        refuse!(conflict(format!(
            "port {port} of splitter {splitter_id:?} is already bound to service {other:?}"
        )));
    }
    Ok(splitter)
}

/// Bind a service to a port, pending confirmation; refused with the reason
/// when the binding cannot be right. A service that already has a binding
/// is refused unless `moving`: then it is re-pointed, and when the platform
/// places it (identified there, or pushed) its confirmed push moves that
/// platform property instead of creating one.
pub fn bind(
    conn: &Db,
    service: &str,
    splitter_id: &str,
    port: u32,
    moving: bool,
) -> Result<Binding> {
    let known: bool = conn.query_row(
        "SELECT count(*) > 0 FROM services WHERE id_cliente_servico = ?1",
        params![service],
        |r| r.get(0),
    )?;
    if !known {
        refuse!(
            invalid(
                "service",
                format!("no service with id_cliente_servico {service:?}; import it first")
            ),
            Hint::ImportServices
        );
    }
    let Some(existing) = find(conn, service)? else {
        let splitter = check_port(conn, service, splitter_id, port)?;
        let tx = conn.transaction()?;
        tx.execute(
            "INSERT INTO bindings (service_id, integration_id, splitter_id, port, box_id, state, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6, ?6)",
            params![service, splitter.integration_id, splitter_id, port, splitter.box_id(), crate::store::now()],
        )?;
        record(
            &tx,
            service,
            BindingState::Pending.as_str(),
            Some(&format!("bound to port {port} of splitter {splitter_id}")),
        )?;
        tx.commit()?;
        return Ok(find(conn, service)?.expect("just bound"));
    };
    if !moving {
        let place = if existing.state.placed() {
            "the platform already places it on"
        } else {
            "it is already bound to"
        };
        refuse!(
            conflict(format!(
                "service {service:?} has a binding: {place} port {} of splitter {} ({}); move it, or unbind it first",
                existing.port, existing.splitter, existing.state
            )),
            Hint::BindMove {
                service: service.to_string()
            }
        );
    }
    if existing.splitter == splitter_id && existing.port == port {
        refuse!(conflict(format!(
            "service {service:?} is already on port {port} of splitter {splitter_id}: nothing to move"
        )));
    }
    let moving_property = match existing.state {
        BindingState::FromPlatform | BindingState::Pushed => {
            Some(existing.platform_property.clone().ok_or_else(|| {
                anyhow::Error::new(conflict(format!(
                    "the platform property of service {service:?} is not known; sync and try again"
                )))
            })?)
        }
        BindingState::Confirmed => refuse!(
            conflict(format!(
                "the push of service {service:?} to port {} of splitter {} is already under way; move it once it is pushed or failed",
                existing.port, existing.splitter
            )),
            Hint::Bindings
        ),
        // Nothing of it is on the platform yet: only the port changes.
        BindingState::Pending | BindingState::Failed => existing.moving_property.clone(),
    };
    let splitter = check_port(conn, service, splitter_id, port)?;
    if moving_property.is_some() && splitter.integration_id != existing_integration(conn, service)?
    {
        refuse!(invalid(
            "splitter",
            format!(
                "splitter {splitter_id:?} belongs to integration {:?}, another platform's network than the one that places service {service:?}",
                splitter.integration
            )
        ));
    }
    let tx = conn.transaction()?;
    tx.execute(
        "UPDATE bindings SET integration_id = ?2, splitter_id = ?3, port = ?4, box_id = ?5, state = 'pending',
             reason = NULL, moving_property_id = ?6, updated_at = ?7 WHERE service_id = ?1",
        params![service, splitter.integration_id, splitter_id, port, splitter.box_id(), moving_property, crate::store::now()],
    )?;
    let detail = match &moving_property {
        Some(property) => format!(
            "moving from port {} of splitter {} to port {port} of splitter {splitter_id}: confirming moves platform property {property}",
            existing.port, existing.splitter
        ),
        None => format!(
            "moved from port {} of splitter {} to port {port} of splitter {splitter_id}",
            existing.port, existing.splitter
        ),
    };
    record(&tx, service, BindingState::Pending.as_str(), Some(&detail))?;
    tx.commit()?;
    Ok(find(conn, service)?.expect("just bound"))
}

fn existing_integration(conn: &Db, service: &str) -> Result<String> {
    conn.query_row(
        "SELECT integration_id FROM bindings WHERE service_id = ?1",
        params![service],
        |r| r.get(0),
    )
}

/// Bind `service` to the port where platform client `client` sits, as a
/// person accepted that this client is that service; pending until
/// confirmed, like any binding.
pub fn bind_matched(
    conn: &Db,
    service: &str,
    client: &str,
    splitter_id: &str,
    port: u32,
) -> Result<()> {
    // The matched client is kept first, so the port it takes counts as the
    // service's own in the check.
    conn.execute(
        "INSERT INTO bindings (service_id, integration_id, splitter_id, port, box_id, state, platform_client_id, created_at, updated_at)
         SELECT ?1, e.integration_id, ?3, ?4, json_extract(e.data, '$.box'), 'pending', ?2, ?5, ?5
         FROM elements e WHERE e.kind = 'splitter' AND e.id = ?3 AND e.removed_at IS NULL LIMIT 1",
        params![service, client, splitter_id, port, crate::store::now()],
    )?;
    check_port(conn, service, splitter_id, port)?;
    record(
        conn,
        service,
        BindingState::Pending.as_str(),
        Some(&format!(
            "bound to port {port} of splitter {splitter_id}, where matched platform client {client} sits"
        )),
    )
}

/// A port bound locally: which service, in which state.
pub struct BoundPort {
    pub splitter: String,
    pub port: u64,
    pub service: String,
    pub state: BindingState,
    /// Why the platform refused the push, for a failed binding.
    pub reason: Option<String>,
}

/// Every locally bound port of an integration.
pub fn bound_ports(conn: &Db, integration_id: &str) -> Result<Vec<BoundPort>> {
    conn.query(
        "SELECT splitter_id, port, service_id, state, reason FROM bindings WHERE integration_id = ?1",
        params![integration_id],
        |r| {
            Ok(BoundPort {
                splitter: r.get(0)?,
                port: r.get(1)?,
                service: r.get(2)?,
                state: r.get(3)?,
                reason: r.get(4)?,
            })
        },
    )
}
