//! The decisions people took on suggested matches.
//!
//! A rejected pair is never suggested again; an accepted one is kept as
//! the record of who decided the binding it made. What is suggested, and
//! what accepting does, is `sync::matches`'s.

use std::collections::BTreeSet;

use anyhow::Result;

use crate::params;
use crate::store::Db;

/// What is placed already, so nothing is suggested for it: services that
/// have a binding, and platform clients a binding names.
pub struct Bound {
    pub services: BTreeSet<String>,
    pub clients: BTreeSet<String>,
}

/// Services that have a binding, and platform clients a binding names.
pub fn bound(conn: &Db) -> Result<Bound> {
    let mut bound = Bound {
        services: BTreeSet::new(),
        clients: BTreeSet::new(),
    };
    for (service, client) in conn.query(
        "SELECT service_id, platform_client_id FROM bindings",
        params![],
        |r| Ok((r.get::<String>(0)?, r.get::<Option<String>>(1)?)),
    )? {
        bound.services.insert(service);
        bound.clients.extend(client);
    }
    Ok(bound)
}

/// The (service, client) pairs people rejected on this integration, in the
/// shape the component takes them.
pub fn rejected_pairs(conn: &Db, integration_id: &str) -> Result<Vec<(String, String)>> {
    conn.query(
        "SELECT service_id, client_id FROM match_decisions
         WHERE integration_id = ?1 AND decision = 'rejected' ORDER BY service_id, client_id",
        params![integration_id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}

/// What a person said of a suggested match.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Accepted,
    Rejected,
}

impl Decision {
    /// As stored in `match_decisions.decision`.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Accepted => "accepted",
            Decision::Rejected => "rejected",
        }
    }
}

/// A decision on one suggested pair, at the score it was suggested with.
pub struct MatchDecision<'a> {
    pub integration_id: &'a str,
    pub service: &'a str,
    pub client: &'a str,
    pub decision: Decision,
    pub score: f64,
}

/// Keep a decision; a later one on the same pair replaces it.
pub fn record_decision(conn: &Db, d: &MatchDecision<'_>) -> Result<()> {
    conn.execute(
        "INSERT INTO match_decisions (integration_id, service_id, client_id, decision, score, decided_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (integration_id, service_id, client_id) DO UPDATE SET
             decision = excluded.decision, score = excluded.score, decided_at = excluded.decided_at",
        params![d.integration_id, d.service, d.client, d.decision.as_str(), d.score, crate::store::now()],
    )?;
    Ok(())
}
