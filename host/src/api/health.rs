//! `GET /healthz` (the process is up) and `GET /readyz` (the store answers):
//! for a supervisor or a load balancer, without a token, outside the API's
//! prefix and its document. Neither says more than its status: a caller
//! without the token learns nothing of the store.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use super::{ApiError, Shared};

/// The paths, which `authenticate` lets through.
pub const PATHS: [&str; 2] = ["/healthz", "/readyz"];

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/healthz", get(alive))
        .route("/readyz", get(ready))
}

async fn alive() -> Json<serde_json::Value> {
    Json(json!({ "status": "up" }))
}

async fn ready(State(state): State<Shared>) -> Response {
    let answered = tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        let conn = state.pool.take()?;
        crate::store::answers(&conn)?;
        state.pool.give_back(conn);
        Ok(())
    })
    .await;
    match answered {
        Ok(Ok(())) => Json(json!({ "status": "ready" })).into_response(),
        Ok(Err(e)) => {
            tracing::warn!(error = %format!("{e:#}"), "not ready: the store does not answer");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "not_ready",
                "the store does not answer (the log says why)",
            )
            .into_response()
        }
        Err(_) => ApiError::internal().into_response(),
    }
}
