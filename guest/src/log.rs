//! Log lines for the host: stdout is information, stderr a warning (the
//! host forwards both to its log). Never given a secret.

macro_rules! log_info {
    ($($arg:tt)*) => { println!($($arg)*) };
}

macro_rules! log_warn {
    ($($arg:tt)*) => { eprintln!($($arg)*) };
}

pub(crate) use {log_info as info, log_warn as warn};
