//! Connections kept open between the API's requests. Opening one costs more
//! than answering most requests: the SQLite file opened and its modes
//! checked, the schema parsed again, an empty page cache read back from the
//! file, every statement prepared anew (on PostgreSQL, a server process
//! started for it). A request takes a kept connection, mended as
//! [`open`](crate::store::open) mends a new one, and gives it back.

use std::sync::{Mutex, PoisonError};

use anyhow::Result;

use crate::store::{Db, Location};

/// How much of a SQLite file a kept connection maps into memory (SQLite
/// bounds it at about 2 GiB).
const MMAP_BYTES: i64 = 1 << 31;

pub struct Pool {
    location: Location,
    idle: Mutex<Vec<Db>>,
    keep: usize,
}

impl Pool {
    /// Connections to `location`, at most `keep` of them kept idle.
    pub fn new(location: &Location, keep: usize) -> Pool {
        Pool {
            location: location.clone(),
            idle: Mutex::new(Vec::new()),
            keep,
        }
    }

    /// A connection: a kept one (its interrupted runs marked, its secrets
    /// sealed, as `open` does), or a new one.
    pub fn take(&self) -> Result<Db> {
        let kept = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        match kept {
            Some(conn) => {
                crate::store::mend(&conn, &self.location)?;
                Ok(conn)
            }
            None => {
                let conn = crate::store::open(&self.location)?;
                if let Some(sqlite) = conn.as_sqlite() {
                    // Read the file through the page cache the system keeps
                    // anyway, rather than copy each page into a cache of its own.
                    sqlite.pragma_update(None, "mmap_size", MMAP_BYTES)?;
                }
                Ok(conn)
            }
        }
    }

    /// Keep `conn` for a later request, unless `keep` are idle already. A
    /// connection whose work failed for a reason of the store's should be
    /// dropped instead: it may be the reason.
    pub fn give_back(&self, conn: Db) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < self.keep {
            idle.push(conn);
        }
    }
}

impl Drop for Pool {
    /// A PostgreSQL connection runs a Tokio runtime of its own, which may
    /// not be dropped inside another's (the server's, when it stops): the
    /// kept connections are closed on a thread of their own.
    fn drop(&mut self) {
        let idle = std::mem::take(self.idle.get_mut().unwrap_or_else(PoisonError::into_inner));
        if !idle.is_empty() {
            let _ = std::thread::spawn(move || drop(idle)).join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_are_kept_up_to_a_bound() {
        let dir = tempfile::tempdir().unwrap();
        let pool = Pool::new(&Location::Sqlite(dir.path().join("m.db")), 1);
        let (a, b) = (pool.take().unwrap(), pool.take().unwrap());
        a.batch("CREATE TABLE t (x INTEGER)").unwrap();
        pool.give_back(a);
        pool.give_back(b);
        assert_eq!(pool.idle.lock().unwrap().len(), 1);
        // What one connection wrote, a kept one reads.
        let c = pool.take().unwrap();
        c.batch("INSERT INTO t VALUES (1)").unwrap();
        assert_eq!(pool.idle.lock().unwrap().len(), 0);
        let d = pool.take().unwrap();
        let n: i64 = d
            .query_row("SELECT count(*) FROM t", crate::params![], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 1);
    }
}
