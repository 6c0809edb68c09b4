//! A rate limit as a platform keeps one: at most `per_second` requests
//! answered in any second; beyond it, `429 Too Many Requests` with a
//! `Retry-After` of the seconds until one is allowed again.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(1);

#[derive(Default)]
pub(crate) struct RateLimit {
    /// When the requests served in the last second came in.
    served: Mutex<VecDeque<Instant>>,
    /// When each refused request came in, and the wait it was asked for.
    refused: Mutex<Vec<(Instant, Duration)>>,
}

impl RateLimit {
    /// `None` when a request that came in at `now` is served (and counted);
    /// else the whole seconds the client should wait, at least 1.
    pub(crate) fn admit(&self, per_second: u32, now: Instant) -> Option<u64> {
        let mut served = self.served.lock().unwrap_or_else(|e| e.into_inner());
        while served
            .front()
            .is_some_and(|t| now.duration_since(*t) >= WINDOW)
        {
            served.pop_front();
        }
        if served.len() < per_second as usize {
            served.push_back(now);
            return None;
        }
        let oldest = *served.front().expect("a full window holds requests");
        let wait = WINDOW.saturating_sub(now.duration_since(oldest));
        let seconds = wait.as_secs_f64().ceil().max(1.0) as u64;
        self.refused
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((now, Duration::from_secs(seconds)));
        Some(seconds)
    }

    /// The requests refused so far: when each came in, and its wait.
    pub(crate) fn refused(&self) -> Vec<(Instant, Duration)> {
        self.refused
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_beyond_the_limit_with_a_wait_then_admits_again() {
        let limit = RateLimit::default();
        for _ in 0..3 {
            assert_eq!(limit.admit(3, Instant::now()), None);
        }
        assert_eq!(limit.admit(3, Instant::now()), Some(1));
        assert_eq!(limit.refused().len(), 1);
        std::thread::sleep(WINDOW);
        assert_eq!(limit.admit(3, Instant::now()), None);
    }
}
