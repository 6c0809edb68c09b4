//! Injected failures: what a flaky network, a proxy or an overloaded OZmap do to
//! a client.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// A failure to serve instead of (or on top of) the normal answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// `429 Too Many Requests` with `Retry-After: <secs>`.
    TooManyRequests {
        /// The `Retry-After` header's value, in seconds.
        retry_after_secs: u64,
    },
    /// This status (429, 503) with `Retry-After` as an HTTP date this many
    /// seconds from now (truncated to the second, as the format is).
    RetryAfterDate {
        /// 429 or 503.
        status: u16,
        /// How far ahead the date is.
        secs: u64,
    },
    /// This status (500, 503, 400, 409, ...) with a JSON `{"message"}` body.
    Status(u16),
    /// The correct answer, but only after this delay.
    Slow(Duration),
    /// The connection is closed without any HTTP answer.
    DropConnection,
    /// `200` with a JSON content type and a body that is not JSON.
    MalformedJson,
    /// `200` with the correct answer's first half only: the `Content-Length`
    /// announces the whole body and the connection closes early.
    TruncatedJson,
    /// A list page that lies about the listing (see [`ListingLie`]).
    Lie(ListingLie),
}

/// How a hostile or broken server misstates a list page. Inject one with a
/// large `times` to have every page of a listing lie.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ListingLie {
    /// `hasNextPage: false` (and no `nextUrl`), whatever remains.
    NoNextPage,
    /// This `total`, with `hasNextPage` (or, for older servers, where a
    /// client stops) following the lie.
    Total(u64),
    /// Page 1's rows again, whatever page was asked, with `start` echoing
    /// the page asked and `hasNextPage: true`: a listing that never ends.
    RepeatFirstPage,
}

/// Pending faults, first injected first served.
#[derive(Default)]
pub(crate) struct FaultQueue {
    entries: Mutex<Vec<Pending>>,
}

struct Pending {
    prefix: String,
    fault: Fault,
    remaining: usize,
}

impl FaultQueue {
    pub(crate) fn push(&self, prefix: &str, fault: Fault, times: usize) {
        if times == 0 {
            return;
        }
        self.lock().push(Pending {
            prefix: prefix.trim_start_matches('/').to_owned(),
            fault,
            remaining: times,
        });
    }

    pub(crate) fn clear(&self) {
        self.lock().clear();
    }

    /// The fault for a request whose path after `/api/v2/` is `route_path`, if any
    /// is pending for it; each use counts down its injection.
    pub(crate) fn take(&self, route_path: &str) -> Option<Fault> {
        let mut entries = self.lock();
        let i = entries
            .iter()
            .position(|p| route_path.starts_with(p.prefix.as_str()))?;
        let fault = entries[i].fault.clone();
        entries[i].remaining -= 1;
        if entries[i].remaining == 0 {
            entries.remove(i);
        }
        Some(fault)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Pending>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_down_per_prefix_in_order() {
        let q = FaultQueue::default();
        q.push("boxes", Fault::Status(500), 2);
        q.push("", Fault::MalformedJson, 1);
        assert_eq!(q.take("poles"), Some(Fault::MalformedJson));
        assert_eq!(q.take("poles"), None);
        assert_eq!(q.take("boxes/abc"), Some(Fault::Status(500)));
        assert_eq!(q.take("boxes"), Some(Fault::Status(500)));
        assert_eq!(q.take("boxes"), None);
    }
}
