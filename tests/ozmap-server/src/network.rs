//! The served data: one collection of JSON documents per OZmap route.

use serde_json::Value;

use crate::clock;
use crate::collection::Collection;
use crate::rng::mix;

/// Every read route the server answers, in the order a full listing uses.
pub const ROUTES: [&str; 8] = [
    "projects",
    "poles",
    "boxes",
    "splitters",
    "splitter-types",
    "ftth-clients",
    "properties",
    "cables",
];

/// An OZmap network as the API serves it: each collection holds the documents of
/// one route, in insertion order (the server's default order), exactly as they are
/// answered (`id`, `_id`, `createdAt`, ... included). A [`Collection`] reads like
/// a `Vec<Value>` and keeps its documents as JSON text.
#[derive(Clone, Debug, Default)]
pub struct Network {
    /// `GET /api/v2/projects`.
    pub projects: Collection,
    /// `GET /api/v2/poles` (no `project` field: poles are shared by every project).
    pub poles: Collection,
    /// `GET /api/v2/boxes`.
    pub boxes: Collection,
    /// `GET /api/v2/splitters`.
    pub splitters: Collection,
    /// `GET /api/v2/splitter-types`.
    pub splitter_types: Collection,
    /// `GET /api/v2/ftth-clients` (no `project` field).
    pub ftth_clients: Collection,
    /// `GET /api/v2/properties`.
    pub properties: Collection,
    /// `GET /api/v2/cables` (served so tests can prove nobody asks for them).
    pub cables: Collection,
    next_seq: u64,
    id_salt: u32,
    /// The last `updatedAt` handed out by [`Network::next_updated_at`], in ms.
    last_stamp_ms: i64,
}

impl Network {
    /// An empty network whose fresh ids derive from `seed`.
    pub fn new(seed: u64) -> Self {
        Network {
            id_salt: (mix(seed) & 0xFF_FFFF) as u32,
            ..Network::default()
        }
    }

    /// The documents of `route` ("projects", "poles", "boxes", "splitters",
    /// "ftth-clients", "properties", "cables", "splitter-types"); an unknown route
    /// is empty.
    pub fn collection(&self, route: &str) -> &Collection {
        static EMPTY: Collection = Collection::new();
        match route {
            "projects" => &self.projects,
            "poles" => &self.poles,
            "boxes" => &self.boxes,
            "splitters" => &self.splitters,
            "splitter-types" => &self.splitter_types,
            "ftth-clients" => &self.ftth_clients,
            "properties" => &self.properties,
            "cables" => &self.cables,
            _ => &EMPTY,
        }
    }

    /// The documents of `route`, to change. Panics on an unknown route, which is
    /// a bug in the calling test.
    pub fn collection_mut(&mut self, route: &str) -> &mut Collection {
        match route {
            "projects" => &mut self.projects,
            "poles" => &mut self.poles,
            "boxes" => &mut self.boxes,
            "splitters" => &mut self.splitters,
            "splitter-types" => &mut self.splitter_types,
            "ftth-clients" => &mut self.ftth_clients,
            "properties" => &mut self.properties,
            "cables" => &mut self.cables,
            other => panic!("unknown OZmap route {other:?}; known: {ROUTES:?}"),
        }
    }

    /// The document of `route` whose `id` (or `_id`) is `id`, by a linear scan.
    pub fn find(&self, route: &str, id: &str) -> Option<&Value> {
        let c = self.collection(route);
        c.get(c.position_of_id(id)?)
    }

    /// The document of `route` whose `id` (or `_id`) is `id`, to change.
    pub fn find_mut(&mut self, route: &str, id: &str) -> Option<&mut Value> {
        let c = self.collection_mut(route);
        let at = c.position_of_id(id)?;
        c.get_mut(at)
    }

    /// Writes back the documents changed through `&mut` and drops the
    /// parsed copies reads made ([`Collection::compact`] on every route); the
    /// server does it after every change.
    pub fn compact(&mut self) {
        for route in ROUTES {
            self.collection_mut(route).compact();
        }
    }

    /// The network becomes `given`'s, an object of routes to their documents
    /// (a route left out is empty), served as given, in the given order,
    /// repeated ids and broken records included: the form of the host
    /// conformance suite's scenarios (`tests/conformance`). A document
    /// without `_id` gets its `id`; one without `createdAt` or `updatedAt`
    /// gets 2026-01-01, so a scenario that changes a document between runs
    /// gives it a later `updatedAt` itself. Answers how many documents it
    /// holds; refuses an unknown route or a route that is not an array.
    pub fn replace_with(&mut self, given: &Value) -> Result<usize, String> {
        const EPOCH: &str = "2026-01-01T00:00:00.000Z";
        let Value::Object(given) = given else {
            return Err("a network is a JSON object of routes to arrays".into());
        };
        if let Some(route) = given.keys().find(|r| !ROUTES.contains(&r.as_str())) {
            return Err(format!("no route {route:?}; known: {ROUTES:?}"));
        }
        let mut routes = Vec::new();
        for route in ROUTES {
            let docs = match given.get(route) {
                None => Vec::new(),
                Some(Value::Array(docs)) => docs.clone(),
                Some(_) => return Err(format!("{route} must be an array")),
            };
            let docs: Vec<Value> = docs
                .into_iter()
                .map(|mut doc| {
                    if let Value::Object(fields) = &mut doc {
                        if let Some(id) = fields.get("id").cloned() {
                            fields.entry("_id").or_insert(id);
                        }
                        for stamp in ["createdAt", "updatedAt"] {
                            fields.entry(stamp).or_insert_with(|| EPOCH.into());
                        }
                    }
                    doc
                })
                .collect();
            routes.push((route, docs));
        }
        for (route, docs) in routes {
            *self.collection_mut(route) = docs.into();
        }
        Ok(self.total_elements())
    }

    /// How many documents all routes hold together.
    pub fn total_elements(&self) -> usize {
        ROUTES.iter().map(|r| self.collection(r).len()).sum()
    }

    /// A fresh 24-hex ObjectId, unique within this network (a counter), whose first
    /// four bytes are the current time like a MongoDB id.
    pub fn new_id(&mut self) -> String {
        self.id_at((clock::now_ms() / 1000) as u32)
    }

    /// A fresh `updatedAt` (ISO 8601, milliseconds) for a change made now:
    /// strictly later than every stamp this network handed out before and than
    /// every `updatedAt` it holds (changes made through `&mut` count once
    /// compacted, as the server does after each change), so a client reading
    /// `updatedAt > last seen` never misses a change. It is the wall clock,
    /// except that changes faster than one a millisecond run a little ahead.
    pub fn next_updated_at(&mut self) -> String {
        let latest = ROUTES
            .iter()
            .map(|r| self.collection(r).latest_updated_ms())
            .max()
            .unwrap_or(0);
        self.last_stamp_ms = self.last_stamp_ms.max(latest);
        self.last_stamp_ms = clock::now_ms().max(self.last_stamp_ms + 1);
        clock::iso8601(self.last_stamp_ms)
    }

    /// A fresh ObjectId whose timestamp part is `secs`: the generator dates its ids
    /// like their `createdAt`.
    pub(crate) fn id_at(&mut self, secs: u32) -> String {
        self.next_seq += 1;
        format!(
            "{secs:08x}{:06x}{:010x}",
            self.id_salt,
            self.next_seq & 0xFF_FFFF_FFFF
        )
    }
}

/// A document's id: `id`, else `_id` (OZmap answers both; some answers only one).
pub(crate) fn doc_id(doc: &Value) -> Option<&str> {
    doc.get("id")
        .and_then(Value::as_str)
        .or_else(|| doc.get("_id").and_then(Value::as_str))
}
