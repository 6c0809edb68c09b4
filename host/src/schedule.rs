//! When integrations synchronise: every day at their time (04:00 by
//! default) in America/Sao_Paulo, from the time zone database, not a fixed
//! offset.

use crate::error::invalid;
use crate::refuse;
use anyhow::Result;
use chrono::{DateTime, Duration, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

pub const ZONE: Tz = chrono_tz::America::Sao_Paulo;

/// `HH:MM`, 24-hour.
pub fn parse_time(text: &str) -> Result<NaiveTime> {
    // chrono skips spaces before each number (`04: 00`); a time of day as
    // the API's document spells it has none inside.
    let trimmed = text.trim();
    let parsed = match trimmed.contains(char::is_whitespace) {
        true => None,
        false => NaiveTime::parse_from_str(trimmed, "%H:%M").ok(),
    };
    match parsed {
        Some(time) => Ok(time),
        None => refuse!(invalid(
            "sync_time",
            format!("sync time {text:?} is not a time of day as HH:MM (24-hour), e.g. 04:00")
        )),
    }
}

/// The first instant strictly after `after` at which the local clock in
/// `zone` reads `at`. A local time skipped by a clock change runs at the
/// first instant after the gap; a repeated one, at its first occurrence.
pub fn next_run(after: DateTime<Utc>, at: NaiveTime, zone: Tz) -> DateTime<Utc> {
    let mut day = after.with_timezone(&zone).date_naive();
    loop {
        let local = day.and_time(at);
        let instant = match zone.from_local_datetime(&local) {
            chrono::LocalResult::Single(t) => t,
            chrono::LocalResult::Ambiguous(first, _) => first,
            chrono::LocalResult::None => {
                // In a gap: the same wall time an hour later exists.
                match zone.from_local_datetime(&(local + Duration::hours(1))) {
                    chrono::LocalResult::Single(t) | chrono::LocalResult::Ambiguous(t, _) => t,
                    chrono::LocalResult::None => {
                        day = day.succ_opt().expect("a next day");
                        continue;
                    }
                }
            }
        };
        let instant = instant.with_timezone(&Utc);
        if instant > after {
            return instant;
        }
        day = day.succ_opt().expect("a next day");
    }
}

/// The first refresh slot strictly after `after`, for a refresh every
/// `minutes` (above 0): the multiples of the period since the epoch, so
/// that every host sharing a store names the same slots.
pub fn next_refresh(after: DateTime<Utc>, minutes: u32) -> DateTime<Utc> {
    let period = i64::from(minutes.max(1)) * 60;
    let next = (after.timestamp().div_euclid(period) + 1) * period;
    DateTime::from_timestamp(next, 0).expect("a refresh slot within chrono's range")
}

/// A daily run was missed when the last success is older than a day (or
/// there never was one).
pub fn missed(last_success: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    last_success.is_none_or(|t| now - t > Duration::days(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn four() -> NaiveTime {
        parse_time("04:00").unwrap()
    }

    #[test]
    fn next_four_oclock_in_sao_paulo_is_seven_utc() {
        // Since 2019 Brazil keeps UTC-3 all year.
        assert_eq!(
            next_run(utc("2026-11-28T06:59:59Z"), four(), ZONE),
            utc("2026-11-28T07:00:00Z")
        );
        assert_eq!(
            next_run(utc("2026-11-28T07:00:00Z"), four(), ZONE),
            utc("2026-11-29T07:00:00Z")
        );
        assert_eq!(
            next_run(utc("2026-11-28T12:00:00Z"), four(), ZONE),
            utc("2026-11-29T07:00:00Z")
        );
    }

    #[test]
    fn around_midnight_utc_the_local_day_is_still_the_previous_one() {
        // 00:30 UTC on the 29th is 21:30 on the 28th in São Paulo.
        assert_eq!(
            next_run(utc("2026-11-29T00:30:00Z"), four(), ZONE),
            utc("2026-11-29T07:00:00Z")
        );
        // 23:59 UTC on Dec 31st: the next run is on Jan 1st, 07:00 UTC.
        assert_eq!(
            next_run(utc("2026-12-31T23:59:00Z"), four(), ZONE),
            utc("2027-01-01T07:00:00Z")
        );
        // 03:00 UTC is midnight local: 04:00 local is four hours later.
        assert_eq!(
            next_run(utc("2026-06-15T03:00:00Z"), four(), ZONE),
            utc("2026-06-15T07:00:00Z")
        );
    }

    #[test]
    fn the_time_zone_database_knows_the_old_summer_time() {
        // January 2018: Brazilian summer time, UTC-2.
        assert_eq!(
            next_run(utc("2018-01-10T12:00:00Z"), four(), ZONE),
            utc("2018-01-11T06:00:00Z")
        );
        // 2018-11-04 00:00 local did not exist (clocks jumped to 01:00).
        let midnight = parse_time("00:00").unwrap();
        assert_eq!(
            next_run(utc("2018-11-03T12:00:00Z"), midnight, ZONE),
            utc("2018-11-04T03:00:00Z")
        );
    }

    #[test]
    fn other_times_and_bad_input() {
        let half_past = parse_time("23:30").unwrap();
        assert_eq!(
            next_run(utc("2026-11-28T12:00:00Z"), half_past, ZONE),
            utc("2026-11-29T02:30:00Z")
        );
        assert!(parse_time("4h").unwrap_err().to_string().contains("HH:MM"));
        assert!(parse_time("25:00").is_err());
        assert!(parse_time("04: 00").is_err());
        assert_eq!(parse_time(" 4:5 ").unwrap().to_string(), "04:05:00");
    }

    #[test]
    fn refresh_slots_are_the_periods_multiples() {
        assert_eq!(
            next_refresh(utc("2026-12-03T15:00:00Z"), 15),
            utc("2026-12-03T15:15:00Z")
        );
        assert_eq!(
            next_refresh(utc("2026-12-03T15:14:59Z"), 15),
            utc("2026-12-03T15:15:00Z")
        );
        // Seven minutes: the epoch's multiples, not the day's.
        let after = utc("2026-12-03T23:59:00Z");
        let next = next_refresh(after, 7);
        assert_eq!(next.timestamp() % 420, 0);
        assert!(next > after && next - after <= Duration::minutes(7));
        assert_eq!(
            next_refresh(utc("2026-12-03T10:30:00Z"), 1440),
            utc("2026-12-04T00:00:00Z")
        );
    }

    #[test]
    fn a_run_is_missed_after_a_day_without_success() {
        let now = utc("2026-11-28T12:00:00Z");
        assert!(missed(None, now));
        assert!(missed(Some(utc("2026-11-27T11:59:00Z")), now));
        assert!(!missed(Some(utc("2026-11-27T12:30:00Z")), now));
    }
}
