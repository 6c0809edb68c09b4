//! The ISP's customer services as its management system (ERP) knows them,
//! each identified by `id_cliente_servico`. On the platform an FTTH client's
//! `code` holds that id: that is how a service finds its platform client, and
//! why `export-codes` hands OZmap the list to fill in codes it lacks.

mod fields;
mod import;

use std::borrow::Cow;
use std::io::Write;

use anyhow::{Result, bail};
use serde::Serialize;

use crate::params;
use crate::store::Db;

pub use import::{Format, IMPORT_LIMIT, import, import_bytes};

/// What a spreadsheet takes for the start of a formula when a cell begins
/// with it (OWASP's list for CSV injection): `=HYPERLINK(...)` or
/// `+cmd|' /C calc'!A0` in a name would run when the codes file is opened.
const FORMULA_START: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// Whether a spreadsheet would evaluate this cell rather than show it.
fn starts_formula(text: &str) -> bool {
    text.starts_with(FORMULA_START)
}

/// A text cell of the codes file as a spreadsheet will show it: one it
/// would evaluate gets a leading `'`, which Excel and LibreOffice read as
/// "this is text" (OWASP's advice).
fn text_cell(value: Option<&str>) -> Cow<'_, str> {
    match value {
        Some(v) if starts_formula(v) => Cow::Owned(format!("'{v}")),
        Some(v) => Cow::Borrowed(v),
        None => Cow::Borrowed(""),
    }
}

/// The fields the ERP gives, in their public order: the columns an import
/// accepts, and what `list`/`show` print.
pub const FIELDS: [&str; 10] = [
    "id_cliente_servico",
    "name",
    "document",
    "address",
    "lat",
    "lng",
    "pppoe_login",
    "onu_serial",
    "onu_mac",
    "status",
];

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
fn find(conn: &Db, id: &str) -> Result<Option<Service>> {
    conn.query_opt(
        &format!("SELECT {COLUMNS} FROM services s WHERE s.id_cliente_servico = ?1"),
        params![id],
        from_row,
    )
}

/// Services with their platform client, all of them or the one with `id`.
fn listed(conn: &Db, id: Option<&str>) -> Result<Vec<Listed>> {
    // The clients are grouped by code once, rather than searched per service,
    // so listing stays linear in services plus clients. Two clients with the
    // same code (two integrations, or a duplicate on the platform) resolve to
    // the lowest id, so the answer does not change from one run to the next.
    let sql = format!(
        "WITH clients AS (
             SELECT json_extract(data, '$.code') AS code, MIN(json_extract(data, '$.id')) AS id
             FROM elements
             WHERE kind = 'client' AND removed_at IS NULL AND json_extract(data, '$.code') IS NOT NULL
             GROUP BY 1
         )
         SELECT {COLUMNS}, c.id FROM services s LEFT JOIN clients c ON c.code = s.id_cliente_servico
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

/// Every service, by id.
pub fn list(conn: &Db) -> Result<Vec<Listed>> {
    listed(conn, None)
}

/// The service with this id, or an error that says none has it.
pub fn get(conn: &Db, id: &str) -> Result<Listed> {
    if let Some(found) = listed(conn, Some(id.trim()))?.pop() {
        return Ok(found);
    }
    let count: i64 = conn.query_row("SELECT COUNT(*) FROM services", params![], |r| r.get(0))?;
    if count == 0 {
        bail!(
            "no service with id_cliente_servico {id:?}: none is imported yet (import them with `mapsync services import FILE`)"
        );
    }
    bail!(
        "no service with id_cliente_servico {id:?} among the {count} imported (`mapsync services list` shows them)"
    )
}

/// Write the codes file OZmap is sent: every service, by id, with the
/// platform client already matched to it. Answers how many rows it wrote.
///
/// The file is made for a spreadsheet, so text cells it would evaluate are
/// neutralised. Ids cannot be: OZmap must get them exactly as stored, so a
/// stored id that a spreadsheet would evaluate refuses the whole export
/// before anything is written (an import refuses such an id; one can only
/// come from an older mapsync or from the platform).
pub fn export_codes(conn: &Db, out: &mut impl Write) -> Result<usize> {
    let all = list(conn)?;
    let mut dangerous = Vec::new();
    for listed in &all {
        let id = &listed.service.id_cliente_servico;
        if starts_formula(id) {
            dangerous.push(format!("id_cliente_servico {id:?}"));
        }
        if let Some(client) = listed
            .platform_client_id
            .as_deref()
            .filter(|c| starts_formula(c))
        {
            dangerous.push(format!("OZmap client id {client:?} (of service {id:?})"));
        }
    }
    if !dangerous.is_empty() {
        bail!(
            "the codes file was not written: {} id(s) begin with a character a spreadsheet reads as a formula \
             (=, +, -, @, tab or carriage return), and ids must reach OZmap exactly as stored, so they cannot be \
             neutralised: {}; correct them in the management system (or on the platform) first",
            dangerous.len(),
            dangerous.join(", ")
        );
    }
    // Excel reads a CSV without a BOM as the local code page and garbles
    // accents; RFC 4180 asks for CRLF line ends.
    out.write_all("\u{feff}".as_bytes())?;
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(out);
    writer.write_record([
        "id_cliente_servico",
        "name",
        "document",
        "address",
        "lat",
        "lng",
        "ozmap_client_id",
    ])?;
    for listed in &all {
        let s = &listed.service;
        // Numbers are written from floats: a leading `-` there is a sign.
        let number = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
        writer.write_record([
            s.id_cliente_servico.as_str(),
            &text_cell(s.name.as_deref()),
            &text_cell(s.document.as_deref()),
            &text_cell(s.address.as_deref()),
            &number(s.lat),
            &number(s.lng),
            listed.platform_client_id.as_deref().unwrap_or_default(),
        ])?;
    }
    writer.flush()?;
    Ok(all.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_a_spreadsheet_would_evaluate_get_a_quote() {
        for dangerous in [
            "=HYPERLINK(\"http://x\",\"y\")",
            "+cmd|' /C calc'!A0",
            "-2+3",
            "@SUM(1)",
            "\t=1",
            "\r=1",
        ] {
            assert_eq!(text_cell(Some(dangerous)), format!("'{dangerous}"));
        }
        for plain in ["Maria", "Rua A, 10", "1+1", " =1", "'quoted", ""] {
            assert_eq!(text_cell(Some(plain)), plain);
        }
        assert_eq!(text_cell(None), "");
    }
}
