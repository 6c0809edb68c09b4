//! The write routes: creating a property on a splitter port (with its client),
//! updating properties and clients, deleting them.

use serde_json::{Map, Value, json};

use crate::http::Answer;
use crate::network::{Network, doc_id};
use crate::query;
use crate::server::Shared;

/// Fields no update may touch: ids, kind, and `external_id`, which OZmap refuses
/// in updates.
const IMMUTABLE: [&str; 4] = ["id", "_id", "kind", "external_id"];
/// Set by the server, silently ignored in updates.
const SERVER_SET: [&str; 3] = ["createdAt", "updatedAt", "__v"];

fn object(body: &str) -> Result<Map<String, Value>, Answer> {
    match serde_json::from_str(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(Answer::error(400, "the body must be a JSON object")),
        Err(e) => Err(Answer::error(400, format!("the body is not JSON: {e}"))),
    }
}

fn str_field<'a>(body: &'a Map<String, Value>, key: &str) -> Result<Option<&'a str>, Answer> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(Answer::error(
            400,
            format!("{key} must be a string, not {other}"),
        )),
    }
}

fn valid_coords(v: &Value) -> Option<(f64, f64)> {
    let a = v.as_array().filter(|a| a.len() == 2)?;
    let (lng, lat) = (a[0].as_f64()?, a[1].as_f64()?);
    ((-180.0..=180.0).contains(&lng) && (-90.0..=90.0).contains(&lat)).then_some((lng, lat))
}

/// Type checks of client fields, on creation and update.
fn check_client_fields(c: &Map<String, Value>) -> Result<(), Answer> {
    for key in ["code", "name", "observation"] {
        str_field(c, key)?;
    }
    for key in ["implanted", "certified"] {
        if c.get(key).is_some_and(|v| !v.is_boolean()) {
            return Err(Answer::error(400, format!("{key} must be a boolean")));
        }
    }
    if let Some(status) = c.get("status")
        && !matches!(status.as_u64(), Some(0 | 1))
    {
        return Err(Answer::error(400, "status must be 0 (ok) or 1 (error)"));
    }
    if let Some(onu) = c.get("onu") {
        let ok = onu
            .as_object()
            .is_some_and(|o| o.values().all(|v| v.is_string() || v.is_null()));
        if !ok {
            return Err(Answer::error(
                400,
                "onu must be an object of strings {user_PPPoE, serial_number, mac_address}",
            ));
        }
    }
    Ok(())
}

/// `POST /api/v2/properties`.
pub(crate) fn create_property(shared: &Shared, body: &str) -> Answer {
    let body = match object(body) {
        Ok(b) => b,
        Err(a) => return a,
    };
    let result = shared
        .store
        .write_if_ok(&["properties", "splitters", "ftth-clients"], |net| {
            build_property(net, &body).map(|doc| Answer::json(201, doc))
        });
    result.unwrap_or_else(|a| a)
}

pub(crate) fn build_property(
    net: &mut Network,
    body: &Map<String, Value>,
) -> Result<Value, Answer> {
    let box_id = str_field(body, "box")?;
    let connector = str_field(body, "connector")?;
    let splitter = match connector {
        Some(id) => Some(
            net.find("splitters", id)
                .ok_or_else(|| Answer::error(400, format!("splitter {id} not found")))?
                .clone(),
        ),
        None => None,
    };
    let box_id = box_id
        .or_else(|| splitter.as_ref().and_then(|s| s["parent"].as_str()))
        .ok_or_else(|| Answer::error(400, "box is required"))?
        .to_owned();
    let the_box = net
        .find("boxes", &box_id)
        .ok_or_else(|| Answer::error(400, format!("box {box_id} not found")))?
        .clone();
    let box_project = the_box["project"].as_str().unwrap_or_default().to_owned();
    let project = match str_field(body, "project")? {
        Some(p) if net.find("projects", p).is_none() => {
            return Err(Answer::error(400, format!("project {p} not found")));
        }
        Some(p) if p != box_project => {
            return Err(Answer::error(
                400,
                format!("box {box_id} belongs to project {box_project}, not {p}"),
            ));
        }
        _ => box_project,
    };
    let coords = match body.get("coords") {
        None | Some(Value::Null) => valid_coords(&the_box["coords"]).unwrap_or_default(),
        Some(c) => valid_coords(c).ok_or_else(|| {
            Answer::error(
                400,
                format!("coords must be [lng, lat] within range, not {c}"),
            )
        })?,
    };
    let force = body.get("force").and_then(Value::as_bool).unwrap_or(false);
    let connection = match &splitter {
        Some(s) => Some(check_port(net, s, &box_id, body.get("port"))?),
        None => None,
    };
    let id = net.new_id();
    let stamp = net.next_updated_at();
    let (client_id, client_code) = match body.get("client") {
        None | Some(Value::Null) => (Value::Null, Value::Null),
        Some(Value::String(cid)) => {
            let client = net
                .find("ftth-clients", cid)
                .ok_or_else(|| Answer::error(400, format!("ftth client {cid} not found")))?;
            let code = client.get("code").cloned().unwrap_or(Value::Null);
            let holder = net
                .properties
                .position_where(&["client", "id", "_id"], |p| {
                    p["client"].as_str() == Some(cid)
                })
                .map(|at| net.properties.fields(at, &["id", "_id"]));
            if let (Some(holder), false) = (holder, force) {
                let other = doc_id(&holder).unwrap_or_default();
                return Err(Answer::error(
                    409,
                    format!("ftth client {cid} is already in property {other}"),
                ));
            }
            (Value::String(cid.clone()), code)
        }
        Some(Value::Object(fields)) => {
            check_client_fields(fields)?;
            let cid = net.new_id();
            let client = client_doc(&cid, fields, &stamp);
            let code = client.get("code").cloned().unwrap_or(Value::Null);
            net.ftth_clients.push(client);
            (Value::String(cid), code)
        }
        Some(other) => {
            return Err(Answer::error(
                400,
                format!("client must be an id or a client object, not {other}"),
            ));
        }
    };
    let connection = match (&splitter, connection) {
        (Some(s), Some(port)) => Some((connection_doc(s, port, net.new_id()), port)),
        _ => None,
    };
    let mut doc = property_doc(NewProperty {
        id: &id,
        project: &project,
        box_id: &box_id,
        pole: the_box["pole"].clone(),
        coords,
        address: body.get("address").cloned().unwrap_or(json!("")),
        client: (client_id, client_code),
        connection: connection.as_ref().map(|(c, _)| c.clone()),
        observation: body.get("observation").cloned().unwrap_or(json!("")),
        stamp: &stamp,
    });
    if let Some(ext) = body.get("external_id") {
        doc["external_id"] = ext.clone();
    }
    if let (Some(s), Some((_, port))) = (&splitter, connection)
        && let Some(held) = doc_id(s).and_then(|sid| net.find_mut("splitters", sid))
    {
        hold_port(held, port, &id, &stamp);
    }
    net.properties.push(doc.clone());
    Ok(doc)
}

/// A new FTTH client document: OZmap's defaults, then `fields` (but ids,
/// kind and server-set fields); `code` is `""` when none is given.
pub(crate) fn client_doc(id: &str, fields: &Map<String, Value>, stamp: &str) -> Value {
    let mut client = json!({
        "id": id, "_id": id, "kind": "ftth", "code": "", "name": "", "observation": "",
        "implanted": false, "certified": false, "status": 0,
        "onu": {"user_PPPoE": "", "serial_number": "", "mac_address": ""},
        "tags": [], "createdAt": stamp, "updatedAt": stamp,
    });
    for (k, v) in fields {
        if !IMMUTABLE[..3].contains(&k.as_str()) && !SERVER_SET.contains(&k.as_str()) {
            client[k] = v.clone();
        }
    }
    if client["code"].is_null() {
        client["code"] = json!("");
    }
    client
}

/// What a new property is made of.
pub(crate) struct NewProperty<'a> {
    pub(crate) id: &'a str,
    pub(crate) project: &'a str,
    pub(crate) box_id: &'a str,
    pub(crate) pole: Value,
    /// `(lng, lat)`.
    pub(crate) coords: (f64, f64),
    pub(crate) address: Value,
    /// The client's id (or null) and its code (recorded in the history).
    pub(crate) client: (Value, Value),
    /// Its `connections` entry, from [`connection_doc`].
    pub(crate) connection: Option<Value>,
    pub(crate) observation: Value,
    pub(crate) stamp: &'a str,
}

/// A property document as OZmap answers it (without `drop`: no drop cable
/// yet, and the SDK's schema takes a missing `drop`, not a null one).
pub(crate) fn property_doc(p: NewProperty<'_>) -> Value {
    let (client_id, client_code) = p.client;
    let history: Vec<Value> = if client_id.is_null() {
        Vec::new()
    } else {
        vec![
            json!({"id": client_id, "code": client_code, "enter_date": p.stamp, "exit_date": null}),
        ]
    };
    let (lng, lat) = p.coords;
    json!({
        "id": p.id, "_id": p.id, "kind": "Property", "project": p.project, "box": p.box_id,
        "pole": p.pole, "coords": [lng, lat], "lat": lat, "lng": lng,
        "address": p.address, "client": client_id,
        "connections": p.connection.into_iter().collect::<Vec<_>>(),
        "history": {"clients": history}, "observation": p.observation,
        "createdAt": p.stamp, "updatedAt": p.stamp,
    })
}

/// A property's `connections` entry for `port` (1-based) of `splitter`.
pub(crate) fn connection_doc(splitter: &Value, port: u64, fiber: String) -> Value {
    json!({"id": doc_id(splitter), "kind": "Splitter", "port": port, "name": splitter["name"],
           "implanted": splitter["implanted"].as_bool().unwrap_or(true), "fiber": fiber})
}

/// How many outputs `splitter` has.
pub(crate) fn port_count(splitter: &Value) -> u64 {
    splitter["ratio"]["output"]
        .as_u64()
        .or_else(|| {
            splitter["connectables"]["output"]
                .as_array()
                .map(|a| a.len() as u64)
        })
        .unwrap_or(0)
}

/// Whether output `port` (1-based) of `splitter` is neither blocked nor held,
/// by the splitter's own account (`connectables.output`), which the server
/// keeps in step with the properties' `connections`.
pub(crate) fn port_open(splitter: &Value, port: u64) -> bool {
    let index = (port as usize).wrapping_sub(1);
    (1..=port_count(splitter)).contains(&port)
        && splitter["ports"][index]["blocked"] != Value::Bool(true)
        && splitter["connectables"]["output"][index].is_null()
}

/// Marks output `port` (1-based) of `splitter` as held by property `id`.
pub(crate) fn hold_port(splitter: &mut Value, port: u64, id: &str, stamp: &str) {
    let pointer = format!("/connectables/output/{}", port.saturating_sub(1));
    if let Some(slot) = splitter.pointer_mut(&pointer) {
        *slot = Value::String(id.to_owned());
        splitter["updatedAt"] = json!(stamp);
    }
}

/// Frees output `port` (1-based) of `splitter` when property `id` holds it.
pub(crate) fn release_port(splitter: &mut Value, port: u64, id: &str, stamp: &str) {
    let pointer = format!("/connectables/output/{}", port.saturating_sub(1));
    if let Some(slot) = splitter.pointer_mut(&pointer)
        && slot.as_str() == Some(id)
    {
        *slot = Value::Null;
        splitter["updatedAt"] = json!(stamp);
    }
}

/// The `(splitter id, port)` pairs of a property's `connections`.
pub(crate) fn connected_ports(property: &Value) -> Vec<(String, u64)> {
    property["connections"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| Some((c["id"].as_str()?.to_owned(), c["port"].as_u64()?)))
        .collect()
}

/// Validates a client connection to `port` (1-based) of `splitter` in `box_id`.
fn check_port(
    net: &Network,
    splitter: &Value,
    box_id: &str,
    port: Option<&Value>,
) -> Result<u64, Answer> {
    let sid = doc_id(splitter).unwrap_or_default();
    if splitter["parent"].as_str() != Some(box_id) {
        return Err(Answer::error(
            400,
            format!("splitter {sid} is not in box {box_id}"),
        ));
    }
    if splitter["isDrop"] != Value::Bool(true) {
        return Err(Answer::error(
            400,
            format!("splitter {sid} does not allow client connections (isDrop is false)"),
        ));
    }
    let outputs = port_count(splitter);
    let port = port
        .and_then(Value::as_u64)
        .ok_or_else(|| Answer::error(400, "port (1-based) is required with connector"))?;
    if port == 0 || port > outputs {
        return Err(Answer::error(
            400,
            format!("port {port} is out of range: splitter {sid} has ports 1 to {outputs}"),
        ));
    }
    let index = (port - 1) as usize;
    if splitter["ports"][index]["blocked"] == Value::Bool(true) {
        return Err(Answer::error(
            400,
            format!("port {port} of splitter {sid} is blocked"),
        ));
    }
    let taken_by = net
        .properties
        .position_where(&["connections", "id", "_id"], |p| {
            p["connections"].as_array().is_some_and(|cs| {
                cs.iter()
                    .any(|c| c["id"].as_str() == Some(sid) && c["port"].as_u64() == Some(port))
            })
        })
        .map(|at| net.properties.fields(at, &["id", "_id"]));
    let occupant = taken_by
        .as_ref()
        .and_then(doc_id)
        .map(str::to_owned)
        .or_else(|| {
            splitter["connectables"]["output"][index]
                .as_str()
                .map(str::to_owned)
        });
    if let Some(other) = occupant {
        return Err(Answer::error(
            409,
            format!("port {port} of splitter {sid} is already taken by {other}"),
        ));
    }
    Ok(port)
}

/// `PATCH /api/v2/properties/<id>` and `PATCH /api/v2/ftth-clients/<id>`.
pub(crate) fn patch(shared: &Shared, route: &str, id: &str, body: &str) -> Answer {
    let mut changes = match object(body) {
        Ok(b) => b,
        Err(a) => return a,
    };
    if let Some(key) = IMMUTABLE.iter().find(|k| changes.contains_key(**k)) {
        return Answer::error(400, format!("{key} cannot be updated"));
    }
    for key in SERVER_SET {
        changes.remove(key);
    }
    if route == "ftth-clients" {
        if let Err(a) = check_client_fields(&changes) {
            return a;
        }
        // A client always has a code, empty when it has none.
        if changes.get("code").is_some_and(Value::is_null) {
            changes.insert("code".into(), json!(""));
        }
    }
    if let Some(c) = changes.get("coords")
        && valid_coords(c).is_none()
    {
        return Answer::error(
            400,
            format!("coords must be [lng, lat] within range, not {c}"),
        );
    }
    // As in the SDK's UpdatePropertyDTO, `connector` and `port` reconnect a
    // property; they and the creation switches are orders, not fields.
    let reconnect = if route == "properties" {
        let order = changes.contains_key("connector").then(|| {
            (
                changes.get("connector").cloned().unwrap_or(Value::Null),
                changes.get("port").cloned(),
            )
        });
        for key in ["connector", "port", "auto_connect", "force"] {
            changes.remove(key);
        }
        order
    } else {
        None
    };
    let touched: &[&str] = if route == "properties" {
        &["properties", "splitters"]
    } else {
        &[route]
    };
    let result = shared.store.write_if_ok(touched, |net| {
        if route == "properties"
            && let Some(Value::String(cid)) = changes.get("client")
            && net.find("ftth-clients", cid).is_none()
        {
            return Err(Answer::error(400, format!("ftth client {cid} not found")));
        }
        if let Some((connector, port)) = &reconnect {
            let new_box = str_field(&changes, "box")?.map(str::to_owned);
            reconnect_property(net, id, connector, port.as_ref(), new_box)?;
        }
        let client_code = |net: &Network, cid: &Value| {
            cid.as_str()
                .and_then(|c| net.find("ftth-clients", c))
                .and_then(|c| c.get("code").cloned())
        };
        let new_code = changes.get("client").and_then(|c| client_code(net, c));
        if net.find(route, id).is_none() {
            return Err(Answer::error(404, format!("{route}/{id} not found")));
        }
        let stamp = net.next_updated_at();
        let doc = net.find_mut(route, id).expect("found above");
        if let Some(new_client) = changes.get("client")
            && doc.get("client") != Some(new_client)
        {
            move_client_history(doc, new_client, new_code, &stamp);
        }
        for (k, v) in &changes {
            match (doc.get_mut(k), v) {
                (Some(Value::Object(old)), Value::Object(new)) if k == "onu" => {
                    old.extend(new.clone());
                }
                _ => doc[k] = v.clone(),
            }
        }
        if let Some((lng, lat)) = changes.get("coords").and_then(valid_coords) {
            doc["lng"] = json!(lng);
            doc["lat"] = json!(lat);
        }
        doc["updatedAt"] = json!(stamp);
        if let Some(v) = doc.get("__v").and_then(Value::as_u64) {
            doc["__v"] = json!(v + 1);
        }
        Ok(Answer::json(200, doc.clone()))
    });
    result.unwrap_or_else(|a| a)
}

/// A property's client is gone: `client` is null, its history entry closed.
pub(crate) fn leave_property(property: &mut Value, stamp: &str) {
    move_client_history(property, &Value::Null, None, stamp);
    property["client"] = Value::Null;
    property["updatedAt"] = json!(stamp);
}

fn move_client_history(doc: &mut Value, new_client: &Value, new_code: Option<Value>, stamp: &str) {
    let Some(history) = doc
        .pointer_mut("/history/clients")
        .and_then(Value::as_array_mut)
    else {
        return;
    };
    for entry in history.iter_mut() {
        if entry["exit_date"].is_null() {
            entry["exit_date"] = json!(stamp);
        }
    }
    if !new_client.is_null() {
        history.push(
            json!({"id": new_client, "code": new_code, "enter_date": stamp,
                            "exit_date": null}),
        );
    }
}

/// `DELETE /api/v2/properties/<id>`: the property goes, its ports are free again.
pub(crate) fn delete_property(shared: &Shared, id: &str) -> Answer {
    let result = shared
        .store
        .write_if_ok(&["properties", "splitters"], |net| {
            let at = net
                .properties
                .position_of_id(id)
                .ok_or_else(|| Answer::error(404, format!("properties/{id} not found")))?;
            let gone = net.properties.remove(at);
            let stamp = net.next_updated_at();
            free_ports(net, &gone, id, &stamp);
            Ok(Answer::no_content())
        });
    result.unwrap_or_else(|a| a)
}

/// Frees the splitter outputs that property `id` (`doc`) takes.
fn free_ports(net: &mut Network, doc: &Value, id: &str, stamp: &str) {
    for (sid, port) in connected_ports(doc) {
        if let Some(splitter) = net.find_mut("splitters", &sid) {
            release_port(splitter, port, id, stamp);
        }
    }
}

/// Moves property `id` to `port` of splitter `connector` (in `new_box`, or
/// the splitter's box), or off every port when `connector` is null. The
/// target is checked as on creation; the port it already takes is no change.
pub(crate) fn reconnect_property(
    net: &mut Network,
    id: &str,
    connector: &Value,
    port: Option<&Value>,
    new_box: Option<String>,
) -> Result<(), Answer> {
    let doc = net
        .find("properties", id)
        .ok_or_else(|| Answer::error(404, format!("properties/{id} not found")))?
        .clone();
    let target = match connector {
        Value::Null => None,
        Value::String(sid) => {
            let splitter = net
                .find("splitters", sid)
                .ok_or_else(|| Answer::error(400, format!("splitter {sid} not found")))?
                .clone();
            let box_id = new_box
                .or_else(|| splitter["parent"].as_str().map(str::to_owned))
                .unwrap_or_default();
            let already = doc["connections"].as_array().is_some_and(|cs| {
                cs.iter().any(|c| {
                    c["id"].as_str() == Some(sid.as_str())
                        && port.and_then(Value::as_u64) == c["port"].as_u64()
                })
            });
            if already {
                return Ok(());
            }
            let port = check_port(net, &splitter, &box_id, port)?;
            Some((splitter, box_id, port))
        }
        other => {
            return Err(Answer::error(
                400,
                format!("connector must be a splitter id or null, not {other}"),
            ));
        }
    };
    let stamp = net.next_updated_at();
    free_ports(net, &doc, id, &stamp);
    let connection = target
        .as_ref()
        .map(|(splitter, _, port)| connection_doc(splitter, *port, net.new_id()));
    let property = net.find_mut("properties", id).expect("found above");
    property["connections"] = json!(connection.into_iter().collect::<Vec<_>>());
    if let Some((_, box_id, _)) = &target {
        property["box"] = json!(box_id);
    }
    property["updatedAt"] = json!(stamp);
    if let Some((splitter, _, port)) = target
        && let Some(held) = doc_id(&splitter).and_then(|sid| net.find_mut("splitters", sid))
    {
        hold_port(held, port, id, &stamp);
    }
    Ok(())
}

/// `DELETE /api/v2/ftth-clients/<id>`: properties holding it are left without client.
pub(crate) fn delete_client(shared: &Shared, id: &str) -> Answer {
    let result = shared
        .store
        .write_if_ok(&["ftth-clients", "properties"], |net| {
            let at = net
                .ftth_clients
                .position_of_id(id)
                .ok_or_else(|| Answer::error(404, format!("ftth-clients/{id} not found")))?;
            net.ftth_clients.remove(at);
            let stamp = net.next_updated_at();
            let properties = &mut net.properties;
            for at in 0..properties.len() {
                if properties.fields(at, &["client"])["client"].as_str() == Some(id) {
                    properties.update(at, |p| leave_property(p, &stamp));
                }
            }
            Ok(Answer::no_content())
        });
    result.unwrap_or_else(|a| a)
}

/// `POST /api/v2/ftth-clients/batch-update` with `{filter, update}`: only
/// `certified`, `implanted` and `status` may change, as in the SDK.
pub(crate) fn batch_update_clients(shared: &Shared, body: &str) -> Answer {
    let body = match object(body) {
        Ok(b) => b,
        Err(a) => return a,
    };
    let filter = match query::parse_filter(body.get("filter").unwrap_or(&Value::Null)) {
        Ok(f) => f,
        Err(e) => return Answer::error(400, e),
    };
    let update = match body.get("update") {
        Some(Value::Object(u)) => u.clone(),
        _ => return Answer::error(400, "update must be an object"),
    };
    if let Some(k) = update
        .keys()
        .find(|k| !["certified", "implanted", "status"].contains(&k.as_str()))
    {
        return Answer::error(400, format!("{k} cannot be batch-updated"));
    }
    if let Err(a) = check_client_fields(&update) {
        return a;
    }
    let result: Result<Answer, Answer> = shared.store.write_if_ok(&["ftth-clients"], |net| {
        let stamp = net.next_updated_at();
        let mut n = 0;
        let fields = query::filter_fields(&filter);
        let fields: Vec<&str> = fields.iter().map(String::as_str).collect();
        let clients = &mut net.ftth_clients;
        for at in 0..clients.len() {
            if query::matches(&filter, &clients.fields(at, &fields)) {
                clients.update(at, |c| {
                    for (k, v) in &update {
                        c[k] = v.clone();
                    }
                    c["updatedAt"] = json!(stamp);
                });
                n += 1;
            }
        }
        Ok(Answer::json(200, json!({"matched": n, "modified": n})))
    });
    result.unwrap_or_else(|a| a)
}
