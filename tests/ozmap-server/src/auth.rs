//! API keys and login tokens.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

use crate::clock;
use crate::rng::mix;
use crate::server::ServerConfig;

#[derive(Default)]
pub(crate) struct Auth {
    /// Token to the number of authenticated requests it has made.
    tokens: Mutex<HashMap<String, u64>>,
    logins: AtomicUsize,
    minted: AtomicU64,
}

impl Auth {
    /// A new token when the credentials match the configured user.
    pub(crate) fn login(&self, cfg: &ServerConfig, login: &str, password: &str) -> Option<String> {
        if login != cfg.user || password != cfg.password {
            return None;
        }
        let n = self.minted.fetch_add(1, Ordering::Relaxed) + 1;
        let salt = mix(clock::now_ms() as u64 ^ n.rotate_left(32));
        let token = format!("ozt.{:016x}{:016x}", mix(salt), mix(salt ^ n));
        self.lock().insert(token.clone(), 0);
        self.logins.fetch_add(1, Ordering::Relaxed);
        Some(token)
    }

    pub(crate) fn logins(&self) -> usize {
        self.logins.load(Ordering::Relaxed)
    }

    /// Whether the `Authorization` header (the raw key or token, no scheme)
    /// is accepted; a token use counts towards its expiry.
    pub(crate) fn check(&self, cfg: &ServerConfig, header: Option<&str>) -> bool {
        let Some(given) = header.map(str::trim).filter(|h| !h.is_empty()) else {
            return false;
        };
        if cfg.api_key.as_deref() == Some(given) {
            return true;
        }
        let mut tokens = self.lock();
        let Some(uses) = tokens.get_mut(given) else {
            return false;
        };
        if cfg.token_ttl_requests.is_some_and(|ttl| *uses >= ttl) {
            tokens.remove(given);
            return false;
        }
        *uses += 1;
        true
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, u64>> {
        self.tokens.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
