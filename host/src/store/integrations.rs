//! Integrations: one platform account feeding the store, its settings
//! validated on the way in and its secrets kept out of every output. The
//! secrets are encrypted as they are written and decrypted as they are read,
//! here and nowhere else.

use crate::error::{conflict, invalid, not_found};
use crate::refuse;
use crate::text;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use serde::Serialize;

use crate::params;
use crate::secrets::{self, Key, KeySource};
use crate::store::{Db, Row};

#[derive(Clone)]
pub struct Integration {
    pub id: String,
    pub name: String,
    pub api_url: String,
    pub api_key: String,
    pub user: String,
    pub password: String,
    pub project_name: Option<String>,
    pub created_at: String,
    /// The local mapping project it feeds, once linked.
    pub project_id: Option<i64>,
    /// When it was removed from its project: it synchronises no more.
    pub detached_at: Option<String>,
    /// Its person said a plain http:// address to a public host will do
    /// (`--insecure-http`): the key and password then travel in clear.
    pub insecure_http: bool,
}

// Debug by hand so a stray `{:?}` can never print a secret.
impl std::fmt::Debug for Integration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Integration")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("api_url", &self.api_url)
            .field("project_name", &self.project_name)
            .field("insecure_http", &self.insecure_http)
            .finish_non_exhaustive()
    }
}

/// What `integration add` is given.
pub struct NewIntegration {
    pub name: String,
    pub api_url: String,
    pub api_key: String,
    pub user: String,
    pub password: String,
    pub project_name: Option<String>,
    /// Take a plain http:// address to a public host (see `plain_http`).
    pub insecure_http: bool,
}

/// An integration as shown to people and scripts: secrets masked.
#[derive(Serialize)]
pub struct Shown {
    pub id: String,
    pub name: String,
    pub api_url: String,
    pub api_key: String,
    pub user: String,
    pub password: String,
    pub project_name: Option<String>,
    pub created_at: String,
    pub insecure_http: bool,
}

/// In SQL over `integrations i`: the integration feeds a project (it is
/// linked and was not removed from it), so it synchronises.
pub const FEEDS_A_PROJECT: &str = "(i.project_id IS NOT NULL AND i.detached_at IS NULL)";

/// Why an integration named `name` does not synchronise (on schedule or on
/// demand), for a person; None when it does: linked to a project and not
/// removed from it.
pub fn not_synchronising_because(
    name: &str,
    linked: bool,
    detached_at: Option<&str>,
) -> Option<String> {
    match (linked, detached_at) {
        (_, Some(at)) => Some(format!(
            "it was removed from its project on {at}: it synchronises no more (`mapsync integration remove {}` deletes it)",
            text::shown(name)
        )),
        (false, None) => Some(format!(
            "it feeds no project: link it with `mapsync integration link --integration {} --new PROJECT` (or --existing PROJECT)",
            text::shown(name)
        )),
        (true, None) => None,
    }
}

impl Integration {
    /// Why it does not synchronise; None when it does.
    pub fn not_synchronising_because(&self) -> Option<String> {
        not_synchronising_because(
            &self.name,
            self.project_id.is_some(),
            self.detached_at.as_deref(),
        )
    }

    /// It feeds a project (linked, not removed from it): it synchronises.
    pub fn feeds_a_project(&self) -> bool {
        self.project_id.is_some() && self.detached_at.is_none()
    }

    pub fn shown(&self) -> Shown {
        Shown {
            id: self.id.clone(),
            name: self.name.clone(),
            api_url: self.api_url.clone(),
            api_key: mask(&self.api_key),
            user: self.user.clone(),
            password: "********".into(),
            project_name: self.project_name.clone(),
            created_at: self.created_at.clone(),
            insecure_http: self.insecure_http,
        }
    }
}

/// Enough of a key to tell two apart, never enough to use one.
pub fn mask(secret: &str) -> String {
    let chars: Vec<char> = secret.chars().collect();
    if chars.len() < 12 {
        return "********".into();
    }
    format!(
        "{}…{} (masked)",
        chars[..2].iter().collect::<String>(),
        chars[chars.len() - 2..].iter().collect::<String>()
    )
}

/// The form of an `api_url` mapsync takes, in a syntax the `regex` crate,
/// JSON Schema (ECMA-262) and Python's `re` read alike: the OpenAPI
/// document gives it as the field's pattern, so that what a tool makes of
/// the document is what the server takes. http or https in any case; a
/// host name whose last label begins with a letter, or a dotted IPv4
/// address; a port up to 65535; a path without `\`, query or fragment;
/// white space around it. The `url` crate takes more (IPv6 literals,
/// underscores, `\` for `/`, numeric hosts in hex): none is an OZmap
/// server's address, and each would read differently elsewhere.
pub const API_URL_FORM: &str = concat!(
    r"^[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*",
    r"[Hh][Tt][Tt][Pp][Ss]?://",
    r"(([A-Za-z0-9-]+\.)*[A-Za-z][A-Za-z0-9-]*\.?",
    r"|((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9]))",
    r"(:(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4}))?",
    r"(/[^?#\\\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]*)?",
    r"[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
);

fn plain_address() -> &'static regex::Regex {
    static FORM: std::sync::LazyLock<regex::Regex> =
        std::sync::LazyLock::new(|| regex::Regex::new(API_URL_FORM).expect("API_URL_FORM"));
    &FORM
}

/// The normalised `api_url`: scheme, host, optional port and path prefix,
/// without a trailing slash, and without the API's own path (see
/// `dropped_api_path`).
pub fn validate_api_url(raw: &str) -> Result<String> {
    let raw = raw.trim();
    let hint = "give the scheme and host, e.g. https://yourisp.ozmap.com.br:9994";
    // Before anything echoes it: an address is short, and plain text.
    if let Some(why) = text::problem(raw, text::URL_MAX) {
        refuse!(invalid("api_url", format!("--api-url {why}: {hint}")));
    }
    let mut url = url::Url::parse(raw).map_err(|e| {
        anyhow::Error::new(invalid(
            "api_url",
            format!(
                "--api-url {:?} is not a valid URL ({e}): {hint}",
                redacted(raw)
            ),
        ))
    })?;
    // Checked first, so every later message may echo the address. `url`
    // reads a login only before the host (`https://user:pw@host`); an `@`
    // after the first `/` is part of the path.
    if !url.username().is_empty() || url.password().is_some() {
        let _ = url.set_username("");
        let _ = url.set_password(None);
        let shown = url.as_str().replacen("://", "://***@", 1);
        refuse!(invalid(
            "api_url",
            format!(
                "--api-url {shown:?} holds a login before the host (hidden here): give the address alone, \
             and the login as --user and --password"
            )
        ));
    }
    // Not a web address, a login may read as scheme and path
    // (`user:pw@host`): hidden as when it does not parse.
    let web =
        matches!(url.scheme(), "http" | "https") && url.host_str().is_some_and(|h| !h.is_empty());
    let shown = if web { raw.to_string() } else { redacted(raw) };
    if !matches!(url.scheme(), "http" | "https") {
        refuse!(invalid(
            "api_url",
            format!("--api-url {shown:?} must start with https:// or http://: {hint}")
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        refuse!(invalid(
            "api_url",
            format!("--api-url {shown:?} has no host: {hint}")
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        refuse!(invalid(
            "api_url",
            format!(
                "--api-url {shown:?} must hold only the scheme, host, port and path (no query or fragment): {hint}"
            )
        ));
    }
    if !plain_address().is_match(raw) {
        refuse!(invalid(
            "api_url",
            format!(
                "--api-url {shown:?} is not a plain address: scheme://host[:port][/path], the host a name \
                 of letters, digits, hyphens and dots, or an IPv4 address in four decimal parts: {hint}"
            )
        ));
    }
    if let Some(dropped) = api_path(url.path()).map(str::len) {
        let path = url.path().trim_end_matches('/');
        let kept = path[..path.len() - dropped].to_string();
        url.set_path(&kept);
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

/// Whether `api_url` (as `validate_api_url` answers it) may be used,
/// given what its person said of plain http (`insecure`): https always; a
/// plain http:// address only to a loopback or private address (with a
/// warning, answered: the key and password cross that network in clear),
/// or anywhere with `insecure` (warned too). A public one, or a host name
/// that is not `localhost` (which could resolve anywhere), is refused,
/// naming https.
pub fn plain_http(api_url: &str, insecure: bool) -> Result<Option<String>> {
    let Ok(url) = url::Url::parse(api_url) else {
        return Ok(None);
    };
    if url.scheme() != "http" {
        return Ok(None);
    }
    let local = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback() || ip.is_private() || ip.is_link_local(),
        Some(url::Host::Ipv6(ip)) => {
            ip.is_loopback() || ip.is_unique_local() || ip.is_unicast_link_local()
        }
        Some(url::Host::Domain(host)) => {
            host.eq_ignore_ascii_case("localhost")
                || host.to_ascii_lowercase().ends_with(".localhost")
        }
        None => false,
    };
    if local {
        return Ok(Some(format!(
            "{api_url} is plain http: the API key and password cross your network in clear; \
             use https unless it never leaves this machine or a network you trust"
        )));
    }
    if insecure {
        return Ok(Some(format!(
            "{api_url} is plain http to a public address (taken with --insecure-http): \
             the API key and password travel in clear"
        )));
    }
    refuse!(invalid(
        "api_url",
        format!(
            "--api-url {api_url} is plain http to a public address, which would send the API key and \
             password in clear: use https://{}, or give --insecure-http (insecure_http in the API) \
             to take it all the same",
            api_url.trim_start_matches("http://")
        )
    ))
}

/// The API's own path at the end of `path` (`/api`, `/api/v2`, any
/// `/api/vN`), as given. People paste the address from OZmap's API
/// documentation; mapsync adds `/api/v2` itself, and the platform knows no
/// `/api/v2/api/v2`.
fn api_path(path: &str) -> Option<&str> {
    let path = path.trim_end_matches('/');
    let lower = path.to_ascii_lowercase();
    let (rest, version) = match lower.rsplit_once('/') {
        Some((rest, last))
            if last.len() > 1
                && last.starts_with('v')
                && last[1..].bytes().all(|b| b.is_ascii_digit()) =>
        {
            (rest, Some(last))
        }
        _ => (lower.as_str(), None),
    };
    if !rest.ends_with("/api") {
        return None;
    }
    let length = "/api".len() + version.map_or(0, |v| v.len() + 1);
    Some(&path[path.len() - length..])
}

/// What `validate_api_url` drops from this address's path (e.g. `/api/v2`),
/// for the person who gave it to be told.
pub fn dropped_api_path(raw: &str) -> Option<String> {
    let url = url::Url::parse(raw.trim()).ok()?;
    api_path(url.path()).map(str::to_string)
}

/// The address as an error may echo it: anything up to its last `@` may be
/// a login, so it is hidden (an `@` in a path hides too much, never too
/// little).
fn redacted(raw: &str) -> String {
    let Some(at) = raw.rfind('@') else {
        return raw.to_string();
    };
    let start = raw
        .find("://")
        .map(|i| i + 3)
        .filter(|&start| start <= at)
        .unwrap_or(0);
    format!("{}***{}", &raw[..start], &raw[at..])
}

/// A required setting, checked as text of at most its documented length
/// (see `text`): a secret is never echoed, and no setting may carry a
/// control character (a stray newline) into a header or onto a terminal.
fn required(flag: &str, value: &str, hint: &str) -> Result<()> {
    let max = match flag {
        "--api-key" | "--password" => text::SECRET_MAX,
        "--user" => text::LOGIN_MAX,
        _ => text::NAME_MAX,
    };
    text::check(flag, value, max, hint)
}

pub fn add(conn: &Db, new: NewIntegration) -> Result<Integration> {
    required(
        "--name",
        &new.name,
        "name the integration, e.g. \"ozmap-centro\"",
    )?;
    let api_url = validate_api_url(&new.api_url)?;
    plain_http(&api_url, new.insecure_http)?;
    required(
        "--api-key",
        &new.api_key,
        "create a key in OZmap under Settings > API keys",
    )?;
    required("--user", &new.user, "an OZmap login allowed to use the API")?;
    required("--password", &new.password, "that login's password")?;
    if let Some(project) = &new.project_name {
        // Matched exactly, spaces included, so it is kept as given.
        required(
            "--project-name",
            project,
            "the project's name exactly as OZmap shows it, or leave it out for all projects",
        )?;
    }
    if find(conn, &new.name)?.is_some() {
        refuse!(conflict(format!(
            "an integration named {:?} already exists",
            new.name
        )));
    }
    let integration = Integration {
        id: new_id(),
        name: new.name.trim().to_string(),
        api_url,
        api_key: new.api_key.trim().to_string(),
        user: new.user.trim().to_string(),
        password: new.password,
        project_name: new.project_name,
        created_at: crate::store::now(),
        project_id: None,
        detached_at: None,
        insecure_http: new.insecure_http,
    };
    let (api_key, password) = sealed_secrets(conn, &integration)?;
    conn.execute(
        "INSERT INTO integrations (id, name, api_url, api_key, \"user\", password, project_name, created_at,
                                   insecure_http)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            integration.id,
            integration.name,
            integration.api_url,
            api_key,
            integration.user,
            password,
            integration.project_name,
            integration.created_at,
            integration.insecure_http
        ],
    )
    .context("saving the integration")?;
    Ok(integration)
}

/// The database file: the key file lives beside it. A PostgreSQL store
/// has no file, so its key must be named in the environment (the same on
/// every host); the path answered then plays no part.
fn database_path(conn: &Db) -> Result<PathBuf> {
    let Some(sqlite) = conn.as_sqlite() else {
        if secrets::key_is_named() {
            return Ok(PathBuf::new());
        }
        bail!(
            "a PostgreSQL store needs the key of its secrets named, the same on every host: \
             set {} to the key, or {} to a file holding it (made on first use)",
            secrets::KEY_VARIABLE,
            secrets::KEY_FILE_VARIABLE
        );
    };
    match sqlite.path() {
        Some(path) if !path.is_empty() => Ok(PathBuf::from(path)),
        _ => bail!("an in-memory database keeps no secrets"),
    }
}

/// The integration's API key and password as stored: encrypted with the
/// database's key (its key file made on first use), each bound to its row
/// and column.
fn sealed_secrets(conn: &Db, integration: &Integration) -> Result<(String, String)> {
    let key = Key::find_or_create(&database_path(conn)?)?;
    Ok((
        key.seal(&integration.api_key, &integration.id, "api_key"),
        key.seal(&integration.password, &integration.id, "password"),
    ))
}

/// Integrations as read from the store, their secrets decrypted: the one
/// place that happens. The key is looked for only when a secret is sealed.
fn revealed(conn: &Db, stored: Vec<Integration>) -> Result<Vec<Integration>> {
    let sealed =
        |i: &Integration| secrets::is_sealed(&i.api_key) || secrets::is_sealed(&i.password);
    if !stored.iter().any(sealed) {
        return Ok(stored);
    }
    let database = database_path(conn)?;
    let key = Key::find(&database)?;
    let open = |i: &Integration, column: &str, value: &str| -> Result<String> {
        if !secrets::is_sealed(value) {
            return Ok(value.to_string());
        }
        let Some(key) = &key else {
            bail!(
                "the secrets of integration {:?} are encrypted, but there is no key: {} does not exist. \
                 Put back the key file they were encrypted with (keep it with your backups of the database), \
                 or set {} to where it is, or {} to the key. {}",
                i.name,
                KeySource::for_database(&database),
                secrets::KEY_FILE_VARIABLE,
                secrets::KEY_VARIABLE,
                if_the_key_is_lost(&i.name)
            );
        };
        key.open(value, &i.id, column).with_context(|| {
            format!(
                "the {column} of integration {:?} cannot be decrypted with {}: it is not the key the secrets were encrypted with, \
                 or the database was altered. Give mapsync that key ({}, {} or the key file beside the database). {}",
                i.name,
                key.source,
                secrets::KEY_VARIABLE,
                secrets::KEY_FILE_VARIABLE,
                if_the_key_is_lost(&i.name)
            )
        })
    };
    stored
        .into_iter()
        .map(|mut i| {
            i.api_key = open(&i, "api_key", &i.api_key)?;
            i.password = open(&i, "password", &i.password)?;
            Ok(i)
        })
        .collect()
}

fn if_the_key_is_lost(name: &str) -> String {
    format!(
        "If the key is lost, the secrets are too: give the integration its API key and password again \
         (PATCH /api/v1/integrations/{name} with both), or remove it and add it again"
    )
}

/// What `encrypt_plaintext_secrets` did.
pub struct Encrypted {
    pub integrations: usize,
    pub key: KeySource,
}

/// A database written before secrets were encrypted holds them in clear:
/// encrypt them all, in one transaction. `None` when nothing was in clear.
pub fn encrypt_plaintext_secrets(conn: &Db) -> Result<Option<Encrypted>> {
    let in_clear = |conn: &Db| -> Result<Vec<(String, String, String)>> {
        let rows: Vec<(String, String, String)> = conn.query(
            "SELECT id, api_key, password FROM integrations",
            params![],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        Ok(rows
            .into_iter()
            .filter(|(_, api_key, password)| {
                !secrets::is_sealed(api_key) || !secrets::is_sealed(password)
            })
            .collect())
    };
    if in_clear(conn)?.is_empty() {
        return Ok(None);
    }
    let key = Key::find_or_create(&database_path(conn)?)?;
    // The clear text is zeroed where it stood, not just unlinked, and the
    // log is emptied after: no copy stays in the file's free space.
    if let Some(sqlite) = conn.as_sqlite() {
        sqlite.pragma_update(None, "secure_delete", "ON")?;
    }
    // Immediate: a second process opening the database now waits, then
    // finds nothing left in clear.
    let tx = conn.transaction()?;
    let rows = in_clear(&tx)?;
    for (id, api_key, password) in &rows {
        let seal = |value: &String, column: &str| {
            if secrets::is_sealed(value) {
                value.clone()
            } else {
                key.seal(value, id, column)
            }
        };
        tx.execute(
            "UPDATE integrations SET api_key = ?2, password = ?3 WHERE id = ?1",
            params![id, seal(api_key, "api_key"), seal(password, "password")],
        )?;
    }
    tx.commit()?;
    if let Some(sqlite) = conn.as_sqlite() {
        sqlite.pragma_update(None, "secure_delete", "OFF")?;
        // Best effort: a reader holding the log open keeps it until it ends.
        sqlite.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    }
    Ok((!rows.is_empty()).then_some(Encrypted {
        integrations: rows.len(),
        key: key.source,
    }))
}

fn new_id() -> String {
    let bytes: [u8; 8] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

const COLUMNS: &str = "id, name, api_url, api_key, \"user\", password, project_name, created_at, project_id, detached_at, insecure_http";

fn from_row(row: &Row) -> Result<Integration> {
    Ok(Integration {
        id: row.get(0)?,
        name: row.get(1)?,
        api_url: row.get(2)?,
        api_key: row.get(3)?,
        user: row.get(4)?,
        password: row.get(5)?,
        project_name: row.get(6)?,
        created_at: row.get(7)?,
        project_id: row.get(8)?,
        detached_at: row.get(9)?,
        insecure_http: row.get(10)?,
    })
}

pub fn find(conn: &Db, name: &str) -> Result<Option<Integration>> {
    match find_stored(conn, name)? {
        Some(stored) => Ok(revealed(conn, vec![stored])?.pop()),
        None => Ok(None),
    }
}

/// The integration as stored, its secrets still encrypted: for the changes
/// that need none of them, which must work even when the key is lost.
fn find_stored(conn: &Db, name: &str) -> Result<Option<Integration>> {
    conn.query_opt(
        &format!("SELECT {COLUMNS} FROM integrations WHERE name = ?1"),
        params![name.trim()],
        from_row,
    )
}

/// The integration named `name`, or an error listing the ones that exist.
pub fn get(conn: &Db, name: &str) -> Result<Integration> {
    Ok(revealed(conn, vec![get_stored(conn, name)?])?.remove(0))
}

/// `get`, its secrets still encrypted.
fn get_stored(conn: &Db, name: &str) -> Result<Integration> {
    if let Some(found) = find_stored(conn, name)? {
        return Ok(found);
    }
    let names: Vec<String> = conn.query(
        "SELECT name FROM integrations ORDER BY name",
        params![],
        |r| r.get(0),
    )?;
    if names.is_empty() {
        refuse!(
            not_found(format!(
                "no integration named {}: none exists yet (add one first)",
                crate::text::echo(name)
            )),
            crate::error::Hint::AddIntegration
        );
    }
    refuse!(not_found(format!(
        "no integration named {}; integrations: {}",
        crate::text::echo(name),
        names.join(", ")
    )))
}

pub fn list(conn: &Db) -> Result<Vec<Integration>> {
    let rows = conn.query(
        &format!("SELECT {COLUMNS} FROM integrations ORDER BY name"),
        params![],
        from_row,
    )?;
    revealed(conn, rows)
}

/// What `update` changes; `None` leaves a setting as it is.
#[derive(Default)]
pub struct Change {
    pub api_url: Option<String>,
    pub api_key: Option<String>,
    pub user: Option<String>,
    pub password: Option<String>,
    /// `Some(None)` clears it: every project is synchronised again.
    pub project_name: Option<Option<String>>,
    /// `HH:MM` in São Paulo time.
    pub sync_time: Option<String>,
    /// Take a plain http:// address to a public host (see `plain_http`).
    pub insecure_http: Option<bool>,
}

/// Change an integration's settings, checked as `add` checks them.
pub fn update(conn: &Db, name: &str, change: Change) -> Result<Integration> {
    // Both secrets given anew: the old ones (and their key, which may be
    // lost) are not needed.
    let mut integration = if change.api_key.is_some() && change.password.is_some() {
        get_stored(conn, name)?
    } else {
        get(conn, name)?
    };
    if let Some(api_url) = &change.api_url {
        integration.api_url = validate_api_url(api_url)?;
    }
    if let Some(insecure) = change.insecure_http {
        integration.insecure_http = insecure;
    }
    plain_http(&integration.api_url, integration.insecure_http)?;
    if let Some(api_key) = change.api_key {
        required(
            "--api-key",
            &api_key,
            "create a key in OZmap under Settings > API keys",
        )?;
        integration.api_key = api_key.trim().to_string();
    }
    if let Some(user) = change.user {
        required("--user", &user, "an OZmap login allowed to use the API")?;
        integration.user = user.trim().to_string();
    }
    if let Some(password) = change.password {
        required("--password", &password, "that login's password")?;
        integration.password = password;
    }
    if let Some(project_name) = change.project_name {
        if let Some(project) = &project_name {
            required(
                "--project-name",
                project,
                "the project's name exactly as OZmap shows it, or leave it out for all projects",
            )?;
        }
        integration.project_name = project_name;
    }
    let sync_time = match &change.sync_time {
        Some(text) => crate::schedule::parse_time(text)?
            .format("%H:%M")
            .to_string(),
        None => sync_time(conn, &integration.id)?,
    };
    let (api_key, password) = sealed_secrets(conn, &integration)?;
    conn.execute(
        "UPDATE integrations SET api_url = ?2, api_key = ?3, \"user\" = ?4, password = ?5, project_name = ?6,
             sync_time = ?7, insecure_http = ?8
         WHERE id = ?1",
        params![
            integration.id,
            integration.api_url,
            api_key,
            integration.user,
            password,
            integration.project_name,
            sync_time,
            integration.insecure_http
        ],
    )
    .context("saving the integration")?;
    Ok(integration)
}

/// The integration's daily sync time, `HH:MM` in São Paulo time.
pub fn sync_time(conn: &Db, id: &str) -> Result<String> {
    conn.query_row(
        "SELECT sync_time FROM integrations WHERE id = ?1",
        params![id],
        |r| r.get(0),
    )
}

/// Answers the integration removed, without its secrets: removing one needs
/// no key, so it works when the key is lost.
pub fn remove(conn: &Db, name: &str) -> Result<Integration> {
    let integration = Integration {
        api_key: String::new(),
        password: String::new(),
        ..get_stored(conn, name)?
    };
    if integration.feeds_a_project() {
        let project: String = conn.query_row(
            "SELECT name FROM projects WHERE id = ?1",
            params![integration.project_id],
            |r| r.get(0),
        )?;
        refuse!(
            conflict(format!(
                "integration {:?} feeds project {project:?}: remove it from there first",
                integration.name
            )),
            crate::error::Hint::RemoveIntegration {
                project: project.clone()
            }
        );
    }
    let bindings: i64 = conn.query_row(
        "SELECT count(*) FROM bindings WHERE integration_id = ?1",
        params![integration.id],
        |r| r.get(0),
    )?;
    if bindings > 0 {
        refuse!(conflict(format!(
            "integration {:?} still has {bindings} binding(s) to its ports; unbind them first",
            integration.name
        )));
    }
    conn.execute(
        "DELETE FROM integrations WHERE id = ?1",
        params![integration.id],
    )?;
    Ok(integration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_url_validation_names_the_parameter() {
        assert_eq!(
            validate_api_url("https://isp.ozmap.com.br:9994/").unwrap(),
            "https://isp.ozmap.com.br:9994"
        );
        assert_eq!(
            validate_api_url("http://127.0.0.1:8080").unwrap(),
            "http://127.0.0.1:8080"
        );
        for bad in [
            "isp.ozmap.com.br",
            "ftp://x.y",
            "https://",
            "https://x.y/?a=1",
            "",
            "ht\ttp://x.y",
            "https://x.y\n/v2",
            "https://x_y.z",
            "https:\\\\x.y",
            "https://x.y\\v2",
            "https://[::1]:9994",
            "https://0x7f.1",
            "https:x.y",
        ] {
            let err = validate_api_url(bad).unwrap_err().to_string();
            assert!(err.contains("--api-url"), "{bad}: {err}");
        }
        // White space around it is dropped; a control character is refused.
        assert_eq!(validate_api_url(" https://x.y\r\n").unwrap(), "https://x.y");
        assert!(validate_api_url("\u{1}https://x.y").is_err());
    }

    #[test]
    fn the_apis_own_path_is_dropped() {
        for (given, stored, dropped) in [
            ("http://host/api/v2", "http://host", Some("/api/v2")),
            ("http://host/api/v2/", "http://host", Some("/api/v2")),
            ("http://host:9994/api", "http://host:9994", Some("/api")),
            ("http://host:9994/api/", "http://host:9994", Some("/api")),
            ("https://host/API/V2", "https://host", Some("/API/V2")),
            (
                "https://host/ozmap/api/v2",
                "https://host/ozmap",
                Some("/api/v2"),
            ),
            ("https://host/ozmap", "https://host/ozmap", None),
            ("https://host/rapi", "https://host/rapi", None),
            ("https://host/api/x", "https://host/api/x", None),
            ("https://host/v2", "https://host/v2", None),
        ] {
            assert_eq!(validate_api_url(given).unwrap(), stored, "{given}");
            assert_eq!(dropped_api_path(given).as_deref(), dropped, "{given}");
        }
    }

    #[test]
    fn logins_in_the_address_are_refused_and_never_echoed() {
        for (given, shown) in [
            ("https://user:s3cret@host:9994", "https://***@host:9994/"),
            ("https://user:p@ss@host:9994/x", "https://***@host:9994/x"),
            ("https://s3cret@host", "https://***@host/"),
        ] {
            let err = validate_api_url(given).unwrap_err().to_string();
            assert!(!err.contains("s3cret") && !err.contains("p@ss"), "{err}");
            assert!(err.contains(&format!("{shown:?}")), "{given}: {err}");
            assert!(err.contains("--user and --password"), "{err}");
        }
        // Not even when the address does not parse.
        for given in [
            "https://user:s3cret@host:99999",
            "user:s3cret@host",
            "user:s3cret@http://host",
        ] {
            let err = validate_api_url(given).unwrap_err().to_string();
            assert!(!err.contains("s3cret"), "{err}");
            assert!(err.contains("--api-url"), "{err}");
        }
        // An `@` after the host is a path, which `url` (and so the request)
        // reads as a path too.
        assert_eq!(
            validate_api_url("http://host:9994/a@b").unwrap(),
            "http://host:9994/a@b"
        );
    }

    #[test]
    fn with_the_key_lost_the_secrets_can_be_given_again_or_the_integration_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lost.db");
        let conn = crate::store::open_file(&path).unwrap();
        for name in ["again", "gone"] {
            add(
                &conn,
                NewIntegration {
                    name: name.into(),
                    api_url: "https://isp.ozmap.com.br:9994".into(),
                    api_key: "KEY-before-the-loss".into(),
                    user: "u".into(),
                    password: "PW-before-the-loss".into(),
                    project_name: None,
                    insecure_http: false,
                },
            )
            .unwrap();
        }
        std::fs::remove_file(dir.path().join("lost.db.key")).unwrap();
        let error = format!("{:#}", get(&conn, "again").unwrap_err());
        assert!(
            error.contains("no key") && error.contains("lost.db.key"),
            "{error}"
        );
        assert!(!error.contains("before-the-loss"), "{error}");

        let changed = update(
            &conn,
            "again",
            Change {
                api_key: Some("KEY-after-the-loss".into()),
                password: Some("PW-after-the-loss".into()),
                ..Change::default()
            },
        )
        .unwrap();
        assert_eq!(changed.password, "PW-after-the-loss");
        let read = get(&conn, "again").unwrap();
        assert_eq!(
            (read.api_key.as_str(), read.password.as_str()),
            ("KEY-after-the-loss", "PW-after-the-loss")
        );
        assert!(
            update(
                &conn,
                "gone",
                Change {
                    user: Some("v".into()),
                    ..Change::default()
                }
            )
            .is_err()
        );
        assert_eq!(remove(&conn, "gone").unwrap().name, "gone");
    }

    #[test]
    fn masking_hides_secrets() {
        assert_eq!(mask("short"), "********");
        let masked = mask("abcdefghijklmnopqrstuvwxyz");
        assert!(!masked.contains("cdefgh"));
        assert!(masked.starts_with("ab"));
    }
}
