//! `services import`: the ERP's CSV or JSON export, checked whole before
//! anything is written, so a bad file leaves the store as it was and its
//! author gets every problem at once rather than one per attempt.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::{FIELDS, Service, fields, starts_formula};
use crate::store::Db;
use crate::store::services as store;

/// The largest services file taken, from the command line or over the API.
/// A file is read and checked whole before anything is stored, which takes
/// many times its size in memory (a 50 MB file once peaked at 503 MiB).
pub const IMPORT_LIMIT: usize = 16 << 20;

#[derive(Clone, Copy, Debug, PartialEq, clap::ValueEnum)]
pub enum Format {
    Csv,
    Json,
}

#[derive(Debug, Default, PartialEq)]
pub struct Summary {
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
}

/// How many bad rows a refusal lists; it counts the others, and the
/// report (`services import --report`, `?report=csv`) has them all.
pub const LISTED: usize = 100;

/// How many unknown fields of one JSON item a problem names.
const UNKNOWN_NAMED: usize = 5;

/// Where a row sits in its file, as the person fixing it will look for it.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Place {
    /// The physical line in a CSV file, the header being line 1.
    Line(u32),
    /// The 1-based position in a JSON array.
    Item(u32),
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Place::Line(n) => write!(f, "line {n}"),
            Place::Item(n) => write!(f, "item {n}"),
        }
    }
}

/// A row as read, before its fields are checked.
#[derive(Debug)]
struct Row {
    place: Place,
    /// The fields the row gives, blank ones included: a blank clears a stored
    /// value, a field the file does not have leaves it alone.
    values: HashMap<&'static str, String>,
    /// What is wrong with the row's shape (not its values).
    problems: Vec<String>,
}

impl Row {
    fn new(place: Place) -> Row {
        Row {
            place,
            values: HashMap::new(),
            problems: Vec::new(),
        }
    }
}

/// A checked row: the service, and which fields the file gave for it.
struct Incoming {
    service: Service,
    given: Vec<&'static str>,
}

/// A bad row: where it is and what is wrong with it.
struct Bad {
    place: Place,
    problems: Vec<String>,
}

impl fmt::Display for Bad {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.place, self.problems.join("; "))
    }
}

/// Why an import was refused: the file as a whole (`rows` empty, `bad_rows`
/// 0), or its bad rows: the first [`LISTED`], each as "line N: reason" (or
/// "item N: reason"), of `bad_rows` in all.
#[derive(Debug)]
pub struct Refusal {
    pub message: String,
    pub rows: Vec<String>,
    pub bad_rows: usize,
}

impl Refusal {
    /// The refusal as one text: its message, the rows it lists, and how
    /// many it does not.
    pub fn text(&self) -> String {
        let mut text = self.message.clone();
        for row in &self.rows {
            text.push_str("\n  ");
            text.push_str(row);
        }
        let more = self.bad_rows - self.rows.len();
        if more > 0 {
            text.push_str(&format!("\n  ... and {more} more bad row(s)"));
        }
        text
    }
}

/// Import `path`, creating and updating services; never deletes one. A
/// refused file is an invalid-input refusal; with `report`, every bad row
/// is written there as CSV (`at,reason`), not only the first [`LISTED`].
pub fn import(
    conn: &Db,
    path: &Path,
    format: Option<Format>,
    report: Option<&Path>,
) -> Result<Summary> {
    let format = match format {
        Some(format) => format,
        None => format_of(path)?,
    };
    let bytes = read_capped(path)?;
    let refusal = match import_bytes(conn, &bytes, format)? {
        Ok(summary) => return Ok(summary),
        Err(refusal) => refusal,
    };
    let mut text = format!("{}: {}", path.display(), refusal.text());
    if refusal.bad_rows > 0 {
        match report {
            Some(out) => {
                let file = std::fs::File::create(out)
                    .with_context(|| format!("creating the report {}", out.display()))?;
                let mut out_file = std::io::BufWriter::new(file);
                write_report(&bytes, format, &mut out_file)
                    .and_then(|_| Ok(std::io::Write::flush(&mut out_file)?))
                    .with_context(|| format!("writing the report {}", out.display()))?;
                text.push_str(&format!("\nevery bad row is in {}", out.display()));
            }
            None if refusal.bad_rows > refusal.rows.len() => {
                text.push_str("\nevery bad row: add --report FILE");
            }
            None => {}
        }
    }
    Err(anyhow::Error::new(crate::error::invalid("file", text)))
}

/// Import a file's contents given in memory (the HTTP API's upload). The
/// outer `Err` is a failure to store; the inner one, a refused file.
///
/// The file is read twice, row by row, and never held as rows: once to
/// check every row (keeping the first [`LISTED`] problems, a count, and
/// the ids met, to find those given twice), then, when all are good, to
/// store them in one transaction. So an import's memory is the file's
/// bytes and its ids, whatever it holds.
pub fn import_bytes(conn: &Db, bytes: &[u8], format: Format) -> Result<Result<Summary, Refusal>> {
    let refused = |e: anyhow::Error| Refusal {
        message: format!("the file was refused, nothing was imported: {e:#}"),
        rows: Vec::new(),
        bad_rows: 0,
    };
    let text = match utf8(bytes, format) {
        Ok(text) => text,
        Err(e) => return Ok(Err(refused(e))),
    };
    let mut checker = Checker::default();
    let (mut listed, mut bad_rows) = (Vec::new(), 0);
    let surveyed = each_row(&text, format, &mut |row| {
        if let Err(bad) = checker.check(row) {
            bad_rows += 1;
            if listed.len() < LISTED {
                listed.push(bad.to_string());
            }
        }
        Ok(())
    });
    if let Err(e) = surveyed {
        return Ok(Err(refused(e)));
    }
    if bad_rows > 0 {
        return Ok(Err(Refusal {
            message: format!("the file was refused, nothing was imported: {bad_rows} bad row(s)"),
            rows: listed,
            bad_rows,
        }));
    }
    drop(checker);
    Ok(Ok(save(conn, &text, format)?))
}

/// Every bad row of a file, as CSV with the columns `at` and `reason`,
/// written as they are found; a file refused as a whole is one row with
/// no `at`. Answers the bad rows written.
pub fn write_report(bytes: &[u8], format: Format, out: &mut dyn std::io::Write) -> Result<usize> {
    let mut csv = csv::Writer::from_writer(out);
    csv.write_record(["at", "reason"])?;
    let text = match utf8(bytes, format) {
        Ok(text) => text,
        Err(e) => {
            csv.write_record(["", &format!("{e:#}")])?;
            csv.flush()?;
            return Ok(0);
        }
    };
    let mut checker = Checker::default();
    let mut written = 0;
    let walked = each_row(&text, format, &mut |row| {
        if let Err(bad) = checker.check(row) {
            written += 1;
            csv.write_record([bad.place.to_string(), bad.problems.join("; ")])?;
        }
        Ok(())
    });
    if let Err(e) = walked {
        csv.write_record(["", &format!("{e:#}")])?;
    }
    csv.flush()?;
    Ok(written)
}

/// Each row of `text` handed to `each` as it is read. An `Err` is the
/// file's own problem (its header, its JSON), or what `each` answered.
fn each_row(text: &str, format: Format, each: &mut dyn FnMut(Row) -> Result<()>) -> Result<()> {
    match format {
        Format::Csv => read_csv(text, each),
        Format::Json => read_json(text, each),
    }
}

/// What checking a row needs of the rows before it: the ids met, to refuse
/// one given twice.
#[derive(Default)]
struct Checker {
    ids: Ids,
}

impl Checker {
    fn check(&mut self, row: Row) -> Result<Incoming, Bad> {
        let mut problems = row.problems;
        let service = service(&row.values, &mut problems);
        let id = &service.id_cliente_servico;
        if !id.is_empty()
            && let Some(first) = self.ids.first_place(id, row.place)
        {
            problems.push(format!(
                "id_cliente_servico {} is already given at {first}",
                crate::text::echo(id)
            ));
        }
        if !problems.is_empty() {
            return Err(Bad {
                place: row.place,
                problems,
            });
        }
        let mut given: Vec<_> = row.values.keys().copied().collect();
        given.sort_unstable();
        Ok(Incoming { service, given })
    }
}

/// The ids met so far, each with where it was first given: both in an
/// arena of fixed-size blocks (a byte of the id's length, the place's 4
/// bytes, the id), and a table of where each starts, 4 bytes an id, so
/// that a file of a million short ids costs a few bytes each rather than
/// an allocation, and a growing arena never holds twice its size while it
/// moves. An id over 255 bytes is refused for its length anyway, and is
/// not kept.
#[derive(Default)]
struct Ids {
    blocks: Vec<Vec<u8>>,
    /// Where an entry starts: its block times `BLOCK`, plus its offset.
    table: hashbrown::HashTable<u32>,
    hasher: std::collections::hash_map::RandomState,
}

/// A `Place` in 4 bytes: a line or an item, by the file's format.
#[derive(Clone, Copy)]
struct Place32(u32);

impl Place32 {
    const ITEM: u32 = 1 << 31;

    fn new(place: Place) -> Place32 {
        match place {
            Place::Line(n) => Place32(n & !Self::ITEM),
            Place::Item(n) => Place32(n | Self::ITEM),
        }
    }

    fn place(self) -> Place {
        if self.0 & Self::ITEM == 0 {
            Place::Line(self.0)
        } else {
            Place::Item(self.0 & !Self::ITEM)
        }
    }
}

impl Ids {
    /// An arena block's size: entries never span two.
    const BLOCK: usize = 1 << 20;

    fn entry(blocks: &[Vec<u8>], at: u32) -> (&[u8], Place32) {
        let (block, at) = (at as usize / Self::BLOCK, at as usize % Self::BLOCK);
        let block = &blocks[block];
        let length = usize::from(block[at]);
        let place = u32::from_le_bytes(block[at + 1..at + 5].try_into().expect("4 bytes"));
        (&block[at + 5..at + 5 + length], Place32(place))
    }

    /// Where `id` was first given, if it was; else it is noted at `place`.
    fn first_place(&mut self, id: &str, place: Place) -> Option<Place> {
        use std::hash::BuildHasher;
        let Ok(length) = u8::try_from(id.len()) else {
            return None;
        };
        let Ids {
            blocks,
            table,
            hasher,
        } = self;
        let hash = hasher.hash_one(id.as_bytes());
        if let Some(&found) = table.find(hash, |&at| Self::entry(blocks, at).0 == id.as_bytes()) {
            return Some(Self::entry(blocks, found).1.place());
        }
        let size = 5 + id.len();
        if blocks.last().is_none_or(|b| b.len() + size > Self::BLOCK) {
            blocks.push(Vec::with_capacity(Self::BLOCK));
        }
        let last = blocks.len() - 1;
        let block = &mut blocks[last];
        // The arena never grows past a few times the file's own size (a
        // 16 MiB file's ids fit 4 GiB many times over).
        let at = (last * Self::BLOCK + block.len()) as u32;
        block.push(length);
        block.extend_from_slice(&Place32::new(place).0.to_le_bytes());
        block.extend_from_slice(id.as_bytes());
        table.insert_unique(hash, at, |&at| hasher.hash_one(Self::entry(blocks, at).0));
        None
    }
}

fn format_of(path: &Path) -> Result<Format> {
    let extension = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    if extension.eq_ignore_ascii_case("csv") {
        Ok(Format::Csv)
    } else if extension.eq_ignore_ascii_case("json") {
        Ok(Format::Json)
    } else {
        bail!(
            "cannot tell whether {} is CSV or JSON from its name: add --format csv or --format json",
            path.display()
        )
    }
}

/// The file's bytes; one over `IMPORT_LIMIT` is refused by its size before
/// any of it is read (and cut at the limit should it not tell its size, a
/// pipe, or grow meanwhile).
fn read_capped(path: &Path) -> Result<Vec<u8>> {
    let reading = || format!("reading {}", path.display());
    let file = std::fs::File::open(path).with_context(reading)?;
    let size = file.metadata().with_context(reading)?.len();
    let limit = IMPORT_LIMIT as u64;
    let too_large = |size: String| {
        anyhow!(
            "{} is {size}; services import takes files of at most {} MiB: split it into smaller files, \
             each with the header row, and import them one by one (a re-import updates by id)",
            path.display(),
            IMPORT_LIMIT >> 20
        )
    };
    if size > limit {
        return Err(too_large(format!(
            "{:.1} MiB ({size} bytes)",
            size as f64 / f64::from(1 << 20)
        )));
    }
    let mut bytes = Vec::with_capacity(size as usize);
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .with_context(reading)?;
    if bytes.len() as u64 > limit {
        return Err(too_large(format!("over {} MiB", IMPORT_LIMIT >> 20)));
    }
    Ok(bytes)
}

/// Whether the file is UTF-16: by its byte-order mark, or, without one, by
/// the NUL byte UTF-16 puts beside every Latin letter (UTF-8 text has none).
fn is_utf16(bytes: &[u8]) -> bool {
    if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) {
        return true;
    }
    let head = &bytes[..bytes.len().min(4096)];
    let nuls = head.iter().filter(|b| **b == 0).count();
    !head.is_empty() && nuls * 4 >= head.len()
}

/// The file as text, without byte-order marks: the one Excel puts in front
/// of "CSV UTF-8", and those left inside when exports are joined end to
/// end (`cat a.csv b.csv`), which would otherwise end up inside an id.
fn utf8(bytes: &[u8], format: Format) -> Result<Cow<'_, str>> {
    // UTF-16 without a BOM is valid UTF-8 (NULs and letters), so it is told
    // apart before the UTF-8 check rather than by it.
    if is_utf16(bytes) {
        let (what, save_as) = match format {
            Format::Csv => (
                " (Excel's \"Unicode Text\")",
                "save it as \"CSV UTF-8 (comma delimited)\" and import that",
            ),
            Format::Json => (
                "",
                "save it as UTF-8 (PowerShell: `Out-File -Encoding utf8`)",
            ),
        };
        bail!(
            "the file is UTF-16{what}, not UTF-8: {save_as}, or convert it, e.g. `iconv -f UTF-16 -t UTF-8`"
        );
    }
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let line = bytes[..e.valid_up_to()]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1;
        // Excel's plain "CSV" is Windows-1252 in Brazil.
        anyhow!(
            "the file is not UTF-8 (line {line}): save it as \"CSV UTF-8\", or convert it, e.g. `iconv -f WINDOWS-1252 -t UTF-8`"
        )
    })?;
    Ok(if text.contains('\u{feff}') {
        Cow::Owned(text.replace('\u{feff}', ""))
    } else {
        Cow::Borrowed(text)
    })
}

/// The known field a column or key names; case and surrounding spaces are
/// forgiven, spelling is not.
fn field(name: &str) -> Option<&'static str> {
    FIELDS
        .iter()
        .find(|f| f.eq_ignore_ascii_case(name.trim()))
        .copied()
}

fn quoted_list(names: &[String]) -> String {
    names
        .iter()
        .map(|n| crate::text::echo(n))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `;` when the header uses it more than `,`: what a spreadsheet set to
/// Portuguese exports, since there the comma is the decimal separator.
fn delimiter(text: &str) -> u8 {
    let header = text.lines().next().unwrap_or("");
    let (mut semicolons, mut commas, mut quoted) = (0, 0, false);
    for c in header.chars() {
        match c {
            '"' => quoted = !quoted,
            ';' if !quoted => semicolons += 1,
            ',' if !quoted => commas += 1,
            _ => {}
        }
    }
    if semicolons > commas { b';' } else { b',' }
}

fn read_csv(text: &str, each: &mut dyn FnMut(Row) -> Result<()>) -> Result<()> {
    let delimiter = delimiter(text);
    // Headers are read as a record so every line number comes from the
    // reader itself; flexible, so a row with a stray separator is reported
    // with the others instead of stopping the read.
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut records = reader.records();
    let header = match records.next() {
        Some(header) => header.context("reading the header row")?,
        None => bail!(
            "the file is empty; it needs a header row naming its columns, e.g. {}",
            FIELDS.join(",")
        ),
    };
    let columns = header_columns(&header)?;
    for record in records {
        let record = record.context("reading the file")?;
        // Spreadsheets leave rows of bare separators after the data.
        if record.iter().all(|v| v.trim().is_empty()) {
            continue;
        }
        // Exports joined end to end repeat the header: the same one is
        // skipped, another order of columns would mix values up.
        if record.len() == header.len()
            && record
                .iter()
                .zip(header.iter())
                .all(|(value, name)| value.trim().eq_ignore_ascii_case(name.trim()))
        {
            continue;
        }
        // A file under the import's limit has fewer lines than a u32 holds.
        let line = record.position().map_or(0, csv::Position::line) as u32;
        let mut row = Row::new(Place::Line(line));
        let is_header = record
            .iter()
            .any(|v| field(v) == Some("id_cliente_servico"))
            && record
                .iter()
                .all(|v| v.trim().is_empty() || field(v).is_some());
        if is_header {
            row.problems.push(
                "is a header row whose columns differ from line 1's (files joined end to end? \
                 import each file on its own)"
                    .into(),
            );
        } else if record.len() == columns.len() {
            row.values = columns
                .iter()
                .copied()
                .zip(record.iter().map(str::to_string))
                .collect();
        } else {
            row.problems.push(format!(
                "has {} fields where the header has {} (an unquoted {:?} inside a value?)",
                record.len(),
                columns.len(),
                delimiter as char
            ));
        }
        each(row)?;
    }
    Ok(())
}

/// The field of each column, or an error naming every column that is not
/// one: a misspelt column would otherwise be dropped without a word.
fn header_columns(header: &csv::StringRecord) -> Result<Vec<&'static str>> {
    let mut columns = Vec::new();
    let (mut unknown, mut repeated) = (Vec::new(), Vec::new());
    for (i, name) in header.iter().enumerate() {
        match field(name) {
            Some(f) if columns.contains(&f) => repeated.push(f.to_string()),
            Some(f) => columns.push(f),
            None if name.trim().is_empty() => unknown.push(format!("(column {}, no name)", i + 1)),
            None => unknown.push(name.to_string()),
        }
    }
    let mut problems = Vec::new();
    if !unknown.is_empty() {
        problems.push(format!("unknown column(s) {}", quoted_list(&unknown)));
    }
    if !repeated.is_empty() {
        problems.push(format!("column(s) given twice: {}", quoted_list(&repeated)));
    }
    if !columns.contains(&"id_cliente_servico") && unknown.is_empty() {
        problems.push("no id_cliente_servico column".into());
    }
    if !problems.is_empty() {
        bail!(
            "the header (line 1) has {}; the columns are {}",
            problems.join("; "),
            FIELDS.join(", ")
        );
    }
    Ok(columns)
}

/// The items of a JSON array, each handed to `each` once read: the
/// document is never held as a whole, and what a service's field cannot
/// be (an array, an object) is skipped over rather than built.
fn read_json(text: &str, each: &mut dyn FnMut(Row) -> Result<()>) -> Result<()> {
    let mut failed = None;
    let mut de = serde_json::Deserializer::from_str(text);
    let read = serde::Deserializer::deserialize_any(
        &mut de,
        Items {
            each,
            failed: &mut failed,
        },
    )
    .and_then(|()| de.end());
    // What `each` answered, if it stopped the read, is the error.
    if let Some(e) = failed {
        return Err(e);
    }
    read.map_err(|e| {
        if e.is_data() {
            anyhow!("the file must hold a JSON array with one object per service")
        } else {
            anyhow!("the file is not valid JSON: {e}")
        }
    })
}

/// The top level: an array, its items read one by one.
struct Items<'a> {
    each: &'a mut dyn FnMut(Row) -> Result<()>,
    failed: &'a mut Option<anyhow::Error>,
}

impl<'de> Visitor<'de> for Items<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON array with one object per service")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut n: u32 = 0;
        loop {
            n += 1;
            let Some(row) = seq.next_element_seed(Item(Place::Item(n)))? else {
                return Ok(());
            };
            if let Err(e) = (self.each)(row) {
                *self.failed = Some(e);
                return Err(serde::de::Error::custom("stopped"));
            }
        }
    }
}

/// One item of the array, as a row.
struct Item(Place);

impl<'de> DeserializeSeed<'de> for Item {
    type Value = Row;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Row, D::Error> {
        d.deserialize_any(self)
    }
}

impl Item {
    fn not_an_object(self) -> Row {
        let mut row = Row::new(self.0);
        row.problems.push("is not an object".into());
        row
    }
}

impl<'de> Visitor<'de> for Item {
    type Value = Row;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Row, A::Error> {
        let mut row = Row::new(self.0);
        let (mut unknown, mut unknown_count) = (Vec::new(), 0);
        while let Some(key) = map.next_key::<String>()? {
            let Some(f) = field(&key) else {
                map.next_value::<IgnoredAny>()?;
                unknown_count += 1;
                if unknown.len() < UNKNOWN_NAMED {
                    unknown.push(key);
                }
                continue;
            };
            match map.next_value::<Scalar>()? {
                Scalar::Text(text) => {
                    row.values.insert(f, text);
                }
                Scalar::Other(kind) => row
                    .problems
                    .push(format!("{f} must be text or a number, not {kind}")),
            }
        }
        if unknown_count > 0 {
            let more = unknown_count - unknown.len();
            let more = if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            };
            row.problems.push(format!(
                "unknown field(s) {}{more} (the fields are {})",
                quoted_list(&unknown),
                FIELDS.join(", ")
            ));
        }
        Ok(row)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Row, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(self.not_an_object())
    }

    fn visit_bool<E>(self, _: bool) -> Result<Row, E> {
        Ok(self.not_an_object())
    }

    fn visit_i64<E>(self, _: i64) -> Result<Row, E> {
        Ok(self.not_an_object())
    }

    fn visit_u64<E>(self, _: u64) -> Result<Row, E> {
        Ok(self.not_an_object())
    }

    fn visit_f64<E>(self, _: f64) -> Result<Row, E> {
        Ok(self.not_an_object())
    }

    fn visit_str<E>(self, _: &str) -> Result<Row, E> {
        Ok(self.not_an_object())
    }

    fn visit_unit<E>(self) -> Result<Row, E> {
        Ok(self.not_an_object())
    }
}

/// A field's value: text (null reads as blank; ERPs export numeric ids
/// and coordinates as numbers), or what it may not be.
enum Scalar {
    Text(String),
    Other(&'static str),
}

impl<'de> serde::Deserialize<'de> for Scalar {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Scalar, D::Error> {
        d.deserialize_any(ScalarVisitor)
    }
}

struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("text or a number")
    }

    fn visit_unit<E>(self) -> Result<Scalar, E> {
        Ok(Scalar::Text(String::new()))
    }

    fn visit_str<E>(self, v: &str) -> Result<Scalar, E> {
        Ok(Scalar::Text(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Scalar, E> {
        Ok(Scalar::Text(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Scalar, E> {
        Ok(Scalar::Text(v.to_string()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Scalar, E> {
        Ok(Scalar::Text(v.to_string()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Scalar, E> {
        // As serde_json writes the number (its shortest form).
        Ok(Scalar::Text(
            serde_json::Number::from_f64(v).map_or_else(|| v.to_string(), |n| n.to_string()),
        ))
    }

    fn visit_bool<E>(self, _: bool) -> Result<Scalar, E> {
        Ok(Scalar::Other("true/false"))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Scalar, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Scalar::Other("an array"))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Scalar, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Scalar::Other("an object"))
    }
}

/// The service a row describes, its problems added to `problems`.
fn service(values: &HashMap<&'static str, String>, problems: &mut Vec<String>) -> Service {
    use crate::text::{SERVICE_FIELD_MAX, SERVICE_ID_MAX};
    let text = |f: &str| {
        values
            .get(f)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let mut checked = |f: &str, check: fn(&str) -> Result<String, String>| {
        text(f).and_then(|v| check(&v).map_err(|e| problems.push(e)).ok())
    };
    let document = checked("document", fields::document);
    let onu_mac = checked("onu_mac", fields::mac);
    let id = text("id_cliente_servico").unwrap_or_default();
    if id.is_empty() {
        problems.push("id_cliente_servico is missing".into());
    } else if let Some(why) = crate::text::problem(&id, SERVICE_ID_MAX) {
        problems.push(format!(
            "id_cliente_servico {} {why}",
            crate::text::echo(&id)
        ));
    } else if starts_formula(&id) {
        // The codes file for OZmap is opened in a spreadsheet, which would
        // evaluate such a cell, and an id must reach OZmap unchanged.
        problems.push(format!(
            "id_cliente_servico {id:?} begins with {:?}, which a spreadsheet reads as a formula; \
             ids cannot begin with =, +, - or @",
            id.chars().next().unwrap_or_default()
        ));
    }
    // The service's texts are printed and sent to the platform as they
    // are: plain text of a bounded length.
    let mut plain = |f: &'static str| {
        let value = text(f)?;
        match crate::text::problem(&value, SERVICE_FIELD_MAX) {
            Some(why) => {
                problems.push(format!("{f} {} {why}", crate::text::echo(&value)));
                None
            }
            None => Some(value),
        }
    };
    let name = plain("name");
    let address = plain("address");
    let pppoe_login = plain("pppoe_login");
    let onu_serial = plain("onu_serial");
    let status = plain("status");
    let (lat, lng) = position(text("lat"), text("lng"), problems);
    Service {
        id_cliente_servico: id,
        name,
        document,
        address,
        lat,
        lng,
        pppoe_login,
        onu_serial,
        onu_mac,
        status,
    }
}

fn position(
    lat: Option<String>,
    lng: Option<String>,
    problems: &mut Vec<String>,
) -> (Option<f64>, Option<f64>) {
    match (lat, lng) {
        (None, None) => (None, None),
        (Some(_), None) => {
            problems.push("lat is given without lng".into());
            (None, None)
        }
        (None, Some(_)) => {
            problems.push("lng is given without lat".into());
            (None, None)
        }
        (Some(lat), Some(lng)) => {
            let lat = fields::coordinate("lat", &lat, 90.0);
            let lng = fields::coordinate("lng", &lng, 180.0);
            match (lat, lng) {
                (Ok(lat), Ok(lng)) => (Some(lat), Some(lng)),
                (lat, lng) => {
                    problems.extend(lat.err());
                    problems.extend(lng.err());
                    (None, None)
                }
            }
        }
    }
}

/// `new` where the file gave the field, `old` where it did not.
fn merged(new: &Service, old: &Service, given: &[&str]) -> Service {
    fn pick<T: Clone>(given: bool, new: &Option<T>, old: &Option<T>) -> Option<T> {
        if given { new.clone() } else { old.clone() }
    }
    let has = |f: &str| given.contains(&f);
    // lat and lng go together: half of an old position is no position.
    let position = has("lat") || has("lng");
    Service {
        id_cliente_servico: new.id_cliente_servico.clone(),
        name: pick(has("name"), &new.name, &old.name),
        document: pick(has("document"), &new.document, &old.document),
        address: pick(has("address"), &new.address, &old.address),
        lat: pick(position, &new.lat, &old.lat),
        lng: pick(position, &new.lng, &old.lng),
        pppoe_login: pick(has("pppoe_login"), &new.pppoe_login, &old.pppoe_login),
        onu_serial: pick(has("onu_serial"), &new.onu_serial, &old.onu_serial),
        onu_mac: pick(has("onu_mac"), &new.onu_mac, &old.onu_mac),
        status: pick(has("status"), &new.status, &old.status),
    }
}

/// Store every row of the checked file `text` in one transaction, read
/// again row by row.
fn save(conn: &Db, text: &str, format: Format) -> Result<Summary> {
    let tx = conn.transaction()?;
    let now = crate::store::now();
    let mut summary = Summary::default();
    let mut checker = Checker::default();
    each_row(text, format, &mut |row| {
        let place = row.place;
        let Incoming { service, given } = checker
            .check(row)
            .map_err(|bad| anyhow!("{bad}, found good before (the file changed?)"))?;
        match store::find(&tx, &service.id_cliente_servico)? {
            None => {
                summary.created += 1;
                store::save(&tx, &service, &now)
            }
            Some(old) => {
                let service = merged(&service, &old, &given);
                if service == old {
                    summary.unchanged += 1;
                    return Ok(());
                }
                summary.updated += 1;
                store::save(&tx, &service, &now)
            }
        }
        .with_context(|| format!("saving the service at {place}"))
    })?;
    tx.commit()?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn import_text(text: &[u8], format: Format) -> Result<Vec<Incoming>> {
        let text = utf8(text, format)?;
        let mut checker = Checker::default();
        let (mut good, mut bad) = (Vec::new(), Vec::new());
        each_row(&text, format, &mut |row| {
            match checker.check(row) {
                Ok(incoming) => good.push(incoming),
                Err(b) => bad.push(format!("  {b}")),
            }
            Ok(())
        })?;
        if bad.is_empty() {
            Ok(good)
        } else {
            Err(anyhow!(bad.join("\n")))
        }
    }

    #[test]
    fn csv_with_semicolons_bom_quotes_and_decimal_commas() {
        let file = "\u{feff}id_cliente_servico;name;document;lat;lng;onu_mac;status\r\n\
             101;\"Silva; João\";529.982.247-25;-27,59;-48,55;aa-bb-cc-dd-ee-ff; ativo \r\n\
             102;Maria;;;;;\r\n\
             ;;;;;;\r\n";
        let rows = import_text(file.as_bytes(), Format::Csv).unwrap();
        assert_eq!(rows.len(), 2);
        let s = &rows[0].service;
        assert_eq!(s.id_cliente_servico, "101");
        assert_eq!(s.name.as_deref(), Some("Silva; João"));
        assert_eq!(s.document.as_deref(), Some("52998224725"));
        assert_eq!((s.lat, s.lng), (Some(-27.59), Some(-48.55)));
        assert_eq!(s.onu_mac.as_deref(), Some("AA:BB:CC:DD:EE:FF"));
        assert_eq!(s.status.as_deref(), Some("ativo"));
        assert_eq!(rows[1].service.document, None);
        assert!(rows[1].given.contains(&"document"));
        assert!(!rows[1].given.contains(&"address"));
    }

    #[test]
    fn csv_with_commas_and_quoted_commas() {
        let file = "id_cliente_servico,name,address\n7,\"Souza, Ana\",\"Rua A, 10\"\n";
        let rows = import_text(file.as_bytes(), Format::Csv).unwrap();
        assert_eq!(rows[0].service.name.as_deref(), Some("Souza, Ana"));
        assert_eq!(rows[0].service.address.as_deref(), Some("Rua A, 10"));
    }

    #[test]
    fn every_bad_row_is_reported_with_its_physical_line() {
        let file = "id_cliente_servico;name;document;lat;lng\n\
             1;A;;;\n\
             ;B;;;\n\
             1;\"two\nlines\";;;\n\
             2;C;529.982.247-24;;\n\
             3;D;;-27,5;\n\
             4;E;;;;extra\n";
        let err = import_text(file.as_bytes(), Format::Csv)
            .err()
            .unwrap()
            .to_string();
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), 5, "{err}");
        assert!(lines[0].starts_with("  line 3: id_cliente_servico is missing"));
        // A name is plain text: its line break is refused, and the row's
        // physical line is still the one it starts on.
        assert!(
            lines[1].starts_with("  line 4: name \"two\\nlines\" holds a control character"),
            "{err}"
        );
        assert!(
            lines[1].ends_with("; id_cliente_servico \"1\" is already given at line 2"),
            "{err}"
        );
        assert!(lines[2].starts_with("  line 6: document"));
        assert!(lines[3].starts_with("  line 7: lat is given without lng"));
        assert!(lines[4].starts_with("  line 8: has 6 fields"));
    }

    #[test]
    fn unknown_columns_are_named() {
        let err = import_text(b"id_cliente_servico,nmae,,status\n1,a,,b\n", Format::Csv)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("\"nmae\""), "{err}");
        assert!(err.contains("column 3, no name"), "{err}");
        // Case and spaces around a name are forgiven.
        let rows = import_text(b" ID_Cliente_Servico ,Name\n1,a\n", Format::Csv).unwrap();
        assert_eq!(rows[0].service.name.as_deref(), Some("a"));
    }

    #[test]
    fn json_items_and_their_problems() {
        let file = br#"[{"id_cliente_servico": 5, "lat": -27.5, "lng": "-48,5", "name": null},
                       {"id_cliente_servico": "6", "nmae": "x", "status": true}, 3]"#;
        let err = import_text(file, Format::Json).err().unwrap().to_string();
        assert!(err.contains("item 2: status must be text"), "{err}");
        assert!(err.contains("unknown field(s) \"nmae\""), "{err}");
        assert!(err.contains("item 3: is not an object"), "{err}");
        assert!(!err.contains("item 1"), "{err}");
        let good = br#"[{"id_cliente_servico": 5, "lat": -27.5, "lng": "-48,5", "name": null}]"#;
        let rows = import_text(good, Format::Json).unwrap();
        let s = &rows[0].service;
        assert_eq!(s.id_cliente_servico, "5");
        assert_eq!((s.lat, s.lng), (Some(-27.5), Some(-48.5)));
        assert_eq!(s.name, None);
    }

    #[test]
    fn fields_absent_from_the_file_keep_their_stored_value() {
        let old = Service {
            id_cliente_servico: "1".into(),
            name: Some("old".into()),
            onu_mac: Some("AA:BB:CC:DD:EE:FF".into()),
            lat: Some(1.0),
            lng: Some(2.0),
            ..Service::default()
        };
        let new = Service {
            id_cliente_servico: "1".into(),
            name: Some("new".into()),
            ..Service::default()
        };
        let merged = merged(&new, &old, &["id_cliente_servico", "name", "lat"]);
        assert_eq!(merged.name.as_deref(), Some("new"));
        assert_eq!(merged.onu_mac.as_deref(), Some("AA:BB:CC:DD:EE:FF"));
        assert_eq!((merged.lat, merged.lng), (None, None));
    }

    #[test]
    fn latin1_files_are_refused_with_a_hint() {
        let err = utf8(b"id_cliente_servico,name\n1,Jo\xe3o\n", Format::Csv)
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 2") && err.contains("UTF-8"), "{err}");
        assert!(
            err.contains("WINDOWS-1252") && !err.contains("UTF-16"),
            "{err}"
        );
    }

    fn utf16(text: &str, big_endian: bool, bom: bool) -> Vec<u8> {
        let mut units: Vec<u16> = text.encode_utf16().collect();
        if bom {
            units.insert(0, 0xFEFF);
        }
        units
            .iter()
            .flat_map(|u| {
                if big_endian {
                    u.to_be_bytes()
                } else {
                    u.to_le_bytes()
                }
            })
            .collect()
    }

    #[test]
    fn utf16_files_are_refused_with_their_own_hint() {
        let text = "id_cliente_servico\tname\r\n1\tJoão\r\n";
        for (big_endian, bom) in [(false, true), (true, true), (false, false), (true, false)] {
            let bytes = utf16(text, big_endian, bom);
            let err = utf8(&bytes, Format::Csv).unwrap_err().to_string();
            assert!(
                err.contains("UTF-16") && err.contains("CSV UTF-8 (comma delimited)"),
                "big endian {big_endian}, BOM {bom}: {err}"
            );
            assert!(!err.contains("WINDOWS-1252"), "{err}");
            let err = utf8(&bytes, Format::Json).unwrap_err().to_string();
            assert!(err.contains("UTF-16"), "{err}");
        }
        // A UTF-8 file is not taken for UTF-16.
        assert!(utf8("id_cliente_servico\n1\n".as_bytes(), Format::Csv).is_ok());
    }

    #[test]
    fn byte_order_marks_inside_the_file_are_dropped() {
        let export = "\u{feff}id_cliente_servico;name\r\nSVC-1;Ana\r\n";
        let second = "\u{feff}id_cliente_servico;name\r\nSVC-2;\u{feff}Bia\r\n";
        let rows = import_text(format!("{export}{second}").as_bytes(), Format::Csv).unwrap();
        let ids: Vec<_> = rows
            .iter()
            .map(|r| r.service.id_cliente_servico.as_str())
            .collect();
        assert_eq!(ids, ["SVC-1", "SVC-2"]);
        assert_eq!(rows[1].service.name.as_deref(), Some("Bia"));
        // A header in another column order is not taken for data.
        let other = "id_cliente_servico;name\nSVC-1;Ana\nname;id_cliente_servico\nBia;SVC-2\n";
        let err = import_text(other.as_bytes(), Format::Csv)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("line 3: is a header row"), "{err}");
    }

    #[test]
    fn ids_a_spreadsheet_would_evaluate_are_refused() {
        let file = "id_cliente_servico,name\n=1+1,a\n+cmd,b\n-5,c\n@x,d\nSVC-1,=e\n";
        let err = import_text(file.as_bytes(), Format::Csv)
            .err()
            .unwrap()
            .to_string();
        for line in 2..=5 {
            assert!(
                err.contains(&format!("line {line}: id_cliente_servico")),
                "{err}"
            );
        }
        assert!(err.contains("formula"), "{err}");
        assert!(!err.contains("line 6"), "a name may begin with =: {err}");
        let err = import_text(br#"[{"id_cliente_servico": -5}]"#, Format::Json)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("item 1: id_cliente_servico \"-5\" begins with"),
            "{err}"
        );
    }
}
