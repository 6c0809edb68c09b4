//! The outbox table: queued writes to the platform (pushes, deletions of
//! properties mapsync created), with their attempts and back-off; and the
//! writes to a binding that follow from sending them.

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::params;
use crate::store::Db;

/// Send a confirmed binding to the platform.
pub const PUSH: &str = "push";
/// Delete a property mapsync created (its id is in the payload).
pub const DELETE: &str = "delete-property";
/// Delete whatever property mapsync created for a service whose push's
/// outcome is unknown, found by mapsync's mark.
pub const WITHDRAW: &str = "withdraw";

/// A queued write that is due.
#[derive(Debug)]
pub struct Entry {
    pub id: i64,
    pub service: String,
    pub operation: String,
    /// The operation's arguments (`null` if what is stored does not parse).
    pub payload: Value,
    /// Attempts made so far, at earlier starts or in this command.
    pub attempts: u32,
}

/// Queue `operation` for `service`, due now.
pub fn enqueue(db: &Db, service: &str, operation: &str, payload: &Value) -> Result<()> {
    db.execute(
        "INSERT INTO outbox (service_id, operation, payload, next_attempt_at, created_at) VALUES (?1, ?2, ?3, ?4, ?4)",
        params![service, operation, payload.to_string(), crate::store::now()],
    )?;
    Ok(())
}

/// Whether something other than a push is queued for `service`: deleting
/// on the platform what mapsync created, i.e. an unbind not finished yet.
pub fn is_unbinding(db: &Db, service: &str) -> Result<bool> {
    db.query_row(
        "SELECT count(*) > 0 FROM outbox WHERE service_id = ?1 AND operation != ?2",
        params![service, PUSH],
        |r| r.get(0),
    )
}

/// Make the queued push of `service` due now, without waiting out its
/// back-off; `false` when no push is queued for it.
pub fn retry_now(db: &Db, service: &str) -> Result<bool> {
    let queued = db.execute(
        "UPDATE outbox SET next_attempt_at = ?2 WHERE service_id = ?1 AND operation = ?3",
        params![service, crate::store::now(), PUSH],
    )?;
    Ok(queued != 0)
}

/// Drop everything queued for `service`: a new confirmation or an unbind
/// replaces it.
pub fn clear(db: &Db, service: &str) -> Result<()> {
    db.execute("DELETE FROM outbox WHERE service_id = ?1", params![service])?;
    Ok(())
}

/// The entries due now (of one service, or all), oldest first.
pub fn due(db: &Db, only: Option<&str>) -> Result<Vec<Entry>> {
    db.query(
        "SELECT id, service_id, operation, payload, attempts FROM outbox
         WHERE next_attempt_at <= ?1 AND (CAST(?2 AS TEXT) IS NULL OR service_id = ?2) ORDER BY id",
        params![crate::store::now(), only],
        |r| {
            Ok(Entry {
                id: r.get(0)?,
                service: r.get(1)?,
                operation: r.get(2)?,
                payload: serde_json::from_str(&r.get::<String>(3)?).unwrap_or(Value::Null),
                attempts: r.get(4)?,
            })
        },
    )
}

/// An entry is done with: the platform accepted or refused it.
pub fn remove(db: &Db, id: i64) -> Result<()> {
    db.execute("DELETE FROM outbox WHERE id = ?1", params![id])?;
    Ok(())
}

/// A passing failure: note it and try again at `next_attempt_at`.
pub fn reschedule(
    db: &Db,
    id: i64,
    attempts: u32,
    last_error: &str,
    next_attempt_at: DateTime<Utc>,
) -> Result<()> {
    db.execute(
        "UPDATE outbox SET attempts = ?2, last_error = ?3, next_attempt_at = ?4 WHERE id = ?1",
        params![
            id,
            attempts,
            last_error,
            next_attempt_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        ],
    )?;
    Ok(())
}

/// Show why a binding's push waits (its state stays as it is).
pub fn set_binding_reason(db: &Db, service: &str, reason: &str) -> Result<()> {
    db.execute(
        "UPDATE bindings SET reason = ?2 WHERE service_id = ?1",
        params![service, reason],
    )?;
    Ok(())
}

/// The platform holds the binding now: keep its client and property ids
/// (and whether mapsync created the property, so unbinding deletes it);
/// a move it made is done.
pub fn mark_binding_pushed(
    db: &Db,
    service: &str,
    client: &str,
    property: &str,
    created_property: bool,
) -> Result<()> {
    db.execute(
        "UPDATE bindings SET state = 'pushed', reason = NULL, platform_client_id = ?2, platform_property_id = ?3,
             created_property = ?4, moving_property_id = NULL, updated_at = ?5 WHERE service_id = ?1",
        params![service, client, property, created_property, crate::store::now()],
    )?;
    Ok(())
}

/// Remove a binding: unbound, locally or after the platform's deletion.
pub fn remove_binding(db: &Db, service: &str) -> Result<()> {
    db.execute(
        "DELETE FROM bindings WHERE service_id = ?1",
        params![service],
    )?;
    Ok(())
}

/// The stored data of the splitter a binding is on, which names its
/// project and box for the push.
pub fn bound_splitter(db: &Db, integration_id: &str, splitter: &str) -> Result<Value> {
    let data: String = db
        .query_row(
            "SELECT data FROM elements WHERE integration_id = ?1 AND kind = 'splitter' AND id = ?2",
            params![integration_id, splitter],
            |r| r.get(0),
        )
        .context("the bound splitter is no longer stored")?;
    Ok(serde_json::from_str(&data)?)
}
