//! The API key check on every call: `Authorization: Bearer <APIKEY>` (dossier §1). Keys do
//! not expire, so sessions and the `ExpireSessions` fault do not apply to this double.

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;

use super::answer::JdyError;

/// Whether the request carries `key` as a bearer token. The scheme compares without case;
/// the key exactly.
pub fn check(headers: &HeaderMap, key: &str) -> Result<(), JdyError> {
    let presented = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_token);
    match presented {
        Some(token) if token == key => Ok(()),
        _ => Err(JdyError::InvalidApiKey),
    }
}

/// The token of a `Bearer <token>` header value.
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn only_the_bearer_key_passes() {
        assert!(check(&headers("Bearer k1"), "k1").is_ok());
        assert!(check(&headers("bearer  k1 "), "k1").is_ok());
        assert!(check(&headers("Bearer k2"), "k1").is_err());
        assert!(check(&headers("Basic k1"), "k1").is_err());
        assert!(check(&headers("Bearer "), "k1").is_err());
        assert!(check(&HeaderMap::new(), "k1").is_err());
    }
}
