//! What an integration synchronises: which element kinds (as HubSoft's
//! integration offers under "Elementos"), and how much of a kind a sync
//! may remove before it holds the removals for a person to confirm.

use crate::error::{conflict, invalid};
use crate::refuse;
use anyhow::Result;
use serde::Serialize;

use crate::component::bindings::types::ElementKind;
use crate::params;
use crate::store::Db;
use crate::store::integrations::Integration;
use crate::store::staging::kind_named;

/// The kinds an integration may switch off; projects are always read.
pub const SELECTABLE: [&str; 5] = ["pole", "box", "splitter", "client", "property"];

/// Kinds that bindings stand on: not switched off while bindings exist.
const BINDINGS_NEED: [&str; 3] = ["pole", "box", "splitter"];

/// The removal guard's default share, in percent.
pub const DEFAULT_MAX_REMOVAL_PERCENT: u8 = 20;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Scope {
    /// The kinds synchronised, in the order a sync reads them.
    pub kinds: Vec<String>,
    /// A complete listing that would remove more than this share of a
    /// kind's stored elements holds the run (100: never).
    pub max_removal_percent: u8,
    /// Between runs that read only what changed, one reads everything at
    /// least this often, in hours (default 168, a week).
    pub full_sync_hours: u32,
    /// `serve` reads what changed this often, in minutes, beside the daily
    /// sync (default 15; 0: only the daily sync).
    pub refresh_every: u32,
    /// Requests of a sync under way at once (0: the component's default,
    /// 12; at most 16).
    pub requests_at_once: u32,
    /// Requests a sync starts in any second, at most (0: no ceiling of the
    /// integration's own).
    pub requests_per_second: u32,
}

impl Scope {
    /// The selectable kinds this scope leaves out, as the component takes them.
    pub fn switched_off(&self) -> Vec<ElementKind> {
        SELECTABLE
            .iter()
            .filter(|k| !self.kinds.iter().any(|on| on == *k))
            .filter_map(|k| kind_named(k))
            .collect()
    }
}

pub fn get(conn: &Db, integration_id: &str) -> Result<Scope> {
    let (kinds, max_removal_percent, full_sync_hours, refresh_every, at_once, per_second): (
        String,
        u8,
        u32,
        u32,
        u32,
        u32,
    ) = conn.query_row(
        "SELECT kinds, max_removal_percent, full_sync_hours, refresh_every, requests_at_once,
                requests_per_second
         FROM integrations WHERE id = ?1",
        params![integration_id],
        |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        },
    )?;
    Ok(Scope {
        kinds: kinds
            .split(',')
            .filter(|k| !k.is_empty())
            .map(str::to_string)
            .collect(),
        max_removal_percent,
        full_sync_hours,
        refresh_every,
        requests_at_once: at_once,
        requests_per_second: per_second,
    })
}

/// A change of scope; `None` leaves a setting as it is.
#[derive(Default)]
pub struct Change {
    /// Kind names, e.g. `["pole", "box", "splitter"]`.
    pub kinds: Option<Vec<String>>,
    pub max_removal_percent: Option<u8>,
    pub full_sync_hours: Option<u32>,
    /// Minutes; 0 turns the refresh off.
    pub refresh_every: Option<u32>,
    /// 0: the component's default.
    pub requests_at_once: Option<u32>,
    /// 0: no ceiling.
    pub requests_per_second: Option<u32>,
}

/// The most requests a setting may keep under way: a platform serves many
/// tenants (the component's own bound too).
const MAX_REQUESTS_AT_ONCE: u32 = 16;
/// The highest ceiling a second that means one.
const MAX_REQUESTS_PER_SECOND: u32 = 1000;

/// The longest a full sync may wait: a year.
const MAX_FULL_SYNC_HOURS: u32 = 366 * 24;
/// The longest between two refreshes: a day (the daily sync's own period).
pub const MAX_REFRESH_MINUTES: u32 = 24 * 60;

impl Change {
    pub fn is_empty(&self) -> bool {
        self.kinds.is_none()
            && self.max_removal_percent.is_none()
            && self.full_sync_hours.is_none()
            && self.refresh_every.is_none()
            && self.requests_at_once.is_none()
            && self.requests_per_second.is_none()
    }
}

/// `value` of the setting `field` when within `range`; else a refusal
/// saying what it `takes`.
fn bounded(
    field: &'static str,
    value: u32,
    range: std::ops::RangeInclusive<u32>,
    takes: &str,
) -> Result<u32> {
    if !range.contains(&value) {
        refuse!(invalid(
            field,
            format!("{takes}; {value} is not in that range")
        ));
    }
    Ok(value)
}

/// Parse a comma-separated list of kinds (`pole,box,splitter`).
pub fn parse_kinds(text: &str) -> Vec<String> {
    text.split(',')
        .map(|k| k.trim().to_lowercase())
        .filter(|k| !k.is_empty())
        .collect()
}

/// Change what `integration` synchronises, checked against what the kinds
/// and the integration's bindings need. `project_name_given`: the same
/// input names the integration's OZmap project (a new integration, or a
/// change of it), so kinds that do not fit it are bad input; otherwise they
/// do not fit what is stored (a conflict, as bindings standing on a kind).
pub fn set(
    conn: &Db,
    integration: &Integration,
    change: Change,
    project_name_given: bool,
) -> Result<Scope> {
    let mut scope = get(conn, &integration.id)?;
    if let Some(percent) = change.max_removal_percent {
        if percent > 100 {
            refuse!(invalid(
                "max_removal_percent",
                format!("--max-removal-percent takes a share from 0 to 100; {percent} is not one")
            ));
        }
        scope.max_removal_percent = percent;
    }
    if let Some(hours) = change.full_sync_hours {
        scope.full_sync_hours = bounded(
            "full_sync_hours",
            hours,
            1..=MAX_FULL_SYNC_HOURS,
            &format!("--full-sync-hours takes 1 to {MAX_FULL_SYNC_HOURS} hours"),
        )?;
    }
    if let Some(minutes) = change.refresh_every {
        scope.refresh_every = bounded(
            "refresh_every",
            minutes,
            0..=MAX_REFRESH_MINUTES,
            &format!("--refresh-every takes 0 (off) to {MAX_REFRESH_MINUTES} minutes"),
        )?;
    }
    if let Some(at_once) = change.requests_at_once {
        scope.requests_at_once = bounded(
            "requests_at_once",
            at_once,
            0..=MAX_REQUESTS_AT_ONCE,
            &format!("--requests-at-once takes 1 to {MAX_REQUESTS_AT_ONCE} (0: the default, 12)"),
        )?;
    }
    if let Some(per_second) = change.requests_per_second {
        scope.requests_per_second = bounded(
            "requests_per_second",
            per_second,
            0..=MAX_REQUESTS_PER_SECOND,
            &format!("--requests-per-second takes 1 to {MAX_REQUESTS_PER_SECOND} (0: no ceiling)"),
        )?;
    }
    if let Some(kinds) = change.kinds {
        for kind in &kinds {
            if !SELECTABLE.contains(&kind.as_str()) {
                refuse!(invalid(
                    "kinds",
                    format!(
                        "--kinds: {kind:?} is not a kind mapsync synchronises; choose from {} (projects are always read)",
                        SELECTABLE.join(", ")
                    )
                ));
            }
        }
        let on = |k: &str| kinds.iter().any(|x| x == k);
        if on("splitter") && !on("box") {
            refuse!(invalid(
                "kinds",
                "--kinds: splitters are read with the boxes that hold them: add box, or leave splitter out".to_string()
            ));
        }
        if let Some(project) = &integration.project_name
            && on("client")
            && !on("property")
        {
            let why = "a project's clients are found through its properties: add property, or leave client out";
            if project_name_given {
                refuse!(invalid("kinds", format!("--kinds: {why}")));
            }
            refuse!(conflict(format!(
                "--kinds: integration {} synchronises only the OZmap project {}, and {why}",
                crate::text::echo(&integration.name),
                crate::text::echo(project)
            )));
        }
        let bindings: u32 = conn.query_row(
            "SELECT count(*) FROM bindings WHERE integration_id = ?1",
            params![integration.id],
            |r| r.get(0),
        )?;
        let missing: Vec<&str> = BINDINGS_NEED.iter().copied().filter(|k| !on(k)).collect();
        if bindings > 0 && !missing.is_empty() {
            refuse!(conflict(format!(
                "--kinds: {} stay synchronised while {bindings} binding(s) of integration {:?} stand on them; unbind them first",
                missing.join(", "),
                integration.name
            )));
        }
        scope.kinds = SELECTABLE
            .iter()
            .filter(|k| on(k))
            .map(|k| k.to_string())
            .collect();
    }
    conn.execute(
        "UPDATE integrations SET kinds = ?2, max_removal_percent = ?3, full_sync_hours = ?4,
             refresh_every = ?5, requests_at_once = ?6, requests_per_second = ?7 WHERE id = ?1",
        params![
            integration.id,
            scope.kinds.join(","),
            scope.max_removal_percent,
            scope.full_sync_hours,
            scope.refresh_every,
            scope.requests_at_once,
            scope.requests_per_second
        ],
    )?;
    Ok(scope)
}
