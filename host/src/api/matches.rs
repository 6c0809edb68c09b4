//! `/matches`: suggested matches between services and platform clients
//! without a usable code, and a person's decisions on them.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::{ApiError, OrStatus, Params, PathParam, Shared, blocking};
use crate::sync::matches;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchesQuery {
    /// Only suggestions scoring at least this (default 0.8).
    min_score: Option<f64>,
}

pub async fn list(
    State(state): State<Shared>,
    Params(query): Params<MatchesQuery>,
) -> Result<Response, ApiError> {
    let min_score = query.min_score.unwrap_or(0.8);
    blocking(&state, move |daemon, conn| {
        let found = matches::suggestions(conn, daemon.runtime(), min_score)
            .or_status(StatusCode::BAD_REQUEST)?;
        Ok(axum::Json(found).into_response())
    })
    .await
}

pub async fn accept(
    State(state): State<Shared>,
    PathParam(id): PathParam<String>,
) -> Result<Response, ApiError> {
    blocking(&state, move |daemon, conn| {
        let (found, binding) =
            matches::accept(conn, daemon.runtime(), &id).or_status(StatusCode::CONFLICT)?;
        Ok(axum::Json(json!({ "match": found, "binding": binding })).into_response())
    })
    .await
}

pub async fn reject(
    State(state): State<Shared>,
    PathParam(id): PathParam<String>,
) -> Result<Response, ApiError> {
    blocking(&state, move |daemon, conn| {
        let found = matches::reject(conn, daemon.runtime(), &id).or_status(StatusCode::CONFLICT)?;
        Ok(axum::Json(json!({ "match": found, "rejected": true })).into_response())
    })
    .await
}
