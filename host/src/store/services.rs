//! The services table: the ISP's customer services.
//!
//! Rows are written only by `services import` (which decides, field by
//! field, what a file changes) and never deleted; they are read as they
//! are, and with the platform client that carries each one's id as code.

use anyhow::Result;
use serde::Serialize;

use crate::params;
use crate::store::Db;

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Service {
    pub id_cliente_servico: String,
    pub name: Option<String>,
    /// CPF or CNPJ, digits only.
    pub document: Option<String>,
    pub address: Option<String>,
    pub lat: Option<f64>,
    pub lng: Option<f64>,
    pub pppoe_login: Option<String>,
    pub onu_serial: Option<String>,
    /// `AA:BB:CC:DD:EE:FF`.
    pub onu_mac: Option<String>,
    pub status: Option<String>,
}

/// A service as `list` and `show` give it: with the platform client that
/// carries its id as code, when a sync brought one.
#[derive(Serialize)]
pub struct Listed {
    #[serde(flatten)]
    pub service: Service,
    pub platform_client_id: Option<String>,
}

const COLUMNS: &str = "s.id_cliente_servico, s.name, s.document, s.address, s.lat, s.lng, \
     s.pppoe_login, s.onu_serial, s.onu_mac, s.status";

fn from_row(row: &crate::store::Row) -> Result<Service> {
    Ok(Service {
        id_cliente_servico: row.get(0)?,
        name: row.get(1)?,
        document: row.get(2)?,
        address: row.get(3)?,
        lat: row.get(4)?,
        lng: row.get(5)?,
        pppoe_login: row.get(6)?,
        onu_serial: row.get(7)?,
        onu_mac: row.get(8)?,
        status: row.get(9)?,
    })
}

/// The stored service with this id, without its platform match.
pub fn find(conn: &Db, id: &str) -> Result<Option<Service>> {
    conn.query_opt(
        &format!("SELECT {COLUMNS} FROM services s WHERE s.id_cliente_servico = ?1"),
        params![id],
        from_row,
    )
}

/// Services with their platform client, all of them (`id` None) or the one
/// with `id`, by id.
pub fn list_with_clients(conn: &Db, id: Option<&str>) -> Result<Vec<Listed>> {
    // The clients are grouped by code once, rather than searched per service,
    // so listing stays linear in services plus clients. Two clients with the
    // same code (two integrations, or a duplicate on the platform) resolve to
    // the lowest id, so the answer does not change from one run to the next.
    let sql = format!(
        "WITH coded AS (
             SELECT code, MIN(id) AS id FROM clients WHERE code IS NOT NULL GROUP BY 1
         )
         SELECT {COLUMNS}, c.id FROM services s LEFT JOIN coded c ON c.code = s.id_cliente_servico
         WHERE CAST(?1 AS TEXT) IS NULL OR s.id_cliente_servico = ?1
         ORDER BY s.id_cliente_servico"
    );
    conn.query(&sql, params![id], |row| {
        Ok(Listed {
            service: from_row(row)?,
            platform_client_id: row.get(10)?,
        })
    })
}

/// How many services are stored (to say, when one is not found, whether
/// any was imported at all).
pub fn count(conn: &Db) -> Result<i64> {
    conn.query_row("SELECT COUNT(*) FROM services", params![], |r| r.get(0))
}

/// Store a service as the import decided it: new, or its fields replaced
/// (the time of its first import stays).
pub fn save(conn: &Db, s: &Service, now: &str) -> Result<()> {
    conn.execute(
        "INSERT INTO services (id_cliente_servico, name, document, address, lat, lng,
             pppoe_login, onu_serial, onu_mac, status, imported_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11)
         ON CONFLICT (id_cliente_servico) DO UPDATE SET name = excluded.name,
             document = excluded.document, address = excluded.address, lat = excluded.lat,
             lng = excluded.lng, pppoe_login = excluded.pppoe_login,
             onu_serial = excluded.onu_serial, onu_mac = excluded.onu_mac,
             status = excluded.status, updated_at = excluded.updated_at",
        params![
            s.id_cliente_servico,
            s.name,
            s.document,
            s.address,
            s.lat,
            s.lng,
            s.pppoe_login,
            s.onu_serial,
            s.onu_mac,
            s.status,
            now
        ],
    )?;
    Ok(())
}
