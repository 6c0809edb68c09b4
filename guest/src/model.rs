//! The normalised, platform-neutral network: plain Rust twins of the WIT
//! `types` interface, so the logic builds and is tested natively.

use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ElementKind {
    Project,
    Pole,
    Box,
    Splitter,
    Client,
    Property,
}

impl ElementKind {
    pub const ALL: [ElementKind; 6] = [
        ElementKind::Project,
        ElementKind::Pole,
        ElementKind::Box,
        ElementKind::Splitter,
        ElementKind::Client,
        ElementKind::Property,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ElementKind::Project => "project",
            ElementKind::Pole => "pole",
            ElementKind::Box => "box",
            ElementKind::Splitter => "splitter",
            ElementKind::Client => "client",
            ElementKind::Property => "property",
        }
    }

    /// The kind's name for many of them, as a message says it.
    pub fn plural(self) -> &'static str {
        match self {
            ElementKind::Project => "projects",
            ElementKind::Pole => "poles",
            ElementKind::Box => "boxes",
            ElementKind::Splitter => "splitters",
            ElementKind::Client => "clients",
            ElementKind::Property => "properties",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Position {
    pub lat: f64,
    pub lng: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Project {
    pub id: String,
    pub name: String,
    pub identifier: Option<String>,
    pub position: Option<Position>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Pole {
    pub id: String,
    pub name: String,
    pub position: Option<Position>,
    pub pole_type: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NetworkBox {
    pub id: String,
    pub name: String,
    pub project: String,
    pub pole: Option<String>,
    pub position: Option<Position>,
    pub box_type: Option<String>,
    pub hierarchy_level: Option<u32>,
    pub implanted: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Port {
    pub number: u32,
    pub blocked: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Splitter {
    pub id: String,
    pub name: String,
    pub project: String,
    pub box_id: String,
    pub service: bool,
    pub ratio_input: u32,
    pub ratio_output: u32,
    pub ports: Vec<Port>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Client {
    pub id: String,
    pub code: Option<String>,
    pub name: String,
    pub implanted: bool,
    pub status: u32,
    pub pppoe_login: Option<String>,
    pub onu_serial: Option<String>,
    pub onu_mac: Option<String>,
    /// Left out of the normalised form when empty, so a client without
    /// one keeps the fingerprint it had before the field existed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observation: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Connection {
    pub splitter: String,
    pub port: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Property {
    pub id: String,
    pub name: String,
    pub project: String,
    pub box_id: Option<String>,
    pub position: Option<Position>,
    pub address: Option<String>,
    pub connection: Option<Connection>,
    pub client: Option<String>,
    pub client_code: Option<String>,
}

/// A batch of elements of one kind, as the store takes it.
#[derive(Clone, Debug, PartialEq)]
pub enum Batch {
    Projects(Vec<Project>),
    Poles(Vec<Pole>),
    Boxes(Vec<NetworkBox>),
    Splitters(Vec<Splitter>),
    Clients(Vec<Client>),
    Properties(Vec<Property>),
}

impl Batch {
    pub fn len(&self) -> usize {
        match self {
            Batch::Projects(v) => v.len(),
            Batch::Poles(v) => v.len(),
            Batch::Boxes(v) => v.len(),
            Batch::Splitters(v) => v.len(),
            Batch::Clients(v) => v.len(),
            Batch::Properties(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Each element's id, in the batch's order.
    pub fn ids(&self) -> Vec<&str> {
        match self {
            Batch::Projects(v) => v.iter().map(|e| e.id.as_str()).collect(),
            Batch::Poles(v) => v.iter().map(|e| e.id.as_str()).collect(),
            Batch::Boxes(v) => v.iter().map(|e| e.id.as_str()).collect(),
            Batch::Splitters(v) => v.iter().map(|e| e.id.as_str()).collect(),
            Batch::Clients(v) => v.iter().map(|e| e.id.as_str()).collect(),
            Batch::Properties(v) => v.iter().map(|e| e.id.as_str()).collect(),
        }
    }

    /// The batch with only the elements whose `keep` is true, in order.
    pub fn keeping(self, keep: &[bool]) -> Batch {
        fn each<T>(items: Vec<T>, keep: &[bool]) -> Vec<T> {
            items
                .into_iter()
                .zip(keep)
                .filter_map(|(item, &kept)| kept.then_some(item))
                .collect()
        }
        match self {
            Batch::Projects(v) => Batch::Projects(each(v, keep)),
            Batch::Poles(v) => Batch::Poles(each(v, keep)),
            Batch::Boxes(v) => Batch::Boxes(each(v, keep)),
            Batch::Splitters(v) => Batch::Splitters(each(v, keep)),
            Batch::Clients(v) => Batch::Clients(each(v, keep)),
            Batch::Properties(v) => Batch::Properties(each(v, keep)),
        }
    }

    /// Each element as a store keeps it: its id, its name, and its data as
    /// JSON under the WIT's field names (`types`: a splitter's or a
    /// property's `box`, which the model calls `box_id`), in the batch's
    /// order. The component writes this text so that every host stores the
    /// same.
    pub fn stored(&self) -> Result<Vec<(String, String, String)>, String> {
        fn each<T: Serialize>(
            items: &[T],
            key: impl Fn(&T) -> (&str, &str),
            boxed: bool,
        ) -> Result<Vec<(String, String, String)>, String> {
            items
                .iter()
                .map(|item| {
                    let json = serde_json::to_string(item).map_err(|e| e.to_string())?;
                    // Only a key's closing quote is followed by a colon (a
                    // quote inside a string is escaped): the key is renamed,
                    // nothing else.
                    let json = if boxed {
                        json.replacen("\"box_id\":", "\"box\":", 1)
                    } else {
                        json
                    };
                    let (id, name) = key(item);
                    Ok((id.to_string(), name.to_string(), json))
                })
                .collect()
        }
        match self {
            Batch::Projects(v) => each(v, |e| (&e.id, &e.name), false),
            Batch::Poles(v) => each(v, |e| (&e.id, &e.name), false),
            Batch::Boxes(v) => each(v, |e| (&e.id, &e.name), false),
            Batch::Splitters(v) => each(v, |e| (&e.id, &e.name), true),
            Batch::Clients(v) => each(v, |e| (&e.id, &e.name), false),
            Batch::Properties(v) => each(v, |e| (&e.id, &e.name), true),
        }
    }

    /// The kind of the batch's elements.
    pub fn kind(&self) -> ElementKind {
        match self {
            Batch::Projects(_) => ElementKind::Project,
            Batch::Poles(_) => ElementKind::Pole,
            Batch::Boxes(_) => ElementKind::Box,
            Batch::Splitters(_) => ElementKind::Splitter,
            Batch::Clients(_) => ElementKind::Client,
            Batch::Properties(_) => ElementKind::Property,
        }
    }

    /// Each element's fingerprint, in the batch's order (see `fingerprint`).
    pub fn fingerprints(&self) -> Vec<u64> {
        fn each<T: Serialize>(items: &[T]) -> Vec<u64> {
            items.iter().map(fingerprint).collect()
        }
        match self {
            Batch::Projects(v) => each(v),
            Batch::Poles(v) => each(v),
            Batch::Boxes(v) => each(v),
            Batch::Splitters(v) => each(v),
            Batch::Clients(v) => each(v),
            Batch::Properties(v) => each(v),
        }
    }
}

/// Bumped whenever the normalised form changes meaning, so every element's
/// fingerprint changes with it and the next sync updates them all once.
const FINGERPRINT_VERSION: &[u8] = b"mapsync-element-1\0";

/// A stable hash of an element's normalised form: FNV-1a (64 bits) over its
/// JSON, fields in declaration order. The same on every platform and run,
/// so every host counts created, updated and unchanged the same way (the
/// `element-store` rules) without serialising elements itself.
pub fn fingerprint<T: Serialize>(element: &T) -> u64 {
    let mut hash = Fnv1a(fnv1a(FINGERPRINT_VERSION.iter().copied()));
    serde_json::to_writer(&mut hash, element).expect("a plain record always serialises");
    hash.0
}

/// FNV-1a over what is written, so the JSON is hashed as it is made,
/// never held.
struct Fnv1a(u64);

impl std::io::Write for Fnv1a {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0 = bytes.iter().fold(self.0, fnv1a_step);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn fnv1a_step(hash: u64, byte: &u8) -> u64 {
    (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
}

/// FNV-1a, 64 bits: a stable hash, the same on every platform and run (no
/// random state to ask the host for).
pub fn fnv1a(bytes: impl IntoIterator<Item = u8>) -> u64 {
    bytes
        .into_iter()
        .fold(0xcbf2_9ce4_8422_2325, |hash, byte| fnv1a_step(hash, &byte))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pole(name: &str, lat: f64) -> Pole {
        Pole {
            id: "p1".into(),
            name: name.into(),
            position: Some(Position { lat, lng: -48.5 }),
            pole_type: None,
        }
    }

    #[test]
    fn the_stored_form_says_box_as_the_wit_does() {
        let splitter = Splitter {
            id: "s1".into(),
            name: "S \"box_id\": 1".into(),
            project: "p".into(),
            box_id: "b1".into(),
            service: true,
            ratio_input: 1,
            ratio_output: 2,
            ports: vec![Port {
                number: 1,
                blocked: false,
            }],
        };
        let stored = Batch::Splitters(vec![splitter]).stored().unwrap();
        let (id, name, json) = &stored[0];
        assert_eq!((id.as_str(), name.as_str()), ("s1", "S \"box_id\": 1"));
        let data: serde_json::Value = serde_json::from_str(json).unwrap();
        assert_eq!(data["box"], "b1");
        assert!(data.get("box_id").is_none(), "{json}");
        // A quote inside a value is escaped: only the key is renamed.
        assert_eq!(data["name"], "S \"box_id\": 1");
        assert_eq!(data["ratio_input"], 1);
    }

    #[test]
    fn a_fingerprint_is_stable_and_follows_every_field() {
        // Pinned: a host stores fingerprints, so they must not drift between
        // builds; change FINGERPRINT_VERSION when the normalised form does.
        assert_eq!(fingerprint(&pole("P-1", -27.6)), 0xb64d_b215_4e90_94d7);
        assert_eq!(
            fingerprint(&pole("P-1", -27.6)),
            fingerprint(&pole("P-1", -27.6))
        );
        assert_ne!(
            fingerprint(&pole("P-1", -27.6)),
            fingerprint(&pole("P-2", -27.6))
        );
        assert_ne!(
            fingerprint(&pole("P-1", -27.6)),
            fingerprint(&pole("P-1", -27.61))
        );
        let batch = Batch::Poles(vec![pole("a", 1.0), pole("b", 1.0)]);
        assert_eq!(
            batch.fingerprints(),
            vec![fingerprint(&pole("a", 1.0)), fingerprint(&pole("b", 1.0))]
        );
    }
}
