//! Work shared by several hosts on one store: who runs a sync, who owns a
//! scheduled slot, who sends a queued push. Each is a row a host takes
//! with a conditional write (one winner whatever the store) and keeps by
//! beating; a host that stops beating loses it when its lease expires.
//!
//! A host is this machine's name and the process id: on one machine a
//! dead process is seen at once; elsewhere, by its stale beat.

use std::sync::OnceLock;
use std::time::Duration;

use anyhow::Result;

use super::Db;
use crate::params;

/// How long a lease lasts without a beat (`MAPSYNC_LEASE_SECONDS`, 60 by
/// default); hosts beat three times in that time.
pub fn lease() -> Duration {
    static LEASE: OnceLock<Duration> = OnceLock::new();
    *LEASE.get_or_init(|| {
        let seconds = std::env::var("MAPSYNC_LEASE_SECONDS")
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .filter(|s| *s > 0)
            .unwrap_or(60);
        Duration::from_secs(seconds)
    })
}

/// This machine's name.
pub fn machine() -> &'static str {
    static NAME: OnceLock<String> = OnceLock::new();
    NAME.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|s| s.trim().to_string())
            .ok()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "localhost".into())
    })
}

/// This process, as the owner of leases: `machine:pid`.
pub fn host() -> &'static str {
    static HOST: OnceLock<String> = OnceLock::new();
    HOST.get_or_init(|| format!("{}:{}", machine(), std::process::id()))
}

/// Timestamps as the store keeps them (RFC 3339 UTC text sorts as time).
fn at(offset: chrono::Duration) -> String {
    (chrono::Utc::now() + offset).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn lease_end() -> String {
    at(chrono::Duration::from_std(lease()).unwrap_or_default())
}

/// When a beat older than this means its host is gone.
pub fn stale_before() -> String {
    at(-chrono::Duration::from_std(lease()).unwrap_or_default())
}

/// Whether the host that runs (or ran) something is gone: a process of
/// this machine that no longer exists, or a beat older than the lease.
pub fn gone(host: Option<&str>, heartbeat_at: Option<&str>) -> bool {
    if let Some((machine_name, pid)) = host.and_then(|h| h.rsplit_once(':'))
        && machine_name == machine()
        && let Ok(pid) = pid.parse::<u32>()
    {
        return !std::path::Path::new(&format!("/proc/{pid}")).exists();
    }
    heartbeat_at.is_none_or(|beat| beat < stale_before().as_str())
}

/// Claim `slot` of an integration's schedule for this host; `false` when
/// another host has it (running, done, or its lease still good).
pub fn claim_slot(db: &Db, integration_id: &str, slot: &str) -> Result<bool> {
    let inserted = db.execute(
        "INSERT INTO slot_claims (integration_id, slot, host, expires_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT DO NOTHING",
        params![integration_id, slot, host(), lease_end()],
    )?;
    Ok(inserted == 1)
}

/// Slots whose host is gone before it finished them, now this host's (at
/// most `room` of them): (integration name, slot).
pub fn take_over_slots(db: &Db, room: usize) -> Result<Vec<(String, String)>> {
    if room == 0 {
        return Ok(Vec::new());
    }
    let expired: Vec<(String, String, String, String)> = db.query(
        "SELECT s.integration_id, s.slot, s.host, i.name
         FROM slot_claims s JOIN integrations i ON i.id = s.integration_id
         WHERE NOT s.done AND s.expires_at < ?1",
        params![chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )?;
    let mut taken = Vec::new();
    for (integration_id, slot, was, name) in expired {
        let won = db.execute(
            "UPDATE slot_claims SET host = ?3, expires_at = ?4
             WHERE integration_id = ?1 AND slot = ?2 AND host = ?5 AND NOT done",
            params![integration_id, slot, host(), lease_end(), was],
        )?;
        if won == 1 {
            taken.push((name, slot));
            if taken.len() == room {
                break;
            }
        }
    }
    Ok(taken)
}

/// The slot's sync ended (it succeeded or failed, rather than died).
pub fn finish_slot(db: &Db, integration_id: &str, slot: &str) -> Result<()> {
    db.execute(
        "UPDATE slot_claims SET done = TRUE WHERE integration_id = ?1 AND slot = ?2",
        params![integration_id, slot],
    )?;
    Ok(())
}

/// Keep this host's leases: its running runs and its unfinished slots.
pub fn beat(db: &Db) -> Result<()> {
    let now = at(chrono::Duration::zero());
    db.execute(
        "UPDATE runs SET heartbeat_at = ?2 WHERE host = ?1 AND outcome = 'running'",
        params![host(), now],
    )?;
    db.execute(
        "UPDATE slot_claims SET expires_at = ?2 WHERE host = ?1 AND NOT done",
        params![host(), lease_end()],
    )?;
    Ok(())
}

/// Claim a queued push for this host; `false` when another host sends it.
pub fn claim_push(db: &Db, id: i64) -> Result<bool> {
    let now = at(chrono::Duration::zero());
    let won = db.execute(
        "UPDATE outbox SET claimed_by = ?2, claimed_until = ?3
         WHERE id = ?1 AND next_attempt_at <= ?4
           AND (claimed_until IS NULL OR claimed_until < ?4 OR claimed_by = ?2)",
        params![id, host(), lease_end(), now],
    )?;
    Ok(won == 1)
}

/// Let a push go back to the queue (it was not sent, or will be retried).
pub fn release_push(db: &Db, id: i64) -> Result<()> {
    db.execute(
        "UPDATE outbox SET claimed_by = NULL, claimed_until = NULL WHERE id = ?1",
        params![id],
    )?;
    Ok(())
}

/// Beat for this process every third of the lease, for as long as the
/// process lives. Started once.
///
/// Each beat opens a connection of its own and closes it. One kept for the
/// process's life would outlive the command's: SQLite checkpoints its
/// write-ahead log and deletes it when the last connection closes, and the
/// beat's, never closed, left a first sync's whole log (as large as the
/// network's rows) on disk for the next command to delete.
pub fn keep_beating(location: &super::Location) {
    static STARTED: OnceLock<()> = OnceLock::new();
    let location = location.clone();
    STARTED.get_or_init(|| {
        std::thread::Builder::new()
            .name("lease-beat".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(lease() / 3);
                    if let Err(e) = super::open(&location).and_then(|conn| beat(&conn)) {
                        tracing::warn!(error = %format!("{e:#}"), "beating the leases");
                    }
                }
            })
            .expect("starting the lease beat");
    });
}
