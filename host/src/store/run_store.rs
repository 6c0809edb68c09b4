//! `element-store` for one run: its [`Staging`] on a thread of its own.
//!
//! The component hands over a page's elements and waits only for them to be
//! classed (one read of what is stored); the thread stages them while the
//! component reads and parses the next page, so a sync's two big costs,
//! parsing and writing, overlap on two cores. Every other call waits for
//! what was handed over before it, in order, so the run reads its own
//! writes; a batch that fails to stage fails the next call, and so the run.
//! At most one batch waits behind the one being staged.

use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::JoinHandle;

use anyhow::{Context, Result, anyhow};

use std::collections::HashMap;

use crate::component::bindings::element_store::{Entries, Mark, Staged as StagedState, Written};
use crate::component::bindings::types::ElementKind;
use crate::store::staging::{BatchOutcome, Progress, Staging, kind_name};
use crate::store::{Db, Transaction};

/// Work for the staging thread; the error of a batch staged earlier, if
/// any, is passed along so that everything after it fails.
type Job = Box<dyn FnOnce(&mut Staging, &mut Option<String>) + Send>;

pub struct RunStore {
    jobs: Option<SyncSender<Job>>,
    thread: Option<JoinHandle<(Staging, Option<String>)>>,
    progress: Box<dyn Progress>,
    /// Elements marked gone, by kind (for the progress).
    gone: HashMap<&'static str, u32>,
}

impl RunStore {
    /// Begin run `run_id`: its writes are staged until `commit`.
    pub fn begin(
        conn: Db,
        integration_id: &str,
        run_id: i64,
        progress: Box<dyn Progress>,
    ) -> Result<RunStore> {
        let staging = Staging::begin(conn, integration_id, run_id)?;
        let (jobs, queue): (SyncSender<Job>, Receiver<Job>) = mpsc::sync_channel(1);
        let thread = std::thread::Builder::new()
            .name("mapsync-staging".to_owned())
            .spawn(move || {
                let mut staging = staging;
                let mut failed = None;
                for job in queue {
                    job(&mut staging, &mut failed);
                }
                (staging, failed)
            })
            .context("starting the run's staging thread")?;
        Ok(RunStore {
            jobs: Some(jobs),
            thread: Some(thread),
            progress,
            gone: HashMap::new(),
        })
    }

    fn send(&self, job: Job) -> Result<()> {
        self.jobs
            .as_ref()
            .context("the run's store is closed")?
            .send(job)
            .map_err(|_| anyhow!("the run's staging thread stopped"))
    }

    /// `f` on the staging, after everything handed over before.
    fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Staging) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        self.call_then(f, |_| {})
    }

    /// `f` on the staging, after everything handed over before; then, once
    /// `f` answered well, `then`, while the caller goes on.
    fn call_then<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Staging) -> Result<T> + Send + 'static,
        then: impl FnOnce(&mut Staging) + Send + 'static,
    ) -> Result<T> {
        self.check_cancelled()?;
        let (answer, answered) = mpsc::sync_channel(1);
        self.send(Box::new(move |staging, failed| {
            let result = match failed {
                Some(error) => Err(anyhow!("{error}")),
                None => f(staging),
            };
            let answered_well = result.is_ok();
            let _ = answer.send(result);
            if answered_well {
                then(staging);
            }
        }))?;
        answered
            .recv()
            .map_err(|_| anyhow!("the run's staging thread stopped"))?
    }

    fn check_cancelled(&self) -> Result<()> {
        if self.progress.cancelled() {
            anyhow::bail!("mapsync is stopping: the run was cut short and rolled back");
        }
        Ok(())
    }

    /// Stop the thread once it has done everything handed over: the
    /// staging, and the error of a batch that failed, if any.
    fn finish(mut self) -> Result<(Staging, Option<String>)> {
        drop(self.jobs.take());
        self.thread
            .take()
            .context("the run's store is closed")?
            .join()
            .map_err(|_| anyhow!("the run's staging thread panicked"))
    }

    /// `f` on the staging after everything handed over before, not waited
    /// for: a failure fails the next call, and so the run.
    fn hand_over(
        &self,
        what: String,
        f: impl FnOnce(&mut Staging) -> Result<()> + Send + 'static,
    ) -> Result<()> {
        self.check_cancelled()?;
        self.send(Box::new(move |staging, failed| {
            if failed.is_some() {
                return;
            }
            if let Err(error) = f(staging) {
                *failed = Some(format!("{what}: {error:#}"));
            }
        }))
    }

    pub fn look_up(&mut self, kind: ElementKind, ids: &[String]) -> Result<Entries> {
        let ids = ids.to_vec();
        self.call(move |s| s.look_up(kind, &ids))
    }

    /// Stage elements as written; they are staged while the component goes on.
    pub fn stage_written(&mut self, kind: ElementKind, written: Written) -> Result<()> {
        let count = |state| written.changes.iter().filter(|c| **c == state).count() as u32;
        let read = BatchOutcome {
            created: count(StagedState::Created),
            updated: count(StagedState::Updated),
            unchanged: 0,
        };
        self.hand_over(format!("staging {}s", kind_name(kind)), move |s| {
            s.stage_written(kind, &written)
        })?;
        self.progress.batch(kind, &read);
        Ok(())
    }

    /// Stage marks; staged while the component goes on.
    pub fn stage_marks(&mut self, kind: ElementKind, marks: Vec<Mark>) -> Result<()> {
        let count = |state| marks.iter().filter(|m| m.staged == state).count() as u32;
        let unchanged = count(StagedState::Unchanged);
        *self.gone.entry(kind_name(kind)).or_default() += count(StagedState::Gone);
        self.hand_over(format!("staging {}s", kind_name(kind)), move |s| {
            s.stage_marks(kind, &marks)
        })?;
        if unchanged > 0 {
            let read = BatchOutcome {
                created: 0,
                updated: 0,
                unchanged,
            };
            self.progress.batch(kind, &read);
        }
        Ok(())
    }

    pub fn held_count(&mut self, kind: ElementKind) -> Result<u32> {
        self.call(move |s| s.held_count(kind))
    }

    pub fn held_ids(
        &mut self,
        kind: ElementKind,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<String>> {
        let after = after.map(str::to_owned);
        self.call_then(
            move |s| s.held_ids(kind, after.as_deref(), limit),
            Staging::read_ahead,
        )
    }

    /// The component tells no host when a listing is complete: its walk
    /// of the unstaged ids ending (a page short of `limit`) is that moment,
    /// told to the progress with what the run marked gone of the kind.
    pub fn unstaged_ids(
        &mut self,
        kind: ElementKind,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<String>> {
        let after = after.map(str::to_owned);
        let page = self.call(move |s| s.unstaged_ids(kind, after.as_deref(), limit))?;
        if page.len() < limit as usize {
            let gone = self.gone.get(kind_name(kind)).copied().unwrap_or(0);
            self.progress.completed(kind, gone + page.len() as u32);
        }
        Ok(page)
    }

    /// Apply the run (see [`Staging::commit`]), once everything handed over
    /// is staged; a batch that failed to stage fails it, and nothing is
    /// applied.
    pub fn commit(self, record_outcome: impl FnOnce(&Transaction<'_>) -> Result<()>) -> Result<Db> {
        let (staging, failed) = self.finish()?;
        if let Some(error) = failed {
            let _ = staging.roll_back();
            anyhow::bail!("{error}");
        }
        staging.commit(record_outcome)
    }

    /// Drop everything the run staged; the store is as it was.
    pub fn roll_back(self) -> Result<Db> {
        let (staging, _) = self.finish()?;
        staging.roll_back()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params;
    use crate::store::staging::NoProgress;
    use crate::store::staging::tests::{batch, complete, open, splitter, write};

    /// A batch classed and answered, then failing to stage (the disk
    /// full, say), fails the run's next call and its commit; nothing of
    /// the run is applied.
    #[test]
    fn a_batch_that_fails_to_stage_fails_the_run() {
        let (dir, conn, id) = open();
        let mut store = RunStore::begin(conn, &id, 1, Box::new(NoProgress)).unwrap();
        store
            .call(|s| {
                s.conn().batch(
                    "CREATE TEMP TRIGGER refuse BEFORE INSERT ON run_elements
                     BEGIN SELECT RAISE(ABORT, 'disk full'); END;",
                )
            })
            .unwrap();
        let outcome = write(&mut store, batch(&[&splitter("s1", "A")]), vec![1]);
        assert_eq!(outcome.created, 1);
        let error = format!(
            "{:#}",
            complete(&mut store, ElementKind::Splitter).err().unwrap()
        );
        assert!(
            error.contains("staging splitters") && error.contains("disk full"),
            "{error}"
        );
        let Err(error) = store.commit(|_| Ok(())) else {
            panic!("the run committed")
        };
        let error = format!("{error:#}");
        assert!(error.contains("disk full"), "{error}");
        let held: i64 = crate::store::open_file(&dir.path().join("mapsync.db"))
            .unwrap()
            .query_row("SELECT count(*) FROM elements", params![], |r| r.get(0))
            .unwrap();
        assert_eq!(held, 0);
    }
}
