//! Text people give and read. What a user names (a project, an
//! integration, a service) is checked at every door by [`check`]: a name
//! is text, never a terminal command, so control characters and bidi
//! overrides are refused, and every kind of text has a documented maximum
//! length. What mapsync prints back from the store or the platform (whose
//! names are input too) goes through [`shown`], which escapes the same
//! characters; an error echoes what it refuses through [`echo`], a short
//! prefix.

use std::fmt;

use anyhow::Result;

use crate::error::invalid;
use crate::refuse;

/// The longest name of a project, an integration or an OZmap project, in
/// characters.
pub const NAME_MAX: usize = 100;
/// The longest OZmap login, in characters.
pub const LOGIN_MAX: usize = 256;
/// The longest API key or password, in bytes: OZmap's keys are JWTs of a
/// few hundred bytes.
pub const SECRET_MAX: usize = 4096;
/// The longest platform address, in bytes.
pub const URL_MAX: usize = 2048;
/// The longest `id_cliente_servico`, in characters.
pub const SERVICE_ID_MAX: usize = 100;
/// The longest other field of a service (name, address, ...), in characters.
pub const SERVICE_FIELD_MAX: usize = 500;
/// How much of a refused value an error echoes, in characters.
pub const ECHO_MAX: usize = 40;

/// Whether `c` acts on a terminal or reorders the text around it: a
/// control character (C0, DEL, C1: escape sequences, a newline that forges
/// a line) or a bidi override, embedding, isolate or mark (which make a
/// name read other than it is).
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
        )
}

/// Refuse `value` (given as `field`, a flag or an API field) when it is
/// blank, longer than `max` characters, or holds a character [`is_unsafe`]; `hint`
/// says what to give instead. A secret is never echoed.
pub fn check(field: &str, value: &str, max: usize, hint: &str) -> Result<()> {
    if value.trim().is_empty() {
        refuse!(invalid(field, format!("{field} is empty: {hint}")));
    }
    if let Some(why) = problem(value, max) {
        refuse!(invalid(field, format!("{field} {why}: {hint}")));
    }
    Ok(())
}

/// What is wrong with `value` as text of at most `max`, if anything:
/// its length, or the first unsafe character and where it is.
pub fn problem(value: &str, max: usize) -> Option<String> {
    // In characters, as JSON Schema's maxLength counts them.
    let length = value.chars().count();
    if length > max {
        return Some(format!(
            "is {length} characters long; at most {max} are taken"
        ));
    }
    value
        .chars()
        .enumerate()
        .find(|(_, c)| is_unsafe(*c))
        .map(|(at, c)| {
            let what = if c.is_control() {
                "a control character"
            } else {
                "a bidi control character"
            };
            format!(
                "holds {what} ({}) at character {} (a stray newline or escape sequence?); names are plain text",
                c.escape_unicode(),
                at + 1
            )
        })
}

/// Text shown on a terminal: every unsafe character escaped as `\u{…}`,
/// the rest as it is.
pub struct Shown<'a>(pub &'a str);

pub fn shown(text: &str) -> Shown<'_> {
    Shown(text)
}

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some((at, c)) = rest.char_indices().find(|(_, c)| is_unsafe(*c)) {
            f.write_str(&rest[..at])?;
            write!(f, "{}", c.escape_unicode())?;
            rest = &rest[at + c.len_utf8()..];
        }
        f.write_str(rest)
    }
}

/// Text of several lines shown on a terminal: as [`shown`], its line
/// breaks kept (an error's list of bad rows).
pub fn shown_lines(text: &str) -> String {
    text.split('\n')
        .map(|line| shown(line).to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// A refused value as an error may echo it: quoted, escaped, and cut to
/// [`ECHO_MAX`] characters with its length said, so that an 8,000
/// character name is not sent back whole.
pub fn echo(value: &str) -> String {
    let count = value.chars().count();
    if count <= ECHO_MAX {
        return format!("{:?}", value);
    }
    let prefix: String = value.chars().take(ECHO_MAX).collect();
    format!("{:?}… ({count} characters)", prefix)
}

/// JSON text with the unsafe characters serde leaves as they are (DEL,
/// C1, bidi; it escapes C0 itself) written as `\uXXXX`: the same document,
/// safe to print. They can only stand inside strings, where the escape
/// means the same character; the line breaks and indents of pretty JSON
/// stand outside them and stay.
pub fn json_shown(json: &str) -> std::borrow::Cow<'_, str> {
    let escaped = |c: char| is_unsafe(c) && !matches!(c, '\n' | '\r' | '\t');
    if !json.chars().any(escaped) {
        return json.into();
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if escaped(c) {
            // Every unsafe character is in the Basic Multilingual Plane.
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    out.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_newlines_bidi_and_c1_are_refused() {
        for bad in [
            "Proj\u{1b}[2J\u{1b}[31m",
            "a\nerror: forged",
            "\u{1b}]0;title\u{7}",
            "invoice\u{202E}fdp.exe",
            "x\u{2066}y",
            "csi\u{9b}2J",
            "del\u{7f}",
        ] {
            let error = check("name", bad, NAME_MAX, "a plain name")
                .unwrap_err()
                .to_string();
            assert!(error.contains("control character"), "{bad:?}: {error}");
            assert!(!error.chars().any(is_unsafe), "{error:?}");
        }
        assert!(check("name", "Centro – Fibra Ótica", NAME_MAX, "").is_ok());
    }

    #[test]
    fn lengths_are_bounded_and_echoes_short() {
        let long = "x".repeat(NAME_MAX + 1);
        let error = check("name", &long, NAME_MAX, "shorter")
            .unwrap_err()
            .to_string();
        assert!(error.contains("101 characters"), "{error}");
        assert!(error.len() < 200, "{error}");
        let echoed = echo(&"y".repeat(8000));
        assert!(
            echoed.len() < 80 && echoed.contains("8000 characters"),
            "{echoed}"
        );
        assert_eq!(echo("short"), "\"short\"");
        assert!(check("api_key", &"k".repeat(SECRET_MAX + 1), SECRET_MAX, "").is_err());
    }

    #[test]
    fn shown_text_escapes_what_acts_on_a_terminal() {
        assert_eq!(
            shown("Proj\u{1b}[2J\nx\u{202E}y").to_string(),
            "Proj\\u{1b}[2J\\u{a}x\\u{202e}y"
        );
        assert_eq!(shown("São José").to_string(), "São José");
        let json = serde_json::to_string_pretty(&["a\u{9b}b\u{202e}c\u{1b}\n"]).unwrap();
        let safe = json_shown(&json);
        assert!(!safe.chars().any(|c| is_unsafe(c) && c != '\n'), "{safe}");
        let back: Vec<String> = serde_json::from_str(&safe).unwrap();
        assert_eq!(back, ["a\u{9b}b\u{202e}c\u{1b}\n"]);
    }
}
