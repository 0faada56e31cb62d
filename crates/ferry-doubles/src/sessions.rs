//! Sessions and access tokens a double hands out.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// What a presented session id or token is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionState {
    /// Issued and still alive; carries who it was issued to.
    Valid(String),
    /// Issued, but its lifetime ran out or a test expired it.
    Expired,
    /// Never issued by this double (or forgotten by a reset).
    Unknown,
}

#[derive(Debug)]
struct Session {
    subject: String,
    expires: Instant,
}

/// The live sessions and tokens of a double. The double's auth layer asks it about every
/// request and answers an expired one the way its vendor does. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct SessionBook {
    sessions: Arc<Mutex<HashMap<String, Session>>>,
}

impl SessionBook {
    /// Issues a new random token for `subject`, alive for `ttl`.
    pub fn issue(&self, subject: &str, ttl: Duration) -> String {
        let bytes: [u8; 18] = rand::random();
        let token = bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
        self.lock().insert(
            token.clone(),
            Session {
                subject: subject.to_owned(),
                expires: Instant::now() + ttl,
            },
        );
        token
    }

    /// The state of a presented token.
    pub fn check(&self, token: &str) -> SessionState {
        match self.lock().get(token) {
            Some(s) if Instant::now() < s.expires => SessionState::Valid(s.subject.clone()),
            Some(_) => SessionState::Expired,
            None => SessionState::Unknown,
        }
    }

    /// Gives a live session `ttl` more from now (a session with an idle lifetime, renewed
    /// by each use); an expired or unknown one stays as it is.
    pub fn renew(&self, token: &str, ttl: Duration) {
        let now = Instant::now();
        if let Some(s) = self.lock().get_mut(token).filter(|s| now < s.expires) {
            s.expires = now + ttl;
        }
    }

    /// Ends every session now; they answer as expired from here on.
    pub fn expire_all(&self) {
        let now = Instant::now();
        for session in self.lock().values_mut() {
            session.expires = now;
        }
    }

    /// Ends one session (a logout).
    pub fn end(&self, token: &str) {
        if let Some(s) = self.lock().get_mut(token) {
            s.expires = Instant::now();
        }
    }

    /// Forgets every session.
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// How many sessions were issued and not forgotten.
    pub fn issued(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Session>> {
        self.sessions.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_valid_until_their_lifetime_ends_or_all_expire() {
        let book = SessionBook::default();
        let long = book.issue("alice", Duration::from_secs(60));
        let short = book.issue("bob", Duration::ZERO);
        assert_ne!(long, short);
        assert_eq!(book.check(&long), SessionState::Valid("alice".into()));
        assert_eq!(book.check(&short), SessionState::Expired);
        assert_eq!(book.check("nope"), SessionState::Unknown);
        book.expire_all();
        assert_eq!(book.check(&long), SessionState::Expired);
    }
}
