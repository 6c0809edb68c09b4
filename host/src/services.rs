//! The ISP's customer services as its management system (ERP) knows them,
//! each identified by `id_cliente_servico`. On the platform an FTTH client's
//! `code` holds that id: that is how a service finds its platform client, and
//! why `export-codes` hands OZmap the list to fill in codes it lacks.

mod fields;
mod import;

use crate::error::{Hint, conflict, not_found};
use crate::refuse;
use std::borrow::Cow;
use std::io::Write;

use anyhow::Result;

use crate::store::Db;
use crate::store::services as store;

pub use crate::store::services::{Listed, Service};
pub use import::{Format, IMPORT_LIMIT, import, import_bytes, write_report};

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

/// Every service, by id.
pub fn list(conn: &Db) -> Result<Vec<Listed>> {
    store::list_with_clients(conn, None)
}

/// The service with this id, or an error that says none has it.
pub fn get(conn: &Db, id: &str) -> Result<Listed> {
    if let Some(found) = store::list_with_clients(conn, Some(id.trim()))?.pop() {
        return Ok(found);
    }
    let count = store::count(conn)?;
    if count == 0 {
        refuse!(
            not_found(format!(
                "no service with id_cliente_servico {}: none is imported yet (import them first)",
                crate::text::echo(id)
            )),
            Hint::ImportServices
        );
    }
    refuse!(not_found(format!(
        "no service with id_cliente_servico {} among the {count} imported",
        crate::text::echo(id)
    )))
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
            dangerous.push(format!("id_cliente_servico {}", crate::text::echo(id)));
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
        refuse!(conflict(format!(
            "the codes file was not written: {} id(s) begin with a character a spreadsheet reads as a formula \
             (=, +, -, @, tab or carriage return), and ids must reach OZmap exactly as stored, so they cannot be \
             neutralised: {}; correct them in the management system (or on the platform) first",
            dangerous.len(),
            dangerous.join(", ")
        )));
    }
    // Excel reads a CSV without a BOM as the local code page and garbles
    // accents; RFC 4180 asks for CRLF line ends.
    out.write_all("\u{feff}".as_bytes())?;
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(out);
    // The service's identity and place (the first six fields), then the
    // platform client mapsync knows for it.
    writer.write_record(FIELDS[..6].iter().copied().chain(["ozmap_client_id"]))?;
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
