//! Log lines for the host, through the `log` import (the component has no
//! stdout of its own). Never given a secret: the host may print lines as
//! they are.

/// How much a line matters; the WIT `log.level`.
// `Error` is for the panic hook, which only the component sets.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

/// Where a line goes: the host's `log` import, which the bindings set at
/// an export's entry (so the logic never reaches into them). Natively (the
/// unit tests) there is no host, and nothing to tell.
type Sink = fn(Level, &str, &[(&str, &str)]);
static SINK: std::sync::OnceLock<Sink> = std::sync::OnceLock::new();

#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
pub fn set_sink(sink: Sink) {
    let _ = SINK.set(sink);
}

/// One line with its key/value fields.
pub fn emit(level: Level, message: &str, fields: &[(&str, &str)]) {
    if let Some(sink) = SINK.get() {
        sink(level, message, fields);
    }
}

macro_rules! log_warn {
    ($($arg:tt)*) => { $crate::log::emit($crate::log::Level::Warn, &format!($($arg)*), &[]) };
}

pub(crate) use log_warn as warn;

/// What a panic says, for the host: the message and where it happened.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
pub fn panic_message(info: &std::panic::PanicHookInfo<'_>) -> String {
    let what = info
        .payload()
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| info.payload().downcast_ref::<String>().map(String::as_str))
        .unwrap_or("no message");
    match info.location() {
        Some(at) => format!(
            "the component panicked at {}:{}: {what}",
            at.file(),
            at.line()
        ),
        None => format!("the component panicked: {what}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[test]
    fn a_panic_message_says_what_and_where() {
        let seen = Arc::new(Mutex::new(String::new()));
        let keep = seen.clone();
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            *keep.lock().unwrap() = panic_message(info)
        }));
        let _ = std::panic::catch_unwind(|| panic!("page {} lost", 3));
        std::panic::set_hook(previous);
        let seen = seen.lock().unwrap().clone();
        assert!(seen.starts_with("the component panicked at "), "{seen}");
        assert!(
            seen.contains("log.rs:") && seen.ends_with(": page 3 lost"),
            "{seen}"
        );
    }
}
