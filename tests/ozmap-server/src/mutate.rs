//! Changing a network the way OZmap users do between two syncs: for mapsync's
//! benchmark (how fast is a resync after 1% changed?) and end-to-end tests.
//!
//! [`mutate`] changes a share of the elements at random (deterministic for a
//! seed); the single-step functions make one given change. All of them keep
//! the network consistent, as the write routes do (a property's `connections`
//! names an existing splitter and a free, unblocked port within its ratio, and
//! the splitter's `connectables.output` agrees), and set `updatedAt` on every
//! document they change or create to a fresh stamp, later than any before
//! ([`Network::next_updated_at`]).
//!
//! On a served network, call them inside [`TestServer::with_network`], which
//! drops the server's cached answers afterwards, or over HTTP:
//! `POST /__test/mutate?fraction=0.01&seed=7` (with the same `Authorization`
//! as the API routes) answers the [`MutationSummary`] as JSON.
//!
//! ```no_run
//! use ozmap_test_server::{GeneratorConfig, Mutation, ServerConfig, TestServer, generate, mutate};
//!
//! let server = TestServer::start(ServerConfig::default(), generate(&GeneratorConfig::small()))?;
//! let summary = server.with_network(|net| mutate(net, &Mutation { fraction: 0.01, seed: 7 }));
//! println!("{} changes", summary.changes);
//! # anyhow::Ok(())
//! ```
//!
//! [`TestServer::with_network`]: crate::TestServer::with_network

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value, json};

use crate::collection::IdIndex;
use crate::generator::{self, BoxParts, INVALID_MARKER, SplitterParts, Stamp};
use crate::network::{Network, ROUTES, doc_id};
use crate::rng::Rng;
use crate::writes::{self, NewProperty};

/// How much of a network [`mutate`] changes, and the seed of its choices.
#[derive(Clone, Debug, PartialEq)]
pub struct Mutation {
    /// The share of the network's elements to change: 0.01 makes about one
    /// change per hundred elements (a change may touch a few documents).
    pub fraction: f64,
    /// Seed of every choice: a network and a mutation always give the same
    /// changes (but for the `updatedAt` stamps, which are the clock's).
    pub seed: u64,
}

impl Default for Mutation {
    fn default() -> Self {
        Mutation {
            fraction: 0.01,
            seed: 1,
        }
    }
}

/// What [`mutate`] did, by kind of change.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MutationSummary {
    /// The changes made ([`mutate`]'s target, about `fraction` of the
    /// elements); one change may count in several fields below (a deleted
    /// box's splitters and properties, a new property's client).
    pub changes: usize,
    /// Renames and field changes of poles, boxes, splitters, clients, properties.
    pub updated: usize,
    /// New CTO boxes, each with a service splitter (counted apart).
    pub boxes_created: usize,
    /// New service splitters, one in each new box.
    pub splitters_created: usize,
    /// New properties on a free service port, each with a new client.
    pub properties_created: usize,
    /// New FTTH clients, one in each new property.
    pub clients_created: usize,
    /// Properties deleted (their ports are free again), those of deleted boxes included.
    pub properties_deleted: usize,
    /// FTTH clients deleted (their property is left without client).
    pub clients_deleted: usize,
    /// Boxes deleted, with their splitters and properties.
    pub boxes_deleted: usize,
    /// Splitters deleted (with their boxes).
    pub splitters_deleted: usize,
    /// Properties moved to another free port (their `connections` changed).
    pub properties_moved: usize,
    /// Clients whose `code` changed (or who got one).
    pub codes_changed: usize,
    /// Free splitter ports now blocked.
    pub ports_blocked: usize,
    /// Documents created or given a new `updatedAt` (deleted ones not counted).
    pub records_touched: usize,
}

impl MutationSummary {
    /// The summary as the HTTP route answers it (snake_case keys, `changes` too).
    pub fn to_json(&self) -> Value {
        json!({
            "changes": self.changes,
            "updated": self.updated,
            "boxes_created": self.boxes_created,
            "splitters_created": self.splitters_created,
            "properties_created": self.properties_created,
            "clients_created": self.clients_created,
            "properties_deleted": self.properties_deleted,
            "clients_deleted": self.clients_deleted,
            "boxes_deleted": self.boxes_deleted,
            "splitters_deleted": self.splitters_deleted,
            "properties_moved": self.properties_moved,
            "codes_changed": self.codes_changed,
            "ports_blocked": self.ports_blocked,
            "records_touched": self.records_touched,
        })
    }
}

/// Changes about `m.fraction` of the elements of `net`: updates, creations,
/// deletions, moves of properties, new client codes and blocked ports, in
/// the proportions of a busy day at an ISP (see [`MutationSummary`]).
/// Invalid records (marked with [`INVALID_MARKER`]) are left alone.
pub fn mutate(net: &mut Network, m: &Mutation) -> MutationSummary {
    let share = if m.fraction.is_finite() {
        m.fraction.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let target = (share * net.total_elements() as f64).round() as usize;
    let mut ed = Editor::new(net, m.seed);
    let mut misses = 0;
    while ed.summary.changes < target && misses < 64 + target {
        let done = match ed.rng.below(100) {
            0..48 => ed.random_update(),
            48..60 => ed.random_new_property(),
            60..68 => ed.random_delete("properties"),
            68..78 => ed.random_move(),
            78..86 => ed.random_code(),
            86..91 => ed.random_delete("ftth-clients"),
            91..95 => ed.random_block(),
            95..98 => ed.random_new_box(),
            _ => ed.random_delete_box(),
        };
        if done {
            ed.summary.changes += 1;
        } else {
            misses += 1;
        }
    }
    ed.finish()
}

/// Renames (poles, boxes, clients, projects) or changes the observation
/// (splitters, properties, cables) of the element `id` of `route`. `false`
/// when there is no such element.
pub fn update_element(net: &mut Network, route: &str, id: &str) -> bool {
    let mut ed = Editor::new(net, 0);
    let Some((route, at)) = ed.locate(route, id) else {
        return false;
    };
    ed.update(route, at, 0);
    ed.finish();
    true
}

/// Deletes the element `id` of `route`, keeping the network consistent:
/// a property frees its port; a client leaves its property (`client` null,
/// its history entry closed); a splitter leaves its properties without
/// connection and its feeder's output free; a box goes with its splitters and
/// its properties; a pole only when no box hangs on it (it leaves its
/// neighbours' `adjacents`); cables simply go. Projects and splitter types
/// are not deleted. `false` when nothing was deleted.
pub fn delete_element(net: &mut Network, route: &str, id: &str) -> bool {
    let mut ed = Editor::new(net, 0);
    let Some((route, at)) = ed.locate(route, id) else {
        return false;
    };
    let deleted = ed.delete(route, at);
    ed.finish();
    deleted
}

/// Moves property `property_id` to the first free, unblocked port of a
/// service splitter of its project, looking from its current splitter on.
/// `false` when it has no project or no port is free.
pub fn move_property(net: &mut Network, property_id: &str) -> bool {
    let mut ed = Editor::new(net, 0);
    let Some(at) = ed.position("properties", property_id) else {
        return false;
    };
    let project = ed.doc("properties", at)["project"]
        .as_str()
        .map(str::to_owned);
    let current = writes::connected_ports(&ed.doc("properties", at))
        .first()
        .and_then(|(sid, _)| ed.position("splitters", sid));
    let splitters = ed.net.splitters.len();
    let from = current.map_or(0, |c| c + 1);
    let target = (0..splitters)
        .map(|k| (from + k) % splitters)
        .find_map(|s| {
            let splitter = ed.doc("splitters", s);
            let fits = ed.usable("splitters", s)
                && splitter["isDrop"] == json!(true)
                && splitter["project"].as_str() == project.as_deref();
            let port =
                (1..=writes::port_count(&splitter)).find(|p| writes::port_open(&splitter, *p));
            let port = port.filter(|_| fits)?;
            ed.parent_box(s).map(|_| (s, port))
        });
    let moved = target.is_some_and(|(s, port)| ed.move_to(at, s, port));
    ed.finish();
    moved
}

/// Moves property `property_id` to `port` (1-based) of `splitter_id`, with
/// the checks of `PATCH /api/v2/properties/<id>` (same code): the splitter
/// must exist and allow clients, the port must exist and be free and unblocked.
pub fn move_property_to(
    net: &mut Network,
    property_id: &str,
    splitter_id: &str,
    port: u64,
) -> Result<(), String> {
    writes::reconnect_property(
        net,
        property_id,
        &json!(splitter_id),
        Some(&json!(port)),
        None,
    )
    .map_err(|a| a.message())
}

/// Sets the `code` of client `client_id`. `false` when there is no such client.
pub fn change_client_code(net: &mut Network, client_id: &str, new_code: &str) -> bool {
    let mut ed = Editor::new(net, 0);
    let Some(at) = ed.position("ftth-clients", client_id) else {
        return false;
    };
    ed.set_code(at, new_code);
    ed.finish();
    true
}

/// Blocks `port` (1-based) of splitter `splitter_id`. `false` when there is
/// no such splitter or port, or the port is taken or already blocked.
pub fn block_port(net: &mut Network, splitter_id: &str, port: u64) -> bool {
    let mut ed = Editor::new(net, 0);
    let Some(at) = ed.position("splitters", splitter_id) else {
        return false;
    };
    let blocked = ed.block(at, port);
    ed.finish();
    blocked
}

/// Creates a property on `port` (1-based) of service splitter `splitter_id`
/// (in that splitter's box and project) with a new client of this `code`,
/// exactly as `POST /api/v2/properties` does (same code, same checks).
/// Answers the new property's and client's ids.
pub fn create_property_with_client(
    net: &mut Network,
    splitter_id: &str,
    port: u64,
    code: &str,
) -> Result<(String, String), String> {
    let body = json!({
        "connector": splitter_id, "port": port, "auto_connect": false, "force": false,
        "client": {"code": code, "name": format!("Cliente {code}"), "implanted": true},
    });
    let Value::Object(body) = body else {
        unreachable!("a JSON object")
    };
    let doc = writes::build_property(net, &body).map_err(|a| a.message())?;
    let id = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    Ok((id(&doc["id"]), id(&doc["client"])))
}

/// Creates a CTO box in `project_id` on pole `pole_id` (at its coordinates)
/// with one service splitter (1x8, every port free). Answers the box's and
/// the splitter's ids; `None` when the project or the pole is missing or the
/// network has no service splitter type.
pub fn create_box_with_splitter(
    net: &mut Network,
    project_id: &str,
    pole_id: &str,
) -> Option<(String, String)> {
    let mut ed = Editor::new(net, 0);
    ed.position("projects", project_id)?;
    let pole = ed.position("poles", pole_id)?;
    let made = ed.new_box(project_id, pole, 0);
    ed.finish();
    made
}

/// Applies changes to a network: positions stay put until [`Editor::finish`]
/// sweeps the deleted documents, so indexes built once stay right.
struct Editor<'n> {
    net: &'n mut Network,
    rng: Rng,
    /// Route to (id to position), built on first use.
    ids: HashMap<&'static str, IdIndex>,
    /// Client id to the position of the property holding it.
    holders: Option<IdIndex>,
    /// Box id to the positions of its splitters, and of its properties.
    box_splitters: Option<HashMap<String, Vec<usize>>>,
    box_properties: Option<HashMap<String, Vec<usize>>>,
    /// The highest `SVC-<number>` client code, once needed.
    last_code: Option<u64>,
    dead: HashSet<(&'static str, usize)>,
    touched: HashSet<(&'static str, usize)>,
    summary: MutationSummary,
}

/// Routes the editor knows, as the static strings its maps key on.
fn route_name(route: &str) -> Option<&'static str> {
    ROUTES.iter().copied().find(|r| *r == route)
}

fn is_invalid(doc: &Value) -> bool {
    doc_id(doc).is_none()
        || doc["observation"]
            .as_str()
            .is_some_and(|o| o.starts_with(INVALID_MARKER))
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

/// `name` with its revision number bumped: `X` becomes `X (rev 1)`, `X (rev 1)` `X (rev 2)`.
fn revised(name: &str) -> String {
    if let Some((base, rest)) = name.rsplit_once(" (rev ")
        && let Some(n) = rest.strip_suffix(')').and_then(|n| n.parse::<u64>().ok())
    {
        return format!("{base} (rev {})", n + 1);
    }
    if name.is_empty() {
        "rev 1".to_owned()
    } else {
        format!("{name} (rev 1)")
    }
}

impl<'n> Editor<'n> {
    fn new(net: &'n mut Network, seed: u64) -> Self {
        Editor {
            net,
            rng: Rng::new(seed ^ 0x6D75_7461_7465),
            ids: HashMap::new(),
            holders: None,
            box_splitters: None,
            box_properties: None,
            last_code: None,
            dead: HashSet::new(),
            touched: HashSet::new(),
            summary: MutationSummary::default(),
        }
    }

    /// Sweeps the deleted documents and counts what was touched.
    fn finish(self) -> MutationSummary {
        let Editor {
            net,
            dead,
            touched,
            mut summary,
            ..
        } = self;
        summary.records_touched = touched.difference(&dead).count();
        net.compact();
        for route in ROUTES {
            if !dead.iter().any(|(r, _)| *r == route) {
                continue;
            }
            net.collection_mut(route)
                .retain_positions(|at| !dead.contains(&(route, at)));
        }
        summary
    }

    /// The document, parsed for the caller (nothing kept parsed).
    fn doc(&self, route: &str, at: usize) -> Value {
        self.net.collection(route).owned(at)
    }

    /// Some top-level fields of the document.
    fn fields(&self, route: &str, at: usize, keys: &[&str]) -> Value {
        self.net.collection(route).fields(at, keys)
    }

    fn doc_mut(&mut self, route: &str, at: usize) -> &mut Value {
        &mut self.net.collection_mut(route)[at]
    }

    fn alive(&self, route: &'static str, at: usize) -> bool {
        at < self.net.collection(route).len() && !self.dead.contains(&(route, at))
    }

    /// Alive, with an id, and not one of the generator's invalid records.
    fn usable(&self, route: &'static str, at: usize) -> bool {
        self.alive(route, at) && !is_invalid(&self.fields(route, at, &["id", "_id", "observation"]))
    }

    fn index(&mut self, route: &'static str) -> &IdIndex {
        let net = &*self.net;
        self.ids
            .entry(route)
            .or_insert_with(|| net.collection(route).id_index())
    }

    /// Where the live document `id` of `route` sits.
    fn position(&mut self, route: &'static str, id: &str) -> Option<usize> {
        let at = self.index(route).get(id)?;
        self.alive(route, at).then_some(at)
    }

    fn locate(&mut self, route: &str, id: &str) -> Option<(&'static str, usize)> {
        let route = route_name(route)?;
        Some((route, self.position(route, id)?))
    }

    /// The position of a splitter's (live) box.
    fn parent_box(&mut self, splitter: usize) -> Option<usize> {
        let parent = text(&self.fields("splitters", splitter, &["parent"])["parent"]);
        self.position("boxes", &parent)
    }

    fn holders(&mut self) -> &mut IdIndex {
        let net = &*self.net;
        self.holders.get_or_insert_with(|| {
            let mut holders = IdIndex::default();
            for at in 0..net.properties.len() {
                if let Some(c) = net.properties.fields(at, &["client"])["client"].as_str() {
                    holders.insert(c, at);
                }
            }
            holders
        })
    }

    /// Positions of `route` documents grouped by their `key` field (a box id).
    fn grouped(net: &Network, route: &str, key: &str) -> HashMap<String, Vec<usize>> {
        let mut groups: HashMap<String, Vec<usize>> = HashMap::new();
        let c = net.collection(route);
        for at in 0..c.len() {
            if let Some(k) = c.fields(at, &[key])[key].as_str() {
                groups.entry(k.to_owned()).or_default().push(at);
            }
        }
        groups
    }

    /// Builds the box-to-splitters and box-to-properties maps once.
    fn group_boxes(&mut self) {
        if self.box_splitters.is_none() {
            self.box_splitters = Some(Self::grouped(self.net, "splitters", "parent"));
            self.box_properties = Some(Self::grouped(self.net, "properties", "box"));
        }
    }

    fn push(&mut self, route: &'static str, doc: Value) -> usize {
        let id = doc_id(&doc).map(str::to_owned);
        let key = match route {
            "splitters" => Some(text(&doc["parent"])),
            "properties" => Some(text(&doc["box"])),
            _ => None,
        };
        let collection = self.net.collection_mut(route);
        collection.push(doc);
        let at = collection.len() - 1;
        if let (Some(id), Some(index)) = (id, self.ids.get_mut(route)) {
            index.set(&id, at);
        }
        let groups = match route {
            "splitters" => self.box_splitters.as_mut(),
            "properties" => self.box_properties.as_mut(),
            _ => None,
        };
        if let (Some(groups), Some(key)) = (groups, key) {
            groups.entry(key).or_default().push(at);
        }
        self.touched.insert((route, at));
        at
    }

    /// Sets a fresh `updatedAt` on a document.
    fn touch(&mut self, route: &'static str, at: usize, stamp: &str) {
        self.doc_mut(route, at)["updatedAt"] = json!(stamp);
        self.touched.insert((route, at));
    }

    // ---- the changes ----

    fn update(&mut self, route: &'static str, at: usize, variant: u64) {
        let stamp = self.net.next_updated_at();
        let doc = self.doc_mut(route, at);
        let rename = |doc: &mut Value| {
            doc["name"] = json!(revised(doc["name"].as_str().unwrap_or_default()))
        };
        let observe = |doc: &mut Value| {
            doc["observation"] = json!(revised(doc["observation"].as_str().unwrap_or_default()))
        };
        let flip = |doc: &mut Value, key: &str| doc[key] = json!(doc[key] != json!(true));
        match (route, variant % 3) {
            ("poles" | "boxes" | "projects", 0) => rename(doc),
            ("poles", 1) => flip(doc, "usable"),
            ("boxes", 1) => flip(doc, "certified"),
            ("ftth-clients", 0) => rename(doc),
            ("ftth-clients", 1) => {
                doc["status"] = json!(u8::from(doc["status"].as_u64() != Some(1)));
            }
            ("ftth-clients", _) if variant.is_multiple_of(2) => {
                doc["onu"]["serial_number"] = json!(format!("ZTEG{:08X}", variant as u32));
            }
            ("properties", 1) => {
                doc["address"] = json!(revised(doc["address"].as_str().unwrap_or_default()));
            }
            _ => observe(doc),
        }
        self.touch(route, at, &stamp);
        self.summary.updated += 1;
    }

    fn delete(&mut self, route: &'static str, at: usize) -> bool {
        match route {
            "properties" => self.delete_property(at),
            "ftth-clients" => self.delete_client(at),
            "splitters" => self.delete_splitter(at),
            "boxes" => self.delete_box(at),
            "poles" => return self.delete_pole(at),
            "cables" => {
                self.dead.insert((route, at));
            }
            _ => return false,
        }
        true
    }

    fn delete_property(&mut self, at: usize) {
        let property = self.doc("properties", at);
        let id = text(&property["id"]);
        let stamp = self.net.next_updated_at();
        for (sid, port) in writes::connected_ports(&property) {
            if let Some(s) = self.position("splitters", &sid) {
                writes::release_port(self.doc_mut("splitters", s), port, &id, &stamp);
                self.touched.insert(("splitters", s));
            }
        }
        if let Some(client) = property["client"].as_str() {
            self.holders().remove(client);
        }
        self.dead.insert(("properties", at));
        self.summary.properties_deleted += 1;
    }

    fn delete_client(&mut self, at: usize) {
        let id = text(&self.doc("ftth-clients", at)["id"]);
        if let Some(p) = self.holders().remove(&id)
            && self.alive("properties", p)
        {
            let stamp = self.net.next_updated_at();
            writes::leave_property(self.doc_mut("properties", p), &stamp);
            self.touched.insert(("properties", p));
        }
        self.dead.insert(("ftth-clients", at));
        self.summary.clients_deleted += 1;
    }

    /// Its properties keep their box but lose their connection; whatever
    /// feeds it or it feeds lets go of it.
    fn delete_splitter(&mut self, at: usize) {
        let splitter = self.doc("splitters", at);
        let id = text(&splitter["id"]);
        let stamp = self.net.next_updated_at();
        let outputs = splitter["connectables"]["output"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for held in outputs.iter().filter_map(Value::as_str) {
            if let Some(p) = self.position("properties", held) {
                let doc = self.doc_mut("properties", p);
                let before = doc["connections"].as_array().map_or(0, Vec::len);
                if let Some(cs) = doc["connections"].as_array_mut() {
                    cs.retain(|c| c["id"].as_str() != Some(id.as_str()));
                }
                if doc["connections"].as_array().map_or(0, Vec::len) != before {
                    self.touch("properties", p, &stamp);
                }
            } else if let Some(s) = self.position("splitters", held) {
                let doc = self.doc_mut("splitters", s);
                if let Some(inputs) = doc["connectables"]["input"].as_array_mut() {
                    inputs
                        .iter_mut()
                        .filter(|i| i.as_str() == Some(id.as_str()))
                        .for_each(|i| *i = Value::Null);
                }
                self.touch("splitters", s, &stamp);
            }
        }
        let inputs = splitter["connectables"]["input"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for feeder in inputs.iter().filter_map(Value::as_str) {
            if let Some(s) = self.position("splitters", feeder) {
                let doc = self.doc_mut("splitters", s);
                if let Some(outs) = doc["connectables"]["output"].as_array_mut() {
                    outs.iter_mut()
                        .filter(|o| o.as_str() == Some(id.as_str()))
                        .for_each(|o| *o = Value::Null);
                }
                self.touch("splitters", s, &stamp);
            }
        }
        self.dead.insert(("splitters", at));
        self.summary.splitters_deleted += 1;
    }

    /// With its splitters, then its properties (their clients stay, held by none).
    fn delete_box(&mut self, at: usize) {
        let id = text(&self.doc("boxes", at)["id"]);
        self.group_boxes();
        let splitters = self
            .box_splitters
            .as_ref()
            .and_then(|g| g.get(&id))
            .cloned()
            .unwrap_or_default();
        let properties = self
            .box_properties
            .as_ref()
            .and_then(|g| g.get(&id))
            .cloned()
            .unwrap_or_default();
        for p in properties {
            if self.alive("properties", p)
                && self.fields("properties", p, &["box"])["box"].as_str() == Some(id.as_str())
            {
                self.delete_property(p);
            }
        }
        for s in splitters {
            if self.alive("splitters", s)
                && self.fields("splitters", s, &["parent"])["parent"].as_str() == Some(id.as_str())
            {
                self.delete_splitter(s);
            }
        }
        self.dead.insert(("boxes", at));
        self.summary.boxes_deleted += 1;
    }

    fn delete_pole(&mut self, at: usize) -> bool {
        let id = text(&self.doc("poles", at)["id"]);
        let carries = (0..self.net.boxes.len()).any(|b| {
            self.alive("boxes", b)
                && self.fields("boxes", b, &["pole"])["pole"].as_str() == Some(id.as_str())
        });
        if carries {
            return false;
        }
        let stamp = self.net.next_updated_at();
        for other in 0..self.net.poles.len() {
            let doc = self.doc_mut("poles", other);
            let Some(adjacents) = doc["adjacents"].as_array_mut() else {
                continue;
            };
            let before = adjacents.len();
            adjacents.retain(|a| a.as_str() != Some(id.as_str()));
            if adjacents.len() != before && other != at {
                self.touch("poles", other, &stamp);
            }
        }
        self.dead.insert(("poles", at));
        true
    }

    /// Moves property `at` to `port` of splitter `to` (checked free by the caller).
    fn move_to(&mut self, at: usize, to: usize, port: u64) -> bool {
        let Some(the_box) = self.parent_box(to) else {
            return false;
        };
        let property = self.doc("properties", at);
        let id = text(&property["id"]);
        let stamp = self.net.next_updated_at();
        for (sid, old) in writes::connected_ports(&property) {
            if let Some(s) = self.position("splitters", &sid) {
                writes::release_port(self.doc_mut("splitters", s), old, &id, &stamp);
                self.touched.insert(("splitters", s));
            }
        }
        let fiber = self.net.new_id();
        let connection = writes::connection_doc(&self.doc("splitters", to), port, fiber);
        let (box_id, pole) = {
            let b = self.doc("boxes", the_box);
            (b["id"].clone(), b["pole"].clone())
        };
        if let Some(groups) = self.box_properties.as_mut() {
            groups.entry(text(&box_id)).or_default().push(at);
        }
        let doc = self.doc_mut("properties", at);
        doc["connections"] = json!([connection]);
        doc["box"] = box_id;
        doc["pole"] = pole;
        self.touch("properties", at, &stamp);
        writes::hold_port(self.doc_mut("splitters", to), port, &id, &stamp);
        self.touched.insert(("splitters", to));
        self.summary.properties_moved += 1;
        true
    }

    fn set_code(&mut self, at: usize, code: &str) {
        let stamp = self.net.next_updated_at();
        self.doc_mut("ftth-clients", at)["code"] = json!(code);
        self.touch("ftth-clients", at, &stamp);
        self.summary.codes_changed += 1;
    }

    fn block(&mut self, at: usize, port: u64) -> bool {
        if !writes::port_open(&self.doc("splitters", at), port) {
            return false;
        }
        let stamp = self.net.next_updated_at();
        self.doc_mut("splitters", at)["ports"][port as usize - 1]["blocked"] = json!(true);
        self.touch("splitters", at, &stamp);
        self.summary.ports_blocked += 1;
        true
    }

    /// A new box on `pole` with a service splitter of the `variant`-th service type.
    fn new_box(&mut self, project: &str, pole: usize, variant: u64) -> Option<(String, String)> {
        let types: Vec<(String, String, u64)> = self
            .net
            .splitter_types
            .to_vec()
            .into_iter()
            .filter(|t| t["isDrop"] == json!(true) && doc_id(t).is_some())
            .map(|t| {
                (
                    text(&t["id"]),
                    text(&t["code"]),
                    t["ratio"]["output"].as_u64().unwrap_or(8),
                )
            })
            .collect();
        let (type_id, code, outputs) = types.get(variant as usize % types.len().max(1))?.clone();
        let pole_doc = self.doc("poles", pole);
        let pole_id = text(&pole_doc["id"]);
        let coords = (
            pole_doc["lng"].as_f64().unwrap_or_default(),
            pole_doc["lat"].as_f64().unwrap_or_default(),
        );
        let boxes = &self.net.boxes;
        let box_type = (0..boxes.len()).find_map(|b| {
            boxes.fields(b, &["boxType"])["boxType"]
                .as_str()
                .map(str::to_owned)
        });
        let box_type = box_type.unwrap_or_else(|| self.net.new_id());
        let updated = self.net.next_updated_at();
        let stamp = Stamp {
            secs: 0,
            created: updated.clone(),
            updated,
        };
        let box_id = self.net.new_id();
        let name = format!("CTO-N{:05}", self.net.boxes.len() + 1);
        let the_box = generator::box_doc(BoxParts {
            id: &box_id,
            name: &name,
            project,
            pole: &pole_id,
            coords,
            box_type: &box_type,
            implanted: true,
            draft: false,
            certified: false,
            shared: false,
            address: "",
            stamp: &stamp,
        });
        self.push("boxes", the_box);
        let splitter_id = self.net.new_id();
        let ports: Vec<Value> = (0..outputs)
            .map(|i| generator::port_doc(&self.net.new_id(), i, false))
            .collect();
        let splitter = generator::splitter_doc(SplitterParts {
            id: &splitter_id,
            name: &format!("{code} #1"),
            box_id: &box_id,
            project,
            type_id: &type_id,
            is_drop: true,
            implanted: true,
            outputs,
            input: Value::Null,
            output: vec![Value::Null; outputs as usize],
            ports,
            stamp: &stamp,
        });
        self.push("splitters", splitter);
        self.summary.boxes_created += 1;
        self.summary.splitters_created += 1;
        Some((box_id, splitter_id))
    }

    /// A new property with a new client on free `port` of splitter `s`.
    fn new_property(&mut self, s: usize, port: u64, code: &str) -> Option<()> {
        let the_box = self.parent_box(s)?;
        let (box_id, project, pole, coords) = {
            let b = self.doc("boxes", the_box);
            (
                text(&b["id"]),
                text(&b["project"]),
                b["pole"].clone(),
                (
                    b["lng"].as_f64().unwrap_or_default(),
                    b["lat"].as_f64().unwrap_or_default(),
                ),
            )
        };
        let stamp = self.net.next_updated_at();
        let client_id = self.net.new_id();
        let mut fields = Map::new();
        fields.insert("code".into(), json!(code));
        fields.insert("name".into(), json!(format!("Cliente {code}")));
        fields.insert("implanted".into(), json!(true));
        let client = writes::client_doc(&client_id, &fields, &stamp);
        self.push("ftth-clients", client);
        let id = self.net.new_id();
        let fiber = self.net.new_id();
        let connection = writes::connection_doc(&self.doc("splitters", s), port, fiber);
        let property = writes::property_doc(NewProperty {
            id: &id,
            project: &project,
            box_id: &box_id,
            pole,
            coords,
            address: json!(""),
            client: (json!(client_id), json!(code)),
            connection: Some(connection),
            observation: json!(""),
            stamp: &stamp,
        });
        let at = self.push("properties", property);
        self.holders().set(&client_id, at);
        writes::hold_port(self.doc_mut("splitters", s), port, &id, &stamp);
        self.touched.insert(("splitters", s));
        self.summary.properties_created += 1;
        self.summary.clients_created += 1;
        Some(())
    }

    /// A fresh `SVC-<number>` code after the highest in the network.
    fn next_code(&mut self) -> String {
        let net = &*self.net;
        let last = self.last_code.get_or_insert_with(|| {
            (0..net.ftth_clients.len())
                .map(|i| net.ftth_clients.fields(i, &["code"]))
                .filter_map(|c| {
                    c["code"]
                        .as_str()?
                        .strip_prefix("SVC-")?
                        .parse::<u64>()
                        .ok()
                })
                .max()
                .unwrap_or(0)
        });
        *last += 1;
        format!("SVC-{:06}", *last)
    }

    // ---- random choices, for `mutate` ----

    fn pick(&mut self, route: &'static str) -> Option<usize> {
        let len = self.net.collection(route).len();
        (0..32).find_map(|_| {
            let at = self.rng.below(len as u64) as usize;
            (len > 0 && self.usable(route, at)).then_some(at)
        })
    }

    /// A service splitter (of `project`, if given) in a live box, and one of
    /// its free, unblocked ports.
    fn pick_open_port(&mut self, project: Option<&str>) -> Option<(usize, u64)> {
        for _ in 0..64 {
            let s = self.pick("splitters")?;
            let splitter = self.doc("splitters", s);
            if splitter["isDrop"] != json!(true)
                || project.is_some_and(|p| splitter["project"].as_str() != Some(p))
            {
                continue;
            }
            let open: Vec<u64> = (1..=writes::port_count(&splitter))
                .filter(|p| writes::port_open(&splitter, *p))
                .collect();
            if open.is_empty() || self.parent_box(s).is_none() {
                continue;
            }
            let port = open[self.rng.below(open.len() as u64) as usize];
            return Some((s, port));
        }
        None
    }

    fn random_update(&mut self) -> bool {
        let route = *self.rng.pick(&[
            "poles",
            "boxes",
            "splitters",
            "ftth-clients",
            "properties",
            "properties",
            "ftth-clients",
        ]);
        let Some(at) = self.pick(route) else {
            return false;
        };
        let variant = self.rng.next_u64();
        self.update(route, at, variant);
        true
    }

    fn random_new_property(&mut self) -> bool {
        let Some((s, port)) = self.pick_open_port(None) else {
            return false;
        };
        let code = self.next_code();
        self.new_property(s, port, &code).is_some()
    }

    fn random_delete(&mut self, route: &'static str) -> bool {
        let Some(at) = self.pick(route) else {
            return false;
        };
        self.delete(route, at)
    }

    /// Of a few boxes drawn, the one with the fewest properties: CTOs that
    /// still serve customers are seldom removed.
    fn random_delete_box(&mut self) -> bool {
        self.group_boxes();
        let mut best: Option<(usize, usize)> = None;
        for _ in 0..4 {
            let Some(b) = self.pick("boxes") else {
                return false;
            };
            let id = text(&self.fields("boxes", b, &["id"])["id"]);
            let served = self
                .box_properties
                .as_ref()
                .and_then(|g| g.get(&id))
                .map_or(0, |ps| {
                    ps.iter()
                        .filter(|p| {
                            self.alive("properties", **p)
                                && self.fields("properties", **p, &["box"])["box"].as_str()
                                    == Some(id.as_str())
                        })
                        .count()
                });
            if best.is_none_or(|(_, fewest)| served < fewest) {
                best = Some((b, served));
            }
        }
        best.is_some_and(|(b, _)| self.delete("boxes", b))
    }

    fn random_move(&mut self) -> bool {
        let Some(at) = self.pick("properties") else {
            return false;
        };
        let property = self.doc("properties", at);
        if property["connections"].as_array().is_none_or(Vec::is_empty) {
            return false;
        }
        let project = text(&property["project"]);
        let Some((s, port)) = self.pick_open_port(Some(&project)) else {
            return false;
        };
        self.move_to(at, s, port)
    }

    fn random_code(&mut self) -> bool {
        let Some(at) = self.pick("ftth-clients") else {
            return false;
        };
        let code = self.next_code();
        self.set_code(at, &code);
        true
    }

    fn random_block(&mut self) -> bool {
        let Some((s, port)) = self.pick_open_port(None) else {
            return false;
        };
        self.block(s, port)
    }

    fn random_new_box(&mut self) -> bool {
        let Some(b) = self.pick("boxes") else {
            return false;
        };
        let (project, pole) = {
            let doc = self.doc("boxes", b);
            (text(&doc["project"]), text(&doc["pole"]))
        };
        let Some(pole) = self.position("poles", &pole) else {
            return false;
        };
        let variant = self.rng.next_u64();
        self.new_box(&project, pole, variant).is_some()
    }
}
