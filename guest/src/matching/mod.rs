//! Matching the ISP's services with the platform's clients that carry no
//! usable code: scored, explained suggestions for a person to accept or
//! reject.
//!
//! Keys, strongest first: CPF/CNPJ (check digits verified), ONU serial,
//! PPPoE login, then the name weighed with the distance between the
//! service's address and the client's premises. Candidates are found by
//! exact keys and by a spatial grid with a name-word index, never by
//! comparing every pair. Deterministic: the same input gives the same
//! suggestions, in the same order.

pub mod geo;
pub mod keys;

use std::collections::BTreeSet;

use crate::model::{Connection, Position};
use geo::Cell;
use keys::Document;

/// Maps with a fixed hasher: fast, and the same in every run and runtime
/// (no random seed to ask the host for).
type Map<K, V> = rustc_hash::FxHashMap<K, V>;

/// A service of the ISP's system, as matching reads it.
#[derive(Clone, Debug, Default)]
pub struct Service {
    /// `id_cliente_servico`.
    pub id: String,
    pub name: Option<String>,
    /// CPF or CNPJ, in any punctuation.
    pub document: Option<String>,
    pub pppoe_login: Option<String>,
    pub onu_serial: Option<String>,
    pub position: Option<Position>,
}

/// A platform client, with the property that holds it.
#[derive(Clone, Debug, Default)]
pub struct PlatformClient {
    /// The platform's id.
    pub id: String,
    /// None or empty: the platform holds no code.
    pub code: Option<String>,
    pub name: String,
    /// Free text the platform keeps (where a CPF or CNPJ is often written).
    pub observation: Option<String>,
    pub pppoe_login: Option<String>,
    pub onu_serial: Option<String>,
    /// The property that holds it.
    pub property: Option<String>,
    /// Where its property is.
    pub position: Option<Position>,
    /// The splitter port its property takes.
    pub connection: Option<Connection>,
}

/// A client whose code is a service's id.
#[derive(Clone, Debug, PartialEq)]
pub struct Identified {
    pub service: String,
    pub client: String,
    pub property: Option<String>,
    pub connection: Option<Connection>,
}

/// Who meets whom by code, and who does not; each list sorted.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Identification {
    pub identified: Vec<Identified>,
    pub clients_without_code: Vec<String>,
    pub codes_without_service: Vec<String>,
    pub services_without_client: Vec<String>,
}

fn code_of(client: &PlatformClient) -> Option<&str> {
    client
        .code
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
}

/// Identify clients by code: a client whose `code` is a service's id is
/// that service.
pub fn identify(services: &[Service], clients: &[PlatformClient]) -> Identification {
    let known: BTreeSet<&str> = services.iter().map(|s| s.id.as_str()).collect();
    let mut found = Identification::default();
    let mut served = BTreeSet::new();
    for client in clients {
        match code_of(client) {
            None => found.clients_without_code.push(client.id.clone()),
            Some(code) if known.contains(code) => {
                served.insert(code);
                found.identified.push(Identified {
                    service: code.to_string(),
                    client: client.id.clone(),
                    property: client.property.clone(),
                    connection: client.connection.clone(),
                });
            }
            Some(_) => found.codes_without_service.push(client.id.clone()),
        }
    }
    found.services_without_client = known
        .iter()
        .filter(|id| !served.contains(*id))
        .map(|id| id.to_string())
        .collect();
    found
        .identified
        .sort_by(|a, b| (&a.service, &a.client).cmp(&(&b.service, &b.client)));
    found.clients_without_code.sort();
    found.codes_without_service.sort();
    found
}

/// Suggestions for a person to review: matching (see `suggest`) between
/// the services no client is identified with and the clients identified
/// with no service.
pub fn review(
    mut services: Vec<Service>,
    mut clients: Vec<PlatformClient>,
    rejected: &BTreeSet<(String, String)>,
    min_score: f64,
) -> Vec<Suggestion> {
    // Taken by value and filtered in place: at 400,000 a side, a copy of
    // either list is a good part of what the component may hold.
    let identified: BTreeSet<String> = {
        let ids: BTreeSet<&str> = services.iter().map(|s| s.id.as_str()).collect();
        clients
            .iter()
            .filter_map(code_of)
            .filter(|code| ids.contains(code))
            .map(str::to_string)
            .collect()
    };
    services.retain(|s| !identified.contains(&s.id));
    clients.retain(|c| code_of(c).is_none_or(|code| !identified.contains(code)));
    suggest(&services, &clients, rejected, min_score)
}

/// A proposed match, with why.
#[derive(Clone, Debug, PartialEq)]
pub struct Suggestion {
    pub service: String,
    pub client: String,
    /// From 0 to 1.
    pub score: f64,
    /// The keys that agreed: "document", "onu_serial", "pppoe_login", "name".
    pub agreed: Vec<&'static str>,
    /// How alike the names are (0 to 1), when both have one.
    pub name_similarity: Option<f64>,
    /// Metres between the service's position and the client's premises.
    pub distance_m: Option<f64>,
    /// The same, in words for a person.
    pub reasons: Vec<String>,
}

/// Suggestions at or above this score are offered by default.
pub const DEFAULT_MIN_SCORE: f64 = 0.80;

/// What each key alone is worth when it agrees.
const DOCUMENT: f64 = 0.99;
const ONU_SERIAL: f64 = 0.97;
const PPPOE: f64 = 0.95;
/// A name alone, alike and near, at its best.
const NAME_AND_PLACE: f64 = 0.92;
/// Names less alike than this say nothing.
const NAME_FLOOR: f64 = 0.6;
/// Within this distance, the place agrees fully; past `FAR_M`, not at all.
const NEAR_M: f64 = 100.0;
const FAR_M: f64 = 300.0;
/// A name candidate whose runner-up scores this close is ambiguous
/// (homonyms next door): it is not offered on name and place alone.
const AMBIGUOUS: f64 = 0.9;
/// Name words a nearby client must share with the service to be compared
/// (one typo leaves two of three words intact).
const SHARED_WORDS: usize = 2;

/// Suggest at most one client per service and one service per client,
/// best first, leaving out `rejected` (service, client) pairs.
pub fn suggest(
    services: &[Service],
    clients: &[PlatformClient],
    rejected: &BTreeSet<(String, String)>,
    min_score: f64,
) -> Vec<Suggestion> {
    let index = ClientIndex::new(clients);
    let client_at: Map<&str, u32> = clients
        .iter()
        .enumerate()
        .map(|(i, c)| (c.id.as_str(), i as u32))
        .collect();
    let service_keys: Vec<ServiceKeys> = services.iter().map(ServiceKeys::of).collect();
    let mut refused: Map<u32, Vec<u32>> = Map::default();
    let service_at: Map<&str, u32> = services
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id.as_str(), i as u32))
        .collect();
    for (service, client) in rejected {
        if let (Some(&s), Some(&c)) = (
            service_at.get(service.as_str()),
            client_at.get(client.as_str()),
        ) {
            refused.entry(s).or_default().push(c);
        }
    }
    // Only what could still be offered, or could make an offer ambiguous.
    let floor = min_score * AMBIGUOUS;
    let mut all: Vec<Scored> = Vec::new();
    for (s, keys) in service_keys.iter().enumerate() {
        let s = s as u32;
        let refused = refused.get(&s).map(Vec::as_slice).unwrap_or_default();
        for c in index.candidates(keys) {
            if refused.contains(&c) {
                continue;
            }
            if let Some(scored) = score(s, keys, c, &clients[c as usize], &index.keys[c as usize])
                && scored.score >= floor
            {
                all.push(scored);
            }
        }
    }
    // Ties go by id, whatever order the input came in.
    let service_rank = id_ranks(services.iter().map(|s| s.id.as_str()));
    let client_rank = id_ranks(clients.iter().map(|c| c.id.as_str()));
    let rank = |a: &Scored, b: &Scored| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| service_rank[a.service as usize].cmp(&service_rank[b.service as usize]))
            .then_with(|| client_rank[a.client as usize].cmp(&client_rank[b.client as usize]))
    };
    // A name and a place are ambiguous from either side: two clients alike
    // for one service, or two services alike for one client.
    demote_ambiguous_names(&mut all, |s| s.service, rank);
    demote_ambiguous_names(&mut all, |s| s.client, rank);
    all.sort_by(rank);
    // Best first: each client and each service is suggested once.
    let mut taken_services = vec![false; services.len()];
    let mut taken_clients = vec![false; clients.len()];
    let mut chosen = Vec::new();
    for scored in all.into_iter().filter(|s| s.score >= min_score) {
        let (s, c) = (scored.service as usize, scored.client as usize);
        if !taken_services[s] && !taken_clients[c] {
            taken_services[s] = true;
            taken_clients[c] = true;
            chosen.push(scored.explain(&services[s], &service_keys[s], &clients[c]));
        }
    }
    chosen
}

/// Each item's position in id order.
fn id_ranks<'a>(ids: impl Iterator<Item = &'a str>) -> Vec<u32> {
    let ids: Vec<&str> = ids.collect();
    let mut order: Vec<u32> = (0..ids.len() as u32).collect();
    order.sort_by_key(|&i| ids[i as usize]);
    let mut rank = vec![0; ids.len()];
    for (position, i) in order.into_iter().enumerate() {
        rank[i as usize] = position as u32;
    }
    rank
}

/// Where the best match of a service (or of a client, by `side`) rests on
/// name and place alone and another comes close, none of those close ones
/// is safe to offer.
fn demote_ambiguous_names(
    all: &mut [Scored],
    side: fn(&Scored) -> u32,
    rank: impl Fn(&Scored, &Scored) -> std::cmp::Ordering,
) {
    all.sort_by(|a, b| side(a).cmp(&side(b)).then_with(|| rank(a, b)));
    for group in all.chunk_by_mut(|a, b| side(a) == side(b)) {
        let close = group[0].score * AMBIGUOUS;
        if group[0].agreed == NAME && group.iter().filter(|s| s.score >= close).count() > 1 {
            for s in group
                .iter_mut()
                .filter(|s| s.agreed == NAME && s.score >= close)
            {
                s.score = (s.score * 0.5 * 1000.0).round() / 1000.0;
                s.ambiguous = true;
            }
        }
    }
}

/// Which keys agreed (or differed), as bits.
const DOCUMENT_KEY: u8 = 1;
const SERIAL_KEY: u8 = 2;
const PPPOE_KEY: u8 = 4;
const NAME: u8 = 8;

/// A scored pair, compact: most are scored and few are kept.
#[derive(Clone, Copy, Debug)]
struct Scored {
    service: u32,
    client: u32,
    score: f64,
    agreed: u8,
    differed: u8,
    similarity: Option<f64>,
    distance: Option<f64>,
    ambiguous: bool,
}

impl Scored {
    /// The suggestion a person reads, with its reasons.
    fn explain(
        &self,
        service: &Service,
        keys: &ServiceKeys,
        client: &PlatformClient,
    ) -> Suggestion {
        let mut agreed = Vec::new();
        let mut reasons = Vec::new();
        let mut say = |bit, key, text: String| {
            if self.agreed & bit != 0 {
                agreed.push(key);
                reasons.push(text);
            }
        };
        let shown = |v: &Option<_>| v.clone().unwrap_or_default();
        say(
            DOCUMENT_KEY,
            "document",
            format!(
                "the same CPF/CNPJ ({})",
                keys.document
                    .as_ref()
                    .map(Document::as_str)
                    .unwrap_or_default()
            ),
        );
        say(
            SERIAL_KEY,
            "onu_serial",
            format!("the same ONU serial ({})", shown(&keys.serial)),
        );
        say(
            PPPOE_KEY,
            "pppoe_login",
            format!("the same PPPoE login ({})", shown(&keys.pppoe)),
        );
        if let (Some(sim), Some(d)) = (self.similarity, self.distance) {
            say(
                NAME,
                "name",
                format!("names {:.0} % alike, {d:.0} m apart", sim * 100.0),
            );
        }
        for (bit, what) in [(SERIAL_KEY, "ONU serials"), (PPPOE_KEY, "PPPoE logins")] {
            if self.differed & bit != 0 {
                reasons.push(format!("different {what}"));
            }
        }
        if self.ambiguous {
            reasons.push("another one nearby has a name as alike".to_string());
        }
        Suggestion {
            service: service.id.clone(),
            client: client.id.clone(),
            score: self.score,
            agreed,
            name_similarity: self.similarity.map(|s| (s * 1000.0).round() / 1000.0),
            distance_m: self.distance.map(f64::round),
            reasons,
        }
    }
}

/// A client's keys, canonical, computed once.
struct ClientKeys {
    documents: Vec<Document>,
    pppoe: Option<String>,
    serial: Option<String>,
    name: keys::Name,
}

struct ServiceKeys {
    document: Option<Document>,
    pppoe: Option<String>,
    serial: Option<String>,
    name: keys::Name,
    position: Option<Position>,
}

impl ServiceKeys {
    fn of(service: &Service) -> ServiceKeys {
        ServiceKeys {
            document: service.document.as_deref().and_then(Document::parse),
            pppoe: service.pppoe_login.as_deref().and_then(keys::pppoe),
            serial: service.onu_serial.as_deref().and_then(keys::onu_serial),
            name: service
                .name
                .as_deref()
                .map(keys::Name::new)
                .unwrap_or_default(),
            position: service.position,
        }
    }
}

/// Clients by each exact key, and by grid cell and name word.
struct ClientIndex {
    keys: Vec<ClientKeys>,
    by_document: Map<Document, Vec<u32>>,
    by_pppoe: Map<String, Vec<u32>>,
    by_serial: Map<String, Vec<u32>>,
    /// Every name word of the clients, numbered.
    words: Map<String, u32>,
    by_place_and_word: Map<(Cell, u32), Vec<u32>>,
}

impl ClientIndex {
    fn new(clients: &[PlatformClient]) -> ClientIndex {
        let mut index = ClientIndex {
            keys: Vec::with_capacity(clients.len()),
            by_document: Map::default(),
            by_pppoe: Map::default(),
            by_serial: Map::default(),
            words: Map::default(),
            by_place_and_word: Map::default(),
        };
        for (i, client) in clients.iter().enumerate() {
            let i = i as u32;
            let keys = ClientKeys {
                documents: client
                    .observation
                    .as_deref()
                    .map(Document::find_in)
                    .unwrap_or_default(),
                pppoe: client.pppoe_login.as_deref().and_then(keys::pppoe),
                serial: client.onu_serial.as_deref().and_then(keys::onu_serial),
                name: keys::Name::new(&client.name),
            };
            for document in &keys.documents {
                index
                    .by_document
                    .entry(document.clone())
                    .or_default()
                    .push(i);
            }
            if let Some(pppoe) = &keys.pppoe {
                index.by_pppoe.entry(pppoe.clone()).or_default().push(i);
            }
            if let Some(serial) = &keys.serial {
                index.by_serial.entry(serial.clone()).or_default().push(i);
            }
            if let Some(at) = client.position {
                let here = geo::cell(at);
                let mut words: Vec<u32> = keys
                    .name
                    .words
                    .iter()
                    .map(|w| {
                        let next = index.words.len() as u32;
                        *index.words.entry(w.clone()).or_insert(next)
                    })
                    .collect();
                words.sort_unstable();
                words.dedup();
                for word in words {
                    index
                        .by_place_and_word
                        .entry((here, word))
                        .or_default()
                        .push(i);
                }
            }
            index.keys.push(keys);
        }
        index
    }

    /// Clients that share an exact key with the service, or are near it
    /// and share words of its name; each once, in index order.
    fn candidates(&self, service: &ServiceKeys) -> Vec<u32> {
        let mut found: Vec<u32> = Vec::new();
        fn exact<'m, K: std::hash::Hash + Eq>(
            map: &'m Map<K, Vec<u32>>,
            key: &Option<K>,
        ) -> &'m [u32] {
            key.as_ref()
                .and_then(|k| map.get(k))
                .map(Vec::as_slice)
                .unwrap_or_default()
        }
        found.extend_from_slice(exact(&self.by_document, &service.document));
        found.extend_from_slice(exact(&self.by_pppoe, &service.pppoe));
        found.extend_from_slice(exact(&self.by_serial, &service.serial));
        let mut by_name = Vec::new();
        if let Some(at) = service.position {
            let mut words: Vec<u32> = service
                .name
                .words
                .iter()
                .filter_map(|w| self.words.get(w).copied())
                .collect();
            words.sort_unstable();
            words.dedup();
            let needed = SHARED_WORDS.min(service.name.words.len()).max(1);
            for cell in geo::neighbourhood(at) {
                for &word in &words {
                    if let Some(here) = self.by_place_and_word.get(&(cell, word)) {
                        by_name.extend_from_slice(here);
                    }
                }
            }
            // A client listed once per shared word: keep those listed enough.
            by_name.sort_unstable();
            found.extend(
                by_name
                    .chunk_by(|a, b| a == b)
                    .filter(|run| run.len() >= needed)
                    .map(|run| run[0]),
            );
        }
        found.sort_unstable();
        found.dedup();
        found
    }
}

/// Score one pair; `None` when nothing agrees, or both name a valid
/// taxpayer and not the same one.
fn score(
    service: u32,
    keys: &ServiceKeys,
    client: u32,
    at: &PlatformClient,
    theirs: &ClientKeys,
) -> Option<Scored> {
    let mut scored = Scored {
        service,
        client,
        score: 0.0,
        agreed: 0,
        differed: 0,
        similarity: None,
        distance: None,
        ambiguous: false,
    };
    let mut miss = 1.0; // the chance that every agreeing key is a coincidence
    if let Some(document) = &keys.document {
        if theirs.documents.contains(document) {
            scored.agreed |= DOCUMENT_KEY;
            miss *= 1.0 - DOCUMENT;
        } else if !theirs.documents.is_empty() {
            return None;
        }
    }
    for (mine, other, bit, worth) in [
        (&keys.serial, &theirs.serial, SERIAL_KEY, ONU_SERIAL),
        (&keys.pppoe, &theirs.pppoe, PPPOE_KEY, PPPOE),
    ] {
        match (mine, other) {
            (Some(a), Some(b)) if a == b => {
                scored.agreed |= bit;
                miss *= 1.0 - worth;
            }
            (Some(_), Some(_)) => scored.differed |= bit,
            _ => {}
        }
    }
    scored.distance = keys
        .position
        .zip(at.position)
        .map(|(a, b)| geo::distance_m(a, b));
    if let Some(d) = scored.distance
        && !keys.name.is_empty()
        && !theirs.name.is_empty()
        && d < FAR_M
    {
        let sim = keys::name_similarity(&keys.name, &theirs.name);
        scored.similarity = Some(sim);
        let alike = ((sim - NAME_FLOOR) / (0.95 - NAME_FLOOR)).clamp(0.0, 1.0);
        let near = (1.0 - (d - NEAR_M) / (FAR_M - NEAR_M)).clamp(0.0, 1.0);
        let worth = NAME_AND_PLACE * alike * near;
        if worth > 0.0 {
            scored.agreed |= NAME;
            miss *= 1.0 - worth;
        }
    }
    if scored.agreed == 0 {
        return None;
    }
    // Each key that differs makes the agreement less likely to be the person.
    let penalty = 0.3f64.powi(scored.differed.count_ones() as i32);
    scored.score = ((1.0 - miss) * penalty * 1000.0).round() / 1000.0;
    Some(scored)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(lat: f64, lng: f64) -> Option<Position> {
        Some(Position { lat, lng })
    }

    fn service(id: &str, name: &str) -> Service {
        Service {
            id: id.into(),
            name: Some(name.into()),
            ..Service::default()
        }
    }

    fn client(id: &str, name: &str) -> PlatformClient {
        PlatformClient {
            id: id.into(),
            name: name.into(),
            ..PlatformClient::default()
        }
    }

    fn run(services: &[Service], clients: &[PlatformClient]) -> Vec<Suggestion> {
        suggest(services, clients, &BTreeSet::new(), DEFAULT_MIN_SCORE)
    }

    #[test]
    fn each_key_alone_suggests_with_its_reason() {
        let services = [
            Service {
                document: Some("529.982.247-25".into()),
                ..service("S1", "Ana")
            },
            Service {
                onu_serial: Some("48575443A1B2C3D4".into()),
                ..service("S2", "Bruno")
            },
            Service {
                pppoe_login: Some("Carla.Souza".into()),
                ..service("S3", "Carla")
            },
            Service {
                position: at(-27.5950, -48.5480),
                ..service("S4", "Débora Gonçalves Lima")
            },
        ];
        let clients = [
            PlatformClient {
                observation: Some("CPF 52998224725".into()),
                ..client("C1", "A. Pereira")
            },
            PlatformClient {
                onu_serial: Some("HWTC-A1B2-C3D4".into()),
                ..client("C2", "B")
            },
            PlatformClient {
                pppoe_login: Some(" carla.souza".into()),
                ..client("C3", "C")
            },
            PlatformClient {
                position: at(-27.5951, -48.5482),
                ..client("C4", "LIMA, Debora Goncalves")
            },
        ];
        let found = run(&services, &clients);
        let pairs: Vec<(&str, &str, &str)> = found
            .iter()
            .map(|s| (s.service.as_str(), s.client.as_str(), s.agreed[0]))
            .collect();
        assert_eq!(
            pairs,
            [
                ("S1", "C1", "document"),
                ("S2", "C2", "onu_serial"),
                ("S3", "C3", "pppoe_login"),
                ("S4", "C4", "name")
            ]
        );
        assert!(found.iter().all(|s| (0.0..=1.0).contains(&s.score)));
        assert!(found[3].distance_m.unwrap() < 30.0);
    }

    #[test]
    fn homonyms_next_door_are_not_offered_on_name_alone() {
        let services = [Service {
            position: at(-27.0, -48.0),
            ..service("S1", "João Silva")
        }];
        let clients = [
            PlatformClient {
                position: at(-27.0001, -48.0),
                ..client("C1", "Joao Silva")
            },
            PlatformClient {
                position: at(-27.0002, -48.0),
                ..client("C2", "João da Silva")
            },
        ];
        assert!(run(&services, &clients).is_empty());
    }

    #[test]
    fn a_different_document_rules_a_pair_out() {
        let services = [Service {
            document: Some("529.982.247-25".into()),
            position: at(-27.0, -48.0),
            ..service("S1", "Maria Souza")
        }];
        let clients = [PlatformClient {
            observation: Some("CPF 111.444.777-35".into()),
            position: at(-27.0, -48.0),
            ..client("C1", "Maria Souza")
        }];
        assert!(run(&services, &clients).is_empty());
    }

    #[test]
    fn identification_by_code_and_review_of_the_rest() {
        let services = [
            Service {
                pppoe_login: Some("ana".into()),
                ..service("S1", "Ana")
            },
            Service {
                pppoe_login: Some("bia".into()),
                ..service("S2", "Bia")
            },
            service("S3", "Caio"),
        ];
        let clients = [
            PlatformClient {
                code: Some("S1".into()),
                pppoe_login: Some("ana".into()),
                ..client("C1", "Ana")
            },
            PlatformClient {
                code: Some(" ".into()),
                pppoe_login: Some("bia".into()),
                ..client("C2", "Bia")
            },
            PlatformClient {
                code: Some("S9".into()),
                ..client("C3", "Davi")
            },
        ];
        let found = identify(&services, &clients);
        assert_eq!(found.identified.len(), 1);
        assert_eq!(
            (
                found.identified[0].service.as_str(),
                found.identified[0].client.as_str()
            ),
            ("S1", "C1")
        );
        assert_eq!(found.clients_without_code, ["C2"]);
        assert_eq!(found.codes_without_service, ["C3"]);
        assert_eq!(found.services_without_client, ["S2", "S3"]);
        // An identified pair is never suggested again; the rest is.
        let offered = review(
            services.to_vec(),
            clients.to_vec(),
            &BTreeSet::new(),
            DEFAULT_MIN_SCORE,
        );
        let pairs: Vec<(&str, &str)> = offered
            .iter()
            .map(|s| (s.service.as_str(), s.client.as_str()))
            .collect();
        assert_eq!(pairs, [("S2", "C2")]);
    }

    #[test]
    fn each_client_goes_to_one_service_best_first_and_rejections_stick() {
        let services = [
            Service {
                pppoe_login: Some("x".into()),
                ..service("S1", "Ana")
            },
            Service {
                document: Some("529.982.247-25".into()),
                ..service("S2", "Ana")
            },
        ];
        let clients = [PlatformClient {
            pppoe_login: Some("x".into()),
            observation: Some("52998224725".into()),
            ..client("C1", "Ana")
        }];
        let found = run(&services, &clients);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].service, "S2");
        let rejected = BTreeSet::from([("S2".to_string(), "C1".to_string())]);
        let found = suggest(&services, &clients, &rejected, DEFAULT_MIN_SCORE);
        assert_eq!(
            (found[0].service.as_str(), found[0].client.as_str()),
            ("S1", "C1")
        );
    }
}
