//! The daemon's heart: at most one sync per integration at a time, a small
//! bounded number at once, live progress, and a clean stop.

pub mod serve;

use crate::error::unavailable;
use crate::refuse;
use std::collections::{BTreeMap, HashMap};

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use anyhow::Result;
use serde::Serialize;

use crate::component::Runtime;
use crate::component::bindings::types::ElementKind;
use crate::store::integrations;
use crate::store::staging::BatchOutcome;
use crate::store::staging::{Progress, kind_name};
use crate::store::{self, Location, leases};
use crate::sync::run::{self as sync_run, Tuning};

/// What a run has done so far, as the API and `status` show it.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct ProgressSnapshot {
    pub run_id: i64,
    pub integration: String,
    pub trigger: String,
    pub started_at: String,
    /// The kind being read now.
    pub kind: Option<String>,
    /// Pages (batches) stored so far.
    pub pages: u64,
    /// Elements read so far, per kind.
    pub read: BTreeMap<String, u64>,
    /// Kinds whose listing is complete.
    pub completed: Vec<String>,
}

struct LiveRun {
    run_id: AtomicI64,
    cancel: AtomicBool,
    snapshot: Mutex<ProgressSnapshot>,
}

/// The `Progress` of one live run, shared with the API.
struct LiveProgress(Arc<LiveRun>);

impl Progress for LiveProgress {
    fn batch(&mut self, kind: ElementKind, outcome: &BatchOutcome) {
        let mut s = self.0.snapshot.lock().unwrap();
        s.kind = Some(kind_name(kind).into());
        s.pages += 1;
        *s.read.entry(kind_name(kind).into()).or_default() +=
            u64::from(outcome.created + outcome.updated + outcome.unchanged);
    }

    fn completed(&mut self, kind: ElementKind, _removed: u32) {
        self.0
            .snapshot
            .lock()
            .unwrap()
            .completed
            .push(kind_name(kind).into());
    }

    fn cancelled(&self) -> bool {
        self.0.cancel.load(Ordering::Relaxed)
    }
}

pub enum Triggered {
    Started { run_id: i64 },
    AlreadyRunning(ProgressSnapshot),
}

pub struct Daemon {
    db: Location,
    runtime: Arc<Runtime>,
    /// Live runs by integration id: the single-flight guard.
    running: Mutex<HashMap<String, Arc<LiveRun>>>,
    /// Free sync slots, for bounded parallelism.
    slots: (Mutex<usize>, Condvar),
    parallel: usize,
    stopping: AtomicBool,
}

impl Daemon {
    pub fn new(db: &Location, runtime: Arc<Runtime>, parallel: usize) -> Arc<Daemon> {
        Arc::new(Daemon {
            db: db.clone(),
            runtime,
            running: Mutex::new(HashMap::new()),
            slots: (Mutex::new(parallel.max(1)), Condvar::new()),
            parallel: parallel.max(1),
            stopping: AtomicBool::new(false),
        })
    }

    pub fn store(&self) -> &Location {
        &self.db
    }

    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// How many more syncs this host can run at once now: scheduled work
    /// beyond it is left for other hosts to claim.
    pub fn capacity(&self) -> usize {
        self.parallel
            .saturating_sub(self.running.lock().unwrap().len())
    }

    pub fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Relaxed)
    }

    /// Start a sync of the named integration in the background, unless one
    /// runs already. `Err` when it cannot start (unknown, not linked, stopping).
    pub fn trigger(
        self: &Arc<Self>,
        name: &str,
        trigger: &str,
        tuning: Tuning,
        slot: Option<String>,
    ) -> Result<Triggered> {
        if self.stopping() {
            refuse!(unavailable(
                "mapsync is stopping and takes no new syncs".to_string()
            ));
        }
        let conn = store::open(&self.db)?;
        let integration = integrations::get(&conn, name)?;
        let live = {
            let mut running = self.running.lock().unwrap();
            // A run whose outcome is recorded has ended, though its thread
            // may still be identifying clients: a new one may start.
            if let Some(live) = running.get(&integration.id)
                && !crate::store::runs::ended(&conn, live.run_id.load(Ordering::Relaxed))?
            {
                return Ok(Triggered::AlreadyRunning(
                    live.snapshot.lock().unwrap().clone(),
                ));
            }
            let live = Arc::new(LiveRun {
                run_id: AtomicI64::new(0),
                cancel: AtomicBool::new(false),
                snapshot: Mutex::new(ProgressSnapshot {
                    run_id: 0,
                    integration: integration.name.clone(),
                    trigger: trigger.into(),
                    started_at: crate::store::now(),
                    kind: None,
                    pages: 0,
                    read: BTreeMap::new(),
                    completed: Vec::new(),
                }),
            });
            running.insert(integration.id.clone(), live.clone());
            live
        };
        let run_id = match sync_run::begin(&conn, &self.runtime, &integration, trigger) {
            Ok(id) => id,
            Err(e) => {
                self.running.lock().unwrap().remove(&integration.id);
                // Running on another host (or a command): its progress as
                // that host keeps it in the store.
                let elsewhere = crate::error::Refusal::of(&e)
                    .is_some_and(|r| r.kind == crate::error::Kind::Conflict);
                if elsewhere
                    && slot.is_none()
                    && let Some(other) = store::runs::running_of(&conn, &integration.id)?
                {
                    return Ok(Triggered::AlreadyRunning(stored_progress(
                        &conn,
                        other,
                        &integration.name,
                    )?));
                }
                // Running elsewhere (a command, another host): that run
                // serves the slot.
                if let Some(slot) = &slot {
                    let _ = leases::finish_slot(&conn, &integration.id, slot);
                }
                return Err(e);
            }
        };
        live.run_id.store(run_id, Ordering::Relaxed);
        live.snapshot.lock().unwrap().run_id = run_id;
        let daemon = self.clone();
        std::thread::Builder::new().name(format!("sync-{}", integration.name)).spawn(move || {
            daemon.acquire_slot();
            let progress = Box::new(LiveProgress(live.clone()));
            let ended = match sync_run::execute(conn, &daemon.runtime, &integration, run_id, tuning, progress) {
                Ok((report, conn)) if report.succeeded() => Some(conn),
                Ok((report, conn)) => {
                    tracing::warn!(run_id, error = report.error.as_deref().unwrap_or("unknown"), "sync failed");
                    // Cut short by a stop, the slot is left for another host.
                    (!daemon.stopping()).then_some(conn)
                }
                Err(e) => {
                    tracing::error!(run_id, error = %format!("{e:#}"), "sync could not be recorded");
                    None
                }
            };
            if let (Some(conn), Some(slot)) = (ended, &slot)
                && let Err(e) = leases::finish_slot(&conn, &integration.id, slot)
            {
                tracing::warn!(run_id, error = %format!("{e:#}"), "marking the slot done");
            }
            daemon.release_slot();
            let mut running = daemon.running.lock().unwrap();
            // Only its own entry: a run started after this one ended keeps its.
            if running.get(&integration.id).is_some_and(|l| Arc::ptr_eq(l, &live)) {
                running.remove(&integration.id);
            }
        })?;
        Ok(Triggered::Started { run_id })
    }

    fn acquire_slot(&self) {
        let (free, ready) = &self.slots;
        let mut free = free.lock().unwrap();
        while *free == 0 {
            free = ready.wait(free).unwrap();
        }
        *free -= 1;
    }

    fn release_slot(&self) {
        let (free, ready) = &self.slots;
        *free.lock().unwrap() += 1;
        ready.notify_one();
    }

    /// Live runs' progress.
    pub fn running(&self) -> Vec<ProgressSnapshot> {
        self.running
            .lock()
            .unwrap()
            .values()
            .map(|l| l.snapshot.lock().unwrap().clone())
            .collect()
    }

    /// A live run's progress, if it is still running here.
    pub fn progress(&self, run_id: i64) -> Option<ProgressSnapshot> {
        self.running().into_iter().find(|s| s.run_id == run_id)
    }

    /// Keep the progress of this host's runs in the store every second,
    /// for the other hosts' API, as long as the daemon runs.
    pub fn keep_progress(self: &Arc<Self>) {
        let daemon = self.clone();
        let spawned = std::thread::Builder::new()
            .name("progress".into())
            .spawn(move || {
                let mut conn = None;
                while !daemon.stopping() {
                    std::thread::sleep(Duration::from_secs(1));
                    if conn.is_none() {
                        conn = store::open(&daemon.db).ok();
                    }
                    let Some(db) = &conn else { continue };
                    for snapshot in daemon.running() {
                        let json = serde_json::to_string(&snapshot).unwrap_or_default();
                        if store::runs::save_progress(db, snapshot.run_id, &json).is_err() {
                            conn = None;
                            break;
                        }
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "keeping progress in the store");
        }
    }

    /// Take no more work; let running syncs end within `grace`, then cut
    /// the rest short (they roll back) and wait up to `bound` for that.
    /// Answers whether everything ended in time.
    pub fn shutdown(&self, grace: Duration, bound: Duration) -> bool {
        self.stopping.store(true, Ordering::Relaxed);
        if self.wait_idle(grace) {
            return true;
        }
        for live in self.running.lock().unwrap().values() {
            tracing::warn!(
                run_id = live.run_id.load(Ordering::Relaxed),
                "cutting a sync short to stop"
            );
            live.cancel.store(true, Ordering::Relaxed);
        }
        self.wait_idle(bound)
    }

    fn wait_idle(&self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if self.running.lock().unwrap().is_empty() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.running.lock().unwrap().is_empty()
    }
}

/// A run's progress as its host kept it in the store; only what the run's
/// row says when its host has kept none yet.
pub fn stored_progress(
    conn: &store::Db,
    run_id: i64,
    integration: &str,
) -> anyhow::Result<ProgressSnapshot> {
    if let Some(json) = store::runs::stored_progress(conn, run_id)?
        && let Ok(snapshot) = serde_json::from_str(&json)
    {
        return Ok(snapshot);
    }
    let run = store::runs::get(conn, run_id)?;
    Ok(ProgressSnapshot {
        run_id,
        integration: integration.to_string(),
        trigger: run.as_ref().map(|r| r.trigger.clone()).unwrap_or_default(),
        started_at: run.map(|r| r.started_at).unwrap_or_default(),
        kind: None,
        pages: 0,
        read: BTreeMap::new(),
        completed: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ozmap_test_server::{GeneratorConfig, ServerConfig, TestServer, generate};

    #[test]
    fn concurrent_triggers_start_one_sync_and_report_it_running() {
        let config = ServerConfig {
            latency: Duration::from_millis(200),
            ..ServerConfig::default()
        };
        let server =
            TestServer::start(config.clone(), generate(&GeneratorConfig::small())).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.db");
        let conn = crate::store::open_file(&path).unwrap();
        integrations::add(
            &conn,
            integrations::NewIntegration {
                name: "isp".into(),
                api_url: server.url(),
                api_key: config.api_key.clone().unwrap(),
                user: config.user.clone(),
                password: config.password.clone(),
                project_name: None,
                insecure_http: false,
            },
        )
        .unwrap();
        crate::store::projects::link(&conn, "isp", crate::store::projects::LinkTo::New("P"))
            .unwrap();
        let daemon = Daemon::new(
            &Location::Sqlite(path),
            Arc::new(Runtime::new().unwrap()),
            2,
        );

        let outcomes: Vec<Triggered> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| {
                    s.spawn(|| {
                        daemon
                            .trigger("isp", "api", Tuning::default(), None)
                            .unwrap()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let started: Vec<i64> = outcomes
            .iter()
            .filter_map(|t| match t {
                Triggered::Started { run_id } => Some(*run_id),
                Triggered::AlreadyRunning(_) => None,
            })
            .collect();
        assert_eq!(started.len(), 1, "exactly one sync starts");
        for t in &outcomes {
            if let Triggered::AlreadyRunning(progress) = t {
                assert_eq!(progress.integration, "isp");
            }
        }
        assert!(daemon.progress(started[0]).is_some() || daemon.running().is_empty());
        assert!(daemon.shutdown(Duration::from_secs(60), Duration::from_secs(30)));
        let runs: i64 = conn
            .query_row("SELECT count(*) FROM runs", crate::params![], |r| r.get(0))
            .unwrap();
        assert_eq!(runs, 1);
        assert!(
            daemon
                .trigger("isp", "api", Tuning::default(), None)
                .is_err(),
            "a stopping daemon takes no work"
        );
    }
}
