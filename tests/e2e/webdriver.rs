//! The WebDriver protocol (W3C, as chromedriver speaks it) over blocking
//! HTTP: the dozen commands the console's tests send, each one request.
//!
//! Not an async client crate (fantoccini): the suite is blocking, and that
//! crate's dependencies (ICU's segmenter, its derive macros, cookie and
//! time) gave the test build other features of `syn` than the binary's, so
//! the first `cargo test` after `cargo build` rebuilt every proc macro and
//! all that derives from them, wasmtime included.

use std::fmt;
use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};

/// The key under which WebDriver names an element in JSON.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A command that failed: WebDriver's error code and message (`stale
/// element reference`, `element click intercepted`, ...), or the exchange
/// itself.
#[derive(Debug)]
pub struct Error(String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// A session of one browser.
pub struct Session {
    agent: ureq::Agent,
    /// `http://127.0.0.1:PORT/session/ID`.
    url: String,
}

/// An element of the session's page.
pub struct Element<'a> {
    session: &'a Session,
    id: String,
}

/// An agent for the driver on loopback: no proxy, a bound on each command,
/// and error statuses read as answers (their body says what went wrong).
pub fn agent(limit: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .proxy(None)
        .timeout_global(Some(limit))
        .http_status_as_error(false)
        .build()
        .into()
}

/// One exchange: the command's `value`, or its error.
fn call(agent: &ureq::Agent, method: &str, url: &str, body: Option<Value>) -> Result<Value> {
    let sent = match (method, body) {
        ("GET", _) => agent.get(url).call(),
        ("DELETE", _) => agent.delete(url).call(),
        (_, body) => agent.post(url).send_json(body.unwrap_or_else(|| json!({}))),
    };
    let mut answer = sent.map_err(|e| Error(format!("{method} {url}: {e}")))?;
    let status = answer.status();
    let mut read: Value = answer
        .body_mut()
        .read_json()
        .map_err(|e| Error(format!("{method} {url}: an answer that is not JSON: {e}")))?;
    let value = read["value"].take();
    if status.is_success() {
        return Ok(value);
    }
    Err(Error(format!(
        "{}: {}",
        value["error"].as_str().unwrap_or("error"),
        value["message"]
            .as_str()
            .and_then(|m| m.lines().next())
            .unwrap_or_default()
    )))
}

impl Session {
    /// A new session of the driver at `driver` (`http://127.0.0.1:PORT`)
    /// with these capabilities, each command bounded by `agent`'s limit.
    pub fn new(agent: ureq::Agent, driver: &str, capabilities: Value) -> Result<Session> {
        let body = json!({ "capabilities": { "alwaysMatch": capabilities } });
        let made = call(&agent, "POST", &format!("{driver}/session"), Some(body))?;
        let id = made["sessionId"]
            .as_str()
            .ok_or_else(|| Error(format!("a session without an id: {made}")))?;
        Ok(Session {
            url: format!("{driver}/session/{id}"),
            agent,
        })
    }

    fn get(&self, path: &str) -> Result<Value> {
        call(&self.agent, "GET", &format!("{}{path}", self.url), None)
    }

    fn post(&self, path: &str, body: Value) -> Result<Value> {
        call(
            &self.agent,
            "POST",
            &format!("{}{path}", self.url),
            Some(body),
        )
    }

    /// Open `url`; answers once it loaded.
    pub fn goto(&self, url: &str) -> Result<()> {
        self.post("/url", json!({ "url": url })).map(drop)
    }

    pub fn current_url(&self) -> Result<String> {
        Ok(self.get("/url")?.as_str().unwrap_or_default().to_string())
    }

    /// The elements that match the CSS selector, in document order.
    pub fn find_all(&self, css: &str) -> Result<Vec<Element<'_>>> {
        let found = self.post(
            "/elements",
            json!({ "using": "css selector", "value": css }),
        )?;
        Ok(self.elements(found))
    }

    fn elements(&self, found: Value) -> Vec<Element<'_>> {
        let list = found.as_array().cloned().unwrap_or_default();
        list.iter()
            .filter_map(|e| e[ELEMENT_KEY].as_str())
            .map(|id| Element {
                session: self,
                id: id.to_string(),
            })
            .collect()
    }

    /// Run JavaScript in the page; its `return` value.
    pub fn execute(&self, script: &str) -> Result<Value> {
        self.post("/execute/sync", json!({ "script": script, "args": [] }))
    }

    /// What the page shows, as PNG.
    pub fn screenshot(&self) -> Result<Vec<u8>> {
        let encoded = self.get("/screenshot")?;
        base64::engine::general_purpose::STANDARD
            .decode(encoded.as_str().unwrap_or_default())
            .map_err(|e| Error(format!("a screenshot that is not base64: {e}")))
    }

    /// End the session (the browser closes).
    pub fn close(self) -> Result<()> {
        call(&self.agent, "DELETE", &self.url, None).map(drop)
    }
}

impl Element<'_> {
    fn get(&self, what: &str) -> Result<Value> {
        self.session.get(&format!("/element/{}/{what}", self.id))
    }

    fn post(&self, what: &str, body: Value) -> Result<Value> {
        self.session
            .post(&format!("/element/{}/{what}", self.id), body)
    }

    pub fn click(&self) -> Result<()> {
        self.post("click", json!({})).map(drop)
    }

    pub fn clear(&self) -> Result<()> {
        self.post("clear", json!({})).map(drop)
    }

    /// Type this text into the element (for a file input: the file's path).
    pub fn send_keys(&self, text: &str) -> Result<()> {
        self.post("value", json!({ "text": text })).map(drop)
    }

    /// Its visible text.
    pub fn text(&self) -> Result<String> {
        Ok(self.get("text")?.as_str().unwrap_or_default().to_string())
    }

    /// Its attribute, `None` when absent.
    pub fn attr(&self, name: &str) -> Result<Option<String>> {
        Ok(self
            .get(&format!("attribute/{name}"))?
            .as_str()
            .map(str::to_string))
    }

    pub fn is_displayed(&self) -> Result<bool> {
        Ok(self.get("displayed")?.as_bool().unwrap_or(false))
    }

    /// In a <select>, choose the option with this value.
    pub fn select_by_value(&self, value: &str) -> Result<()> {
        let css = format!("option[value=\"{}\"]", value.replace('"', "\\\""));
        let found = self.post("element", json!({ "using": "css selector", "value": css }))?;
        let option = self
            .session
            .elements(json!([found]))
            .into_iter()
            .next()
            .ok_or_else(|| Error(format!("no option {value:?}")))?;
        option.click()
    }
}
