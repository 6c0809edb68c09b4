//! OZmap's JSON records, read liberally and normalised into the model.
//!
//! Each reader answers the element or the reason the record breaks the
//! schema. Missing optional fields, `null`s, extra fields and populated
//! references (`{"id": ...}` where an id is usual) are all accepted.

use serde_json::Value;

use super::page::Row;

use crate::model::{
    Client, Connection, NetworkBox, Pole, Port, Position, Project, Property, Splitter,
};

pub type Reading<T> = Result<T, String>;

/// Every top-level field of a record that a reader here, or the sync,
/// looks at: a page's rows keep these and nothing else (see
/// [`super::page`]). A reader that reads a new field adds it here; the
/// tests read a generated network both ways and compare.
pub const READ_FIELDS: [&str; 27] = [
    // Every record: `id_of`, `name`, `position`; the watermark.
    "id",
    "_id",
    "name",
    "coords",
    "lat",
    "lng",
    "updatedAt",
    // Projects.
    "identifier",
    // Poles and boxes.
    "poleType",
    "project",
    "pole",
    "boxType",
    "hierarchyLevel",
    "implanted",
    // Splitters and their types.
    "parent",
    "isDrop",
    "splitterType",
    "ratio",
    "ports",
    // Clients.
    "code",
    "status",
    "onu",
    "observation",
    // Properties.
    "client",
    "connections",
    "box",
    "address",
];

/// Of the read fields that hold objects, or lists of them, in their
/// hundreds of thousands, the fields a reader looks at in each object: the
/// rest of it is skipped as a record's unread fields are. A splitter's
/// ports (a million objects in a network of a million elements, of which
/// only `blocked` is read) and a property's connections were the largest
/// part of what a page built. A reader that reads a new field of one adds
/// it here.
pub const READ_NESTED: [(&str, &[&str]); 2] = [
    ("ports", &["blocked"]),
    ("connections", &["id", "kind", "port"]),
];

/// What is read of each object under `field` ([`READ_NESTED`]), or `None`
/// when it is kept whole.
pub fn read_nested(field: &str) -> Option<&'static [&'static str]> {
    READ_NESTED
        .iter()
        .find(|(name, _)| same_name(name, field))
        .map(|(_, read)| *read)
}

/// Whether two field names are the same. A page's parser looks for each
/// key of each row among the read fields, and each reader for its fields
/// among a row's: their lengths and their first and last bytes are
/// compared before the whole of them, which WebAssembly compares a byte at
/// a time in a call of its own.
pub fn same_name(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.first() == b.first() && a.last() == b.last() && a == b
}

/// A record's fields by name: a page's [`Row`](super::page::Row), or a
/// JSON object (a populated reference, an embedded client).
pub trait Record {
    fn get(&self, key: &str) -> Option<&Value>;
}

impl Record for Value {
    fn get(&self, key: &str) -> Option<&Value> {
        Value::get(self, key)
    }
}

/// The record's id (`id`, else `_id`), when it has a usable one.
pub fn id_of(record: &(impl Record + ?Sized)) -> Option<String> {
    reference(record.get("id")).or_else(|| reference(record.get("_id")))
}

/// [`id_of`] a row no longer needed: an id sent as it should be is taken,
/// not copied (a walk of a million ids reads nothing else of them).
pub fn into_id(row: Row) -> Option<String> {
    let Row::Fields(mut fields) = row else {
        return id_of(&row);
    };
    let plain = fields.iter().position(|(key, value)| {
        *key == "id"
            && matches!(value, Value::String(s) if !s.is_empty() && s.trim().len() == s.len())
    });
    match plain.map(|at| fields.swap_remove(at).1) {
        Some(Value::String(id)) => Some(id),
        _ => id_of(&Row::Fields(fields)),
    }
}

/// An id given as a string, a number, or a populated object holding an id.
fn reference(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::Object(_) => id_of(value?),
        _ => None,
    }
}

fn text(record: &(impl Record + ?Sized), key: &str) -> Option<String> {
    match record.get(key)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn name(record: &(impl Record + ?Sized)) -> String {
    text(record, "name").unwrap_or_default()
}

fn flag(record: &(impl Record + ?Sized), key: &str) -> bool {
    record.get(key).and_then(Value::as_bool).unwrap_or(false)
}

fn number(value: Option<&Value>) -> Option<f64> {
    match value? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn whole(value: Option<&Value>) -> Option<u32> {
    number(value)
        .filter(|n| *n >= 0.0 && n.fract() == 0.0 && *n <= u32::MAX as f64)
        .map(|n| n as u32)
}

/// `coords: [lng, lat]` (longitude first) or `lat`/`lng`; absent is fine,
/// out of range is not.
fn position(record: &(impl Record + ?Sized)) -> Reading<Option<Position>> {
    let (lng, lat) = match record.get("coords").and_then(Value::as_array) {
        Some(c) if c.len() >= 2 => (number(c.first()), number(c.get(1))),
        _ => (number(record.get("lng")), number(record.get("lat"))),
    };
    let (Some(lat), Some(lng)) = (lat, lng) else {
        return Ok(None);
    };
    if !(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&lng) {
        return Err(format!("coordinates out of range (lat {lat}, lng {lng})"));
    }
    Ok(Some(Position { lat, lng }))
}

fn required_id(record: &(impl Record + ?Sized)) -> Reading<String> {
    id_of(record).ok_or_else(|| "the record has no id".to_string())
}

fn required_ref(record: &(impl Record + ?Sized), key: &str, what: &str) -> Reading<String> {
    reference(record.get(key)).ok_or_else(|| format!("the {what} reference (`{key}`) is missing"))
}

/// Text that may be a string or an object with the usual address fields.
fn address(record: &(impl Record + ?Sized)) -> Option<String> {
    match record.get("address")? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Object(a) => {
            let parts: Vec<&str> = ["street", "number", "neighborhood", "city", "state"]
                .iter()
                .filter_map(|k| a.get(*k).and_then(Value::as_str))
                .filter(|s| !s.trim().is_empty())
                .collect();
            (!parts.is_empty()).then(|| parts.join(", "))
        }
        _ => None,
    }
}

pub fn project(record: &(impl Record + ?Sized)) -> Reading<Project> {
    Ok(Project {
        id: required_id(record)?,
        name: record
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        identifier: text(record, "identifier"),
        position: position(record)?,
    })
}

pub fn pole(record: &(impl Record + ?Sized)) -> Reading<Pole> {
    Ok(Pole {
        id: required_id(record)?,
        name: name(record),
        position: position(record)?,
        pole_type: reference(record.get("poleType")),
    })
}

pub fn network_box(record: &(impl Record + ?Sized)) -> Reading<NetworkBox> {
    Ok(NetworkBox {
        id: required_id(record)?,
        name: name(record),
        project: required_ref(record, "project", "project")?,
        pole: reference(record.get("pole")),
        position: position(record)?,
        box_type: reference(record.get("boxType")),
        hierarchy_level: whole(record.get("hierarchyLevel")),
        implanted: flag(record, "implanted"),
    })
}

/// `service_by_type` answers whether a splitter type allows client
/// connection, for splitters that do not say so themselves.
pub fn splitter(
    record: &(impl Record + ?Sized),
    service_by_type: impl Fn(&str) -> Option<bool>,
) -> Reading<Splitter> {
    let id = required_id(record)?;
    let box_id = required_ref(record, "parent", "box")?;
    let project = required_ref(record, "project", "project")?;
    let service = match record.get("isDrop").and_then(Value::as_bool) {
        Some(is_drop) => is_drop,
        None => reference(record.get("splitterType"))
            .and_then(|t| service_by_type(&t))
            .or_else(|| {
                record
                    .get("splitterType")
                    .and_then(|t| t.get("isDrop"))
                    .and_then(Value::as_bool)
            })
            .unwrap_or(false),
    };
    let ratio = record.get("ratio");
    let listed_ports = record.get("ports").and_then(Value::as_array);
    let ratio_output = ratio
        .and_then(|r| whole(r.get("output")))
        .or_else(|| listed_ports.map(|p| p.len() as u32))
        .ok_or_else(|| "the splitter has neither `ratio.output` nor `ports`".to_string())?;
    if ratio_output == 0 || ratio_output > 1024 {
        return Err(format!("implausible splitter output count {ratio_output}"));
    }
    // Ports are listed in output order; `index` is 0- or 1-based depending on
    // the server's age, so the position in the list is the safer key.
    let ports = (1..=ratio_output)
        .map(|number| Port {
            number,
            blocked: listed_ports
                .and_then(|p| p.get(number as usize - 1))
                .map(|p| flag(p, "blocked"))
                .unwrap_or(false),
        })
        .collect();
    Ok(Splitter {
        id,
        name: name(record),
        project,
        box_id,
        service,
        ratio_input: ratio.and_then(|r| whole(r.get("input"))).unwrap_or(1),
        ratio_output,
        ports,
    })
}

pub fn client(record: &(impl Record + ?Sized)) -> Reading<Client> {
    let onu = record.get("onu");
    let onu_text = |key: &str| onu.and_then(|o| text(o, key));
    Ok(Client {
        id: required_id(record)?,
        code: text(record, "code"),
        name: name(record),
        implanted: flag(record, "implanted"),
        status: whole(record.get("status")).unwrap_or(0),
        pppoe_login: onu_text("user_PPPoE"),
        onu_serial: onu_text("serial_number"),
        onu_mac: onu_text("mac_address"),
        observation: text(record, "observation"),
    })
}

/// A property, and its client when the platform sent it whole.
pub fn property(record: &(impl Record + ?Sized)) -> Reading<(Property, Option<Client>)> {
    let id = required_id(record)?;
    let embedded = match record.get("client") {
        Some(c @ Value::Object(_)) => Some(client(c).map_err(|e| format!("its client: {e}"))?),
        _ => None,
    };
    let connection = match record.get("connections").and_then(Value::as_array) {
        Some(connections) => connections
            .iter()
            .filter(|c| {
                c.get("kind")
                    .and_then(Value::as_str)
                    .is_none_or(|k| k.eq_ignore_ascii_case("splitter"))
            })
            .find_map(|c| Some((reference(c.get("id"))?, c.get("port"))))
            .map(|(splitter, port)| match whole(port) {
                Some(port) if port >= 1 => Ok(Connection { splitter, port }),
                _ => Err(format!(
                    "its connection to splitter {splitter} has no valid 1-based port"
                )),
            })
            .transpose()?,
        None => None,
    };
    let property = Property {
        project: required_ref(record, "project", "project")?,
        name: name(record),
        box_id: reference(record.get("box")),
        position: position(record)?,
        address: address(record),
        connection,
        client: embedded
            .as_ref()
            .map(|c| c.id.clone())
            .or_else(|| reference(record.get("client"))),
        client_code: embedded.as_ref().and_then(|c| c.code.clone()),
        id,
    };
    Ok((property, embedded))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_rows_id_taken_is_the_id_read() {
        let rows = json!([
            {"id": "65d04aba7276220000000025", "name": "x"},
            {"id": " 65d04aba7276220000000025 "},
            {"id": 7},
            {"id": "", "_id": "u"},
            {"_id": "u"},
            {"id": {"id": "nested"}},
            {"name": "no id"},
            "not a record",
        ]);
        let body = json!({"rows": rows}).to_string();
        let page = crate::ozmap::page::parse(body.as_bytes()).unwrap();
        for (row, json) in page.rows.into_iter().zip(rows.as_array().unwrap()) {
            let read = id_of(&row);
            assert_eq!(into_id(row), read, "{json}");
        }
    }

    #[test]
    fn coords_are_longitude_first_and_range_checked() {
        let p = pole(&json!({"id": "a", "coords": [-48.5, -27.6], "lat": null})).unwrap();
        assert_eq!(
            p.position,
            Some(Position {
                lat: -27.6,
                lng: -48.5
            })
        );
        let p = pole(&json!({"_id": "a", "lat": -27.6, "lng": -48.5})).unwrap();
        assert_eq!(
            p.position,
            Some(Position {
                lat: -27.6,
                lng: -48.5
            })
        );
        assert!(
            pole(&json!({"id": "a", "coords": [-48.5, 127.6]}))
                .unwrap_err()
                .contains("out of range")
        );
        assert_eq!(pole(&json!({"id": "a"})).unwrap().position, None);
        assert!(pole(&json!({"name": "P1"})).unwrap_err().contains("no id"));
    }

    #[test]
    fn splitter_ports_follow_ratio_and_blocked_flags() {
        let s = splitter(
            &json!({"id": "s", "parent": {"id": "b"}, "project": "p", "isDrop": true,
                    "ratio": {"input": 1, "output": 4},
                    "ports": [{"blocked": false}, {"blocked": true}]}),
            |_| None,
        )
        .unwrap();
        assert!(s.service);
        assert_eq!(s.box_id, "b");
        assert_eq!(s.ports.len(), 4);
        assert_eq!(
            s.ports
                .iter()
                .filter(|p| p.blocked)
                .map(|p| p.number)
                .collect::<Vec<_>>(),
            vec![2]
        );
    }

    #[test]
    fn splitter_service_flag_falls_back_to_its_type() {
        let record = json!({"id": "s", "parent": "b", "project": "p", "splitterType": "t", "ratio": {"output": 8}});
        assert!(
            splitter(&record, |t| (t == "t").then_some(true))
                .unwrap()
                .service
        );
        assert!(!splitter(&record, |_| None).unwrap().service);
        assert!(
            splitter(
                &json!({"id": "s", "project": "p", "ratio": {"output": 8}}),
                |_| None
            )
            .is_err()
        );
    }

    #[test]
    fn client_code_empty_is_none() {
        assert_eq!(
            client(&json!({"id": "c", "code": "  "})).unwrap().code,
            None
        );
        assert_eq!(
            client(&json!({"id": "c", "code": 123}))
                .unwrap()
                .code
                .as_deref(),
            Some("123")
        );
        let c = client(&json!({"id": "c", "code": "SVC-1", "onu": {"user_PPPoE": "joao", "serial_number": null}})).unwrap();
        assert_eq!(c.pppoe_login.as_deref(), Some("joao"));
        assert_eq!(c.onu_serial, None);
    }

    #[test]
    fn property_connection_and_client_forms() {
        let (p, c) = property(&json!({"id": "h", "project": "p", "client": null,
            "connections": [{"id": "s", "kind": "Splitter", "port": 3}]}))
        .unwrap();
        assert_eq!(
            p.connection,
            Some(Connection {
                splitter: "s".into(),
                port: 3
            })
        );
        assert_eq!((p.client, c), (None, None));
        let (p, c) = property(
            &json!({"id": "h", "project": {"id": "p"}, "client": {"id": "c", "code": "X"}}),
        )
        .unwrap();
        assert_eq!(p.client_code.as_deref(), Some("X"));
        assert_eq!(c.unwrap().id, "c");
        assert!(
            property(&json!({"id": "h", "project": "p", "connections": [{"id": "s", "port": 0}]}))
                .is_err()
        );
    }
}
