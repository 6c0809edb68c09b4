//! A seeded, realistic OZmap network: projects, shared poles, CTO boxes with
//! service and distribution splitters, properties on service ports, FTTH clients
//! (some without code, some held by no property), cables, and a few deliberately
//! invalid records.

use serde_json::{Value, json};

use crate::clock::iso8601;
use crate::network::Network;
use crate::rng::Rng;

/// Project names, in generation order. The first and third differ only in case,
/// so exact (case-sensitive) project matching can be tested.
pub const PROJECT_NAMES: [&str; 8] = [
    "Centro Norte",
    "Vila Esperança",
    "centro norte",
    "Distrito Industrial",
    "Praia Brava",
    "Campeche",
    "Trindade",
    "Ingleses",
];

/// Every invalid record carries this prefix in its `observation` (and in its
/// `name`, where the kind has names), so tests can tell them apart.
pub const INVALID_MARKER: &str = "INVALID";

/// Average number of documents the generator makes per box (pole, box,
/// splitters, cable, properties, clients); `scaled` sizes from it.
const ELEMENTS_PER_BOX: usize = 19;

/// 2021-03-01T00:00:00Z: generated documents are dated from here on.
const EPOCH_SECS: i64 = 1_614_556_800;
const SPAN_SECS: i64 = 3 * 365 * 86_400;

const FIRST_NAMES: [&str; 16] = [
    "Maria",
    "José",
    "Ana",
    "João",
    "Francisca",
    "Antônio",
    "Adriana",
    "Carlos",
    "Juliana",
    "Paulo",
    "Márcia",
    "Pedro",
    "Aline",
    "Lucas",
    "Fernanda",
    "Rafael",
];
const LAST_NAMES: [&str; 14] = [
    "Silva",
    "Santos",
    "Oliveira",
    "Souza",
    "Rodrigues",
    "Ferreira",
    "Alves",
    "Pereira",
    "Lima",
    "Gomes",
    "Costa",
    "Ribeiro",
    "Martins",
    "Carvalho",
];
const STREETS: [&str; 8] = [
    "Rua das Flores",
    "Avenida Beira Mar",
    "Rua XV de Novembro",
    "Rua Bocaiúva",
    "Servidão dos Pescadores",
    "Rua Lauro Linhares",
    "Rodovia SC-401",
    "Rua Desembargador Vitor Lima",
];

/// What to generate. Every knob is deterministic for a seed.
#[derive(Clone, Debug, PartialEq)]
pub struct GeneratorConfig {
    /// Seed of every random choice (and part of every id).
    pub seed: u64,
    /// Number of projects; names come from [`PROJECT_NAMES`], then "Projeto N".
    pub projects: usize,
    /// CTO boxes per project: the scale knob (about 19 documents per box).
    pub boxes_per_project: usize,
    /// Share of FTTH clients whose `code` is empty (`""`).
    pub clients_without_code_ratio: f64,
    /// Share of properties (on service ports) whose `client` is `null`.
    pub properties_without_client_ratio: f64,
    /// Schema-breaking records to inject, spread round-robin over six kinds (see
    /// [`generate`]).
    pub invalid_records: usize,
}

impl GeneratorConfig {
    /// A few hundred documents (3 projects of 6 boxes, 6 invalid records): for
    /// tests and the demo.
    pub fn small() -> Self {
        GeneratorConfig {
            seed: 42,
            projects: 3,
            boxes_per_project: 6,
            clients_without_code_ratio: 0.15,
            properties_without_client_ratio: 0.1,
            invalid_records: 6,
        }
    }

    /// About `total_elements` documents over all routes (more projects as it
    /// grows, up to 8).
    pub fn scaled(total_elements: usize) -> Self {
        let projects = (3 + total_elements / 250_000).min(PROJECT_NAMES.len());
        GeneratorConfig {
            projects,
            boxes_per_project: (total_elements / (projects * ELEMENTS_PER_BOX)).max(1),
            invalid_records: 6 + total_elements / 100_000,
            ..GeneratorConfig::small()
        }
    }
}

impl Default for GeneratorConfig {
    fn default() -> Self {
        GeneratorConfig::small()
    }
}

/// Generates the network for `cfg`; the same config always gives the same network.
///
/// Guarantees: project names as in [`PROJECT_NAMES`]; every box hangs on a pole,
/// and from the second project on the first box of each project hangs on a pole
/// of an earlier project (poles are shared); every box has one service splitter
/// (`isDrop` true, 1x8 or 1x16, type code ending in "A") and about a quarter also
/// a distribution splitter (`isDrop` false, "R"); about 4% of service ports are
/// blocked and never occupied; about one box in ten is full; each property sits
/// alone on a service port (`connections[0]` and the splitter's
/// `connectables.output[port-1]` agree; `ports[i].index` is `i`, 0-based like
/// `connectables.output`, while property ports count from 1); a distribution
/// splitter's first output feeds its box's service splitter; client codes are
/// `SVC-000001`, ... (numbered in creation order, so the numbers of clients
/// without code are skipped); a client without code has `code: ""` (every
/// client has the field, as the SDK's schema requires); about 20% of coded clients carry an `external_id`; about 5%
/// of clients are held by no property; one cable per box (`boxA`/`boxB`), while
/// property `drop` ids name no cable document.
///
/// Invalid records, round-robin in this order, inserted at random positions
/// and marked with [`INVALID_MARKER`]: a pole with coordinates out of range,
/// a box without `id`/`_id`, a splitter whose `parent` box does not exist, an
/// FTTH client without `id`/`_id`, a property with coordinates out of range, a
/// box with coordinates out of range.
pub fn generate(cfg: &GeneratorConfig) -> Network {
    let mut g = Gen {
        rng: Rng::new(cfg.seed),
        net: Network::new(cfg.seed),
        cfg: cfg.clone(),
        client_no: 0,
        pole_no: 0,
        catalog: Catalog::default(),
    };
    g.catalog();
    let mut projects = Vec::new();
    for p in 0..cfg.projects {
        projects.push(g.project(p));
    }
    for (p, project) in projects.iter_mut().enumerate() {
        g.project_network(p, project);
    }
    g.invalid_records(&projects);
    g.net.compact();
    g.net
}

#[derive(Default)]
struct Catalog {
    service_types: Vec<(String, String, u64)>,
    distribution_types: Vec<(String, String, u64)>,
    pole_types: Vec<String>,
    box_type: String,
    cable_type: String,
    drop_cable_type: String,
}

struct Project {
    id: String,
    name: String,
    center: (f64, f64),
    poles: Vec<usize>,
    boxes: Vec<String>,
}

/// When a document was created and last updated.
pub(crate) struct Stamp {
    pub(crate) secs: i64,
    pub(crate) created: String,
    pub(crate) updated: String,
}

struct Gen {
    rng: Rng,
    net: Network,
    cfg: GeneratorConfig,
    client_no: u64,
    pole_no: u64,
    catalog: Catalog,
}

impl Gen {
    fn stamp(&mut self) -> Stamp {
        let secs = EPOCH_SECS + self.rng.below(SPAN_SECS as u64) as i64;
        let updated = secs + self.rng.below(200 * 86_400) as i64;
        Stamp {
            secs,
            created: iso8601(secs * 1000 + self.rng.below(1000) as i64),
            updated: iso8601(updated * 1000 + self.rng.below(1000) as i64),
        }
    }

    /// A fresh id dated like the stamp, and the stamp itself.
    fn ident(&mut self) -> (String, Stamp) {
        let stamp = self.stamp();
        (self.net.id_at(stamp.secs as u32), stamp)
    }

    fn catalog(&mut self) {
        let types = [
            ("Splitter 1x8 A", true, 8u64, 10.5),
            ("Splitter 1x16 A", true, 16, 13.7),
            ("Splitter 1x8 R", false, 8, 10.5),
            ("Splitter 1x4 R", false, 4, 7.2),
        ];
        for (code, is_drop, outputs, loss) in types {
            let (id, s) = self.ident();
            self.net.splitter_types.push(json!({
                "id": id, "_id": id, "code": code, "isDrop": is_drop,
                "ratio": {"input": 1, "output": outputs},
                "prefix": if is_drop { "A" } else { "R" },
                "brand": "Furukawa", "isBalanced": true, "size": 0,
                "inputConnectionType": 1, "outputConnectionType": 1,
                "attenuation": vec![loss; outputs as usize],
                "createdAt": s.created, "updatedAt": s.updated,
            }));
            let entry = (id, code.to_owned(), outputs);
            if is_drop {
                self.catalog.service_types.push(entry);
            } else {
                self.catalog.distribution_types.push(entry);
            }
        }
        let secs = EPOCH_SECS as u32;
        self.catalog.pole_types = vec![self.net.id_at(secs), self.net.id_at(secs)];
        self.catalog.box_type = self.net.id_at(secs);
        self.catalog.cable_type = self.net.id_at(secs);
        self.catalog.drop_cable_type = self.net.id_at(secs);
    }

    fn project(&mut self, p: usize) -> Project {
        let name = PROJECT_NAMES
            .get(p)
            .map_or_else(|| format!("Projeto {}", p + 1), |n| (*n).to_owned());
        // Neighbouring areas overlap a little, as real city regions do.
        let center = (
            -48.55 + 0.08 * (p % 4) as f64,
            -27.60 - 0.08 * (p / 4) as f64,
        );
        let (lng, lat) = center;
        let (id, s) = self.ident();
        let d = 0.05;
        let max_drop = [150, 200, 250, 300][p % 4];
        self.net.projects.push(json!({
            "id": id, "_id": id, "name": name, "identifier": format!("PRJ-{:02}", p + 1),
            "lat": lat, "lng": lng,
            "area": {"type": "Polygon", "coordinates": [[
                [lng - d, lat - d], [lng + d, lat - d], [lng + d, lat + d],
                [lng - d, lat + d], [lng - d, lat - d]]]},
            "drop": {"type": {"cableType": self.catalog.drop_cable_type},
                     "maxSize": max_drop},
            "hierarchyLevels": {"box": [
                {"id": 1, "name": "POP"}, {"id": 2, "name": "CEO"}, {"id": 3, "name": "CTO"}]},
            "defaultPonPotency": 5, "parents": [], "hasLogo": false,
            "createdAt": s.created, "updatedAt": s.updated,
        }));
        Project {
            id,
            name,
            center,
            poles: Vec::new(),
            boxes: Vec::new(),
        }
    }

    fn address(&mut self, district: &str) -> String {
        let street = *self.rng.pick(&STREETS);
        format!("{street}, {} - {district}", 1 + self.rng.below(2000))
    }

    fn pole(&mut self, project: &mut Project) -> usize {
        self.pole_no += 1;
        let (id, s) = self.ident();
        let (cx, cy) = project.center;
        let lng = round6(cx + self.rng.range(-0.045, 0.045));
        let lat = round6(cy + self.rng.range(-0.045, 0.045));
        // Importers keep duplicate names and append numbers to some.
        let name = match self.rng.below(50) {
            0 if self.pole_no > 1 => format!("P-{:06}", self.pole_no - 1),
            1 => format!("P-{:06} 2", self.pole_no),
            _ => format!("P-{:06}", self.pole_no),
        };
        let adjacents: Vec<String> = match project.poles.last() {
            Some(&prev) => {
                let prev_id = self.net.poles.update(prev, |p| {
                    if let Some(a) = p["adjacents"].as_array_mut() {
                        a.push(Value::String(id.clone()));
                    }
                    p["id"].clone()
                });
                vec![prev_id.as_str().unwrap_or_default().to_owned()]
            }
            None => Vec::new(),
        };
        let pole_type = self.rng.pick(&self.catalog.pole_types).clone();
        let address = self.address(&project.name);
        self.net.poles.push(json!({
            "id": id, "_id": id, "kind": "Pole", "name": name,
            "coords": [lng, lat], "lat": lat, "lng": lng,
            "poleType": pole_type, "usable": !self.rng.chance(0.05),
            "address": address, "adjacents": adjacents, "tags": [], "observation": "",
            "createdAt": s.created, "updatedAt": s.updated,
        }));
        let index = self.net.poles.len() - 1;
        project.poles.push(index);
        index
    }

    fn project_network(&mut self, p: usize, project: &mut Project) {
        let earlier_poles = self.net.poles.len();
        let mut previous: Option<(String, String)> = None;
        for b in 0..self.cfg.boxes_per_project {
            let shared = earlier_poles > 0 && (b == 0 || self.rng.chance(0.08));
            let pole = if shared {
                self.rng.below(earlier_poles as u64) as usize
            } else {
                self.pole(project)
            };
            if self.rng.chance(0.1) {
                self.pole(project);
            }
            let (box_id, pole_id) = self.cto(b, project, pole, shared);
            self.cable(p, b, project, previous.as_ref(), (&box_id, &pole_id));
            project.boxes.push(box_id.clone());
            previous = Some((box_id, pole_id));
        }
    }

    fn cto(&mut self, b: usize, project: &Project, pole: usize, shared: bool) -> (String, String) {
        let (id, s) = self.ident();
        let pole_doc = self.net.poles.fields(pole, &["id", "lng", "lat"]);
        let pole_id = pole_doc["id"].as_str().unwrap_or_default().to_owned();
        let (lng, lat) = (
            pole_doc["lng"].as_f64().unwrap_or_default(),
            pole_doc["lat"].as_f64().unwrap_or_default(),
        );
        let name = if self.rng.chance(0.02) {
            format!("CTO-{:04} 2", b + 1)
        } else {
            format!("CTO-{:04}", b + 1)
        };
        let implanted = !self.rng.chance(0.08);
        let address = self.address(&project.name);
        let draft = self.rng.chance(0.03);
        let certified = self.rng.chance(0.3);
        self.net.boxes.push(box_doc(BoxParts {
            id: &id,
            name: &name,
            project: &project.id,
            pole: &pole_id,
            coords: (lng, lat),
            box_type: &self.catalog.box_type,
            implanted,
            draft,
            certified,
            shared,
            address: &address,
            stamp: &s,
        }));
        let distribution = self
            .rng
            .chance(0.25)
            .then(|| self.distribution_splitter(project, &id, implanted));
        self.service_splitter(
            project,
            (&id, &pole_id),
            (lng, lat),
            implanted,
            distribution,
        );
        (id, pole_id)
    }

    /// A distribution splitter; its id and position, so the service splitter it
    /// feeds can be wired to its first output.
    fn distribution_splitter(
        &mut self,
        project: &Project,
        box_id: &str,
        implanted: bool,
    ) -> (String, usize) {
        let (type_id, code, outputs) = self.rng.pick(&self.catalog.distribution_types).clone();
        let (id, s) = self.ident();
        let ports = self.ports(outputs, 0.0);
        let output = vec![Value::Null; outputs as usize];
        self.net.splitters.push(splitter_doc(SplitterParts {
            id: &id,
            name: &format!("{code} #2"),
            box_id,
            project: &project.id,
            type_id: &type_id,
            is_drop: false,
            implanted,
            outputs,
            input: Value::Null,
            output,
            ports,
            stamp: &s,
        }));
        (id, self.net.splitters.len() - 1)
    }

    fn ports(&mut self, outputs: u64, blocked_share: f64) -> Vec<Value> {
        (0..outputs)
            .map(|i| {
                let secs = EPOCH_SECS as u32;
                let id = self.net.id_at(secs);
                port_doc(&id, i, self.rng.chance(blocked_share))
            })
            .collect()
    }

    fn service_splitter(
        &mut self,
        project: &Project,
        (box_id, pole_id): (&str, &str),
        (lng, lat): (f64, f64),
        implanted: bool,
        feeder: Option<(String, usize)>,
    ) {
        let (type_id, code, outputs) = self.rng.pick(&self.catalog.service_types).clone();
        let (id, s) = self.ident();
        if let Some((_, at)) = &feeder {
            self.net.splitters.update(*at, |feeder| {
                if let Some(slot) = feeder.pointer_mut("/connectables/output/0") {
                    *slot = Value::String(id.clone());
                }
            });
        }
        let name = format!("{code} #1");
        let ports = self.ports(outputs, 0.04);
        let occupancy = if self.rng.chance(0.1) {
            1.0
        } else {
            self.rng.range(0.3, 0.9)
        };
        let mut output = vec![Value::Null; outputs as usize];
        for (i, port) in ports.iter().enumerate() {
            if port["blocked"] == Value::Bool(true) || !self.rng.chance(occupancy) {
                continue;
            }
            let site = Site {
                project,
                box_id,
                pole_id,
                splitter: (&id, &name),
                near: (lng, lat),
                implanted,
            };
            output[i] = Value::String(self.property(&site, i as u64 + 1));
        }
        self.net.splitters.push(splitter_doc(SplitterParts {
            id: &id,
            name: &name,
            box_id,
            project: &project.id,
            type_id: &type_id,
            is_drop: true,
            implanted,
            outputs,
            input: feeder.map_or(Value::Null, |(fid, _)| Value::String(fid)),
            output,
            ports,
            stamp: &s,
        }));
    }

    fn property(&mut self, site: &Site<'_>, port: u64) -> String {
        let (id, s) = self.ident();
        let client = (!self.rng.chance(self.cfg.properties_without_client_ratio))
            .then(|| self.client(site.implanted));
        if self.rng.chance(0.05) {
            self.client(true);
        }
        let lng = round6(site.near.0 + self.rng.range(-0.002, 0.002));
        let lat = round6(site.near.1 + self.rng.range(-0.002, 0.002));
        let secs = s.secs as u32;
        let (drop, fiber) = (self.net.id_at(secs), self.net.id_at(secs));
        let history: Vec<Value> = client
            .iter()
            .map(|(cid, code)| {
                json!({"id": cid, "code": code, "enter_date": s.created, "exit_date": null})
            })
            .collect();
        let potency =
            (!self.rng.chance(0.3)).then(|| (self.rng.range(-27.0, -17.0) * 100.0).round() / 100.0);
        let address = self.address(&site.project.name);
        self.net.properties.push(json!({
            "id": id, "_id": id, "kind": "Property",
            "project": site.project.id, "box": site.box_id, "pole": site.pole_id,
            "coords": [lng, lat], "lat": lat, "lng": lng, "address": address,
            "client": client.map(|(cid, _)| cid), "drop": drop,
            "connections": [{"id": site.splitter.0, "kind": "Splitter", "port": port,
                             "name": site.splitter.1, "implanted": site.implanted, "fiber": fiber}],
            "history": {"clients": history}, "observation": "", "potencyRead": potency,
            "createdAt": s.created, "updatedAt": s.updated,
        }));
        id
    }

    /// A new FTTH client: its id and code (`null` when it has none).
    fn client(&mut self, implanted: bool) -> (String, Value) {
        let (id, s) = self.ident();
        self.client_no += 1;
        let n = self.client_no;
        let without_code = self.rng.chance(self.cfg.clients_without_code_ratio);
        let code = (!without_code).then(|| format!("SVC-{n:06}"));
        let first = *self.rng.pick(&FIRST_NAMES);
        let last = *self.rng.pick(&LAST_NAMES);
        let mac = self.rng.next_u64();
        let mut doc = json!({
            "id": id, "_id": id, "kind": "ftth",
            "name": format!("{first} {last}"), "observation": "",
            "implanted": implanted, "certified": self.rng.chance(0.2),
            "status": u8::from(self.rng.chance(0.03)),
            "onu": {
                "user_PPPoE": code.as_ref().map_or(String::new(), |c| c.to_lowercase()),
                "serial_number": format!("ZTEG{:08X}", mac as u32),
                "mac_address": format!("{:02X}:{:02X}:{:02X}:{:02X}:{:02X}:{:02X}",
                    0xE4, 0x5F, (mac >> 32) as u8, (mac >> 40) as u8, (mac >> 48) as u8, (mac >> 56) as u8),
            },
            "tags": [],
            "createdAt": s.created, "updatedAt": s.updated,
        });
        let obj = doc.as_object_mut().expect("a client is an object");
        // Clients made in OZmap by hand have an empty code; the field is always
        // there, as the SDK's FTTHClient schema requires it.
        obj.insert(
            "code".into(),
            Value::String(code.clone().unwrap_or_default()),
        );
        if code.is_some() && self.rng.chance(0.2) {
            obj.insert("external_id".into(), Value::String(format!("erp-{n}")));
        }
        self.net.ftth_clients.push(doc);
        (id, code.map_or(Value::Null, Value::String))
    }

    fn cable(
        &mut self,
        p: usize,
        b: usize,
        project: &Project,
        previous: Option<&(String, String)>,
        (box_id, pole_id): (&str, &str),
    ) {
        let (id, s) = self.ident();
        let poles: Vec<&str> = previous
            .map(|(_, pole)| pole.as_str())
            .into_iter()
            .chain([pole_id])
            .collect();
        self.net.cables.push(json!({
            "id": id, "_id": id, "kind": "Cable",
            "name": format!("CB-{:02}-{:05}", p + 1, b + 1),
            "project": project.id, "cableType": self.catalog.cable_type,
            "boxA": previous.map(|(bx, _)| bx.as_str()), "boxB": box_id, "poles": poles,
            "length": (self.rng.range(40.0, 400.0) * 10.0).round() / 10.0,
            "fiberNumber": *self.rng.pick(&[12, 24, 36]),
            "implanted": true, "hierarchyLevel": 1, "observation": "",
            "createdAt": s.created, "updatedAt": s.updated,
        }));
    }

    fn invalid_records(&mut self, projects: &[Project]) {
        let Some(project) = projects.first() else {
            return;
        };
        let box_id = project.boxes.first().cloned().unwrap_or_default();
        let pole_id = if self.net.poles.is_empty() {
            String::new()
        } else {
            let first = self.net.poles.fields(0, &["id"]);
            first["id"].as_str().unwrap_or_default().to_owned()
        };
        for n in 0..self.cfg.invalid_records {
            let k = n / 6 + 1;
            let (id, s) = self.ident();
            let (c, u) = (s.created.clone(), s.updated.clone());
            let (route, doc) = match n % 6 {
                0 => (
                    "poles",
                    json!({
                    "id": id, "_id": id, "kind": "Pole", "name": format!("{INVALID_MARKER}-POLE-COORDS-{k}"),
                    "coords": [-200.0, 95.0], "lat": 95.0, "lng": -200.0, "poleType": self.catalog.pole_types[0],
                    "usable": true, "adjacents": [], "tags": [],
                    "observation": format!("{INVALID_MARKER}: coordinates out of range"),
                    "createdAt": c, "updatedAt": u}),
                ),
                1 => (
                    "boxes",
                    json!({
                    "kind": "Box", "name": format!("{INVALID_MARKER}-BOX-NO-ID-{k}"),
                    "project": project.id, "pole": pole_id, "coords": [project.center.0, project.center.1],
                    "lat": project.center.1, "lng": project.center.0, "boxType": self.catalog.box_type,
                    "hierarchyLevel": 3, "implanted": true, "draft": false, "certified": false, "shared": false,
                    "underground": false,
                    "observation": format!("{INVALID_MARKER}: no id"),
                    "createdAt": c, "updatedAt": u}),
                ),
                2 => {
                    let missing_box = self.net.id_at(s.secs as u32);
                    let (type_id, _, outputs) = self.catalog.service_types[0].clone();
                    let ports = self.ports(outputs, 0.0);
                    let mut doc = splitter_doc(SplitterParts {
                        id: &id,
                        name: &format!("{INVALID_MARKER}-SPLITTER-NO-BOX-{k}"),
                        box_id: &missing_box,
                        project: &project.id,
                        type_id: &type_id,
                        is_drop: true,
                        implanted: true,
                        outputs,
                        input: Value::Null,
                        output: vec![Value::Null; outputs as usize],
                        ports,
                        stamp: &s,
                    });
                    doc["observation"] =
                        json!(format!("{INVALID_MARKER}: parent box does not exist"));
                    ("splitters", doc)
                }
                3 => (
                    "ftth-clients",
                    json!({
                    "kind": "ftth", "code": format!("{INVALID_MARKER}-{k:04}"),
                    "name": format!("{INVALID_MARKER}-CLIENT-NO-ID-{k}"),
                    "observation": format!("{INVALID_MARKER}: no id"),
                    "implanted": true, "certified": false, "status": 0,
                    "onu": {"user_PPPoE": "", "serial_number": "", "mac_address": ""}, "tags": [],
                    "createdAt": c, "updatedAt": u}),
                ),
                4 => (
                    "properties",
                    json!({
                    "id": id, "_id": id, "kind": "Property", "project": project.id, "box": box_id,
                    "pole": pole_id, "coords": [-48.5, -127.0], "lat": -127.0, "lng": -48.5,
                    "address": "", "client": null, "drop": null, "connections": [],
                    "history": {"clients": []},
                    "observation": format!("{INVALID_MARKER}: coordinates out of range"),
                    "tags": [], "createdAt": c, "updatedAt": u}),
                ),
                _ => (
                    "boxes",
                    json!({
                    "id": id, "_id": id, "kind": "Box", "name": format!("{INVALID_MARKER}-BOX-COORDS-{k}"),
                    "project": project.id, "pole": pole_id, "coords": [181.5, -27.6],
                    "lat": -27.6, "lng": 181.5, "boxType": self.catalog.box_type,
                    "hierarchyLevel": 3, "implanted": true, "draft": false, "certified": false, "shared": false,
                    "underground": false,
                    "observation": format!("{INVALID_MARKER}: coordinates out of range"),
                    "createdAt": c, "updatedAt": u}),
                ),
            };
            let coll = self.net.collection_mut(route);
            let at = self.rng.below(coll.len() as u64 + 1) as usize;
            self.net.collection_mut(route).insert(at, doc);
        }
    }
}

struct Site<'a> {
    project: &'a Project,
    box_id: &'a str,
    pole_id: &'a str,
    splitter: (&'a str, &'a str),
    near: (f64, f64),
    implanted: bool,
}

/// What a splitter document is made of.
pub(crate) struct SplitterParts<'a> {
    pub(crate) id: &'a str,
    pub(crate) name: &'a str,
    pub(crate) box_id: &'a str,
    pub(crate) project: &'a str,
    pub(crate) type_id: &'a str,
    pub(crate) is_drop: bool,
    pub(crate) implanted: bool,
    pub(crate) outputs: u64,
    pub(crate) input: Value,
    pub(crate) output: Vec<Value>,
    pub(crate) ports: Vec<Value>,
    pub(crate) stamp: &'a Stamp,
}

/// A splitter document as OZmap answers it.
pub(crate) fn splitter_doc(s: SplitterParts<'_>) -> Value {
    let loss = if s.outputs >= 16 {
        13.7
    } else if s.outputs >= 8 {
        10.5
    } else {
        7.2
    };
    json!({
        "id": s.id, "_id": s.id, "kind": "Splitter", "name": s.name,
        "parent": s.box_id, "project": s.project, "splitterType": s.type_id,
        "isDrop": s.is_drop, "implanted": s.implanted,
        "ratio": {"input": 1, "output": s.outputs},
        "connectables": {"input": [s.input], "output": s.output},
        "ports": s.ports, "attenuation": vec![loss; s.outputs as usize],
        "createdAt": s.stamp.created, "updatedAt": s.stamp.updated,
    })
}

/// One output port of a splitter (`index` 0-based).
pub(crate) fn port_doc(id: &str, index: u64, blocked: bool) -> Value {
    json!({"id": id, "index": index, "blocked": blocked, "tags": [], "observation": ""})
}

/// What a CTO box document is made of.
pub(crate) struct BoxParts<'a> {
    pub(crate) id: &'a str,
    pub(crate) name: &'a str,
    pub(crate) project: &'a str,
    pub(crate) pole: &'a str,
    /// `(lng, lat)`.
    pub(crate) coords: (f64, f64),
    pub(crate) box_type: &'a str,
    pub(crate) implanted: bool,
    pub(crate) draft: bool,
    pub(crate) certified: bool,
    pub(crate) shared: bool,
    pub(crate) address: &'a str,
    pub(crate) stamp: &'a Stamp,
}

/// A CTO box document as OZmap answers it.
pub(crate) fn box_doc(b: BoxParts<'_>) -> Value {
    let (lng, lat) = b.coords;
    json!({
        "id": b.id, "_id": b.id, "kind": "Box", "name": b.name,
        "project": b.project, "pole": b.pole,
        "coords": [lng, lat], "lat": lat, "lng": lng,
        "boxType": b.box_type, "hierarchyLevel": 3,
        "implanted": b.implanted, "draft": b.draft,
        "certified": b.certified, "shared": b.shared, "underground": false,
        "address": b.address, "tags": [],
        "createdAt": b.stamp.created, "updatedAt": b.stamp.updated,
    })
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}
