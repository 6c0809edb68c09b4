//! The one write to the platform: a confirmed customer's informative data.
//!
//! Idempotent by construction: before creating anything it looks for the
//! customer's client (by code) and for a property already on the port, so a
//! push repeated after a lost answer finds its own earlier work.

use serde_json::{Value, json};

use crate::http::{Http, Method, Response};
use crate::model::Position;
use crate::ozmap::client::{OzmapClient, condition, platform_message};
use crate::ozmap::page::Row;
use crate::ozmap::pager::Pager;
use crate::ozmap::records;

/// Marks the properties mapsync creates, so it deletes only those.
pub const CREATED_BY: &str = "mapsync:";

#[derive(Clone, Debug, PartialEq)]
pub struct Customer {
    pub code: String,
    pub name: String,
    pub observation: Option<String>,
    pub pppoe_login: Option<String>,
    pub onu_serial: Option<String>,
    pub onu_mac: Option<String>,
    pub position: Option<Position>,
    pub address: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct PortBinding {
    pub project: String,
    pub box_id: String,
    pub splitter: String,
    pub port: u32,
    pub customer: Customer,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pushed {
    pub client: String,
    pub property: String,
    pub created_property: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PushError {
    Transient(String),
    Refused(String),
}

impl From<String> for PushError {
    /// Errors from the client are those left after its retries: passing ones.
    fn from(message: String) -> Self {
        PushError::Transient(message)
    }
}

/// A response as a push outcome: 2xx passes, 4xx is the platform's refusal,
/// anything else (5xx after retries) may pass later.
fn accepted(response: Response, what: &str) -> Result<Value, PushError> {
    let reason =
        || platform_message(&response).unwrap_or_else(|| format!("status {}", response.status));
    match response.status {
        200..=299 => Ok(serde_json::from_slice(&response.body).unwrap_or(Value::Null)),
        400..=499 => Err(PushError::Refused(format!(
            "{what}: the platform refused it ({}): {}",
            response.status,
            reason()
        ))),
        _ => Err(PushError::Transient(format!(
            "{what}: the platform answered {}: {}",
            response.status,
            reason()
        ))),
    }
}

fn onu(customer: &Customer) -> Value {
    json!({
        "user_PPPoE": customer.pppoe_login,
        "serial_number": customer.onu_serial,
        "mac_address": customer.onu_mac,
    })
}

fn created_by_mapsync(property: &Value) -> bool {
    property["external_id"]
        .as_str()
        .is_some_and(|e| e.starts_with(CREATED_BY))
}

/// Send the customer's informative data, its code included, to platform
/// client `id`: the one write mapsync makes to a client.
fn update_client(
    client: &mut OzmapClient<impl Http>,
    id: &str,
    customer: &Customer,
) -> Result<(), PushError> {
    let update = json!({
        "code": customer.code,
        "name": customer.name,
        "observation": customer.observation,
        "onu": onu(customer),
    });
    let what = "updating the client";
    let response = client.send(
        Method::Patch,
        &format!("ftth-clients/{id}"),
        Some(&update),
        what,
    )?;
    accepted(response, what).map(|_| ())
}

fn takes_port(property: &Value, splitter: &str, port: u32) -> bool {
    records::property(property)
        .ok()
        .and_then(|(p, _)| p.connection)
        .is_some_and(|c| c.splitter == splitter && c.port == port)
}

fn first(
    client: &mut OzmapClient<impl Http>,
    route: &str,
    filter: &[Value],
) -> Result<Vec<Value>, PushError> {
    let mut pager = Pager::new(route, filter, 100);
    let mut all = Vec::new();
    while let Some(rows) = pager.next(client)? {
        all.extend(rows.into_iter().map(Row::into_value));
    }
    Ok(all)
}

/// Push `binding`; `known` is the platform's client that a person matched
/// to this customer (it holds no code yet): it is updated, never a second
/// one created.
pub fn push(
    client: &mut OzmapClient<impl Http>,
    binding: &PortBinding,
    known: Option<&str>,
) -> Result<Pushed, PushError> {
    let customer = &binding.customer;
    let mut existing = first(
        client,
        "ftth-clients",
        &[condition("code", "=", json!(customer.code))],
    )?;
    if existing.is_empty()
        && let Some(known) = known
    {
        existing = first(
            client,
            "ftth-clients",
            &[condition("id", "=", json!(known))],
        )?;
        if existing.is_empty() {
            return Err(PushError::Refused(format!(
                "the platform holds no client {known} any more; sync and review the match again"
            )));
        }
    }
    if existing.len() > 1 {
        return Err(PushError::Refused(format!(
            "{} platform clients have code {:?}; fix the duplicates on the platform first",
            existing.len(),
            customer.code
        )));
    }
    if let Some(found) = existing.first() {
        let client_id = records::id_of(found)
            .ok_or_else(|| PushError::Refused("the platform's client has no id".into()))?;
        update_client(client, &client_id, customer)?;
        let properties = first(
            client,
            "properties",
            &[condition("client", "=", json!(client_id))],
        )?;
        if let Some(property) = properties
            .iter()
            .find(|p| takes_port(p, &binding.splitter, binding.port))
        {
            return Ok(Pushed {
                client: client_id,
                property: records::id_of(property).unwrap_or_default(),
                created_property: created_by_mapsync(property),
            });
        }
        let property = create_property(client, binding, json!(client_id))?;
        return Ok(Pushed {
            client: client_id,
            property,
            created_property: true,
        });
    }
    let new_client = json!({
        "code": customer.code,
        "name": customer.name,
        "observation": customer.observation,
        "implanted": true,
        "onu": onu(customer),
    });
    let answer_client = create_property_answer(client, binding, new_client)?;
    let property = records::id_of(&answer_client).unwrap_or_default();
    let client_id = match &answer_client["client"] {
        Value::Object(_) => records::id_of(&answer_client["client"]),
        Value::String(id) => Some(id.clone()),
        _ => None,
    };
    // Some servers answer the property without its client: look it up.
    let client_id = match client_id {
        Some(id) => id,
        None => first(
            client,
            "ftth-clients",
            &[condition("code", "=", json!(customer.code))],
        )?
        .first()
        .and_then(records::id_of)
        .ok_or_else(|| {
            PushError::Transient("the client created with the property is not listed yet".into())
        })?,
    };
    Ok(Pushed {
        client: client_id,
        property,
        created_property: true,
    })
}

/// Move a confirmed customer's existing platform `property` to the bound
/// port: the customer's informative data is sent, then the property is
/// reconnected (`PATCH` with `box`, `connector` and `port`, as in the SDK's
/// `UpdatePropertyDTO`). No client or property is created. Idempotent: a
/// property already on the port is only reported.
pub fn move_property(
    client: &mut OzmapClient<impl Http>,
    binding: &PortBinding,
    property: &str,
    known: Option<&str>,
) -> Result<Pushed, PushError> {
    let customer = &binding.customer;
    let found = first(
        client,
        "properties",
        &[condition("id", "=", json!(property))],
    )?;
    let Some(found) = found.first() else {
        return Err(PushError::Refused(format!(
            "the platform holds no property {property} any more; sync and bind again"
        )));
    };
    let holder = match &found["client"] {
        Value::Object(_) => records::id_of(&found["client"]),
        Value::String(id) => Some(id.clone()),
        _ => None,
    };
    let Some(holder) = holder else {
        return Err(PushError::Refused(format!(
            "property {property} holds no client any more; sync and bind again"
        )));
    };
    // Only the customer's own property moves: its client has the service's
    // code, or is the one a person matched to it.
    if known != Some(holder.as_str()) {
        let theirs = first(
            client,
            "ftth-clients",
            &[condition("id", "=", json!(holder))],
        )?;
        let code = theirs
            .first()
            .and_then(|c| c["code"].as_str().map(str::to_owned));
        if code.as_deref() != Some(customer.code.as_str()) {
            return Err(PushError::Refused(format!(
                "property {property} now holds another customer's client ({holder}); sync and bind again"
            )));
        }
    }
    update_client(client, &holder, customer)?;
    if !takes_port(found, &binding.splitter, binding.port) {
        let order = json!({
            "box": binding.box_id,
            "connector": binding.splitter,
            "port": binding.port,
            "auto_connect": false,
            "force": false,
        });
        let response = client.send(
            Method::Patch,
            &format!("properties/{property}"),
            Some(&order),
            "moving the property",
        )?;
        accepted(response, "moving the property")?;
    }
    Ok(Pushed {
        client: holder,
        property: property.to_string(),
        created_property: created_by_mapsync(found),
    })
}

fn create_property(
    client: &mut OzmapClient<impl Http>,
    binding: &PortBinding,
    who: Value,
) -> Result<String, PushError> {
    let answer = create_property_answer(client, binding, who)?;
    records::id_of(&answer).ok_or_else(|| {
        PushError::Transient("the platform created a property but did not say its id".into())
    })
}

fn create_property_answer(
    client: &mut OzmapClient<impl Http>,
    binding: &PortBinding,
    who: Value,
) -> Result<Value, PushError> {
    let customer = &binding.customer;
    let mut body = json!({
        "project": binding.project,
        "box": binding.box_id,
        "client": who,
        "connector": binding.splitter,
        "port": binding.port,
        "auto_connect": false,
        "force": false,
        "external_id": format!("{CREATED_BY}{}", customer.code),
        "observation": format!("Cliente {} vinculado pelo mapsync", customer.code),
    });
    if let Some(p) = customer.position {
        body["coords"] = json!([p.lng, p.lat]);
    }
    if let Some(address) = &customer.address {
        body["address"] = json!(address);
    }
    let response = client.send(
        Method::Post,
        "properties",
        Some(&body),
        "creating the property",
    )?;
    accepted(response, "creating the property")
}

pub fn delete_property(
    client: &mut OzmapClient<impl Http>,
    property: &str,
) -> Result<(), PushError> {
    let response = client.send(
        Method::Delete,
        &format!("properties/{property}"),
        None,
        "deleting the property",
    )?;
    if response.status == 404 {
        return Ok(());
    }
    accepted(response, "deleting the property").map(|_| ())
}

/// Delete the properties mapsync created for `code`; answers their ids.
pub fn withdraw(client: &mut OzmapClient<impl Http>, code: &str) -> Result<Vec<String>, PushError> {
    let marked = first(
        client,
        "properties",
        &[condition(
            "external_id",
            "=",
            json!(format!("{CREATED_BY}{code}")),
        )],
    )?;
    let mut deleted = Vec::new();
    for property in marked {
        if let Some(id) = records::id_of(&property) {
            delete_property(client, &id)?;
            deleted.push(id);
        }
    }
    Ok(deleted)
}

/// Push with a client configured by the integration's settings.
pub fn run<H: Http>(
    http: H,
    settings: &crate::sync::Settings,
    binding: &PortBinding,
) -> Result<Pushed, PushError> {
    push(&mut crate::sync::client_for(http, settings), binding, None)
}

/// Push to the client a person matched, with the integration's settings.
pub fn run_to_client<H: Http>(
    http: H,
    settings: &crate::sync::Settings,
    binding: &PortBinding,
    known: &str,
) -> Result<Pushed, PushError> {
    push(
        &mut crate::sync::client_for(http, settings),
        binding,
        Some(known),
    )
}

/// Move a customer's existing property, with the integration's settings.
pub fn run_move<H: Http>(
    http: H,
    settings: &crate::sync::Settings,
    binding: &PortBinding,
    property: &str,
    known: Option<&str>,
) -> Result<Pushed, PushError> {
    move_property(
        &mut crate::sync::client_for(http, settings),
        binding,
        property,
        known,
    )
}

/// Delete a property mapsync created, with the integration's settings.
pub fn run_delete<H: Http>(
    http: H,
    settings: &crate::sync::Settings,
    property: &str,
) -> Result<(), PushError> {
    delete_property(&mut crate::sync::client_for(http, settings), property)
}

/// Withdraw a customer's mapsync-made properties, with the integration's settings.
pub fn run_withdraw<H: Http>(
    http: H,
    settings: &crate::sync::Settings,
    code: &str,
) -> Result<Vec<String>, PushError> {
    withdraw(&mut crate::sync::client_for(http, settings), code)
}
