//! Filling empty tables in bulk: above all an integration's first sync
//! into a database that holds no other network.
//!
//! SQLite inserts a network's keys into an index one at a time, and most
//! land anywhere in it (a property's port, box and client): at a million
//! elements that is most of applying a first sync. It builds the same
//! index from sorted keys several times faster. So a table that holds no
//! row at all when a run is applied loses its secondary indexes
//! for the fill and has them built again, by their own stored definitions,
//! before anything reads them, all in the run's one transaction: a reader
//! sees the table empty with its indexes, or full with them, and a failed
//! apply rolls the indexes back with the rows. A table holding another
//! integration's rows is filled as usual: rebuilding its indexes would
//! cost as much as that network again.
//!
//! On PostgreSQL dropping an index locks its table against readers until
//! the transaction ends; its inserts stay as they are.

use anyhow::{Context, Result};

use crate::params;
use crate::store::Transaction;
use crate::store::db::Kind;

/// The indexes dropped for a bulk fill, to be built again.
#[must_use = "the dropped indexes are built again by `rebuild`"]
pub struct DeferredIndexes {
    /// Each index's name and its `CREATE INDEX` statement, as stored.
    indexes: Vec<(String, String)>,
}

impl DeferredIndexes {
    /// On SQLite, drop the secondary indexes of those of `tables` that hold
    /// no row, remembering how to build them again. Constraints' own
    /// indexes (a key, `UNIQUE`) stay, as upserts need them and the rows
    /// come in their order; so do partial ones.
    pub fn drop(tx: &Transaction<'_>, tables: &[&str]) -> Result<DeferredIndexes> {
        let mut deferred = DeferredIndexes {
            indexes: Vec::new(),
        };
        if tx.kind() != Kind::Sqlite {
            return Ok(deferred);
        }
        for table in tables {
            let empty: bool = tx.query_row(
                &format!("SELECT NOT EXISTS (SELECT 1 FROM main.{table})"),
                params![],
                |r| r.get(0),
            )?;
            if !empty {
                continue;
            }
            // Those a statement made (`origin` 'c', not a constraint's),
            // of every row: a partial index takes few of a first sync's
            // rows, or (`elements_held`) takes them in the key's order as
            // they come, and building it again would read the whole table.
            let indexes: Vec<(String, String)> = tx.query(
                "SELECT i.name, m.sql FROM pragma_index_list(?1, 'main') i
                 JOIN main.sqlite_master m ON m.type = 'index' AND m.name = i.name
                 WHERE i.origin = 'c' AND NOT i.partial ORDER BY i.name",
                params![*table],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            for (name, _) in &indexes {
                tx.batch(&format!("DROP INDEX main.\"{name}\""))
                    .with_context(|| format!("dropping the index {name} for a bulk fill"))?;
            }
            deferred.indexes.extend(indexes);
        }
        Ok(deferred)
    }

    /// Build the dropped indexes again, in the same transaction.
    pub fn rebuild(self, tx: &Transaction<'_>) -> Result<()> {
        for (name, sql) in self.indexes {
            tx.batch(&sql)
                .with_context(|| format!("building the index {name} after a bulk fill"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Db;

    fn db() -> Db {
        let db = Db::sqlite(rusqlite::Connection::open_in_memory().unwrap());
        db.batch(
            "CREATE TABLE t (k TEXT PRIMARY KEY, a TEXT, b TEXT);
             CREATE INDEX t_a ON t(a);
             CREATE INDEX t_b ON t(b) WHERE b IS NOT NULL;
             CREATE TABLE u (k TEXT UNIQUE, a TEXT);
             CREATE INDEX u_a ON u(a);
             INSERT INTO u VALUES ('x', 'y');",
        )
        .unwrap();
        db
    }

    fn indexes(db: &Db) -> Vec<(String, Option<String>)> {
        db.query(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' ORDER BY name",
            params![],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap()
    }

    #[test]
    fn an_empty_tables_indexes_are_built_again_as_they_were() {
        let db = db();
        let before = indexes(&db);
        let tx = db.transaction().unwrap();
        let deferred = DeferredIndexes::drop(&tx, &["t", "u"]).unwrap();
        let names: Vec<String> = indexes(&tx).into_iter().map(|(n, _)| n).collect();
        // `t`'s own index of every row went; its key's and its partial
        // one stayed, and so did everything of `u`, which holds a row.
        assert_eq!(
            names,
            ["sqlite_autoindex_t_1", "sqlite_autoindex_u_1", "t_b", "u_a"]
        );
        tx.execute("INSERT INTO t VALUES ('1', 'a', NULL)", params![])
            .unwrap();
        deferred.rebuild(&tx).unwrap();
        tx.commit().unwrap();
        assert_eq!(indexes(&db), before);
    }

    #[test]
    fn a_failed_fill_rolls_the_indexes_back() {
        let db = db();
        let before = indexes(&db);
        {
            let tx = db.transaction().unwrap();
            let _deferred = DeferredIndexes::drop(&tx, &["t"]).unwrap();
            // Dropped uncommitted: rolled back.
        }
        assert_eq!(indexes(&db), before);
    }
}
