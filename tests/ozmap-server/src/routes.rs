//! Routing, authentication and the read routes.

use serde_json::{Value, json};

use crate::http::Answer;
use crate::network::{Network, ROUTES};
use crate::query::{self, Filter, SortKey};
use crate::server::{RecordedRequest, Shared};
use crate::store::Keyed;
use crate::writes;

const DEFAULT_LIMIT: usize = 100;

/// Answers one (already recorded, not faulted) request.
pub(crate) fn dispatch(shared: &Shared, req: &RecordedRequest) -> Answer {
    if let Some(test_route) = req.path.strip_prefix("/__test/") {
        if !shared
            .auth
            .check(&shared.config, req.authorization.as_deref())
        {
            return Answer::error(
                401,
                "Unauthorized: the test routes take the API's authorization",
            );
        }
        return match (req.method.as_str(), test_route) {
            ("POST", "mutate") => test_mutate(shared, req),
            ("PUT", "network") => test_network(shared, req),
            // What was asked since the last time (for benchmarks).
            ("POST", "stats") => Answer::json(200, shared.take_stats()),
            _ => Answer::error(404, format!("no test route {} {}", req.method, req.path)),
        };
    }
    let Some(rest) = req.path.strip_prefix("/api/v2/") else {
        return Answer::error(404, format!("no route {}", req.path));
    };
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let method = req.method.as_str();
    if let ("POST", ["users", "login"]) = (method, segments.as_slice()) {
        return login(shared, req);
    }
    if !shared
        .auth
        .check(&shared.config, req.authorization.as_deref())
    {
        return Answer::error(
            401,
            "Unauthorized: missing, invalid or expired authorization",
        );
    }
    let known = |route: &str| ROUTES.contains(&route);
    match (method, segments.as_slice()) {
        ("GET", ["authenticated"]) => Answer::json(200, json!({"authenticated": true})),
        ("GET", [route]) if known(route) => list(shared, route, req),
        ("GET", [route, id]) if known(route) => one(shared, route, id, req),
        ("POST", ["properties"]) => writes::create_property(shared, &req.body),
        ("POST", ["ftth-clients", "batch-update"]) => {
            writes::batch_update_clients(shared, &req.body)
        }
        ("PATCH", [route @ ("properties" | "ftth-clients"), id]) => {
            writes::patch(shared, route, id, &req.body)
        }
        ("DELETE", ["properties", id]) => writes::delete_property(shared, id),
        ("DELETE", ["ftth-clients", id]) => writes::delete_client(shared, id),
        (_, [route, ..]) if known(route) => {
            Answer::error(405, format!("{method} is not supported on /api/v2/{rest}"))
        }
        _ => Answer::error(404, format!("no route {method} {}", req.path)),
    }
}

/// `POST /__test/mutate?fraction=0.01&seed=7` (not OZmap's: for benchmarks
/// and child processes): [`crate::mutate`] on the served network, answering
/// its summary. Defaults: fraction 0.01, seed 1.
fn test_mutate(shared: &Shared, req: &RecordedRequest) -> Answer {
    let params = Params::parse(&req.query);
    let fraction = match params.get("fraction").map(str::trim) {
        None => 0.01,
        Some(f) => match f.parse::<f64>() {
            Ok(f) if (0.0..=1.0).contains(&f) => f,
            _ => {
                return Answer::error(
                    400,
                    format!("fraction must be a number from 0 to 1, not {f:?}"),
                );
            }
        },
    };
    let seed = match params.get("seed").map(str::trim) {
        None => 1,
        Some(s) => match s.parse::<u64>() {
            Ok(s) => s,
            Err(_) => {
                return Answer::error(400, format!("seed must be an unsigned integer, not {s:?}"));
            }
        },
    };
    let summary = shared
        .store
        .write(|net| crate::mutate::mutate(net, &crate::mutate::Mutation { fraction, seed }));
    Answer::json(200, summary.to_json())
}

/// `PUT /__test/network` (not OZmap's: for scenarios written as data, such
/// as the host conformance suite's): [`Network::replace_with`] the body.
fn test_network(shared: &Shared, req: &RecordedRequest) -> Answer {
    let body: Value = match serde_json::from_str(&req.body) {
        Ok(body) => body,
        Err(e) => return Answer::error(400, format!("the body is not JSON: {e}")),
    };
    match shared.store.write(|net| net.replace_with(&body)) {
        Ok(served) => Answer::json(200, json!({ "documents": served })),
        Err(why) => Answer::error(400, why),
    }
}

fn login(shared: &Shared, req: &RecordedRequest) -> Answer {
    let body: Value = match serde_json::from_str(&req.body) {
        Ok(v) => v,
        Err(e) => return Answer::error(400, format!("login body is not JSON: {e}")),
    };
    let field = |k: &str| body.get(k).and_then(Value::as_str).unwrap_or_default();
    match shared
        .auth
        .login(&shared.config, field("login"), field("password"))
    {
        Some(token) => Answer::json(200, json!({"authorization": token})),
        None => Answer::error(401, "Invalid login or password"),
    }
}

/// Query-string parameters in order, decoded.
struct Params(Vec<(String, String)>);

impl Params {
    fn parse(query: &str) -> Self {
        Params(
            form_urlencoded::parse(query.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The query string of the page that starts at row `offset`: every
    /// parameter of this request but `page` and `cursor`, then `limit` and the
    /// cursor. The official SDK replays all of it with its own `limit` and
    /// without `page`, so the position must travel in the cursor.
    fn next_page(&self, offset: usize, limit: usize) -> String {
        let mut out = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &self.0 {
            if !matches!(k.as_str(), "page" | "cursor" | "limit") {
                out.append_pair(k, v);
            }
        }
        out.append_pair("limit", &limit.to_string());
        out.append_pair("cursor", &cursor::encode(offset));
        out.finish()
    }
}

/// Filter and sort, from the query string and from the GET body (SDK 1.x).
struct ListQuery {
    filter: Option<(Filter, String)>,
    sort: Option<(Vec<SortKey>, String)>,
    /// `select` and `populate` given in the body (a list or a comma string).
    select: Vec<String>,
    populate: Vec<String>,
}

fn list_query(params: &Params, body: &str) -> Result<ListQuery, Answer> {
    let body: Value = if body.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(body)
            .map_err(|e| Answer::error(400, format!("request body is not JSON: {e}")))?
    };
    let mut filters = Vec::new();
    let mut keys = Vec::new();
    let sources = [
        (
            "filter in the query string",
            params.get("filter").map(json_text),
        ),
        ("filter in the body", body.get("filter").cloned().map(Ok)),
    ];
    for (what, source) in sources {
        let Some(value) = source else { continue };
        let value = value.map_err(|e| Answer::error(400, format!("malformed {what}: {e}")))?;
        if value.is_null() {
            continue;
        }
        let filter = query::parse_filter(&value).map_err(|e| Answer::error(400, e))?;
        keys.push(value.to_string());
        filters.push(filter);
    }
    let filter = (!filters.is_empty()).then(|| (Filter::All(filters), keys.join("&")));
    let sort_value = match params.get("sort").map(json_text) {
        Some(v) => Some(v.map_err(|e| Answer::error(400, format!("malformed sort: {e}")))?),
        None => body.get("sort").cloned().filter(|v| !v.is_null()),
    };
    let sort = match sort_value {
        Some(v) => {
            let keys = query::parse_sort(&v).map_err(|e| Answer::error(400, e))?;
            (!keys.is_empty()).then(|| (keys, v.to_string()))
        }
        None => None,
    };
    let fields = |key: &str| match body.get(key) {
        Some(Value::String(s)) => query::field_list(s),
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .flat_map(query::field_list)
            .collect(),
        _ => Vec::new(),
    };
    Ok(ListQuery {
        filter,
        sort,
        select: fields("select"),
        populate: fields("populate"),
    })
}

/// A JSON parameter; a bare word is taken as a string (`sort=name`).
fn json_text(text: &str) -> Result<Value, serde_json::Error> {
    let trimmed = text.trim();
    if trimmed.starts_with(['[', '{', '"']) || trimmed == "null" {
        serde_json::from_str(trimmed)
    } else if trimmed.is_empty() {
        Ok(Value::Null)
    } else {
        serde_json::from_str(trimmed).or_else(|_| Ok(Value::String(trimmed.to_owned())))
    }
}

fn positive(params: &Params, key: &str) -> Result<Option<usize>, Answer> {
    match params.get(key).map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => v
            .parse::<i64>()
            .map(|n| usize::try_from(n).ok().filter(|&n| n > 0))
            .map_err(|_| Answer::error(400, format!("{key} must be an integer, not {v:?}"))),
    }
}

/// How rows are shaped: the `select` and `populate` parameters.
struct Shape {
    select: Vec<String>,
    populate: Vec<String>,
}

impl Shape {
    /// From the query string, else from the body's fields.
    fn from(params: &Params, body: Option<&ListQuery>) -> Self {
        let pick = |key: &str, in_body: Option<&Vec<String>>| {
            params
                .get(key)
                .map(query::field_list)
                .filter(|f| !f.is_empty())
                .or_else(|| in_body.cloned())
                .unwrap_or_default()
        };
        Shape {
            select: pick("select", body.map(|q| &q.select)),
            populate: pick("populate", body.map(|q| &q.populate)),
        }
    }

    /// Writes document `at` of `route`, shaped, as JSON onto `out`: its
    /// stored text as it is when nothing is to be selected or populated.
    fn render(&self, shared: &Shared, net: &Network, route: &str, at: usize, out: &mut String) {
        let docs = net.collection(route);
        if self.select.is_empty() && self.populate.is_empty() {
            out.push_str(&docs.json(at));
            return;
        }
        // A walk of the ids (`select=id`), what every re-sync asks of
        // each element: written from the id kept beside the document.
        if self.populate.is_empty()
            && self.select.iter().all(|f| f == "id")
            && docs.write_id_only(at, out)
        {
            return;
        }
        let mut doc = if self.select.is_empty() {
            docs.owned(at)
        } else {
            let mut fields: Vec<&str> = vec!["id"];
            for f in &self.select {
                let top = f.split('.').next().unwrap_or_default();
                if !fields.contains(&top) {
                    fields.push(top);
                }
            }
            query::select(&docs.fields(at, &fields), &self.select)
        };
        for field in &self.populate {
            let Some(target) = query::populate_route(field) else {
                continue;
            };
            let Some(slot) = doc.as_object_mut().and_then(|o| o.get_mut(field)) else {
                continue;
            };
            let found = slot
                .as_str()
                .and_then(|id| shared.store.position_of(net, target, id))
                .map(|i| net.collection(target).owned(i));
            if let Some(found) = found {
                *slot = found;
            }
        }
        out.push_str(&doc.to_string());
    }
}

fn list(shared: &Shared, route: &str, req: &RecordedRequest) -> Answer {
    let params = Params::parse(&req.query);
    let mut q = match list_query(&params, &req.body) {
        Ok(q) => q,
        Err(answer) => return answer,
    };
    if shared.config.ignore_id_ranges {
        q.filter = q.filter.map(|(f, key)| (query::without_id_ranges(f), key));
    }
    let (page, asked, limit) = match (positive(&params, "page"), positive(&params, "limit")) {
        (Ok(p), Ok(l)) => {
            let asked = l.unwrap_or(DEFAULT_LIMIT);
            (
                p.unwrap_or(1),
                asked,
                asked.min(shared.config.max_page_size.max(1)),
            )
        }
        (Err(a), _) | (_, Err(a)) => return a,
    };
    // What the page says its limit is: the cap, unless capped silently.
    let answered_limit = if shared.config.silent_page_cap {
        asked
    } else {
        limit
    };
    // A cursor (from `nextUrl`) is where the page starts, whatever `limit`
    // the client now asks for; it wins over `page`.
    let start = match params
        .get("cursor")
        .map(str::trim)
        .filter(|c| !c.is_empty())
    {
        Some(c) => match cursor::decode(c) {
            Some(offset) => offset,
            None => {
                return Answer::error(
                    400,
                    format!("cursor {c:?} is not a cursor this server handed out in a nextUrl"),
                );
            }
        },
        None => (page - 1).saturating_mul(limit),
    };
    let shape = Shape::from(&params, Some(&q));
    let (total, count, rows) = shared.store.read(|net| {
        let selection = shared.store.select(
            net,
            route,
            q.filter.as_ref().map(|(f, key)| Keyed {
                value: f,
                key: key.clone(),
            }),
            q.sort.as_ref().map(|(s, key)| Keyed {
                value: s.as_slice(),
                key: key.clone(),
            }),
        );
        let total = selection.len();
        let mut rows = String::new();
        let range = start.min(total)..start.saturating_add(limit).min(total);
        let count = range.len();
        for (n, i) in range.enumerate() {
            if n > 0 {
                rows.push(',');
            }
            shape.render(shared, net, route, selection.position(i), &mut rows);
        }
        (total, count, rows)
    });
    let mut body = format!(
        r#"{{"total":{total},"count":{count},"start":{start},"limit":{answered_limit},"rows":[{rows}]"#
    );
    if !shared.config.legacy_pagination {
        let has_next = start + count < total;
        let next =
            has_next.then(|| format!("/api/v2/{route}?{}", params.next_page(start + count, limit)));
        body.push_str(&format!(
            r#","hasNextPage":{has_next},"nextUrl":{}"#,
            json!(next)
        ));
    }
    body.push('}');
    Answer::json_text(200, body)
}

fn one(shared: &Shared, route: &str, id: &str, req: &RecordedRequest) -> Answer {
    let shape = Shape::from(&Params::parse(&req.query), None);
    shared
        .store
        .read(|net| match shared.store.position_of(net, route, id) {
            Some(at) => {
                let mut body = String::new();
                shape.render(shared, net, route, at, &mut body);
                Answer::json_text(200, body)
            }
            None => Answer::error(404, format!("{route}/{id} not found")),
        })
}

/// The opaque position carried by `nextUrl`: base64url (no padding) of
/// `o:<offset>`, so clients treat it as a token rather than a page number.
mod cursor {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

    pub(super) fn encode(offset: usize) -> String {
        let raw = format!("o:{offset}");
        let mut out = String::new();
        for chunk in raw.as_bytes().chunks(3) {
            let n = chunk
                .iter()
                .enumerate()
                .fold(0u32, |acc, (i, b)| acc | u32::from(*b) << (16 - 8 * i));
            for i in 0..=chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            }
        }
        out
    }

    /// The offset in a cursor; `None` when it is not one `encode` made.
    pub(super) fn decode(token: &str) -> Option<usize> {
        let mut bytes = Vec::new();
        for chunk in token.trim_end_matches('=').as_bytes().chunks(4) {
            if chunk.len() < 2 {
                return None;
            }
            let mut n = 0u32;
            for (i, c) in chunk.iter().enumerate() {
                let v = ALPHABET.iter().position(|a| a == c)? as u32;
                n |= v << (18 - 6 * i);
            }
            for i in 0..chunk.len() - 1 {
                bytes.push((n >> (16 - 8 * i)) as u8);
            }
        }
        let text = String::from_utf8(bytes).ok()?;
        let digits = text.strip_prefix("o:")?;
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok()
    }

    #[cfg(test)]
    mod tests {
        use super::{decode, encode};

        #[test]
        fn round_trips_and_refuses_strangers() {
            for offset in [0, 1, 99, 100, 12_345, 999_999_999] {
                let token = encode(offset);
                assert!(
                    token
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                );
                assert_eq!(decode(&token), Some(offset), "{token}");
            }
            assert_eq!(encode(200), "bzoyMDA");
            for bad in ["", "2", "page2", "bzo", "bzoxMjM!", "eDox", "b3Jhbmdl"] {
                assert_eq!(decode(bad), None, "{bad}");
            }
        }
    }
}
