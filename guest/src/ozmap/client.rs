//! OZmap API v2 over the `Http` import: authentication, retries, pagination.

use std::collections::VecDeque;
use std::time::Duration;

use serde_json::Value;

use crate::http::{FetchError, Http, Method, Request, Response, Started};
use crate::pace::Pace;
use crate::retry::{RetryPolicy, Verdict};

/// How to reach one OZmap tenant.
#[derive(Clone)]
pub struct Credentials {
    pub api_url: String,
    pub api_key: String,
    pub user: String,
    pub password: String,
}

/// Requests made and repeated, for the report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Traffic {
    pub requests: u32,
    pub retries: u32,
}

/// The `Authorization` value in use: the API key until the platform refuses
/// it, then a login token.
enum Auth {
    ApiKey,
    Token(String),
    /// While logging in: the refused key is not sent again.
    None,
}

pub struct OzmapClient<H: Http> {
    http: H,
    base: String,
    credentials: Credentials,
    auth: Auth,
    policy: RetryPolicy,
    /// How fast the platform lets the run ask (`pace`): every request,
    /// whichever listing it is for, goes through it.
    pace: Pace,
    timeout: Duration,
    pub traffic: Traffic,
    /// Attempts the last request took, to say so when it failed anyway.
    last_attempts: u32,
    /// The platform answered at least once.
    reached: bool,
    /// GETs sent ahead and not answered yet, oldest first, each with its
    /// path and query: a later GET of the same path and query takes its
    /// answer. Every listing of the run draws on the one window.
    pending: VecDeque<(String, First)>,
    /// GETs to send ahead as soon as the window has room, in order.
    wanted: VecDeque<String>,
    /// Queries whose answer is read alone (probes): their next page is
    /// never asked for ahead.
    alone: std::collections::BTreeSet<String>,
    /// What the run said once (see `first_time`).
    said: std::collections::BTreeSet<String>,
    /// The most rows a page the platform answers, once it answered fewer
    /// than asked.
    page_cap: Option<u64>,
}

/// A request's first attempt, sent ahead: under way, or answered already
/// (taken in when the host said it was in, its push back noted then).
pub enum First {
    Started(Started),
    Landed {
        outcome: Result<Response, FetchError>,
        /// When it was taken in (ms).
        at: u64,
        /// Its push back (a 429, a 503 with `Retry-After`) paused the run
        /// when it was taken in.
        noted: bool,
    },
}

/// Answers taken in early and kept for their listing at most: a page of
/// a thousand elements each.
const MAX_KEPT_ANSWERS: usize = 4;

/// The path and query of the page after the one `asked` answered with
/// `body`: its `nextUrl` under `/api/v2/`, of the same route, as a listing
/// follows it (`Pager`). Looked for, without parsing the page (the listing
/// parses it when it gets there), where a page's fields around its rows
/// are: at its end, else at its start.
fn next_page(asked: &str, body: &[u8]) -> Option<String> {
    const KEY: &[u8] = b"\"nextUrl\":\"";
    const NEAR: usize = 4096;
    let find = |from: usize, to: usize| {
        body[from..to]
            .windows(KEY.len())
            .rposition(|w| w == KEY)
            .map(|at| from + at + KEY.len())
    };
    let at = find(body.len().saturating_sub(NEAR), body.len())
        .or_else(|| find(0, body.len().min(NEAR)))?;
    let end = body[at..].iter().position(|b| *b == b'"')? + at;
    let url = std::str::from_utf8(&body[at..end]).ok()?;
    // Escapes are left to the listing's own parse.
    if url.contains('\\') {
        return None;
    }
    let (_, rest) = url.split_once("/api/v2/")?;
    let route = asked.split('?').next()?;
    rest.starts_with(&format!("{route}?"))
        .then(|| rest.to_string())
}

/// A filter condition, `{"property","operator","value"}`.
pub fn condition(property: &str, operator: &str, value: Value) -> Value {
    serde_json::json!({ "property": property, "operator": operator, "value": value })
}

impl<H: Http> OzmapClient<H> {
    pub fn new(http: H, credentials: Credentials, policy: RetryPolicy, timeout: Duration) -> Self {
        let base = format!("{}/api/v2", credentials.api_url.trim_end_matches('/'));
        OzmapClient {
            http,
            base,
            credentials,
            auth: Auth::ApiKey,
            policy,
            pace: Pace::new(1),
            timeout,
            traffic: Traffic::default(),
            last_attempts: 0,
            reached: false,
            pending: VecDeque::new(),
            wanted: VecDeque::new(),
            alone: Default::default(),
            said: Default::default(),
            page_cap: None,
        }
    }

    /// At most `in_flight` requests under way at once, fewer while the
    /// platform pushes back.
    pub fn in_flight(mut self, in_flight: u32) -> Self {
        self.pace = Pace::new(in_flight);
        self
    }

    /// At most `requests` start in any second (0: no ceiling).
    pub fn per_second(mut self, requests: u32) -> Self {
        self.pace.per_second(requests);
        self
    }

    /// How many requests may be under way now: the bound, lowered when the
    /// platform pushed back; none beyond the one being made while a
    /// push back's pause holds, so that nothing is sent inside it.
    pub fn window(&mut self) -> u32 {
        if self.pace.paused(self.http.now_ms()) {
            1
        } else {
            self.pace.window()
        }
    }

    /// The most rows a page the platform answers, when known.
    pub fn page_cap(&self) -> Option<u64> {
        self.page_cap
    }

    /// The platform answered at most `rows` a page (fewer than asked).
    pub fn note_page_cap(&mut self, rows: Option<u64>) {
        self.page_cap = match (self.page_cap, rows) {
            (Some(known), Some(rows)) => Some(known.min(rows)),
            (known, rows) => known.or(rows),
        };
    }

    /// Whether `what` comes up for the first time this run: a finding said
    /// once, not once per listing of a kind's ranges.
    pub fn first_time(&mut self, what: &str) -> bool {
        self.said.insert(what.to_string())
    }

    /// Whether the platform answered any request (whatever it said).
    pub fn reached(&self) -> bool {
        self.reached
    }

    /// How the client is authenticated now: "api key" or "login".
    pub fn authenticated_by(&self) -> &'static str {
        match self.auth {
            Auth::Token(_) => "login",
            _ => "api key",
        }
    }

    /// GET and parse. A success whose body is not JSON (a proxy's error
    /// page, a body cut short) is a passing failure too, and retried.
    /// The answer of a GET sent ahead of the same path and query is taken
    /// when there is one.
    pub fn get_json(&mut self, path_and_query: &str, what: &str) -> Result<Value, String> {
        self.get_parsed(path_and_query, what, whole)
    }

    /// `get_json` with the body parsed by `parse` (a page's, say, which
    /// keeps only what is read of its rows).
    pub fn get_parsed<T>(
        &mut self,
        path_and_query: &str,
        what: &str,
        parse: fn(&[u8]) -> serde_json::Result<T>,
    ) -> Result<T, String> {
        self.wanted.retain(|asked| asked != path_and_query);
        let started = self
            .pending
            .iter()
            .position(|(asked, _)| asked == path_and_query)
            .and_then(|at| self.pending.remove(at))
            .map(|(_, first)| first);
        // Its place in the window is free: the next wanted goes meanwhile.
        self.send_wanted();
        self.get_started(started, path_and_query, what, parse)
    }

    /// Send `path_and_query` ahead as soon as the window has room (now, if
    /// it has), after those wanted before it.
    pub fn want(&mut self, path_and_query: &str) {
        if !self.is_ahead(path_and_query) && !self.wanted.iter().any(|w| w == path_and_query) {
            self.wanted.push_back(path_and_query.to_string());
        }
        self.send_wanted();
    }

    /// `want`, for a query whose answer is read alone: its next page is
    /// not asked for when it comes early.
    pub fn want_alone(&mut self, path_and_query: &str) {
        self.alone.insert(path_and_query.to_string());
        self.want(path_and_query);
    }

    /// Send the wanted GETs the window has room for.
    fn send_wanted(&mut self) {
        while let Some(next) = self.wanted.front().cloned() {
            if !self.send_ahead(&next) {
                return;
            }
            self.wanted.pop_front();
        }
    }

    /// Send a GET of `path_and_query` ahead, for a later `get_parsed` of
    /// the same path and query to answer, when the window has room:
    /// answers whether it is under way (sent now, or before). One place
    /// of the window stays free for a GET nobody sent ahead, so requests
    /// under way never outnumber it; those whose answer is in are no
    /// longer under way.
    pub fn send_ahead(&mut self, path_and_query: &str) -> bool {
        if self.is_ahead(path_and_query) {
            return true;
        }
        self.take_in_answers();
        self.send_ahead_now(path_and_query)
    }

    /// `send_ahead`, the answers in taken in already.
    fn send_ahead_now(&mut self, path_and_query: &str) -> bool {
        if self.is_ahead(path_and_query) {
            return true;
        }
        // Answers already in no longer weigh on the platform.
        let under_way = self
            .pending
            .iter()
            .filter(|(_, first)| matches!(first, First::Started(_)))
            .count();
        if under_way + 1 >= self.window() as usize {
            return false;
        }
        self.wait_turn();
        let request = self.request(Method::Get, path_and_query, None);
        self.traffic.requests += 1;
        let started = self.http.start(request);
        self.pending
            .push_back((path_and_query.to_string(), First::Started(started)));
        true
    }

    /// Take in the answers of requests sent ahead that came while the run
    /// read others, so that a push back among them holds what would follow
    /// rather than only the request it answered.
    fn take_in_answers(&mut self) {
        let mut next_pages = Vec::new();
        for (asked, first) in self.pending.iter_mut() {
            let First::Started(started) = first else {
                continue;
            };
            if !started.ready() {
                continue;
            }
            let First::Started(started) = std::mem::replace(
                first,
                First::Landed {
                    outcome: Err(FetchError::Other(String::new())),
                    at: 0,
                    noted: false,
                },
            ) else {
                unreachable!("matched above")
            };
            let outcome = self.http.finish(started);
            let at = self.http.now_ms();
            let mut noted = false;
            if let Ok(response) = &outcome
                && let Verdict::PushedBack(wait) = self.policy.judge_response(response, 1, at)
            {
                self.pace.pushed_back(at, wait, response.status == 429);
                noted = true;
            }
            if let Ok(response) = &outcome
                && response.status == 200
                && !self.alone.contains(asked.as_str())
                && let Some(next) = next_page(asked, &response.body)
            {
                next_pages.push(next);
            }
            *first = First::Landed { outcome, at, noted };
        }
        // A page that came early names the next: it is asked for now, not
        // when the listing gets to the page that names it, as long as the
        // answers kept waiting stay few.
        for next in next_pages {
            let landed = self
                .pending
                .iter()
                .filter(|(_, first)| matches!(first, First::Landed { .. }))
                .count();
            if landed >= MAX_KEPT_ANSWERS || !self.send_ahead_now(&next) {
                return;
            }
        }
    }

    /// Whether a GET of `path_and_query` was sent ahead and not taken yet.
    pub fn is_ahead(&self, path_and_query: &str) -> bool {
        self.pending
            .iter()
            .any(|(asked, _)| asked == path_and_query)
    }

    /// Abandon the GET of `path_and_query` sent ahead, if any: nobody will
    /// ask for it.
    pub fn abandon(&mut self, path_and_query: &str) {
        self.pending.retain(|(asked, _)| asked != path_and_query);
        self.wanted.retain(|asked| asked != path_and_query);
    }

    /// Wait until the pace lets a request go (a push back's pause, the
    /// spacing it set), and count it sent.
    fn wait_turn(&mut self) {
        // A host may sleep less than asked (never past the call's time
        // bound): sleep again, unless its clock stood still, which no wait
        // would then end.
        let mut stood_still = 0;
        loop {
            let now = self.http.now_ms();
            let wait = self.pace.wait(now);
            if wait.is_zero() || stood_still == 3 {
                self.pace.sent(now);
                return;
            }
            self.http.sleep(wait);
            if self.http.now_ms() <= now {
                stood_still += 1;
            }
        }
    }

    /// `get_parsed`, whose first attempt is `started` when given (a
    /// `start_get` of the same `path_and_query`); retries are sent anew.
    fn get_started<T>(
        &mut self,
        mut started: Option<First>,
        path_and_query: &str,
        what: &str,
        parse: fn(&[u8]) -> serde_json::Result<T>,
    ) -> Result<T, String> {
        let mut attempt = 1;
        loop {
            let response =
                self.send_with_login(started.take(), Method::Get, path_and_query, None, what)?;
            expect_success(&response, what).map_err(|e| match self.last_attempts {
                n if n > 1 => format!("{e} (after {n} attempts)"),
                _ => e,
            })?;
            match parse_json(&response, what, parse) {
                Err(error) if attempt < self.policy.max_attempts => {
                    crate::log::warn!("{error}; retrying");
                    self.traffic.retries += 1;
                    self.http.sleep(self.policy.backoff(attempt));
                    attempt += 1;
                }
                parsed => return parsed,
            }
        }
    }

    /// Send one request with authentication and retries, answering the first
    /// response that retrying cannot improve.
    pub fn send(
        &mut self,
        method: Method,
        path_and_query: &str,
        body: Option<&Value>,
        what: &str,
    ) -> Result<Response, String> {
        self.send_with_login(None, method, path_and_query, body, what)
    }

    /// `send`, whose first attempt is `started` when given.
    fn send_with_login(
        &mut self,
        mut started: Option<First>,
        method: Method,
        path_and_query: &str,
        body: Option<&Value>,
        what: &str,
    ) -> Result<Response, String> {
        let mut logged_in_for_this_request = false;
        loop {
            let response =
                self.send_with_retries(started.take(), method, path_and_query, body, what)?;
            if response.status != 401 || logged_in_for_this_request {
                if response.status == 401 {
                    return Err(format!(
                        "{what}: the platform refused both the API key and the login token (401)"
                    ));
                }
                return Ok(response);
            }
            // The key is refused or the token expired: log in once, repeat once.
            self.login()?;
            logged_in_for_this_request = true;
        }
    }

    fn login(&mut self) -> Result<(), String> {
        let body = serde_json::json!({
            "login": self.credentials.user,
            "password": self.credentials.password,
        });
        let what = "login";
        self.auth = Auth::None;
        let response = self.send_with_retries(
            None,
            Method::Post,
            "users/login?type=API",
            Some(&body),
            what,
        )?;
        if response.status == 401 || response.status == 403 {
            return Err(format!(
                "the platform refused the API key, and the login with user {:?} failed ({}): check the user and password",
                self.credentials.user, response.status
            ));
        }
        expect_success(&response, what)?;
        let answer = parse_json(&response, what, whole)?;
        let token = answer
            .get("authorization")
            .or_else(|| answer.get("token"))
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                "login: the platform's answer holds no authorization token".to_string()
            })?;
        self.auth = Auth::Token(token.to_string());
        Ok(())
    }

    /// The first attempt is `started` when given (counted when started).
    fn send_with_retries(
        &mut self,
        mut started: Option<First>,
        method: Method,
        path_and_query: &str,
        body: Option<&Value>,
        what: &str,
    ) -> Result<Response, String> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let paused = self.pace.paused(self.http.now_ms());
            let (outcome, answered_at, noted) = match started.take() {
                // Answered while the run read others: its push back, if
                // any, already holds the run.
                Some(First::Landed { outcome, at, noted }) => (outcome, at, noted),
                Some(First::Started(started)) if !paused => {
                    let outcome = self.http.finish(started);
                    (outcome, self.http.now_ms(), false)
                }
                // A push back came after it was asked for ahead: a host that
                // sends a request only when it is finished would send it
                // inside the pause, so it is dropped (abandoned) and sent
                // anew once the pause is over.
                first => {
                    if first.is_some() {
                        // Sent again: a retry, if the host had sent it.
                        self.traffic.retries += 1;
                    }
                    self.take_in_answers();
                    self.wait_turn();
                    let request = self.request(method, path_and_query, body);
                    self.traffic.requests += 1;
                    let outcome = self.http.fetch(request);
                    // When the answer came: a `Retry-After` date is read
                    // against it, and a push back's pause starts from it.
                    (outcome, self.http.now_ms(), false)
                }
            };
            self.reached |= outcome.is_ok();
            let verdict = match &outcome {
                // A creation that may have happened must not be repeated
                // here: the caller looks for its result before trying again.
                // A 429 was not processed, so repeating it is safe.
                Ok(response) if !repeatable(method, path_and_query) && response.status != 429 => {
                    Verdict::Accept
                }
                Err(_) if !repeatable(method, path_and_query) => Verdict::Accept,
                Ok(response) => self.policy.judge_response(response, attempt, answered_at),
                Err(error) => self.policy.judge_error(error, attempt),
            };
            if let Verdict::PushedBack(wait) = verdict {
                if !noted {
                    let for_the_rate = matches!(&outcome, Ok(r) if r.status == 429);
                    self.pace.pushed_back(answered_at, wait, for_the_rate);
                }
            } else if outcome.is_ok() {
                self.pace.answered();
            }
            match verdict {
                Verdict::RetryAfter(wait) | Verdict::PushedBack(wait)
                    if attempt < self.policy.max_attempts =>
                {
                    let why = match &outcome {
                        Ok(response) => format!("the platform answered {}", response.status),
                        Err(error) => error.to_string(),
                    };
                    let pushed_back = matches!(verdict, Verdict::PushedBack(_));
                    crate::log::warn!(
                        "{what}: {why}; retrying in {wait:?}{} (attempt {attempt} of {})",
                        if pushed_back {
                            ", every request of the run waiting as long, fewer at once"
                        } else {
                            ""
                        },
                        self.policy.max_attempts
                    );
                    self.traffic.retries += 1;
                    // A push back's wait is the pace's: `wait_turn` keeps it
                    // for this request and every other.
                    if !pushed_back {
                        self.http.sleep(wait);
                    }
                }
                _ => {
                    self.last_attempts = attempt;
                    return outcome.map_err(|e| describe_failure(what, &e, attempt));
                }
            }
        }
    }

    fn request(&self, method: Method, path_and_query: &str, body: Option<&Value>) -> Request {
        let mut headers = vec![("accept".to_string(), "application/json".to_string())];
        match &self.auth {
            Auth::ApiKey => headers.push((
                "authorization".to_string(),
                self.credentials.api_key.clone(),
            )),
            Auth::Token(token) => headers.push(("authorization".to_string(), token.clone())),
            Auth::None => {}
        }
        if body.is_some() {
            headers.push(("content-type".to_string(), "application/json".to_string()));
        }
        Request {
            method,
            url: format!("{}/{}", self.base, path_and_query),
            headers,
            body: body.map(|b| b.to_string().into_bytes()),
            timeout: self.timeout,
        }
    }
}

/// Whether repeating a request cannot do more than doing it once: reads,
/// updates, deletions and the login; not creations.
fn repeatable(method: Method, path_and_query: &str) -> bool {
    method != Method::Post || path_and_query.starts_with("users/login")
}

fn describe_failure(what: &str, error: &FetchError, attempts: u32) -> String {
    if attempts > 1 {
        format!("{what}: {error} (after {attempts} attempts)")
    } else {
        format!("{what}: {error}")
    }
}

fn expect_success(response: &Response, what: &str) -> Result<(), String> {
    if (200..300).contains(&response.status) {
        return Ok(());
    }
    Err(format!(
        "{what}: the platform answered {}{}",
        response.status,
        platform_message(response)
            .map(|m| format!(": {m}"))
            .unwrap_or_default()
    ))
}

/// The reason a platform gave for refusing a request, when it gave one.
pub fn platform_message(response: &Response) -> Option<String> {
    let body: Value = serde_json::from_slice(&response.body).ok()?;
    ["message", "error", "msg"]
        .iter()
        .find_map(|k| body.get(*k).and_then(Value::as_str))
        .map(|m| m.chars().take(300).collect())
}

/// A body parsed whole.
fn whole(body: &[u8]) -> serde_json::Result<Value> {
    serde_json::from_slice(body)
}

fn parse_json<T>(
    response: &Response,
    what: &str,
    parse: fn(&[u8]) -> serde_json::Result<T>,
) -> Result<T, String> {
    parse(&response.body).map_err(|e| {
        format!(
            "{what}: the platform's answer is not valid JSON ({e}; {} bytes)",
            response.body.len()
        )
    })
}

/// Percent-encode a query-string value (RFC 3986 unreserved characters kept).
pub fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len() * 3);
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::next_page;

    #[test]
    fn a_page_names_the_next_of_its_route_only() {
        let asked = "boxes?page=1&limit=2";
        let body = br#"{"total":5,"rows":[{"id":"a"},{"id":"b"}],"hasNextPage":true,"nextUrl":"https://x.test/api/v2/boxes?limit=2&cursor=Yj0y"}"#;
        assert_eq!(
            next_page(asked, body).as_deref(),
            Some("boxes?limit=2&cursor=Yj0y")
        );
        let relative = br#"{"nextUrl":"/api/v2/boxes?cursor=3","rows":[]}"#;
        assert_eq!(
            next_page(asked, relative).as_deref(),
            Some("boxes?cursor=3")
        );
        for body in [
            &br#"{"rows":[],"hasNextPage":false,"nextUrl":null}"#[..],
            br#"{"rows":[],"nextUrl":"https://x.test/api/v2/poles?cursor=3"}"#,
            br#"{"rows":[],"nextUrl":"https://x.test/api/v2/boxes?cursor=\u0033"}"#,
            br#"[{"id":"a"}]"#,
        ] {
            assert_eq!(
                next_page(asked, body),
                None,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }
}
