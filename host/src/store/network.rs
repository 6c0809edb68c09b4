//! The network in real columns: what is asked of it, beside each element's
//! JSON in `elements`. A box's project and place (`boxes`, its place in a
//! spatial index), a splitter's box and kind (`splitters`) and its ports
//! (`ports`), a property's box, client and port (`properties`), a client's
//! code (`clients`); current elements only, a removed one has no row.
//!
//! A sync's commit keeps them ([`follow`], in its transaction); schema 12
//! filled them from what was stored. Which port is taken, which boxes are
//! near a point and which of their ports are free are answered here from
//! indexes, without reading any element's JSON: on SQLite the boxes' places
//! are an R*Tree (`box_places`, kept by triggers on `boxes`), on PostgreSQL
//! a GiST index of points (`point(lng, lat)`, no extension).

use std::collections::HashMap;

use anyhow::{Context, Result};

use crate::component::bindings::types::ElementKind;
use crate::params;
use crate::store::bulk::DeferredIndexes;
use crate::store::db::Kind;
use crate::store::{Db, Row, Transaction};

/// The tables kept here, each with the kind of element its rows stand for
/// and the column naming that element.
const TABLES: [(&str, &str, &str); 5] = [
    ("boxes", "box", "id"),
    ("splitters", "splitter", "id"),
    ("ports", "splitter", "splitter_id"),
    ("properties", "property", "id"),
    ("clients", "client", "id"),
];

/// Where `splitters` and `ports` are in `TABLES`.
const SPLITTERS: usize = 1;
const PORTS: usize = 2;

/// Each table's rows from the elements a run created or updated (`?1` the
/// integration, `?2` the run), on SQLite. A row whose values stay as they
/// were is left alone: rewriting it would rewrite its entry in every index
/// of the table (and a box's place in the spatial index) all the same. A
/// splitter's row is always written: that clears its free ports, which its
/// ports, written again, may have changed.
const FILL_SQLITE: [&str; 5] = [
    "INSERT INTO boxes (integration_id, id, project, lat, lng)
     SELECT ?1, id, json_extract(data, '$.project'),
            CAST(json_extract(data, '$.position.lat') AS REAL),
            CAST(json_extract(data, '$.position.lng') AS REAL)
     FROM run_elements WHERE run_id = ?2 AND kind = 'box' AND change IN ('created', 'updated')
     ON CONFLICT (integration_id, id) DO UPDATE
         SET project = excluded.project, lat = excluded.lat, lng = excluded.lng
         WHERE (project, lat, lng) IS NOT (excluded.project, excluded.lat, excluded.lng)",
    "INSERT INTO splitters (integration_id, id, box_id, service)
     SELECT ?1, id, json_extract(data, '$.box'), coalesce(json_type(data, '$.service') = 'true', 0)
     FROM run_elements WHERE run_id = ?2 AND kind = 'splitter' AND change IN ('created', 'updated')
     ON CONFLICT (integration_id, id) DO UPDATE
         SET box_id = excluded.box_id, service = excluded.service, free = NULL",
    "INSERT INTO ports (integration_id, splitter_id, number, blocked)
     SELECT ?1, r.id, CAST(json_extract(p.value, '$.number') AS INTEGER),
            coalesce(json_type(p.value, '$.blocked') = 'true', 0)
     FROM run_elements r, json_each(r.data, '$.ports') p
     WHERE r.run_id = ?2 AND r.kind = 'splitter' AND r.change IN ('created', 'updated')
       AND json_type(p.value, '$.number') = 'integer'
     ON CONFLICT DO NOTHING",
    "INSERT INTO properties (integration_id, id, box_id, client_id, client_code, splitter_id, port)
     SELECT ?1, id, json_extract(data, '$.box'), json_extract(data, '$.client'),
            json_extract(data, '$.client_code'), json_extract(data, '$.connection.splitter'),
            CAST(json_extract(data, '$.connection.port') AS INTEGER)
     FROM run_elements WHERE run_id = ?2 AND kind = 'property' AND change IN ('created', 'updated')
     ON CONFLICT (integration_id, id) DO UPDATE
         SET box_id = excluded.box_id, client_id = excluded.client_id, client_code = excluded.client_code,
             splitter_id = excluded.splitter_id, port = excluded.port
         WHERE (box_id, client_id, client_code, splitter_id, port)
             IS NOT (excluded.box_id, excluded.client_id, excluded.client_code, excluded.splitter_id, excluded.port)",
    "INSERT INTO clients (integration_id, id, code)
     SELECT ?1, id, json_extract(data, '$.code')
     FROM run_elements WHERE run_id = ?2 AND kind = 'client' AND change IN ('created', 'updated')
     ON CONFLICT (integration_id, id) DO UPDATE SET code = excluded.code
         WHERE code IS NOT excluded.code",
];

/// The same on PostgreSQL, each element's JSON parsed once (`OFFSET 0`
/// keeps the planner from parsing it again for every column).
const FILL_POSTGRES: [&str; 5] = [
    "INSERT INTO boxes (integration_id, id, project, lat, lng)
     SELECT ?1, id, d #>> '{project}',
            (d #>> '{position,lat}')::double precision, (d #>> '{position,lng}')::double precision
     FROM (SELECT id, data::jsonb AS d FROM run_elements
           WHERE run_id = ?2 AND kind = 'box' AND change IN ('created', 'updated') OFFSET 0) r
     ON CONFLICT (integration_id, id) DO UPDATE
         SET project = excluded.project, lat = excluded.lat, lng = excluded.lng
         WHERE (boxes.project, boxes.lat, boxes.lng)
             IS DISTINCT FROM (excluded.project, excluded.lat, excluded.lng)",
    "INSERT INTO splitters (integration_id, id, box_id, service)
     SELECT ?1, id, d #>> '{box}', coalesce(d -> 'service' = 'true'::jsonb, FALSE)
     FROM (SELECT id, data::jsonb AS d FROM run_elements
           WHERE run_id = ?2 AND kind = 'splitter' AND change IN ('created', 'updated') OFFSET 0) r
     ON CONFLICT (integration_id, id) DO UPDATE
         SET box_id = excluded.box_id, service = excluded.service, free = NULL",
    "INSERT INTO ports (integration_id, splitter_id, number, blocked)
     SELECT ?1, r.id, (port ->> 'number')::bigint, coalesce(port -> 'blocked' = 'true'::jsonb, FALSE)
     FROM (SELECT id, data::jsonb AS d FROM run_elements
           WHERE run_id = ?2 AND kind = 'splitter' AND change IN ('created', 'updated') OFFSET 0) r
     CROSS JOIN LATERAL jsonb_array_elements(
         CASE jsonb_typeof(r.d -> 'ports') WHEN 'array' THEN r.d -> 'ports' ELSE '[]'::jsonb END) AS p(port)
     WHERE jsonb_typeof(port -> 'number') = 'number'
     ON CONFLICT DO NOTHING",
    "INSERT INTO properties (integration_id, id, box_id, client_id, client_code, splitter_id, port)
     SELECT ?1, id, d #>> '{box}', d #>> '{client}', d #>> '{client_code}',
            d #>> '{connection,splitter}', (d #>> '{connection,port}')::bigint
     FROM (SELECT id, data::jsonb AS d FROM run_elements
           WHERE run_id = ?2 AND kind = 'property' AND change IN ('created', 'updated') OFFSET 0) r
     ON CONFLICT (integration_id, id) DO UPDATE
         SET box_id = excluded.box_id, client_id = excluded.client_id, client_code = excluded.client_code,
             splitter_id = excluded.splitter_id, port = excluded.port
         WHERE (properties.box_id, properties.client_id, properties.client_code,
                properties.splitter_id, properties.port)
             IS DISTINCT FROM (excluded.box_id, excluded.client_id, excluded.client_code,
                               excluded.splitter_id, excluded.port)",
    "INSERT INTO clients (integration_id, id, code)
     SELECT ?1, id, d #>> '{code}'
     FROM (SELECT id, data::jsonb AS d FROM run_elements
           WHERE run_id = ?2 AND kind = 'client' AND change IN ('created', 'updated') OFFSET 0) r
     ON CONFLICT (integration_id, id) DO UPDATE SET code = excluded.code
         WHERE clients.code IS DISTINCT FROM excluded.code",
];

/// Each splitter's free ports (`splitters.free`: their numbers in order,
/// comma-separated; empty when none; NULL while to be worked out): neither
/// blocked nor taken by a property. For the splitters of `?1` whose list
/// is NULL, on SQLite.
const FREE_SQLITE: &str = "UPDATE splitters SET free = (
         SELECT coalesce(group_concat(p.number, ',' ORDER BY p.number), '') FROM ports p
         WHERE p.integration_id = splitters.integration_id AND p.splitter_id = splitters.id
           AND NOT p.blocked
           AND NOT EXISTS (SELECT 1 FROM properties t WHERE t.integration_id = p.integration_id
                           AND t.splitter_id = p.splitter_id AND t.port = p.number))
     WHERE integration_id = ?1 AND free IS NULL";

/// The same on PostgreSQL.
const FREE_POSTGRES: &str = "UPDATE splitters SET free = (
         SELECT coalesce(string_agg(p.number::text, ',' ORDER BY p.number), '') FROM ports p
         WHERE p.integration_id = splitters.integration_id AND p.splitter_id = splitters.id
           AND NOT p.blocked
           AND NOT EXISTS (SELECT 1 FROM properties t WHERE t.integration_id = p.integration_id
                           AND t.splitter_id = p.splitter_id AND t.port = p.number))
     WHERE integration_id = ?1 AND free IS NULL";

/// The splitters (`?1` the integration) whose ports the properties of a
/// run's elements (`?2` the run) take, before or after it: those it removed
/// (at `?3`) and those it created or updated. Their free ports are worked
/// out again.
const TAKEN_BY_CHANGED: &str = "UPDATE splitters SET free = NULL
     WHERE integration_id = ?1 AND free IS NOT NULL AND id IN (
         SELECT splitter_id FROM properties WHERE integration_id = ?1 AND id IN (
             SELECT id FROM elements
             WHERE integration_id = ?1 AND removed_at = ?3 AND kind = 'property'
             UNION ALL
             SELECT id FROM run_elements
             WHERE run_id = ?2 AND kind = 'property' AND change IN ('created', 'updated')))";

/// Make the columns follow what run `run_id` applied to `elements`: the
/// rows of the elements it created or updated are written anew, those of
/// the elements it removed (`removed_at` the run's instant, `removed_at`
/// here) go; elements removed before had theirs go then. Called by
/// `RunStore::commit` in its transaction, once `elements` is up to date
/// and before the staging is dropped.
pub fn follow(
    tx: &Transaction<'_>,
    integration_id: &str,
    run_id: i64,
    removed_at: &str,
    first: bool,
    steps: &mut crate::store::steps::Steps,
) -> Result<()> {
    let (fill, free) = match tx.kind() {
        Kind::Sqlite => (FILL_SQLITE, FREE_SQLITE),
        Kind::Postgres => (FILL_POSTGRES, FREE_POSTGRES),
    };
    // The rows written to each table, in `TABLES`' order.
    let mut written = [0; TABLES.len()];
    if !first {
        // The integration's first elements find its tables empty, so
        // nothing to remove, and every splitter new (free unknown).
        before_fill(tx, integration_id, run_id, removed_at, &mut written, steps)?;
    }
    // Into tables that hold no row (a first sync, no other network), the
    // rows go without the secondary indexes, built before the free ports
    // read them (`bulk`).
    let deferred = DeferredIndexes::drop(tx, &TABLES.map(|(table, _, _)| table))?;
    for (sql, written) in fill.iter().zip(&mut written) {
        *written += tx.execute(sql, params![integration_id, run_id])?;
        steps.done("columns filled");
    }
    deferred.rebuild(tx)?;
    steps.done("indexes built");
    if !first {
        // The splitters whose ports they take now; then every splitter
        // whose free ports may have changed (new ones too) has them worked
        // out.
        written[SPLITTERS] += tx.execute(
            TAKEN_BY_CHANGED,
            params![integration_id, run_id, removed_at],
        )?;
        steps.done("splitters whose ports are taken");
    }
    tx.execute(free, params![integration_id])?;
    steps.done("free ports");
    let written: Vec<(&str, usize)> = TABLES
        .iter()
        .zip(written)
        .map(|(&(table, _, _), rows)| (table, rows))
        .collect();
    if !crate::store::statistics::refresh(tx, &written)?.is_empty() {
        steps.done("statistics");
    }
    Ok(())
}

/// What goes before the run's rows are written: the splitters whose ports
/// properties took are marked, and the rows of removed elements and of
/// changed splitters' ports go. Counts the rows written to each table in `written`.
fn before_fill(
    tx: &Transaction<'_>,
    integration_id: &str,
    run_id: i64,
    removed_at: &str,
    written: &mut [usize; TABLES.len()],
    steps: &mut crate::store::steps::Steps,
) -> Result<()> {
    // The splitters whose ports properties took before the run.
    written[SPLITTERS] += tx.execute(
        TAKEN_BY_CHANGED,
        params![integration_id, run_id, removed_at],
    )?;
    steps.done("splitters whose ports were taken");
    // The elements the run removed, by the index of removal instants.
    for ((table, kind, column), written) in TABLES.iter().zip(written.iter_mut()) {
        *written += tx.execute(
            &removed_columns(table, kind, column),
            params![integration_id, removed_at],
        )?;
    }
    steps.done("removed elements' columns");
    // A changed splitter's ports are written again, all of them.
    written[PORTS] += tx.execute(
        "DELETE FROM ports WHERE integration_id = ?1 AND splitter_id IN (
             SELECT id FROM run_elements
             WHERE run_id = ?2 AND kind = 'splitter' AND change IN ('created', 'updated'))",
        params![integration_id, run_id],
    )?;
    steps.done("changed splitters' ports");
    Ok(())
}

/// Delete from `table` the rows (named by `column`) of the elements of
/// `kind` that integration `?1` removed at `?2`.
fn removed_columns(table: &str, kind: &str, column: &str) -> String {
    format!(
        "DELETE FROM {table} WHERE integration_id = ?1 AND {column} IN (
             SELECT id FROM elements
             WHERE integration_id = ?1 AND removed_at = ?2 AND kind = '{kind}')"
    )
}

/// The mean Earth radius.
const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// Great-circle distance in metres (haversine on the mean Earth radius):
/// within a few kilometres its error is far below a box's placement.
pub fn distance_m(lat1: f64, lng1: f64, lat2: f64, lng2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = (lat2 - lat1).to_radians();
    let dl = (lng2 - lng1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * a.sqrt().min(1.0).asin()
}

/// A range of latitudes and longitudes, in degrees.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Area {
    pub min_lat: f64,
    pub max_lat: f64,
    pub min_lng: f64,
    pub max_lng: f64,
}

impl Area {
    /// The smallest range holding every point within `radius_m` metres (on
    /// the great circle) of `lat`, `lng`, a little wider for rounding; every
    /// longitude when the circle reaches a pole or crosses the antimeridian.
    pub fn around(lat: f64, lng: f64, radius_m: f64) -> Area {
        let angle = radius_m / EARTH_RADIUS_M;
        // A centimetre more, against rounding.
        let slack = 1e-7;
        let dlat = angle.to_degrees() + slack;
        let (min_lat, max_lat) = (lat - dlat, lat + dlat);
        let whole = Area {
            min_lat: min_lat.max(-90.0),
            max_lat: max_lat.min(90.0),
            min_lng: -180.0,
            max_lng: 180.0,
        };
        if min_lat <= -90.0 || max_lat >= 90.0 {
            return whole;
        }
        // The widest longitude a circle of this angle reaches from `lat`.
        let ratio = angle.sin() / lat.to_radians().cos();
        if !ratio.is_finite() || ratio >= 1.0 {
            return whole;
        }
        let dlng = ratio.asin().to_degrees() * (1.0 + 1e-9) + slack;
        if lng - dlng < -180.0 || lng + dlng > 180.0 {
            return whole;
        }
        Area {
            min_lng: lng - dlng,
            max_lng: lng + dlng,
            ..whole
        }
    }
}

/// A box near a point: its id and place, and the ports it offers: those
/// free on the platform of its service splitters (`splitters.free`) that
/// are not bound here, by splitter id and port number.
#[derive(Clone, Debug, PartialEq)]
pub struct NearBox {
    pub id: String,
    pub lat: f64,
    pub lng: f64,
    pub free: Vec<(String, u64)>,
}

/// The integration's current boxes placed within `area`, by id, with the
/// ports they offer (none for some): the spatial index finds them, each
/// box's service splitters come by the box's index, their bindings by
/// theirs. One statement, which either planner starts from the index of
/// places.
pub fn boxes_in(conn: &Db, integration_id: &str, area: &Area) -> Result<Vec<NearBox>> {
    // SQLite: the R*Tree first (CROSS JOIN keeps that order), then each box
    // by its row number; PostgreSQL: the GiST index of points.
    let sql = match conn.kind() {
        Kind::Sqlite => {
            "SELECT b.id, b.lat, b.lng, s.id, s.free,
                    (SELECT group_concat(k.port) FROM bindings k
                     WHERE k.integration_id = s.integration_id AND k.splitter_id = s.id)
             FROM box_places r CROSS JOIN boxes b
             LEFT JOIN splitters s ON s.integration_id = b.integration_id AND s.box_id = b.id
                  AND s.service AND s.free <> ''
             WHERE r.max_lat >= ?2 AND r.min_lat <= ?3 AND r.max_lng >= ?4 AND r.min_lng <= ?5
               AND b.n = r.n AND b.integration_id = ?1
             ORDER BY b.id, s.id"
        }
        Kind::Postgres => {
            "SELECT b.id, b.lat, b.lng, s.id, s.free,
                    (SELECT string_agg(k.port::text, ',') FROM bindings k
                     WHERE k.integration_id = s.integration_id AND k.splitter_id = s.id)
             FROM boxes b
             LEFT JOIN splitters s ON s.integration_id = b.integration_id AND s.box_id = b.id
                  AND s.service AND s.free <> ''
             WHERE point(b.lng, b.lat) <@ box(point(?4, ?2), point(?5, ?3)) AND b.integration_id = ?1
             ORDER BY b.id, s.id"
        }
    };
    type Found = (
        String,
        f64,
        f64,
        Option<String>,
        Option<String>,
        Option<String>,
    );
    let rows: Vec<Found> = conn.query(
        sql,
        params![
            integration_id,
            area.min_lat,
            area.max_lat,
            area.min_lng,
            area.max_lng
        ],
        |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        },
    )?;
    let numbers = |list: &str| -> Result<Vec<u64>> {
        list.split(',')
            .filter(|n| !n.is_empty())
            .map(|n| n.parse().with_context(|| format!("port numbers {list:?}")))
            .collect()
    };
    let mut near: Vec<NearBox> = Vec::new();
    for (id, lat, lng, splitter, free, bound) in rows {
        if near.last().is_none_or(|b| b.id != id) {
            near.push(NearBox {
                id,
                lat,
                lng,
                free: Vec::new(),
            });
        }
        let (Some(splitter), Some(free)) = (splitter, free) else {
            continue;
        };
        let bound = numbers(bound.as_deref().unwrap_or_default())?;
        let this = near.last_mut().expect("pushed above");
        for port in numbers(&free)? {
            if !bound.contains(&port) {
                this.free.push((splitter.clone(), port));
            }
        }
    }
    Ok(near)
}

/// Who takes a port on the platform: the property and, when known, its
/// client's code.
#[derive(Clone, Debug, PartialEq)]
pub struct Taker {
    pub property: String,
    pub client_code: Option<String>,
}

/// Who takes each port of these splitters (all, when `splitters` is None),
/// by splitter and port. A property's client code is its client's current
/// one when that client is stored, else what the property carried. Two
/// properties on one port: the greater id.
pub fn takers(
    conn: &Db,
    integration_id: &str,
    splitters: Option<&[String]>,
) -> Result<HashMap<(String, u64), Taker>> {
    // The properties of all the splitters, or of those listed (from the
    // list, each looked up: see `elements::stored`); `LEFT JOIN` after
    // the list keeps SQLite reading the list first.
    let (properties, params) = match splitters {
        None => ("properties p", vec![integration_id.to_string()]),
        Some(splitters) => {
            let mut ids: Vec<&String> = splitters.iter().collect();
            ids.sort();
            ids.dedup();
            (
                "json_each(?2) j CROSS JOIN properties p",
                vec![integration_id.to_string(), serde_json::to_string(&ids)?],
            )
        }
    };
    let on_list = if splitters.is_some() {
        "AND p.splitter_id = j.value"
    } else {
        ""
    };
    let sql = format!(
        "SELECT p.splitter_id, p.port, p.id, CASE WHEN c.id IS NULL THEN p.client_code ELSE c.code END
         FROM {properties}
         LEFT JOIN clients c ON c.integration_id = p.integration_id AND c.id = p.client_id
         WHERE p.integration_id = ?1 {on_list} AND p.splitter_id IS NOT NULL AND p.port IS NOT NULL"
    );
    let taker = |r: &Row| {
        Ok((
            (r.get::<String>(0)?, r.get::<u64>(1)?),
            Taker {
                property: r.get(2)?,
                client_code: r.get(3)?,
            },
        ))
    };
    // Sorted here: an ORDER BY would have SQLite read every property in id
    // order rather than those of the splitters by their index.
    let params: Vec<&dyn crate::store::db::ToValue> = params
        .iter()
        .map(|p| p as &dyn crate::store::db::ToValue)
        .collect();
    let mut rows = conn.query(&sql, &params, taker)?;
    // A port two properties name is taken by the smaller id, as
    // `taker_of` answers a binding: collected last, it is the one kept.
    rows.sort_by(|a, b| b.1.property.cmp(&a.1.property));
    Ok(rows.into_iter().collect())
}

/// A property on a port: its id, its client's code (else the property's
/// own) and its client.
pub type OnPort = (String, Option<String>, Option<String>);

/// Who takes one port, as a binding checks it: the property with the
/// smallest id.
pub fn taker_of(
    conn: &Db,
    integration_id: &str,
    splitter: &str,
    port: u32,
) -> Result<Option<OnPort>> {
    conn.query_opt(
        "SELECT p.id, coalesce(c.code, p.client_code), p.client_id
         FROM properties p LEFT JOIN clients c ON c.integration_id = p.integration_id AND c.id = p.client_id
         WHERE p.integration_id = ?1 AND p.splitter_id = ?2 AND p.port = ?3
         ORDER BY p.id",
        params![integration_id, splitter, port],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )
}

/// Each current client's code, by client id.
pub fn client_codes(conn: &Db, integration_id: &str) -> Result<HashMap<String, Option<String>>> {
    let rows = conn.query(
        "SELECT id, code FROM clients WHERE integration_id = ?1",
        params![integration_id],
        |r| Ok((r.get::<String>(0)?, r.get::<Option<String>>(1)?)),
    )?;
    Ok(rows.into_iter().collect())
}

/// The table of this kind's elements with their box (`box_id`, keyed by
/// `integration_id` and `id`); None for a kind no box holds.
pub fn box_table(kind: ElementKind) -> Option<&'static str> {
    match kind {
        ElementKind::Splitter => Some("splitters"),
        ElementKind::Property => Some("properties"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::component::bindings::types::{
        BoxData, ClientData, Connection, PortData, Position, PropertyData, SplitterData,
    };
    use crate::store::db::Value as DbValue;
    use crate::store::elements::{self, Select};
    use crate::store::integrations;
    use crate::store::run_store::RunStore;
    use crate::store::staging::NoProgress;
    use crate::store::staging::tests::ElementBatch;
    use crate::store::staging::tests::{assert_plan_reads, open};

    fn a_box(id: &str, lat: f64, lng: f64) -> BoxData {
        BoxData {
            id: id.into(),
            name: format!("CTO {id}"),
            project: "pr".into(),
            pole: None,
            position: Some(Position { lat, lng }),
            box_type: None,
            hierarchy_level: Some(3),
            implanted: true,
        }
    }

    fn splitter(id: &str, in_box: &str, service: bool, ports: u32) -> SplitterData {
        SplitterData {
            id: id.into(),
            name: id.into(),
            project: "pr".into(),
            box_: in_box.into(),
            service,
            ratio_input: 1,
            ratio_output: ports,
            ports: (1..=ports)
                .map(|number| PortData {
                    number,
                    // The last port is blocked.
                    blocked: number == ports,
                })
                .collect(),
        }
    }

    fn property(id: &str, on: Option<(&str, u32)>, client: Option<&str>) -> PropertyData {
        PropertyData {
            id: id.into(),
            name: id.into(),
            project: "pr".into(),
            box_: None,
            position: None,
            address: None,
            connection: on.map(|(splitter, port)| Connection {
                splitter: splitter.into(),
                port,
            }),
            client: client.map(str::to_string),
            client_code: Some("FROM-PROPERTY".into()),
        }
    }

    fn client(id: &str, code: Option<&str>) -> ClientData {
        ClientData {
            id: id.into(),
            code: code.map(str::to_string),
            name: id.into(),
            implanted: true,
            status: 0,
            pppoe_login: None,
            onu_serial: None,
            onu_mac: None,
            observation: None,
        }
    }

    /// One complete run of every kind given, each element fingerprinted
    /// by its content (so an element given again as it was is unchanged).
    fn sync(conn: Db, integration: &str, run_id: i64, batches: Vec<ElementBatch>) -> Db {
        fn prints<T: std::fmt::Debug>(items: &[T]) -> Vec<u64> {
            use std::hash::{Hash, Hasher};
            items
                .iter()
                .map(|item| {
                    let mut hasher = std::collections::hash_map::DefaultHasher::new();
                    format!("{item:?}").hash(&mut hasher);
                    hasher.finish()
                })
                .collect()
        }
        let mut store = RunStore::begin(conn, integration, run_id, Box::new(NoProgress)).unwrap();
        for batch in batches {
            let (kind, prints) = match &batch {
                ElementBatch::Boxes(v) => (ElementKind::Box, prints(v)),
                ElementBatch::Splitters(v) => (ElementKind::Splitter, prints(v)),
                ElementBatch::Properties(v) => (ElementKind::Property, prints(v)),
                ElementBatch::Clients(v) => (ElementKind::Client, prints(v)),
            };
            crate::store::staging::tests::write(&mut store, batch, prints);
            crate::store::staging::tests::complete(&mut store, kind).unwrap();
        }
        store.commit(|_| Ok(())).unwrap()
    }

    /// The free ports splitter `id` keeps.
    fn kept_free(conn: &Db, id: &str) -> Option<String> {
        conn.query_row(
            "SELECT free FROM splitters WHERE id = ?1",
            params![id],
            |r| r.get(0),
        )
        .unwrap()
    }

    const HERE: (f64, f64) = (-27.59, -48.54);

    fn near(conn: &Db, integration: &str, radius_m: f64) -> Vec<String> {
        let area = Area::around(HERE.0, HERE.1, radius_m);
        boxes_in(conn, integration, &area)
            .unwrap()
            .into_iter()
            .filter(|b| distance_m(HERE.0, HERE.1, b.lat, b.lng) <= radius_m)
            .map(|b| b.id)
            .collect()
    }

    /// The ports these boxes offer (found with every box of the world).
    fn free(conn: &Db, integration: &str, boxes: &[&str]) -> Vec<(String, u64)> {
        let world = Area {
            min_lat: -90.0,
            max_lat: 90.0,
            min_lng: -180.0,
            max_lng: 180.0,
        };
        boxes_in(conn, integration, &world)
            .unwrap()
            .into_iter()
            .filter(|b| boxes.contains(&b.id.as_str()))
            .flat_map(|b| b.free)
            .collect()
    }

    fn states(conn: &Db, integration: &str, splitter: &str) -> Vec<String> {
        let shown = elements::select(
            conn,
            integration,
            ElementKind::Splitter,
            Select::Ids(&[splitter.to_string()]),
        )
        .unwrap();
        shown[0]["ports"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["state"].as_str().unwrap().to_string())
            .collect()
    }

    fn network(properties: Vec<PropertyData>, boxes: Vec<BoxData>) -> Vec<ElementBatch> {
        vec![
            ElementBatch::Boxes(boxes),
            ElementBatch::Splitters(vec![
                splitter("s1", "b1", true, 4),
                splitter("s2", "b2", true, 2),
                // Distribution splitters offer nothing.
                splitter("d1", "b1", false, 4),
            ]),
            ElementBatch::Clients(vec![client("c1", Some("SVC-1")), client("c2", None)]),
            ElementBatch::Properties(properties),
        ]
    }

    fn three_boxes() -> Vec<BoxData> {
        vec![
            a_box("b1", HERE.0, HERE.1),
            // About 111 m north.
            a_box("b2", HERE.0 + 0.001, HERE.1),
            // About 1.1 km north.
            a_box("b3", HERE.0 + 0.01, HERE.1),
        ]
    }

    /// The columns of the elements a run removed are found by the index of
    /// removal instants, among those of that instant alone: not by visiting
    /// every element ever removed, as many as the network's history holds.
    #[test]
    fn a_runs_removals_are_found_by_their_instant() {
        let (_dir, conn, id) = open();
        let now = crate::store::now();
        assert_plan_reads(
            &conn,
            "removed columns",
            &removed_columns("properties", "property", "id"),
            params![id, now],
            "elements_removed_when",
        );
        assert_plan_reads(
            &conn,
            "taken ports",
            TAKEN_BY_CHANGED,
            params![id, 1, now],
            "elements_removed_when",
        );
    }

    #[test]
    fn ports_and_places_follow_every_commit() {
        let (_dir, conn, id) = open();
        let conn = sync(
            conn,
            &id,
            1,
            network(
                vec![
                    property("p1", Some(("s1", 1)), Some("c1")),
                    // A client stored without a code: the port shows none.
                    property("p2", Some(("s2", 1)), Some("c2")),
                    property("p3", None, None),
                ],
                three_boxes(),
            ),
        );
        assert_eq!(near(&conn, &id, 500.0), ["b1", "b2"]);
        assert_eq!(near(&conn, &id, 2000.0), ["b1", "b2", "b3"]);
        assert_eq!(
            free(&conn, &id, &["b1", "b2"]),
            [("s1".into(), 2), ("s1".into(), 3)]
        );
        assert_eq!(
            states(&conn, &id, "s1"),
            ["taken", "free", "free", "blocked"]
        );
        let takers = takers(&conn, &id, None).unwrap();
        assert_eq!(
            takers[&("s1".to_string(), 1)],
            Taker {
                property: "p1".into(),
                client_code: Some("SVC-1".into())
            }
        );
        assert_eq!(takers[&("s2".to_string(), 1)].client_code, None);
        assert_eq!(
            taker_of(&conn, &id, "s1", 1).unwrap(),
            Some(("p1".into(), Some("SVC-1".into()), Some("c1".into())))
        );

        // p1 moves to port 3: port 1 is free again, port 3 taken. Box b2
        // is removed (and its splitter with it): it is near no more.
        let mut boxes = three_boxes();
        boxes.remove(1);
        let conn = sync(
            conn,
            &id,
            2,
            vec![
                ElementBatch::Boxes(boxes),
                ElementBatch::Splitters(vec![
                    splitter("s1", "b1", true, 4),
                    splitter("d1", "b1", false, 4),
                ]),
                ElementBatch::Properties(vec![
                    property("p1", Some(("s1", 3)), Some("c1")),
                    property("p3", None, None),
                ]),
            ],
        );
        assert_eq!(near(&conn, &id, 500.0), ["b1"]);
        assert_eq!(
            free(&conn, &id, &["b1", "b2"]),
            [("s1".into(), 1), ("s1".into(), 2)]
        );
        assert_eq!(
            states(&conn, &id, "s1"),
            ["free", "free", "taken", "blocked"]
        );
        assert_eq!(taker_of(&conn, &id, "s1", 1).unwrap(), None);
        assert_eq!(kept_free(&conn, "s1").as_deref(), Some("1,2"));
        let left: i64 = conn
            .query_row(
                "SELECT (SELECT count(*) FROM ports WHERE splitter_id = 's2')
                      + (SELECT count(*) FROM properties WHERE id = 'p2')
                      + (SELECT count(*) FROM box_places)",
                params![],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(left, 2, "b1 and b3 stay placed, nothing of b2 or p2 stays");

        // A bound port is not offered.
        conn.batch(&format!(
            "INSERT INTO services (id_cliente_servico, imported_at, updated_at) VALUES ('SVC-9', 'now', 'now');
             INSERT INTO bindings (service_id, integration_id, splitter_id, port, state, created_at, updated_at)
                 VALUES ('SVC-9', '{id}', 's1', 2, 'pending', 'now', 'now');"
        ))
        .unwrap();
        assert_eq!(free(&conn, &id, &["b1"]), [("s1".into(), 1)]);

        // Only properties change: p1 leaves s1 for d1, p3 goes. Both
        // splitters, unchanged, have their free ports worked out again.
        let conn = sync(
            conn,
            &id,
            3,
            vec![ElementBatch::Properties(vec![property(
                "p1",
                Some(("d1", 1)),
                Some("c1"),
            )])],
        );
        assert_eq!(kept_free(&conn, "s1").as_deref(), Some("1,2,3"));
        assert_eq!(kept_free(&conn, "d1").as_deref(), Some("2,3"));
        assert_eq!(
            states(&conn, &id, "s1"),
            ["free", "free", "free", "blocked"]
        );
        // Port 2 is bound; d1 offers nothing.
        assert_eq!(
            free(&conn, &id, &["b1"]),
            [("s1".into(), 1), ("s1".into(), 3)]
        );

        // b2 comes back, moved: it counts where it is now.
        let mut boxes = three_boxes();
        boxes[1].position = Some(Position {
            lat: HERE.0 + 0.02,
            lng: HERE.1,
        });
        let conn = sync(conn, &id, 4, vec![ElementBatch::Boxes(boxes)]);
        assert_eq!(near(&conn, &id, 500.0), ["b1"]);
        assert_eq!(near(&conn, &id, 5000.0), ["b1", "b2", "b3"]);

        // The integration goes: so does everything of it, places included.
        conn.batch("DELETE FROM bindings").unwrap();
        integrations::remove(&conn, "centro").unwrap();
        let left: i64 = conn
            .query_row(
                "SELECT (SELECT count(*) FROM boxes) + (SELECT count(*) FROM box_places)
                      + (SELECT count(*) FROM ports) + (SELECT count(*) FROM properties)",
                params![],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(left, 0);
    }

    /// An element staged twice in a run, changed then as it was: the
    /// columns follow its latest version.
    #[test]
    fn an_element_staged_twice_in_a_run_keeps_its_latest_columns() {
        let (_dir, conn, id) = open();
        let properties = || {
            vec![
                property("p1", Some(("s1", 1)), Some("c1")),
                property("p2", Some(("s2", 1)), Some("c2")),
            ]
        };
        let conn = sync(conn, &id, 1, network(properties(), three_boxes()));
        let before = states(&conn, &id, "s1");
        let conn = sync(
            conn,
            &id,
            2,
            vec![
                ElementBatch::Splitters(vec![splitter("s1", "b2", true, 2)]),
                ElementBatch::Splitters(vec![
                    splitter("s1", "b1", true, 4),
                    splitter("s2", "b2", true, 2),
                    splitter("d1", "b1", false, 4),
                ]),
                ElementBatch::Properties(vec![property("p1", Some(("s1", 3)), Some("c1"))]),
                ElementBatch::Properties(properties()),
            ],
        );
        assert_eq!(states(&conn, &id, "s1"), before);
        assert_eq!(
            taker_of(&conn, &id, "s1", 1).unwrap(),
            Some(("p1".into(), Some("SVC-1".into()), Some("c1".into())))
        );
        assert_eq!(taker_of(&conn, &id, "s1", 3).unwrap(), None);
        assert_eq!(
            free(&conn, &id, &["b1"]),
            [("s1".into(), 2), ("s1".into(), 3)]
        );
    }

    /// Schema 12 fills the columns from what an older mapsync stored.
    #[test]
    fn the_migration_fills_the_columns_from_stored_elements() {
        let (_dir, conn, id) = open();
        let conn = sync(
            conn,
            &id,
            1,
            network(
                vec![
                    property("p1", Some(("s1", 1)), Some("c1")),
                    property("p2", Some(("s2", 2)), None),
                ],
                three_boxes(),
            ),
        );
        // A removed element has no row.
        let conn = sync(
            conn,
            &id,
            2,
            vec![ElementBatch::Clients(vec![client("c1", Some("SVC-1"))])],
        );
        let everything = |conn: &Db| -> Vec<String> {
            let mut rows = Vec::new();
            for sql in [
                "SELECT id || ' ' || coalesce(project, '-') || ' ' || lat || ' ' || lng FROM boxes ORDER BY id",
                "SELECT n FROM box_places ORDER BY n",
                "SELECT id || ' ' || box_id || ' ' || service || ' ' || coalesce(free, '?') FROM splitters ORDER BY id",
                "SELECT splitter_id || ' ' || number || ' ' || blocked FROM ports ORDER BY 1",
                "SELECT id || ' ' || coalesce(client_id, '-') || ' ' || coalesce(client_code, '-') || ' '
                     || coalesce(splitter_id, '-') || ' ' || coalesce(port, '-') FROM properties ORDER BY id",
                "SELECT id || ' ' || coalesce(code, '-') FROM clients ORDER BY id",
            ] {
                rows.extend(
                    conn.query(sql, params![], |r| Ok(format!("{:?}", r.get::<DbValue>(0)?)))
                        .unwrap(),
                );
            }
            rows
        };
        let kept = everything(&conn);
        assert_eq!(kept.len(), 3 + 3 + 3 + 10 + 2 + 1, "{kept:#?}");
        conn.batch(
            "DELETE FROM boxes; DELETE FROM splitters; DELETE FROM ports;
             DELETE FROM properties; DELETE FROM clients;",
        )
        .unwrap();
        assert_eq!(everything(&conn).len(), 0);
        // The backfill of schema 12 alone (its tables stay).
        let migration = crate::store::schema::SQLITE[11];
        let fill = &migration[migration.find("INSERT INTO boxes").unwrap()..];
        conn.batch(fill).unwrap();
        let mut refilled = everything(&conn);
        // Box rows are numbered anew.
        let renumber = |rows: &mut Vec<String>| rows.retain(|r| !r.starts_with("Int("));
        let mut kept = kept;
        renumber(&mut kept);
        renumber(&mut refilled);
        assert_eq!(refilled, kept);
    }

    #[test]
    fn the_area_around_a_point_holds_its_circle() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for _ in 0..2000 {
            let lat = rng.random_range(-89.9..89.9);
            let lng = rng.random_range(-180.0..180.0);
            let radius = rng.random_range(1.0..5000.0);
            let area = Area::around(lat, lng, radius);
            // Points on the circle, all around it.
            for k in 0..16 {
                let bearing = (k as f64 * 22.5_f64).to_radians();
                let d = radius / EARTH_RADIUS_M;
                let (p1, l1) = (lat.to_radians(), lng.to_radians());
                let p2 = (p1.sin() * d.cos() + p1.cos() * d.sin() * bearing.cos()).asin();
                let l2 =
                    l1 + (bearing.sin() * d.sin() * p1.cos()).atan2(d.cos() - p1.sin() * p2.sin());
                let (plat, mut plng) = (p2.to_degrees(), l2.to_degrees());
                if plng > 180.0 {
                    plng -= 360.0;
                } else if plng < -180.0 {
                    plng += 360.0;
                }
                if distance_m(lat, lng, plat, plng) > radius {
                    continue;
                }
                assert!(
                    (area.min_lat..=area.max_lat).contains(&plat)
                        && (area.min_lng..=area.max_lng).contains(&plng),
                    "{plat},{plng} is {radius} m from {lat},{lng} but outside {area:?}"
                );
            }
        }
        // Near a pole, or across the antimeridian: every longitude.
        assert_eq!(Area::around(89.999, 10.0, 500.0).min_lng, -180.0);
        assert_eq!(Area::around(0.0, 179.999, 500.0).max_lng, 180.0);
        // Elsewhere, a range about as wide as the circle.
        let area = Area::around(-27.59, -48.54, 500.0);
        let wide = distance_m(-27.59, area.min_lng, -27.59, area.max_lng);
        assert!((999.0..1003.0).contains(&wide), "{wide}");
    }
}
