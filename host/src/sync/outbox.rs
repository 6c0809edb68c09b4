//! The durable outbox of writes to the platform: confirmed bindings'
//! pushes and the deletion of properties mapsync created.
//!
//! An entry stays until the platform accepted or refused it. A passing
//! failure reschedules it with back-off, retried in the same command and at
//! the next start; a refusal fails the binding with the platform's reason.

use crate::error::{Hint, conflict, not_found};
use crate::refuse;
use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::{Value, json};

use crate::component::Runtime;
use crate::component::bindings::binding::{Customer, PortBinding, PushError};
use crate::component::bindings::sync::Settings;
use crate::component::bindings::types::Position;
use crate::store::Db;
use crate::store::bindings::{self as local, record, set_state};
use crate::store::integrations::{self, Integration};
use crate::store::leases;
use crate::store::outbox::{self as queue, DELETE, PUSH, WITHDRAW};
use crate::store::states::BindingState;

/// Tries of one entry within a command before it waits for the next start.
const TRIES_NOW: u32 = 3;

fn settings(integration: &Integration) -> Settings {
    crate::sync::settings::settings(integration, crate::sync::settings::Tuning::default())
}

/// Confirm a pending (or failed) binding and push it now; a confirmed one
/// whose push is queued is pushed now, without waiting out its back-off.
pub fn confirm(conn: &Db, runtime: &Runtime, service: &str) -> Result<local::Binding> {
    let Some(binding) = local::find(conn, service)? else {
        refuse!(
            not_found(format!(
                "service {} has no binding; bind it first",
                crate::text::echo(service)
            )),
            Hint::Bind
        );
    };
    match binding.state {
        BindingState::Pending | BindingState::Failed => {}
        BindingState::Confirmed => {
            if queue::is_unbinding(conn, service)? {
                refuse!(
                    conflict(format!(
                        "service {service:?} is being unbound: deleting on the platform what mapsync created is queued; \
                     unbind it again to finish it, then bind and confirm anew"
                    )),
                    Hint::Unbind {
                        service: service.to_string()
                    }
                );
            }
            // Asking again means the person wants it sent now: the push is
            // idempotent (it finds its own earlier work), so trying early
            // can never create a second client or property.
            let tx = conn.transaction()?;
            if !queue::retry_now(&tx, service)? {
                queue::enqueue(&tx, service, PUSH, &json!({}))?;
            }
            record(
                &tx,
                service,
                "retry-now",
                Some("confirmed again: the queued push is tried now"),
            )?;
            tx.commit()?;
            process(conn, runtime, Some(service))?;
            return Ok(local::find(conn, service)?.expect("confirmed binding"));
        }
        BindingState::Pushed => {
            refuse!(conflict(format!(
                "the binding of service {service:?} is already confirmed and on the platform"
            )))
        }
        other @ BindingState::FromPlatform => refuse!(conflict(format!(
            "the binding of service {service:?} came from the platform ({other}): there is nothing to confirm"
        ))),
    }
    // A sync since `bind` may have removed the splitter or taken the port.
    local::check_port(conn, service, &binding.splitter, binding.port)
        .with_context(|| format!("the binding of service {service:?} cannot be confirmed"))?;
    let tx = conn.transaction()?;
    set_state(&tx, service, BindingState::Confirmed, None)?;
    queue::clear(&tx, service)?;
    queue::enqueue(&tx, service, PUSH, &json!({}))?;
    tx.commit()?;
    process(conn, runtime, Some(service))?;
    Ok(local::find(conn, service)?.expect("confirmed binding"))
}

/// Remove a binding; a property mapsync created is deleted on the
/// platform first. Nothing mapsync did not create is ever deleted.
pub fn unbind(conn: &Db, runtime: &Runtime, service: &str) -> Result<Option<local::Binding>> {
    let Some(binding) = local::find(conn, service)? else {
        refuse!(not_found(format!(
            "service {} has no binding",
            crate::text::echo(service)
        )));
    };
    let tx = conn.transaction()?;
    queue::clear(&tx, service)?;
    match (&binding.platform_property, binding.created_property) {
        (Some(property), true) => {
            queue::enqueue(&tx, service, DELETE, &json!({ "property": property }))?;
            record(
                &tx,
                service,
                "unbinding",
                Some(&format!(
                    "deleting property {property}, which mapsync created"
                )),
            )?;
            tx.commit()?;
            process(conn, runtime, Some(service))?;
        }
        // A confirmed push whose outcome is unknown may have created a
        // property whose answer was lost: find it by mapsync's mark.
        _ if binding.state == BindingState::Confirmed => {
            queue::enqueue(&tx, service, WITHDRAW, &json!({ "code": service }))?;
            record(
                &tx,
                service,
                "unbinding",
                Some("deleting any property mapsync created for this service"),
            )?;
            tx.commit()?;
            process(conn, runtime, Some(service))?;
        }
        _ => {
            queue::remove_binding(&tx, service)?;
            record(
                &tx,
                service,
                "unbound",
                Some("removed locally; nothing on the platform was created by mapsync"),
            )?;
            tx.commit()?;
        }
    }
    local::find(conn, service)
}

/// Work through the entries that are due (of one service, or all).
pub fn process(conn: &Db, runtime: &Runtime, only: Option<&str>) -> Result<()> {
    for queue::Entry {
        id,
        service,
        operation,
        payload,
        attempts,
    } in queue::due(conn, only)?
    {
        // Several hosts work the same outbox: each entry is sent by the
        // one that claims it.
        if !leases::claim_push(conn, id)? {
            continue;
        }
        for attempt in 1..=TRIES_NOW {
            match attempt_once(conn, runtime, &service, &operation, &payload) {
                Ok(()) => {
                    queue::remove(conn, id)?;
                    break;
                }
                Err(PushError::Refused(reason)) => {
                    queue::remove(conn, id)?;
                    set_state(conn, &service, BindingState::Failed, Some(&reason))?;
                    break;
                }
                Err(PushError::Transient(reason)) => {
                    let total = attempts + attempt;
                    let wait = backoff(total);
                    let next =
                        chrono::Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default();
                    queue::reschedule(conn, id, total, &reason, next)?;
                    queue::set_binding_reason(conn, &service, &reason)?;
                    record(
                        conn,
                        &service,
                        "retry-scheduled",
                        Some(&format!("attempt {total}: {reason}")),
                    )?;
                    if attempt < TRIES_NOW {
                        std::thread::sleep(Duration::from_millis(300 * u64::from(attempt)));
                    }
                }
            }
        }
        leases::release_push(conn, id)?;
    }
    Ok(())
}

/// Minutes between tries at later starts, doubling up to an hour.
fn backoff(attempts: u32) -> Duration {
    Duration::from_secs(30u64.saturating_mul(1 << attempts.min(7)).min(3600))
}

fn attempt_once(
    conn: &Db,
    runtime: &Runtime,
    service: &str,
    operation: &str,
    payload: &Value,
) -> Result<(), PushError> {
    let transient = |e: anyhow::Error| PushError::Transient(format!("{e:#}"));
    let Some(binding) = local::find(conn, service).map_err(transient)? else {
        return Ok(()); // unbound meanwhile: nothing left to do
    };
    let integration = integrations::get(conn, &binding.integration).map_err(transient)?;
    match operation {
        PUSH => {
            // Checked again at the moment of the push: never write to a port
            // that is no longer synchronised, bindable and free.
            local::check_port(conn, service, &binding.splitter, binding.port)
                .map_err(|e| PushError::Refused(format!("{e:#}")))?;
            let port_binding = port_binding(conn, &binding, &integration).map_err(transient)?;
            let settings = settings(&integration);
            // A client a person matched is updated, never a second one
            // made; a customer the platform places is moved, not doubled.
            let api_url = &integration.api_url;
            let client = binding.platform_client.as_deref();
            let pushed = match (&binding.moving_property, client) {
                (Some(property), _) => {
                    runtime.move_property(api_url, &settings, &port_binding, property, client)
                }
                (None, Some(client)) => {
                    runtime.push_to_client(api_url, &settings, &port_binding, client)
                }
                (None, None) => runtime.push(api_url, &settings, &port_binding),
            }
            .map_err(transient)??;
            queue::mark_binding_pushed(
                conn,
                service,
                &pushed.client,
                &pushed.property,
                pushed.created_property,
            )
            .map_err(transient)?;
            let detail = match &binding.moving_property {
                Some(_) => format!(
                    "client {} on property {}, moved to port {} of splitter {}",
                    pushed.client, pushed.property, binding.port, binding.splitter
                ),
                None => format!("client {} on property {}", pushed.client, pushed.property),
            };
            record(conn, service, BindingState::Pushed.as_str(), Some(&detail)).map_err(transient)
        }
        DELETE => {
            let property = payload["property"].as_str().unwrap_or_default();
            runtime
                .delete_property(&integration.api_url, &settings(&integration), property)
                .map_err(transient)??;
            queue::remove_binding(conn, service).map_err(transient)?;
            record(
                conn,
                service,
                "unbound",
                Some(&format!("deleted property {property} on the platform")),
            )
            .map_err(transient)
        }
        WITHDRAW => {
            let code = payload["code"].as_str().unwrap_or(service);
            let deleted = runtime
                .withdraw(&integration.api_url, &settings(&integration), code)
                .map_err(transient)??;
            queue::remove_binding(conn, service).map_err(transient)?;
            let detail = match deleted.as_slice() {
                [] => "nothing mapsync created was on the platform".to_string(),
                ids => format!(
                    "deleted propert{} {} on the platform",
                    if ids.len() == 1 { "y" } else { "ies" },
                    ids.join(", ")
                ),
            };
            record(conn, service, "unbound", Some(&detail)).map_err(transient)
        }
        other => Err(PushError::Refused(format!(
            "unknown outbox operation {other:?}"
        ))),
    }
}

/// What the platform is sent: the port and the service's informative data.
fn port_binding(
    conn: &Db,
    binding: &local::Binding,
    integration: &Integration,
) -> Result<PortBinding> {
    let splitter = queue::bound_splitter(conn, &integration.id, &binding.splitter)?;
    let service = crate::store::services::find(conn, &binding.service)?
        .with_context(|| format!("service {:?} is no longer stored", binding.service))?;
    Ok(PortBinding {
        project: splitter["project"].as_str().unwrap_or_default().to_string(),
        box_: splitter["box"].as_str().unwrap_or_default().to_string(),
        splitter: binding.splitter.clone(),
        port: binding.port,
        customer: Customer {
            code: binding.service.clone(),
            name: service.name.unwrap_or_default(),
            observation: service.status.map(|s| format!("status: {s}")),
            pppoe_login: service.pppoe_login,
            onu_serial: service.onu_serial,
            onu_mac: service.onu_mac,
            position: service
                .lat
                .zip(service.lng)
                .map(|(lat, lng)| Position { lat, lng }),
            address: service.address,
        },
    })
}
