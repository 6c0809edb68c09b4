//! The test server's handle: configuration, lifecycle and what tests inspect.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::oneshot;

use crate::auth::Auth;
use crate::faults::{Fault, FaultQueue};
use crate::http;
use crate::network::Network;
use crate::rate_limit::RateLimit;
use crate::store::Store;

/// How the server authenticates, pages and paces its answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerConfig {
    /// The accepted API key; `None` refuses every key (401), so clients must log in.
    pub api_key: Option<String>,
    /// The login accepted by `POST /api/v2/users/login`.
    pub user: String,
    /// The password accepted by `POST /api/v2/users/login`.
    pub password: String,
    /// A login token stops working (401) after this many authenticated requests.
    pub token_ttl_requests: Option<u64>,
    /// The server caps `limit` to this.
    pub max_page_size: usize,
    /// `true`: pages omit `hasNextPage` and `nextUrl`, like older servers.
    pub legacy_pagination: bool,
    /// Added to every answer.
    pub latency: Duration,
    /// At most this many requests answered a second; beyond, `429` with
    /// `Retry-After` (as a platform's rate limit). `None`: no limit.
    pub rate_limit: Option<u32>,
    /// `true`: comparisons of `id` in a filter (`>`, `<=`, ...) are
    /// ignored, as by a platform that does not know them.
    pub ignore_id_ranges: bool,
    /// `true`: a page capped at `max_page_size` still answers the `limit`
    /// asked for, as a platform that caps silently.
    pub silent_page_cap: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            api_key: Some("test-api-key".to_owned()),
            user: "mapsync".to_owned(),
            password: "secret".to_owned(),
            token_ttl_requests: None,
            max_page_size: 1000,
            legacy_pagination: false,
            latency: Duration::ZERO,
            rate_limit: None,
            ignore_id_ranges: false,
            silent_page_cap: false,
        }
    }
}

/// One request as the server received it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedRequest {
    /// `GET`, `POST`, `PATCH`, `DELETE`, ...
    pub method: String,
    /// The path, `/api/v2/...` included, without the query.
    pub path: String,
    /// The raw (still URL-encoded) query string, without `?`; empty when none.
    pub query: String,
    /// The request body as text (lossy UTF-8); empty when none.
    pub body: String,
    /// The `Authorization` header, if sent.
    pub authorization: Option<String>,
    /// When it came in.
    pub received: std::time::Instant,
}

/// State shared by the handle and the connection tasks.
pub(crate) struct Shared {
    pub(crate) config: ServerConfig,
    pub(crate) store: Store,
    pub(crate) auth: Auth,
    pub(crate) faults: FaultQueue,
    pub(crate) rate_limit: RateLimit,
    /// Requests being answered now, and the most there were at once.
    pub(crate) under_way: (AtomicUsize, AtomicUsize),
    /// Bytes of answers' bodies sent.
    pub(crate) bytes_sent: AtomicUsize,
    requests: Mutex<Vec<RecordedRequest>>,
}

impl Shared {
    /// What was asked of the server since the last time this was asked
    /// (`POST /__test/stats`), which starts counting anew: requests (the
    /// test routes' not counted), the most answered at once, and the bytes
    /// of the answers' bodies.
    pub(crate) fn take_stats(&self) -> serde_json::Value {
        let mut requests = self.requests.lock().unwrap_or_else(PoisonError::into_inner);
        let asked = requests
            .iter()
            .filter(|r| !r.path.starts_with("/__test/"))
            .count();
        requests.clear();
        let most = self.under_way.1.swap(0, Ordering::SeqCst);
        let bytes = self.bytes_sent.swap(0, Ordering::SeqCst);
        serde_json::json!({ "requests": asked, "most_under_way": most, "bytes": bytes })
    }

    pub(crate) fn record(&self, request: RecordedRequest) {
        self.requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(request);
    }
}

/// An OZmap API v2 server on loopback (or any address), on its own thread with
/// its own tokio runtime, so it serves sync tests, async code and a CLI alike.
/// Stops on [`TestServer::shutdown`] or when dropped.
pub struct TestServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl TestServer {
    /// Serves `network` on `127.0.0.1` at a free port.
    pub fn start(config: ServerConfig, network: Network) -> anyhow::Result<TestServer> {
        TestServer::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), config, network)
    }

    /// Serves `network` on `addr` (port 0 picks a free one).
    pub fn start_on(
        addr: SocketAddr,
        config: ServerConfig,
        network: Network,
    ) -> anyhow::Result<TestServer> {
        let listener =
            std::net::TcpListener::bind(addr).with_context(|| format!("binding {addr}"))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            config,
            store: Store::new(network),
            auth: Auth::default(),
            faults: FaultQueue::default(),
            rate_limit: RateLimit::default(),
            under_way: Default::default(),
            bytes_sent: AtomicUsize::new(0),
            requests: Mutex::new(Vec::new()),
        });
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("ozmap-test-server")
            .enable_all()
            .build()
            .context("starting the test server's runtime")?;
        let (stop, stopped) = oneshot::channel();
        let serving = shared.clone();
        let thread = std::thread::Builder::new()
            .name("ozmap-test-server".to_owned())
            .spawn(move || {
                runtime.block_on(http::serve(listener, serving, stopped));
                // Open keep-alive connections die with the runtime.
                runtime.shutdown_timeout(Duration::from_secs(2));
            })
            .context("spawning the test server's thread")?;
        Ok(TestServer {
            addr,
            shared,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The `api_url`, `http://127.0.0.1:PORT`; routes are under `/api/v2/`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The next `times` requests whose path after `/api/v2/` starts with
    /// `route_prefix` (`""`: any request) get `fault`, before auth and routing.
    /// Injections are served first in, first out.
    pub fn inject(&self, route_prefix: &str, fault: Fault, times: usize) {
        self.shared.faults.push(route_prefix, fault, times);
    }

    /// Forgets every pending fault.
    pub fn clear_faults(&self) {
        self.shared.faults.clear();
    }

    /// Every request received so far, in order (faulted and refused ones too).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        self.shared
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// Reads or changes the served network between requests; cached query
    /// answers are dropped afterwards.
    pub fn with_network<R>(&self, f: impl FnOnce(&mut Network) -> R) -> R {
        self.shared.store.write(f)
    }

    /// Requests refused by `rate_limit` so far: when each came in, and the
    /// `Retry-After` it was answered.
    pub fn rate_limited(&self) -> Vec<(std::time::Instant, Duration)> {
        self.shared.rate_limit.refused()
    }

    /// The most requests it was answering at once so far.
    pub fn most_under_way(&self) -> usize {
        self.shared.under_way.1.load(Ordering::Relaxed)
    }

    /// Successful logins so far.
    pub fn logins(&self) -> usize {
        self.shared.auth.logins()
    }

    /// Stops serving and waits for the server thread (also done on drop).
    pub fn shutdown(self) {}

    fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop();
    }
}

impl std::fmt::Debug for TestServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestServer")
            .field("addr", &self.addr)
            .finish()
    }
}
