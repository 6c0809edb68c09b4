//! Identification: the platform's clients meet the ISP's services by code
//! (`code` = `id_cliente_servico`). The component decides who is whom (its
//! `matching` export); this module reads what it needs from the store and
//! keeps what it answers.

use std::collections::BTreeMap;

use anyhow::Result;
use serde::Serialize;

use crate::component::Runtime;
use crate::component::bindings::matching::PlatformClient;
use crate::store::Db;
use crate::store::identification::{self as store, PlatformBinding, PlatformClients};
use crate::store::integrations::Integration;
use crate::store::states::BindingState;

/// Clients handed to the component at once.
const CLIENTS_PER_CALL: u32 = 20_000;

/// Identify anew on every integration that feeds a project: when the
/// services change, both sides must agree at once.
pub fn apply_all(conn: &Db, runtime: &Runtime) -> Result<()> {
    for integration in crate::store::integrations::list(conn)? {
        if integration.feeds_a_project() {
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
    let services = store::services_to_match(conn)?;
    if services.is_empty() && store::services_bound_from_platform(conn, &integration.id)?.is_empty()
    {
        // No service to identify and no binding to drop: nothing to read.
        return Ok(());
    }
    // Clients a page at a time: each client is identified on its own, so
    // the pages' answers together are the whole network's.
    let mut found: Vec<PlatformBinding> = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let PlatformClients { clients, boxes } = store::platform_clients_after(
            conn,
            &integration.id,
            after.as_deref(),
            CLIENTS_PER_CALL,
        )?;
        let Some(last) = clients.last() else {
            break;
        };
        after = Some(last.id.clone());
        let identified = runtime.identify(&services, &clients)?;
        found.extend(identified.identified.into_iter().filter_map(|i| {
            let property = i.property?;
            let port = i.connection?;
            let box_id = boxes.get(&property).cloned().flatten();
            Some(PlatformBinding {
                service: i.service,
                client: i.client,
                property,
                splitter: port.splitter,
                port: port.port,
                box_id,
            })
        }));
    }
    let tx = conn.transaction()?;
    let now = crate::store::now();
    let mut current = std::collections::HashSet::new();
    for found in found {
        current.insert(found.service.clone());
        match store::current_binding(&tx, &found.service)? {
            None => {
                store::add_from_platform(&tx, &integration.id, &found, &now)?;
            }
            Some(existing)
                if existing.state == BindingState::FromPlatform
                    && (existing.splitter != found.splitter || existing.port != found.port) =>
            {
                store::move_from_platform(&tx, &found, &now)?;
            }
            Some(_) => {}
        }
    }
    // Bindings the platform no longer shows go, with a trace.
    let stale: Vec<String> = store::services_bound_from_platform(&tx, &integration.id)?
        .into_iter()
        .filter(|s| !current.contains(s))
        .collect();
    for service in stale {
        store::unbind_from_platform(&tx, &service)?;
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
    let services = store::services_to_match(conn)?;
    let mut report = Report::default();
    let mut served = std::collections::BTreeSet::new();
    for integration in crate::store::integrations::list(conn)? {
        if integration.project_id.is_none() || integration.detached_at.is_some() {
            continue;
        }
        let PlatformClients { clients, .. } = store::platform_clients(conn, &integration.id)?;
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
