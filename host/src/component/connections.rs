//! Connections to the integration's platform, kept open from one request
//! to the next.
//!
//! A sync asks the platform for a thousand pages or more, and its pages
//! come one after another from the same origin. A client that opens a
//! connection for every request and closes it after (as wasi-http's
//! default one does) costs, on the real OZmap over TLS, a TCP and a TLS
//! handshake (two round trips and a certificate check) before every page,
//! and as many connections opened on the platform. Here a connection whose
//! answer was read whole goes back to an idle set and serves the next
//! request; one that failed, timed out or was cut short is dropped. The
//! requests under way at once (a listing's pages in flight) each have their
//! own.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use url::{Host, Url};

/// A request's body: whole in memory, so it never fails.
pub type OutgoingBody = http_body_util::combinators::BoxBody<Bytes, std::convert::Infallible>;

/// Why an exchange failed, in the steps `fetch` tells apart for the
/// contract's `fetch-error`.
#[derive(Debug)]
pub enum Failure {
    /// The URL cannot be sent (no host, no port).
    InvalidUrl,
    /// No connection: refused, unreachable, or the name did not resolve.
    Connect(std::io::Error),
    /// The TLS handshake failed, or the host's name is not one TLS checks.
    Tls(String),
    /// HTTP on the connection failed before the answer's body.
    Http(hyper::Error),
    /// The body broke off half-way.
    CutShort(hyper::Error),
    TooLarge,
}

impl From<hyper::Error> for Failure {
    fn from(error: hyper::Error) -> Failure {
        Failure::Http(error)
    }
}

/// The open connections to one origin that no request is using.
pub struct Connections {
    idle: Mutex<Vec<SendRequest<OutgoingBody>>>,
    /// Whether connections are kept for the next request.
    keep: AtomicBool,
}

impl Connections {
    pub fn new() -> Arc<Connections> {
        Arc::new(Connections {
            idle: Mutex::new(Vec::new()),
            keep: AtomicBool::new(true),
        })
    }

    /// Send `request` to `url` (whose origin the caller checked) and read
    /// its answer whole, at most `max_body` bytes. The caller bounds the
    /// whole exchange in time, connecting included (the WIT's `timeout-ms`).
    pub async fn exchange(
        self: Arc<Self>,
        url: Url,
        mut request: hyper::Request<OutgoingBody>,
        max_body: usize,
    ) -> Result<(hyper::http::response::Parts, Bytes), Failure> {
        // The request line names the path only: scheme and authority go
        // there for a proxy, and the connection already is to the origin.
        *request.uri_mut() = hyper::Uri::builder()
            .path_and_query(
                request
                    .uri()
                    .path_and_query()
                    .map(|p| p.as_str())
                    .unwrap_or("/"),
            )
            .build()
            .map_err(|_| Failure::InvalidUrl)?;
        let (mut sender, reused) = self.ready_connection(&url).await?;
        let response = match sender.try_send_request(request).await {
            Ok(response) => response,
            Err(mut refused) => match refused.take_message() {
                // Not sent: the connection closed first (the platform
                // ended it while idle). It goes on a new one.
                Some(request) => {
                    sender = self.connect(&url).await?;
                    sender.send_request(request).await?
                }
                // Sent, and no answer: the caller sees it as any broken
                // connection (and may retry). A platform that drops kept
                // connections without saying so gets a new one for every
                // request from now on, as a failure would follow each reuse.
                None => {
                    if reused {
                        self.keep.store(false, Ordering::Relaxed);
                    }
                    return Err(refused.into_error().into());
                }
            },
        };
        let (parts, mut body) = response.into_parts();
        let mut read = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(Failure::CutShort)?;
            if let Ok(data) = frame.into_data() {
                if read.len() + data.len() > max_body {
                    return Err(Failure::TooLarge);
                }
                read.extend_from_slice(&data);
            }
        }
        // Read whole: the connection can serve another request, unless
        // the platform said it closes it.
        if self.keep.load(Ordering::Relaxed) && !sender.is_closed() && !closes(&parts.headers) {
            self.idle
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(sender);
        }
        Ok((parts, Bytes::from(read)))
    }

    /// An idle connection still open and ready (`true`), else a new one.
    async fn ready_connection(
        &self,
        url: &Url,
    ) -> Result<(SendRequest<OutgoingBody>, bool), Failure> {
        loop {
            let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
            let Some(mut sender) = idle else { break };
            // A connection the platform closed while idle answers an error
            // here and is dropped.
            if sender.ready().await.is_ok() {
                return Ok((sender, true));
            }
        }
        Ok((self.connect(url).await?, false))
    }

    /// A new connection to `url`'s origin: TCP, TLS for `https` (the
    /// web's root certificates), then HTTP/1.1.
    async fn connect(&self, url: &Url) -> Result<SendRequest<OutgoingBody>, Failure> {
        let host = url.host().ok_or(Failure::InvalidUrl)?;
        let port = url.port_or_known_default().ok_or(Failure::InvalidUrl)?;
        let stream = match &host {
            Host::Domain(name) => TcpStream::connect((*name, port)).await,
            Host::Ipv4(ip) => TcpStream::connect((*ip, port)).await,
            Host::Ipv6(ip) => TcpStream::connect((*ip, port)).await,
        }
        .map_err(Failure::Connect)?;
        // Pages are small writes answered at once: no waiting to fill
        // a segment.
        let _ = stream.set_nodelay(true);
        let stream: Box<dyn Stream> = if url.scheme() == "https" {
            Box::new(tls(stream, &host).await?)
        } else {
            Box::new(stream)
        };
        let (sender, connection) =
            hyper::client::conn::http1::handshake::<_, OutgoingBody>(TokioIo::new(stream)).await?;
        // The connection's own task drives its I/O for as long as it is
        // open; it ends when the last sender is dropped.
        tokio::spawn(connection);
        Ok(sender)
    }
}

/// A connection's byte stream, plain or TLS.
trait Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static> Stream for T {}

/// TLS over `stream` to `host`, checked against the web's root certificates.
async fn tls(
    stream: TcpStream,
    host: &Host<&str>,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, Failure> {
    use rustls::pki_types::ServerName;
    let name = match host {
        Host::Domain(name) => ServerName::try_from(name.to_string())
            .map_err(|e| Failure::Tls(format!("{name} is not a name TLS can check: {e}")))?,
        Host::Ipv4(ip) => ServerName::from(std::net::IpAddr::V4(*ip)),
        Host::Ipv6(ip) => ServerName::from(std::net::IpAddr::V6(*ip)),
    };
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.into(),
    };
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    connector
        .connect(name, stream)
        .await
        .map_err(|e| Failure::Tls(e.to_string()))
}

/// Whether the answer's `Connection` header says the platform closes it.
fn closes(headers: &hyper::http::HeaderMap) -> bool {
    headers
        .get_all(hyper::http::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|token| token.trim().eq_ignore_ascii_case("close"))
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use crate::component::bindings::http_fetch::{FetchError, Method, Request};
    use crate::component::fetch::{Fetcher, RequestBound};

    /// How a test platform answers each request of a connection.
    #[derive(Clone, Copy)]
    enum Answer {
        /// `ok`, and the connection stays open.
        KeepAlive,
        /// `ok` with `Connection: close`, then it closes.
        Close,
        /// `ok`, then it closes without saying so.
        Hangup,
    }

    /// A platform on loopback answering `ok` to every request; answers its
    /// URL and how many connections it accepted.
    fn platform(answer: Answer) -> (String, &'static AtomicUsize) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let accepted: &'static AtomicUsize = Box::leak(Box::new(AtomicUsize::new(0)));
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                accepted.fetch_add(1, Ordering::SeqCst);
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let mut writer = stream;
                    loop {
                        // A request: its head, then as much body as it says.
                        let mut length = 0;
                        loop {
                            let mut line = String::new();
                            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                                return;
                            }
                            if let Some(n) =
                                line.to_ascii_lowercase().strip_prefix("content-length:")
                            {
                                length = n.trim().parse().unwrap();
                            }
                            if line == "\r\n" {
                                break;
                            }
                        }
                        reader.read_exact(&mut vec![0; length]).unwrap();
                        let close = matches!(answer, Answer::Close);
                        let head = if close { "Connection: close\r\n" } else { "" };
                        write!(
                            writer,
                            "HTTP/1.1 200 OK\r\n{head}Content-Length: 2\r\n\r\nok"
                        )
                        .unwrap();
                        writer.flush().unwrap();
                        if !matches!(answer, Answer::KeepAlive) {
                            return;
                        }
                    }
                });
            }
        });
        (url, accepted)
    }

    fn get(url: &str) -> Request {
        Request {
            method: Method::Get,
            url: format!("{url}/api/v2/poles"),
            headers: vec![],
            body: None,
            timeout_ms: 5_000,
        }
    }

    #[test]
    fn requests_to_the_platform_share_one_open_connection() {
        let (url, accepted) = platform(Answer::KeepAlive);
        let fetcher = Fetcher::new(&url, &RequestBound::default()).unwrap();
        for _ in 0..5 {
            assert_eq!(fetcher.fetch(get(&url)).unwrap().body, "ok");
        }
        let mut post = get(&url);
        (post.method, post.body) = (Method::Post, Some("{}".to_string()));
        assert_eq!(fetcher.fetch(post).unwrap().body, "ok");
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_connection_the_platform_closes_is_not_used_again() {
        let (url, accepted) = platform(Answer::Close);
        let fetcher = Fetcher::new(&url, &RequestBound::default()).unwrap();
        for _ in 0..3 {
            assert_eq!(fetcher.fetch(get(&url)).unwrap().body, "ok");
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 3);
    }

    /// A platform that hangs up after each answer without saying so: a
    /// request on a connection it already closed may break (and the guest
    /// retries it), once; after that each request has a connection of its
    /// own.
    #[test]
    fn a_platform_that_hangs_up_unannounced_costs_one_broken_request_at_most() {
        let (url, _) = platform(Answer::Hangup);
        let fetcher = Fetcher::new(&url, &RequestBound::default()).unwrap();
        let broken: Vec<FetchError> = (0..8)
            .filter_map(|_| match fetcher.fetch(get(&url)) {
                Ok(answer) => {
                    assert_eq!(answer.body, "ok");
                    None
                }
                Err(e) => Some(e),
            })
            .collect();
        assert!(broken.len() <= 1, "{broken:?}");
        assert!(
            broken
                .iter()
                .all(|e| matches!(e, FetchError::ConnectionReset)),
            "{broken:?}"
        );
    }

    #[test]
    fn https_speaks_tls() {
        // A platform speaking plain HTTP where TLS is expected: the
        // handshake fails, as a TLS error.
        let (url, _) = platform(Answer::KeepAlive);
        let url = url.replace("http://", "https://");
        let fetcher = Fetcher::new(&url, &RequestBound::default()).unwrap();
        match fetcher.fetch(get(&url)) {
            Err(FetchError::Tls(_)) => {}
            other => panic!("expected a TLS error, got {other:?}"),
        }
    }
}
