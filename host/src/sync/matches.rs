//! The review of suggested matches: the component proposes which platform
//! client (without a usable code) is which service; a person accepts or
//! rejects. Accepting binds the service to that client's port and pushes
//! the service's informative data, its code included, to that client.

use crate::error::{Hint, conflict, invalid, not_found};
use crate::refuse;
use std::collections::BTreeMap;

use anyhow::Result;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::component::Runtime;
use crate::store::Db;
use crate::store::bindings::{self as local, record};
use crate::store::identification::{self, PlatformClients};
use crate::store::integrations::{self, Integration};
use crate::store::matches::{self as store, Decision, MatchDecision};

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
pub fn suggestions(conn: &Db, runtime: &Runtime, min_score: f64) -> Result<Vec<Match>> {
    if !(0.0..=1.0).contains(&min_score) {
        refuse!(invalid(
            "min_score",
            format!("--min-score takes a score from 0 to 1; {min_score} is not one")
        ));
    }
    // A service already bound, and a client already bound to a service,
    // are placed: nothing to suggest for them.
    let bound = store::bound(conn)?;
    let services: Vec<_> = identification::services_to_match(conn)?
        .into_iter()
        .filter(|s| !bound.services.contains(&s.id))
        .collect();
    let names: BTreeMap<&str, Option<&str>> = services
        .iter()
        .map(|s| (s.id.as_str(), s.name.as_deref()))
        .collect();
    let mut all = Vec::new();
    for integration in integrations::list(conn)? {
        if integration.project_id.is_none() || integration.detached_at.is_some() {
            continue;
        }
        let PlatformClients { clients, .. } =
            identification::platform_clients(conn, &integration.id)?;
        let clients: Vec<_> = clients
            .into_iter()
            .filter(|c| !bound.clients.contains(&c.id))
            .collect();
        let rejected = store::rejected_pairs(conn, &integration.id)?;
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

/// The suggestion `id`, as suggested now (at any score).
fn find(conn: &Db, runtime: &Runtime, id: &str) -> Result<(Match, Integration)> {
    let found = suggestions(conn, runtime, 0.0)?
        .into_iter()
        .find(|m| m.id == id.trim());
    let Some(found) = found else {
        refuse!(not_found(format!(
            "no suggested match has id {}: it was decided already, or a sync or import changed what is suggested; list them again",
            crate::text::echo(id)
        )));
    };
    let integration = integrations::get(conn, &found.integration)?;
    Ok((found, integration))
}

/// Keep what a person decided of the suggestion `found`.
fn decide(conn: &Db, integration: &Integration, found: &Match, decision: Decision) -> Result<()> {
    store::record_decision(
        conn,
        &MatchDecision {
            integration_id: &integration.id,
            service: &found.service,
            client: &found.client,
            decision,
            score: found.score,
        },
    )
}

/// This client is not that service: never suggest the pair again.
pub fn reject(conn: &Db, runtime: &Runtime, id: &str) -> Result<Match> {
    let (found, integration) = find(conn, runtime, id)?;
    let tx = conn.transaction()?;
    decide(&tx, &integration, &found, Decision::Rejected)?;
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
pub fn accept(conn: &Db, runtime: &Runtime, id: &str) -> Result<(Match, local::Binding)> {
    let (found, integration) = find(conn, runtime, id)?;
    let (Some(splitter), Some(port)) = (&found.splitter, found.port) else {
        refuse!(conflict(format!(
            "platform client {} is on no splitter port, so there is no port to bind service {:?} to; connect its property on the platform first",
            found.client, found.service
        )));
    };
    if let Some(existing) = local::find(conn, &found.service)? {
        refuse!(
            conflict(format!(
                "service {:?} is already bound to port {} of splitter {} ({}); unbind it first",
                found.service, existing.port, existing.splitter, existing.state
            )),
            Hint::Unbind {
                service: found.service.clone()
            }
        );
    }
    let tx = conn.transaction()?;
    decide(&tx, &integration, &found, Decision::Accepted)?;
    let detail = format!(
        "matched to platform client {} (score {:.3}: {})",
        found.client,
        found.score,
        found.reasons.join("; ")
    );
    record(&tx, &found.service, "match-accepted", Some(&detail))?;
    local::bind_matched(&tx, &found.service, &found.client, splitter, port)?;
    tx.commit()?;
    let binding = crate::sync::outbox::confirm(conn, runtime, &found.service)?;
    Ok((found, binding))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::time::Instant;

    use ozmap_test_server::matching::{MatchingConfig, MatchingSet, matching_set};

    use crate::component::Runtime;
    use crate::component::bindings::matching::{PlatformClient, Service};
    use crate::component::bindings::types::Position;

    fn inputs(set: &MatchingSet) -> (Vec<Service>, Vec<PlatformClient>) {
        let services = set
            .services
            .iter()
            .map(|s| Service {
                id: s.id.clone(),
                name: Some(s.name.clone()),
                document: Some(s.document.clone()),
                pppoe_login: Some(s.pppoe_login.clone()),
                onu_serial: Some(s.onu_serial.clone()),
                position: Some(Position {
                    lat: s.lat,
                    lng: s.lng,
                }),
            })
            .collect();
        let clients = set
            .clients
            .iter()
            .map(|c| PlatformClient {
                id: c.id.clone(),
                code: None,
                name: c.name.clone(),
                observation: c.observation.clone(),
                pppoe_login: c.pppoe_login.clone(),
                onu_serial: c.onu_serial.clone(),
                property: None,
                position: Some(Position {
                    lat: c.lat,
                    lng: c.lng,
                }),
                connection: None,
            })
            .collect();
        (services, clients)
    }

    #[test]
    fn the_component_suggests_what_the_guest_logic_suggests_natively() {
        use mapsync_guest::matching as native;
        let set = matching_set(MatchingConfig::new(2_000));
        let (services, clients) = inputs(&set);
        let through_host = Runtime::new()
            .unwrap()
            .suggest(&services, &clients, &[], 0.5)
            .unwrap();
        let native_services: Vec<native::Service> = services
            .iter()
            .map(|s| native::Service {
                id: s.id.clone(),
                name: s.name.clone(),
                document: s.document.clone(),
                pppoe_login: s.pppoe_login.clone(),
                onu_serial: s.onu_serial.clone(),
                position: s.position.map(|p| mapsync_guest::model::Position {
                    lat: p.lat,
                    lng: p.lng,
                }),
            })
            .collect();
        let native_clients: Vec<native::PlatformClient> = clients
            .iter()
            .map(|c| native::PlatformClient {
                id: c.id.clone(),
                name: c.name.clone(),
                observation: c.observation.clone(),
                pppoe_login: c.pppoe_login.clone(),
                onu_serial: c.onu_serial.clone(),
                position: c.position.map(|p| mapsync_guest::model::Position {
                    lat: p.lat,
                    lng: p.lng,
                }),
                ..native::PlatformClient::default()
            })
            .collect();
        let natively = native::review(native_services, native_clients, &BTreeSet::new(), 0.5);
        assert!(natively.len() > 1000, "{}", natively.len());
        assert_eq!(through_host.len(), natively.len());
        for (a, b) in through_host.iter().zip(&natively) {
            assert_eq!(
                (&a.service, &a.client, a.score, &a.reasons),
                (&b.service, &b.client, b.score, &b.reasons)
            );
        }
    }

    /// The scale, inside the component's bounds: 400,000 services
    /// against about as many clients once ran the component out of memory.
    #[test]
    fn matching_at_the_target_scale_fits_the_components_bounds() {
        let set = matching_set(MatchingConfig::new(400_000));
        let (services, clients) = inputs(&set);
        let found = Runtime::new()
            .unwrap()
            .suggest(&services, &clients, &[], 0.8)
            .unwrap();
        let score = set.score(
            found
                .iter()
                .map(|s| (s.service.as_str(), s.client.as_str())),
        );
        let (precision, recall) = (score.precision, score.recall);
        assert!(precision >= 0.98 && recall >= 0.90, "{precision} {recall}");
    }

    /// A benchmark, not a check: `MAPSYNC_MATCH_SIZES=400000 cargo test -p
    /// mapsync --release matching_through_the_component_at_scale -- --ignored
    /// --nocapture` prints precision, recall and the time to match inside
    /// the component.
    #[test]
    #[ignore = "a benchmark; run it on purpose"]
    fn matching_through_the_component_at_scale() {
        let sizes = std::env::var("MAPSYNC_MATCH_SIZES").unwrap_or_else(|_| "400000".into());
        let runtime = Runtime::new().unwrap();
        println!(
            "| services | clients | suggestions | precision | recall | match time (component) |"
        );
        println!("| ---: | ---: | ---: | ---: | ---: | ---: |");
        for n in sizes.split(',').filter_map(|n| n.trim().parse().ok()) {
            let set = matching_set(MatchingConfig::new(n));
            let (services, clients) = inputs(&set);
            let started = Instant::now();
            let found = runtime.suggest(&services, &clients, &[], 0.8).unwrap();
            let took = started.elapsed();
            let score = set.score(
                found
                    .iter()
                    .map(|s| (s.service.as_str(), s.client.as_str())),
            );
            println!(
                "| {} | {} | {} | {:.4} | {:.4} | {:.2} s |",
                services.len(),
                clients.len(),
                score.suggested,
                score.precision,
                score.recall,
                took.as_secs_f64()
            );
        }
    }
}
