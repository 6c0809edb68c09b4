//! What one run leaves for the next, so the next reads only what changed:
//! per kind, the latest `updatedAt` read (the watermark), and when every
//! element was last read. Hosts keep it as an opaque string with the run's
//! elements, applied in the same transaction, so a failed or cut-short run
//! leaves the previous state, which is still true of the store.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::model::ElementKind;

/// Bumped whenever the state's meaning changes: an older state then forces
/// a full run rather than being misread.
const VERSION: u32 = 1;

/// Changes are asked for from this long before the watermark: platform
/// servers' clocks drift apart, and writes in the same millisecond as the
/// last one read must not be missed. Re-reading a few minutes of changes
/// costs little; the store counts them unchanged.
pub const OVERLAP_MS: i64 = 5 * 60 * 1000;

/// A full run at least this often when the settings say nothing: a week.
pub const DEFAULT_FULL_EVERY_HOURS: u32 = 7 * 24;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncState {
    version: u32,
    /// The project filter the watermarks were taken under.
    project: Option<String>,
    /// When the last full run started, in ms since the epoch.
    full_at_ms: u64,
    /// Kind name to its watermark, in ms since the epoch. A kind without
    /// one is read whole.
    watermarks: BTreeMap<String, i64>,
    /// Kind name to the ids of records the platform lists that break the
    /// schema and were never stored: the platform's count of a kind is
    /// what the store holds plus these.
    #[serde(default)]
    unstored: BTreeMap<String, BTreeSet<String>>,
    /// Kind name to how many records without an id it lists (never stored,
    /// never told apart).
    #[serde(default)]
    anonymous: BTreeMap<String, u32>,
    /// The most rows a page the platform answered, when it answered fewer
    /// than asked: what ranges of ids are cut by.
    #[serde(default)]
    page_cap: Option<u64>,
    /// Kind name to the highest id the store holds of it, as far as runs
    /// knew it exactly: elements made since have higher ids, so the
    /// platform's count of the ids up to it can only have shrunk.
    #[serde(default)]
    highest: BTreeMap<String, String>,
}

/// How a run reads the platform.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Everything, for this reason (for a person).
    Full(String),
    /// Only what changed since the previous run's watermarks.
    Incremental(SyncState),
}

/// What the previous run's `state` allows under these settings.
pub fn mode(
    state: Option<&str>,
    project: Option<&str>,
    full: bool,
    full_every_hours: u32,
    now_ms: u64,
) -> Mode {
    let every = match full_every_hours {
        0 => DEFAULT_FULL_EVERY_HOURS,
        hours => hours,
    };
    let Some(state) = state.filter(|s| !s.is_empty()) else {
        return Mode::Full("first run".into());
    };
    if full {
        return Mode::Full("a full sync was asked for".into());
    }
    let state: SyncState = match serde_json::from_str(state) {
        Ok(
            state @ SyncState {
                version: VERSION, ..
            },
        ) => state,
        _ => return Mode::Full("the previous run's state is from another version".into()),
    };
    if state.project.as_deref() != project {
        return Mode::Full("the project filter changed".into());
    }
    let age_ms = now_ms.saturating_sub(state.full_at_ms);
    if now_ms < state.full_at_ms || age_ms >= u64::from(every) * 3_600_000 {
        return Mode::Full(format!("a full sync is due every {every} hours"));
    }
    Mode::Incremental(state)
}

impl SyncState {
    /// A new state for a full run started at `now_ms`.
    pub fn full(project: Option<&str>, now_ms: u64) -> SyncState {
        SyncState {
            version: VERSION,
            project: project.map(str::to_string),
            full_at_ms: now_ms,
            watermarks: BTreeMap::new(),
            unstored: BTreeMap::new(),
            anonymous: BTreeMap::new(),
            page_cap: None,
            highest: BTreeMap::new(),
        }
    }

    /// The time from which `kind`'s changes are to be read; `None`: read it whole.
    pub fn since(&self, kind: ElementKind) -> Option<i64> {
        self.watermarks
            .get(kind.as_str())
            .map(|w| w.saturating_sub(OVERLAP_MS))
    }

    pub fn watermark(&self, kind: ElementKind) -> Option<i64> {
        self.watermarks.get(kind.as_str()).copied()
    }

    /// Every change of `kind` up to `latest` was read.
    pub fn advance(&mut self, kind: ElementKind, latest: Option<i64>) {
        let next = latest.max(self.watermark(kind));
        match next {
            Some(w) => self.watermarks.insert(kind.as_str().to_string(), w),
            None => self.watermarks.remove(kind.as_str()),
        };
    }

    /// `kind`'s changes cannot be trusted as read: read it whole next time.
    pub fn forget(&mut self, kind: ElementKind) {
        self.watermarks.remove(kind.as_str());
    }

    /// Records of `kind` listed but never stored (they break the schema).
    pub fn unstored(&mut self, kind: ElementKind) -> &mut BTreeSet<String> {
        self.unstored.entry(kind.as_str().to_string()).or_default()
    }

    /// Records of `kind` listed without an id.
    pub fn anonymous(&mut self, kind: ElementKind) -> &mut u32 {
        self.anonymous.entry(kind.as_str().to_string()).or_default()
    }

    /// The platform's count of `kind` beyond what the store holds: records
    /// that break the schema, never stored.
    pub fn never_stored(&mut self, kind: ElementKind) -> u64 {
        self.unstored(kind).len() as u64 + u64::from(*self.anonymous(kind))
    }

    /// `kind` is about to be listed whole: what it lists that is never
    /// stored is counted again.
    pub fn recount(&mut self, kind: ElementKind) {
        self.unstored(kind).clear();
        *self.anonymous(kind) = 0;
    }

    /// The highest id of `kind` the store holds, when known exactly.
    pub fn highest(&self, kind: ElementKind) -> Option<&str> {
        self.highest.get(kind.as_str()).map(String::as_str)
    }

    /// `id` was stored: the highest moves up to it. `exact` (a full
    /// listing, or a known highest before) keeps it known; else it is
    /// forgotten.
    pub fn stored_up_to(&mut self, kind: ElementKind, id: &str) {
        if let Some(highest) = self.highest.get_mut(kind.as_str())
            && id > highest.as_str()
        {
            *highest = id.to_string();
        }
    }

    /// A full listing of `kind` begins: its highest id is what it stores.
    pub fn start_highest(&mut self, kind: ElementKind) {
        self.highest
            .insert(kind.as_str().to_string(), String::new());
    }

    /// The platform's page cap learnt by earlier runs.
    pub fn page_cap(&self) -> Option<u64> {
        self.page_cap
    }

    pub fn set_page_cap(&mut self, cap: Option<u64>) {
        self.page_cap = cap;
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a state serialises")
    }
}

/// Milliseconds since the epoch of an ISO 8601 instant as platforms write
/// `updatedAt` (`2026-11-28T04:00:00.123Z`, or with an offset); `None`
/// when it is not one.
pub fn parse_instant(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    let digits = |from: usize, len: usize| -> Option<i64> {
        let s = text.get(from..from + len)?;
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse().ok())?
    };
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b' ') {
        return None;
    }
    let (year, month, day) = (digits(0, 4)?, digits(5, 2)?, digits(8, 2)?);
    let (hour, minute, second) = (digits(11, 2)?, digits(14, 2)?, digits(17, 2)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    let mut rest = &text[19..];
    let mut millis = 0;
    if let Some(fraction) = rest.strip_prefix('.') {
        let len = fraction.bytes().take_while(u8::is_ascii_digit).count();
        let first3 = &fraction[..len.min(3)];
        millis = first3.parse::<i64>().ok()? * 10_i64.pow(3 - first3.len() as u32);
        rest = &fraction[len..];
    }
    let offset_min = match rest {
        "Z" | "z" | "" => 0,
        _ => {
            let sign = match rest.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let hm = rest[1..].replace(':', "");
            if hm.len() != 4 || !hm.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            sign * (hm[..2].parse::<i64>().ok()? * 60 + hm[2..].parse::<i64>().ok()?)
        }
    };
    let days = days_from_civil(year, month, day);
    Some(((days * 86_400 + hour * 3_600 + minute * 60 + second) - offset_min * 60) * 1_000 + millis)
}

/// The ISO 8601 form platforms compare `updatedAt` with, in UTC, to the millisecond.
pub fn format_instant(ms: i64) -> String {
    let (days, in_day) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    let (year, month, day) = civil_from_days(days);
    let s = in_day / 1_000;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        s / 3_600,
        s / 60 % 60,
        s % 60,
        in_day % 1_000
    )
}

// Howard Hinnant's algorithms: days since 1970-01-01 in the proleptic
// Gregorian calendar, and back.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_round_trip() {
        for text in [
            "1970-01-01T00:00:00.000Z",
            "2026-11-28T04:00:00.123Z",
            "2000-02-29T23:59:59.999Z",
            "1969-12-31T23:59:59.500Z",
        ] {
            let ms = parse_instant(text).unwrap();
            assert_eq!(format_instant(ms), text);
        }
        assert_eq!(parse_instant("1970-01-01T00:00:01Z"), Some(1_000));
        assert_eq!(parse_instant("1970-01-01T01:00:00.5+01:00"), Some(500));
        assert_eq!(parse_instant("1970-01-01T00:00:00-0030"), Some(1_800_000));
        for bad in [
            "",
            "yesterday",
            "2026-13-01T00:00:00Z",
            "2026-11-28T04:00:00+1",
        ] {
            assert_eq!(parse_instant(bad), None, "{bad}");
        }
    }

    #[test]
    fn when_a_run_reads_everything() {
        let day: u64 = 86_400_000;
        let mut state = SyncState::full(Some("Centro"), 10 * day);
        state.advance(ElementKind::Box, Some(9 * day as i64));
        let json = state.to_json();
        let mode = |s: Option<&str>, p: Option<&str>, full: bool, now: u64| match super::mode(
            s, p, full, 0, now,
        ) {
            Mode::Full(why) => why,
            Mode::Incremental(_) => "incremental".into(),
        };
        assert_eq!(mode(None, Some("Centro"), false, 11 * day), "first run");
        assert_eq!(
            mode(Some(&json), Some("Centro"), false, 11 * day),
            "incremental"
        );
        assert!(mode(Some(&json), Some("Centro"), true, 11 * day).contains("asked"));
        assert!(mode(Some(&json), None, false, 11 * day).contains("project"));
        assert!(mode(Some(&json), Some("Centro"), false, 17 * day).contains("168 hours"));
        assert!(mode(Some("{}"), Some("Centro"), false, 11 * day).contains("version"));
        let Mode::Incremental(read) = super::mode(Some(&json), Some("Centro"), false, 0, 11 * day)
        else {
            panic!()
        };
        assert_eq!(
            read.since(ElementKind::Box),
            Some(9 * day as i64 - OVERLAP_MS)
        );
        assert_eq!(read.since(ElementKind::Pole), None);
    }

    #[test]
    fn watermarks_only_move_forward() {
        let mut state = SyncState::full(None, 0);
        state.advance(ElementKind::Pole, Some(5));
        state.advance(ElementKind::Pole, Some(3));
        state.advance(ElementKind::Pole, None);
        assert_eq!(state.watermark(ElementKind::Pole), Some(5));
        state.forget(ElementKind::Pole);
        assert_eq!(state.watermark(ElementKind::Pole), None);
    }
}
