//! Syncs on demand and their runs, with live progress while they run.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiError, OrStatus, PREFIX, Params, PathParam, Shared, blocking};
use crate::daemon::{Daemon, Triggered};
use crate::store::Db;
use crate::store::runs::{self, Run};

/// A run as answered: its row, and while it runs, what it has done so far.
/// A run with its progress while it runs: live when this host runs it, as
/// its host last kept it in the store otherwise.
fn with_progress(daemon: &Daemon, conn: &Db, run: Run) -> anyhow::Result<Value> {
    let live = match run.outcome == crate::store::states::RunOutcome::Running {
        false => None,
        true => match daemon.progress(run.id) {
            Some(live) => Some(live),
            None => Some(crate::daemon::stored_progress(
                conn,
                run.id,
                &run.integration,
            )?),
        },
    };
    let mut value = serde_json::to_value(run)?;
    if let Some(live) = live {
        value["progress"] = serde_json::to_value(live)?;
    }
    Ok(value)
}

/// What a sync on demand may be told; the body is optional.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncBody {
    /// Apply the removals an earlier run held, once a person checked them.
    #[serde(default)]
    allow_removals: bool,
    /// Read every element, not only what changed since the last sync.
    #[serde(default)]
    full: bool,
}

pub async fn trigger(
    State(state): State<Shared>,
    PathParam(name): PathParam<String>,
    request: axum::extract::Request,
) -> Result<Response, ApiError> {
    // Read by hand, the body being optional and of any media type; a body
    // over the limit is refused in the API's error shape.
    let body = super::whole_body(request, super::BODY_LIMIT).await?;
    let options: SyncBody = if body.iter().all(u8::is_ascii_whitespace) {
        SyncBody::default()
    } else {
        let object = serde_json::from_slice(&body).map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_body",
                format!("the request body is not a JSON object: {e}"),
            )
        })?;
        super::from_object(object)?
    };
    let tuning = crate::sync::run::Tuning {
        allow_removals: options.allow_removals,
        full: options.full,
        ..Default::default()
    };
    blocking(&state, move |daemon, _| {
        match daemon
            .trigger(&name, "api", tuning, None)
            .or_status(StatusCode::CONFLICT)?
        {
            Triggered::Started { run_id } => {
                let status_url = format!("{PREFIX}/runs/{run_id}");
                Ok((
                    StatusCode::ACCEPTED,
                    [(header::LOCATION, status_url.clone())],
                    axum::Json(json!({ "run_id": run_id, "status_url": status_url })),
                )
                    .into_response())
            }
            Triggered::AlreadyRunning(progress) => Err(ApiError::new(
                StatusCode::CONFLICT,
                "already_running",
                format!(
                    "a sync of {name:?} is already running (run {}); follow it at {PREFIX}/runs/{}",
                    progress.run_id, progress.run_id
                ),
            )
            .with(
                "progress",
                serde_json::to_value(progress).unwrap_or(Value::Null),
            )),
        }
    })
    .await
}

pub async fn show(
    State(state): State<Shared>,
    PathParam(id): PathParam<i64>,
) -> Result<Response, ApiError> {
    blocking(&state, move |daemon, conn| {
        let Some(run) = runs::get(conn, id)? else {
            return Err(ApiError::not_found(format!("no run has id {id}")));
        };
        Ok(axum::Json(with_progress(daemon, conn, run)?).into_response())
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    limit: Option<u32>,
}

pub const DEFAULT_LIMIT: u32 = 20;
pub const MAX_LIMIT: u32 = 1000;

pub async fn history(
    State(state): State<Shared>,
    PathParam(name): PathParam<String>,
    Params(query): Params<HistoryQuery>,
) -> Result<Response, ApiError> {
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit {limit} is out of range: give 1 to {MAX_LIMIT} (default {DEFAULT_LIMIT})"
        )));
    }
    blocking(&state, move |daemon, conn| {
        let history = runs::history(conn, Some(&name), limit).or_status(StatusCode::NOT_FOUND)?;
        let answered = history
            .into_iter()
            .map(|run| with_progress(daemon, conn, run))
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(axum::Json(answered).into_response())
    })
    .await
}

/// Each integration's last run and next planned run, as `mapsync status --json`.
pub async fn status(State(state): State<Shared>) -> Result<Response, ApiError> {
    blocking(&state, |_, conn| {
        Ok(axum::Json(runs::status(conn)?).into_response())
    })
    .await
}
