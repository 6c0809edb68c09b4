//! Identification: the platform's clients meet the ISP's services by code
//! (`code` = `id_cliente_servico`). The component decides who is whom (its
//! `matching` export); this module reads what it needs from the store and
//! keeps what it answers.

use std::collections::BTreeMap;

use anyhow::Result;
use serde::Serialize;
use serde_json::Value;

use crate::component::Runtime;
use crate::component::bindings::matching::{PlatformClient, Service as MatchService};
use crate::component::bindings::types::{Connection as Port, Position};
use crate::params;
use crate::store::Db;
use crate::store::bindings::record;
use crate::store::integrations::Integration;

/// Every service, as matching reads it.
pub fn services(conn: &Db) -> Result<Vec<MatchService>> {
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

/// An integration's current clients, each with the property that holds it
/// (one on a port first), and that property's box.
pub fn clients(conn: &Db, integration_id: &str) -> Result<(Vec<PlatformClient>, PropertyBoxes)> {
    let rows = conn.query(
        "SELECT c.id, c.data, p.id, p.data FROM elements c
         LEFT JOIN elements p ON p.integration_id = c.integration_id AND p.kind = 'property'
              AND p.removed_at IS NULL AND json_extract(p.data, '$.client') = c.id
         WHERE c.integration_id = ?1 AND c.kind = 'client' AND c.removed_at IS NULL
         ORDER BY c.id, json_extract(p.data, '$.connection') IS NULL, p.id",
        params![integration_id],
        |r| {
            Ok((
                r.get::<String>(0)?,
                r.get::<String>(1)?,
                r.get::<Option<String>>(2)?,
                r.get::<Option<String>>(3)?,
            ))
        },
    )?;
    let mut clients: Vec<PlatformClient> = Vec::new();
    let mut boxes = BTreeMap::new();
    for (id, data, property, property_data) in rows {
        if clients.last().is_some_and(|c| c.id == id) {
            continue; // its first property is the one kept
        }
        let data: Value = serde_json::from_str(&data)?;
        let place: Value = match &property_data {
            Some(p) => serde_json::from_str(p)?,
            None => Value::Null,
        };
        let text = |v: &Value| v.as_str().map(str::to_string);
        if let Some(property) = &property {
            boxes.insert(property.clone(), text(&place["box"]));
        }
        clients.push(PlatformClient {
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
    Ok((clients, boxes))
}

/// Identify anew on every integration that feeds a project: when the
/// services change, both sides must agree at once.
pub fn apply_all(conn: &Db, runtime: &Runtime) -> Result<()> {
    for integration in crate::store::integrations::list(conn)? {
        if integration.project_id.is_some() && integration.detached_at.is_none() {
            apply(conn, runtime, &integration)?;
        }
    }
    Ok(())
}

/// After a sync, a services import, or on demand: every identified client's
/// port becomes its service's binding from the platform. Local bindings
/// (pending, confirmed, pushed, failed) are the ISP's own decisions and are
/// left alone.
pub fn apply(conn: &Db, runtime: &Runtime, integration: &Integration) -> Result<()> {
    let services = services(conn)?;
    let (clients, boxes) = clients(conn, &integration.id)?;
    let identified = runtime.identify(&services, &clients)?;
    let found: Vec<(String, String, String, String, u32, Option<String>)> = identified
        .identified
        .into_iter()
        .filter_map(|i| {
            let property = i.property?;
            let port = i.connection?;
            let box_id = boxes.get(&property).cloned().flatten();
            Some((
                i.service,
                i.client,
                property,
                port.splitter,
                port.port,
                box_id,
            ))
        })
        .collect();
    let tx = conn.transaction()?;
    let now = crate::store::now();
    let mut current = std::collections::HashSet::new();
    for (service, client, property, splitter, port, box_id) in found {
        current.insert(service.clone());
        let existing: Option<(String, String, u32)> = tx.query_opt(
            "SELECT state, splitter_id, port FROM bindings WHERE service_id = ?1",
            params![service],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        match existing {
            None => {
                let inserted = tx.execute(
                    "INSERT INTO bindings (service_id, integration_id, splitter_id, port, box_id, state,
                         platform_client_id, platform_property_id, created_at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, 'from-platform', ?6, ?7, ?8, ?8)
                     ON CONFLICT DO NOTHING",
                    params![service, integration.id, splitter, port, box_id, client, property, now],
                )?;
                if inserted == 1 {
                    let detail = format!(
                        "identified on the platform: client {client} on port {port} of splitter {splitter}"
                    );
                    record(&tx, &service, "from-platform", Some(&detail))?;
                }
            }
            Some((state, old_splitter, old_port))
                if state == "from-platform" && (old_splitter != splitter || old_port != port) =>
            {
                tx.execute(
                    "UPDATE bindings SET splitter_id = ?2, port = ?3, box_id = ?4, platform_client_id = ?5,
                         platform_property_id = ?6, updated_at = ?7 WHERE service_id = ?1",
                    params![service, splitter, port, box_id, client, property, now],
                )?;
                record(
                    &tx,
                    &service,
                    "from-platform",
                    Some(&format!(
                        "moved on the platform to port {port} of splitter {splitter}"
                    )),
                )?;
            }
            Some(_) => {}
        }
    }
    // Bindings the platform no longer shows go, with a trace.
    let stale: Vec<String> = tx
        .query(
            "SELECT service_id FROM bindings WHERE integration_id = ?1 AND state = 'from-platform'",
            params![integration.id],
            |r| r.get::<String>(0),
        )?
        .into_iter()
        .filter(|s| !current.contains(s))
        .collect();
    for service in stale {
        tx.execute(
            "DELETE FROM bindings WHERE service_id = ?1",
            params![service],
        )?;
        record(
            &tx,
            &service,
            "unbound",
            Some("the platform no longer shows this client on a port"),
        )?;
    }
    tx.commit()?;
    Ok(())
}

#[derive(Debug, Default, Serialize)]
pub struct Counts {
    pub identified: usize,
    pub clients_without_code: usize,
    pub codes_without_service: usize,
    pub services_without_client: usize,
}

#[derive(Debug, Serialize)]
pub struct Client {
    pub integration: String,
    pub client_id: String,
    pub code: Option<String>,
    pub name: String,
}

#[derive(Debug, Serialize)]
pub struct Service {
    pub id_cliente_servico: String,
    pub name: Option<String>,
}

/// The `identification --json` output: a public contract.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub counts: Counts,
    /// Platform clients whose code equals a service's id.
    pub identified: Vec<Client>,
    /// Platform clients with an empty code: not identifiable until the
    /// platform fills it in (see `services export-codes`).
    pub clients_without_code: Vec<Client>,
    /// Platform clients whose code matches no service.
    pub codes_without_service: Vec<Client>,
    /// Services no synchronised platform client carries.
    pub services_without_client: Vec<Service>,
}

/// Over every integration that feeds a project, as the component
/// identifies.
pub fn report(conn: &Db, runtime: &Runtime) -> Result<Report> {
    let services = services(conn)?;
    let mut report = Report::default();
    let mut served = std::collections::BTreeSet::new();
    for integration in crate::store::integrations::list(conn)? {
        if integration.project_id.is_none() || integration.detached_at.is_some() {
            continue;
        }
        let (clients, _) = clients(conn, &integration.id)?;
        let found = runtime.identify(&services, &clients)?;
        let by_id: BTreeMap<&str, &PlatformClient> =
            clients.iter().map(|c| (c.id.as_str(), c)).collect();
        let shown = |id: &str| {
            let c = by_id[id];
            Client {
                integration: integration.name.clone(),
                client_id: c.id.clone(),
                code: c.code.clone().filter(|c| !c.trim().is_empty()),
                name: c.name.clone(),
            }
        };
        for i in &found.identified {
            served.insert(i.service.clone());
            report.identified.push(shown(&i.client));
        }
        report
            .clients_without_code
            .extend(found.clients_without_code.iter().map(|id| shown(id)));
        report
            .codes_without_service
            .extend(found.codes_without_service.iter().map(|id| shown(id)));
    }
    report.services_without_client = services
        .into_iter()
        .filter(|s| !served.contains(&s.id))
        .map(|s| Service {
            id_cliente_servico: s.id,
            name: s.name,
        })
        .collect();
    report.counts = Counts {
        identified: report.identified.len(),
        clients_without_code: report.clients_without_code.len(),
        codes_without_service: report.codes_without_service.len(),
        services_without_client: report.services_without_client.len(),
    };
    Ok(report)
}
