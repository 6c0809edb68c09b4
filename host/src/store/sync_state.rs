//! What the last applied run of an integration left for the next (the
//! component's opaque state: its watermarks), so the next run reads only
//! what changed. Written in the transaction that applies the run, so a
//! failed or cut-short run leaves the previous state, still true.

use anyhow::Result;

use crate::params;
use crate::store::Db;

pub fn get(conn: &Db, integration_id: &str) -> Result<Option<String>> {
    Ok(conn
        .query_opt(
            "SELECT sync_state FROM integrations WHERE id = ?1",
            params![integration_id],
            |r| r.get::<Option<String>>(0),
        )?
        .flatten())
}

pub fn keep(conn: &Db, integration_id: &str, state: &str) -> Result<()> {
    conn.execute(
        "UPDATE integrations SET sync_state = ?2 WHERE id = ?1",
        params![integration_id, state],
    )?;
    Ok(())
}
