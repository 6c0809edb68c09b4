//! Filters, sorts and field selection as OZmap's list routes take them.

use std::cmp::Ordering;

use serde_json::{Map, Value};

use crate::clock;
use crate::pattern::Pattern;

/// A parsed filter: top-level conditions are ANDed, a nested array is an ORed
/// group, and nesting alternates from there.
#[derive(Clone, Debug)]
pub(crate) enum Filter {
    All(Vec<Filter>),
    Any(Vec<Filter>),
    Cond {
        path: Vec<String>,
        op: Op,
        value: Value,
    },
}

#[derive(Clone, Debug)]
pub(crate) enum Op {
    Eq,
    Ne,
    Like(Pattern),
    Lt,
    Le,
    Gt,
    Ge,
    In,
    NotIn,
    Exists(bool),
    All,
}

/// Parses a filter JSON value (array, single condition or null) into a filter.
pub(crate) fn parse_filter(v: &Value) -> Result<Filter, String> {
    parse_group(v, true)
}

fn parse_group(v: &Value, and: bool) -> Result<Filter, String> {
    match v {
        Value::Null => Ok(Filter::All(Vec::new())),
        Value::Array(items) => {
            let parts = items
                .iter()
                .map(|item| match item {
                    Value::Array(_) => parse_group(item, !and),
                    _ => parse_cond(item),
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(if and {
                Filter::All(parts)
            } else {
                Filter::Any(parts)
            })
        }
        Value::Object(_) => parse_cond(v),
        other => Err(format!(
            "filter must be an array of conditions, not {other}"
        )),
    }
}

fn parse_cond(v: &Value) -> Result<Filter, String> {
    let obj = v
        .as_object()
        .ok_or_else(|| format!("a filter condition must be an object, not {v}"))?;
    let property = obj
        .get("property")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .ok_or_else(|| format!("filter condition without a property: {v}"))?;
    let operator = obj
        .get("operator")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("filter condition without an operator: {v}"))?;
    let value = obj.get("value").cloned().unwrap_or(Value::Null);
    let op = match operator.trim().to_lowercase().as_str() {
        "=" | "eq" => Op::Eq,
        "!=" | "ne" => Op::Ne,
        "like" => Op::Like(Pattern::new(&scalar_text(&value))),
        "<" => Op::Lt,
        "<=" => Op::Le,
        ">" => Op::Gt,
        ">=" => Op::Ge,
        "in" => Op::In,
        "notin" => Op::NotIn,
        "all" => Op::All,
        "exists" => Op::Exists(truthy(&value)),
        "near" | "within" | "point-intersect" => {
            return Err(format!(
                "operator '{operator}' is not supported by this test server"
            ));
        }
        _ => return Err(format!("unknown filter operator '{operator}'")),
    };
    Ok(Filter::Cond {
        path: property.split('.').map(str::to_owned).collect(),
        op,
        value,
    })
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::String(s) => !matches!(s.as_str(), "false" | "0" | ""),
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::Null => true,
        _ => true,
    }
}

fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// A single `property = "string"` filter, which the server answers from an index.
pub(crate) fn single_equality(f: &Filter) -> Option<(&[String], &str)> {
    match f {
        Filter::Cond {
            path,
            op: Op::Eq,
            value: Value::String(s),
        } if clock::parse_iso8601(s).is_none() => Some((path, s)),
        Filter::All(parts) | Filter::Any(parts) if parts.len() == 1 => single_equality(&parts[0]),
        _ => None,
    }
}

/// The ids a filter of a single `id in [...]` (or `_id`) condition asks for.
pub(crate) fn ids_in(f: &Filter) -> Option<Vec<&str>> {
    match f {
        Filter::Cond {
            path,
            op: Op::In,
            value: Value::Array(ids),
        } if path == &["id"] || path == &["_id"] => ids.iter().map(Value::as_str).collect(),
        Filter::All(parts) | Filter::Any(parts) if parts.len() == 1 => ids_in(&parts[0]),
        _ => None,
    }
}

/// Whether `doc` passes the filter.
pub(crate) fn matches(f: &Filter, doc: &Value) -> bool {
    match f {
        Filter::All(parts) => parts.iter().all(|p| matches(p, doc)),
        Filter::Any(parts) => parts.is_empty() || parts.iter().any(|p| matches(p, doc)),
        Filter::Cond { path, op, value } => {
            let found = lookup(doc, path);
            match op {
                Op::Eq => eq_any(&found, value),
                Op::Ne => !eq_any(&found, value),
                Op::Like(p) => flatten(&found).any(|v| match v {
                    Value::String(s) => p.matches(s),
                    Value::Number(_) | Value::Bool(_) => p.matches(&v.to_string()),
                    _ => false,
                }),
                Op::Lt => cmp_any(&found, value, |o| o == Ordering::Less),
                Op::Le => cmp_any(&found, value, |o| o != Ordering::Greater),
                Op::Gt => cmp_any(&found, value, |o| o == Ordering::Greater),
                Op::Ge => cmp_any(&found, value, |o| o != Ordering::Less),
                Op::In => as_list(value).iter().any(|v| eq_any(&found, v)),
                Op::NotIn => !as_list(value).iter().any(|v| eq_any(&found, v)),
                Op::All => as_list(value).iter().all(|v| eq_any(&found, v)),
                Op::Exists(want) => found.is_empty() != *want,
            }
        }
    }
}

/// A filter that is one bound on `updatedAt` (`>`, `>=`, `<`, `<=`) by an
/// instant written as the server writes them (what an incremental sync
/// asks): the bound's operator and instant, in milliseconds, so documents
/// whose instant is kept beside them are tested without being read. For
/// those, comparing the numbers is what [`matches`] does with the text.
pub(crate) fn updated_bound(f: &Filter) -> Option<(Ordering, bool, i64)> {
    match f {
        Filter::All(parts) | Filter::Any(parts) if parts.len() == 1 => updated_bound(&parts[0]),
        Filter::Cond { path, op, value } if path.len() == 1 && path[0] == "updatedAt" => {
            let text = value.as_str()?;
            let at = clock::parse_iso8601(text).filter(|at| clock::iso8601(*at) == text)?;
            match op {
                Op::Gt => Some((Ordering::Greater, false, at)),
                Op::Ge => Some((Ordering::Greater, true, at)),
                Op::Lt => Some((Ordering::Less, false, at)),
                Op::Le => Some((Ordering::Less, true, at)),
                _ => None,
            }
        }
        _ => None,
    }
}

/// Whether an instant kept beside a document (`None`: it has none) passes
/// an [`updated_bound`].
pub(crate) fn within_bound(
    updated: Option<i64>,
    (side, inclusive, at): (Ordering, bool, i64),
) -> bool {
    updated.is_some_and(|ms| {
        let o = ms.cmp(&at);
        o == side || (inclusive && o == Ordering::Equal)
    })
}

fn as_list(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(items) => items.clone(),
        other => vec![other.clone()],
    }
}

/// MongoDB semantics: `=` matches a value or an array containing it, and `null`
/// matches a missing field.
fn eq_any(found: &[&Value], want: &Value) -> bool {
    if want.is_null() && found.is_empty() {
        return true;
    }
    found.iter().any(|v| match v {
        Value::Array(items) => items.iter().any(|i| loose_eq(i, want)) || loose_eq(v, want),
        _ => loose_eq(v, want),
    })
}

fn loose_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::String(x), Value::String(y)) => x == y || same_instant(x, y),
        _ => a == b,
    }
}

/// Two ISO 8601 timestamps of the same instant written differently
/// (`...T10:00:00Z` and `...T07:00:00.000-03:00`).
fn same_instant(x: &str, y: &str) -> bool {
    let dated = |s: &str| s.as_bytes().first().is_some_and(u8::is_ascii_digit);
    dated(x) && dated(y) && {
        let (a, b) = (clock::parse_iso8601(x), clock::parse_iso8601(y));
        a.is_some() && a == b
    }
}

/// Orders two strings; ISO 8601 timestamps in different shapes (with or
/// without milliseconds or a zone) as the instants they are. Same-shape UTC
/// stamps, what the server stores, already order as text.
fn compare_text(x: &str, y: &str) -> Ordering {
    let plain = x.len() == y.len() && x.ends_with('Z') == y.ends_with('Z');
    let dated = |s: &str| s.as_bytes().first().is_some_and(u8::is_ascii_digit);
    if !plain
        && dated(x)
        && dated(y)
        && let (Some(a), Some(b)) = (clock::parse_iso8601(x), clock::parse_iso8601(y))
    {
        return a.cmp(&b);
    }
    x.cmp(y)
}

fn cmp_any(found: &[&Value], want: &Value, ok: impl Fn(Ordering) -> bool) -> bool {
    flatten(found).any(|v| compare(v, want).is_some_and(&ok))
}

fn flatten<'a>(found: &'a [&'a Value]) -> impl Iterator<Item = &'a Value> {
    found.iter().flat_map(|v| match v {
        Value::Array(items) => items.iter().collect::<Vec<_>>(),
        other => vec![*other],
    })
}

/// Orders two scalars of the same kind; mixed kinds do not compare.
fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Value::String(x), Value::String(y)) => Some(compare_text(x, y)),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

/// Every value at a dotted path; crossing an array looks into each element, as
/// MongoDB does (`connections.id` finds the ids of all connections). `id` also
/// answers `_id` and the other way round.
pub(crate) fn lookup<'a>(doc: &'a Value, path: &[String]) -> Vec<&'a Value> {
    let mut out = Vec::new();
    walk(doc, path, &mut out);
    if out.is_empty() && path.len() == 1 {
        let alias = match path[0].as_str() {
            "id" => Some("_id"),
            "_id" => Some("id"),
            _ => None,
        };
        if let Some(v) = alias.and_then(|a| doc.get(a)) {
            out.push(v);
        }
    }
    out
}

fn walk<'a>(v: &'a Value, path: &[String], out: &mut Vec<&'a Value>) {
    let Some((key, rest)) = path.split_first() else {
        out.push(v);
        return;
    };
    match v {
        Value::Object(map) => {
            if let Some(child) = map.get(key) {
                walk(child, rest, out);
            }
        }
        Value::Array(items) => match key.parse::<usize>() {
            Ok(i) => {
                if let Some(child) = items.get(i) {
                    walk(child, rest, out);
                }
            }
            Err(_) => items.iter().for_each(|item| walk(item, path, out)),
        },
        _ => {}
    }
}

/// One sort key: a dotted path and 1 (ascending) or -1 (descending).
#[derive(Clone, Debug)]
pub(crate) struct SortKey {
    path: Vec<String>,
    descending: bool,
}

/// `f` without its comparisons of `id` (`>`, `>=`, `<`, `<=`): what a
/// platform that does not know them filters by.
pub(crate) fn without_id_ranges(f: Filter) -> Filter {
    match f {
        Filter::All(parts) => Filter::All(
            parts
                .into_iter()
                .filter(|p| {
                    !matches!(p, Filter::Cond { path, op: Op::Gt | Op::Ge | Op::Lt | Op::Le, .. } if path == &["id"])
                })
                .map(without_id_ranges)
                .collect(),
        ),
        other => other,
    }
}

/// Whether `keys` sort by `id` alone: `Some(descending)`.
pub(crate) fn by_id_only(keys: &[SortKey]) -> Option<bool> {
    match keys {
        [key] if key.path == ["id"] => Some(key.descending),
        _ => None,
    }
}

/// The ObjectIds a filter of only comparisons of `id` with ObjectIds
/// (24 lowercase hex digits) lets through, as a range of their numbers:
/// what a client reading a kind by ranges of ids asks.
pub(crate) fn object_id_range(f: &Filter) -> Option<std::ops::RangeInclusive<u128>> {
    fn narrow(f: &Filter, lo: &mut u128, hi: &mut u128) -> Option<()> {
        match f {
            Filter::All(parts) => parts.iter().try_for_each(|p| narrow(p, lo, hi)),
            Filter::Cond {
                path,
                op,
                value: Value::String(id),
            } if path == &["id"]
                && id.len() == 24
                && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) =>
            {
                let n = u128::from_str_radix(id, 16).ok()?;
                match op {
                    Op::Gt => *lo = (*lo).max(n.checked_add(1)?),
                    Op::Ge => *lo = (*lo).max(n),
                    Op::Lt => *hi = (*hi).min(n.checked_sub(1)?),
                    Op::Le => *hi = (*hi).min(n),
                    _ => return None,
                }
                Some(())
            }
            _ => None,
        }
    }
    let (mut lo, mut hi) = (0, u128::MAX);
    narrow(f, &mut lo, &mut hi)?;
    // No comparison at all (`[]`) lets records without an id through.
    ((lo, hi) != (0, u128::MAX)).then_some(lo..=hi)
}

/// Whether `keys` sort by `id` alone, ascending.
pub(crate) fn by_id_ascending(keys: &[SortKey]) -> bool {
    matches!(keys, [key] if key.path == ["id"] && !key.descending)
}

/// Parses `[{"property", "direction"}]` (a single object or `"-name"` strings too).
pub(crate) fn parse_sort(v: &Value) -> Result<Vec<SortKey>, String> {
    let items = match v {
        Value::Null => return Ok(Vec::new()),
        Value::Array(items) => items.clone(),
        other => vec![other.clone()],
    };
    items
        .iter()
        .map(|item| match item {
            Value::String(s) => {
                let (descending, name) = match s.strip_prefix('-') {
                    Some(rest) => (true, rest),
                    None => (false, s.as_str()),
                };
                Ok(SortKey {
                    path: name.split('.').map(str::to_owned).collect(),
                    descending,
                })
            }
            Value::Object(o) => {
                let property = o
                    .get("property")
                    .and_then(Value::as_str)
                    .ok_or_else(|| format!("sort entry without a property: {item}"))?;
                let descending = match o.get("direction") {
                    None | Some(Value::Null) => false,
                    Some(Value::Number(n)) => n.as_f64().is_some_and(|d| d < 0.0),
                    Some(Value::String(s)) => {
                        matches!(s.to_lowercase().as_str(), "-1" | "desc" | "descending")
                    }
                    Some(other) => return Err(format!("bad sort direction {other}")),
                };
                Ok(SortKey {
                    path: property.split('.').map(str::to_owned).collect(),
                    descending,
                })
            }
            other => Err(format!("bad sort entry {other}")),
        })
        .collect()
}

/// The top-level fields a document must show for `paths` to be looked up
/// in it (`id` brings `_id` along, and the other way round).
fn top_fields<'a>(paths: impl Iterator<Item = &'a [String]>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for path in paths {
        let Some(first) = path.first() else { continue };
        let alias = match first.as_str() {
            "id" => Some("_id"),
            "_id" => Some("id"),
            _ => None,
        };
        for name in std::iter::once(first.as_str()).chain(alias) {
            if !out.iter().any(|o| o == name) {
                out.push(name.to_owned());
            }
        }
    }
    out
}

/// The top-level fields a filter reads.
pub(crate) fn filter_fields(f: &Filter) -> Vec<String> {
    fn paths<'a>(f: &'a Filter, out: &mut Vec<&'a [String]>) {
        match f {
            Filter::All(parts) | Filter::Any(parts) => parts.iter().for_each(|p| paths(p, out)),
            Filter::Cond { path, .. } => out.push(path),
        }
    }
    let mut all = Vec::new();
    paths(f, &mut all);
    top_fields(all.into_iter())
}

/// The top-level fields a sort reads.
pub(crate) fn sort_fields(keys: &[SortKey]) -> Vec<String> {
    top_fields(keys.iter().map(|k| k.path.as_slice()))
}

/// The top-level fields a lookup of `path` reads.
pub(crate) fn path_fields(path: &[String]) -> Vec<String> {
    top_fields(std::iter::once(path))
}

/// The values a document sorts by, extracted once so a big sort does not walk
/// every document's paths on each comparison.
pub(crate) fn sort_values(doc: &Value, keys: &[SortKey]) -> Vec<Option<Value>> {
    keys.iter()
        .map(|k| lookup(doc, &k.path).into_iter().next().cloned())
        .collect()
}

/// Compares two documents' [`sort_values`]; missing values sort first, like MongoDB.
pub(crate) fn compare_values(
    a: &[Option<Value>],
    b: &[Option<Value>],
    keys: &[SortKey],
) -> Ordering {
    for ((va, vb), key) in a.iter().zip(b).zip(keys) {
        let ord = match (va, vb) {
            (None | Some(Value::Null), None | Some(Value::Null)) => Ordering::Equal,
            (None | Some(Value::Null), _) => Ordering::Less,
            (_, None | Some(Value::Null)) => Ordering::Greater,
            (Some(x), Some(y)) => compare(x, y).unwrap_or_else(|| rank(x).cmp(&rank(y))),
        };
        let ord = if key.descending { ord.reverse() } else { ord };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    Ordering::Equal
}

fn rank(v: &Value) -> u8 {
    match v {
        Value::Null => 0,
        Value::Number(_) => 1,
        Value::String(_) => 2,
        Value::Object(_) => 3,
        Value::Array(_) => 4,
        Value::Bool(_) => 5,
    }
}

/// Splits `select`/`populate` lists: comma- or space-separated field names.
pub(crate) fn field_list(s: &str) -> Vec<String> {
    s.split([',', ' '])
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Keeps only the selected fields (dotted paths allowed) plus `id`.
pub(crate) fn select(doc: &Value, fields: &[String]) -> Value {
    let mut out = Map::new();
    if let Some(id) = doc.get("id") {
        out.insert("id".into(), id.clone());
    }
    for field in fields {
        let path: Vec<&str> = field.split('.').collect();
        copy_path(doc, &mut out, &path);
    }
    Value::Object(out)
}

fn copy_path(src: &Value, dst: &mut Map<String, Value>, path: &[&str]) {
    let Some((key, rest)) = path.split_first() else {
        return;
    };
    let Some(child) = src.get(*key) else {
        return;
    };
    if rest.is_empty() || !child.is_object() {
        dst.insert((*key).to_owned(), child.clone());
        return;
    }
    let slot = dst
        .entry((*key).to_owned())
        .or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(inner) = slot {
        copy_path(child, inner, rest);
    }
}

/// The route whose documents a populated field names.
pub(crate) fn populate_route(field: &str) -> Option<&'static str> {
    Some(match field {
        "client" => "ftth-clients",
        "project" => "projects",
        "box" | "parent" => "boxes",
        "pole" => "poles",
        "splitterType" => "splitter-types",
        "drop" => "cables",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(filter: Value, doc: &Value) -> bool {
        matches(&parse_filter(&filter).unwrap(), doc)
    }

    #[test]
    fn a_bound_on_instants_kept_matches_as_the_text_does() {
        let stamps = [
            "2024-06-28T19:24:37.139Z",
            "2024-06-28T19:24:37.140Z",
            "2024-06-28T19:24:37.141Z",
            "2031-01-01T00:00:00.000Z",
        ];
        for op in [">", ">=", "<", "<="] {
            let filter = parse_filter(&json!([
                {"property": "updatedAt", "operator": op, "value": stamps[1]}
            ]))
            .unwrap();
            let bound = updated_bound(&filter).expect("a bound by a stamp as written");
            for stamp in stamps {
                let doc = json!({"updatedAt": stamp});
                let kept = clock::parse_iso8601(stamp);
                assert_eq!(
                    within_bound(kept, bound),
                    matches(&filter, &doc),
                    "{op} {stamp}"
                );
            }
            assert!(!within_bound(None, bound), "{op}: no instant, no match");
            assert!(!matches(&filter, &json!({})));
        }
        // Other shapes are read from the documents.
        for filter in [
            json!([{"property": "updatedAt", "operator": ">=", "value": "2024-06-28T19:24:37Z"}]),
            json!([{"property": "updatedAt", "operator": "=", "value": stamps[1]}]),
            json!([{"property": "createdAt", "operator": ">=", "value": stamps[1]}]),
            json!([{"property": "updatedAt", "operator": ">=", "value": stamps[1]},
                   {"property": "name", "operator": "=", "value": "x"}]),
        ] {
            assert!(
                updated_bound(&parse_filter(&filter).unwrap()).is_none(),
                "{filter}"
            );
        }
    }

    #[test]
    fn operators() {
        let doc = json!({"id": "a1", "code": "SVC-000123", "status": 1,
            "ratio": {"output": 8}, "tags": ["x", "y"],
            "connections": [{"id": "s1", "port": 3}]});
        assert!(check(
            json!([{"property": "code", "operator": "=", "value": "SVC-000123"}]),
            &doc
        ));
        assert!(check(
            json!([{"property": "_id", "operator": "=", "value": "a1"}]),
            &doc
        ));
        assert!(check(
            json!([{"property": "ratio.output", "operator": ">=", "value": 8}]),
            &doc
        ));
        assert!(check(
            json!([{"property": "code", "operator": "like", "value": "svc"}]),
            &doc
        ));
        assert!(check(
            json!([{"property": "tags", "operator": "=", "value": "y"}]),
            &doc
        ));
        assert!(check(
            json!([{"property": "tags", "operator": "all", "value": ["x", "y"]}]),
            &doc
        ));
        assert!(check(
            json!([{"property": "status", "operator": "in", "value": [0, 1]}]),
            &doc
        ));
        assert!(check(
            json!([{"property": "status", "operator": "notin", "value": [0]}]),
            &doc
        ));
        assert!(check(
            json!([{"property": "connections.id", "operator": "=", "value": "s1"}]),
            &doc
        ));
        assert!(check(
            json!([{"property": "observation", "operator": "exists", "value": false}]),
            &doc
        ));
        assert!(check(
            json!([{"property": "observation", "operator": "=", "value": null}]),
            &doc
        ));
        assert!(!check(
            json!([{"property": "code", "operator": "!=", "value": "SVC-000123"}]),
            &doc
        ));
        // A nested array is an OR group.
        assert!(check(
            json!([[{"property": "status", "operator": "=", "value": 0},
                               {"property": "status", "operator": "=", "value": 1}]]),
            &doc
        ));
        assert!(!check(
            json!([{"property": "status", "operator": "=", "value": 0},
                              {"property": "status", "operator": "=", "value": 1}]),
            &doc
        ));
    }

    #[test]
    fn unsupported_operators_are_errors() {
        let f = json!([{"property": "coords", "operator": "within", "value": {"id": "x", "model": "project"}}]);
        assert!(parse_filter(&f).unwrap_err().contains("within"));
        assert!(parse_filter(&json!("nope")).is_err());
    }

    #[test]
    fn select_keeps_id_and_paths() {
        let doc = json!({"id": "1", "name": "n", "ratio": {"input": 1, "output": 8}, "x": 2});
        assert_eq!(
            select(&doc, &field_list("name, ratio.output")),
            json!({"id": "1", "name": "n", "ratio": {"output": 8}})
        );
    }
}
