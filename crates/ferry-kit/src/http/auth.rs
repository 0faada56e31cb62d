//! How a connector puts its credentials on requests: the [`Auth`] hook, and [`StaticAuth`]
//! for fixed headers (API tokens, bearer tokens).

use std::fmt;

use async_trait::async_trait;
use ferry_model::ConnectorError;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};

use super::HttpClient;

/// Credentials for one system.
///
/// [`HttpClient`] calls [`Auth::apply`] before every attempt, and [`Auth::refresh`] once
/// when the server answers 401 or 403; if `refresh` returns `true` the request is sent again
/// with the headers `apply` then gives. A session-based API logs in lazily in `apply` and
/// logs in again in `refresh` (its login request goes through the same client with
/// [`Call::without_auth`](super::Call::without_auth), so it shares the system's rate limit
/// and quota); a static token has nothing to refresh.
#[async_trait]
pub trait Auth: Send + Sync + fmt::Debug {
    /// Adds the credentials to the headers of a request about to be sent.
    async fn apply(&self, http: &HttpClient, headers: &mut HeaderMap)
    -> Result<(), ConnectorError>;

    /// The server refused the credentials in `rejected` (the headers `apply` set): get new
    /// ones. Returns whether it is worth sending the request again. Concurrent requests may
    /// all be refused with the same stale credentials: an implementation should renew them
    /// only if `rejected` still holds the current ones.
    async fn refresh(
        &self,
        _http: &HttpClient,
        _rejected: &HeaderMap,
    ) -> Result<bool, ConnectorError> {
        Ok(false)
    }

    /// Secret values (passwords, tokens) to scrub from every error message, in case a server
    /// echoes one back.
    fn secrets(&self) -> Vec<String> {
        Vec::new()
    }
}

/// No credentials.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoAuth;

#[async_trait]
impl Auth for NoAuth {
    async fn apply(&self, _: &HttpClient, _: &mut HeaderMap) -> Result<(), ConnectorError> {
        Ok(())
    }
}

/// Fixed headers on every request: `Authorization: Bearer <token>`, an API-key header, or
/// both. Nothing to refresh: a refused token is an [`ErrorKind::Auth`](ferry_model::ErrorKind)
/// error for an operator to fix.
#[derive(Clone, Default)]
pub struct StaticAuth {
    headers: Vec<(HeaderName, HeaderValue)>,
    secrets: Vec<String>,
}

impl StaticAuth {
    /// `Authorization: Bearer <token>`.
    pub fn bearer(token: &str) -> Result<Self, ConnectorError> {
        Self::default().with_header(AUTHORIZATION, &format!("Bearer {token}"), token)
    }

    /// Adds `name: value`; `secret` (the part of `value` that is secret) is scrubbed from
    /// messages.
    pub fn with_header(
        mut self,
        name: HeaderName,
        value: &str,
        secret: &str,
    ) -> Result<Self, ConnectorError> {
        let mut value = HeaderValue::from_str(value).map_err(|_| {
            ConnectorError::fatal(format!(
                "the `{name}` credential holds characters not allowed in an HTTP header"
            ))
        })?;
        value.set_sensitive(true);
        self.headers.push((name, value));
        if !secret.is_empty() {
            self.secrets.push(secret.to_owned());
        }
        Ok(self)
    }
}

impl fmt::Debug for StaticAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("StaticAuth")
            .field("headers", &names)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Auth for StaticAuth {
    async fn apply(&self, _: &HttpClient, headers: &mut HeaderMap) -> Result<(), ConnectorError> {
        for (name, value) in &self.headers {
            headers.insert(name.clone(), value.clone());
        }
        Ok(())
    }

    fn secrets(&self) -> Vec<String> {
        self.secrets.clone()
    }
}
