//! The `auth:` block of an HTTP system: which scheme, with which credentials.

use std::fmt;
use std::sync::Arc;

use ferry_model::config::ConfigIssue;
use reqwest::header::HeaderName;
use schemars::JsonSchema;
use serde::Deserialize;

use super::{
    Auth, ClientCredentialsSettings, HmacSettings, JwtBearerSettings, NetSuiteSettings, NoAuth,
    RefreshTokenSettings, SessionSettings, StaticAuth,
};

/// How a system authenticates, as written under `auth:`. Its `Debug` shows no secret.
///
/// ```yaml
/// # Fixed credentials.
/// auth: { type: bearer, token: "${CRM_TOKEN}" }
/// auth: { type: basic, username: integration, password: "${ERP_PASSWORD}" }
/// auth: { type: api_key, header: X-Api-Key, key: "${API_KEY}" }
///
/// # OAuth 2.0 client credentials (Dynamics 365, SAP, Salesforce): a token fetched on the
/// # first request, kept until shortly before `expires_in`, renewed once after a 401.
/// auth:
///   type: oauth2_client_credentials
///   token_url: https://login.microsoftonline.com/<tenant>/oauth2/v2.0/token
///   client_id: "${D365_CLIENT_ID}"
///   client_secret: "${D365_CLIENT_SECRET}"
///   scope: https://acme.crm.dynamics.com/.default
///   client_auth: body            # or basic (Authorization: Basic id:secret)
///
/// # OAuth 2.0 refresh token (HubSpot): a rotated refresh token is kept in memory only.
/// auth:
///   type: oauth2_refresh_token
///   token_url: https://api.hubapi.com/oauth/v1/token
///   client_id: "${HUBSPOT_CLIENT_ID}"
///   client_secret: "${HUBSPOT_CLIENT_SECRET}"
///   refresh_token: "${HUBSPOT_REFRESH_TOKEN}"
///
/// # OAuth 2.0 JWT bearer (Salesforce server-to-server): an RS256 assertion signed with the
/// # key whose certificate is on the connected app.
/// auth:
///   type: jwt_bearer
///   token_url: https://login.salesforce.com/services/oauth2/token
///   issuer: "${SF_CONSUMER_KEY}"
///   subject: integration@acme.example
///   audience: https://login.salesforce.com
///   private_key: "${SF_PRIVATE_KEY}"   # PEM; `\n` escapes are read as line breaks
///   # key_id: cert-1                   # algorithm: RS256 (default), RS384, RS512, PS256
///
/// # HMAC request signing, for APIs with a signature scheme of their own.
/// auth:
///   type: hmac
///   key_id: ferry
///   secret: "${SIGNING_SECRET}"
///   algorithm: sha256                  # or sha1
///   string_to_sign: "{method}\n{path}\n{query}\n{timestamp}\n{nonce}\n{body_sha256}"
///   header: Authorization
///   value: "HMAC {key_id}:{signature}"
///   encoding: base64                   # or hex
///   timestamp: seconds                 # or millis, rfc3339
///   timestamp_header: X-Timestamp
///   nonce_header: X-Nonce
///
/// # NetSuite Token-Based Authentication (OAuth 1.0a, HMAC-SHA256).
/// auth:
///   type: netsuite_tba
///   account: 1234567-sb1                # realm 1234567_SB1
///   consumer_key: "${NS_CONSUMER_KEY}"
///   consumer_secret: "${NS_CONSUMER_SECRET}"
///   token_id: "${NS_TOKEN_ID}"
///   token_secret: "${NS_TOKEN_SECRET}"
///
/// # Session login: a token from the reply (or `cookies: [kdservice-sessionid]`), logged in
/// # again once when the session is refused.
/// auth:
///   type: session
///   login_url: /api/login
///   username: sync
///   password: "${ERP_PASSWORD}"
///   body: { user: "{username}", pass: "{password}" }
///   token_path: /data/token
///   header: X-Token
///   format: "Token {token}"
/// ```
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
    /// OAuth 2.0 client credentials: a machine-to-machine access token.
    #[serde(rename = "oauth2_client_credentials")]
    OAuth2ClientCredentials(ClientCredentialsSettings),
    /// OAuth 2.0 refresh token: access tokens renewed from a refresh token.
    #[serde(rename = "oauth2_refresh_token")]
    OAuth2RefreshToken(RefreshTokenSettings),
    /// OAuth 2.0 JWT bearer: access tokens obtained with an assertion signed by a private key.
    JwtBearer(JwtBearerSettings),
    /// Every request signed with a shared secret (HMAC).
    Hmac(HmacSettings),
    /// NetSuite Token-Based Authentication (OAuth 1.0a, HMAC-SHA256).
    NetsuiteTba(NetSuiteSettings),
    /// A session opened by logging in with a user name and password.
    Session(SessionSettings),
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
            AuthSettings::OAuth2ClientCredentials(_) => "oauth2_client_credentials",
            AuthSettings::OAuth2RefreshToken(_) => "oauth2_refresh_token",
            AuthSettings::JwtBearer(_) => "jwt_bearer",
            AuthSettings::Hmac(_) => "hmac",
            AuthSettings::NetsuiteTba(_) => "netsuite_tba",
            AuthSettings::Session(_) => "session",
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
            AuthSettings::OAuth2ClientCredentials(s) => return s.build(),
            AuthSettings::OAuth2RefreshToken(s) => return s.build(),
            AuthSettings::JwtBearer(s) => return s.build(),
            AuthSettings::Hmac(s) => return s.build(),
            AuthSettings::NetsuiteTba(s) => return s.build(),
            AuthSettings::Session(s) => return s.build(),
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

/// Collects the problems of a scheme's settings, each at its key.
#[derive(Default)]
pub(super) struct Issues(Vec<ConfigIssue>);

impl Issues {
    pub(super) fn add(&mut self, key: &str, message: impl Into<String>) {
        self.0.push(ConfigIssue::at(vec![key.to_owned()], message));
    }

    /// `value` must not be blank.
    pub(super) fn required(&mut self, key: &str, value: &str, what: &str) {
        if value.trim().is_empty() {
            self.add(
                key,
                format!("is empty: give the {what} (e.g. from the environment, `${{NAME}}`)"),
            );
        }
    }

    /// `value` must be an http(s) URL or a path under the system's `url`.
    pub(super) fn url(&mut self, key: &str, value: &str) {
        let value = value.trim();
        if value.is_empty() {
            self.add(key, "is empty: give the endpoint's URL");
        } else if value.contains("://") && reqwest::Url::parse(value).is_err() {
            self.add(
                key,
                format!("`{}` is not a URL", ferry_model::secret::mask_url(value)),
            );
        } else if value.contains("://") && !value.starts_with("http") {
            self.add(key, "must be an http:// or https:// URL");
        }
    }

    /// A template's unknown `{placeholders}`.
    pub(super) fn placeholders(&mut self, key: &str, unknown: &[String]) {
        if !unknown.is_empty() {
            self.add(
                key,
                format!("has unknown placeholders: {}", unknown.join(", ")),
            );
        }
    }

    /// `name`, if given, must be an HTTP header name.
    pub(super) fn header(&mut self, key: &str, name: Option<&str>) -> Option<HeaderName> {
        let name = name?.trim();
        let parsed = HeaderName::from_bytes(name.as_bytes()).ok();
        if parsed.is_none() {
            self.add(key, format!("`{name}` is not a valid HTTP header name"));
        }
        parsed
    }

    pub(super) fn finish(self) -> Result<(), Vec<ConfigIssue>> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(self.0)
        }
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
