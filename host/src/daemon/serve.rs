//! `mapsync serve`: the daily schedule, on-demand syncs and the HTTP API,
//! until SIGTERM or Ctrl-C.

use std::collections::HashMap;
use std::net::SocketAddr;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use crate::store::Db;
use crate::store::{self, Location, leases, settings};
use anyhow::{Context, Result};
use chrono::{DateTime, Utc};

use crate::component::Runtime;
use crate::daemon::{Daemon, Triggered};
use crate::schedule;

/// A line for whoever watches stdout; a closed stdout (a detached service)
/// must not bring the daemon down, so failures to print are ignored.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, $($arg)*);
        let _ = out.flush();
    }};
}

/// How long running syncs may go on after a stop is asked for, and how long
/// a cut-short one may take to roll back.
const GRACE: Duration = Duration::from_secs(20);
const ROLLBACK_BOUND: Duration = Duration::from_secs(40);
/// Connections the API keeps open between requests: as many as requests
/// usually run at once (more are opened when needed, then closed).
const KEPT_CONNECTIONS: usize = 8;

/// The token `MAPSYNC_API_TOKEN` gives, which then is the only one.
pub fn token_from_environment() -> Option<String> {
    std::env::var("MAPSYNC_API_TOKEN")
        .ok()
        .map(|token| token.trim().to_string())
        .filter(|token| !token.is_empty())
}

/// The API's bearer token: `MAPSYNC_API_TOKEN`, else the one generated at
/// the first start and kept in the database (printed that once).
fn api_token(conn: &Db) -> Result<String> {
    if let Some(token) = token_from_environment() {
        return Ok(token);
    }
    if let Some(token) = settings::api_token(conn)? {
        say!(
            "API token: the one generated at the first start (set MAPSYNC_API_TOKEN to choose another)"
        );
        return Ok(token);
    }
    let generated = new_token();
    let token = settings::keep_api_token(conn, &generated)?;
    if token != generated {
        say!("API token: the one another host generated (set MAPSYNC_API_TOKEN to choose another)");
        return Ok(token);
    }
    say!("API token (shown this once; keep it): {token}");
    Ok(token)
}

/// A fresh API token: 24 random bytes in hex.
pub fn new_token() -> String {
    let bytes: [u8; 24] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn local(t: DateTime<Utc>) -> String {
    t.with_timezone(&schedule::ZONE)
        .format("%Y-%m-%d %H:%M %Z")
        .to_string()
}

/// Start the sync of `slot` (a scheduled time, RFC 3339) when this host
/// claims it: whatever the number of hosts, one of them runs each slot.
fn start_slot(daemon: &Arc<Daemon>, conn: &Db, name: &str, trigger: &str, slot: DateTime<Utc>) {
    let slot = slot.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let claimed = crate::store::integrations::get(conn, name)
        .and_then(|i| leases::claim_slot(conn, &i.id, &slot));
    match claimed {
        Ok(true) => {
            // A sync under way (a daily one, a refresh that ran long)
            // serves this slot: it is done.
            if let Some(Triggered::AlreadyRunning(_)) =
                start(daemon, name, trigger, Some(slot.clone()))
                && let Err(e) = crate::store::integrations::get(conn, name)
                    .and_then(|i| leases::finish_slot(conn, &i.id, &slot))
            {
                tracing::warn!(integration = name, error = %format!("{e:#}"), "marking a slot done");
            }
        }
        Ok(false) => tracing::info!(integration = name, slot, "slot taken by another host"),
        Err(e) => tracing::warn!(integration = name, error = %format!("{e:#}"), "claiming a slot"),
    }
}

fn start(
    daemon: &Arc<Daemon>,
    name: &str,
    trigger: &str,
    slot: Option<String>,
) -> Option<Triggered> {
    match daemon.trigger(name, trigger, crate::sync::run::Tuning::default(), slot) {
        Ok(Triggered::Started { run_id }) => {
            tracing::info!(integration = name, run_id, trigger, "sync started");
            Some(Triggered::Started { run_id })
        }
        Ok(Triggered::AlreadyRunning(p)) => {
            tracing::info!(
                integration = name,
                run_id = p.run_id,
                trigger,
                "sync already running; not started again"
            );
            Some(Triggered::AlreadyRunning(p))
        }
        Err(e) => {
            tracing::warn!(integration = name, trigger, error = %format!("{e:#}"), "sync not started");
            None
        }
    }
}

/// Every second: start what is due (the daily syncs, and the refreshes
/// every `refresh-every` minutes between them), and take over the slots of
/// hosts that are gone. At start, catch up on missed daily runs.
fn scheduler(daemon: Arc<Daemon>) {
    let mut next: HashMap<String, DateTime<Utc>> = HashMap::new();
    // Each integration's refresh period (minutes) and next refresh slot.
    let mut refreshes: HashMap<String, (u32, DateTime<Utc>)> = HashMap::new();
    // Slots due and not yet claimed: claimed only while this host has
    // room, so that hosts sharing a store share the work.
    let mut due: Vec<(String, &'static str, DateTime<Utc>)> = Vec::new();
    let mut conn: Option<Db> = None;
    // Integrations this host said it will not schedule, with why: said
    // once, and again if the reason changes.
    let mut unscheduled: HashMap<String, String> = HashMap::new();
    while !daemon.stopping() {
        std::thread::sleep(Duration::from_secs(1));
        let now = Utc::now();
        if conn.is_none() {
            conn = store::open(daemon.store())
                .map_err(|e| tracing::error!(error = %format!("{e:#}"), "opening the store"))
                .ok();
        }
        let Some(db) = &conn else { continue };
        let planned = match crate::store::runs::scheduled(db) {
            Ok(planned) => planned,
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), "reading the schedule");
                conn = None;
                continue;
            }
        };
        match crate::store::runs::unscheduled(db) {
            Ok(now_unscheduled) => {
                for (name, why) in &now_unscheduled {
                    if unscheduled.get(name) != Some(why) {
                        say!(
                            "not scheduling {:?}: {why}",
                            crate::text::shown(name).to_string()
                        );
                        tracing::warn!(integration = %crate::text::shown(name), reason = %why, "not scheduled");
                    }
                }
                unscheduled = now_unscheduled.into_iter().collect();
            }
            Err(e) => tracing::warn!(error = %format!("{e:#}"), "reading what is not scheduled"),
        }
        match leases::take_over_slots(db, daemon.capacity()) {
            Ok(taken) => {
                for (name, slot) in taken {
                    say!("taking over the sync of {name:?} for {slot}: its host is gone");
                    let _ = start(&daemon, &name, "take-over", Some(slot));
                }
            }
            Err(e) => tracing::warn!(error = %format!("{e:#}"), "taking over slots"),
        }
        let refreshing: Vec<(String, u32)> = planned
            .iter()
            .map(|p| (p.name.clone(), p.refresh_every))
            .collect();
        for planned in planned {
            let (name, last_success) = (planned.name, planned.last_success);
            let Ok(at) = schedule::parse_time(&planned.sync_time) else {
                continue;
            };
            match next.get(&name) {
                None => {
                    let planned = schedule::next_run(now, at, schedule::ZONE);
                    say!("next sync of {name:?}: {}", local(planned));
                    tracing::info!(integration = %name, next = %planned, "scheduled");
                    if schedule::missed(last_success, now) {
                        // The slot missed: the last one before now.
                        let slot =
                            schedule::next_run(now - chrono::Duration::days(1), at, schedule::ZONE);
                        say!("catching up on {name:?}: no successful sync in the last day");
                        due.push((name.clone(), "catch-up", slot));
                    }
                    next.insert(name, planned);
                }
                Some(at_time) if *at_time <= now => {
                    due.push((name.clone(), "schedule", *at_time));
                    let planned = schedule::next_run(now, at, schedule::ZONE);
                    tracing::info!(integration = %name, next = %planned, "scheduled");
                    next.insert(name, planned);
                }
                Some(_) => {}
            }
        }
        // After the daily syncs: a refresh due at a daily sync's very slot
        // is that sync.
        for (name, minutes) in refreshing {
            refresh(&mut refreshes, &mut due, &name, minutes, now);
        }
        due.retain(|(name, trigger, slot)| {
            if daemon.capacity() == 0 {
                return true;
            }
            start_slot(&daemon, db, name, trigger, *slot);
            false
        });
    }
}

/// Plan `name`'s next refresh, every `minutes` (0: none), and put the one
/// now due among `due`, unless the daily sync takes that very slot.
fn refresh(
    refreshes: &mut HashMap<String, (u32, DateTime<Utc>)>,
    due: &mut Vec<(String, &'static str, DateTime<Utc>)>,
    name: &str,
    minutes: u32,
    now: DateTime<Utc>,
) {
    if minutes == 0 {
        refreshes.remove(name);
        return;
    }
    match refreshes.get(name) {
        Some((every, at)) if *every == minutes => {
            if *at > now {
                return;
            }
            let slot = *at;
            if !due.iter().any(|(n, _, s)| n == name && *s == slot) {
                due.push((name.to_string(), "refresh", slot));
            }
        }
        // New, or its period changed: from the next slot on.
        _ => {
            tracing::info!(
                integration = name,
                minutes,
                "refreshing what changed every {minutes} minutes"
            );
        }
    }
    refreshes.insert(
        name.to_string(),
        (minutes, schedule::next_refresh(now, minutes)),
    );
}

async fn stop_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("stop asked: taking no new work");
}

pub fn run(
    location: &Location,
    listen: SocketAddr,
    parallel: usize,
    max_requests: usize,
) -> Result<ExitCode> {
    let conn = store::open(location)?;
    crate::sync::run::finish_interrupted(&conn)?;
    let token = api_token(&conn)?;
    drop(conn);
    let runtime = Arc::new(Runtime::new()?.with_request_bound(max_requests));
    leases::keep_beating(location);
    let daemon = Daemon::new(location, runtime, parallel);
    daemon.keep_progress();
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    tokio.block_on(async {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("listening on {listen}"))?;
        let address = listener.local_addr()?;
        let router = crate::api::router(crate::api::ApiState {
            daemon: daemon.clone(),
            token,
            pool: crate::store::pool::Pool::new(daemon.store(), KEPT_CONNECTIONS),
        });
        let scheduling = daemon.clone();
        std::thread::Builder::new()
            .name("scheduler".into())
            .spawn(move || scheduler(scheduling))?;
        say!("listening on http://{address}");
        axum::serve(listener, router)
            .with_graceful_shutdown(stop_signal())
            .await?;
        let stopping = daemon.clone();
        let clean =
            tokio::task::spawn_blocking(move || stopping.shutdown(GRACE, ROLLBACK_BOUND)).await?;
        if clean {
            say!("stopped cleanly");
        } else {
            say!("stopped; a sync did not end in time and was rolled back by SQLite");
        }
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Set an integration's daily sync time (HH:MM, America/Sao_Paulo).
pub fn set_sync_time(conn: &Db, name: &str, at: &str) -> Result<()> {
    let time = schedule::parse_time(at)?;
    let integration = crate::store::integrations::get(conn, name)?;
    settings::set_sync_time(conn, &integration.id, &time.format("%H:%M").to_string())
}
