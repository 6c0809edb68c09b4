//! What identification and matching read: the services and each
//! integration's current clients with the property that holds them; and
//! the bindings identification keeps.
//!
//! The rows come back as the component's matching types, since that is
//! all they are read for; which client is which service is the
//! component's to say, and what to do about it `sync::identification`'s.

use std::collections::BTreeMap;

use anyhow::Result;
use serde_json::Value;

use crate::component::bindings::matching::{PlatformClient, Service as MatchService};
use crate::component::bindings::types::{Connection as Port, Position};
use crate::params;
use crate::store::Db;
use crate::store::bindings::record;
use crate::store::states::BindingState;

/// Every service, as matching reads it, by id.
pub fn services_to_match(conn: &Db) -> Result<Vec<MatchService>> {
    conn.query(
        "SELECT id_cliente_servico, name, document, pppoe_login, onu_serial, lat, lng
         FROM services ORDER BY id_cliente_servico",
        params![],
        |r| {
            let (lat, lng): (Option<f64>, Option<f64>) = (r.get(5)?, r.get(6)?);
            Ok(MatchService {
                id: r.get(0)?,
                name: r.get(1)?,
                document: r.get(2)?,
                pppoe_login: r.get(3)?,
                onu_serial: r.get(4)?,
                position: lat.zip(lng).map(|(lat, lng)| Position { lat, lng }),
            })
        },
    )
}

/// Each property's box, by property id.
pub type PropertyBoxes = BTreeMap<String, Option<String>>;

/// An integration's current clients as matching reads them, and the box of
/// each property that holds one (a binding made from it records the box).
pub struct PlatformClients {
    pub clients: Vec<PlatformClient>,
    pub boxes: PropertyBoxes,
}

/// An integration's current clients, each with the property that holds it
/// (one on a port first, then the smallest id), and that property's box.
pub fn platform_clients(conn: &Db, integration_id: &str) -> Result<PlatformClients> {
    let properties = conn.query(
        "SELECT id, data FROM elements
         WHERE integration_id = ?1 AND kind = 'property' AND removed_at IS NULL ORDER BY id",
        params![integration_id],
        |r| Ok((r.get::<String>(0)?, r.get::<String>(1)?)),
    )?;
    let clients = conn.query(
        "SELECT id, data FROM elements
         WHERE integration_id = ?1 AND kind = 'client' AND removed_at IS NULL ORDER BY id",
        params![integration_id],
        |r| Ok((r.get::<String>(0)?, r.get::<String>(1)?)),
    )?;
    held(clients, properties)
}

/// At most `limit` of an integration's current clients, the first whose
/// ids follow `after`, as [`platform_clients`] answers them: identification
/// reads a network a page at a time, so its memory does not grow with it.
pub fn platform_clients_after(
    conn: &Db,
    integration_id: &str,
    after: Option<&str>,
    limit: u32,
) -> Result<PlatformClients> {
    let clients = conn.query(
        "SELECT id, data FROM elements
         WHERE integration_id = ?1 AND kind = 'client' AND removed_at IS NULL AND id > ?2
         ORDER BY id LIMIT ?3",
        params![integration_id, after.unwrap_or_default(), limit],
        |r| Ok((r.get::<String>(0)?, r.get::<String>(1)?)),
    )?;
    let ids: Vec<&str> = clients.iter().map(|(id, _)| id.as_str()).collect();
    let properties = conn.query(
        "SELECT e.id, e.data FROM properties p
         JOIN elements e ON e.integration_id = p.integration_id AND e.kind = 'property' AND e.id = p.id
         WHERE p.integration_id = ?1 AND p.client_id IN (SELECT value FROM json_each(?2))
           AND e.removed_at IS NULL
         ORDER BY e.id",
        params![integration_id, serde_json::to_string(&ids)?],
        |r| Ok((r.get::<String>(0)?, r.get::<String>(1)?)),
    )?;
    held(clients, properties)
}

/// Clients met with the properties that hold them (in id order), by the
/// client id a property names: a join on a JSON path made the store
/// compare every client with every property (minutes at 100,000 elements).
fn held(
    clients: Vec<(String, String)>,
    properties: Vec<(String, String)>,
) -> Result<PlatformClients> {
    // The property kept for each client: one on a port first.
    let mut holding: BTreeMap<String, (String, Value)> = BTreeMap::new();
    for (id, data) in properties {
        let place: Value = serde_json::from_str(&data)?;
        let Some(client) = place["client"].as_str().map(str::to_string) else {
            continue;
        };
        let on_port = |p: &Value| p["connection"].is_object();
        match holding.get(&client) {
            Some((_, kept)) if on_port(kept) || !on_port(&place) => {}
            _ => {
                holding.insert(client, (id, place));
            }
        }
    }
    let text = |v: &Value| v.as_str().map(str::to_string);
    let mut found = Vec::new();
    let mut boxes = BTreeMap::new();
    for (id, data) in clients {
        let data: Value = serde_json::from_str(&data)?;
        let (property, place) = match holding.remove(&id) {
            Some((property, place)) => (Some(property), place),
            None => (None, Value::Null),
        };
        if let Some(property) = &property {
            boxes.insert(property.clone(), text(&place["box"]));
        }
        found.push(PlatformClient {
            id,
            code: text(&data["code"]),
            name: text(&data["name"]).unwrap_or_default(),
            observation: text(&data["observation"]),
            pppoe_login: text(&data["pppoe_login"]),
            onu_serial: text(&data["onu_serial"]),
            property,
            position: place["position"]["lat"]
                .as_f64()
                .zip(place["position"]["lng"].as_f64())
                .map(|(lat, lng)| Position { lat, lng }),
            connection: place["connection"]["splitter"]
                .as_str()
                .zip(place["connection"]["port"].as_u64())
                .map(|(splitter, port)| Port {
                    splitter: splitter.to_string(),
                    port: port as u32,
                }),
        });
    }
    Ok(PlatformClients {
        clients: found,
        boxes,
    })
}

/// A service the platform shows on a port: its client on that port, and
/// the property (and its box) that holds the client there.
pub struct PlatformBinding {
    pub service: String,
    pub client: String,
    pub property: String,
    pub splitter: String,
    pub port: u32,
    pub box_id: Option<String>,
}

/// What a service's binding holds now, whoever made it: identification
/// only changes its own (`from-platform`) ones.
pub struct CurrentBinding {
    pub state: BindingState,
    pub splitter: String,
    pub port: u32,
}

/// The binding the service has, if any.
pub fn current_binding(conn: &Db, service: &str) -> Result<Option<CurrentBinding>> {
    conn.query_opt(
        "SELECT state, splitter_id, port FROM bindings WHERE service_id = ?1",
        params![service],
        |r| {
            Ok(CurrentBinding {
                state: r.get(0)?,
                splitter: r.get(1)?,
                port: r.get(2)?,
            })
        },
    )
}

/// Bind a service the platform shows on a port, `from-platform`, with a
/// trace. A binding another writer made meanwhile wins (nothing is written
/// then); answers whether this one was added.
pub fn add_from_platform(
    conn: &Db,
    integration_id: &str,
    found: &PlatformBinding,
    now: &str,
) -> Result<bool> {
    let PlatformBinding {
        service,
        client,
        property,
        splitter,
        port,
        box_id,
    } = found;
    let inserted = conn.execute(
        "INSERT INTO bindings (service_id, integration_id, splitter_id, port, box_id, state,
             platform_client_id, platform_property_id, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, 'from-platform', ?6, ?7, ?8, ?8)
         ON CONFLICT DO NOTHING",
        params![
            service,
            integration_id,
            splitter,
            port,
            box_id,
            client,
            property,
            now
        ],
    )?;
    if inserted == 1 {
        let detail = format!(
            "identified on the platform: client {client} on port {port} of splitter {splitter}"
        );
        record(
            conn,
            service,
            BindingState::FromPlatform.as_str(),
            Some(&detail),
        )?;
    }
    Ok(inserted == 1)
}

/// A `from-platform` binding follows its client to the port the platform
/// now shows it on, with a trace.
pub fn move_from_platform(conn: &Db, found: &PlatformBinding, now: &str) -> Result<()> {
    let PlatformBinding {
        service,
        client,
        property,
        splitter,
        port,
        box_id,
    } = found;
    conn.execute(
        "UPDATE bindings SET splitter_id = ?2, port = ?3, box_id = ?4, platform_client_id = ?5,
             platform_property_id = ?6, updated_at = ?7 WHERE service_id = ?1",
        params![service, splitter, port, box_id, client, property, now],
    )?;
    record(
        conn,
        service,
        BindingState::FromPlatform.as_str(),
        Some(&format!(
            "moved on the platform to port {port} of splitter {splitter}"
        )),
    )
}

/// The services this integration's identification bound (`from-platform`).
pub fn services_bound_from_platform(conn: &Db, integration_id: &str) -> Result<Vec<String>> {
    conn.query(
        "SELECT service_id FROM bindings WHERE integration_id = ?1 AND state = 'from-platform'",
        params![integration_id],
        |r| r.get::<String>(0),
    )
}

/// Drop the binding of a service the platform no longer shows on a port,
/// with a trace.
pub fn unbind_from_platform(conn: &Db, service: &str) -> Result<()> {
    conn.execute(
        "DELETE FROM bindings WHERE service_id = ?1",
        params![service],
    )?;
    record(
        conn,
        service,
        "unbound",
        Some("the platform no longer shows this client on a port"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Stores a current element of integration `i1` as a sync would.
    fn put(conn: &Db, kind: &str, id: &str, data: serde_json::Value) {
        conn.execute(
            "INSERT INTO elements (integration_id, kind, id, name, data, created_at, updated_at)
             VALUES ('i1', ?1, ?2, ?2, ?3, 'now', 'now')",
            params![kind, id, data.to_string()],
        )
        .unwrap();
        // The real columns a sync's commit keeps (`store::network`).
        if kind == "property" {
            conn.execute(
                "INSERT INTO properties (integration_id, id, client_id) VALUES ('i1', ?1, ?2)",
                params![id, data["client"].as_str().map(str::to_string)],
            )
            .unwrap();
        }
    }

    #[test]
    fn each_client_gets_its_property_on_a_port_first() {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::store::open_file(&dir.path().join("m.db")).unwrap();
        conn.execute(
            "INSERT INTO integrations (id, name, api_url, api_key, \"user\", password, created_at)
             VALUES ('i1', 'isp', 'http://127.0.0.1:1', 'k', 'u', 'p', 'now')",
            params![],
        )
        .unwrap();
        let port = serde_json::json!({"splitter": "s1", "port": 3});
        put(
            &conn,
            "client",
            "c1",
            serde_json::json!({"code": "SVC-1", "name": "Ana"}),
        );
        put(&conn, "client", "c2", serde_json::json!({"name": "Bia"}));
        put(&conn, "client", "c3", serde_json::json!({"name": "Caio"}));
        // c1: a property off any port (smaller id) and one on a port.
        put(
            &conn,
            "property",
            "p1",
            serde_json::json!({"client": "c1", "box": "b0"}),
        );
        put(
            &conn,
            "property",
            "p2",
            serde_json::json!({"client": "c1", "box": "b1", "connection": port}),
        );
        // c2: two off any port: the smaller id.
        put(
            &conn,
            "property",
            "p4",
            serde_json::json!({"client": "c2", "box": "b4"}),
        );
        put(
            &conn,
            "property",
            "p3",
            serde_json::json!({"client": "c2", "box": "b3"}),
        );
        put(&conn, "property", "p5", serde_json::json!({"client": null}));
        let found = platform_clients(&conn, "i1").unwrap();
        let held: Vec<(&str, Option<&str>)> = found
            .clients
            .iter()
            .map(|c| (c.id.as_str(), c.property.as_deref()))
            .collect();
        assert_eq!(held, [("c1", Some("p2")), ("c2", Some("p3")), ("c3", None)]);
        assert_eq!(
            found.clients[0].connection.as_ref().map(|c| c.port),
            Some(3)
        );
        assert_eq!(found.clients[0].code.as_deref(), Some("SVC-1"));
        assert_eq!(found.boxes.get("p2"), Some(&Some("b1".to_string())));

        // A page at a time, the same clients with the same properties.
        let first = platform_clients_after(&conn, "i1", None, 2).unwrap();
        let rest = platform_clients_after(&conn, "i1", Some("c2"), 2).unwrap();
        let paged: Vec<(String, Option<String>)> = first
            .clients
            .iter()
            .chain(&rest.clients)
            .map(|c| (c.id.clone(), c.property.clone()))
            .collect();
        let whole: Vec<(String, Option<String>)> = found
            .clients
            .iter()
            .map(|c| (c.id.clone(), c.property.clone()))
            .collect();
        assert_eq!(paged, whole);
        assert_eq!(
            first.clients[0].connection.as_ref().map(|c| c.port),
            Some(3)
        );
        assert_eq!(first.boxes.get("p2"), Some(&Some("b1".to_string())));
        assert!(
            platform_clients_after(&conn, "i1", Some("c3"), 2)
                .unwrap()
                .clients
                .is_empty()
        );
    }
}
