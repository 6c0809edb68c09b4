//! The `element-store` rules the ledger keeps, over the smallest storage
//! that keeps bytes: what a host must answer, and nothing more.

use std::collections::BTreeMap;

use mapsync_guest::ledger::Ledger;
use mapsync_guest::model::{Batch, ElementKind, Pole};
use mapsync_guest::store::{ElementStore, Entry, InvalidElement, Mark, Staged, Storage, Stored};

type Key = (ElementKind, String);

/// Stored elements (fingerprint, removed, invalid flag) and one run's
/// staging; `apply` does what a host does when the run returns ok.
#[derive(Default)]
struct Bytes {
    stored: BTreeMap<Key, (Option<u64>, bool, Option<String>)>,
    staged: BTreeMap<Key, (Staged, Option<u64>, Option<String>)>,
}

impl Bytes {
    fn apply(&mut self) {
        for ((kind, id), (staged, fingerprint, reason)) in std::mem::take(&mut self.staged) {
            let row = self.stored.entry((kind, id)).or_insert((None, false, None));
            match staged {
                Staged::Created | Staged::Updated => *row = (fingerprint, false, None),
                Staged::Unchanged => row.2 = None,
                Staged::Invalid => row.2 = reason,
                Staged::Gone => row.1 = true,
                Staged::Seen => {}
            }
        }
    }

    fn held(&self, kind: ElementKind) -> impl Iterator<Item = &String> {
        self.stored
            .iter()
            .filter(move |((k, _), (_, removed, _))| *k == kind && !removed)
            .map(|((_, id), _)| id)
    }
}

fn page(ids: impl Iterator<Item = String>, after: Option<&str>, limit: u32) -> Vec<String> {
    let mut ids: Vec<String> = ids
        .filter(|id| after.is_none_or(|a| id.as_str() > a))
        .collect();
    ids.sort();
    ids.dedup();
    ids.truncate(limit as usize);
    ids
}

impl Storage for Bytes {
    fn look_up(&mut self, kind: ElementKind, ids: &[String]) -> Result<Vec<Entry>, String> {
        Ok(ids
            .iter()
            .map(|id| {
                let key = (kind, id.clone());
                Entry {
                    stored: self
                        .stored
                        .get(&key)
                        .map(|&(fingerprint, removed, _)| Stored {
                            fingerprint,
                            removed,
                        }),
                    staged: self.staged.get(&key).map(|s| s.0),
                }
            })
            .collect())
    }

    fn stage_written(
        &mut self,
        batch: Batch,
        fingerprints: Vec<u64>,
        changes: Vec<Staged>,
    ) -> Result<(), String> {
        let kind = batch.kind();
        for ((id, print), change) in batch.ids().into_iter().zip(fingerprints).zip(changes) {
            self.staged
                .insert((kind, id.to_string()), (change, Some(print), None));
        }
        Ok(())
    }

    fn stage_marks(&mut self, kind: ElementKind, marks: Vec<Mark>) -> Result<(), String> {
        for mark in marks {
            if !self.stored.contains_key(&(kind, mark.id.clone())) {
                return Err(format!("{} is not stored", mark.id));
            }
            self.staged
                .insert((kind, mark.id), (mark.staged, None, mark.reason));
        }
        Ok(())
    }

    fn held_count(&mut self, kind: ElementKind) -> Result<u32, String> {
        Ok(self.held(kind).count() as u32)
    }

    fn held_ids(
        &mut self,
        kind: ElementKind,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<String>, String> {
        let created = self
            .staged
            .iter()
            .filter(|((k, _), s)| *k == kind && s.0 == Staged::Created)
            .map(|((_, id), _)| id.clone());
        let held: Vec<String> = self.held(kind).cloned().chain(created).collect();
        Ok(page(held.into_iter(), after, limit))
    }

    fn unstaged_ids(
        &mut self,
        kind: ElementKind,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<String>, String> {
        let unstaged: Vec<String> = self
            .held(kind)
            .filter(|id| !self.staged.contains_key(&(kind, (*id).clone())))
            .cloned()
            .collect();
        Ok(page(unstaged.into_iter(), after, limit))
    }
}

const POLE: ElementKind = ElementKind::Pole;

fn pole(id: &str, name: &str) -> Pole {
    Pole {
        id: id.into(),
        name: name.into(),
        position: None,
        pole_type: None,
    }
}

fn poles(items: &[(&str, &str)]) -> Batch {
    Batch::Poles(items.iter().map(|(id, name)| pole(id, name)).collect())
}

/// One run over `bytes`: `f` on its ledger, then applied.
fn run<T>(bytes: &mut Bytes, f: impl FnOnce(&mut Ledger<&mut Bytes>) -> T) -> T {
    let mut ledger = Ledger::new(&mut *bytes);
    let answer = f(&mut ledger);
    bytes.apply();
    answer
}

fn ids(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[test]
fn fingerprints_decide_and_each_element_counts_once() {
    let mut bytes = Bytes::default();
    let first = run(&mut bytes, |l| {
        // a twice in one batch: one element, its last version.
        let o = l
            .write_batch(poles(&[("a", "A"), ("b", "B"), ("a", "A again")]))
            .unwrap();
        // Read again in a later batch: not counted again.
        let again = l.write_batch(poles(&[("b", "B")])).unwrap();
        (o, again, l.tally(POLE).unwrap())
    });
    assert_eq!(
        (first.0.created, first.0.updated, first.0.unchanged),
        (2, 0, 0)
    );
    assert_eq!((first.1.created, first.1.unchanged), (0, 0));
    assert_eq!(first.2, 2);
    let second = run(&mut bytes, |l| {
        let o = l
            .write_batch(poles(&[("a", "A again"), ("b", "B renamed")]))
            .unwrap();
        (o, l.complete_kind(POLE).unwrap())
    });
    assert_eq!(
        (second.0.created, second.0.updated, second.0.unchanged),
        (0, 1, 1)
    );
    assert_eq!((second.1.removed, second.1.stored), (0, 2));
}

#[test]
fn a_complete_listing_removes_what_it_did_not_read_and_invalid_ones_stay() {
    let mut bytes = Bytes::default();
    run(&mut bytes, |l| {
        l.write_batch(poles(&[("a", "A"), ("b", "B"), ("c", "C")]))
            .unwrap();
    });
    let (kept, sweep, known) = run(&mut bytes, |l| {
        l.write_batch(poles(&[("a", "A")])).unwrap();
        let kept = l
            .keep_invalid(
                POLE,
                &[
                    InvalidElement {
                        id: "b".into(),
                        reason: "bad".into(),
                    },
                    InvalidElement {
                        id: "z".into(),
                        reason: "never stored".into(),
                    },
                ],
            )
            .unwrap();
        let sweep = l.complete_kind(POLE).unwrap();
        (kept, sweep, l.known(POLE, &ids(&["a", "b", "c"])).unwrap())
    });
    assert_eq!(kept, 1);
    assert_eq!((sweep.removed, sweep.stored), (1, 3));
    assert_eq!(known, ["a", "b"]);
    assert!(bytes.stored[&(POLE, "c".into())].1, "c removed");
    assert_eq!(bytes.stored[&(POLE, "b".into())].2.as_deref(), Some("bad"));
    // Back: created again.
    let back = run(&mut bytes, |l| l.write_batch(poles(&[("c", "C")])).unwrap());
    assert_eq!(back.created, 1);
}

#[test]
fn an_incremental_walk_marks_seen_and_gone_and_gone_is_not_known() {
    let mut bytes = Bytes::default();
    run(&mut bytes, |l| {
        l.write_batch(poles(&[("a", "A"), ("b", "B"), ("c", "C")]))
            .unwrap();
    });
    let (missing, gone, known, held) = run(&mut bytes, |l| {
        l.write_batch(poles(&[("d", "D")])).unwrap();
        // The platform lists a, c, d and e: e is yet to be read.
        let missing = l.mark_seen(POLE, &ids(&["a", "c", "d", "e"])).unwrap();
        let gone = l.mark_gone(POLE, &ids(&["b", "d", "z"])).unwrap();
        let known = l.known(POLE, &ids(&["a", "b", "d"])).unwrap();
        (missing, gone, known, l.stored_ids(POLE, None, 10).unwrap())
    });
    assert_eq!(missing, ["e"]);
    assert_eq!(gone, 1, "b only: d was written, z never stored");
    assert_eq!(known, ["a", "d"]);
    assert_eq!(held, ["a", "b", "c", "d"]);
    assert!(bytes.stored[&(POLE, "b".into())].1, "b removed");
    assert!(!bytes.stored[&(POLE, "d".into())].1);
}
