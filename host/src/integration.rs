//! Integrations: one platform account feeding the store, its settings
//! validated on the way in and its secrets kept out of every output.

use anyhow::{Context, Result, bail};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use crate::db;

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
}

// Debug by hand so a stray `{:?}` can never print a secret.
impl std::fmt::Debug for Integration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Integration")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("api_url", &self.api_url)
            .field("project_name", &self.project_name)
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
}

impl Integration {
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

/// The normalised `api_url`: scheme, host, optional port and path prefix,
/// without a trailing slash, and without the API's own path (see
/// `dropped_api_path`).
pub fn validate_api_url(raw: &str) -> Result<String> {
    let raw = raw.trim();
    let hint = "give the scheme and host, e.g. https://yourisp.ozmap.com.br:9994";
    let mut url = url::Url::parse(raw).map_err(|e| {
        anyhow::anyhow!(
            "--api-url {:?} is not a valid URL ({e}): {hint}",
            redacted(raw)
        )
    })?;
    // Checked first, so every later message may echo the address. `url`
    // reads a login only before the host (`https://user:pw@host`); an `@`
    // after the first `/` is part of the path.
    if !url.username().is_empty() || url.password().is_some() {
        let _ = url.set_username("");
        let _ = url.set_password(None);
        let shown = url.as_str().replacen("://", "://***@", 1);
        bail!(
            "--api-url {shown:?} holds a login before the host (hidden here): give the address alone, \
             and the login as --user and --password"
        );
    }
    // Not a web address, a login may read as scheme and path
    // (`user:pw@host`): hidden as when it does not parse.
    let web =
        matches!(url.scheme(), "http" | "https") && url.host_str().is_some_and(|h| !h.is_empty());
    let shown = if web { raw.to_string() } else { redacted(raw) };
    if !matches!(url.scheme(), "http" | "https") {
        bail!("--api-url {shown:?} must start with https:// or http://: {hint}");
    }
    if url.host_str().is_none_or(str::is_empty) {
        bail!("--api-url {shown:?} has no host: {hint}");
    }
    if url.query().is_some() || url.fragment().is_some() {
        bail!(
            "--api-url {shown:?} must hold only the scheme, host, port and path (no query or fragment): {hint}"
        );
    }
    if let Some(dropped) = api_path(url.path()).map(str::len) {
        let path = url.path().trim_end_matches('/');
        let kept = path[..path.len() - dropped].to_string();
        url.set_path(&kept);
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
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

fn required(flag: &str, value: &str, hint: &str) -> Result<()> {
    if value.trim().is_empty() {
        bail!("{flag} is empty: {hint}");
    }
    if value.chars().any(char::is_control) {
        bail!("{flag} holds control characters (a stray newline?): {hint}");
    }
    Ok(())
}

pub fn add(conn: &Connection, new: NewIntegration) -> Result<Integration> {
    required(
        "--name",
        &new.name,
        "name the integration, e.g. \"ozmap-centro\"",
    )?;
    let api_url = validate_api_url(&new.api_url)?;
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
        bail!("an integration named {:?} already exists", new.name);
    }
    let integration = Integration {
        id: new_id(),
        name: new.name.trim().to_string(),
        api_url,
        api_key: new.api_key.trim().to_string(),
        user: new.user.trim().to_string(),
        password: new.password,
        project_name: new.project_name,
        created_at: db::now(),
        project_id: None,
        detached_at: None,
    };
    conn.execute(
        "INSERT INTO integrations (id, name, api_url, api_key, user, password, project_name, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            integration.id,
            integration.name,
            integration.api_url,
            integration.api_key,
            integration.user,
            integration.password,
            integration.project_name,
            integration.created_at
        ],
    )
    .context("saving the integration")?;
    Ok(integration)
}

fn new_id() -> String {
    let bytes: [u8; 8] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

const COLUMNS: &str =
    "id, name, api_url, api_key, user, password, project_name, created_at, project_id, detached_at";

fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Integration> {
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
    })
}

pub fn find(conn: &Connection, name: &str) -> Result<Option<Integration>> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM integrations WHERE name = ?1"),
            [name.trim()],
            from_row,
        )
        .optional()?)
}

/// The integration named `name`, or an error listing the ones that exist.
pub fn get(conn: &Connection, name: &str) -> Result<Integration> {
    if let Some(found) = find(conn, name)? {
        return Ok(found);
    }
    let names: Vec<String> = list(conn)?.into_iter().map(|i| i.name).collect();
    if names.is_empty() {
        bail!(
            "no integration named {name:?}: none exists yet (add one with `mapsync integration add`)"
        );
    }
    bail!(
        "no integration named {name:?}; integrations: {}",
        names.join(", ")
    )
}

pub fn list(conn: &Connection) -> Result<Vec<Integration>> {
    let mut stmt = conn.prepare(&format!("SELECT {COLUMNS} FROM integrations ORDER BY name"))?;
    let rows = stmt
        .query_map([], from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
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
}

/// Change an integration's settings, checked as `add` checks them.
pub fn update(conn: &Connection, name: &str, change: Change) -> Result<Integration> {
    let mut integration = get(conn, name)?;
    if let Some(api_url) = &change.api_url {
        integration.api_url = validate_api_url(api_url)?;
    }
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
    conn.execute(
        "UPDATE integrations SET api_url = ?2, api_key = ?3, user = ?4, password = ?5, project_name = ?6,
             sync_time = ?7
         WHERE id = ?1",
        params![
            integration.id,
            integration.api_url,
            integration.api_key,
            integration.user,
            integration.password,
            integration.project_name,
            sync_time
        ],
    )
    .context("saving the integration")?;
    Ok(integration)
}

/// The integration's daily sync time, `HH:MM` in São Paulo time.
pub fn sync_time(conn: &Connection, id: &str) -> Result<String> {
    Ok(conn.query_row(
        "SELECT sync_time FROM integrations WHERE id = ?1",
        [id],
        |r| r.get(0),
    )?)
}

pub fn remove(conn: &Connection, name: &str) -> Result<Integration> {
    let integration = get(conn, name)?;
    if integration.project_id.is_some() && integration.detached_at.is_none() {
        let project: String = conn.query_row(
            "SELECT name FROM projects WHERE id = ?1",
            [integration.project_id],
            |r| r.get(0),
        )?;
        bail!(
            "integration {:?} feeds project {project:?}: remove it from there with `mapsync project remove-integration {project:?}`",
            integration.name
        );
    }
    let bindings: i64 = conn.query_row(
        "SELECT count(*) FROM bindings WHERE integration_id = ?1",
        [&integration.id],
        |r| r.get(0),
    )?;
    if bindings > 0 {
        bail!(
            "integration {:?} still has {bindings} binding(s) to its ports; unbind them first",
            integration.name
        );
    }
    conn.execute("DELETE FROM integrations WHERE id = ?1", [&integration.id])?;
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
        ] {
            let err = validate_api_url(bad).unwrap_err().to_string();
            assert!(err.contains("--api-url"), "{bad}: {err}");
        }
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
    fn masking_hides_secrets() {
        assert_eq!(mask("short"), "********");
        let masked = mask("abcdefghijklmnopqrstuvwxyz");
        assert!(!masked.contains("cdefgh"));
        assert!(masked.starts_with("ab"));
    }
}
