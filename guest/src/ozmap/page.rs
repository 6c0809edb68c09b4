//! A page of a list, parsed for what mapsync reads of it.
//!
//! A record carries far more than the readers look at (a property's
//! history, drop, audit fields, ...): parsing each of those into a
//! `serde_json::Value`, a map and a string per field, was most of the
//! component's work in a sync. Here each row keeps only the fields in
//! [`records::READ_FIELDS`], whole (nested objects included); the others
//! are checked as JSON and skipped without being built. Everything else
//! of the page (its shape, `total`, `nextUrl`, rows that are not
//! objects) is parsed as it is.

use std::borrow::Cow;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::records;

/// Parse a page's body: a JSON value as `serde_json::from_slice` would,
/// except that each row of `rows` (or of a bare array) holds only the
/// fields the readers use.
pub fn parse(body: &[u8]) -> serde_json::Result<Value> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let page = Part::Page.deserialize(&mut de)?;
    de.end()?;
    Ok(page)
}

/// Which part of a page a value is, which says how much of it to keep.
#[derive(Clone, Copy)]
enum Part {
    /// The answer: an object whose `rows` are rows, or a bare list of rows.
    Page,
    /// The value of `rows`: a list of rows.
    Rows,
    /// One record: an object of which only the read fields are kept.
    Row,
    /// Anything else: kept whole.
    Whole,
}

impl<'de> DeserializeSeed<'de> for Part {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        match self {
            Part::Whole => serde::Deserialize::deserialize(deserializer),
            _ => deserializer.deserialize_any(self),
        }
    }
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

impl<'de> Visitor<'de> for Part {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        self.deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let each = match self {
            Part::Page | Part::Rows => Part::Row,
            Part::Row | Part::Whole => Part::Whole,
        };
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element_seed(each)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut fields = Map::new();
        while let Some(Key(key)) = map.next_key()? {
            let part = match self {
                Part::Page if key == "rows" => Part::Rows,
                Part::Row if !records::READ_FIELDS.contains(&&*key) => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
                _ => Part::Whole,
            };
            fields.insert(key.into_owned(), map.next_value_seed(part)?);
        }
        Ok(Value::Object(fields))
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
            page,
            json!({
                "total": 3, "count": 3, "start": 0, "limit": 500, "hasNextPage": false,
                "nextUrl": null, "extra": {"history": [1, 2]},
                "rows": [
                    {"_id": "a", "id": "a", "name": "P\u{e9} \"1\"",
                     "connections": [{"id": "s", "port": 2, "kind": "Splitter", "fiber": "f"}],
                     "coords": [-48.5, -27.6]},
                    "not a record",
                    {"id": 7, "client": {"id": "c", "code": "9", "onu": {"serial_number": "s"}, "junk": 1}}
                ]
            })
        );
        let bare = json!([{"id": "a", "drop": "d"}, [1, {"drop": 2}]]);
        assert_eq!(
            parse(bare.to_string().as_bytes()).unwrap(),
            json!([{"id": "a"}, [1, {"drop": 2}]])
        );
    }

    /// Every reader reads the same from a generated network's rows kept
    /// whole and kept to the read fields: no field a reader uses is left out.
    #[test]
    fn readers_read_the_same_from_kept_fields_as_from_whole_records() {
        use ozmap_test_server::{GeneratorConfig, generate};
        let network = generate(&GeneratorConfig::small());
        let both = |docs: &ozmap_test_server::Collection| {
            let whole = Value::Array(docs.to_vec());
            let kept = parse(whole.to_string().as_bytes()).unwrap();
            let (Value::Array(whole), Value::Array(kept)) = (whole, kept) else {
                unreachable!()
            };
            assert!(!whole.is_empty());
            whole.into_iter().zip(kept).collect::<Vec<_>>()
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
    }
}
