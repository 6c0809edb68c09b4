//! Setting up mapping projects over HTTP as the CLI does: create one, link
//! an integration to the project it feeds, remove it from there. The rules
//! and refusals are `projects`' own.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::{ApiError, Body, OrStatus, PathParam, Shared, blocking};
use crate::store::projects;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewProject {
    name: String,
}

/// `POST /projects`: `project create NAME`.
pub async fn create(
    State(state): State<Shared>,
    Body(body): Body<NewProject>,
) -> Result<Response, ApiError> {
    blocking(&state, move |_, conn| {
        let project = projects::create(conn, &body.name).or_status(StatusCode::BAD_REQUEST)?;
        Ok((StatusCode::CREATED, axum::Json(project)).into_response())
    })
    .await
}

/// Which project to link to, as `integration link` takes it: exactly one.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkBody {
    #[serde(default, deserialize_with = "super::some")]
    existing: Option<String>,
    #[serde(default, deserialize_with = "super::some")]
    new: Option<String>,
}

/// `POST /integrations/{name}/link`: `integration link --integration NAME
/// (--existing PROJECT | --new PROJECT)`. Answers the integration as
/// `GET /integrations/{name}` does, now with its project.
pub async fn link(
    State(state): State<Shared>,
    PathParam(name): PathParam<String>,
    Body(body): Body<LinkBody>,
) -> Result<Response, ApiError> {
    let (existing, new) = match (body.existing, body.new) {
        (Some(existing), None) => (Some(existing), None),
        (None, Some(new)) => (None, Some(new)),
        _ => {
            return Err(ApiError::bad_request(
                "give exactly one of \"existing\" (the name of a project that exists) and \"new\" (the name of a project to create)",
            ));
        }
    };
    blocking(&state, move |_, conn| {
        crate::store::integrations::get(conn, &name).or_status(StatusCode::NOT_FOUND)?;
        let to = match (&existing, &new) {
            (Some(project), _) => projects::LinkTo::Existing(project),
            (None, Some(project)) => projects::LinkTo::New(project),
            (None, None) => unreachable!("one is checked above"),
        };
        let (linked, _) = projects::link(conn, &name, to).map_err(|e| {
            // The integration exists (checked above): a project the body
            // names and that does not exist cannot be linked to.
            let missing = crate::error::Refusal::of(&e)
                .is_some_and(|r| r.kind == crate::error::Kind::NotFound);
            if missing {
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "unprocessable",
                    format!("{e:#}"),
                )
            } else {
                ApiError::domain(e, StatusCode::BAD_REQUEST)
            }
        })?;
        Ok(axum::Json(super::integrations::shown(conn, &linked)?).into_response())
    })
    .await
}

/// `DELETE /projects/{name}/integration`: `project remove-integration
/// PROJECT`. The integration stops synchronising; its elements stay.
pub async fn remove_integration(
    State(state): State<Shared>,
    PathParam(name): PathParam<String>,
) -> Result<Response, ApiError> {
    blocking(&state, move |_, conn| {
        let removed = projects::remove_integration(conn, &name).or_status(StatusCode::CONFLICT)?;
        let project = projects::get(conn, &name)?;
        Ok(axum::Json(json!({ "removed": removed, "project": project })).into_response())
    })
    .await
}
