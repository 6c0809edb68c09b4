//! The ISP's services, their bindings to ports, and which platform clients
//! they identify.

use crate::store::Db;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{
    ApiError, Body, IMPORT_LIMIT, OrStatus, PREFIX, Params, PathParam, Shared, blocking,
    refuse_announced_length,
};
use crate::services::{self, Format};
use crate::store::bindings::{self, Binding, Event};
use crate::store::states::BindingState;
use crate::{sync::identification, sync::outbox};

/// One import at a time: each holds its file (up to the limit) and its
/// ids while it checks them, and the store takes one writer anyway. A
/// second waits, its body not yet read, so two at once cost one.
static IMPORTING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(1);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportQuery {
    /// `csv`: a refused file is answered with every bad row, as CSV.
    report: Option<ReportFormat>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum ReportFormat {
    Csv,
}

pub async fn import(
    State(state): State<Shared>,
    Params(query): Params<ImportQuery>,
    request: Request,
) -> Result<Response, ApiError> {
    let media = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    let format = match media.as_deref() {
        Some("text/csv") => Format::Csv,
        Some("application/json") => Format::Json,
        _ => {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the services file as the body, with `Content-Type: text/csv` or `Content-Type: application/json`",
            ));
        }
    };
    refuse_announced_length(request.headers(), IMPORT_LIMIT)?;
    let permit = IMPORTING
        .acquire()
        .await
        .map_err(|_| ApiError::internal())?;
    let body = super::whole_body(request, IMPORT_LIMIT).await?;
    let checked = body.clone();
    let answer = blocking(&state, move |daemon, conn| {
        match services::import_bytes(conn, &checked, format)? {
            Ok(summary) => {
                identification::apply_all(conn, daemon.runtime())?;
                Ok(Ok(axum::Json(json!({
                    "created": summary.created,
                    "updated": summary.updated,
                    "unchanged": summary.unchanged,
                }))
                .into_response()))
            }
            Err(refusal) => Ok(Err(refusal)),
        }
    })
    .await?;
    let refusal = match answer {
        Ok(imported) => return Ok(imported),
        Err(refusal) => refusal,
    };
    if let (Some(ReportFormat::Csv), true) = (query.report, refusal.bad_rows > 0) {
        // Every bad row, written as found: as long as the file may be, the
        // answer is never held whole.
        return Ok(report_answer(body, format, permit));
    }
    drop(permit);
    let rows: Vec<_> = refusal
        .rows
        .iter()
        .map(|row| match row.split_once(": ") {
            Some((at, reason)) => json!({ "at": at, "reason": reason }),
            None => json!({ "at": null, "reason": row }),
        })
        .collect();
    let mut message = refusal.message;
    if refusal.bad_rows > refusal.rows.len() {
        message.push_str(&format!(
            "; the first {} are listed, every one with ?report=csv",
            refusal.rows.len()
        ));
    }
    Err(
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_file", message)
            .with("rows", json!(rows))
            .with("bad_rows", json!(refusal.bad_rows)),
    )
}

/// The 422 of a refused import as CSV (`at,reason`), every bad row, sent
/// as a blocking thread writes it; the import's permit is held until the
/// last row is written.
fn report_answer(
    body: Bytes,
    format: Format,
    permit: tokio::sync::SemaphorePermit<'static>,
) -> Response {
    let (chunks, answer) = super::stream::body();
    std::thread::spawn(move || {
        let _permit = permit;
        let mut out = std::io::BufWriter::with_capacity(64 << 10, chunks);
        if let Err(e) = services::write_report(&body, format, &mut out) {
            // The reader went away, or the report failed: the answer ends.
            tracing::debug!(error = %format!("{e:#}"), "an import's report stopped");
        }
    });
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
        answer,
    )
        .into_response()
}

pub async fn list(State(state): State<Shared>) -> Result<Response, ApiError> {
    blocking(&state, |_, conn| {
        Ok(axum::Json(services::list(conn)?).into_response())
    })
    .await
}

pub async fn show(
    State(state): State<Shared>,
    PathParam(id): PathParam<String>,
) -> Result<Response, ApiError> {
    blocking(&state, move |_, conn| {
        let found = services::get(conn, &id).or_status(StatusCode::NOT_FOUND)?;
        Ok(axum::Json(found).into_response())
    })
    .await
}

/// A binding as answered: with its audit trail.
#[derive(Serialize)]
struct WithHistory {
    #[serde(flatten)]
    binding: Binding,
    history: Vec<Event>,
}

fn with_history(conn: &Db, binding: Binding) -> anyhow::Result<WithHistory> {
    Ok(WithHistory {
        history: bindings::history(conn, &binding.service)?,
        binding,
    })
}

pub async fn bindings(State(state): State<Shared>) -> Result<Response, ApiError> {
    blocking(&state, |_, conn| {
        let all = bindings::list(conn)?
            .into_iter()
            .map(|b| with_history(conn, b))
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(axum::Json(all).into_response())
    })
    .await
}

pub async fn binding(
    State(state): State<Shared>,
    PathParam(service): PathParam<String>,
) -> Result<Response, ApiError> {
    blocking(&state, move |_, conn| {
        let Some(found) = bindings::find(conn, &service)? else {
            return Err(ApiError::not_found(format!(
                "service {} has no binding",
                crate::text::echo(&service)
            )));
        };
        Ok(axum::Json(with_history(conn, found)?).into_response())
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BindBody {
    service: String,
    splitter: String,
    #[serde(deserialize_with = "super::whole")]
    port: u32,
    /// Move a service that already has a binding (`bind --move`).
    #[serde(default, rename = "move")]
    moving: bool,
}

pub async fn bind(
    State(state): State<Shared>,
    Body(body): Body<BindBody>,
) -> Result<Response, ApiError> {
    blocking(&state, move |_, conn| {
        // The store's refusals carry their kind: the port's or the
        // service's state (409), or what the body names (422).
        let bound = bindings::bind(conn, &body.service, &body.splitter, body.port, body.moving)
            .or_status(StatusCode::CONFLICT)?;
        let location = format!("{PREFIX}/bindings/{}", bound.service);
        Ok((
            StatusCode::CREATED,
            [(header::LOCATION, location)],
            axum::Json(with_history(conn, bound)?),
        )
            .into_response())
    })
    .await
}

pub async fn confirm(
    State(state): State<Shared>,
    PathParam(service): PathParam<String>,
) -> Result<Response, ApiError> {
    blocking(&state, move |daemon, conn| {
        let binding =
            outbox::confirm(conn, daemon.runtime(), &service).or_status(StatusCode::CONFLICT)?;
        // Still "confirmed": the platform could not be reached and the push
        // waits in the outbox; "pushed" and "failed" are final answers.
        let status = if binding.state == BindingState::Confirmed {
            StatusCode::ACCEPTED
        } else {
            StatusCode::OK
        };
        Ok((status, axum::Json(with_history(conn, binding)?)).into_response())
    })
    .await
}

pub async fn unbind(
    State(state): State<Shared>,
    PathParam(service): PathParam<String>,
) -> Result<Response, ApiError> {
    blocking(&state, move |daemon, conn| {
        let left =
            outbox::unbind(conn, daemon.runtime(), &service).or_status(StatusCode::CONFLICT)?;
        Ok(match left {
            None => axum::Json(json!({ "service": service, "unbound": true })).into_response(),
            // The property mapsync created is not yet deleted on the
            // platform; the outbox retries.
            Some(left) => (
                StatusCode::ACCEPTED,
                axum::Json(json!({
                    "service": service,
                    "unbound": false,
                    "binding": with_history(conn, left)?,
                })),
            )
                .into_response(),
        })
    })
    .await
}

pub async fn identification(State(state): State<Shared>) -> Result<Response, ApiError> {
    blocking(&state, |daemon, conn| {
        Ok(axum::Json(identification::report(conn, daemon.runtime())?).into_response())
    })
    .await
}
