//! Console sessions: an API key logs in once; the browser then holds only a random session
//! id in an `HttpOnly; SameSite=Strict` cookie, so the key never sits in a page or in
//! JavaScript's reach, and a form posted from another site carries no session.
//!
//! Sessions live in memory (a restart logs everyone out), at most [`MAX_SESSIONS`] of them;
//! expired ones are swept whenever one is created, and the oldest is dropped when full. Each
//! keeps its key's token *hash*, and every page looks the key up again through
//! [`crate::auth::authenticate`], so revoking a key ends its sessions at once and the key's
//! rate limit applies to the console too. Each session has its own CSRF token that every
//! form posts back ([`Session::check_csrf`]).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use subtle::ConstantTimeEq;

use super::ConsoleError;
use crate::AppState;
use crate::auth::{self, Caller};

/// The cookie's name.
pub const COOKIE: &str = "ferry_session";
/// How long a session lasts after login.
pub const SESSION_TTL: Duration = Duration::from_secs(8 * 60 * 60);
/// At most this many sessions are kept.
pub const MAX_SESSIONS: usize = 1000;

/// One logged-in browser.
#[derive(Debug, Clone)]
struct Entry {
    token_hash: String,
    csrf: String,
    expires: Instant,
}

/// The sessions of a server, and the bound on audit entries of failed logins.
#[derive(Debug, Default)]
pub struct Sessions {
    map: Mutex<HashMap<String, Entry>>,
    /// Failed logins are audited, at a bounded rate ([`crate::audit::Throttle`]).
    pub failed_logins: crate::audit::Throttle,
}

fn random_hex() -> String {
    let bytes: [u8; 32] = rand::random();
    hex::encode(bytes)
}

impl Sessions {
    /// Starts a session for a key (by its token hash); returns the session id.
    pub fn create(&self, token_hash: String) -> String {
        let id = random_hex();
        let now = Instant::now();
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, e| e.expires > now);
        if map.len() >= MAX_SESSIONS
            && let Some(oldest) = map
                .iter()
                .min_by_key(|(_, e)| e.expires)
                .map(|(k, _)| k.clone())
        {
            map.remove(&oldest);
        }
        map.insert(
            id.clone(),
            Entry {
                token_hash,
                csrf: random_hex(),
                expires: now + SESSION_TTL,
            },
        );
        id
    }

    /// Ends a session.
    pub fn remove(&self, id: &str) {
        self.map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
    }

    fn get(&self, id: &str) -> Option<Entry> {
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.get(id).filter(|e| e.expires > Instant::now()).cloned()
    }

    /// Sessions held now (expired ones included until the next sweep).
    pub fn len(&self) -> usize {
        self.map.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether none are held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A request from a logged-in browser: the caller (looked up again now) and the session's
/// CSRF token. Without a valid session, pages redirect to the login form.
#[derive(Debug)]
pub struct Session {
    /// The session id.
    pub id: String,
    /// Who is logged in.
    pub caller: Caller,
    /// The token every form of this session must post back.
    pub csrf: String,
}

impl Session {
    /// 403 unless `posted` is this session's CSRF token (compared in constant time).
    pub fn check_csrf(&self, posted: &str) -> Result<(), ConsoleError> {
        if bool::from(posted.as_bytes().ct_eq(self.csrf.as_bytes())) {
            Ok(())
        } else {
            Err(ConsoleError::Csrf)
        }
    }
}

/// The client address of the connection, for handlers that have no session yet (login).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub Option<std::net::IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(auth::client_addr(parts)))
    }
}

/// The session id in the request's cookies.
pub fn cookie_value(parts: &Parts) -> Option<String> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_owned())
}

/// The `Set-Cookie` value for a session (`Secure` when served over TLS).
pub fn set_cookie(id: &str, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!(
        "{COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{secure}",
        SESSION_TTL.as_secs()
    )
}

/// The `Set-Cookie` value that deletes the session cookie.
pub fn clear_cookie(secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0{secure}")
}

impl FromRequestParts<AppState> for Session {
    type Rejection = ConsoleError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ConsoleError> {
        let id = cookie_value(parts).ok_or(ConsoleError::LoggedOut)?;
        let entry = state.sessions.get(&id).ok_or(ConsoleError::LoggedOut)?;
        let caller =
            match auth::authenticate(state, &entry.token_hash, auth::client_addr(parts)).await {
                Ok(caller) => caller,
                Err(crate::ApiError::BadKey) => {
                    state.sessions.remove(&id);
                    return Err(ConsoleError::LoggedOut);
                }
                Err(e) => return Err(e.into()),
            };
        Ok(Session {
            id,
            caller,
            csrf: entry.csrf,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_are_random_bounded_and_removable() {
        let sessions = Sessions::default();
        let a = sessions.create("h".into());
        let b = sessions.create("h".into());
        assert_ne!(a, b);
        assert_ne!(
            sessions.get(&a).unwrap().csrf,
            sessions.get(&b).unwrap().csrf
        );
        sessions.remove(&a);
        assert!(sessions.get(&a).is_none());
        for _ in 0..MAX_SESSIONS + 5 {
            sessions.create("h".into());
        }
        assert_eq!(sessions.len(), MAX_SESSIONS);
    }

    #[test]
    fn the_cookie_is_http_only_and_strict() {
        let c = set_cookie("abc", true);
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict") && c.ends_with("Secure"));
        assert!(!set_cookie("abc", false).contains("Secure"));
    }
}
