//! A labelled matching set: the ISP's services, and platform clients
//! without a code derived from some of them with the noise real data has,
//! among distractors. The truth says which client is which service, so a
//! matcher's precision and recall can be measured, not assumed.

use std::collections::BTreeMap;

use crate::rng::Rng;

/// A service as the ISP's system exports it.
#[derive(Clone, Debug)]
#[allow(missing_docs)]
pub struct LabelledService {
    /// `id_cliente_servico`.
    pub id: String,
    pub name: String,
    /// A valid CPF, digits only.
    pub document: String,
    pub pppoe_login: String,
    pub onu_serial: String,
    pub lat: f64,
    pub lng: f64,
}

/// A platform client without a code, with where its property is.
#[derive(Clone, Debug)]
#[allow(missing_docs)]
pub struct LabelledClient {
    /// The platform's id.
    pub id: String,
    pub name: String,
    pub observation: Option<String>,
    pub pppoe_login: Option<String>,
    pub onu_serial: Option<String>,
    pub lat: f64,
    pub lng: f64,
}

/// Services, clients, and which client is which service.
pub struct MatchingSet {
    #[allow(missing_docs)]
    pub services: Vec<LabelledService>,
    #[allow(missing_docs)]
    pub clients: Vec<LabelledClient>,
    /// Service id → the id of the client that is that service.
    pub truth: BTreeMap<String, String>,
}

/// How suggestions fare against the truth.
#[derive(Clone, Copy, Debug)]
pub struct Score {
    /// Pairs suggested.
    pub suggested: usize,
    /// Of those, the pairs the truth holds.
    pub right: usize,
    /// `right / suggested` (0 when nothing was suggested).
    pub precision: f64,
    /// `right / truth` (0 for an empty set).
    pub recall: f64,
}

impl MatchingSet {
    /// Score suggested (service id, client id) pairs against the truth.
    pub fn score<'a>(&self, suggested: impl IntoIterator<Item = (&'a str, &'a str)>) -> Score {
        let (mut count, mut right) = (0, 0);
        for (service, client) in suggested {
            count += 1;
            if self.truth.get(service).map(String::as_str) == Some(client) {
                right += 1;
            }
        }
        Score {
            suggested: count,
            right,
            precision: right as f64 / count.max(1) as f64,
            recall: right as f64 / self.truth.len().max(1) as f64,
        }
    }
}

/// How large a set, and how it is drawn.
#[derive(Clone, Copy, Debug)]
pub struct MatchingConfig {
    /// Seed of every random choice.
    pub seed: u64,
    /// Services (and about as many platform clients).
    pub services: usize,
    /// Share of services that have a client on the platform.
    pub matched: f64,
}

impl MatchingConfig {
    /// `services` services, 80 % of them on the platform.
    pub fn new(services: usize) -> MatchingConfig {
        MatchingConfig {
            seed: 7,
            services,
            matched: 0.8,
        }
    }
}

const FIRST: [&str; 40] = [
    "Maria",
    "José",
    "Ana",
    "João",
    "Antônio",
    "Francisca",
    "Carlos",
    "Paulo",
    "Pedro",
    "Lucas",
    "Luiz",
    "Marcos",
    "Luís",
    "Gabriel",
    "Rafael",
    "Adriana",
    "Juliana",
    "Márcia",
    "Fernanda",
    "Patrícia",
    "Aline",
    "Sandra",
    "Camila",
    "Amanda",
    "Bruna",
    "Jéssica",
    "Letícia",
    "Júlia",
    "Luciana",
    "Vanessa",
    "Mateus",
    "Thiago",
    "Bruno",
    "Felipe",
    "Gustavo",
    "Rodrigo",
    "Débora",
    "Cláudia",
    "Sérgio",
    "Vitória",
];
const SURNAMES: [&str; 40] = [
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
    "Almeida",
    "Lopes",
    "Soares",
    "Fernandes",
    "Vieira",
    "Barbosa",
    "Rocha",
    "Dias",
    "Nascimento",
    "Andrade",
    "Moreira",
    "Nunes",
    "Marques",
    "Machado",
    "Mendes",
    "Freitas",
    "Cardoso",
    "Ramos",
    "Gonçalves",
    "Santana",
    "Teixeira",
    "Araújo",
    "Conceição",
    "Magalhães",
    "Brandão",
    "Guimarães",
];
const PARTICLES: [&str; 4] = ["da", "de", "dos", "do"];
const VENDORS: [&str; 4] = ["HWTC", "ZTEG", "FHTT", "ALCL"];

/// The set for `config`; the same seed gives the same set.
pub fn matching_set(config: MatchingConfig) -> MatchingSet {
    let mut rng = Rng::new(config.seed);
    let mut set = MatchingSet {
        services: Vec::with_capacity(config.services),
        clients: Vec::with_capacity(config.services),
        truth: BTreeMap::new(),
    };
    // About 2,000 premises per km², the density of a Brazilian town's centre.
    let side_deg = ((config.services as f64 / 2000.0).sqrt() / 111.0).max(0.01);
    for n in 0..config.services {
        let service = person(&mut rng, n, side_deg);
        if rng.chance(config.matched) {
            let client = noisy(&mut rng, &service, set.clients.len());
            set.truth.insert(service.id.clone(), client.id.clone());
            set.clients.push(client);
        }
        // Distractors, about one platform client in five.
        if rng.chance(0.25) {
            let client = distractor(&mut rng, &service, set.clients.len(), side_deg);
            set.clients.push(client);
        }
        set.services.push(service);
    }
    set
}

fn person(rng: &mut Rng, n: usize, side_deg: f64) -> LabelledService {
    let mut name = vec![rng.pick(&FIRST).to_string()];
    if rng.chance(0.4) {
        name.push(rng.pick(&PARTICLES).to_string());
    }
    name.push(rng.pick(&SURNAMES).to_string());
    name.push(rng.pick(&SURNAMES).to_string());
    let first = fold(&name[0]).to_lowercase();
    let last = fold(name.last().unwrap()).to_lowercase();
    LabelledService {
        id: format!("SVC-{:07}", n + 1),
        name: name.join(" "),
        document: cpf(rng),
        pppoe_login: format!("{first}.{last}{}", n % 1000),
        onu_serial: format!("{}{:08X}", rng.pick(&VENDORS), rng.next_u64() as u32),
        lat: -27.60 + rng.range(0.0, side_deg),
        lng: -48.55 + rng.range(0.0, side_deg),
    }
}

/// The platform's record of the same customer, as people typed it.
fn noisy(rng: &mut Rng, s: &LabelledService, n: usize) -> LabelledClient {
    let mut name = s.name.clone();
    if rng.chance(0.5) {
        name = fold(&name);
    }
    if rng.chance(0.2) {
        // "Silva Santos, Maria": surname first.
        let mut words: Vec<&str> = name.split(' ').collect();
        words.rotate_left(1);
        name = words.join(" ");
    }
    if rng.chance(0.3) {
        name = typo(rng, &name);
    }
    if rng.chance(0.2) {
        name = name.to_uppercase();
    }
    let observation = rng.chance(0.35).then(|| {
        let cpf = if rng.chance(0.5) {
            punctuated(&s.document)
        } else {
            s.document.clone()
        };
        format!("CPF {cpf}")
    });
    let pppoe_login = rng.chance(0.5).then(|| {
        if rng.chance(0.5) {
            s.pppoe_login.to_uppercase()
        } else {
            s.pppoe_login.clone()
        }
    });
    let onu_serial = rng.chance(0.5).then(|| {
        if rng.chance(0.5) {
            hex_vendor(&s.onu_serial)
        } else {
            s.onu_serial.to_lowercase()
        }
    });
    let (lat, lng) = moved(rng, s.lat, s.lng, 5.0, 80.0);
    LabelledClient {
        id: format!("cl{n:022x}"),
        name,
        observation,
        pppoe_login,
        onu_serial,
        lat,
        lng,
    }
}

/// Someone else: a homonym elsewhere in town, a neighbour next door, or a
/// login that shares the service's prefix.
fn distractor(rng: &mut Rng, s: &LabelledService, n: usize, side_deg: f64) -> LabelledClient {
    let id = format!("cl{n:022x}");
    match rng.below(3) {
        0 => LabelledClient {
            id,
            name: s.name.clone(),
            observation: None,
            pppoe_login: None,
            onu_serial: None,
            lat: -27.60 + rng.range(0.0, side_deg),
            lng: -48.55 + rng.range(0.0, side_deg),
        },
        1 => {
            let (lat, lng) = moved(rng, s.lat, s.lng, 10.0, 40.0);
            LabelledClient {
                id,
                name: format!(
                    "{} {} {}",
                    rng.pick(&FIRST),
                    rng.pick(&SURNAMES),
                    rng.pick(&SURNAMES)
                ),
                observation: None,
                pppoe_login: None,
                onu_serial: None,
                lat,
                lng,
            }
        }
        _ => {
            let (lat, lng) = moved(rng, s.lat, s.lng, 500.0, 3000.0);
            LabelledClient {
                id,
                name: format!("{} {}", rng.pick(&FIRST), rng.pick(&SURNAMES)),
                observation: None,
                pppoe_login: Some(format!("{}2", s.pppoe_login)),
                onu_serial: None,
                lat,
                lng,
            }
        }
    }
}

/// A valid CPF, digits only.
fn cpf(rng: &mut Rng) -> String {
    let mut d: Vec<u32> = (0..9).map(|_| rng.below(10) as u32).collect();
    for n in [9u32, 10] {
        let sum: u32 = d
            .iter()
            .enumerate()
            .map(|(i, x)| x * (n + 1 - i as u32))
            .sum();
        let rest = (sum * 10) % 11;
        d.push(if rest == 10 { 0 } else { rest });
    }
    d.iter()
        .map(|x| char::from_digit(*x, 10).unwrap())
        .collect()
}

fn punctuated(cpf: &str) -> String {
    format!("{}.{}.{}-{}", &cpf[..3], &cpf[3..6], &cpf[6..9], &cpf[9..])
}

/// `HWTC1234ABCD` as OLTs also show it: `485754431234ABCD`.
fn hex_vendor(serial: &str) -> String {
    let vendor: String = serial[..4].bytes().map(|b| format!("{b:02X}")).collect();
    format!("{vendor}{}", &serial[4..])
}

fn fold(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            'á' | 'â' | 'ã' | 'à' => 'a',
            'é' | 'ê' => 'e',
            'í' => 'i',
            'ó' | 'ô' | 'õ' => 'o',
            'ú' | 'ü' => 'u',
            'ç' => 'c',
            'Á' | 'Â' | 'Ã' => 'A',
            'É' | 'Ê' => 'E',
            'Í' => 'I',
            'Ó' | 'Ô' => 'O',
            'Ú' => 'U',
            'Ç' => 'C',
            other => other,
        })
        .collect()
}

/// One letter dropped, doubled or swapped with the next.
fn typo(rng: &mut Rng, name: &str) -> String {
    let mut chars: Vec<char> = name.chars().collect();
    let i = 1 + rng.below(chars.len().saturating_sub(2).max(1) as u64) as usize;
    match rng.below(3) {
        0 => {
            chars.remove(i);
        }
        1 => chars.insert(i, chars[i]),
        _ if i + 1 < chars.len() => chars.swap(i, i + 1),
        _ => {}
    }
    chars.into_iter().collect()
}

/// A point `lo` to `hi` metres away in a random direction.
fn moved(rng: &mut Rng, lat: f64, lng: f64, lo: f64, hi: f64) -> (f64, f64) {
    let d = rng.range(lo, hi);
    let angle = rng.range(0.0, std::f64::consts::TAU);
    let dlat = d * angle.cos() / 111_320.0;
    let dlng = d * angle.sin() / (111_320.0 * lat.to_radians().cos());
    (lat + dlat, lng + dlng)
}
