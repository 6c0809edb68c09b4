//! `http-fetch`: requests to one origin only (the integration's `api_url`),
//! on connections kept open between them (`connections`).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use url::Url;

use crate::component::bindings::http_fetch::{FetchError, Method, Request, Response};
use crate::component::blocking::{self, Spawned};
use crate::component::connections::{Connections, Failure, OutgoingBody};

/// The largest answer accepted; a page of a few thousand elements is a few
/// megabytes.
const MAX_BODY: usize = 64 << 20;

/// Requests under way at once across every integration a host syncs, by
/// default: what two syncs (`serve --parallel`'s default) keep under way at
/// their most (`--pages-in-flight` 12 each), so that the bound never slows a
/// host that runs as configured by default.
pub const DEFAULT_HOST_REQUESTS: usize = 24;

/// The host's bound on requests under way at once, shared by every
/// integration it syncs (each also keeps its own, in the component): a
/// request waits for its turn before it goes out, and its time bound
/// starts then.
#[derive(Clone)]
pub struct RequestBound(Arc<tokio::sync::Semaphore>);

impl RequestBound {
    pub fn new(requests: usize) -> RequestBound {
        RequestBound(Arc::new(tokio::sync::Semaphore::new(requests.max(1))))
    }
}

impl Default for RequestBound {
    fn default() -> RequestBound {
        RequestBound::new(DEFAULT_HOST_REQUESTS)
    }
}

pub struct Fetcher {
    /// `scheme://host:port`, the only origin the guest may reach; none for
    /// a call that needs no platform (matching).
    origin: Option<String>,
    /// The connections to that origin no request is using.
    connections: Arc<Connections>,
    bound: RequestBound,
}

/// `scheme://host:port` with the scheme's default port made explicit, so
/// `https://a` and `https://a:443` are the same origin.
pub fn origin_of(url: &Url) -> Option<String> {
    Some(format!(
        "{}://{}:{}",
        url.scheme(),
        url.host_str()?,
        url.port_or_known_default()?
    ))
}

impl Fetcher {
    /// Requests to `api_url`'s origin only, within the host's `bound`.
    pub fn new(api_url: &str, bound: &RequestBound) -> anyhow::Result<Fetcher> {
        let url = Url::parse(api_url)?;
        let origin =
            origin_of(&url).ok_or_else(|| anyhow::anyhow!("api_url {api_url:?} has no host"))?;
        Ok(Fetcher {
            origin: Some(origin),
            connections: Connections::new(),
            bound: bound.clone(),
        })
    }

    /// For calls that reach no platform: every request is denied.
    pub fn nowhere() -> Fetcher {
        Fetcher {
            origin: None,
            connections: Connections::new(),
            bound: RequestBound::new(1),
        }
    }

    pub fn fetch(&self, request: Request) -> Result<Response, FetchError> {
        blocking::block_on(self.exchange(request)?)
    }

    /// Send `request` and go on: the exchange runs on the runtime's
    /// threads until `Pending::finish` takes its answer.
    pub fn start(&self, request: Request) -> Pending {
        let (method, url) = (request.method, request.url.clone());
        let state = match self.exchange(request) {
            Ok(exchange) => State::Sent(blocking::spawn(exchange)),
            Err(refused) => State::Answered(Err(refused)),
        };
        Pending { method, url, state }
    }

    /// Send `request` only when `Pending::finish` is called: for a request
    /// beyond the bound of those under way.
    pub fn defer(request: Request) -> Pending {
        Pending {
            method: request.method,
            url: request.url.clone(),
            state: State::Deferred(request),
        }
    }

    /// The exchange of `request`, once it is known to go to the allowed
    /// origin, bounded by its timeout.
    fn exchange(
        &self,
        request: Request,
    ) -> Result<impl Future<Output = Result<Response, FetchError>> + Send + 'static, FetchError>
    {
        let url =
            Url::parse(&request.url).map_err(|e| FetchError::Other(format!("invalid URL: {e}")))?;
        let origin =
            origin_of(&url).ok_or_else(|| FetchError::Other("the URL has no host".into()))?;
        let Some(allowed) = &self.origin else {
            return Err(FetchError::Denied(
                "this call reaches no platform".to_string(),
            ));
        };
        if origin != *allowed {
            return Err(FetchError::Denied(format!(
                "{origin} is not the integration's platform ({allowed}); mapsync reaches no other host"
            )));
        }
        if !matches!(url.scheme(), "http" | "https") {
            return Err(FetchError::Denied(format!(
                "scheme {} is not HTTP",
                url.scheme()
            )));
        }
        let timeout = Duration::from_millis(u64::from(request.timeout_ms.max(1)));
        let http_request = build(&url, request)?;
        let exchange = self
            .connections
            .clone()
            .exchange(url, http_request, MAX_BODY);
        let bound = self.bound.0.clone();
        Ok(async move {
            // The host's turn first; the request's own time bound after.
            let _turn = bound
                .acquire_owned()
                .await
                .map_err(|_| FetchError::Other("the host is stopping".to_string()))?;
            let (parts, body) = tokio::time::timeout(timeout, exchange)
                .await
                .map_err(|_| FetchError::Timeout)?
                .map_err(classify)?;
            Ok(Response {
                status: parts.status.as_u16(),
                headers: parts
                    .headers
                    .iter()
                    .map(|(n, v)| {
                        (
                            n.as_str().to_string(),
                            String::from_utf8_lossy(v.as_bytes()).into_owned(),
                        )
                    })
                    .collect(),
                body: text(body.to_vec()),
            })
        })
    }
}

fn build(url: &Url, request: Request) -> Result<hyper::Request<OutgoingBody>, FetchError> {
    let method = match request.method {
        Method::Get => hyper::Method::GET,
        Method::Post => hyper::Method::POST,
        Method::Put => hyper::Method::PUT,
        Method::Patch => hyper::Method::PATCH,
        Method::Delete => hyper::Method::DELETE,
    };
    let host = match url.port() {
        Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
        None => url.host_str().unwrap_or_default().to_string(),
    };
    let mut builder = hyper::Request::builder()
        .method(method)
        .uri(url.as_str())
        .header(hyper::header::HOST, host);
    for (name, value) in &request.headers {
        if name.eq_ignore_ascii_case("host") || name.eq_ignore_ascii_case("content-length") {
            continue;
        }
        builder = builder.header(name.as_str(), value.as_str());
    }
    let body = Bytes::from(request.body.unwrap_or_default());
    if !body.is_empty() {
        builder = builder.header(hyper::header::CONTENT_LENGTH, body.len());
    }
    builder
        .body(Full::new(body).boxed())
        .map_err(|e| FetchError::Other(format!("invalid request: {e}")))
}

/// A body as the contract carries it: UTF-8 text, what is not replaced by
/// U+FFFD (the platform answers JSON; another answer fails as JSON would).
fn text(body: Vec<u8>) -> String {
    String::from_utf8(body).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// A failed exchange in the contract's terms.
fn classify(failure: Failure) -> FetchError {
    use std::io::ErrorKind;
    match failure {
        Failure::InvalidUrl => FetchError::Other("the URL has no host or port".to_string()),
        Failure::Connect(e) => match e.kind() {
            ErrorKind::ConnectionRefused => FetchError::ConnectionRefused,
            ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted => {
                FetchError::ConnectionReset
            }
            ErrorKind::TimedOut => FetchError::Timeout,
            _ => FetchError::Other(format!("connecting: {e}")),
        },
        Failure::Tls(e) => FetchError::Tls(e),
        Failure::Http(e) => match http_failure(&e) {
            Some(known) => known,
            None => FetchError::Other(e.to_string()),
        },
        // Whatever breaks a body half-way leaves it cut short.
        Failure::CutShort(e) => http_failure(&e).unwrap_or(FetchError::ConnectionReset),
        Failure::TooLarge => {
            FetchError::Other(format!("the answer is larger than {} MiB", MAX_BODY >> 20))
        }
    }
}

/// What an HTTP failure tells of the connection: ended under the request,
/// or timed out.
fn http_failure(e: &hyper::Error) -> Option<FetchError> {
    if e.is_incomplete_message() || e.is_canceled() || e.is_closed() {
        return Some(FetchError::ConnectionReset);
    }
    if e.is_timeout() {
        return Some(FetchError::Timeout);
    }
    // An I/O error under HTTP: the connection broke.
    let io = std::error::Error::source(e)?.downcast_ref::<std::io::Error>()?;
    matches!(
        io.kind(),
        std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::BrokenPipe
            | std::io::ErrorKind::UnexpectedEof
    )
    .then_some(FetchError::ConnectionReset)
}

/// A request `start`ed by the component (the WIT `pending`). Dropped
/// before it is finished, it abandons the exchange.
pub struct Pending {
    pub method: Method,
    pub url: String,
    state: State,
}

enum State {
    Sent(Spawned<Result<Response, FetchError>>),
    Answered(Result<Response, FetchError>),
    Deferred(Request),
    Finished,
}

impl Pending {
    /// Wait for the answer; `fetcher` sends a deferred request now.
    pub fn finish(&mut self, fetcher: &Fetcher) -> Result<Response, FetchError> {
        match std::mem::replace(&mut self.state, State::Finished) {
            State::Sent(exchange) => blocking::block_on(exchange),
            State::Answered(answer) => answer,
            State::Deferred(request) => fetcher.fetch(request),
            State::Finished => Err(FetchError::Other(
                "this request's answer was already taken".to_string(),
            )),
        }
    }

    /// Whether the answer is in: `finish` would not wait. A deferred
    /// request is sent only then.
    pub fn ready(&self) -> bool {
        match &self.state {
            State::Sent(exchange) => exchange.is_finished(),
            State::Answered(_) | State::Finished => true,
            State::Deferred(_) => false,
        }
    }

    /// Whether the exchange may still be under way.
    pub fn under_way(&self) -> bool {
        matches!(self.state, State::Sent(_))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use ozmap_test_server::{GeneratorConfig, ServerConfig, TestServer, generate};

    use super::{Fetcher, Method, Request, RequestBound};

    /// Three integrations' fetchers, three requests started by each, all
    /// under way at once unless the host's bound holds them back.
    fn most_under_way(bound: &RequestBound) -> usize {
        let config = ServerConfig {
            latency: Duration::from_millis(150),
            ..ServerConfig::default()
        };
        let key = config.api_key.clone().unwrap_or_default();
        let server = TestServer::start(config, generate(&GeneratorConfig::small())).unwrap();
        let fetchers: Vec<Fetcher> = (0..3)
            .map(|_| Fetcher::new(&server.url(), bound).unwrap())
            .collect();
        let mut started = Vec::new();
        for fetcher in &fetchers {
            for page in 1..=3 {
                let request = Request {
                    method: Method::Get,
                    url: format!("{}/api/v2/poles?page={page}&limit=2", server.url()),
                    headers: vec![("authorization".into(), key.clone())],
                    body: None,
                    timeout_ms: 10_000,
                };
                started.push((fetcher, fetcher.start(request)));
            }
        }
        for (fetcher, mut pending) in started {
            assert_eq!(pending.finish(fetcher).unwrap().status, 200);
        }
        server.most_under_way()
    }

    #[test]
    fn the_hosts_bound_holds_across_integrations() {
        assert_eq!(most_under_way(&RequestBound::new(2)), 2);
        assert!(most_under_way(&RequestBound::new(100)) > 2);
    }
}
