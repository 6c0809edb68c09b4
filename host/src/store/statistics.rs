//! What the planners know of the network's tables: their statistics,
//! gathered again only when what was written since makes them stale.
//!
//! Without statistics both planners take an integration's rows for a few
//! and read them all (every property, rather than those of a port). Once
//! they exist, a run that changes a small part of the network leaves them
//! as true as they were: gathering them again after every run cost an
//! incremental sync at 1M elements 1.2 s on PostgreSQL (sampling `elements`
//! and the real columns) and 0.1 s on SQLite.
//!
//! PostgreSQL counts every change since a table's last analysis; SQLite
//! keeps no such count, so there only one run's writes are weighed, and
//! many small runs never add up to a new analysis. What the planners read
//! from the statistics is the shape of the network (properties per port,
//! per box, per client), which a network keeps as it grows; having none is
//! what misled them.

use anyhow::Result;

use crate::params;
use crate::store::Transaction;
use crate::store::db::Kind;

/// Fewer rows changed than this leave a table's statistics as they are.
const AFTER_ROWS: i64 = 1000;

/// The share of a table's rows, as last counted, whose change makes its
/// statistics stale: PostgreSQL's own autoanalyze waits for the same.
const STALE_FRACTION: i64 = 10;

/// Gather the statistics of those of `tables` that are stale, given the
/// rows this transaction wrote to each: the rows changed (these, and on
/// PostgreSQL those changed since its last analysis, by any run) reach a
/// tenth of the rows it held then, and at least [`AFTER_ROWS`]. Answers the
/// tables analysed.
pub fn refresh<'t>(tx: &Transaction<'_>, written: &[(&'t str, usize)]) -> Result<Vec<&'t str>> {
    let mut stale = Vec::new();
    for &(table, rows) in written {
        let (counted, changed_before) = last_analysis(tx, table)?;
        let changed = changed_before.saturating_add(rows as i64);
        if changed >= AFTER_ROWS.max(counted / STALE_FRACTION) {
            stale.push(table);
        }
    }
    if !stale.is_empty() {
        tx.batch(&match tx.kind() {
            // A sample of each index is enough to know better.
            Kind::Sqlite => std::iter::once("PRAGMA analysis_limit = 1000".to_string())
                .chain(stale.iter().map(|t| format!("ANALYZE main.{t}")))
                .collect::<Vec<_>>()
                .join("; "),
            Kind::Postgres => format!("ANALYZE {}", stale.join(", ")),
        })?;
    }
    Ok(stale)
}

/// The rows `table` held when its statistics were last gathered (0 if
/// never), and the rows changed since then that are known here: on
/// PostgreSQL its own count of them (every transaction's, committed), on
/// SQLite none.
fn last_analysis(tx: &Transaction<'_>, table: &str) -> Result<(i64, i64)> {
    match tx.kind() {
        Kind::Sqlite => {
            let gathered: bool = tx.query_row(
                "SELECT EXISTS (SELECT 1 FROM main.sqlite_master WHERE name = 'sqlite_stat1')",
                params![],
                |r| r.get(0),
            )?;
            if !gathered {
                return Ok((0, 0));
            }
            // Each index's statistics begin with the table's row count.
            let counted: Option<i64> = tx.query_row(
                "SELECT max(CAST(stat AS INTEGER)) FROM main.sqlite_stat1 WHERE tbl = ?1",
                params![table],
                |r| r.get(0),
            )?;
            Ok((counted.unwrap_or(0), 0))
        }
        Kind::Postgres => {
            let row: Option<(i64, i64, bool)> = tx.query_opt(
                "SELECT n_live_tup, n_mod_since_analyze,
                        last_analyze IS NOT NULL OR last_autoanalyze IS NOT NULL
                 FROM pg_stat_user_tables WHERE relid = to_regclass(?1)",
                params![table],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )?;
            Ok(match row {
                Some((rows, changed, true)) => (rows, changed),
                // Never analysed: whatever it holds is unknown to the planner.
                Some((_, changed, false)) => (0, changed),
                None => (0, 0),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Db;

    fn db(rows: usize) -> Db {
        let db = Db::sqlite(rusqlite::Connection::open_in_memory().unwrap());
        db.batch(
            "CREATE TABLE t (k INTEGER PRIMARY KEY, a TEXT);
             CREATE INDEX t_a ON t(a);
             CREATE TABLE u (k INTEGER PRIMARY KEY, a TEXT);
             CREATE INDEX u_a ON u(a);",
        )
        .unwrap();
        for i in 0..rows {
            db.execute(
                "INSERT INTO t VALUES (?1, ?2)",
                params![i as i64, (i % 7).to_string()],
            )
            .unwrap();
        }
        db
    }

    #[test]
    fn statistics_are_gathered_when_missing_and_again_when_a_tenth_changed() {
        let db = db(30_000);
        let tx = db.transaction().unwrap();
        // Too few rows for statistics to matter.
        assert!(refresh(&tx, &[("t", 999), ("u", 0)]).unwrap().is_empty());
        // None yet, and enough written.
        assert_eq!(refresh(&tx, &[("t", 30_000), ("u", 0)]).unwrap(), ["t"]);
        let counted: i64 = tx
            .query_row(
                "SELECT max(CAST(stat AS INTEGER)) FROM sqlite_stat1 WHERE tbl = 't'",
                params![],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(counted, 30_000);
        // A small change leaves them; a tenth of the table does not.
        assert!(refresh(&tx, &[("t", 2_999)]).unwrap().is_empty());
        assert_eq!(refresh(&tx, &[("t", 3_000)]).unwrap(), ["t"]);
        // The other table, still without statistics, gets them once
        // enough of it is written.
        assert_eq!(refresh(&tx, &[("t", 10), ("u", 1_000)]).unwrap(), ["u"]);
    }
}
