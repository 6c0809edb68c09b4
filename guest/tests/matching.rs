//! Matching measured on a labelled set: the test server's generator derives
//! platform clients from services with real data's noise, among distractors.

// Native only: printing the figures is the point.
#![allow(clippy::disallowed_macros)]

use std::collections::BTreeSet;

use mapsync_guest::matching::{self, DEFAULT_MIN_SCORE};
use ozmap_test_server::matching::{MatchingConfig, matching_set};

#[path = "support/labelled.rs"]
mod labelled;
use labelled::inputs;

#[test]
fn precision_and_recall_meet_their_targets_at_the_default_threshold() {
    let set = matching_set(MatchingConfig::new(20_000));
    let (services, clients) = inputs(&set);
    let found = matching::suggest(&services, &clients, &BTreeSet::new(), DEFAULT_MIN_SCORE);
    let score = set.score(
        found
            .iter()
            .map(|s| (s.service.as_str(), s.client.as_str())),
    );
    let (precision, recall) = (score.precision, score.recall);
    println!(
        "{} suggestions, precision {precision:.4}, recall {recall:.4}",
        found.len()
    );
    assert!(precision >= 0.98, "precision {precision:.4}");
    assert!(recall >= 0.90, "recall {recall:.4}");
}

#[test]
fn the_same_input_gives_the_same_suggestions() {
    let set = matching_set(MatchingConfig::new(2_000));
    let (services, clients) = inputs(&set);
    let once = matching::suggest(&services, &clients, &BTreeSet::new(), 0.5);
    let mut reversed = clients.clone();
    reversed.reverse();
    let again = matching::suggest(&services, &reversed, &BTreeSet::new(), 0.5);
    assert_eq!(once, again);
}
