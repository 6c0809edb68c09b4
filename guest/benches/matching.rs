//! Matching at scale: `cargo bench -p mapsync-guest --bench matching -- 400000`
//! prints precision, recall and the time to match N services against about
//! as many platform clients, natively.

use std::collections::BTreeSet;
use std::time::Instant;

use mapsync_guest::matching::{self, DEFAULT_MIN_SCORE, PlatformClient, Service};
use mapsync_guest::model::Position;
use ozmap_test_server::matching::{MatchingConfig, matching_set};

fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.replace('_', "").parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![400_000]
    } else {
        sizes
    };
    println!("| services | clients | suggestions | precision | recall | match time |");
    println!("| ---: | ---: | ---: | ---: | ---: | ---: |");
    for n in sizes {
        let set = matching_set(MatchingConfig::new(n));
        let services: Vec<Service> = set
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
        let clients: Vec<PlatformClient> = set
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
            })
            .collect();
        let started = Instant::now();
        let found = matching::suggest(&services, &clients, &BTreeSet::new(), DEFAULT_MIN_SCORE);
        let took = started.elapsed();
        let right = found
            .iter()
            .filter(|s| set.truth.get(&s.service) == Some(&s.client))
            .count();
        println!(
            "| {} | {} | {} | {:.4} | {:.4} | {:.2} s |",
            services.len(),
            clients.len(),
            found.len(),
            right as f64 / found.len().max(1) as f64,
            right as f64 / set.truth.len().max(1) as f64,
            took.as_secs_f64()
        );
    }
}
