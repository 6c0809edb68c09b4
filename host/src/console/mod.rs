//! The web console: the screens the ISP's staff use in a browser, served by
//! `mapsync serve` on the API's own origin. The assets are embedded in the
//! binary (nothing to build or fetch at run time); every screen talks to
//! the `/api/v1` routes with the token the person signed in with, so the
//! console can do nothing the API would not let its caller do.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

/// Where the console lives; `/` leads there.
pub const ROOT: &str = "/console/";

/// Each asset: its name under `/console/`, its media type, its bytes. The
/// page loads `app.js`, which imports the screens' modules.
const ASSETS: &[(&str, &str, &str)] = &[
    ("", HTML, include_str!("assets/index.html")),
    ("style.css", CSS, include_str!("assets/style.css")),
    ("icon.svg", SVG, include_str!("assets/icon.svg")),
    ("app.js", JS, include_str!("assets/app.js")),
    ("api.js", JS, include_str!("assets/api.js")),
    ("dom.js", JS, include_str!("assets/dom.js")),
    ("i18n.js", JS, include_str!("assets/i18n.js")),
    ("map.js", JS, include_str!("assets/map.js")),
    (
        "integrations.js",
        JS,
        include_str!("assets/integrations.js"),
    ),
    ("network.js", JS, include_str!("assets/network.js")),
    ("services.js", JS, include_str!("assets/services.js")),
    ("matches.js", JS, include_str!("assets/matches.js")),
];
const HTML: &str = "text/html; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const SVG: &str = "image/svg+xml";
const JS: &str = "text/javascript; charset=utf-8";

/// Scripts, styles and requests only from this origin, no inline code, no
/// framing: what the console needs and nothing an injected string could use.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; \
    frame-ancestors 'none'";

pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(|| async { Redirect::permanent(ROOT) }))
        .route("/console", get(|| async { Redirect::permanent(ROOT) }))
        .route(ROOT, get(|| async { asset("") }))
        .route(
            "/console/{name}",
            get(|Path(name): Path<String>| async move { asset(&name) }),
        )
}

/// Whether a request's path is the console's (served without a token: the
/// assets hold no data).
pub fn owns(path: &str) -> bool {
    path == "/" || path == "/console" || path.starts_with(ROOT)
}

fn asset(name: &str) -> Response {
    let Some((_, media, body)) = ASSETS.iter().find(|(n, _, _)| *n == name) else {
        return (StatusCode::NOT_FOUND, "no such file in the console").into_response();
    };
    let mut response = (*body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(media));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    // The assets change with the binary, and are small: never stale.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_console_owns_only_its_paths() {
        assert!(owns("/"));
        assert!(owns("/console/"));
        assert!(owns("/console/app.js"));
        assert!(!owns("/api/v1/integrations"));
        assert!(!owns("/consoles"));
    }

    /// Every `/console/...` a page or module names (an import, a link) is
    /// embedded, and every embedded file is named by something.
    #[test]
    fn every_asset_named_is_embedded() {
        let mut named = std::collections::BTreeSet::new();
        for (_, _, text) in ASSETS {
            for part in text.split("/console/").skip(1) {
                let end = part
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '-'))
                    .unwrap_or(part.len());
                named.insert(&part[..end]);
            }
        }
        let embedded: std::collections::BTreeSet<&str> =
            ASSETS.iter().map(|(name, _, _)| *name).collect();
        for name in &named {
            assert!(
                embedded.contains(name),
                "/console/{name} is named but not embedded"
            );
        }
        for name in &embedded {
            assert!(
                name.is_empty() || named.contains(name),
                "{name} is embedded but never named"
            );
        }
    }

    /// The catalogue holds every key in both languages.
    #[test]
    fn both_languages_have_every_word() {
        let text = include_str!("assets/i18n.js");
        let block = |from: &str, to: &str| {
            let start = text.find(from).unwrap() + from.len();
            keys(&text[start..start + text[start..].find(to).unwrap()])
        };
        let portuguese = block("'pt-BR': {", "\n  },\n  en:");
        let english = block("  en: {", "\n  },\n};");
        assert!(portuguese.len() > 100, "{} keys", portuguese.len());
        assert_eq!(portuguese, english);
    }

    /// Every word a screen asks for by a literal key is in the catalogue.
    #[test]
    fn every_key_asked_for_is_in_the_catalogue() {
        let text = include_str!("assets/i18n.js");
        let start = text.find("'pt-BR': {").unwrap() + 10;
        let catalogue = keys(&text[start..start + text[start..].find("\n  },\n  en:").unwrap()]);
        for (name, _, asset) in ASSETS.iter().filter(|(n, _, _)| n.ends_with(".js")) {
            for call in asset.split("t('").skip(1) {
                let key = &call[..call.find('\'').unwrap()];
                let preceded = asset.contains(&format!(" t('{key}'"))
                    || asset.contains(&format!("(t('{key}'"))
                    || asset.contains(&format!("[t('{key}'"));
                if preceded {
                    assert!(
                        catalogue.binary_search(&key.to_string()).is_ok(),
                        "{name} asks for {key:?}, which the catalogue lacks"
                    );
                }
            }
        }
    }

    /// The keys of an object literal whose values are single-quoted
    /// strings: each token (a quoted string or a bare word) followed by `:`.
    fn keys(object: &str) -> Vec<String> {
        let mut found = Vec::new();
        let mut chars = object.chars().peekable();
        while let Some(c) = chars.next() {
            let token = match c {
                '\'' => {
                    let mut s = String::new();
                    while let Some(c) = chars.next() {
                        match c {
                            '\\' => s.extend(chars.next()),
                            '\'' => break,
                            c => s.push(c),
                        }
                    }
                    s
                }
                c if c.is_ascii_alphabetic() => {
                    let mut s = c.to_string();
                    while let Some(&c) = chars.peek().filter(|c| c.is_ascii_alphanumeric()) {
                        s.push(c);
                        chars.next();
                    }
                    s
                }
                _ => continue,
            };
            while chars.peek().is_some_and(|c| *c == ' ') {
                chars.next();
            }
            if chars.peek() == Some(&':') {
                found.push(token);
            }
        }
        found.sort();
        found
    }
}
