//! When and how long to wait before repeating a request.

use std::time::Duration;

use crate::http::{FetchError, Response};

/// The longest wait a server may ask for with `Retry-After`; a larger value
/// is treated as this, so a confused server cannot stall a sync for hours.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(120);

#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(8),
        }
    }
}

/// What to do about one attempt's outcome.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Use the answer as it is (success, or a failure retrying cannot fix).
    Accept,
    /// Passing failure: wait this long, then try again.
    RetryAfter(Duration),
    /// The platform pushed back (429, 503): the whole integration waits
    /// this long (its `Retry-After`, or the back-off), then tries again.
    PushedBack(Duration),
}

impl RetryPolicy {
    /// Exponential back-off for the attempt that just failed (1-based).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u32 << attempt.saturating_sub(1).min(16);
        self.base_delay.saturating_mul(factor).min(self.max_delay)
    }

    /// `now_ms` (the wall clock) reads a `Retry-After` given as a date.
    pub fn judge_response(&self, response: &Response, attempt: u32, now_ms: u64) -> Verdict {
        match response.status {
            429 | 503 => Verdict::PushedBack(
                response
                    .header("retry-after")
                    .and_then(|value| retry_after(value, now_ms))
                    .map(|d| d.min(MAX_RETRY_AFTER))
                    .unwrap_or_else(|| self.backoff(attempt)),
            ),
            500..=599 => Verdict::RetryAfter(self.backoff(attempt)),
            _ => Verdict::Accept,
        }
    }

    pub fn judge_error(&self, error: &FetchError, attempt: u32) -> Verdict {
        if error.is_transient() {
            Verdict::RetryAfter(self.backoff(attempt))
        } else {
            Verdict::Accept
        }
    }
}

/// `Retry-After` (RFC 9110): whole seconds, or an HTTP date, read against
/// the wall clock `now_ms`; a date already past asks for no wait.
fn retry_after(value: &str, now_ms: u64) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    let at_ms = at.duration_since(std::time::UNIX_EPOCH).ok()?.as_millis() as u64;
    Some(Duration::from_millis(at_ms.saturating_sub(now_ms)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, headers: &[(&str, &str)]) -> Response {
        Response {
            status,
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            body: Vec::new(),
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let p = RetryPolicy::default();
        assert_eq!(p.backoff(1), Duration::from_millis(250));
        assert_eq!(p.backoff(2), Duration::from_millis(500));
        assert_eq!(p.backoff(3), Duration::from_secs(1));
        assert_eq!(p.backoff(30), Duration::from_secs(8));
    }

    /// 2015-10-21T07:28:00Z, in ms since the epoch.
    const OCT_21_2015: u64 = 1_445_412_480_000;

    #[test]
    fn honours_retry_after_in_seconds_or_as_a_date_and_caps_it() {
        let p = RetryPolicy::default();
        let now = OCT_21_2015;
        let r = response(429, &[("Retry-After", "3")]);
        assert_eq!(
            p.judge_response(&r, 1, now),
            Verdict::PushedBack(Duration::from_secs(3))
        );
        let r = response(503, &[("retry-after", "99999")]);
        assert_eq!(
            p.judge_response(&r, 1, now),
            Verdict::PushedBack(MAX_RETRY_AFTER)
        );
        let r = response(429, &[("retry-after", "Wed, 21 Oct 2015 07:28:07 GMT")]);
        assert_eq!(
            p.judge_response(&r, 2, now),
            Verdict::PushedBack(Duration::from_secs(7))
        );
        // The obsolete forms HTTP still allows.
        let r = response(429, &[("retry-after", "Wednesday, 21-Oct-15 07:28:05 GMT")]);
        assert_eq!(
            p.judge_response(&r, 2, now),
            Verdict::PushedBack(Duration::from_secs(5))
        );
        let r = response(429, &[("retry-after", "Wed, 21 Oct 2015 07:27:00 GMT")]);
        assert_eq!(
            p.judge_response(&r, 2, now),
            Verdict::PushedBack(Duration::ZERO),
            "a date already past"
        );
        let r = response(429, &[("retry-after", "soon")]);
        assert_eq!(
            p.judge_response(&r, 2, now),
            Verdict::PushedBack(p.backoff(2))
        );
        let r = response(503, &[]);
        assert_eq!(
            p.judge_response(&r, 3, now),
            Verdict::PushedBack(p.backoff(3))
        );
    }

    #[test]
    fn retries_server_errors_not_client_errors() {
        let p = RetryPolicy::default();
        assert!(matches!(
            p.judge_response(&response(502, &[]), 1, 0),
            Verdict::RetryAfter(_)
        ));
        assert_eq!(p.judge_response(&response(404, &[]), 1, 0), Verdict::Accept);
        assert_eq!(p.judge_response(&response(200, &[]), 1, 0), Verdict::Accept);
        assert_eq!(
            p.judge_error(&FetchError::Denied("x".into()), 1),
            Verdict::Accept
        );
        assert!(matches!(
            p.judge_error(&FetchError::Timeout, 1),
            Verdict::RetryAfter(_)
        ));
    }
}
