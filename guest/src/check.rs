//! A connection check: can these settings reach, authenticate and read?

use crate::http::{Http, Method};
use crate::sync::{Settings, client_for};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    pub step: &'static str,
    pub ok: bool,
    pub detail: String,
}

fn step(step: &'static str, ok: bool, detail: impl Into<String>) -> Step {
    Step {
        step,
        ok,
        detail: detail.into(),
    }
}

pub fn run<H: Http>(http: H, settings: &Settings) -> Vec<Step> {
    // One attempt per request: a check should answer quickly.
    let settings = Settings {
        max_attempts: 1,
        ..settings.clone()
    };
    let mut client = client_for(http, &settings);
    let response = match client.send(
        Method::Get,
        "projects?page=1&limit=1",
        None,
        "reading projects",
    ) {
        Ok(response) => response,
        // Answered, but the key and the login were both refused.
        Err(error) if client.reached() => {
            return vec![
                step(
                    "reach the platform",
                    true,
                    format!("{} answered", settings.credentials.api_url),
                ),
                step("authenticate", false, error),
            ];
        }
        Err(error) => return vec![step("reach the platform", false, error)],
    };
    let mut steps = vec![step(
        "reach the platform",
        true,
        format!("{} answered", settings.credentials.api_url),
    )];
    match response.status {
        401 | 403 => {
            steps.push(step(
                "authenticate",
                false,
                "the platform refused the API key and the login",
            ));
            return steps;
        }
        _ => steps.push(step(
            "authenticate",
            true,
            match client.authenticated_by() {
                "login" => format!(
                    "the API key was refused; the login as {:?} worked",
                    settings.credentials.user
                ),
                _ => "the API key was accepted".to_string(),
            },
        )),
    }
    match (
        response.status,
        serde_json::from_slice::<serde_json::Value>(&response.body),
    ) {
        (200..=299, Ok(body)) => {
            let total = body.get("total").and_then(|t| t.as_u64());
            steps.push(step(
                "read one row",
                true,
                total
                    .map(|t| format!("{t} project(s) on the platform"))
                    .unwrap_or_else(|| "projects read".into()),
            ));
        }
        (200..=299, Err(e)) => steps.push(step(
            "read one row",
            false,
            format!("the answer is not JSON: {e}"),
        )),
        (status, _) => steps.push(step(
            "read one row",
            false,
            format!("the platform answered {status}"),
        )),
    }
    steps
}
