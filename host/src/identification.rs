//! Identification: the platform's clients meet the ISP's services by code
//! (`code` = `id_cliente_servico`).

use anyhow::Result;
use rusqlite::{Connection, params};
use serde::Serialize;

use crate::bindings_local::record;
use crate::db;
use crate::integration::Integration;

/// After a sync: every identified client's port becomes its service's
/// binding from the platform. Local bindings (pending, confirmed, pushed,
/// failed) are the ISP's own decisions and are left alone.
pub fn apply_after_sync(conn: &Connection, integration: &Integration) -> Result<()> {
    let tx = conn.unchecked_transaction()?;
    let mut identified = tx.prepare(
        "SELECT s.id_cliente_servico, c.id, p.id, json_extract(p.data, '$.connection.splitter'),
                json_extract(p.data, '$.connection.port'), json_extract(p.data, '$.box')
         FROM services s
         JOIN elements c ON c.integration_id = ?1 AND c.kind = 'client' AND c.removed_at IS NULL
                        AND json_extract(c.data, '$.code') = s.id_cliente_servico
         JOIN elements p ON p.integration_id = ?1 AND p.kind = 'property' AND p.removed_at IS NULL
                        AND json_extract(p.data, '$.client') = c.id
         WHERE json_extract(p.data, '$.connection.splitter') IS NOT NULL",
    )?;
    type Found = (String, String, String, String, u32, Option<String>);
    let found = identified
        .query_map([&integration.id], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<Found>>>()?;
    drop(identified);
    let now = db::now();
    let mut current = std::collections::HashSet::new();
    for (service, client, property, splitter, port, box_id) in found {
        current.insert(service.clone());
        let existing: Option<(String, String, u32)> = tx
            .query_row(
                "SELECT state, splitter_id, port FROM bindings WHERE service_id = ?1",
                [&service],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .ok();
        match existing {
            None => {
                let inserted = tx.execute(
                    "INSERT OR IGNORE INTO bindings (service_id, integration_id, splitter_id, port, box_id, state,
                         platform_client_id, platform_property_id, created_at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, 'from-platform', ?6, ?7, ?8, ?8)",
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
        .prepare(
            "SELECT service_id FROM bindings WHERE integration_id = ?1 AND state = 'from-platform'",
        )?
        .query_map([&integration.id], |r| r.get(0))?
        .collect::<rusqlite::Result<Vec<String>>>()?
        .into_iter()
        .filter(|s| !current.contains(s))
        .collect();
    for service in stale {
        tx.execute("DELETE FROM bindings WHERE service_id = ?1", [&service])?;
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

/// Over every integration that feeds a project.
pub fn report(conn: &Connection) -> Result<Report> {
    let mut stmt = conn.prepare(
        "SELECT i.name, c.id, json_extract(c.data, '$.code'), c.name,
                EXISTS (SELECT 1 FROM services s WHERE s.id_cliente_servico = json_extract(c.data, '$.code'))
         FROM elements c JOIN integrations i ON i.id = c.integration_id
         WHERE c.kind = 'client' AND c.removed_at IS NULL AND i.project_id IS NOT NULL AND i.detached_at IS NULL
         ORDER BY i.name, c.id",
    )?;
    let mut report = Report::default();
    let rows = stmt.query_map([], |r| {
        Ok((
            Client {
                integration: r.get(0)?,
                client_id: r.get(1)?,
                code: r.get(2)?,
                name: r.get(3)?,
            },
            r.get::<_, bool>(4)?,
        ))
    })?;
    for row in rows {
        let (client, known) = row?;
        match (&client.code, known) {
            (None, _) => report.clients_without_code.push(client),
            (Some(_), true) => report.identified.push(client),
            (Some(_), false) => report.codes_without_service.push(client),
        }
    }
    let mut stmt = conn.prepare(
        "SELECT s.id_cliente_servico, s.name FROM services s
         WHERE NOT EXISTS (SELECT 1 FROM elements c JOIN integrations i ON i.id = c.integration_id
                           WHERE c.kind = 'client' AND c.removed_at IS NULL AND i.detached_at IS NULL
                             AND i.project_id IS NOT NULL AND json_extract(c.data, '$.code') = s.id_cliente_servico)
         ORDER BY s.id_cliente_servico",
    )?;
    report.services_without_client = stmt
        .query_map([], |r| {
            Ok(Service {
                id_cliente_servico: r.get(0)?,
                name: r.get(1)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    report.counts = Counts {
        identified: report.identified.len(),
        clients_without_code: report.clients_without_code.len(),
        codes_without_service: report.codes_without_service.len(),
        services_without_client: report.services_without_client.len(),
    };
    Ok(report)
}
