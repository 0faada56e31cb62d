//! The [`Auth`] hook every credential scheme implements.

use std::fmt;

use async_trait::async_trait;
use ferry_model::ConnectorError;
use reqwest::header::HeaderMap;

use crate::http::HttpClient;

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
