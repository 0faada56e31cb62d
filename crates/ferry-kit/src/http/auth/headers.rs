//! Fixed credential headers: bearer tokens, API-key headers, HTTP Basic.

use std::fmt;

use async_trait::async_trait;
use base64::Engine as _;
use ferry_model::ConnectorError;
use reqwest::header::{AUTHORIZATION, HeaderName, HeaderValue};

use super::{Auth, Outgoing};
use crate::http::HttpClient;

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

    /// `Authorization: Basic base64(user:password)` (RFC 7617).
    pub fn basic(user: &str, password: &str) -> Result<Self, ConnectorError> {
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        Self::default().with_header(AUTHORIZATION, &format!("Basic {encoded}"), password)
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
    async fn apply(&self, _: &HttpClient, request: &mut Outgoing) -> Result<(), ConnectorError> {
        for (name, value) in &self.headers {
            request.headers.insert(name.clone(), value.clone());
        }
        Ok(())
    }

    fn secrets(&self) -> Vec<String> {
        self.secrets.clone()
    }
}
