//! The OAuth 2.0 client credentials and refresh token grants (RFC 6749 §4.4, §6).

use std::sync::Arc;
use std::sync::Mutex;

use ferry_model::ConnectorError;
use ferry_model::config::ConfigIssue;
use schemars::JsonSchema;
use serde::Deserialize;

use super::Auth;
use super::settings::Issues;
use super::token::{Grant, OAuth2, OAuth2Client};

/// Where the client id and secret go in a token request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuth {
    /// `client_id` and `client_secret` in the form body (what most providers accept).
    #[default]
    Body,
    /// `Authorization: Basic` (the RFC's preferred way; some providers require it).
    Basic,
}

/// `type: oauth2_client_credentials`: a machine-to-machine token (Dynamics 365, SAP,
/// Salesforce's client credentials flow).
#[derive(Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientCredentialsSettings {
    /// The token endpoint: a full URL, or a path under the system's `url`.
    pub token_url: String,
    /// The client id.
    pub client_id: String,
    /// The client secret, usually from the environment.
    pub client_secret: String,
    /// The scopes to ask for, space-separated (Dynamics: `https://org.crm.dynamics.com/.default`).
    #[serde(default)]
    pub scope: Option<String>,
    /// The API the token is for, for providers that want an `audience` (Auth0).
    #[serde(default)]
    pub audience: Option<String>,
    /// Where the client id and secret go: `body` (default) or `basic`.
    #[serde(default)]
    pub client_auth: ClientAuth,
}

/// `type: oauth2_refresh_token`: a token obtained once by a person (authorization code)
/// and renewed from its refresh token.
///
/// A provider that rotates refresh tokens sends a new one with each access token; it is
/// kept **in memory only** and used for the next renewal. It is not written back to the
/// configuration: after a restart the configured token is used again, which a rotating
/// provider refuses once it has issued a newer one. With such a provider, give Ferry a
/// refresh token that does not rotate, or authorize again and update the secret after a
/// restart (the refusal is an `auth` error naming the token URL).
#[derive(Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshTokenSettings {
    /// The token endpoint: a full URL, or a path under the system's `url`.
    pub token_url: String,
    /// The client id.
    pub client_id: String,
    /// The client secret; none for a public client.
    #[serde(default)]
    pub client_secret: Option<String>,
    /// The refresh token, usually from the environment.
    pub refresh_token: String,
}

struct ClientCredentials {
    scope: Option<String>,
    audience: Option<String>,
}

impl Grant for ClientCredentials {
    fn name(&self) -> &'static str {
        "client_credentials"
    }
    fn fields(&self) -> Result<Vec<(&'static str, String)>, ConnectorError> {
        let mut fields = vec![("grant_type", "client_credentials".to_owned())];
        fields.extend(self.scope.clone().map(|s| ("scope", s)));
        fields.extend(self.audience.clone().map(|a| ("audience", a)));
        Ok(fields)
    }
    fn secrets(&self) -> Vec<String> {
        Vec::new()
    }
}

struct RefreshToken {
    configured: String,
    current: Mutex<String>,
}

impl RefreshToken {
    fn current(&self) -> String {
        self.current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl Grant for RefreshToken {
    fn name(&self) -> &'static str {
        "refresh_token"
    }
    fn fields(&self) -> Result<Vec<(&'static str, String)>, ConnectorError> {
        Ok(vec![
            ("grant_type", "refresh_token".to_owned()),
            ("refresh_token", self.current()),
        ])
    }
    fn repeatable(&self) -> bool {
        false
    }
    fn rotated(&self, refresh_token: &str) {
        if !refresh_token.is_empty() {
            refresh_token.clone_into(&mut self.current.lock().unwrap_or_else(|p| p.into_inner()));
        }
    }
    fn secrets(&self) -> Vec<String> {
        vec![self.configured.clone(), self.current()]
    }
}

fn blank_none(value: Option<&String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

impl ClientCredentialsSettings {
    /// Checks the settings and builds the [`Auth`].
    pub fn build(&self) -> Result<Arc<dyn Auth>, Vec<ConfigIssue>> {
        let mut issues = Issues::default();
        issues.url("token_url", &self.token_url);
        issues.required("client_id", &self.client_id, "client id");
        issues.required("client_secret", &self.client_secret, "client secret");
        issues.finish()?;
        let client = OAuth2Client {
            id: self.client_id.trim().to_owned(),
            secret: Some(self.client_secret.trim().to_owned()),
            basic: self.client_auth == ClientAuth::Basic,
        };
        let grant = ClientCredentials {
            scope: blank_none(self.scope.as_ref()),
            audience: blank_none(self.audience.as_ref()),
        };
        Ok(Arc::new(OAuth2::new(
            self.token_url.trim(),
            Some(client),
            Box::new(grant),
        )))
    }
}

impl RefreshTokenSettings {
    /// Checks the settings and builds the [`Auth`].
    pub fn build(&self) -> Result<Arc<dyn Auth>, Vec<ConfigIssue>> {
        let mut issues = Issues::default();
        issues.url("token_url", &self.token_url);
        issues.required("client_id", &self.client_id, "client id");
        issues.required("refresh_token", &self.refresh_token, "refresh token");
        issues.finish()?;
        let client = OAuth2Client {
            id: self.client_id.trim().to_owned(),
            secret: blank_none(self.client_secret.as_ref()),
            basic: false,
        };
        let token = self.refresh_token.trim().to_owned();
        let grant = RefreshToken {
            current: Mutex::new(token.clone()),
            configured: token,
        };
        Ok(Arc::new(OAuth2::new(
            self.token_url.trim(),
            Some(client),
            Box::new(grant),
        )))
    }
}
