//! How fast a run may ask the platform, as the platform tells it.
//!
//! A platform pushes back with `429 Too Many Requests` or `503 Service
//! Unavailable`, often with `Retry-After`. The push back is about the
//! integration, not the one request that got it: every request of the run
//! waits it out (nothing is sent inside a `Retry-After` the platform gave)
//! and fewer requests are kept under way; after a 429, which is about the
//! rate, requests are also spaced out at the rate the platform accepted
//! before it refused. Both recover slowly as answers come back, so a run
//! settles just under the platform's limit instead of hitting it again and
//! again.

use std::collections::VecDeque;
use std::time::Duration;

/// Answers in a row after which one more request may be under way, and
/// the spacing between requests shrinks by `RECOVERY`.
const RECOVER_AFTER: u32 = 20;

/// What the spacing between requests keeps of itself at each recovery step.
const RECOVERY: f64 = 0.95;

/// Below this spacing the platform's limit is taken as gone.
const NO_SPACING_MS: f64 = 1.0;

/// The share below the accepted rate a run settles at after a push back.
const MARGIN: f64 = 1.1;

/// The window over which the accepted rate is measured.
const RATE_WINDOW_MS: u64 = 1000;

/// Requests sent within the window before a refusal for its rate to be
/// learned from them: fewer tell nothing of a limit per second (a refusal
/// of the run's first request, say), and would space the run out to one
/// request a second.
const RATE_SAMPLE: usize = 4;

#[derive(Debug)]
pub struct Pace {
    /// No request goes out before this instant (ms since the epoch).
    paused_until_ms: u64,
    /// Requests under way at once, at most: `ceiling` until the platform
    /// pushes back, then halved; one more after each `RECOVER_AFTER`
    /// answers.
    window: u32,
    ceiling: u32,
    /// The least time between two requests sent, in ms; 0 until the
    /// platform pushes back.
    spacing_ms: f64,
    /// When the requests of the last `RATE_WINDOW_MS` were sent.
    sent: VecDeque<u64>,
    answered_in_a_row: u32,
    /// At most this many requests start in any `RATE_WINDOW_MS`, the
    /// integration's own ceiling (0: none).
    per_second: u32,
}

impl Pace {
    /// At most `ceiling` requests under way (at least 1).
    pub fn new(ceiling: u32) -> Pace {
        let ceiling = ceiling.max(1);
        Pace {
            paused_until_ms: 0,
            window: ceiling,
            ceiling,
            spacing_ms: 0.0,
            sent: VecDeque::new(),
            answered_in_a_row: 0,
            per_second: 0,
        }
    }

    /// At most `requests` start in any second (0: no ceiling).
    pub fn per_second(&mut self, requests: u32) {
        self.per_second = requests;
    }

    /// How many requests may be under way now.
    pub fn window(&self) -> u32 {
        self.window
    }

    /// Whether a request may not be sent at `now` (a pause holds).
    pub fn paused(&self, now_ms: u64) -> bool {
        now_ms < self.paused_until_ms
    }

    /// How long to wait, from `now`, before the next request may go: the
    /// rest of a pause, or of the spacing since the last request sent.
    pub fn wait(&self, now_ms: u64) -> Duration {
        let spaced = self
            .sent
            .back()
            .map_or(0, |last| last + self.spacing_ms.round() as u64);
        // The ceiling: a second after the request that began the last
        // second's full count.
        let per_second = self.per_second as usize;
        let ceiled = match self.sent.len() {
            n if per_second > 0 && n >= per_second => self.sent[n - per_second] + RATE_WINDOW_MS,
            _ => 0,
        };
        Duration::from_millis(
            self.paused_until_ms
                .max(spaced)
                .max(ceiled)
                .saturating_sub(now_ms),
        )
    }

    /// A request went out at `now`.
    pub fn sent(&mut self, now_ms: u64) {
        self.sent.push_back(now_ms);
        while self
            .sent
            .front()
            .is_some_and(|t| now_ms.saturating_sub(*t) >= RATE_WINDOW_MS)
        {
            self.sent.pop_front();
        }
    }

    /// The platform answered a request without pushing back.
    pub fn answered(&mut self) {
        self.answered_in_a_row += 1;
        if self.answered_in_a_row < RECOVER_AFTER {
            return;
        }
        self.answered_in_a_row = 0;
        self.window = (self.window + 1).min(self.ceiling);
        self.spacing_ms *= RECOVERY;
        if self.spacing_ms < NO_SPACING_MS {
            self.spacing_ms = 0.0;
        }
    }

    /// The platform pushed back at `now` and asked for `wait` (its
    /// `Retry-After`, or the caller's back-off): every request waits it out
    /// and half as many go at once. When it refused for the rate (a 429),
    /// requests are spaced at the rate it accepted in the last second (the
    /// requests sent then, all but the one refused), with a margin.
    pub fn pushed_back(&mut self, now_ms: u64, wait: Duration, for_the_rate: bool) {
        self.answered_in_a_row = 0;
        // One millisecond more: `now` is the clock's reading rounded down,
        // and the platform counts its wait from when it answered.
        let until = now_ms.saturating_add(wait.as_millis() as u64 + 1);
        self.paused_until_ms = self.paused_until_ms.max(until);
        self.window = (self.window / 2).max(1);
        let recent = self
            .sent
            .iter()
            .filter(|t| now_ms.saturating_sub(**t) < RATE_WINDOW_MS)
            .count();
        if for_the_rate && recent >= RATE_SAMPLE {
            let accepted = (recent - 1) as f64;
            self.spacing_ms = self
                .spacing_ms
                .max(RATE_WINDOW_MS as f64 / accepted * MARGIN);
        }
        // The requests sent before the push back do not count towards the
        // rate the run goes on at.
        self.sent.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ceiling_holds_requests_to_so_many_a_second() {
        let mut pace = Pace::new(8);
        pace.per_second(3);
        for at in [0, 10, 20] {
            assert_eq!(pace.wait(at), Duration::ZERO);
            pace.sent(at);
        }
        // The fourth waits for the first to be a second old.
        assert_eq!(pace.wait(30), Duration::from_millis(970));
        pace.sent(1000);
        assert_eq!(pace.wait(1000), Duration::from_millis(10));
        assert_eq!(pace.wait(1020), Duration::ZERO);
    }

    #[test]
    fn a_push_back_pauses_every_request_until_its_retry_after() {
        let mut pace = Pace::new(4);
        assert_eq!(pace.wait(1_000), Duration::ZERO);
        pace.pushed_back(1_000, Duration::from_secs(3), true);
        assert!(pace.paused(4_000));
        assert!(!pace.paused(4_001));
        assert_eq!(pace.wait(2_000), Duration::from_millis(2_001));
        // A shorter wait asked later does not shorten the pause.
        pace.pushed_back(1_500, Duration::from_millis(100), true);
        assert_eq!(pace.wait(2_000), Duration::from_millis(2_001));
    }

    #[test]
    fn fewer_go_at_once_after_a_push_back_and_more_again_slowly() {
        let mut pace = Pace::new(8);
        pace.pushed_back(0, Duration::ZERO, false);
        assert_eq!(pace.window(), 4);
        pace.pushed_back(0, Duration::ZERO, false);
        pace.pushed_back(0, Duration::ZERO, false);
        pace.pushed_back(0, Duration::ZERO, false);
        assert_eq!(pace.window(), 1, "never below one");
        for _ in 0..RECOVER_AFTER * 3 {
            pace.answered();
        }
        assert_eq!(pace.window(), 4);
        for _ in 0..RECOVER_AFTER * 100 {
            pace.answered();
        }
        assert_eq!(pace.window(), 8, "never above the ceiling");
    }

    #[test]
    fn requests_are_spaced_at_the_rate_the_platform_accepted() {
        let mut pace = Pace::new(2);
        // Eleven requests within a second; the eleventh is refused.
        for i in 0..11 {
            pace.sent(i * 50);
        }
        pace.pushed_back(500, Duration::from_secs(1), true);
        // Ten a second were accepted: one every 110 ms from now on.
        assert_eq!(pace.wait(1_500), Duration::from_millis(1));
        pace.sent(1_500);
        assert_eq!(pace.wait(1_500), Duration::from_millis(110));
        assert_eq!(pace.wait(1_600), Duration::from_millis(10));
        assert_eq!(pace.wait(1_610), Duration::ZERO);
        // And the spacing shrinks as answers come back, until it is gone.
        for _ in 0..RECOVER_AFTER * 200 {
            pace.answered();
        }
        assert_eq!(pace.wait(1_501), Duration::ZERO);
    }

    #[test]
    fn no_spacing_is_learned_from_a_few_requests_or_an_overload() {
        // The run's first requests refused: nothing to tell a rate from.
        let mut pace = Pace::new(2);
        pace.sent(0);
        pace.sent(10);
        pace.pushed_back(20, Duration::ZERO, true);
        pace.sent(21);
        assert_eq!(pace.wait(21), Duration::ZERO);
        // A 503 is about the platform's load, not the run's rate.
        let mut pace = Pace::new(2);
        for i in 0..11 {
            pace.sent(i * 50);
        }
        pace.pushed_back(500, Duration::ZERO, false);
        pace.sent(501);
        assert_eq!(pace.wait(501), Duration::ZERO);
        assert_eq!(pace.window(), 1);
    }
}
