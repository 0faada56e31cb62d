//! The `auth:` block of an HTTP system: which scheme, with which credentials.

use std::fmt;
use std::sync::Arc;

use ferry_model::config::ConfigIssue;
use reqwest::header::HeaderName;
use schemars::JsonSchema;
use serde::Deserialize;

use super::{Auth, NoAuth, StaticAuth};

/// How a system authenticates, as written under `auth:`. Its `Debug` shows no secret.
#[derive(Clone, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum AuthSettings {
    /// No credentials (an open endpoint, or one behind a network boundary).
    None,
    /// `Authorization: Bearer <token>`: a personal access token or a long-lived API token.
    Bearer {
        /// The token, usually from the environment (`${CRM_TOKEN}`).
        token: String,
    },
    /// HTTP Basic (`Authorization: Basic …`).
    Basic {
        /// User name.
        username: String,
        /// Password, usually from the environment (`${ERP_PASSWORD}`).
        password: String,
    },
    /// A key in a header of its own (`X-Api-Key: <key>`, `Token: <key>`).
    ApiKey {
        /// The header's name (default `X-Api-Key`).
        #[serde(default)]
        header: Option<String>,
        /// The key, usually from the environment (`${API_KEY}`).
        key: String,
    },
}

impl fmt::Debug for AuthSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.scheme())
    }
}

impl AuthSettings {
    /// The scheme's name as written in `type:`.
    pub fn scheme(&self) -> &'static str {
        match self {
            AuthSettings::None => "none",
            AuthSettings::Bearer { .. } => "bearer",
            AuthSettings::Basic { .. } => "basic",
            AuthSettings::ApiKey { .. } => "api_key",
        }
    }

    /// Checks the settings and builds the [`Auth`] to give the system's
    /// [`HttpClient`](crate::http::HttpClient). Issues are relative to the `auth:` map
    /// (prefix them with its key); none quotes a secret.
    pub fn build(&self) -> Result<Arc<dyn Auth>, Vec<ConfigIssue>> {
        let blank = |key: &str, what: &str| {
            vec![ConfigIssue::new(
                [key],
                format!("is empty: give the {what} (e.g. from the environment, `${{NAME}}`)"),
            )]
        };
        let at = |key: &str, e: ferry_model::ConnectorError| {
            vec![ConfigIssue::new([key], e.to_string())]
        };
        let auth: Arc<dyn Auth> = match self {
            AuthSettings::None => Arc::new(NoAuth),
            AuthSettings::Bearer { token } if token.trim().is_empty() => {
                return Err(blank("token", "token"));
            }
            AuthSettings::Bearer { token } => {
                Arc::new(StaticAuth::bearer(token.trim()).map_err(|e| at("token", e))?)
            }
            AuthSettings::Basic { username, .. } if username.trim().is_empty() => {
                return Err(blank("username", "user name"));
            }
            AuthSettings::Basic { username, password } => Arc::new(
                StaticAuth::basic(username.trim(), password).map_err(|e| at("password", e))?,
            ),
            AuthSettings::ApiKey { key, .. } if key.trim().is_empty() => {
                return Err(blank("key", "API key"));
            }
            AuthSettings::ApiKey { header, key } => {
                let name = header.as_deref().unwrap_or("X-Api-Key");
                let name = HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| {
                    vec![ConfigIssue::new(
                        ["header"],
                        format!("`{name}` is not a valid HTTP header name"),
                    )]
                })?;
                Arc::new(
                    StaticAuth::default()
                        .with_header(name, key.trim(), key.trim())
                        .map_err(|e| at("key", e))?,
                )
            }
        };
        Ok(auth)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: serde_json::Value) -> AuthSettings {
        crate::settings::parse(v.as_object().unwrap()).unwrap()
    }

    #[test]
    fn each_scheme_builds_and_debug_hides_the_secret() {
        for v in [
            json!({"type": "none"}),
            json!({"type": "bearer", "token": "t0ps3cret"}),
            json!({"type": "basic", "username": "u", "password": "t0ps3cret"}),
            json!({"type": "api_key", "header": "Token", "key": "t0ps3cret"}),
        ] {
            let settings = parse(v);
            let auth = settings.build().unwrap();
            assert!(!format!("{settings:?}{auth:?}").contains("t0ps3cret"));
            if settings.scheme() != "none" {
                assert_eq!(auth.secrets(), ["t0ps3cret"]);
            }
        }
    }

    #[test]
    fn a_blank_secret_or_a_bad_header_is_reported_at_its_key() {
        let issue = |v| parse(v).build().unwrap_err()[0].dotted();
        assert_eq!(issue(json!({"type": "bearer", "token": " "})), "token");
        assert_eq!(
            issue(json!({"type": "api_key", "key": "k", "header": "a b"})),
            "header"
        );
        let unknown: Result<AuthSettings, _> =
            crate::settings::parse(json!({"type": "kerberos"}).as_object().unwrap());
        assert!(unknown.is_err());
    }
}
