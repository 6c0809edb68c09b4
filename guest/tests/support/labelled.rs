//! The labelled matching set as the guest's matching reads it; shared by
//! the matching test and benchmark.

use mapsync_guest::matching::{PlatformClient, Service};
use mapsync_guest::model::Position;
use ozmap_test_server::matching::MatchingSet;

pub fn inputs(set: &MatchingSet) -> (Vec<Service>, Vec<PlatformClient>) {
    let services = set
        .services
        .iter()
        .map(|s| Service {
            id: s.id.clone(),
            name: Some(s.name.clone()),
            document: Some(s.document.clone()),
            pppoe_login: Some(s.pppoe_login.clone()),
            onu_serial: Some(s.onu_serial.clone()),
            position: Some(Position {
                lat: s.lat,
                lng: s.lng,
            }),
        })
        .collect();
    let clients = set
        .clients
        .iter()
        .map(|c| PlatformClient {
            id: c.id.clone(),
            name: c.name.clone(),
            observation: c.observation.clone(),
            pppoe_login: c.pppoe_login.clone(),
            onu_serial: c.onu_serial.clone(),
            position: Some(Position {
                lat: c.lat,
                lng: c.lng,
            }),
            ..PlatformClient::default()
        })
        .collect();
    (services, clients)
}
