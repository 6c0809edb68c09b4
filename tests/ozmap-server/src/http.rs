//! The HTTP side: accepting connections, recording requests, applying faults,
//! and the response body that can be cut short.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::time::Sleep;

use crate::faults::{Fault, ListingLie};
use crate::routes;
use crate::server::{RecordedRequest, Shared};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Not JSON, though it starts like it: what a confused proxy or a crashed
/// serializer sends.
const MALFORMED_BODY: &str = "{\"total\": 3, \"rows\": [{\"id\": <html>upstream error</html>";

/// A JSON answer before it becomes an HTTP response.
pub(crate) struct Answer {
    pub(crate) status: u16,
    body: Option<Payload>,
}

/// An answer's JSON: a value, or text already written (a list page made of
/// the stored documents' own text).
enum Payload {
    Value(Value),
    Text(String),
}

impl Answer {
    pub(crate) fn json(status: u16, body: Value) -> Self {
        Answer {
            status,
            body: Some(Payload::Value(body)),
        }
    }

    /// An answer whose JSON is already written out.
    pub(crate) fn json_text(status: u16, body: String) -> Self {
        Answer {
            status,
            body: Some(Payload::Text(body)),
        }
    }

    pub(crate) fn error(status: u16, message: impl Into<String>) -> Self {
        Answer::json(status, json!({"message": message.into(), "status": status}))
    }

    /// The body as a JSON value (parsed when it was written as text).
    pub(crate) fn value(&self) -> Option<Value> {
        match self.body.as_ref()? {
            Payload::Value(v) => Some(v.clone()),
            Payload::Text(t) => serde_json::from_str(t).ok(),
        }
    }

    /// An error answer's message (or its whole body), for library callers.
    pub(crate) fn message(&self) -> String {
        match self.value() {
            Some(b) => b["message"]
                .as_str()
                .map_or_else(|| b.to_string(), str::to_owned),
            None => format!("HTTP {}", self.status),
        }
    }

    pub(crate) fn no_content() -> Self {
        Answer {
            status: 204,
            body: None,
        }
    }

    fn bytes(&self) -> Bytes {
        match &self.body {
            Some(Payload::Value(v)) => Bytes::from(serde_json::to_vec(v).unwrap_or_default()),
            Some(Payload::Text(t)) => Bytes::from(t.clone()),
            None => Bytes::new(),
        }
    }

    fn into_bytes(self) -> Bytes {
        match self.body {
            Some(Payload::Text(t)) => Bytes::from(t),
            _ => self.bytes(),
        }
    }
}

/// A response body: whole, or (fault injection) its first part followed by a
/// broken connection.
pub(crate) struct Body {
    data: Option<Bytes>,
    cut: bool,
    pause: Option<Pin<Box<Sleep>>>,
}

impl Body {
    fn full(data: Bytes) -> Self {
        Body {
            data: (!data.is_empty()).then_some(data),
            cut: false,
            pause: None,
        }
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if let Some(data) = this.data.take() {
            return Poll::Ready(Some(Ok(Frame::data(data))));
        }
        if !this.cut {
            return Poll::Ready(None);
        }
        // Let hyper flush the first part before the error makes it drop the
        // connection; otherwise the client would see no answer at all.
        let pause = this
            .pause
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(Duration::from_millis(50))));
        ready!(pause.as_mut().poll(cx));
        Poll::Ready(Some(Err("body cut short by an injected fault".into())))
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_none() && !self.cut
    }

    fn size_hint(&self) -> SizeHint {
        match (&self.data, self.cut) {
            (_, true) => SizeHint::default(),
            (Some(d), false) => SizeHint::with_exact(d.len() as u64),
            (None, false) => SizeHint::with_exact(0),
        }
    }
}

/// Returned by the service to make hyper close the connection unanswered (why
/// the service is not infallible).
#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by an injected fault")
    }
}

impl std::error::Error for Dropped {}

/// Accepts connections until `stop` fires.
pub(crate) async fn serve(
    listener: std::net::TcpListener,
    shared: Arc<Shared>,
    mut stop: oneshot::Receiver<()>,
) {
    let listener = match TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("ozmap test server cannot listen: {e}");
            return;
        }
    };
    loop {
        tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    let shared = shared.clone();
                    tokio::spawn(async move {
                        let service = service_fn(move |req| handle(shared.clone(), req));
                        let _ = http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
                // Out of descriptors and the like: back off rather than spin.
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            },
        }
    }
}

/// Counts a request under way while it is answered.
struct UnderWay<'a>(&'a (AtomicUsize, AtomicUsize));

impl<'a> UnderWay<'a> {
    fn begin(counts: &'a (AtomicUsize, AtomicUsize)) -> UnderWay<'a> {
        let now = counts.0.fetch_add(1, Ordering::SeqCst) + 1;
        counts.1.fetch_max(now, Ordering::SeqCst);
        UnderWay(counts)
    }
}

impl Drop for UnderWay<'_> {
    fn drop(&mut self) {
        self.0.0.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Result<Response<Body>, Dropped> {
    let _under_way = UnderWay::begin(&shared.under_way);
    let (parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return Err(Dropped),
    };
    let request = RecordedRequest {
        method: parts.method.as_str().to_owned(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or_default().to_owned(),
        body: String::from_utf8_lossy(&body).into_owned(),
        authorization: parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        received: std::time::Instant::now(),
    };
    tracing::debug!(method = %request.method, path = %request.path, query = %request.query, "ozmap request");
    shared.record(request.clone());
    let route_path = request
        .path
        .strip_prefix("/api/v2/")
        .unwrap_or(request.path.trim_start_matches('/'));
    let fault = shared.faults.take(route_path);
    if !shared.config.latency.is_zero() {
        tokio::time::sleep(shared.config.latency).await;
    }
    if let Some(wait) = shared
        .config
        .rate_limit
        .and_then(|per_second| shared.rate_limit.admit(per_second, request.received))
    {
        return Ok(retry_after(
            429,
            "Too many requests",
            HeaderValue::from(wait),
        ));
    }
    match &fault {
        Some(Fault::DropConnection) => return Err(Dropped),
        Some(Fault::TooManyRequests { retry_after_secs }) => {
            return Ok(retry_after(
                429,
                "Too many requests",
                HeaderValue::from(*retry_after_secs),
            ));
        }
        Some(Fault::RetryAfterDate { status, secs }) => {
            let at = std::time::SystemTime::now() + Duration::from_secs(*secs);
            let date = HeaderValue::from_str(&httpdate::fmt_http_date(at))
                .expect("a date is a header value");
            return Ok(retry_after(*status, "Try again later", date));
        }
        Some(Fault::Status(code)) => {
            return Ok(respond(&Answer::error(
                *code,
                format!("injected fault: HTTP {code}"),
            )));
        }
        Some(Fault::MalformedJson) => {
            return Ok(with_body(
                200,
                Body::full(Bytes::from_static(MALFORMED_BODY.as_bytes())),
            ));
        }
        Some(Fault::Slow(delay)) => tokio::time::sleep(*delay).await,
        Some(Fault::TruncatedJson | Fault::Lie(_)) | None => {}
    }
    let answer = match &fault {
        Some(Fault::Lie(lie)) => lie_about(&shared, &request, lie),
        _ => routes::dispatch(&shared, &request),
    };
    if fault == Some(Fault::TruncatedJson) {
        return Ok(truncated(&answer));
    }
    let status = answer.status;
    let bytes = answer.into_bytes();
    shared.bytes_sent.fetch_add(bytes.len(), Ordering::Relaxed);
    Ok(with_body(status, Body::full(bytes)))
}

/// A refusal (429, 503) that asks the client to wait: `Retry-After` in
/// seconds or as a date.
fn retry_after(status: u16, message: &str, wait: HeaderValue) -> Response<Body> {
    let mut res = respond(&Answer::error(status, message));
    res.headers_mut().insert(RETRY_AFTER, wait);
    res
}

/// The list page asked for, misstated as `lie` says.
fn lie_about(shared: &Shared, request: &RecordedRequest, lie: &ListingLie) -> Answer {
    let asked = routes::dispatch(shared, request);
    let Some(Value::Object(mut page)) = asked.value() else {
        return asked;
    };
    let number = |page: &serde_json::Map<String, Value>, key: &str| {
        page.get(key).and_then(Value::as_u64).unwrap_or(0)
    };
    let legacy = !page.contains_key("hasNextPage");
    match lie {
        ListingLie::NoNextPage => {
            if !legacy {
                page.insert("hasNextPage".into(), json!(false));
                page.insert("nextUrl".into(), Value::Null);
            }
        }
        ListingLie::Total(total) => {
            page.insert("total".into(), json!(total));
            if !legacy {
                let reached = number(&page, "start") + number(&page, "count");
                page.insert("hasNextPage".into(), json!(reached < *total));
            }
        }
        ListingLie::RepeatFirstPage => {
            let first_query: Vec<String> = request
                .query
                .split('&')
                .filter(|kv| !kv.starts_with("page=") && !kv.starts_with("cursor="))
                .map(str::to_owned)
                .chain(["page=1".to_owned()])
                .collect();
            let first = RecordedRequest {
                query: first_query.join("&"),
                ..request.clone()
            };
            if let Some(Value::Object(first)) = routes::dispatch(shared, &first).value() {
                for key in ["rows", "count"] {
                    if let Some(value) = first.get(key) {
                        page.insert(key.into(), value.clone());
                    }
                }
            }
            if !legacy {
                page.insert("hasNextPage".into(), json!(true));
            }
        }
    }
    Answer::json(asked.status, Value::Object(page))
}

fn respond(answer: &Answer) -> Response<Body> {
    with_body(answer.status, Body::full(answer.bytes()))
}

fn with_body(status: u16, body: Body) -> Response<Body> {
    let has_body = !http_body::Body::is_end_stream(&body);
    let mut res = Response::new(body);
    *res.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if has_body {
        res.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
    }
    res
}

/// `200`, a `Content-Length` for the whole answer, and only its first half.
fn truncated(answer: &Answer) -> Response<Body> {
    let mut full = answer.bytes();
    if full.len() < 2 {
        full = Bytes::from_static(b"{\"rows\": []}");
    }
    let half = full.slice(..full.len() / 2);
    let mut res = with_body(
        200,
        Body {
            data: Some(half),
            cut: true,
            pause: None,
        },
    );
    res.headers_mut()
        .insert(CONTENT_LENGTH, HeaderValue::from(full.len()));
    res
}
