//! The component's `log` import: its lines into the host's log.

use crate::component::bindings::log::Level;

/// Longest message or field value kept; the rest is dropped, so a confused
/// component cannot flood the log with one line.
const MAX_TEXT: usize = 8192;

fn bounded(text: &str) -> &str {
    if text.len() <= MAX_TEXT {
        return text;
    }
    let mut end = MAX_TEXT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The fields as `key=value` pairs, in the component's order.
pub fn format_fields(fields: &[(String, String)]) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", bounded(k), bounded(v)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Forward one line to tracing, under the target `mapsync::guest`.
pub fn forward(level: Level, message: &str, fields: &[(String, String)]) {
    let message = bounded(message.trim_end());
    let fields = format_fields(fields);
    match level {
        Level::Debug => tracing::debug!(target: "mapsync::guest", fields, "{message}"),
        Level::Info => tracing::info!(target: "mapsync::guest", fields, "{message}"),
        Level::Warn => tracing::warn!(target: "mapsync::guest", fields, "{message}"),
        Level::Error => tracing::error!(target: "mapsync::guest", fields, "{message}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_keep_their_order_and_long_text_is_cut_on_a_char() {
        let fields = vec![
            ("kind".to_string(), "splitter".to_string()),
            ("created".to_string(), "3".to_string()),
        ];
        assert_eq!(format_fields(&fields), "kind=splitter created=3");
        let long = "é".repeat(MAX_TEXT);
        let cut = bounded(&long);
        assert!(cut.len() <= MAX_TEXT && cut.chars().all(|c| c == 'é'));
    }
}
