//! The daemon's settings kept in the store (its API token) and each
//! integration's daily sync time.

use anyhow::Result;

use crate::params;
use crate::store::Db;

/// The API token generated at the first start, if there is one.
pub fn api_token(conn: &Db) -> Result<Option<String>> {
    conn.query_opt(
        "SELECT value FROM settings WHERE key = 'api_token'",
        params![],
        |r| r.get(0),
    )
}

/// Keep `token` as the API token unless a host kept one first (hosts that
/// share a store start together); answers the one kept.
pub fn keep_api_token(conn: &Db, token: &str) -> Result<String> {
    conn.execute(
        "INSERT INTO settings (key, value) VALUES ('api_token', ?1) ON CONFLICT DO NOTHING",
        params![token],
    )?;
    Ok(api_token(conn)?.unwrap_or_else(|| token.to_string()))
}

/// An integration's daily sync time, `HH:MM` in America/Sao_Paulo.
pub fn set_sync_time(conn: &Db, integration_id: &str, time: &str) -> Result<()> {
    conn.execute(
        "UPDATE integrations SET sync_time = ?2 WHERE id = ?1",
        params![integration_id, time],
    )?;
    Ok(())
}
