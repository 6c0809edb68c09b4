//! The `element-store` rules, kept here over any host's bytes: what an
//! element read is (created, updated, unchanged), what a complete listing
//! removes, what an incremental run's walk finds gone, what is known, and
//! every count. A host only answers what it holds and stages what it is
//! told (the WIT `element-store`, [`Storage`]), so every host counts a run
//! the same way.

use std::collections::{BTreeMap, BTreeSet};

use crate::model::{Batch, ElementKind};
use crate::store::{
    BatchOutcome, ElementStore, Entry, InvalidElement, Mark, Staged, Storage, Stored, Sweep,
};

/// How many unstaged ids a completed listing asks for at a time.
const UNSTAGED_PAGE: u32 = 1000;

/// One run's rules over its storage.
pub struct Ledger<S: Storage> {
    storage: S,
    /// Elements this run created, by kind (`tally`).
    created: BTreeMap<ElementKind, u32>,
    /// Elements held when the run began, by kind, asked once.
    held: BTreeMap<ElementKind, u32>,
    /// Kinds whose listing was completed: what it did not read is gone.
    completed: BTreeSet<ElementKind>,
}

impl<S: Storage> Ledger<S> {
    pub fn new(storage: S) -> Ledger<S> {
        Ledger {
            storage,
            created: BTreeMap::new(),
            held: BTreeMap::new(),
            completed: BTreeSet::new(),
        }
    }

    pub fn storage(&self) -> &S {
        &self.storage
    }

    fn held_count(&mut self, kind: ElementKind) -> Result<u32, String> {
        if let Some(&held) = self.held.get(&kind) {
            return Ok(held);
        }
        let held = self.storage.held_count(kind)?;
        self.held.insert(kind, held);
        Ok(held)
    }

    fn entries(&mut self, kind: ElementKind, ids: &[String]) -> Result<Vec<Entry>, String> {
        let entries = self.storage.look_up(kind, ids)?;
        if entries.len() != ids.len() {
            return Err(format!(
                "the store answered {} entries for {} ids",
                entries.len(),
                ids.len()
            ));
        }
        Ok(entries)
    }

    fn marks(&mut self, kind: ElementKind, marks: Vec<Mark>) -> Result<(), String> {
        if marks.is_empty() {
            return Ok(());
        }
        self.storage.stage_marks(kind, marks)
    }
}

fn mark(id: &str, staged: Staged) -> Mark {
    Mark {
        id: id.to_string(),
        staged,
        reason: None,
    }
}

/// What an element read is, against what was stored when the run began.
fn change(stored: Option<Stored>, fingerprint: u64) -> Staged {
    match stored {
        // An element that comes back after being removed counts as new.
        None | Some(Stored { removed: true, .. }) => Staged::Created,
        Some(Stored {
            fingerprint: Some(old),
            ..
        }) if old == fingerprint => Staged::Unchanged,
        // Another fingerprint, or one stored before fingerprints were kept
        // (rewritten once, with its fingerprint).
        Some(_) => Staged::Updated,
    }
}

impl<S: Storage> ElementStore for Ledger<S> {
    fn write_batch(&mut self, batch: Batch) -> Result<BatchOutcome, String> {
        let kind = batch.kind();
        // The same element twice in a batch is one: its last version.
        let ids: Vec<String> = batch.ids().into_iter().map(str::to_string).collect();
        let last: BTreeMap<&str, usize> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| (id.as_str(), i))
            .collect();
        let keep: Vec<bool> = (0..ids.len()).map(|i| last[ids[i].as_str()] == i).collect();
        let batch = batch.keeping(&keep);
        let ids: Vec<String> = ids
            .into_iter()
            .zip(&keep)
            .filter_map(|(id, &kept)| kept.then_some(id))
            .collect();
        let fingerprints = batch.fingerprints();
        let entries = self.entries(kind, &ids)?;
        let mut outcome = BatchOutcome::default();
        let (mut written, mut changes, mut prints, mut unchanged) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for ((id, entry), &fingerprint) in ids.iter().zip(&entries).zip(&fingerprints) {
            let change = change(entry.stored, fingerprint);
            // Read again in a later batch of the run: counted once.
            if !entry.staged.is_some_and(Staged::read) {
                match change {
                    Staged::Created => {
                        outcome.created += 1;
                        *self.created.entry(kind).or_default() += 1;
                    }
                    Staged::Updated => outcome.updated += 1,
                    _ => outcome.unchanged += 1,
                }
            }
            let write = change != Staged::Unchanged;
            written.push(write);
            if write {
                changes.push(change);
                prints.push(fingerprint);
            } else {
                unchanged.push(mark(id, Staged::Unchanged));
            }
        }
        if !changes.is_empty() {
            self.storage
                .stage_written(batch.keeping(&written), prints, changes)?;
        }
        self.marks(kind, unchanged)?;
        Ok(outcome)
    }

    fn keep_invalid(
        &mut self,
        kind: ElementKind,
        elements: &[InvalidElement],
    ) -> Result<u32, String> {
        let ids: Vec<String> = elements.iter().map(|e| e.id.clone()).collect();
        let entries = self.entries(kind, &ids)?;
        // A stored element keeps its last valid version, flagged; one this
        // run wrote keeps what it wrote; one never stored is not kept.
        let marks: Vec<Mark> = elements
            .iter()
            .zip(&entries)
            .filter(|(_, entry)| {
                entry.held() && !matches!(entry.staged, Some(Staged::Created | Staged::Updated))
            })
            .map(|(e, _)| Mark {
                id: e.id.clone(),
                staged: Staged::Invalid,
                reason: Some(e.reason.clone()),
            })
            .collect();
        let kept = marks.len() as u32;
        self.marks(kind, marks)?;
        Ok(kept)
    }

    fn complete_kind(&mut self, kind: ElementKind) -> Result<Sweep, String> {
        let stored = self.held_count(kind)?;
        // Every element held that the run read nothing of is gone.
        let mut removed = 0;
        let mut after: Option<String> = None;
        loop {
            let page = self
                .storage
                .unstaged_ids(kind, after.as_deref(), UNSTAGED_PAGE)?;
            let Some(last) = page.last().cloned() else {
                break;
            };
            removed += page.len() as u32;
            let full = page.len() >= UNSTAGED_PAGE as usize;
            self.marks(kind, page.iter().map(|id| mark(id, Staged::Gone)).collect())?;
            if !full {
                break;
            }
            after = Some(last);
        }
        self.completed.insert(kind);
        Ok(Sweep { removed, stored })
    }

    fn seen(&mut self, kind: ElementKind, ids: &[String]) -> Result<Vec<String>, String> {
        let entries = self.entries(kind, ids)?;
        Ok(ids
            .iter()
            .zip(&entries)
            .filter(|(_, e)| e.staged.is_some_and(Staged::read))
            .map(|(id, _)| id.clone())
            .collect())
    }

    fn tally(&mut self, kind: ElementKind) -> Result<u32, String> {
        let created = self.created.get(&kind).copied().unwrap_or(0);
        Ok(self.held_count(kind)? + created)
    }

    fn mark_seen(&mut self, kind: ElementKind, ids: &[String]) -> Result<Vec<String>, String> {
        let entries = self.entries(kind, ids)?;
        let (mut marks, mut missing) = (Vec::new(), Vec::new());
        for (id, entry) in ids.iter().zip(&entries) {
            match entry.staged {
                Some(staged) if staged.read() || staged == Staged::Seen => {}
                // Held and listed: it is still there, left as it is.
                None if entry.held() => marks.push(mark(id, Staged::Seen)),
                // Neither held nor read: the run has yet to read it.
                _ => missing.push(id.clone()),
            }
        }
        self.marks(kind, marks)?;
        Ok(missing)
    }

    fn stored_ids(
        &mut self,
        kind: ElementKind,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<String>, String> {
        self.storage.held_ids(kind, after, limit)
    }

    fn mark_gone(&mut self, kind: ElementKind, ids: &[String]) -> Result<u32, String> {
        let entries = self.entries(kind, ids)?;
        // Held, and nothing staged: one this run wrote or saw stays.
        let marks: Vec<Mark> = ids
            .iter()
            .zip(&entries)
            .filter(|(_, e)| e.held() && e.staged.is_none())
            .map(|(id, _)| mark(id, Staged::Gone))
            .collect();
        let gone = marks.len() as u32;
        self.marks(kind, marks)?;
        Ok(gone)
    }

    fn known(&mut self, kind: ElementKind, ids: &[String]) -> Result<Vec<String>, String> {
        let entries = self.entries(kind, ids)?;
        let completed = self.completed.contains(&kind);
        Ok(ids
            .iter()
            .zip(&entries)
            .filter(|(_, e)| match e.staged {
                Some(Staged::Gone) => false,
                Some(_) => true,
                None => e.held() && !completed,
            })
            .map(|(id, _)| id.clone())
            .collect())
    }
}
