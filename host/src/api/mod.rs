//! The HTTP API (`/api/v1`): JSON over HTTP for the ISP's management system,
//! behind a bearer token, with one error shape for every refusal.
//!
//! Handlers run the domain functions (SQLite, the component) on Tokio's
//! blocking pool, each with a connection of its own (kept between requests,
//! `store::pool`), so a slow sync or push never holds up the server's
//! threads.

mod health;
mod integrations;
mod matches;
mod network;
mod openapi;
mod projects;
mod runs;
mod services;
mod stream;

use std::sync::Arc;

use crate::error::{Kind, Refusal};
use crate::store::Db;
use axum::Router;
use axum::extract::rejection::{BytesRejection, JsonRejection, PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::daemon::Daemon;

/// What the server hands the API: the daemon it drives and the token every
/// request must carry.
pub struct ApiState {
    pub daemon: Arc<Daemon>,
    pub token: String,
    /// The requests' connections, kept between them.
    pub pool: crate::store::pool::Pool,
}

type Shared = Arc<ApiState>;

/// Bodies are small JSON documents; only a services file may be large (as
/// large as `services import` takes from the command line).
const BODY_LIMIT: usize = 1 << 20;
pub use crate::services::IMPORT_LIMIT;

pub const PREFIX: &str = "/api/v1";

pub fn router(state: ApiState) -> Router {
    let api = Router::new()
        .route(
            "/integrations",
            get(integrations::list).post(integrations::add),
        )
        .route(
            "/integrations/{name}",
            get(integrations::show)
                .patch(integrations::update)
                .delete(integrations::remove),
        )
        .route("/integrations/{name}/test", post(integrations::test))
        .route("/integrations/{name}/link", post(projects::link))
        .route("/integrations/{name}/sync", post(runs::trigger))
        .route("/integrations/{name}/runs", get(runs::history))
        .route("/runs/{id}", get(runs::show))
        .route("/status", get(runs::status))
        .route("/projects", get(network::projects).post(projects::create))
        .route(
            "/projects/{name}/integration",
            delete(projects::remove_integration),
        )
        .route("/boxes", get(network::boxes))
        .route("/boxes/{id}", get(network::one_box))
        .route("/splitters/{id}/ports", get(network::splitter_ports))
        .route("/ports/free", get(network::free_ports))
        .route(
            "/services/import",
            post(services::import).layer(DefaultBodyLimit::max(IMPORT_LIMIT)),
        )
        .route("/services", get(services::list))
        .route("/services/{id}", get(services::show))
        .route("/bindings", get(services::bindings).post(services::bind))
        .route(
            "/bindings/{service}",
            get(services::binding).delete(services::unbind),
        )
        .route("/bindings/{service}/confirm", post(services::confirm))
        .route("/identification", get(services::identification))
        .route("/matches", get(matches::list))
        .route("/matches/{id}/accept", post(matches::accept))
        .route("/matches/{id}/reject", post(matches::reject))
        .route("/openapi.json", get(openapi::document))
        .method_not_allowed_fallback(method_not_allowed);
    let state: Shared = Arc::new(state);
    Router::new()
        .nest(PREFIX, api)
        .merge(health::routes())
        .merge(crate::console::routes())
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        // Outside the routes so an unknown path or method tells a caller
        // without the token nothing either.
        .layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("there is no such route; the routes are described at {PREFIX}/openapi.json"),
    )
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!(
            "this route does not take that method; the routes are described at {PREFIX}/openapi.json"
        ),
    )
}

async fn authenticate(State(state): State<Shared>, request: Request, next: Next) -> Response {
    if crate::console::owns(request.uri().path()) || health::PATHS.contains(&request.uri().path()) {
        return next.run(request).await;
    }
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer);
    let refusal = match given {
        None => {
            "this API needs the header `Authorization: Bearer <token>`, with the token mapsync serve was given"
        }
        Some(token) if token_matches(token, &state.token) => return next.run(request).await,
        Some(_) => "the bearer token is not accepted",
    };
    let mut response =
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", refusal).into_response();
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Compared through their digests, so neither the time taken nor an early
/// exit on length tells a guesser how much of the token it got right.
fn token_matches(given: &str, expected: &str) -> bool {
    if expected.is_empty() {
        return false;
    }
    let (a, b) = (
        Sha256::digest(given.as_bytes()),
        Sha256::digest(expected.as_bytes()),
    );
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

/// Every refusal, as `{"error": {"status", "code", "message"}}`, with at
/// times a member beside `error` (a running sync's progress, bad rows).
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    /// The input field a refusal names (`error.field`).
    field: Option<String>,
    extra: Vec<(&'static str, Value)>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            field: None,
            extra: Vec::new(),
        }
    }

    pub fn with(mut self, key: &'static str, value: Value) -> ApiError {
        self.extra.push((key, value));
        self
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn internal() -> ApiError {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "mapsync failed to answer this request; the reason is in its log",
        )
    }

    /// A domain function's error: a refusal is answered with the status of
    /// its kind (an invalid one names its field); anything else with
    /// `fallback`, or, when it is a failure underneath (the store, a file),
    /// logged and answered generically.
    pub fn domain(e: anyhow::Error, fallback: StatusCode) -> ApiError {
        let message = format!("{e:#}");
        if let Some(refusal) = Refusal::of(&e) {
            let status = match &refusal.kind {
                Kind::NotFound => StatusCode::NOT_FOUND,
                Kind::Conflict => StatusCode::CONFLICT,
                // A handler that validates its input says 400; a body
                // that parses but names what cannot be, 422.
                Kind::Invalid { .. } if fallback == StatusCode::BAD_REQUEST => fallback,
                Kind::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
                Kind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            };
            let mut answer = ApiError::new(status, code_of(status), message);
            if let Kind::Invalid { field: Some(field) } = &refusal.kind {
                answer.field = Some(field.clone());
            }
            return answer;
        }
        if is_internal(&e) || fallback == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(error = %message, "request failed");
            return ApiError::internal();
        }
        ApiError::new(fallback, code_of(fallback), message)
    }
}

fn is_internal(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause.is::<crate::store::db::DbError>()
            || cause.is::<std::io::Error>()
            || cause.is::<serde_json::Error>()
    })
}

pub fn code_of(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::CONFLICT => "conflict",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "unprocessable",
        StatusCode::NOT_IMPLEMENTED => "not_implemented",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        s if s.is_client_error() => "bad_request",
        _ => "internal",
    }
}

/// Unexpected failures (anything not mapped on purpose) answer 500.
impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> ApiError {
        ApiError::domain(e, StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl From<serde_json::Error> for ApiError {
    fn from(e: serde_json::Error) -> ApiError {
        ApiError::from(anyhow::Error::from(e))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({
            "error": { "status": self.status.as_u16(), "code": self.code, "message": self.message }
        });
        if let Some(field) = self.field {
            body["error"]["field"] = json!(field);
        }
        for (key, value) in self.extra {
            body[key] = value;
        }
        (self.status, axum::Json(body)).into_response()
    }
}

pub trait OrStatus<T> {
    /// Map a domain refusal to `fallback` unless its message calls for
    /// another status (see `ApiError::domain`).
    fn or_status(self, fallback: StatusCode) -> Result<T, ApiError>;
}

impl<T> OrStatus<T> for anyhow::Result<T> {
    fn or_status(self, fallback: StatusCode) -> Result<T, ApiError> {
        self.map_err(|e| ApiError::domain(e, fallback))
    }
}

/// Run `work` on the blocking pool with a connection of its own (kept
/// open for later requests, unless the work failed inside).
pub async fn blocking<T, F>(state: &Shared, work: F) -> Result<T, ApiError>
where
    F: FnOnce(&Arc<Daemon>, &Db) -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    let state = state.clone();
    tokio::task::spawn_blocking(move || {
        let conn = state.pool.take()?;
        let done = work(&state.daemon, &conn);
        if !matches!(&done, Err(e) if e.status == StatusCode::INTERNAL_SERVER_ERROR) {
            state.pool.give_back(conn);
        }
        done
    })
    .await
    .unwrap_or_else(|e| {
        tracing::error!(error = %e, "a request's work panicked");
        Err(ApiError::internal())
    })
}

/// A JSON body, refused in the API's error shape.
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        refuse_announced_length(request.headers(), BODY_LIMIT)?;
        match axum::Json::<serde_json::Map<String, Value>>::from_request(request, state).await {
            Ok(axum::Json(object)) => from_object(object).map(Body),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

/// A body's fields as `T`. Every body is a JSON object, read as one first:
/// serde would read a struct from an array too (`[]` as every default,
/// `["https://…"]` as its first field), which the document does not allow.
pub fn from_object<T: DeserializeOwned>(
    object: serde_json::Map<String, Value>,
) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(Value::Object(object)).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_body",
            format!(
                "the request body does not fit this route: {}",
                serde_reason(&format!("body: {e}"))
            ),
        )
    })
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::JsonDataError(e) => ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_body",
            format!(
                "the request body does not fit this route: {}",
                serde_reason(&e.body_text())
            ),
        ),
        JsonRejection::JsonSyntaxError(e) => ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            format!(
                "the request body is not valid JSON: {}",
                serde_reason(&e.body_text())
            ),
        ),
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as JSON, with the header `Content-Type: application/json`",
        ),
        JsonRejection::BytesRejection(e) => bytes_rejection(e),
        other => ApiError::new(other.status(), code_of(other.status()), other.body_text()),
    }
}

fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!(
            "the request body is too large: at most {} MiB ({} MiB for a services import)",
            BODY_LIMIT >> 20,
            IMPORT_LIMIT >> 20
        ),
    )
}

/// Refuse a body announced larger than `limit` before reading any of it: a
/// client that sent `Expect: 100-continue` then gets the answer without
/// sending the body at all. (Bodies without a length are cut at the limit
/// as they are read.)
pub fn refuse_announced_length(headers: &HeaderMap, limit: usize) -> Result<(), ApiError> {
    let announced = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match announced {
        Some(length) if length > limit as u64 => Err(too_large()),
        _ => Ok(()),
    }
}

/// A body of at most `limit` bytes, read into one buffer sized by its
/// Content-Length (checked first by `refuse_announced_length`): axum's
/// `Bytes` gathers the frames and then copies them into one, holding the
/// body twice at its peak, which for a 16 MiB import is 16 MiB more.
pub async fn whole_body(request: Request, limit: usize) -> Result<bytes::Bytes, ApiError> {
    use http_body_util::BodyExt;
    refuse_announced_length(request.headers(), limit)?;
    let announced = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = request.into_body();
    let mut whole = Vec::with_capacity(announced.min(limit));
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                code_of(StatusCode::BAD_REQUEST),
                "the request body could not be read",
            )
        })?;
        if let Ok(data) = frame.into_data() {
            if whole.len() + data.len() > limit {
                return Err(too_large());
            }
            whole.extend_from_slice(&data);
        }
    }
    Ok(bytes::Bytes::from(whole))
}

pub fn bytes_rejection(rejection: BytesRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return too_large();
    }
    ApiError::new(
        rejection.status(),
        code_of(rejection.status()),
        "the request body could not be read",
    )
}

/// axum's and serde's reason without axum's preamble, and without any value
/// the caller sent: a password given with the wrong type must not come back.
fn serde_reason(text: &str) -> String {
    let reason = text.split_once(": ").map_or(text, |(_, rest)| rest);
    let mut out = String::new();
    let mut rest = reason;
    loop {
        let next = ["invalid type: ", "invalid value: "]
            .iter()
            .filter_map(|m| rest.find(m).map(|at| (at, m.len())))
            .min();
        let Some((at, len)) = next else {
            out.push_str(rest);
            return out;
        };
        out.push_str(&rest[..at + len]);
        rest = &rest[at + len..];
        let end = rest.find(", expected").unwrap_or(rest.len());
        let kind = rest[..end]
            .split(['`', '"', '\''])
            .next()
            .unwrap_or_default()
            .trim_end();
        out.push_str(kind);
        rest = &rest[end..];
    }
}

/// An integer of a request body, read as JSON Schema's `integer` reads
/// one: any number whose fraction is zero, so `94.0` is `94` (some JSON
/// libraries write every number so), within the range of `T`. serde's own
/// integers refuse `94.0`, which the document's `"type": "integer"` allows.
pub fn whole<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Whole,
{
    d.deserialize_any(WholeVisitor(std::marker::PhantomData))
}

/// `whole` for an optional field (with `#[serde(default)]`), refusing
/// `null` as `some` does.
pub fn whole_opt<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Whole,
{
    whole(d).map(Some)
}

/// An optional field (with `#[serde(default)]`) that, given, must be a
/// `T`: serde's `Option` would read `null` as absent, which the document,
/// calling the field neither nullable nor, for a change, clearable, does
/// not allow.
pub fn some<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}

/// The integer types a body's numbers are read into.
pub trait Whole: TryFrom<i128> {
    const RANGE: (i128, i128);
}

impl Whole for u8 {
    const RANGE: (i128, i128) = (0, u8::MAX as i128);
}

impl Whole for u32 {
    const RANGE: (i128, i128) = (0, u32::MAX as i128);
}

struct WholeVisitor<T>(std::marker::PhantomData<T>);

impl<T: Whole> WholeVisitor<T> {
    fn within<E: serde::de::Error>(&self, v: i128, shown: serde::de::Unexpected) -> Result<T, E> {
        T::try_from(v).map_err(|_| E::invalid_value(shown, self))
    }
}

impl<T: Whole> serde::de::Visitor<'_> for WholeVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "an integer from {} to {}", T::RANGE.0, T::RANGE.1)
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<T, E> {
        self.within(v.into(), serde::de::Unexpected::Unsigned(v))
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<T, E> {
        self.within(v.into(), serde::de::Unexpected::Signed(v))
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<T, E> {
        let shown = serde::de::Unexpected::Float(v);
        // Past ±2^64 no integer type here holds it: refused as out of range
        // without a cast that would saturate.
        if v.fract() != 0.0 || !v.is_finite() {
            return Err(E::invalid_type(shown, &self));
        }
        if v.abs() > 2f64.powi(64) {
            return Err(E::invalid_value(shown, &self));
        }
        self.within(v as i128, shown)
    }
}

/// Query parameters, refused in the API's error shape.
pub struct Params<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Params(value)),
            Err(QueryRejection::FailedToDeserializeQueryString(e)) => {
                Err(ApiError::bad_request(format!(
                    "the query parameters do not fit this route: {}",
                    serde_reason(&e.body_text())
                )))
            }
            Err(other) => Err(ApiError::bad_request(other.body_text())),
        }
    }
}

/// Path parameters, refused in the API's error shape.
pub struct PathParam<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for PathParam<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(PathParam(value)),
            Err(PathRejection::FailedToDeserializePathParams(e)) => {
                Err(ApiError::bad_request(format!(
                    "the path does not fit this route: {}",
                    serde_reason(&e.body_text())
                )))
            }
            Err(other) => {
                tracing::error!(error = %other.body_text(), "path parameters missing");
                Err(ApiError::internal())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_reasons_never_echo_values() {
        let text = "Failed to deserialize the JSON body into the target type: password: invalid type: integer `12345`, expected a string at line 1 column 20";
        assert_eq!(
            serde_reason(text),
            "password: invalid type: integer, expected a string at line 1 column 20"
        );
        let text = "x: port: invalid value: integer `-1`, expected u32 at line 1 column 9";
        assert_eq!(
            serde_reason(text),
            "port: invalid value: integer, expected u32 at line 1 column 9"
        );
        assert_eq!(
            serde_reason("y: invalid type: string \"s3cret\", expected u32"),
            "invalid type: string, expected u32"
        );
    }

    #[test]
    fn tokens_match_only_exactly() {
        assert!(token_matches("abc", "abc"));
        assert!(!token_matches("abd", "abc"));
        assert!(!token_matches("abcd", "abc"));
        assert!(!token_matches("", ""));
        assert_eq!(bearer("Bearer  tok "), Some("tok"));
        assert_eq!(bearer("bearer tok"), Some("tok"));
        assert_eq!(bearer("Basic tok"), None);
        assert_eq!(bearer("Bearer "), None);
    }
}
