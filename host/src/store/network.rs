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

use anyhow::Result;

use crate::params;
use crate::store::db::Kind;
use crate::component::bindings::types::ElementKind;
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

/// Each table's rows from the elements a run created or updated (`?1` the
/// integration, `?2` the run), on SQLite.
const FILL_SQLITE: [&str; 5] = [
    "INSERT INTO boxes (integration_id, id, project, lat, lng)
     SELECT ?1, id, json_extract(data, '$.project'),
            CAST(json_extract(data, '$.position.lat') AS REAL),
            CAST(json_extract(data, '$.position.lng') AS REAL)
     FROM run_elements WHERE run_id = ?2 AND kind = 'box' AND change IN ('created', 'updated')
     ON CONFLICT (integration_id, id) DO UPDATE
         SET project = excluded.project, lat = excluded.lat, lng = excluded.lng",
    "INSERT INTO splitters (integration_id, id, box_id, service)
     SELECT ?1, id, json_extract(data, '$.box'), coalesce(json_type(data, '$.service') = 'true', 0)
     FROM run_elements WHERE run_id = ?2 AND kind = 'splitter' AND change IN ('created', 'updated')
     ON CONFLICT (integration_id, id) DO UPDATE
         SET box_id = excluded.box_id, service = excluded.service",
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
             splitter_id = excluded.splitter_id, port = excluded.port",
    "INSERT INTO clients (integration_id, id, code)
     SELECT ?1, id, json_extract(data, '$.code')
     FROM run_elements WHERE run_id = ?2 AND kind = 'client' AND change IN ('created', 'updated')
     ON CONFLICT (integration_id, id) DO UPDATE SET code = excluded.code",
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
         SET project = excluded.project, lat = excluded.lat, lng = excluded.lng",
    "INSERT INTO splitters (integration_id, id, box_id, service)
     SELECT ?1, id, d #>> '{box}', coalesce(d -> 'service' = 'true'::jsonb, FALSE)
     FROM (SELECT id, data::jsonb AS d FROM run_elements
           WHERE run_id = ?2 AND kind = 'splitter' AND change IN ('created', 'updated') OFFSET 0) r
     ON CONFLICT (integration_id, id) DO UPDATE
         SET box_id = excluded.box_id, service = excluded.service",
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
             splitter_id = excluded.splitter_id, port = excluded.port",
    "INSERT INTO clients (integration_id, id, code)
     SELECT ?1, id, d #>> '{code}'
     FROM (SELECT id, data::jsonb AS d FROM run_elements
           WHERE run_id = ?2 AND kind = 'client' AND change IN ('created', 'updated') OFFSET 0) r
     ON CONFLICT (integration_id, id) DO UPDATE SET code = excluded.code",
];

/// Make the columns follow what run `run_id` applied to `elements`: the
/// rows of the elements it created or updated are written anew, those of
/// removed elements go (whenever they were removed: it costs a look-up in
/// the index of removed elements each). Called by `RunStore::commit` in its transaction,
/// once `elements` is up to date and before the staging is dropped.
pub fn follow(tx: &Transaction<'_>, integration_id: &str, run_id: i64) -> Result<()> {
    // Removed elements, by the index of removed ones.
    for (table, kind, column) in TABLES {
        tx.execute(
            &format!(
                "DELETE FROM {table} WHERE integration_id = ?1 AND {column} IN (
                     SELECT id FROM elements
                     WHERE integration_id = ?1 AND kind = '{kind}' AND removed_at IS NOT NULL)"
            ),
            params![integration_id],
        )?;
    }
    // A changed splitter's ports are written again, all of them.
    tx.execute(
        "DELETE FROM ports WHERE integration_id = ?1 AND splitter_id IN (
             SELECT id FROM run_elements
             WHERE run_id = ?2 AND kind = 'splitter' AND change IN ('created', 'updated'))",
        params![integration_id, run_id],
    )?;
    let fill = match tx.kind() {
        Kind::Sqlite => FILL_SQLITE,
        Kind::Postgres => FILL_POSTGRES,
    };
    for sql in fill {
        tx.execute(sql, params![integration_id, run_id])?;
    }
    if tx.kind() == Kind::Postgres {
        // The planner picks the index of places only when it knows how many
        // boxes an integration has.
        tx.batch("ANALYZE boxes, splitters, ports, properties, clients")?;
    }
    Ok(())
}

/// Mean Earth radius, as `api::network::distance_m` measures.
const EARTH_RADIUS_M: f64 = 6_371_008.8;

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

/// A box's id and place.
#[derive(Clone, Debug, PartialEq)]
pub struct Place {
    pub id: String,
    pub lat: f64,
    pub lng: f64,
}

/// The integration's current boxes placed within `area`, by id, found by
/// the spatial index.
pub fn boxes_in(conn: &Db, integration_id: &str, area: &Area) -> Result<Vec<Place>> {
    // SQLite: the R*Tree first (CROSS JOIN keeps that order), then each
    // box by its row number; PostgreSQL: the GiST index of points.
    let sql = match conn.kind() {
        Kind::Sqlite => {
            "SELECT b.id, b.lat, b.lng FROM box_places r CROSS JOIN boxes b ON b.n = r.n
             WHERE r.max_lat >= ?2 AND r.min_lat <= ?3 AND r.max_lng >= ?4 AND r.min_lng <= ?5
               AND b.integration_id = ?1
             ORDER BY b.id"
        }
        Kind::Postgres => {
            "SELECT id, lat, lng FROM boxes
             WHERE point(lng, lat) <@ box(point(?4, ?2), point(?5, ?3)) AND integration_id = ?1
             ORDER BY id"
        }
    };
    conn.query(
        sql,
        params![
            integration_id,
            area.min_lat,
            area.max_lat,
            area.min_lng,
            area.max_lng
        ],
        |r| {
            Ok(Place {
                id: r.get(0)?,
                lat: r.get(1)?,
                lng: r.get(2)?,
            })
        },
    )
}

/// A port that can be offered: on a service splitter, neither taken on the
/// platform, nor blocked there, nor bound locally.
#[derive(Clone, Debug, PartialEq)]
pub struct FreePort {
    pub box_id: String,
    pub splitter: String,
    pub port: u64,
}

/// The free ports of the service splitters in `boxes`, by box, splitter id
/// and port number.
pub fn free_ports(conn: &Db, integration_id: &str, boxes: &[String]) -> Result<Vec<FreePort>> {
    conn.query(
        "SELECT s.box_id, s.id, p.number
         FROM splitters s JOIN ports p ON p.integration_id = s.integration_id AND p.splitter_id = s.id
         WHERE s.integration_id = ?1 AND s.box_id IN (SELECT value FROM json_each(?2)) AND s.service
           AND NOT p.blocked
           AND NOT EXISTS (SELECT 1 FROM properties t WHERE t.integration_id = p.integration_id
                           AND t.splitter_id = p.splitter_id AND t.port = p.number)
           AND NOT EXISTS (SELECT 1 FROM bindings b WHERE b.integration_id = p.integration_id
                           AND b.splitter_id = p.splitter_id AND b.port = p.number)
         ORDER BY s.box_id, s.id, p.number",
        params![integration_id, serde_json::to_string(boxes)?],
        |r| {
            Ok(FreePort {
                box_id: r.get(0)?,
                splitter: r.get(1)?,
                port: r.get(2)?,
            })
        },
    )
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
    let sql = "SELECT p.splitter_id, p.port, p.id, CASE WHEN c.id IS NULL THEN p.client_code ELSE c.code END
         FROM properties p LEFT JOIN clients c ON c.integration_id = p.integration_id AND c.id = p.client_id
         WHERE p.integration_id = ?1 AND p.splitter_id IS NOT NULL AND p.port IS NOT NULL";
    let taker = |r: &Row| {
        Ok((
            (r.get::<String>(0)?, r.get::<u64>(1)?),
            Taker {
                property: r.get(2)?,
                client_code: r.get(3)?,
            },
        ))
    };
    let rows = match splitters {
        None => conn.query(&format!("{sql} ORDER BY p.id"), params![integration_id], taker)?,
        Some(splitters) => conn.query(
            &format!("{sql} AND p.splitter_id IN (SELECT value FROM json_each(?2)) ORDER BY p.id"),
            params![integration_id, serde_json::to_string(splitters)?],
            taker,
        )?,
    };
    Ok(rows.into_iter().collect())
}

/// Who takes one port, as a binding checks it: the property with the
/// smallest id, its client's code (else the property's own) and its client.
pub fn taker_of(
    conn: &Db,
    integration_id: &str,
    splitter: &str,
    port: u32,
) -> Result<Option<(String, Option<String>, Option<String>)>> {
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

/// The condition choosing elements of `kind` in the boxes whose ids `?3`
/// lists (a JSON array), for a statement over `elements` whose `?1` is the
/// integration; None for a kind no box holds.
pub fn in_boxes(kind: ElementKind) -> Option<&'static str> {
    match kind {
        ElementKind::Splitter => Some(
            "id IN (SELECT id FROM splitters WHERE integration_id = ?1
                    AND box_id IN (SELECT value FROM json_each(?3)))",
        ),
        ElementKind::Property => Some(
            "id IN (SELECT id FROM properties WHERE integration_id = ?1
                    AND box_id IN (SELECT value FROM json_each(?3)))",
        ),
        _ => None,
    }
}
