//! One connection to the store, whichever it is: an embedded SQLite file
//! (the default) or a PostgreSQL server that several hosts share.
//!
//! Statements are written once, in the SQL both accept: `?1`-style
//! parameters, `ON CONFLICT`, `RETURNING`, no JSON functions. For
//! PostgreSQL the parameters are renumbered `$1` when a statement is first
//! prepared (then cached), and each value is converted to the type the
//! server expects of it; rows come back as [`Value`]s either way.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;

use anyhow::{Context, Result, anyhow, bail};
use postgres::types::{ToSql, Type};

/// A value going into or coming out of a statement.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Bool(bool),
}

/// A failure of the database itself (not a refusal of mapsync's rules):
/// the API answers it as an internal error.
#[derive(Debug)]
pub struct DbError(pub String);

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DbError {}

fn db_error(e: impl fmt::Display) -> anyhow::Error {
    anyhow::Error::new(DbError(e.to_string()))
}

/// PostgreSQL's errors say "db error" alone; the server's words are inside.
fn pg_error(e: postgres::Error) -> anyhow::Error {
    match e.as_db_error() {
        Some(db) => db_error(format!("{} ({})", db.message(), db.code().code())),
        None => db_error(e),
    }
}

pub trait ToValue {
    fn to_value(&self) -> Value;
}

impl<T: ToValue + ?Sized> ToValue for &T {
    fn to_value(&self) -> Value {
        (**self).to_value()
    }
}

impl<T: ToValue> ToValue for Option<T> {
    fn to_value(&self) -> Value {
        self.as_ref().map_or(Value::Null, ToValue::to_value)
    }
}

impl ToValue for Value {
    fn to_value(&self) -> Value {
        self.clone()
    }
}

impl ToValue for str {
    fn to_value(&self) -> Value {
        Value::Text(self.to_string())
    }
}

impl ToValue for String {
    fn to_value(&self) -> Value {
        Value::Text(self.clone())
    }
}

impl ToValue for bool {
    fn to_value(&self) -> Value {
        Value::Bool(*self)
    }
}

impl ToValue for f64 {
    fn to_value(&self) -> Value {
        Value::Real(*self)
    }
}

macro_rules! int_values {
    ($($t:ty),*) => {$(
        impl ToValue for $t {
            fn to_value(&self) -> Value {
                Value::Int(i64::try_from(*self).unwrap_or(i64::MAX))
            }
        }
        impl FromValue for $t {
            fn from_value(v: &Value) -> Result<Self> {
                let n = match v {
                    Value::Int(n) => *n,
                    Value::Bool(b) => i64::from(*b),
                    // PostgreSQL answers a JSON path as text.
                    Value::Text(t) if t.parse::<i64>().is_ok() => t.parse::<i64>()?,
                    other => bail!("expected an integer, found {other:?}"),
                };
                <$t>::try_from(n).map_err(|_| anyhow!("{n} is out of range"))
            }
        }
    )*};
}

int_values!(i64, i32, u32, u64, usize, u8);

pub trait FromValue: Sized {
    fn from_value(v: &Value) -> Result<Self>;
}

impl<T: FromValue> FromValue for Option<T> {
    fn from_value(v: &Value) -> Result<Self> {
        match v {
            Value::Null => Ok(None),
            v => T::from_value(v).map(Some),
        }
    }
}

impl FromValue for String {
    fn from_value(v: &Value) -> Result<Self> {
        match v {
            Value::Text(s) => Ok(s.clone()),
            other => bail!("expected text, found {other:?}"),
        }
    }
}

impl FromValue for f64 {
    fn from_value(v: &Value) -> Result<Self> {
        match v {
            Value::Real(x) => Ok(*x),
            Value::Int(n) => Ok(*n as f64),
            Value::Text(t) if t.parse::<f64>().is_ok() => Ok(t.parse::<f64>()?),
            other => bail!("expected a number, found {other:?}"),
        }
    }
}

impl FromValue for bool {
    fn from_value(v: &Value) -> Result<Self> {
        match v {
            Value::Bool(b) => Ok(*b),
            Value::Int(n) => Ok(*n != 0),
            other => bail!("expected a boolean, found {other:?}"),
        }
    }
}

impl FromValue for Value {
    fn from_value(v: &Value) -> Result<Self> {
        Ok(v.clone())
    }
}

/// The parameters of a statement: `params![a, b]`.
#[macro_export]
macro_rules! params {
    () => { &[] as &[&dyn $crate::store::db::ToValue] };
    ($($p:expr),+ $(,)?) => { &[$(&$p as &dyn $crate::store::db::ToValue),+] as &[&dyn $crate::store::db::ToValue] };
}

/// A row of a result.
pub struct Row(Vec<Value>);

impl Row {
    /// Column `i` (from 0) as a `T`.
    pub fn get<T: FromValue>(&self, i: usize) -> Result<T> {
        let v = self
            .0
            .get(i)
            .ok_or_else(|| anyhow!("the statement has no column {i}"))?;
        T::from_value(v).with_context(|| format!("reading column {i}"))
    }
}

pub type Params<'a> = &'a [&'a dyn ToValue];

struct Pg {
    client: postgres::Client,
    statements: HashMap<String, postgres::Statement>,
}

enum Backend {
    Sqlite(rusqlite::Connection),
    Postgres(Box<RefCell<Pg>>),
}

/// Which store a connection reaches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Sqlite,
    Postgres,
}

pub struct Db {
    backend: Backend,
    in_transaction: std::cell::Cell<bool>,
}

impl Db {
    pub fn sqlite(conn: rusqlite::Connection) -> Db {
        Db {
            backend: Backend::Sqlite(conn),
            in_transaction: Default::default(),
        }
    }

    pub fn postgres(client: postgres::Client) -> Db {
        Db {
            backend: Backend::Postgres(Box::new(RefCell::new(Pg {
                client,
                statements: HashMap::new(),
            }))),
            in_transaction: Default::default(),
        }
    }

    pub fn kind(&self) -> Kind {
        match self.backend {
            Backend::Sqlite(_) => Kind::Sqlite,
            Backend::Postgres(_) => Kind::Postgres,
        }
    }

    /// The SQLite connection, for what only SQLite has (pragmas).
    pub fn as_sqlite(&self) -> Option<&rusqlite::Connection> {
        match &self.backend {
            Backend::Sqlite(c) => Some(c),
            Backend::Postgres(_) => None,
        }
    }

    /// Run a statement; answers how many rows it changed.
    pub fn execute(&self, sql: &str, params: Params<'_>) -> Result<usize> {
        match &self.backend {
            Backend::Sqlite(c) => {
                let mut stmt = c.prepare_cached(sql).map_err(db_error)?;
                stmt.execute(sqlite_params(params)).map_err(db_error)
            }
            Backend::Postgres(pg) => {
                let n = with_pg(pg, sql, params, |client, stmt, refs| {
                    client.execute(stmt, refs)
                })?;
                Ok(n as usize)
            }
        }
    }

    /// Every row of a query, each turned into a `T` by `f`.
    pub fn query<T>(
        &self,
        sql: &str,
        params: Params<'_>,
        f: impl FnMut(&Row) -> Result<T>,
    ) -> Result<Vec<T>> {
        self.rows(sql, params, None, f)
    }

    /// The first row of a query, if any (the others are not read).
    pub fn query_opt<T>(
        &self,
        sql: &str,
        params: Params<'_>,
        f: impl FnOnce(&Row) -> Result<T>,
    ) -> Result<Option<T>> {
        let mut f = Some(f);
        let first = self.rows(sql, params, Some(1), |row| {
            f.take().expect("one row is read")(row)
        })?;
        Ok(first.into_iter().next())
    }

    /// The first column of every row, as text: a page of ids, each read
    /// straight into its string (a walk reads a network's worth of them).
    pub fn query_texts(&self, sql: &str, params: Params<'_>) -> Result<Vec<String>> {
        match &self.backend {
            Backend::Sqlite(c) => {
                let mut stmt = c.prepare_cached(sql).map_err(db_error)?;
                let mut rows = stmt.query(sqlite_params(params)).map_err(db_error)?;
                let mut out = Vec::new();
                while let Some(r) = rows.next().map_err(db_error)? {
                    out.push(r.get_ref(0).map_err(db_error)?.as_str()?.to_owned());
                }
                Ok(out)
            }
            Backend::Postgres(pg) => {
                let rows = with_pg(pg, sql, params, |client, stmt, refs| {
                    client.query(stmt, refs)
                })?;
                rows.iter()
                    .map(|r| r.try_get::<_, String>(0).map_err(pg_error))
                    .collect()
            }
        }
    }

    /// The rows of a query, at most `limit` of them, each turned into a `T`.
    fn rows<T>(
        &self,
        sql: &str,
        params: Params<'_>,
        limit: Option<usize>,
        mut f: impl FnMut(&Row) -> Result<T>,
    ) -> Result<Vec<T>> {
        let limit = limit.unwrap_or(usize::MAX);
        let mut out = Vec::new();
        match &self.backend {
            Backend::Sqlite(c) => {
                let mut stmt = c.prepare_cached(sql).map_err(db_error)?;
                let columns = stmt.column_count();
                let mut rows = stmt.query(sqlite_params(params)).map_err(db_error)?;
                while out.len() < limit
                    && let Some(r) = rows.next().map_err(db_error)?
                {
                    let mut values = Vec::with_capacity(columns);
                    for i in 0..columns {
                        values.push(from_sqlite(r.get_ref(i).map_err(db_error)?)?);
                    }
                    out.push(f(&Row(values))?);
                }
            }
            Backend::Postgres(pg) => {
                let rows = with_pg(pg, sql, params, |client, stmt, refs| {
                    client.query(stmt, refs)
                })?;
                for r in rows.iter().take(limit) {
                    out.push(f(&Row(from_pg(r)?))?);
                }
            }
        }
        Ok(out)
    }

    /// The one row of a query; its absence is an error.
    pub fn query_row<T>(
        &self,
        sql: &str,
        params: Params<'_>,
        f: impl FnOnce(&Row) -> Result<T>,
    ) -> Result<T> {
        self.query_opt(sql, params, f)?
            .ok_or_else(|| db_error("the query returned no row"))
    }

    /// Statements separated by `;`, without parameters (schema changes).
    pub fn batch(&self, sql: &str) -> Result<()> {
        match &self.backend {
            Backend::Sqlite(c) => c.execute_batch(sql).map_err(db_error),
            Backend::Postgres(pg) => pg.borrow_mut().client.batch_execute(sql).map_err(pg_error),
        }
    }

    /// Begin a transaction that writes: on SQLite it takes the write lock
    /// at once (`IMMEDIATE`), so it never fails half-way for a lock another
    /// writer took after it read. Rolled back when dropped uncommitted.
    pub fn transaction(&self) -> Result<Transaction<'_>> {
        if self.in_transaction.get() {
            bail!("a transaction is already open on this connection");
        }
        self.batch(match self.kind() {
            Kind::Sqlite => "BEGIN IMMEDIATE",
            Kind::Postgres => "BEGIN",
        })?;
        self.in_transaction.set(true);
        Ok(Transaction {
            db: self,
            open: true,
        })
    }
}

/// An open transaction: statements go through it as through the [`Db`].
pub struct Transaction<'a> {
    db: &'a Db,
    open: bool,
}

impl std::ops::Deref for Transaction<'_> {
    type Target = Db;

    fn deref(&self) -> &Db {
        self.db
    }
}

impl Transaction<'_> {
    pub fn commit(mut self) -> Result<()> {
        self.open = false;
        self.db.in_transaction.set(false);
        self.db.batch("COMMIT")
    }
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        if self.open {
            self.db.in_transaction.set(false);
            let _ = self.db.batch("ROLLBACK");
        }
    }
}

fn sqlite_params(params: Params<'_>) -> rusqlite::ParamsFromIter<Vec<rusqlite::types::Value>> {
    rusqlite::params_from_iter(params.iter().map(|p| sqlite_value(p.to_value())).collect())
}

/// Prepare (or take from the cache) `sql` and run `f` with its values as
/// the server expects them.
fn with_pg<T>(
    pg: &RefCell<Pg>,
    sql: &str,
    params: Params<'_>,
    f: impl FnOnce(
        &mut postgres::Client,
        &postgres::Statement,
        &[&(dyn ToSql + Sync)],
    ) -> Result<T, postgres::Error>,
) -> Result<T> {
    let mut pg = pg.borrow_mut();
    let stmt = pg.prepare(sql)?;
    let values = pg_params(&stmt, params)?;
    let refs: Vec<&(dyn ToSql + Sync)> = values.iter().map(|b| b.as_ref() as _).collect();
    f(&mut pg.client, &stmt, &refs).map_err(pg_error)
}

fn sqlite_value(v: Value) -> rusqlite::types::Value {
    use rusqlite::types::Value as V;
    match v {
        Value::Null => V::Null,
        Value::Int(n) => V::Integer(n),
        Value::Real(x) => V::Real(x),
        Value::Text(s) => V::Text(s),
        Value::Bool(b) => V::Integer(i64::from(b)),
    }
}

fn from_sqlite(v: rusqlite::types::ValueRef<'_>) -> Result<Value> {
    use rusqlite::types::ValueRef as V;
    Ok(match v {
        V::Null => Value::Null,
        V::Integer(n) => Value::Int(n),
        V::Real(x) => Value::Real(x),
        V::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
        V::Blob(_) => bail!("mapsync stores no binary values"),
    })
}

impl Pg {
    fn prepare(&mut self, sql: &str) -> Result<postgres::Statement> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let stmt = self
            .client
            .prepare(&to_postgres(sql))
            .map_err(pg_error)
            .with_context(|| format!("preparing {sql}"))?;
        self.statements.insert(sql.to_string(), stmt.clone());
        Ok(stmt)
    }
}

/// A statement in PostgreSQL's words: `?1` (or `?`) parameters become
/// `$1`, outside quoted text, and SQLite's `json_extract(x, '$.a.b')` (on
/// the text column `data`) becomes `(x::jsonb #>> '{a,b}')`: text, which
/// parameters compared with it take the type of.
pub fn to_postgres(sql: &str) -> String {
    renumber(&json_arrays(&json_paths(sql)))
}

/// SQLite's `json_each(?N)` over a JSON array parameter, as PostgreSQL's
/// `jsonb_array_elements_text`: both answer the items in a `value` column.
fn json_arrays(sql: &str) -> String {
    const CALL: &str = "json_each(";
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    while let Some(at) = rest.find(CALL) {
        out.push_str(&rest[..at]);
        let args = &rest[at + CALL.len()..];
        let end = args.find(')').unwrap_or(args.len());
        out.push_str(&format!(
            "jsonb_array_elements_text(CAST(CAST({} AS text) AS jsonb))",
            args[..end].trim()
        ));
        rest = args.get(end + 1..).unwrap_or("");
    }
    out.push_str(rest);
    out
}

fn renumber(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut chars = sql.chars().peekable();
    let mut quoted = false;
    let mut next = 0;
    while let Some(c) = chars.next() {
        if c == '\'' {
            quoted = !quoted;
        }
        if c != '?' || quoted {
            out.push(c);
            continue;
        }
        let mut digits = String::new();
        while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
            digits.push(*d);
            chars.next();
        }
        if digits.is_empty() {
            next += 1;
            digits = next.to_string();
        }
        out.push('$');
        out.push_str(&digits);
    }
    out
}

fn json_paths(sql: &str) -> String {
    const CALL: &str = "json_extract(";
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    while let Some(at) = rest.find(CALL) {
        out.push_str(&rest[..at]);
        let args = &rest[at + CALL.len()..];
        let parsed = args.find(')').and_then(|end| {
            let (column, path) = args[..end].split_once(',')?;
            let path = path.trim().strip_prefix("'$.")?.strip_suffix('\'')?;
            Some((end, column.trim(), path.replace('.', ",")))
        });
        match parsed {
            Some((end, column, path)) => {
                out.push_str(&format!("({column}::jsonb #>> '{{{path}}}')"));
                rest = &args[end + 1..];
            }
            None => {
                out.push_str(CALL);
                rest = args;
            }
        }
    }
    out.push_str(rest);
    out
}

type PgParam = Box<dyn ToSql + Sync>;

/// Each value as the type the server expects of that parameter.
fn pg_params(stmt: &postgres::Statement, params: Params<'_>) -> Result<Vec<PgParam>> {
    if stmt.params().len() != params.len() {
        bail!(
            "the statement takes {} parameters, {} given",
            stmt.params().len(),
            params.len()
        );
    }
    stmt.params()
        .iter()
        .zip(params)
        .enumerate()
        .map(|(i, (ty, p))| {
            pg_param(ty, p.to_value()).with_context(|| format!("parameter {}", i + 1))
        })
        .collect()
}

fn pg_param(ty: &Type, v: Value) -> Result<PgParam> {
    let null = matches!(v, Value::Null);
    let int = || i64::from_value(&v);
    Ok(match *ty {
        Type::INT8 if null => Box::new(None::<i64>),
        Type::INT8 => Box::new(int()?),
        Type::INT4 if null => Box::new(None::<i32>),
        Type::INT4 => Box::new(i32::try_from(int()?)?),
        Type::INT2 if null => Box::new(None::<i16>),
        Type::INT2 => Box::new(i16::try_from(int()?)?),
        Type::FLOAT8 if null => Box::new(None::<f64>),
        Type::FLOAT8 => Box::new(f64::from_value(&v)?),
        Type::FLOAT4 if null => Box::new(None::<f32>),
        Type::FLOAT4 => Box::new(f64::from_value(&v)? as f32),
        Type::BOOL if null => Box::new(None::<bool>),
        Type::BOOL => Box::new(bool::from_value(&v)?),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN if null => {
            Box::new(None::<String>)
        }
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
            Box::new(match v {
                Value::Text(s) => s,
                Value::Int(n) => n.to_string(),
                Value::Real(x) => x.to_string(),
                Value::Bool(b) => b.to_string(),
                Value::Null => unreachable!(),
            })
        }
        ref other => bail!("mapsync sends no value of type {other}"),
    })
}

fn from_pg(row: &postgres::Row) -> Result<Vec<Value>> {
    (0..row.len())
        .map(|i| {
            let ty = row.columns()[i].type_();
            let v = match *ty {
                Type::INT8 => row.try_get::<_, Option<i64>>(i).map(|v| v.map(Value::Int)),
                Type::INT4 => row
                    .try_get::<_, Option<i32>>(i)
                    .map(|v| v.map(|n| Value::Int(n.into()))),
                Type::INT2 => row
                    .try_get::<_, Option<i16>>(i)
                    .map(|v| v.map(|n| Value::Int(n.into()))),
                Type::FLOAT8 => row.try_get::<_, Option<f64>>(i).map(|v| v.map(Value::Real)),
                Type::FLOAT4 => row
                    .try_get::<_, Option<f32>>(i)
                    .map(|v| v.map(|x| Value::Real(x.into()))),
                Type::BOOL => row
                    .try_get::<_, Option<bool>>(i)
                    .map(|v| v.map(Value::Bool)),
                Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => row
                    .try_get::<_, Option<String>>(i)
                    .map(|v| v.map(Value::Text)),
                ref other => {
                    return Err(db_error(format!(
                        "column {} has type {other}, which mapsync does not read",
                        row.columns()[i].name()
                    )));
                }
            };
            Ok(v.map_err(db_error)?.unwrap_or(Value::Null))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_are_put_in_postgresql_words() {
        assert_eq!(
            to_postgres("SELECT a FROM t WHERE b = ?1 AND c = '?2' AND d = ?12 OR e = ?"),
            "SELECT a FROM t WHERE b = $1 AND c = '?2' AND d = $12 OR e = $1"
        );
        assert_eq!(
            to_postgres(
                "SELECT json_extract(p.data, '$.connection.port') FROM elements p WHERE json_extract(data, '$.code') = ?1"
            ),
            "SELECT (p.data::jsonb #>> '{connection,port}') FROM elements p WHERE (data::jsonb #>> '{code}') = $1"
        );
        assert_eq!(
            to_postgres("id IN (SELECT value FROM json_each(?3))"),
            "id IN (SELECT value FROM jsonb_array_elements_text(CAST(CAST($3 AS text) AS jsonb)))"
        );
    }

    #[test]
    fn sqlite_rows_come_back_as_values() {
        let db = Db::sqlite(rusqlite::Connection::open_in_memory().unwrap());
        db.batch("CREATE TABLE t (a INTEGER, b TEXT, c REAL)")
            .unwrap();
        let tx = db.transaction().unwrap();
        tx.execute("INSERT INTO t VALUES (?1, ?2, ?3)", params![7, "x", 1.5])
            .unwrap();
        tx.execute(
            "INSERT INTO t VALUES (?1, ?2, ?3)",
            params![8, None::<String>, 2.0],
        )
        .unwrap();
        tx.commit().unwrap();
        let rows = db
            .query("SELECT a, b, c FROM t ORDER BY a", params![], |r| {
                Ok((
                    r.get::<u32>(0)?,
                    r.get::<Option<String>>(1)?,
                    r.get::<f64>(2)?,
                ))
            })
            .unwrap();
        assert_eq!(rows, [(7, Some("x".into()), 1.5), (8, None, 2.0)]);
        assert_eq!(
            db.query_opt("SELECT a FROM t WHERE a > ?1", params![100], |r| r
                .get::<i64>(0))
                .unwrap(),
            None
        );
        // Dropped uncommitted, a transaction leaves nothing.
        {
            let tx = db.transaction().unwrap();
            tx.execute("DELETE FROM t", params![]).unwrap();
        }
        assert_eq!(
            db.query_row("SELECT count(*) FROM t", params![], |r| r.get::<i64>(0))
                .unwrap(),
            2
        );
    }
}
