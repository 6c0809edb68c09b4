//! A page of a list, parsed for what mapsync reads of it.
//!
//! A record carries far more than the readers look at (a property's
//! history, drop, audit fields, ...): parsing each of those into a
//! `serde_json::Value`, a map and a string per field, was most of the
//! component's work in a sync. Here each row is a [`Row`]: only the fields
//! in [`records::READ_FIELDS`], whole (nested objects included), each
//! under that list's own name, so no key is allocated, sorted or compared
//! letter by letter in a map; the other fields are checked as JSON and
//! skipped without being built, and so are those of the objects nested in
//! a splitter's ports and a property's connections that no reader looks
//! at ([`records::READ_NESTED`]). The rest of the page (`total`, `nextUrl`,
//! ...) is parsed as it is.

use std::borrow::Cow;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::records::{self, Record, same_name};

/// One row of a page.
#[derive(Clone, Debug, PartialEq)]
pub enum Row {
    /// An object: its read fields, in the order sent.
    Fields(Vec<(&'static str, Value)>),
    /// Anything else, as it is: no reader finds a field in it.
    Other(Value),
}

impl Record for Row {
    fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Row::Fields(fields) => fields
                .iter()
                .find(|(k, _)| same_name(k, key))
                .map(|(_, v)| v),
            Row::Other(_) => None,
        }
    }
}

impl Row {
    /// The row as JSON: an object of its read fields, or what it was.
    pub fn into_value(self) -> Value {
        match self {
            Row::Fields(fields) => Value::Object(
                fields
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect(),
            ),
            Row::Other(value) => value,
        }
    }
}

/// A page's answer: its rows and what else it said.
#[derive(Debug, Default, PartialEq)]
pub struct Page {
    /// `rows`, or the answer itself when it is a bare list.
    pub rows: Vec<Row>,
    /// The answer was a bare list, as some servers send small lists.
    pub bare: bool,
    /// The answer's other fields (`total`, `hasNextPage`, `nextUrl`, ...).
    pub rest: Map<String, Value>,
    /// Why the answer is no page, when it is valid JSON of another shape.
    pub unlike: Option<&'static str>,
}

/// Parse a page's body: JSON, as `serde_json::from_slice` would take it,
/// of which each row of `rows` (or of a bare list) keeps the read fields.
pub fn parse(body: &[u8]) -> serde_json::Result<Page> {
    // Checked as UTF-8 once, whole, rather than string by string as they
    // are read: in WebAssembly that check goes four bytes at a time, and a
    // call for each of a page's thousands of strings cost more than the
    // one pass. A body that is not UTF-8 is read as bytes, as before: a
    // read field that is not is refused with serde_json's error naming
    // where, one skipped unread is not looked at.
    match std::str::from_utf8(body) {
        Ok(text) => read(serde_json::Deserializer::from_str(text)),
        Err(_) => read(serde_json::Deserializer::from_slice(body)),
    }
}

fn read<'de, R: serde_json::de::Read<'de>>(
    mut de: serde_json::Deserializer<R>,
) -> serde_json::Result<Page> {
    let page = de.deserialize_any(PageVisitor)?;
    de.end()?;
    Ok(page)
}

/// A key, borrowed from the body when it holds no escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// Builds a [`Value`] out of any JSON value a visitor is handed, for the
/// visitors below, which build something else of objects and lists.
macro_rules! scalars_as_values {
    ($make:expr) => {
        fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
            Ok(($make)(Value::Bool(v)))
        }
        fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
            Ok(($make)(Value::from(v)))
        }
        fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
            Ok(($make)(Value::from(v)))
        }
        fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
            Ok(($make)(Value::from(v)))
        }
        fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
            Ok(($make)(Value::String(v.to_owned())))
        }
        fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
            Ok(($make)(Value::String(v)))
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(($make)(Value::Null))
        }
        fn visit_none<E>(self) -> Result<Self::Value, E> {
            Ok(($make)(Value::Null))
        }
    };
}

/// The answer: an object whose `rows` are rows, or a bare list of rows.
struct PageVisitor;

impl<'de> Visitor<'de> for PageVisitor {
    type Value = Page;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a page of rows")
    }

    scalars_as_values!(|_| Page {
        unlike: Some("the answer is neither a page nor a list"),
        ..Page::default()
    });

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Page, A::Error> {
        Ok(Page {
            rows: rows(seq)?,
            bare: true,
            ..Page::default()
        })
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Page, A::Error> {
        let mut page = Page::default();
        while let Some(Key(key)) = map.next_key()? {
            if key == "rows" {
                match map.next_value_seed(RowsSeed)? {
                    Some(rows) => page.rows = rows,
                    None => page.unlike = Some("`rows` is not a list"),
                }
            } else {
                page.rest.insert(key.into_owned(), map.next_value()?);
            }
        }
        Ok(page)
    }
}

fn rows<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<Vec<Row>, A::Error> {
    let mut rows = Vec::with_capacity(seq.size_hint().unwrap_or(0));
    while let Some(row) = seq.next_element_seed(RowSeed)? {
        rows.push(row);
    }
    Ok(rows)
}

/// The value of `rows`: its rows when a list, none when `null`; anything
/// else is read, and answers `Err` as "not a list".
struct RowsSeed;

impl<'de> DeserializeSeed<'de> for RowsSeed {
    type Value = Option<Vec<Row>>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for RowsSeed {
    type Value = Option<Vec<Row>>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of rows")
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Some(Vec::new()))
    }

    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(Some(Vec::new()))
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(None)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        rows(seq).map(Some)
    }
}

/// `key`'s name in [`records::READ_FIELDS`], if it is one.
fn read_field(key: &str) -> Option<&'static str> {
    records::READ_FIELDS
        .iter()
        .copied()
        .find(|name| same_name(name, key))
}

/// One row: an object keeps its read fields, anything else is kept whole.
struct RowSeed;

impl<'de> DeserializeSeed<'de> for RowSeed {
    type Value = Row;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Row, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for RowSeed {
    type Value = Row;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a record")
    }

    scalars_as_values!(Row::Other);

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Row, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Row::Other(Value::Array(items)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Row, A::Error> {
        let mut fields: Vec<(&'static str, Value)> = Vec::new();
        while let Some(Key(key)) = map.next_key()? {
            match read_field(&key) {
                Some(name) => {
                    let value = match records::read_nested(name) {
                        Some(read) => map.next_value_seed(Nested(read))?,
                        None => map.next_value()?,
                    };
                    // A key sent twice counts once, its last value, as in a
                    // map. Names are READ_FIELDS' own: one is found by address.
                    match fields.iter_mut().find(|(k, _)| std::ptr::eq(*k, name)) {
                        Some(field) => field.1 = value,
                        None => fields.push((name, value)),
                    }
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Row::Fields(fields))
    }
}

/// A read field's value whose objects, however deep in lists, keep only
/// the fields `.0` names (see [`records::READ_NESTED`]); the rest is
/// checked as JSON and skipped. Anything else is kept as it is.
struct Nested(&'static [&'static str]);

impl<'de> DeserializeSeed<'de> for Nested {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Nested {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a value")
    }

    scalars_as_values!(|v| v);

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element_seed(Nested(self.0))? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut kept = Map::new();
        while let Some(Key(key)) = map.next_key()? {
            if self.0.iter().any(|name| same_name(name, &key)) {
                kept.insert(key.into_owned(), map.next_value()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(Value::Object(kept))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rows_keep_the_read_fields_whole_and_the_rest_of_the_page_as_it_is() {
        let body = json!({
            "total": 3, "count": 3, "start": 0, "limit": 500, "hasNextPage": false,
            "nextUrl": null, "extra": {"history": [1, 2]},
            "rows": [
                {"_id": "a", "id": "a", "name": "P\u{e9} \"1\"", "history": {"clients": [{"x": 1}]},
                 "connections": [{"id": "s", "port": 2, "kind": "Splitter", "fiber": "f"}],
                 "coords": [-48.5, -27.6], "createdAt": "2021", "drop": "d", "potencyRead": -18.5},
                "not a record",
                {"id": 7, "client": {"id": "c", "code": "9", "onu": {"serial_number": "s"}, "junk": 1}}
            ]
        });
        let page = parse(body.to_string().as_bytes()).unwrap();
        assert_eq!(
            Value::Object(page.rest),
            json!({
                "total": 3, "count": 3, "start": 0, "limit": 500, "hasNextPage": false,
                "nextUrl": null, "extra": {"history": [1, 2]},
            })
        );
        assert!(!page.bare && page.unlike.is_none());
        assert_eq!(page.rows[0].get("name"), Some(&json!("P\u{e9} \"1\"")));
        assert_eq!(page.rows[0].get("drop"), None);
        assert_eq!(page.rows[1].get("id"), None);
        assert_eq!(
            Value::Array(page.rows.into_iter().map(Row::into_value).collect()),
            json!([
                {"_id": "a", "id": "a", "name": "P\u{e9} \"1\"",
                 "connections": [{"id": "s", "port": 2, "kind": "Splitter"}],
                 "coords": [-48.5, -27.6]},
                "not a record",
                {"id": 7, "client": {"id": "c", "code": "9", "onu": {"serial_number": "s"}, "junk": 1}}
            ])
        );
        let bare = parse(
            json!([{"id": "a", "drop": "d"}, [1, {"drop": 2}]])
                .to_string()
                .as_bytes(),
        )
        .unwrap();
        assert!(bare.bare && bare.rest.is_empty());
        assert_eq!(
            Value::Array(bare.rows.into_iter().map(Row::into_value).collect()),
            json!([{"id": "a"}, [1, {"drop": 2}]])
        );
        // A field sent twice counts once, its last value, as in a JSON map.
        let twice = parse(br#"[{"id": "a", "name": "x", "id": "b"}]"#).unwrap();
        assert_eq!(twice.rows[0].get("id"), Some(&json!("b")));
        assert_eq!(
            twice.rows[0].clone().into_value(),
            json!({"id": "b", "name": "x"})
        );
    }

    /// The objects under a field of `READ_NESTED` keep the fields read of
    /// them, in lists as deep as they come; the rest of the value is as sent.
    #[test]
    fn nested_objects_keep_the_fields_read_of_them() {
        let body = json!({"rows": [{
            "id": "s",
            "ports": [
                {"blocked": false, "id": "p1", "index": 0, "observation": "", "tags": []},
                {"blocked": true, "id": "p2", "tags": [{"blocked": 1}]},
                null, 3, [{"blocked": true, "x": 1}], {}
            ],
            "connections": {"id": "c", "kind": "Splitter", "port": 1, "fiber": "f", "blocked": true},
            "onu": {"serial_number": "s", "other": 1}
        }]});
        let page = parse(body.to_string().as_bytes()).unwrap();
        assert_eq!(
            page.rows[0].clone().into_value(),
            json!({
                "id": "s",
                "ports": [{"blocked": false}, {"blocked": true}, null, 3, [{"blocked": true}], {}],
                "connections": {"id": "c", "kind": "Splitter", "port": 1},
                "onu": {"serial_number": "s", "other": 1}
            })
        );
        let twice = parse(br#"[{"ports": [{"blocked": false, "blocked": true}]}]"#).unwrap();
        assert_eq!(
            twice.rows[0].get("ports"),
            Some(&json!([{"blocked": true}]))
        );
    }

    /// Valid JSON of another shape parses, and says why it is no page.
    #[test]
    fn an_answer_of_another_shape_says_so() {
        let unlike = |body: &str| parse(body.as_bytes()).unwrap().unlike;
        assert_eq!(
            unlike(r#"{"rows": "x", "total": 1}"#),
            Some("`rows` is not a list")
        );
        assert_eq!(
            unlike(r#"{"rows": {"a": [1]}}"#),
            Some("`rows` is not a list")
        );
        assert_eq!(
            unlike(r#""a page""#),
            Some("the answer is neither a page nor a list")
        );
        assert_eq!(
            unlike("null"),
            Some("the answer is neither a page nor a list")
        );
        let empty = parse(br#"{"rows": null, "total": 0}"#).unwrap();
        assert_eq!((empty.rows.len(), empty.unlike), (0, None));
    }

    /// Every reader reads the same from a generated network's rows kept
    /// whole and kept to the read fields: no field a reader uses is left out.
    #[test]
    fn readers_read_the_same_from_kept_fields_as_from_whole_records() {
        use ozmap_test_server::{GeneratorConfig, generate};
        let network = generate(&GeneratorConfig::small());
        let both = |docs: &ozmap_test_server::Collection| {
            let whole = docs.to_vec();
            let kept = parse(Value::Array(whole.clone()).to_string().as_bytes()).unwrap();
            assert!(!whole.is_empty());
            whole.into_iter().zip(kept.rows).collect::<Vec<_>>()
        };
        let types = |t: &str| Some(t.len().is_multiple_of(2));
        for (whole, kept) in both(&network.projects) {
            assert_eq!(records::project(&whole), records::project(&kept));
        }
        for (whole, kept) in both(&network.poles) {
            assert_eq!(records::pole(&whole), records::pole(&kept));
        }
        for (whole, kept) in both(&network.boxes) {
            assert_eq!(records::network_box(&whole), records::network_box(&kept));
        }
        for (whole, kept) in both(&network.splitters) {
            assert_eq!(
                records::splitter(&whole, types),
                records::splitter(&kept, types)
            );
        }
        for (whole, kept) in both(&network.splitter_types) {
            assert_eq!(whole.get("isDrop"), kept.get("isDrop"));
            assert_eq!(records::id_of(&whole), records::id_of(&kept));
        }
        for (whole, kept) in both(&network.ftth_clients) {
            assert_eq!(records::client(&whole), records::client(&kept));
        }
        for (whole, kept) in both(&network.properties) {
            assert_eq!(records::property(&whole), records::property(&kept));
            assert_eq!(whole.get("updatedAt"), kept.get("updatedAt"));
        }
    }

    #[test]
    fn what_is_not_json_is_refused_as_serde_json_refuses_it() {
        for body in ["", "{", r#"{"rows": [{"id": "a", "drop": tru}]}"#, "[] x"] {
            assert!(parse(body.as_bytes()).is_err(), "{body:?}");
            assert!(serde_json::from_slice::<Value>(body.as_bytes()).is_err());
        }
        // Not UTF-8 in a read field: refused, where serde_json says; in a
        // field skipped unread, it is not looked at.
        let body = b"[{\"drop\": \"\xc3\", \"id\": \"a\xff\"}]";
        let ours = parse(body).unwrap_err().to_string();
        let theirs = serde_json::from_slice::<Value>(b"[{\"id\": \"a\xff\"}]")
            .unwrap_err()
            .to_string();
        assert_eq!(ours.split(" at ").next(), theirs.split(" at ").next());
        let skipped = parse(b"[{\"drop\": \"\xc3\", \"id\": \"a\"}]").unwrap();
        assert_eq!(records::id_of(&skipped.rows[0]).as_deref(), Some("a"));
    }
}
