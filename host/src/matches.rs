//! The review of suggested matches: the component proposes which platform
//! client (without a usable code) is which service; a person accepts or
//! rejects. Accepting binds the service to that client's port and pushes
//! the service's informative data, its code included, to that client.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Result, bail};
use rusqlite::{Connection, params};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::bindings_local::{self as local, record};
use crate::db;
use crate::identification;
use crate::integration::{self, Integration};
use crate::runtime::Runtime;

/// A suggestion as people and scripts read it (`matches --json`).
#[derive(Clone, Debug, Serialize)]
pub struct Match {
    /// Stable for the same integration, service and client.
    pub id: String,
    pub integration: String,
    pub service: String,
    pub service_name: Option<String>,
    pub client: String,
    pub client_name: String,
    /// From 0 to 1.
    pub score: f64,
    /// The keys that agreed: document, onu_serial, pppoe_login, name.
    pub agreed: Vec<String>,
    pub name_similarity: Option<f64>,
    pub distance_m: Option<f64>,
    pub reasons: Vec<String>,
    /// The port the client's property takes, which accepting binds.
    pub splitter: Option<String>,
    pub port: Option<u32>,
}

fn match_id(integration_id: &str, service: &str, client: &str) -> String {
    let digest = Sha256::digest(format!("{integration_id}\0{service}\0{client}"));
    digest[..6].iter().map(|b| format!("{b:02x}")).collect()
}

/// What the component suggests now, over every integration that feeds a
/// project, best first; rejected pairs are never suggested again.
pub fn suggestions(conn: &Connection, runtime: &Runtime, min_score: f64) -> Result<Vec<Match>> {
    if !(0.0..=1.0).contains(&min_score) {
        bail!("--min-score takes a score from 0 to 1; {min_score} is not one");
    }
    // A service already bound, and a client already bound to a service,
    // are placed: nothing to suggest for them.
    let bound = bound(conn)?;
    let services: Vec<_> = identification::services(conn)?
        .into_iter()
        .filter(|s| !bound.0.contains(&s.id))
        .collect();
    let names: BTreeMap<&str, Option<&str>> = services
        .iter()
        .map(|s| (s.id.as_str(), s.name.as_deref()))
        .collect();
    let mut all = Vec::new();
    for integration in integration::list(conn)? {
        if integration.project_id.is_none() || integration.detached_at.is_some() {
            continue;
        }
        let (clients, _) = identification::clients(conn, &integration.id)?;
        let clients: Vec<_> = clients
            .into_iter()
            .filter(|c| !bound.1.contains(&c.id))
            .collect();
        let rejected = rejected(conn, &integration.id)?;
        let by_id: BTreeMap<&str, usize> = clients
            .iter()
            .enumerate()
            .map(|(i, c)| (c.id.as_str(), i))
            .collect();
        for s in runtime.suggest(&services, &clients, &rejected, min_score)? {
            let client = &clients[by_id[s.client.as_str()]];
            all.push(Match {
                id: match_id(&integration.id, &s.service, &s.client),
                integration: integration.name.clone(),
                service_name: names
                    .get(s.service.as_str())
                    .copied()
                    .flatten()
                    .map(str::to_string),
                service: s.service,
                client_name: client.name.clone(),
                client: s.client,
                score: s.score,
                agreed: s.agreed,
                name_similarity: s.name_similarity,
                distance_m: s.distance_m,
                reasons: s.reasons,
                splitter: client.connection.as_ref().map(|c| c.splitter.clone()),
                port: client.connection.as_ref().map(|c| c.port),
            });
        }
    }
    all.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.id.cmp(&b.id)));
    Ok(all)
}

/// Services that have a binding, and platform clients a binding names.
fn bound(conn: &Connection) -> Result<(BTreeSet<String>, BTreeSet<String>)> {
    let mut stmt = conn.prepare("SELECT service_id, platform_client_id FROM bindings")?;
    let mut services = BTreeSet::new();
    let mut clients = BTreeSet::new();
    for row in stmt.query_map([], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?))
    })? {
        let (service, client) = row?;
        services.insert(service);
        clients.extend(client);
    }
    Ok((services, clients))
}

fn rejected(conn: &Connection, integration_id: &str) -> Result<Vec<(String, String)>> {
    let mut stmt = conn.prepare(
        "SELECT service_id, client_id FROM match_decisions
         WHERE integration_id = ?1 AND decision = 'rejected' ORDER BY service_id, client_id",
    )?;
    let pairs = stmt
        .query_map([integration_id], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(pairs)
}

/// The suggestion `id`, as suggested now (at any score).
fn find(conn: &Connection, runtime: &Runtime, id: &str) -> Result<(Match, Integration)> {
    let found = suggestions(conn, runtime, 0.0)?
        .into_iter()
        .find(|m| m.id == id.trim());
    let Some(found) = found else {
        bail!(
            "no suggested match has id {id:?}: it was decided already, or a sync or import changed what is suggested; list them again"
        );
    };
    let integration = integration::get(conn, &found.integration)?;
    Ok((found, integration))
}

fn decide(
    conn: &Connection,
    integration: &Integration,
    found: &Match,
    decision: &str,
) -> Result<()> {
    conn.execute(
        "INSERT OR REPLACE INTO match_decisions (integration_id, service_id, client_id, decision, score, decided_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![integration.id, found.service, found.client, decision, found.score, db::now()],
    )?;
    Ok(())
}

/// This client is not that service: never suggest the pair again.
pub fn reject(conn: &Connection, runtime: &Runtime, id: &str) -> Result<Match> {
    let (found, integration) = find(conn, runtime, id)?;
    let tx = conn.unchecked_transaction()?;
    decide(&tx, &integration, &found, "rejected")?;
    record(
        &tx,
        &found.service,
        "match-rejected",
        Some(&format!(
            "platform client {} is not this service (score {:.3})",
            found.client, found.score
        )),
    )?;
    tx.commit()?;
    Ok(found)
}

/// This client is that service: bind the service to the client's port,
/// confirmed, and push its informative data (its code included) to that
/// client. Answers the match and the binding's state after the push.
pub fn accept(conn: &Connection, runtime: &Runtime, id: &str) -> Result<(Match, local::Binding)> {
    let (found, integration) = find(conn, runtime, id)?;
    let (Some(splitter), Some(port)) = (&found.splitter, found.port) else {
        bail!(
            "platform client {} is on no splitter port, so there is no port to bind service {:?} to; connect its property on the platform first",
            found.client,
            found.service
        );
    };
    if let Some(existing) = local::find(conn, &found.service)? {
        bail!(
            "service {:?} is already bound to port {} of splitter {} ({}); unbind it first",
            found.service,
            existing.port,
            existing.splitter,
            existing.state
        );
    }
    let tx = conn.unchecked_transaction()?;
    decide(&tx, &integration, &found, "accepted")?;
    let detail = format!(
        "matched to platform client {} (score {:.3}: {})",
        found.client,
        found.score,
        found.reasons.join("; ")
    );
    record(&tx, &found.service, "match-accepted", Some(&detail))?;
    local::bind_matched(&tx, &found.service, &found.client, splitter, port)?;
    tx.commit()?;
    let binding = crate::outbox::confirm(conn, runtime, &found.service)?;
    Ok((found, binding))
}
