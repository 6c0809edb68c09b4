//! The synchronised network as people and scripts read it (`elements`).
//!
//! Elements are stored as the guest normalised them (JSON of the WIT
//! records); this module shapes them into the public JSON contract and
//! gives each port its state from the properties that take it (found in
//! the network's columns, `store::network`).

use std::collections::HashMap;

use anyhow::Result;
use serde_json::{Value, json};

use crate::component::bindings::types::ElementKind;
use crate::params;
use crate::store::integrations::FEEDS_A_PROJECT;
use crate::store::network::{self, Taker};
use crate::store::staging::kind_name;
use crate::store::{Db, Row};

/// The kinds' names (`staging::ALL_KINDS`), as people give them.
pub const KINDS: [&str; 6] = ["project", "pole", "box", "splitter", "client", "property"];

/// Which elements of a kind to read.
#[derive(Clone, Copy)]
pub enum Select<'a> {
    All,
    /// These ids.
    Ids(&'a [String]),
    /// Splitters or properties in these boxes.
    InBoxes(&'a [String]),
}

/// Current (not removed) elements of one kind, in the platform's id order.
/// Where a stored element carries why the platform's latest record of it
/// is invalid (its last valid version is what is shown); null when valid.
const INVALID: &str = "invalid";

fn stored(
    conn: &Db,
    integration_id: &str,
    kind: ElementKind,
    which: Select<'_>,
) -> Result<Vec<Value>> {
    // `json_each` and `json_extract` are SQLite's; the store puts them in
    // PostgreSQL's words.
    let (condition, ids) = match which {
        Select::All => ("TRUE", None),
        Select::Ids(ids) => ("id IN (SELECT value FROM json_each(?3))", Some(ids)),
        // Splitters and properties by their box's column.
        Select::InBoxes(ids) => (
            network::in_boxes(kind)
                .unwrap_or("json_extract(data, '$.box') IN (SELECT value FROM json_each(?3))"),
            Some(ids),
        ),
    };
    let sql = format!(
        "SELECT data, invalid_reason FROM elements WHERE integration_id = ?1 AND kind = ?2 AND removed_at IS NULL AND {condition} ORDER BY id"
    );
    let decode = |r: &Row| -> Result<Value> {
        let (data, invalid) = (r.get::<String>(0)?, r.get::<Option<String>>(1)?);
        let mut element: Value = serde_json::from_str(&data)?;
        element[INVALID] = json!(invalid);
        Ok(element)
    };
    match ids {
        None => conn.query(&sql, params![integration_id, kind], decode),
        Some(ids) => {
            let ids = serde_json::to_string(ids)?;
            conn.query(&sql, params![integration_id, kind, ids], decode)
        }
    }
}

fn property_code(property: &Value, codes: &HashMap<String, Option<String>>) -> Option<String> {
    property["client"]
        .as_str()
        .and_then(|id| codes.get(id).cloned())
        .unwrap_or_else(|| property["client_code"].as_str().map(str::to_string))
}

fn lat_lng(element: &Value) -> (Value, Value) {
    let position = &element["position"];
    (position["lat"].clone(), position["lng"].clone())
}

/// The public JSON of every current element of `kind`.
pub fn list(conn: &Db, integration_id: &str, kind: ElementKind) -> Result<Vec<Value>> {
    select(conn, integration_id, kind, Select::All)
}

/// The public JSON of the chosen current elements of `kind`; a selection
/// reads only what it needs (a splitter's port states, its properties').
pub fn select(
    conn: &Db,
    integration_id: &str,
    kind: ElementKind,
    which: Select<'_>,
) -> Result<Vec<Value>> {
    let elements = stored(conn, integration_id, kind, which)?;
    let shaped: Vec<Value> = match kind {
        ElementKind::Splitter => {
            let ids: Vec<String> = elements
                .iter()
                .filter_map(|e| e["id"].as_str().map(str::to_string))
                .collect();
            let scope = (!matches!(which, Select::All)).then_some(ids.as_slice());
            let takers = network::takers(conn, integration_id, scope)?;
            elements.iter().map(|e| splitter(e, &takers)).collect()
        }
        ElementKind::Property => {
            let codes = network::client_codes(conn, integration_id)?;
            elements.iter().map(|e| property(e, &codes)).collect()
        }
        _ => elements.iter().map(|e| simple(kind, e)).collect(),
    };
    Ok(elements
        .iter()
        .zip(shaped)
        .map(|(e, mut shown): (&Value, Value)| {
            shown[INVALID] = e[INVALID].clone();
            shown
        })
        .collect())
}

fn simple(kind: ElementKind, e: &Value) -> Value {
    let (lat, lng) = lat_lng(e);
    let mut out = json!({ "id": e["id"], "kind": kind_name(kind), "name": e["name"] });
    let extra = match kind {
        ElementKind::Project => json!({ "identifier": e["identifier"], "lat": lat, "lng": lng }),
        ElementKind::Pole => json!({ "lat": lat, "lng": lng, "pole_type": e["pole_type"] }),
        ElementKind::Box => json!({
            "project": e["project"], "pole": e["pole"], "lat": lat, "lng": lng,
            "hierarchy_level": e["hierarchy_level"], "implanted": e["implanted"], "box_type": e["box_type"],
        }),
        ElementKind::Client => json!({
            "code": e["code"], "implanted": e["implanted"], "status": e["status"],
            "pppoe_login": e["pppoe_login"], "onu_serial": e["onu_serial"], "onu_mac": e["onu_mac"],
        }),
        // Shaped by `splitter` and `property`.
        ElementKind::Splitter | ElementKind::Property => json!({}),
    };
    merge(&mut out, extra);
    out
}

fn merge(into: &mut Value, extra: Value) {
    if let (Some(into), Value::Object(extra)) = (into.as_object_mut(), extra) {
        into.extend(extra);
    }
}

fn splitter(e: &Value, takers: &HashMap<(String, u64), Taker>) -> Value {
    let id = e["id"].as_str().unwrap_or_default();
    let ports: Vec<Value> = e["ports"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|p| {
            let number = p["number"].as_u64().unwrap_or(0);
            match takers.get(&(id.to_string(), number)) {
                Some(t) => json!({ "port": number, "state": "taken", "property": t.property, "client_code": t.client_code }),
                None if p["blocked"].as_bool() == Some(true) => {
                    json!({ "port": number, "state": "blocked", "property": null, "client_code": null })
                }
                None => json!({ "port": number, "state": "free", "property": null, "client_code": null }),
            }
        })
        .collect();
    json!({
        "id": id, "kind": "splitter", "name": e["name"], "project": e["project"], "box": e["box"],
        "service": e["service"], "ratio": format!("{}x{}", e["ratio_input"], e["ratio_output"]), "ports": ports,
    })
}

fn property(e: &Value, codes: &HashMap<String, Option<String>>) -> Value {
    let (lat, lng) = lat_lng(e);
    json!({
        "id": e["id"], "kind": "property", "name": e["name"], "project": e["project"], "box": e["box"],
        "splitter": e["connection"]["splitter"], "port": e["connection"]["port"],
        "client": e["client"], "client_code": property_code(e, codes),
        "lat": lat, "lng": lng, "address": e["address"],
    })
}

/// The names of the integrations holding a current element of `kind` with
/// this id, those that feed a project first.
pub fn holders(conn: &Db, kind: ElementKind, id: &str) -> Result<Vec<String>> {
    conn.query(
        &format!(
            "SELECT i.name FROM elements e JOIN integrations i ON i.id = e.integration_id
             WHERE e.kind = ?1 AND e.id = ?2 AND e.removed_at IS NULL
             ORDER BY NOT {FEEDS_A_PROJECT}, i.name"
        ),
        params![kind, id],
        |r| r.get::<String>(0),
    )
}
