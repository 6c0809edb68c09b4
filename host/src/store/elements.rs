//! The synchronised network as people and scripts read it (`elements`).
//!
//! Elements are stored as the guest normalised them (JSON of the WIT
//! records); this module shapes them into the public JSON contract and
//! gives each port its state from the properties that take it (found in
//! the network's columns, `store::network`).

use std::collections::HashMap;

use anyhow::Result;
use serde::{Deserialize, Serialize};
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
    // PostgreSQL's words. Chosen elements are found from the list of ids
    // (`CROSS JOIN` keeps that order on SQLite; PostgreSQL, which may not
    // know yet how many elements there are, looks each up too).
    let (from, ids) = match which {
        Select::All => ("elements e WHERE".to_string(), None),
        Select::Ids(ids) => (
            "json_each(?3) j CROSS JOIN elements e WHERE e.id = j.value AND".to_string(),
            Some(ids),
        ),
        // Splitters and properties by their box's column.
        Select::InBoxes(ids) => (
            match network::box_table(kind) {
                Some(table) => format!(
                    "json_each(?3) j CROSS JOIN {table} b CROSS JOIN elements e
                     WHERE b.integration_id = ?1 AND b.box_id = j.value AND e.id = b.id AND"
                ),
                None => "elements e WHERE json_extract(e.data, '$.box') IN (SELECT value FROM json_each(?3)) AND"
                    .to_string(),
            },
            Some(ids),
        ),
    };
    let sql = format!(
        "SELECT e.data, e.invalid_reason FROM {from}
         e.integration_id = ?1 AND e.kind = ?2 AND e.removed_at IS NULL ORDER BY e.id"
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
            // Each once, as `IN` would have it.
            let mut ids: Vec<&String> = ids.iter().collect();
            ids.sort();
            ids.dedup();
            let ids = serde_json::to_string(&ids)?;
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

/// A box as people see it: the keys `GET /boxes` shows, in the order
/// `serde_json` keeps an object's keys (sorted), so that it reads as the
/// same text whether built as a `Value` or written straight from here.
#[derive(Clone, Debug, Serialize)]
pub struct ShownBox {
    pub box_type: Value,
    pub hierarchy_level: Value,
    pub id: Value,
    pub implanted: Value,
    pub invalid: Option<String>,
    pub kind: &'static str,
    pub lat: Value,
    pub lng: Value,
    pub name: Value,
    pub pole: Value,
    pub project: Value,
}

/// A stored box, read without building a map of it (absent fields null).
#[derive(Deserialize)]
struct StoredBox {
    #[serde(default)]
    id: Value,
    #[serde(default)]
    name: Value,
    #[serde(default)]
    project: Value,
    #[serde(default)]
    pole: Value,
    #[serde(default)]
    position: Option<StoredPosition>,
    #[serde(default)]
    box_type: Value,
    #[serde(default)]
    hierarchy_level: Value,
    #[serde(default)]
    implanted: Value,
}

/// A stored position: an object (as `e["position"]["lat"]` reads only an
/// object's fields; a derived `Deserialize` would take an array too).
struct StoredPosition {
    lat: Value,
    lng: Value,
}

impl<'de> Deserialize<'de> for StoredPosition {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Fields;
        impl<'de> serde::de::Visitor<'de> for Fields {
            type Value = StoredPosition;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<StoredPosition, A::Error> {
                let (mut lat, mut lng) = (Value::Null, Value::Null);
                while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    match key.as_ref() {
                        "lat" => lat = map.next_value()?,
                        "lng" => lng = map.next_value()?,
                        _ => {
                            map.next_value::<serde::de::IgnoredAny>()?;
                        }
                    }
                }
                Ok(StoredPosition { lat, lng })
            }
        }
        d.deserialize_map(Fields)
    }
}

impl ShownBox {
    /// From a stored box as read (`stored`: its `invalid` set).
    fn of(e: &Value) -> ShownBox {
        ShownBox::with(e, e[INVALID].as_str().map(str::to_string))
    }

    /// From a stored box's JSON and why it is invalid.
    fn with(e: &Value, invalid: Option<String>) -> ShownBox {
        let (lat, lng) = lat_lng(e);
        ShownBox {
            box_type: e["box_type"].clone(),
            hierarchy_level: e["hierarchy_level"].clone(),
            id: e["id"].clone(),
            implanted: e["implanted"].clone(),
            invalid,
            kind: kind_name(ElementKind::Box),
            lat,
            lng,
            name: e["name"].clone(),
            pole: e["pole"].clone(),
            project: e["project"].clone(),
        }
    }

    /// From a stored box's JSON text and why it is invalid.
    fn parse(data: &str, invalid: Option<String>) -> Result<ShownBox> {
        // An object of the component's shape; anything else as any JSON.
        let typed = data
            .trim_start()
            .starts_with('{')
            .then(|| serde_json::from_str::<StoredBox>(data).ok())
            .flatten();
        let Some(b) = typed else {
            return Ok(ShownBox::with(&serde_json::from_str(data)?, invalid));
        };
        let (lat, lng) = b
            .position
            .map_or((Value::Null, Value::Null), |p| (p.lat, p.lng));
        Ok(ShownBox {
            box_type: b.box_type,
            hierarchy_level: b.hierarchy_level,
            id: b.id,
            implanted: b.implanted,
            invalid,
            kind: kind_name(ElementKind::Box),
            lat,
            lng,
            name: b.name,
            pole: b.pole,
            project: b.project,
        })
    }
}

/// The current boxes of the integration with these (distinct) ids, as
/// shown, by id (in no set order); read straight into their shown form.
pub fn shown_boxes(
    conn: &Db,
    integration_id: &str,
    ids: &[String],
) -> Result<Vec<(String, ShownBox)>> {
    // From the list of ids, each looked up (see `stored`); `ids` are
    // distinct.
    conn.query(
        "SELECT e.id, e.data, e.invalid_reason FROM json_each(?2) j CROSS JOIN elements e
         WHERE e.integration_id = ?1 AND e.kind = 'box' AND e.id = j.value AND e.removed_at IS NULL",
        params![integration_id, serde_json::to_string(ids)?],
        |r| {
            let shown = ShownBox::parse(&r.get::<String>(1)?, r.get(2)?)?;
            Ok((r.get(0)?, shown))
        },
    )
}

fn simple(kind: ElementKind, e: &Value) -> Value {
    if kind == ElementKind::Box {
        return serde_json::to_value(ShownBox::of(e)).unwrap_or(Value::Null);
    }
    let (lat, lng) = lat_lng(e);
    let mut out = json!({ "id": e["id"], "kind": kind_name(kind), "name": e["name"] });
    let extra = match kind {
        ElementKind::Project => json!({ "identifier": e["identifier"], "lat": lat, "lng": lng }),
        ElementKind::Pole => json!({ "lat": lat, "lng": lng, "pole_type": e["pole_type"] }),
        // Shaped as a `ShownBox`.
        ElementKind::Box => json!({}),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A box as it was shown before `ShownBox`: a `Value` built key by key.
    fn as_before(e: &Value, invalid: Option<&str>) -> Value {
        let (lat, lng) = lat_lng(e);
        json!({
            "id": e["id"], "kind": "box", "name": e["name"], "project": e["project"],
            "pole": e["pole"], "lat": lat, "lng": lng, "hierarchy_level": e["hierarchy_level"],
            "implanted": e["implanted"], "box_type": e["box_type"], "invalid": invalid,
        })
    }

    #[test]
    fn a_box_reads_as_the_same_text_however_it_is_built() {
        let boxes = [
            json!({"id": "b1", "name": "CTO \"1\"", "project": "pr", "pole": "p1",
                   "position": {"lat": -27.590001, "lng": -48.5}, "box_type": "t",
                   "hierarchy_level": 3, "implanted": true}),
            json!({"id": "b2", "name": "CTO 2", "project": "pr", "pole": null,
                   "position": null, "box_type": null, "hierarchy_level": null, "implanted": false}),
            // Fields missing, or of a shape the component never writes.
            json!({"id": "b3", "name": "CTO 3"}),
            json!({"id": "b4", "name": "CTO 4", "position": [1, 2], "extra": {"a": 1}}),
            json!({"id": "b5", "position": {"lng": 1, "x": [2], "lat": 3, "lat": 4}}),
            json!(["b6", "CTO 6"]),
        ];
        for e in &boxes {
            for invalid in [None, Some("lat out of range")] {
                let shown = ShownBox::parse(&e.to_string(), invalid.map(str::to_string)).unwrap();
                let before = as_before(e, invalid);
                assert_eq!(
                    serde_json::to_string(&shown).unwrap(),
                    serde_json::to_string(&before).unwrap()
                );
                if !e.is_object() {
                    continue;
                }
                let mut stored = e.clone();
                stored[INVALID] = json!(invalid);
                let mut shaped = simple(ElementKind::Box, &stored);
                shaped[INVALID] = stored[INVALID].clone();
                assert_eq!(shaped, before);
            }
        }
    }
}
