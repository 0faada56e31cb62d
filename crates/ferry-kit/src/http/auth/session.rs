//! Generic session login: post a user name and password once, carry the session token or
//! cookies on later requests, log in again when the session is refused.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use ferry_model::config::ConfigIssue;
use ferry_model::secret::mask_url;
use ferry_model::{ConnectorError, ErrorKind};
use reqwest::Method;
use reqwest::header::{COOKIE, HeaderName, HeaderValue, SET_COOKIE};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use super::encode::{form, render};
use super::settings::Issues;
use super::token::{Held, Issued};
use super::{Auth, Outgoing};
use crate::http::{Call, HttpClient, Response};

/// How the login body is sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BodyFormat {
    /// `application/json` (default).
    #[default]
    Json,
    /// `application/x-www-form-urlencoded`, from the top-level keys of `body`.
    Form,
}

/// `type: session`: log in with a user name and password, then carry the session on every
/// request, either a token read from the login reply (`token_path`, sent in `header` as
/// `format`) or the cookies the login set (`cookies`). The session is opened on the first
/// request and opened again, once, when a request is refused with it (401/403, or a 200
/// whose body the system's reply check reads as an expired session).
#[derive(Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionSettings {
    /// The login endpoint: a path under the system's `url`, or a full URL.
    pub login_url: String,
    /// The login method (default `POST`).
    #[serde(default)]
    pub method: Option<String>,
    /// The user name, `{username}` in `body`.
    pub username: String,
    /// The password, `{password}` in `body`; usually from the environment.
    pub password: String,
    /// The login body; `{username}` and `{password}` in its strings are replaced.
    pub body: Value,
    /// `json` (default) or `form`.
    #[serde(default)]
    pub body_format: BodyFormat,
    /// JSON pointer to the session token in the login reply (`/token`, `/data/sessionId`).
    #[serde(default)]
    pub token_path: Option<String>,
    /// Or: the names of the cookies the login sets, sent back as `Cookie:`.
    #[serde(default)]
    pub cookies: Vec<String>,
    /// The header the token goes in (default `Authorization`).
    #[serde(default)]
    pub header: Option<String>,
    /// The header's value (default `Bearer {token}`).
    #[serde(default)]
    pub format: Option<String>,
}

/// A session opened by logging in; see [`SessionSettings`].
pub struct SessionLogin {
    settings: SessionSettings,
    method: Method,
    header: HeaderName,
    held: Held,
}

impl fmt::Debug for SessionLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionLogin")
            .field("login_url", &mask_url(&self.settings.login_url))
            .field("username", &self.settings.username)
            .finish_non_exhaustive()
    }
}

impl SessionLogin {
    async fn login(&self, http: &HttpClient) -> Result<Issued, ConnectorError> {
        let user = &self.settings.username;
        let cannot = format!("cannot log in as `{user}`");
        let reply = http.send(self.login_call()).await.map_err(|e| {
            let kind = if e.kind().is_transient() {
                e.kind()
            } else {
                ErrorKind::Auth
            };
            ConnectorError::new(kind, e.message()).context(&cannot)
        })?;
        let (value, secret) = if self.settings.cookies.is_empty() {
            self.token(&reply)
        } else {
            self.cookies(&reply)
        }
        .map_err(|reason| {
            ConnectorError::new(
                ErrorKind::Auth,
                http.scrub(&format!("{cannot}: {}: {reason}", reply.what())),
            )
        })?;
        let header = HeaderValue::from_str(&value).map_err(|_| {
            ConnectorError::new(
                ErrorKind::Auth,
                format!("{cannot}: the session cannot go in an HTTP header"),
            )
        })?;
        tracing::debug!(system = http.system(), user = %user, "Logged in.");
        Ok(Issued {
            header,
            secret,
            renew_at: None,
        })
    }

    fn login_call(&self) -> Call {
        let s = &self.settings;
        let values = [
            ("username", s.username.as_str()),
            ("password", s.password.as_str()),
        ];
        let body = fill(&s.body, &values);
        let call = Call::new(self.method.clone(), s.login_url.trim())
            .without_auth()
            .label("login")
            // A login repeated after a timeout leaves an unused session at worst.
            .safe_to_repeat();
        match (s.body_format, &body) {
            (BodyFormat::Form, Value::Object(map)) => {
                let fields: Vec<(&str, String)> = map
                    .iter()
                    .map(|(k, v)| {
                        (
                            k.as_str(),
                            v.as_str().map_or_else(|| v.to_string(), str::to_owned),
                        )
                    })
                    .collect();
                call.body(
                    form(&fields).into_bytes(),
                    HeaderValue::from_static("application/x-www-form-urlencoded"),
                )
            }
            _ => call.json(&body),
        }
    }

    /// The header value and the token, from `token_path` in the reply.
    fn token(&self, reply: &Response) -> Result<(String, String), String> {
        let pointer = self.settings.token_path.as_deref().unwrap_or_default();
        let json: Value = reply
            .json()
            .map_err(|_| "the reply is not JSON".to_owned())?;
        let token = match json.pointer(pointer) {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => return Err(format!("the reply has no session token at `{pointer}`")),
        };
        let format = self.settings.format.as_deref().unwrap_or("Bearer {token}");
        Ok((render(format, &[("token", &token)]), token))
    }

    /// The `Cookie:` value and the session cookies, from the reply's `Set-Cookie` headers.
    fn cookies(&self, reply: &Response) -> Result<(String, String), String> {
        let set: Vec<(&str, &str)> = reply
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| v.split(';').next()?.split_once('='))
            .map(|(k, v)| (k.trim(), v.trim()))
            .collect();
        let mut pairs = Vec::new();
        for name in &self.settings.cookies {
            let (_, value) = set
                .iter()
                .find(|(k, _)| k == name)
                .ok_or_else(|| format!("the reply set no `{name}` cookie"))?;
            pairs.push(format!("{name}={value}"));
        }
        let value = pairs.join("; ");
        Ok((value.clone(), value))
    }
}

/// `template` with the placeholders in its strings replaced.
fn fill(template: &Value, values: &[(&str, &str)]) -> Value {
    match template {
        Value::String(s) => Value::String(render(s, values)),
        Value::Array(items) => Value::Array(items.iter().map(|v| fill(v, values)).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), fill(v, values)))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[async_trait]
impl Auth for SessionLogin {
    async fn apply(&self, http: &HttpClient, request: &mut Outgoing) -> Result<(), ConnectorError> {
        self.held
            .apply(&self.header, request, || self.login(http))
            .await
    }

    async fn refresh(
        &self,
        http: &HttpClient,
        rejected: &Outgoing,
    ) -> Result<bool, ConnectorError> {
        self.held
            .renew(&self.header, rejected, || async {
                tracing::info!(system = http.system(), user = %self.settings.username, "Session refused; logging in again.");
                self.login(http).await
            })
            .await?;
        Ok(true)
    }

    fn secrets(&self) -> Vec<String> {
        vec![self.settings.password.clone(), self.held.secret()]
    }
}

impl SessionSettings {
    /// Checks the settings and builds the [`Auth`].
    pub fn build(&self) -> Result<Arc<dyn Auth>, Vec<ConfigIssue>> {
        let mut issues = Issues::default();
        issues.url("login_url", &self.login_url);
        issues.required("username", &self.username, "user name");
        let method = self
            .method
            .as_deref()
            .unwrap_or("POST")
            .trim()
            .to_ascii_uppercase();
        let method = Method::from_bytes(method.as_bytes()).ok();
        if method.is_none() {
            issues.add("method", "is not an HTTP method");
        }
        match (&self.token_path, self.cookies.is_empty()) {
            (Some(_), false) => issues.add("cookies", "give either `token_path` or `cookies`, not both"),
            (None, true) => issues.add("token_path", "is missing: say where the session token is (a JSON pointer such as `/token`), or list the session `cookies`"),
            (Some(p), true) if !p.starts_with('/') => issues.add("token_path", format!("`{p}` is not a JSON pointer: start it with `/`")),
            _ => {}
        }
        let header = if self.cookies.is_empty() {
            issues.header("header", self.header.as_deref().or(Some("Authorization")))
        } else {
            Some(COOKIE)
        };
        issues.finish()?;
        Ok(Arc::new(SessionLogin {
            settings: self.clone(),
            method: method.unwrap_or(Method::POST),
            header: header.unwrap_or(reqwest::header::AUTHORIZATION),
            held: Held::default(),
        }))
    }
}
