//! What a synchronised network amounts to, in the numbers an ISP asks for.

use crate::store::Db;
use anyhow::Result;
use serde::Serialize;

use crate::component::bindings::types::ElementKind;
use crate::store::elements;

#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct Summary {
    pub projects: usize,
    pub poles: usize,
    pub boxes: usize,
    pub service_splitters: usize,
    pub distribution_splitters: usize,
    /// Ports of service splitters, the ones customers are bound to.
    pub free_ports: usize,
    pub taken_ports: usize,
    pub blocked_ports: usize,
    pub properties: usize,
    pub properties_without_client: usize,
    pub clients: usize,
    /// Clients with a code, which may identify one of the ISP's services.
    pub clients_with_code: usize,
    pub clients_without_code: usize,
}

pub fn of(conn: &Db, integration_id: &str) -> Result<Summary> {
    let list = |kind| elements::list(conn, integration_id, kind);
    let mut s = Summary {
        projects: list(ElementKind::Project)?.len(),
        poles: list(ElementKind::Pole)?.len(),
        boxes: list(ElementKind::Box)?.len(),
        ..Summary::default()
    };
    for splitter in list(ElementKind::Splitter)? {
        if splitter["service"] != true {
            s.distribution_splitters += 1;
            continue;
        }
        s.service_splitters += 1;
        for port in splitter["ports"].as_array().into_iter().flatten() {
            match port["state"].as_str() {
                Some("taken") => s.taken_ports += 1,
                Some("blocked") => s.blocked_ports += 1,
                _ => s.free_ports += 1,
            }
        }
    }
    let properties = list(ElementKind::Property)?;
    s.properties = properties.len();
    s.properties_without_client = properties.iter().filter(|p| p["client"].is_null()).count();
    let clients = list(ElementKind::Client)?;
    s.clients = clients.len();
    s.clients_with_code = clients.iter().filter(|c| c["code"].is_string()).count();
    s.clients_without_code = s.clients - s.clients_with_code;
    Ok(s)
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "  projects               {:>8}", self.projects)?;
        writeln!(f, "  poles                  {:>8}", self.poles)?;
        writeln!(f, "  boxes                  {:>8}", self.boxes)?;
        writeln!(
            f,
            "  service splitters      {:>8}   (allow client connection: ports can be bound)",
            self.service_splitters
        )?;
        writeln!(
            f,
            "  distribution splitters {:>8}   (kept, never offered for binding)",
            self.distribution_splitters
        )?;
        writeln!(
            f,
            "  service ports          {:>8} free, {} taken, {} blocked",
            self.free_ports, self.taken_ports, self.blocked_ports
        )?;
        writeln!(
            f,
            "  properties             {:>8}   ({} without a client, still taking their port)",
            self.properties, self.properties_without_client
        )?;
        write!(
            f,
            "  clients                {:>8}   ({} with a code, {} without)",
            self.clients, self.clients_with_code, self.clients_without_code
        )
    }
}
