//! The [`Auth`] hook every credential scheme implements, and the [`Outgoing`] request it
//! works on.

use std::fmt;

use async_trait::async_trait;
use ferry_model::ConnectorError;
use reqwest::header::HeaderMap;
use reqwest::{Method, Url};

use crate::http::HttpClient;

/// A request about to be sent, as [`Auth::apply`] sees it: the whole of it, because a
/// signature (HMAC, OAuth 1.0a) covers the method, the URL with its query and the body, and
/// some APIs want the token in the query (`?access_token=…`) rather than in a header.
#[derive(Clone)]
#[non_exhaustive]
pub struct Outgoing {
    /// The method.
    pub method: Method,
    /// The full URL, query included. A scheme may add a query parameter.
    pub url: Url,
    /// The headers; a scheme adds its credentials here.
    pub headers: HeaderMap,
    body: Option<Vec<u8>>,
}

impl Outgoing {
    /// A request: method, URL, headers, body.
    pub fn new(method: Method, url: Url, headers: HeaderMap, body: Option<Vec<u8>>) -> Self {
        Self {
            method,
            url,
            headers,
            body,
        }
    }

    /// The body exactly as it will be sent (empty if none). Read-only: a signature covers it.
    pub fn body(&self) -> &[u8] {
        self.body.as_deref().unwrap_or_default()
    }

    pub(crate) fn take_body(&self) -> Option<Vec<u8>> {
        self.body.clone()
    }
}

/// Credentials for one system.
///
/// [`HttpClient`] calls [`Auth::apply`] before every attempt, and [`Auth::refresh`] once
/// when the server refuses the credentials (401 or 403, or a 200 whose body a
/// [`ReplyCheck`](crate::http::ReplyCheck) reads as an expired session); if `refresh`
/// returns `true` the request is sent again with what `apply` then gives. A session-based
/// API logs in lazily in `apply` and logs in again in `refresh` (its login request goes
/// through the same client with [`Call::without_auth`](crate::http::Call::without_auth), so
/// it shares the system's rate limit and quota); a static token has nothing to refresh.
#[async_trait]
pub trait Auth: Send + Sync + fmt::Debug {
    /// Adds the credentials to a request about to be sent: headers, a query parameter, or a
    /// signature over the method, URL and body.
    async fn apply(&self, http: &HttpClient, request: &mut Outgoing) -> Result<(), ConnectorError>;

    /// The server refused the credentials on `rejected` (the request as `apply` left it):
    /// get new ones. Returns whether it is worth sending the request again. Concurrent
    /// requests may all be refused with the same stale credentials: an implementation should
    /// renew them only if `rejected.headers` still holds the current ones, so that one
    /// renewal serves them all.
    async fn refresh(
        &self,
        _http: &HttpClient,
        _rejected: &Outgoing,
    ) -> Result<bool, ConnectorError> {
        Ok(false)
    }

    /// The base URL the credentials point at, when the server named one on issuing them
    /// (the `instance_url` of a Salesforce token reply): calls with credentials are then
    /// joined to it instead of the configured `url`, and may follow absolute links on it.
    /// `None` (the default) until credentials are obtained, and for every scheme whose
    /// server names none. A scheme that names a base does not sign the URL: the client may
    /// move a request onto the base after [`Auth::apply`].
    fn api_base(&self) -> Option<Url> {
        None
    }

    /// Secret values (passwords, keys, tokens issued so far) to scrub from every error
    /// message, in case a server echoes one back. Asked each time a message is scrubbed, so
    /// a token issued later is covered too.
    fn secrets(&self) -> Vec<String> {
        Vec::new()
    }
}

/// No credentials.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoAuth;

#[async_trait]
impl Auth for NoAuth {
    async fn apply(&self, _: &HttpClient, _: &mut Outgoing) -> Result<(), ConnectorError> {
        Ok(())
    }
}
