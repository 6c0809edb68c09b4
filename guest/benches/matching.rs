//! Matching at scale: `cargo bench -p mapsync-guest --bench matching -- 400000`
//! prints precision, recall and the time to match N services against about
//! as many platform clients, natively.

// Native only: printing the figures is the point.
#![allow(clippy::disallowed_macros)]

use std::collections::BTreeSet;
use std::time::Instant;

use mapsync_guest::matching::{self, DEFAULT_MIN_SCORE};
use ozmap_test_server::matching::{MatchingConfig, matching_set};

#[path = "../tests/support/labelled.rs"]
mod labelled;
use labelled::inputs;

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
        let (services, clients) = inputs(&set);
        let started = Instant::now();
        let found = matching::suggest(&services, &clients, &BTreeSet::new(), DEFAULT_MIN_SCORE);
        let took = started.elapsed();
        let score = set.score(
            found
                .iter()
                .map(|s| (s.service.as_str(), s.client.as_str())),
        );
        println!(
            "| {} | {} | {} | {:.4} | {:.4} | {:.2} s |",
            services.len(),
            clients.len(),
            score.suggested,
            score.precision,
            score.recall,
            took.as_secs_f64()
        );
    }
}
