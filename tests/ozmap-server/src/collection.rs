//! The documents of one route, kept as their JSON text: a million elements
//! fit in well under a gigabyte (as `serde_json::Value`s they took about five),
//! and serving a page mostly copies bytes.
//!
//! [`Collection`] reads like a `Vec<Value>`: indexing, `iter`, `iter_mut`,
//! `push`, `remove`, `retain`, ... A document read or changed through those is
//! parsed once and kept parsed until [`Collection::compact`] (which the server
//! calls after every change, [`TestServer::with_network`] included) writes
//! changed ones back as text and drops the parsed copies.
//!
//! [`TestServer::with_network`]: crate::TestServer::with_network

use std::collections::HashMap;
use std::fmt;
use std::ops::{Index, IndexMut, RangeBounds};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::{Map, Value};

/// One document: its JSON text, and its parsed form once something asked for it.
struct Record {
    /// The document as JSON; stale while `changed`.
    json: Box<str>,
    /// Its `id`, `_id` and `updatedAt`, as of `json`.
    kept: KeptFields,
    parsed: OnceLock<Box<Value>>,
    /// Changed through `&mut` since it was last written as text.
    changed: bool,
}

impl Record {
    fn new(doc: &Value) -> Record {
        Record {
            json: text(doc),
            kept: KeptFields::of(doc),
            parsed: OnceLock::new(),
            changed: false,
        }
    }

    fn value(&self) -> &Value {
        self.parsed.get_or_init(|| Box::new(parse(&self.json)))
    }

    fn value_mut(&mut self) -> &mut Value {
        self.value();
        self.changed = true;
        self.parsed.get_mut().expect("just parsed")
    }

    /// The document, parsed anew or cloned from the parsed copy; nothing kept.
    fn owned(&self) -> Value {
        match self.parsed.get() {
            Some(v) => (**v).clone(),
            None => parse(&self.json),
        }
    }

    fn into_value(self) -> Value {
        match self.parsed.into_inner() {
            Some(v) => *v,
            None => parse(&self.json),
        }
    }

    fn compact(&mut self) {
        if let Some(v) = self.parsed.take()
            && self.changed
        {
            self.json = text(&v);
            self.kept = KeptFields::of(&v);
        }
        self.changed = false;
    }
}

impl Clone for Record {
    fn clone(&self) -> Self {
        Record {
            json: self.json.clone(),
            kept: self.kept.clone(),
            parsed: self.parsed.clone(),
            changed: self.changed,
        }
    }
}

/// An ObjectId's 24 lowercase hex digits, as bytes: `format!("{n:024x}")`
/// took most of a server's time walking a million ids.
fn hex24(n: u128) -> [u8; 24] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0; 24];
    for (i, digit) in out.iter_mut().rev().enumerate() {
        *digit = DIGITS[((n >> (4 * i)) & 0xf) as usize];
    }
    out
}

/// An ObjectId's text.
fn object_id(n: u128) -> String {
    String::from_utf8(hex24(n).to_vec()).expect("hex digits are ASCII")
}

/// A document's `id` (whether its `_id` repeats it) and `updatedAt`, kept
/// beside its text: a re-sync asks every element's id (`select=id`, a sort
/// by id) and which changed since an instant (a filter and a sort on
/// `updatedAt`), which a real server answers from its indexes; finding the
/// keys in each document's text took longer than serving whole documents.
/// An ObjectId (24 lowercase hex digits, as OZmap's) takes 16 bytes and no
/// allocation, an instant 8.
#[derive(Clone)]
struct KeptFields {
    id: IdText,
    /// `_id` is absent (`None`), the same as `id` (`Some(true)`), or
    /// something else (`Some(false)`: read from the text when asked).
    underscore_same: Option<bool>,
    updated: Updated,
}

#[derive(Clone)]
enum IdText {
    Absent,
    /// Not a string: read from the text when asked.
    Unknown,
    ObjectId(u128),
    Text(Box<str>),
}

/// An id in a sort by id: text order, in which ObjectIds (24 lowercase
/// hex digits) sort as their numbers.
enum IdOrder<'a> {
    /// Neither `id` nor `_id`: first, as a sort puts missing values.
    Missing,
    ObjectId(u128),
    Text(&'a str),
}

impl Ord for IdOrder<'_> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        match (self, other) {
            (IdOrder::Missing, IdOrder::Missing) => std::cmp::Ordering::Equal,
            (IdOrder::Missing, _) => std::cmp::Ordering::Less,
            (_, IdOrder::Missing) => std::cmp::Ordering::Greater,
            (IdOrder::ObjectId(a), IdOrder::ObjectId(b)) => a.cmp(b),
            (IdOrder::Text(a), IdOrder::Text(b)) => a.cmp(b),
            (IdOrder::ObjectId(a), IdOrder::Text(b)) => hex24(*a)[..].cmp(b.as_bytes()),
            (IdOrder::Text(a), IdOrder::ObjectId(b)) => a.as_bytes().cmp(&hex24(*b)[..]),
        }
    }
}

impl PartialOrd for IdOrder<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for IdOrder<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}

impl Eq for IdOrder<'_> {}

#[derive(Clone, Copy)]
enum Updated {
    Absent,
    /// Milliseconds since the epoch, written back exactly as the text was.
    At(i64),
    /// In some other form: read from the text when asked.
    Unknown,
}

impl KeptFields {
    fn of(doc: &Value) -> KeptFields {
        let text = doc.get("id").and_then(Value::as_str);
        let id = match text {
            None if doc.get("id").is_none() => IdText::Absent,
            None => IdText::Unknown,
            Some(id)
                if id.len() == 24
                    && id
                        .bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) =>
            {
                u128::from_str_radix(id, 16).map_or(IdText::Unknown, IdText::ObjectId)
            }
            Some(id) => IdText::Text(id.into()),
        };
        let underscore_same = doc.get("_id").map(|u| text.is_some() && u.as_str() == text);
        let updated = match doc.get("updatedAt") {
            None => Updated::Absent,
            Some(Value::String(at)) => crate::clock::parse_iso8601(at)
                .filter(|ms| crate::clock::iso8601(*ms) == *at)
                .map_or(Updated::Unknown, Updated::At),
            Some(_) => Updated::Unknown,
        };
        KeptFields {
            id,
            underscore_same,
            updated,
        }
    }

    /// The id as text, when known.
    fn id(&self) -> Option<std::borrow::Cow<'_, str>> {
        match &self.id {
            IdText::Absent | IdText::Unknown => None,
            IdText::ObjectId(n) => Some(object_id(*n).into()),
            IdText::Text(id) => Some((&**id).into()),
        }
    }

    /// The fields `keys` of the document when they are all among `id`,
    /// `_id` and `updatedAt`, and known here.
    fn fields(&self, keys: &[&str]) -> Option<Map<String, Value>> {
        let mut out = Map::new();
        for key in keys {
            match *key {
                "id" if matches!(self.id, IdText::Absent) => {}
                "id" => {
                    out.insert("id".to_owned(), Value::String(self.id()?.into_owned()));
                }
                "_id" => match self.underscore_same {
                    None => {}
                    Some(true) => {
                        out.insert("_id".to_owned(), Value::String(self.id()?.into_owned()));
                    }
                    Some(false) => return None,
                },
                "updatedAt" => match self.updated {
                    Updated::Absent => {}
                    Updated::At(ms) => {
                        out.insert(
                            "updatedAt".to_owned(),
                            Value::String(crate::clock::iso8601(ms)),
                        );
                    }
                    Updated::Unknown => return None,
                },
                _ => return None,
            }
        }
        Some(out)
    }
}

fn text(doc: &Value) -> Box<str> {
    serde_json::to_string(doc)
        .expect("a JSON value serialises")
        .into_boxed_str()
}

fn parse(json: &str) -> Value {
    serde_json::from_str(json).expect("a collection holds valid JSON")
}

/// The documents of one OZmap route, in order, stored as JSON text (see the
/// module docs). Reads like a `Vec<serde_json::Value>`.
pub struct Collection {
    records: Vec<Record>,
    /// Some record may hold a parsed copy (set by `&self` reads too).
    parsed_some: AtomicBool,
    /// The latest `updatedAt` (ms) of a document written as text here.
    latest_ms: i64,
}

impl Default for Collection {
    fn default() -> Self {
        Collection::new()
    }
}

impl Clone for Collection {
    fn clone(&self) -> Self {
        Collection {
            records: self.records.clone(),
            parsed_some: AtomicBool::new(self.parsed_some.load(Ordering::Relaxed)),
            latest_ms: self.latest_ms,
        }
    }
}

impl Collection {
    /// An empty collection.
    pub const fn new() -> Self {
        Collection {
            records: Vec::new(),
            parsed_some: AtomicBool::new(false),
            latest_ms: 0,
        }
    }

    /// How many documents it holds.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    fn mark(&self) {
        self.parsed_some.store(true, Ordering::Relaxed);
    }

    /// The document at `index`.
    pub fn get(&self, index: usize) -> Option<&Value> {
        let record = self.records.get(index)?;
        self.mark();
        Some(record.value())
    }

    /// The document at `index`, to change.
    pub fn get_mut(&mut self, index: usize) -> Option<&mut Value> {
        self.mark();
        Some(self.records.get_mut(index)?.value_mut())
    }

    /// The first document.
    pub fn first(&self) -> Option<&Value> {
        self.get(0)
    }

    /// The last document.
    pub fn last(&self) -> Option<&Value> {
        self.get(self.len().checked_sub(1)?)
    }

    /// The documents in order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Value> + ExactSizeIterator + '_ {
        if !self.records.is_empty() {
            self.mark();
        }
        self.records.iter().map(Record::value)
    }

    /// The documents in order, to change.
    pub fn iter_mut(
        &mut self,
    ) -> impl DoubleEndedIterator<Item = &mut Value> + ExactSizeIterator + '_ {
        if !self.records.is_empty() {
            self.mark();
        }
        self.records.iter_mut().map(Record::value_mut)
    }

    /// Notes a document's `updatedAt` as it is written as text.
    fn note(&mut self, doc: &Value) {
        if let Some(ms) = doc
            .get("updatedAt")
            .and_then(Value::as_str)
            .and_then(crate::clock::parse_iso8601)
        {
            self.latest_ms = self.latest_ms.max(ms);
        }
    }

    fn record(&mut self, doc: &Value) -> Record {
        self.note(doc);
        Record::new(doc)
    }

    /// Appends a document.
    pub fn push(&mut self, doc: Value) {
        let r = self.record(&doc);
        self.records.push(r);
    }

    /// Inserts a document at `index` (as `Vec::insert`).
    pub fn insert(&mut self, index: usize, doc: Value) {
        let r = self.record(&doc);
        self.records.insert(index, r);
    }

    /// Removes and answers the document at `index` (as `Vec::remove`).
    pub fn remove(&mut self, index: usize) -> Value {
        self.records.remove(index).into_value()
    }

    /// Removes and answers the document at `index`, the last one taking its
    /// place (as `Vec::swap_remove`).
    pub fn swap_remove(&mut self, index: usize) -> Value {
        self.records.swap_remove(index).into_value()
    }

    /// Removes and answers the last document.
    pub fn pop(&mut self) -> Option<Value> {
        self.records.pop().map(Record::into_value)
    }

    /// Keeps the documents for which `keep` answers true, in order; the
    /// others are not kept parsed.
    pub fn retain(&mut self, mut keep: impl FnMut(&Value) -> bool) {
        self.records.retain(|r| match r.parsed.get() {
            Some(v) => keep(v),
            None => keep(&parse(&r.json)),
        });
    }

    /// Keeps the documents for which `keep` answers true, letting it change them.
    pub fn retain_mut(&mut self, mut keep: impl FnMut(&mut Value) -> bool) {
        self.mark();
        self.records.retain_mut(|r| keep(r.value_mut()));
    }

    /// Keeps the first `len` documents.
    pub fn truncate(&mut self, len: usize) {
        self.records.truncate(len);
    }

    /// Removes every document.
    pub fn clear(&mut self) {
        self.records.clear();
    }

    /// Removes the documents in `range` and answers them.
    pub fn drain<R: RangeBounds<usize>>(&mut self, range: R) -> std::vec::IntoIter<Value> {
        self.records
            .drain(range)
            .map(Record::into_value)
            .collect::<Vec<_>>()
            .into_iter()
    }

    /// Every document, parsed, as a vector.
    pub fn to_vec(&self) -> Vec<Value> {
        self.records.iter().map(Record::owned).collect()
    }

    /// Writes the documents changed through `&mut` back as JSON text and
    /// drops every parsed copy: what keeps a big network small. The server
    /// does it after every change.
    pub fn compact(&mut self) {
        if self.parsed_some.swap(false, Ordering::Relaxed) {
            let mut latest = self.latest_ms;
            for r in &mut self.records {
                if r.changed
                    && let Some(ms) = r
                        .parsed
                        .get()
                        .and_then(|v| v.get("updatedAt"))
                        .and_then(Value::as_str)
                        .and_then(crate::clock::parse_iso8601)
                {
                    latest = latest.max(ms);
                }
                r.compact();
            }
            self.latest_ms = latest;
        }
    }

    /// The latest `updatedAt` (ms since the epoch) among the documents
    /// written as text here, those since removed included: changes made
    /// through `&mut` count once compacted.
    pub(crate) fn latest_updated_ms(&self) -> i64 {
        self.latest_ms
    }

    /// Keeps the documents at the positions `keep` answers true for, parsing none.
    pub(crate) fn retain_positions(&mut self, mut keep: impl FnMut(usize) -> bool) {
        let mut at = 0;
        self.records.retain(|_| {
            at += 1;
            keep(at - 1)
        });
    }

    /// The positions in order of the documents' ids, when every document
    /// has a text id kept beside its text (none changed since): the order a
    /// sort by `id` gives, ties in insertion order.
    pub(crate) fn positions_by_id(&self) -> Option<Vec<u32>> {
        let mut keyed = Vec::with_capacity(self.records.len());
        for (at, r) in self.records.iter().enumerate() {
            if r.changed {
                return None;
            }
            match &r.kept.id {
                IdText::Absent if r.kept.underscore_same.is_none() => {
                    keyed.push((IdOrder::Missing, at as u32))
                }
                IdText::ObjectId(n) => keyed.push((IdOrder::ObjectId(*n), at as u32)),
                // A text the sort would take for an instant is compared as one.
                IdText::Text(id)
                    if !id.starts_with(|c: char| c.is_ascii_digit())
                        || crate::clock::parse_iso8601(id).is_none() =>
                {
                    keyed.push((IdOrder::Text(id), at as u32))
                }
                _ => return None,
            }
        }
        keyed.sort_by(|(a, _), (b, _)| a.cmp(b));
        Some(keyed.into_iter().map(|(_, at)| at).collect())
    }

    /// The documents' ObjectIds as numbers, ascending, each with its
    /// position, when every document has one kept beside its text (and
    /// `_id` absent or the same, none changed since) or has no id at all
    /// (left out: no comparison of ids lists it).
    pub(crate) fn object_ids_sorted(&self) -> Option<Vec<(u128, u32)>> {
        let mut ids = Vec::with_capacity(self.records.len());
        for (at, r) in self.records.iter().enumerate() {
            match r.kept.id {
                _ if r.changed => return None,
                IdText::ObjectId(n) if r.kept.underscore_same != Some(false) => {
                    ids.push((n, at as u32))
                }
                // No id, or one that is not a string, and no `_id`: no
                // comparison with an id's text lets it through.
                IdText::Absent | IdText::Unknown if r.kept.underscore_same.is_none() => {}
                _ => return None,
            }
        }
        ids.sort_unstable();
        Some(ids)
    }

    /// Every document's position by its `id` (and `_id`, where it differs).
    pub(crate) fn id_index(&self) -> IdIndex {
        let mut index = IdIndex::default();
        for i in 0..self.len() {
            // An ObjectId kept beside the text (and `_id` absent or the
            // same) goes in as its number, never written out.
            let r = &self.records[i];
            if r.parsed.get().is_none()
                && let IdText::ObjectId(n) = r.kept.id
                && r.kept.underscore_same != Some(false)
            {
                index.hex.entry(n).or_insert(i as u32);
                continue;
            }
            let doc = self.fields(i, &["id", "_id"]);
            for key in ["id", "_id"] {
                if let Some(v) = doc.get(key).and_then(Value::as_str) {
                    index.insert(v, i);
                }
            }
        }
        index
    }

    // ---- what the server uses, without keeping parsed copies ----

    /// The document at `index` as JSON text.
    pub(crate) fn json(&self, index: usize) -> std::borrow::Cow<'_, str> {
        let r = &self.records[index];
        match r.parsed.get() {
            Some(v) if r.changed => text(v).into_string().into(),
            _ => (&*r.json).into(),
        }
    }

    /// The document at `index`, parsed for the caller alone.
    pub(crate) fn owned(&self, index: usize) -> Value {
        self.records[index].owned()
    }

    /// The top-level fields `keys` of the document at `index` (those it has),
    /// as an object: what a filter, a sort or a `select` needs, without
    /// parsing the rest.
    pub(crate) fn fields(&self, index: usize, keys: &[&str]) -> Value {
        let r = &self.records[index];
        if let Some(v) = r.parsed.get() {
            let mut out = Map::new();
            for k in keys {
                if let Some(x) = v.get(*k) {
                    out.insert((*k).to_owned(), x.clone());
                }
            }
            return Value::Object(out);
        }
        if let Some(ids) = r.kept.fields(keys) {
            return Value::Object(ids);
        }
        Value::Object(pick(&r.json, keys))
    }

    /// The `updatedAt` of the document at `index` when kept beside it (not
    /// parsed since): `Some(None)` when it has none, `None` when it must be
    /// read from the document.
    pub(crate) fn kept_updated(&self, index: usize) -> Option<Option<i64>> {
        let r = &self.records[index];
        if r.parsed.get().is_some() {
            return None;
        }
        match r.kept.updated {
            Updated::Absent => Some(None),
            Updated::At(ms) => Some(Some(ms)),
            Updated::Unknown => None,
        }
    }

    /// Writes `{"id": ...}` of the document at `index` onto `out`, as
    /// `select=id` shapes it, when its id is kept beside it (the document
    /// not parsed since); answers whether it did.
    pub(crate) fn write_id_only(&self, index: usize, out: &mut String) -> bool {
        let r = &self.records[index];
        if r.parsed.get().is_some() {
            return false;
        }
        match &r.kept.id {
            IdText::Absent => out.push_str("{}"),
            IdText::ObjectId(n) => {
                out.push_str(r#"{"id":""#);
                out.push_str(std::str::from_utf8(&hex24(*n)).expect("hex digits are ASCII"));
                out.push_str(r#""}"#);
            }
            IdText::Text(id) => {
                out.push_str(r#"{"id":"#);
                out.push_str(&Value::String(id.to_string()).to_string());
                out.push('}');
            }
            IdText::Unknown => return false,
        }
        true
    }

    /// Replaces the document at `index`, written as text at once.
    pub(crate) fn set(&mut self, index: usize, doc: Value) {
        self.records[index] = self.record(&doc);
    }

    /// Changes the document at `index` through `f`, written back as text at once.
    pub(crate) fn update<R>(&mut self, index: usize, f: impl FnOnce(&mut Value) -> R) -> R {
        let mut doc = self.owned(index);
        let out = f(&mut doc);
        self.set(index, doc);
        out
    }

    /// The position of the first document whose fields `keys` pass `test`.
    pub(crate) fn position_where(
        &self,
        keys: &[&str],
        mut test: impl FnMut(&Value) -> bool,
    ) -> Option<usize> {
        (0..self.len()).find(|&i| test(&self.fields(i, keys)))
    }

    /// The position of the document whose `id` (or `_id`) is `id`.
    pub(crate) fn position_of_id(&self, id: &str) -> Option<usize> {
        self.position_where(&["id", "_id"], |d| crate::network::doc_id(d) == Some(id))
    }
}

/// Positions by id: 24-hex ObjectIds as numbers (a fraction of the memory of
/// strings, for a million of them), other ids as strings. The first
/// position given for an id stays.
#[derive(Default)]
pub(crate) struct IdIndex {
    hex: HashMap<u128, u32>,
    other: HashMap<String, u32>,
}

impl IdIndex {
    fn hex(id: &str) -> Option<u128> {
        (id.len() == 24 && id.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| u128::from_str_radix(id, 16).ok())
            .flatten()
    }

    pub(crate) fn insert(&mut self, id: &str, at: usize) {
        match IdIndex::hex(id) {
            Some(k) => self.hex.entry(k).or_insert(at as u32),
            None => self.other.entry(id.to_owned()).or_insert(at as u32),
        };
    }

    /// Points `id` at `at`, whatever it pointed at.
    pub(crate) fn set(&mut self, id: &str, at: usize) {
        match IdIndex::hex(id) {
            Some(k) => self.hex.insert(k, at as u32),
            None => self.other.insert(id.to_owned(), at as u32),
        };
    }

    pub(crate) fn remove(&mut self, id: &str) -> Option<usize> {
        match IdIndex::hex(id) {
            Some(k) => self.hex.remove(&k),
            None => self.other.remove(id),
        }
        .map(|at| at as usize)
    }

    pub(crate) fn get(&self, id: &str) -> Option<usize> {
        match IdIndex::hex(id) {
            Some(k) => self.hex.get(&k),
            None => self.other.get(id),
        }
        .map(|&at| at as usize)
    }
}

/// The top-level `keys` of the JSON object `json`, parsing only their values
/// and stopping once all are found: the other values are skipped over by a
/// scan of their brackets and strings.
fn pick(json: &str, keys: &[&str]) -> Map<String, Value> {
    let mut out = Map::new();
    let b = json.as_bytes();
    let mut i = skip_space(b, 0);
    if keys.is_empty() || b.get(i) != Some(&b'{') {
        return out;
    }
    i += 1;
    loop {
        i = skip_space(b, i);
        match b.get(i) {
            None | Some(b'}') => return out,
            Some(b',') => {
                i += 1;
                continue;
            }
            Some(b'"') => {}
            Some(_) => return out,
        }
        let key_end = skip_string(b, i);
        let raw = &json[i + 1..key_end.saturating_sub(1).max(i + 1)];
        let key: std::borrow::Cow<'_, str> = if raw.contains('\\') {
            serde_json::from_str::<String>(&json[i..key_end]).map_or(raw.into(), Into::into)
        } else {
            raw.into()
        };
        i = skip_space(b, key_end);
        if b.get(i) != Some(&b':') {
            return out;
        }
        i = skip_space(b, i + 1);
        let value_end = skip_value(b, i);
        if let Some(wanted) = keys.iter().find(|k| **k == key)
            && !out.contains_key(*wanted)
        {
            let value = serde_json::from_str(&json[i..value_end]).unwrap_or(Value::Null);
            out.insert((*wanted).to_owned(), value);
            if out.len() == keys.len() {
                return out;
            }
        }
        i = value_end;
    }
}

fn skip_space(b: &[u8], mut i: usize) -> usize {
    while b.get(i).is_some_and(u8::is_ascii_whitespace) {
        i += 1;
    }
    i
}

/// Past the string opening at `i` (on its `"`).
fn skip_string(b: &[u8], mut i: usize) -> usize {
    i += 1;
    while let Some(c) = b.get(i) {
        match c {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    b.len()
}

/// Past the value starting at `i`.
fn skip_value(b: &[u8], mut i: usize) -> usize {
    match b.get(i) {
        Some(b'"') => skip_string(b, i),
        Some(b'{' | b'[') => {
            let mut depth = 0usize;
            while let Some(c) = b.get(i) {
                match c {
                    b'"' => {
                        i = skip_string(b, i);
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return i + 1;
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            b.len()
        }
        _ => {
            while b
                .get(i)
                .is_some_and(|c| !matches!(c, b',' | b'}' | b']') && !c.is_ascii_whitespace())
            {
                i += 1;
            }
            i
        }
    }
}

impl Index<usize> for Collection {
    type Output = Value;

    fn index(&self, index: usize) -> &Value {
        self.get(index).unwrap_or_else(|| {
            panic!(
                "index out of bounds: the len is {} but the index is {index}",
                self.len()
            )
        })
    }
}

impl IndexMut<usize> for Collection {
    fn index_mut(&mut self, index: usize) -> &mut Value {
        let len = self.len();
        self.get_mut(index).unwrap_or_else(|| {
            panic!("index out of bounds: the len is {len} but the index is {index}")
        })
    }
}

impl PartialEq for Collection {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len()
            && self.records.iter().zip(&other.records).all(|(a, b)| {
                match (a.parsed.get(), b.parsed.get()) {
                    (None, None) => a.json == b.json || parse(&a.json) == parse(&b.json),
                    _ => a.owned() == b.owned(),
                }
            })
    }
}

impl PartialEq<[Value]> for Collection {
    fn eq(&self, other: &[Value]) -> bool {
        self.len() == other.len() && self.records.iter().zip(other).all(|(a, b)| a.owned() == *b)
    }
}

impl PartialEq<Vec<Value>> for Collection {
    fn eq(&self, other: &Vec<Value>) -> bool {
        *self == other[..]
    }
}

impl fmt::Debug for Collection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.records.iter().map(Record::owned))
            .finish()
    }
}

impl From<Vec<Value>> for Collection {
    fn from(docs: Vec<Value>) -> Self {
        docs.into_iter().collect()
    }
}

impl FromIterator<Value> for Collection {
    fn from_iter<I: IntoIterator<Item = Value>>(iter: I) -> Self {
        let mut c = Collection::new();
        c.extend(iter);
        c
    }
}

impl Extend<Value> for Collection {
    fn extend<I: IntoIterator<Item = Value>>(&mut self, iter: I) {
        for doc in iter {
            self.push(doc);
        }
    }
}

impl<'a> IntoIterator for &'a Collection {
    type Item = &'a Value;
    type IntoIter = Box<dyn DoubleEndedIterator<Item = &'a Value> + 'a>;

    fn into_iter(self) -> Self::IntoIter {
        Box::new(self.iter())
    }
}

impl<'a> IntoIterator for &'a mut Collection {
    type Item = &'a mut Value;
    type IntoIter = Box<dyn DoubleEndedIterator<Item = &'a mut Value> + 'a>;

    fn into_iter(self) -> Self::IntoIter {
        Box::new(self.iter_mut())
    }
}

impl IntoIterator for Collection {
    type Item = Value;
    type IntoIter = std::vec::IntoIter<Value>;

    fn into_iter(self) -> Self::IntoIter {
        self.records
            .into_iter()
            .map(Record::into_value)
            .collect::<Vec<_>>()
            .into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_and_changes_like_a_vector_and_compacts() {
        let mut c: Collection = vec![json!({"id": "a", "n": 1}), json!({"id": "b", "n": 2})].into();
        assert_eq!(c.len(), 2);
        assert_eq!(c[1]["n"], 2);
        c[0]["n"] = json!(10);
        assert_eq!(
            c.json(0),
            r#"{"id":"a","n":10}"#,
            "a changed document reads as changed"
        );
        c.compact();
        assert!(
            c.records
                .iter()
                .all(|r| r.parsed.get().is_none() && !r.changed)
        );
        assert_eq!(&*c.records[0].json, r#"{"id":"a","n":10}"#);
        c.push(json!({"id": "c"}));
        c.retain(|d| d["id"] != "b");
        assert_eq!(
            c.iter().map(|d| d["id"].clone()).collect::<Vec<_>>(),
            [json!("a"), json!("c")]
        );
        assert_eq!(c.remove(0)["n"], 10);
        assert_eq!(c.position_of_id("c"), Some(0));
        assert_eq!(c, vec![json!({"id": "c"})]);
    }

    #[test]
    fn answers_ids_as_the_documents_hold_them_after_changes_too() {
        let docs = vec![
            json!({"_id": "x", "id": "65d7361d727622000000000e", "n": 1}),
            json!({"_id": "65d7361d727622000000000d", "id": "65d7361d727622000000000d",
                   "updatedAt": "2022-03-24T23:11:06.128Z"}),
            json!({"id": "000000000000000000000003", "updatedAt": "2022-03-24T23:11:06Z"}),
            json!({"id": "000000000000000000000004", "updatedAt": 17}),
            json!({"id": "000000000000000000000001"}),
            json!({"id": "65D7361D727622000000000E"}),
            json!({"id": "p-1"}),
            json!({"id": 7}),
            json!({"_id": "only"}),
        ];
        let mut c: Collection = docs.clone().into();
        for keys in [
            &["id"][..],
            &["id", "_id"],
            &["_id"],
            &["_id", "id", "n"],
            &["updatedAt", "id", "_id"],
        ] {
            let got: Vec<Value> = (0..c.len()).map(|i| c.fields(i, keys)).collect();
            let expected: Vec<Value> = docs
                .iter()
                .map(|d| Value::Object(pick(&d.to_string(), keys)))
                .collect();
            assert_eq!(got, expected, "{keys:?}");
        }
        c[0]["id"] = json!("65d7361d727622000000000f");
        assert_eq!(
            c.fields(0, &["id"]),
            json!({"id": "65d7361d727622000000000f"})
        );
        c.compact();
        assert_eq!(
            c.fields(0, &["id"]),
            json!({"id": "65d7361d727622000000000f"})
        );
        c[2].as_object_mut().unwrap().remove("id");
        c.compact();
        assert_eq!(c.fields(2, &["id"]), json!({}));
        assert_eq!(
            c.fields(1, &["id", "_id"]),
            json!({"id": "65d7361d727622000000000d", "_id": "65d7361d727622000000000d"})
        );
    }

    #[test]
    fn the_index_of_ids_finds_either_key_as_a_scan_does() {
        let mut c: Collection = vec![
            json!({"_id": "x", "id": "65d7361d727622000000000e"}),
            json!({"_id": "65d7361d727622000000000d", "id": "65d7361d727622000000000d"}),
            json!({"id": "65d7361d727622000000000d"}),
            json!({"id": "p-1"}),
            json!({"_id": "only"}),
            json!({"id": "000000000000000000000001"}),
        ]
        .into();
        c[5]["id"] = json!("000000000000000000000002");
        let ids = [
            "x",
            "65d7361d727622000000000e",
            "65d7361d727622000000000d",
            "p-1",
            "only",
            "000000000000000000000001",
            "000000000000000000000002",
            "absent",
        ];
        let index = c.id_index();
        for id in ids {
            // Either key names a document.
            let scanned = c.position_where(&["id", "_id"], |d| {
                d.get("id").and_then(Value::as_str) == Some(id)
                    || d.get("_id").and_then(Value::as_str) == Some(id)
            });
            assert_eq!(index.get(id), scanned, "{id}");
        }
        for n in [0, 1, 0xabc, u128::MAX >> 32] {
            assert_eq!(object_id(n), format!("{n:024x}"));
        }
    }

    #[test]
    fn an_id_only_row_is_the_selected_id() {
        let docs = vec![
            json!({"_id": "x", "id": "65d7361d727622000000000e", "n": 1}),
            json!({"id": "p-\"1\"", "n": 2}),
            json!({"id": 7}),
            json!({"_id": "only"}),
        ];
        let mut c: Collection = docs.clone().into();
        let selected = |c: &Collection, i: usize| {
            crate::query::select(&c.fields(i, &["id"]), &["id".to_owned()])
        };
        for (i, doc) in docs.iter().enumerate() {
            let mut out = String::new();
            if c.write_id_only(i, &mut out) {
                let written: Value = serde_json::from_str(&out).unwrap();
                assert_eq!(written, selected(&c, i), "{doc}");
            } else {
                assert_eq!(doc["id"], json!(7), "only an id that is not text is read");
            }
        }
        // Changed and not yet compacted: the document is read instead.
        c[0]["id"] = json!("65d7361d727622000000000f");
        assert!(!c.write_id_only(0, &mut String::new()));
        c.compact();
        let mut out = String::new();
        assert!(c.write_id_only(0, &mut out));
        assert_eq!(out, r#"{"id":"65d7361d727622000000000f"}"#);
    }

    #[test]
    fn positions_by_id_are_the_order_of_the_id_strings() {
        let network = crate::generate(&crate::GeneratorConfig::small());
        let docs = &network.properties;
        let mut expected: Vec<(String, u32)> = (0..docs.len())
            .map(|i| {
                (
                    docs.fields(i, &["id"])["id"].as_str().unwrap().to_owned(),
                    i as u32,
                )
            })
            .collect();
        expected.sort();
        let expected: Vec<u32> = expected.into_iter().map(|(_, i)| i).collect();
        assert_eq!(docs.positions_by_id(), Some(expected));

        let mut c: Collection = vec![
            json!({"id": "000000000000000000000002"}),
            json!({"id": "p-1"}),
            json!({"id": "000000000000000000000001a"}),
        ]
        .into();
        assert_eq!(c.positions_by_id(), Some(vec![2, 0, 1]), "text order");
        c[0]["id"] = json!("q");
        assert_eq!(c.positions_by_id(), None, "a change not yet compacted");
        c.compact();
        assert_eq!(c.positions_by_id(), Some(vec![2, 1, 0]));
        c.push(json!({"name": "no id"}));
        assert_eq!(c.positions_by_id(), Some(vec![3, 2, 1, 0]), "missing first");
        c.push(json!({"id": 5}));
        assert_eq!(c.positions_by_id(), None, "an id that is not text");
        c[4]["id"] = json!("2021-01-01T00:00:00Z");
        c.compact();
        assert_eq!(
            c.positions_by_id(),
            None,
            "an id a sort compares as an instant"
        );
    }

    #[test]
    fn picks_top_level_fields_only() {
        let json = r#"{"a": {"id": "inner", "x": ["}", "\"]"]}, "id": "x", "s": "q\"uote", "n": [1, 2], "z": null, "t": true}"#;
        let got = pick(json, &["id", "n", "missing"]);
        assert_eq!(Value::Object(got), json!({"id": "x", "n": [1, 2]}));
        assert_eq!(
            Value::Object(pick(json, &["s", "z"])),
            json!({"s": "q\"uote", "z": null})
        );
        assert!(pick(json, &[]).is_empty());
        assert_eq!(
            Value::Object(pick(json, &["t", "a"])),
            json!({"t": true, "a": {"id": "inner", "x": ["}", "\"]"]}})
        );
        assert_eq!(
            Value::Object(pick(r#"{"k\u0065y": 1}"#, &["key"])),
            json!({"key": 1})
        );
    }
}
