//! `/integrations`: platform accounts, their secrets masked in every answer.

use crate::store::Db;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Deserializer, Serialize};

use super::{ApiError, Body, OrStatus, PREFIX, PathParam, Shared, blocking, some, whole_opt};
use crate::daemon::Daemon;
use crate::store::integrations::{self, Integration, NewIntegration};
use crate::{store::projects, store::scope};

/// An integration as answered: masked, with its schedule and project.
#[derive(Serialize)]
pub(super) struct Shown {
    #[serde(flatten)]
    shown: integrations::Shown,
    /// `HH:MM`, America/Sao_Paulo.
    sync_time: String,
    /// The local mapping project it feeds.
    project: Option<String>,
    /// It synchronises (on schedule and on demand) only while it feeds one.
    synchronising: bool,
    /// Why it does not synchronise, for a person; null when it does.
    not_synchronising_because: Option<String>,
    /// Which kinds it synchronises, and its removal guard.
    #[serde(flatten)]
    scope: scope::Scope,
    /// When its last successful sync started reading the platform: what
    /// the store shows is the platform of then (RFC 3339), or null.
    last_fresh_at: Option<String>,
}

pub(super) fn shown(conn: &Db, integration: &Integration) -> anyhow::Result<Shown> {
    let project = match (integration.project_id, &integration.detached_at) {
        (Some(id), None) => Some(projects::name_of(conn, id)?),
        _ => None,
    };
    Ok(Shown {
        shown: integration.shown(),
        sync_time: integrations::sync_time(conn, &integration.id)?,
        synchronising: project.is_some(),
        not_synchronising_because: integration.not_synchronising_because(),
        project,
        scope: scope::get(conn, &integration.id)?,
        last_fresh_at: crate::store::runs::last_fresh(conn, &integration.id)?,
    })
}

/// The domain checks speak of the CLI's flags; the API's callers know the
/// same settings by their JSON names.
fn json_names(e: anyhow::Error) -> anyhow::Error {
    if super::is_internal(&e) {
        return e;
    }
    let mut message = format!("{e:#}");
    for (flag, field) in [
        ("--project-name", "project_name"),
        ("--api-url", "api_url"),
        ("--api-key", "api_key"),
        ("--password", "password"),
        ("--user", "user"),
        ("--name", "name"),
        ("--kinds", "kinds"),
        ("--max-removal-percent", "max_removal_percent"),
        ("--full-sync-hours", "full_sync_hours"),
        ("--refresh-every", "refresh_every"),
        ("--requests-at-once", "requests_at_once"),
        ("--requests-per-second", "requests_per_second"),
    ] {
        message = message.replace(flag, field);
    }
    // A refusal stays one, of the same kind, in the API's words.
    match crate::error::Refusal::of(&e) {
        Some(refusal) => anyhow::Error::new(crate::error::Refusal {
            kind: refusal.kind.clone(),
            message,
            hint: refusal.hint.clone(),
        }),
        None => anyhow::anyhow!(message),
    }
}

pub async fn list(State(state): State<Shared>) -> Result<Response, ApiError> {
    blocking(&state, |_, conn| {
        let all = integrations::list(conn)?
            .iter()
            .map(|i| shown(conn, i))
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(axum::Json(all).into_response())
    })
    .await
}

pub async fn show(
    State(state): State<Shared>,
    PathParam(name): PathParam<String>,
) -> Result<Response, ApiError> {
    blocking(&state, move |_, conn| {
        let found = integrations::get(conn, &name).or_status(StatusCode::NOT_FOUND)?;
        Ok(axum::Json(shown(conn, &found)?).into_response())
    })
    .await
}

/// No `Debug`: it holds secrets.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewBody {
    name: String,
    api_url: String,
    api_key: String,
    user: String,
    password: String,
    #[serde(default)]
    project_name: Option<String>,
    /// Take a plain http:// address to a public host (`--insecure-http`).
    #[serde(default)]
    insecure_http: bool,
    #[serde(default, deserialize_with = "some")]
    kinds: Option<Vec<String>>,
    #[serde(default, deserialize_with = "whole_opt")]
    max_removal_percent: Option<u8>,
    #[serde(default, deserialize_with = "whole_opt")]
    full_sync_hours: Option<u32>,
    #[serde(default, deserialize_with = "whole_opt")]
    refresh_every: Option<u32>,
    #[serde(default, deserialize_with = "whole_opt")]
    requests_at_once: Option<u32>,
    #[serde(default, deserialize_with = "whole_opt")]
    requests_per_second: Option<u32>,
}

pub async fn add(
    State(state): State<Shared>,
    Body(body): Body<NewBody>,
) -> Result<Response, ApiError> {
    blocking(&state, move |_, conn| {
        // The scope is checked before anything is kept.
        let tx = conn.transaction()?;
        let added = integrations::add(
            &tx,
            NewIntegration {
                name: body.name,
                api_url: body.api_url,
                api_key: body.api_key,
                user: body.user,
                password: body.password,
                project_name: body.project_name,
                insecure_http: body.insecure_http,
            },
        )
        .map_err(json_names)
        .or_status(StatusCode::BAD_REQUEST)?;
        let change = scope::Change {
            kinds: body.kinds,
            max_removal_percent: body.max_removal_percent,
            full_sync_hours: body.full_sync_hours,
            refresh_every: body.refresh_every,
            requests_at_once: body.requests_at_once,
            requests_per_second: body.requests_per_second,
        };
        scope::set(&tx, &added, change, true)
            .map_err(json_names)
            .or_status(StatusCode::BAD_REQUEST)?;
        tx.commit()?;
        let location = format!("{PREFIX}/integrations/{}", added.name);
        Ok((
            StatusCode::CREATED,
            [(header::LOCATION, location)],
            axum::Json(shown(conn, &added)?),
        )
            .into_response())
    })
    .await
}

/// `"project_name": null` clears it, where a missing one changes nothing.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// No `Debug`: it holds secrets.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeBody {
    #[serde(default, deserialize_with = "some")]
    api_url: Option<String>,
    #[serde(default, deserialize_with = "some")]
    api_key: Option<String>,
    #[serde(default, deserialize_with = "some")]
    user: Option<String>,
    #[serde(default, deserialize_with = "some")]
    password: Option<String>,
    #[serde(default, deserialize_with = "present")]
    project_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "some")]
    sync_time: Option<String>,
    #[serde(default, deserialize_with = "some")]
    insecure_http: Option<bool>,
    #[serde(default, deserialize_with = "some")]
    kinds: Option<Vec<String>>,
    #[serde(default, deserialize_with = "whole_opt")]
    max_removal_percent: Option<u8>,
    #[serde(default, deserialize_with = "whole_opt")]
    full_sync_hours: Option<u32>,
    #[serde(default, deserialize_with = "whole_opt")]
    refresh_every: Option<u32>,
    #[serde(default, deserialize_with = "whole_opt")]
    requests_at_once: Option<u32>,
    #[serde(default, deserialize_with = "whole_opt")]
    requests_per_second: Option<u32>,
}

pub async fn update(
    State(state): State<Shared>,
    PathParam(name): PathParam<String>,
    Body(body): Body<ChangeBody>,
) -> Result<Response, ApiError> {
    let change = integrations::Change {
        api_url: body.api_url,
        api_key: body.api_key,
        user: body.user,
        password: body.password,
        project_name: body.project_name,
        sync_time: body.sync_time,
        insecure_http: body.insecure_http,
    };
    let scope_change = scope::Change {
        kinds: body.kinds,
        max_removal_percent: body.max_removal_percent,
        full_sync_hours: body.full_sync_hours,
        refresh_every: body.refresh_every,
        requests_at_once: body.requests_at_once,
        requests_per_second: body.requests_per_second,
    };
    if change.api_url.is_none()
        && change.api_key.is_none()
        && change.user.is_none()
        && change.password.is_none()
        && change.project_name.is_none()
        && change.sync_time.is_none()
        && change.insecure_http.is_none()
        && scope_change.is_empty()
    {
        return Err(ApiError::bad_request(
            "nothing to change: give any of api_url, api_key, user, password, project_name, sync_time, kinds, max_removal_percent, full_sync_hours, refresh_every, requests_at_once, requests_per_second",
        ));
    }
    blocking(&state, move |_, conn| {
        let tx = conn.transaction()?;
        let project_name_given = change.project_name.is_some();
        let updated = integrations::update(&tx, &name, change)
            .map_err(json_names)
            .or_status(StatusCode::BAD_REQUEST)?;
        scope::set(&tx, &updated, scope_change, project_name_given)
            .map_err(json_names)
            .or_status(StatusCode::BAD_REQUEST)?;
        tx.commit()?;
        Ok(axum::Json(shown(conn, &updated)?).into_response())
    })
    .await
}

pub async fn remove(
    State(state): State<Shared>,
    PathParam(name): PathParam<String>,
) -> Result<Response, ApiError> {
    blocking(&state, move |_, conn| {
        let removed = integrations::remove(conn, &name).or_status(StatusCode::CONFLICT)?;
        Ok(axum::Json(serde_json::json!({ "removed": removed.name })).into_response())
    })
    .await
}

/// One step of a connection test.
#[derive(Serialize)]
pub struct Step {
    /// "reach the platform", "authenticate" or "read one row".
    step: String,
    ok: bool,
    detail: String,
}

pub async fn test(
    State(state): State<Shared>,
    PathParam(name): PathParam<String>,
) -> Result<Response, ApiError> {
    blocking(&state, move |daemon, conn| {
        let found = integrations::get(conn, &name).or_status(StatusCode::NOT_FOUND)?;
        let steps = check_connection(daemon, &found)?;
        let ok = !steps.is_empty() && steps.iter().all(|s| s.ok);
        Ok(axum::Json(serde_json::json!({ "ok": ok, "steps": steps })).into_response())
    })
    .await
}

/// Reach the platform, authenticate, read one row, through the component
/// (sandboxed, limited to the integration's own address) as a sync would.
/// A failed step is an answer, not an error; `Err` is the component failing.
fn check_connection(daemon: &Daemon, integration: &Integration) -> Result<Vec<Step>, ApiError> {
    let settings = crate::sync::run::settings(integration, crate::sync::run::Tuning::default());
    let steps = daemon
        .runtime()
        .check_connection(&integration.api_url, &settings)
        .map_err(|e| {
            tracing::error!(integration = %integration.name, error = %format!("{e:#}"), "connection test failed");
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                "check_failed",
                "the connection test could not run to its end; the reason is in mapsync's log",
            )
        })?;
    Ok(steps
        .into_iter()
        .map(|s| Step {
            step: s.step,
            ok: s.ok,
            detail: s.detail,
        })
        .collect())
}
