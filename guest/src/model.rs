//! The normalised, platform-neutral network: plain Rust twins of the WIT
//! `types` interface, so the logic builds and is tested natively.

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
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Position {
    pub lat: f64,
    pub lng: f64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Project {
    pub id: String,
    pub name: String,
    pub identifier: Option<String>,
    pub position: Option<Position>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Pole {
    pub id: String,
    pub name: String,
    pub position: Option<Position>,
    pub pole_type: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
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

#[derive(Clone, Debug, PartialEq)]
pub struct Port {
    pub number: u32,
    pub blocked: bool,
}

#[derive(Clone, Debug, PartialEq)]
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

#[derive(Clone, Debug, PartialEq)]
pub struct Client {
    pub id: String,
    pub code: Option<String>,
    pub name: String,
    pub implanted: bool,
    pub status: u32,
    pub pppoe_login: Option<String>,
    pub onu_serial: Option<String>,
    pub onu_mac: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Connection {
    pub splitter: String,
    pub port: u32,
}

#[derive(Clone, Debug, PartialEq)]
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
}
