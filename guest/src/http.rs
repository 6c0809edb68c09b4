//! Outgoing HTTP: the `http-fetch` import, as a trait.

use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Request {
    pub method: Method,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    pub timeout: Duration,
}

#[derive(Clone, Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FetchError {
    Denied(String),
    Timeout,
    ConnectionRefused,
    ConnectionReset,
    Tls(String),
    Other(String),
}

impl FetchError {
    /// Failures that may pass if the request is simply made again.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            FetchError::Timeout | FetchError::ConnectionReset | FetchError::ConnectionRefused
        )
    }
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FetchError::Denied(why) => write!(f, "request denied by the host: {why}"),
            FetchError::Timeout => f.write_str("request timed out"),
            FetchError::ConnectionRefused => f.write_str("connection refused"),
            FetchError::ConnectionReset => f.write_str("connection reset or closed early"),
            FetchError::Tls(why) => write!(f, "TLS failure: {why}"),
            FetchError::Other(why) => f.write_str(why),
        }
    }
}

/// A request `start`ed and not finished yet.
pub struct Started(Under);

enum Under {
    /// Not sent: `finish` sends it, for a host that runs one request at a
    /// time.
    Deferred(Request),
    /// Under way at the host: waiting for it answers it. Dropped unasked,
    /// it abandons the request.
    Sent(Box<dyn Answer>),
}

/// A request under way at the host.
pub trait Answer {
    /// Whether the answer is in: `wait` would not block.
    fn ready(&mut self) -> bool;
    /// Wait for the answer.
    fn wait(self: Box<Self>) -> Result<Response, FetchError>;
}

/// An answer `wait` computes, never said to be in.
struct Later<F>(F);

impl<F: FnOnce() -> Result<Response, FetchError>> Answer for Later<F> {
    fn ready(&mut self) -> bool {
        false
    }
    fn wait(self: Box<Self>) -> Result<Response, FetchError> {
        (self.0)()
    }
}

impl Started {
    /// A request that `finish` will send.
    pub fn deferred(request: Request) -> Started {
        Started(Under::Deferred(request))
    }

    /// A request under way, answered by `answer`.
    pub fn under_way(answer: impl Answer + 'static) -> Started {
        Started(Under::Sent(Box::new(answer)))
    }

    /// A request under way; `answer` waits for it, and it is never said
    /// to be in before.
    pub fn sent(answer: impl FnOnce() -> Result<Response, FetchError> + 'static) -> Started {
        Started::under_way(Later(answer))
    }

    /// Whether the answer is in: `Http::finish` would not wait.
    pub fn ready(&mut self) -> bool {
        match &mut self.0 {
            Under::Deferred(_) => false,
            Under::Sent(answer) => answer.ready(),
        }
    }
}

/// The component's window on the network, plus the other effects a
/// client needs of time: waiting before a retry, and the wall clock's
/// reading, to tell when a full sync is due.
pub trait Http {
    fn fetch(&mut self, request: Request) -> Result<Response, FetchError>;
    /// Send a request without waiting for it; `finish` answers it. By
    /// default it is sent only then.
    fn start(&mut self, request: Request) -> Started {
        Started::deferred(request)
    }
    /// The answer to a `start`ed request.
    fn finish(&mut self, started: Started) -> Result<Response, FetchError> {
        match started.0 {
            Under::Deferred(request) => self.fetch(request),
            Under::Sent(answer) => answer.wait(),
        }
    }
    fn sleep(&mut self, duration: Duration);
    /// Milliseconds since 1970-01-01 UTC.
    fn now_ms(&mut self) -> u64;
}
