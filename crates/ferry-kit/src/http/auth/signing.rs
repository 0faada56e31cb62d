//! Generic HMAC request signing: a string built from the request by a template, signed
//! with a shared secret, put in a header. Covers the in-house and vendor APIs that sign
//! requests their own way (method, path, a timestamp against replay, a body digest).

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine as _;
use ferry_model::ConnectorError;
use ferry_model::config::ConfigIssue;
use reqwest::header::{HeaderName, HeaderValue};
use schemars::JsonSchema;
use serde::Deserialize;

use super::encode::{Digest, hmac, nonce, render, sha256_hex, unknown_placeholders};
use super::settings::Issues;
use super::{Auth, Outgoing};
use crate::http::HttpClient;

const DEFAULT_TEMPLATE: &str = "{method}\n{path}\n{query}\n{timestamp}\n{nonce}\n{body_sha256}";
/// What `string_to_sign` may use.
const SIGNED: &[&str] = &[
    "method",
    "host",
    "path",
    "query",
    "timestamp",
    "nonce",
    "body_sha256",
    "key_id",
];
/// What the header `value` may use.
const SHOWN: &[&str] = &["signature", "key_id", "timestamp", "nonce"];

/// How the signature is written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SignatureEncoding {
    /// Standard base64 (default).
    #[default]
    Base64,
    /// Lower-case hex.
    Hex,
}

/// How `{timestamp}` is written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TimestampFormat {
    /// Seconds since 1970 (default).
    #[default]
    Seconds,
    /// Milliseconds since 1970.
    Millis,
    /// RFC 3339 UTC (`2026-05-01T10:00:00Z`).
    Rfc3339,
}

/// `type: hmac`: every request signed with a shared secret.
///
/// `string_to_sign` is a template over `{method}` (upper case), `{host}`, `{path}`,
/// `{query}` (as sent, without `?`), `{timestamp}`, `{nonce}`, `{body_sha256}` (lower-case
/// hex, of the empty string when there is no body) and `{key_id}`; `value` (the header's
/// value) over `{signature}`, `{key_id}`, `{timestamp}` and `{nonce}`. The timestamp and
/// nonce can also travel in headers of their own, for servers that rebuild the string.
#[derive(Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HmacSettings {
    /// Who signs, for servers that hold several secrets (`{key_id}`).
    #[serde(default)]
    pub key_id: Option<String>,
    /// The shared secret, usually from the environment.
    pub secret: String,
    /// `sha256` (default) or `sha1`.
    #[serde(default)]
    pub algorithm: Digest,
    /// The string to sign (default: method, path, query, timestamp, nonce and body digest,
    /// one a line).
    #[serde(default)]
    pub string_to_sign: Option<String>,
    /// The header the signature goes in (default `Authorization`).
    #[serde(default)]
    pub header: Option<String>,
    /// The header's value (default `{signature}`), e.g. `HMAC {key_id}:{signature}`.
    #[serde(default)]
    pub value: Option<String>,
    /// `base64` (default) or `hex`.
    #[serde(default)]
    pub encoding: SignatureEncoding,
    /// `seconds` (default), `millis` or `rfc3339`.
    #[serde(default)]
    pub timestamp: TimestampFormat,
    /// A header to send `{timestamp}` in as well (`X-Timestamp`).
    #[serde(default)]
    pub timestamp_header: Option<String>,
    /// A header to send `{nonce}` in as well (`X-Nonce`).
    #[serde(default)]
    pub nonce_header: Option<String>,
}

/// Signs every request with an HMAC; see [`HmacSettings`].
pub struct HmacAuth {
    settings: HmacSettings,
    header: HeaderName,
    timestamp_header: Option<HeaderName>,
    nonce_header: Option<HeaderName>,
}

impl fmt::Debug for HmacAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HmacAuth")
            .field("key_id", &self.settings.key_id)
            .field("header", &self.header)
            .finish_non_exhaustive()
    }
}

impl HmacAuth {
    /// Signs `request` as if sent at `timestamp` with `nonce`.
    pub(super) fn sign(
        &self,
        request: &mut Outgoing,
        timestamp: &str,
        nonce: &str,
    ) -> Result<(), ConnectorError> {
        let s = &self.settings;
        let key_id = s.key_id.as_deref().unwrap_or_default();
        let signature = self.signature(&self.string_to_sign(request, timestamp, nonce));
        let value = render(
            s.value.as_deref().unwrap_or("{signature}"),
            &[
                ("signature", &signature),
                ("key_id", key_id),
                ("timestamp", timestamp),
                ("nonce", nonce),
            ],
        );
        let headers = [
            (Some(&self.header), value.as_str()),
            (self.timestamp_header.as_ref(), timestamp),
            (self.nonce_header.as_ref(), nonce),
        ];
        for (name, value) in headers {
            if let Some(name) = name {
                let value = HeaderValue::from_str(value).map_err(|_| {
                    ConnectorError::fatal(format!("the `{name}` header value is not valid in HTTP"))
                })?;
                request.headers.insert(name.clone(), value);
            }
        }
        Ok(())
    }

    /// The template filled in from the request.
    fn string_to_sign(&self, request: &Outgoing, timestamp: &str, nonce: &str) -> String {
        let s = &self.settings;
        let body = sha256_hex(request.body());
        let url = &request.url;
        render(
            s.string_to_sign.as_deref().unwrap_or(DEFAULT_TEMPLATE),
            &[
                ("method", request.method.as_str()),
                ("host", url.host_str().unwrap_or_default()),
                ("path", url.path()),
                ("query", url.query().unwrap_or_default()),
                ("timestamp", timestamp),
                ("nonce", nonce),
                ("body_sha256", &body),
                ("key_id", s.key_id.as_deref().unwrap_or_default()),
            ],
        )
    }

    /// The encoded HMAC of `text`.
    fn signature(&self, text: &str) -> String {
        let s = &self.settings;
        let mac = hmac(s.algorithm, s.secret.as_bytes(), text.as_bytes());
        match s.encoding {
            SignatureEncoding::Base64 => base64::engine::general_purpose::STANDARD.encode(mac),
            SignatureEncoding::Hex => mac.iter().map(|b| format!("{b:02x}")).collect(),
        }
    }

    fn now(&self) -> String {
        let now = chrono::Utc::now();
        match self.settings.timestamp {
            TimestampFormat::Seconds => now.timestamp().to_string(),
            TimestampFormat::Millis => now.timestamp_millis().to_string(),
            TimestampFormat::Rfc3339 => now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        }
    }
}

#[async_trait]
impl Auth for HmacAuth {
    async fn apply(&self, _: &HttpClient, request: &mut Outgoing) -> Result<(), ConnectorError> {
        self.sign(request, &self.now(), &nonce())
    }

    fn secrets(&self) -> Vec<String> {
        vec![self.settings.secret.clone()]
    }
}

impl HmacSettings {
    /// Checks the settings and builds the [`Auth`].
    pub fn build(&self) -> Result<Arc<dyn Auth>, Vec<ConfigIssue>> {
        Ok(Arc::new(self.checked()?))
    }

    pub(super) fn checked(&self) -> Result<HmacAuth, Vec<ConfigIssue>> {
        let mut issues = Issues::default();
        issues.required("secret", &self.secret, "shared secret");
        let template = self.string_to_sign.as_deref().unwrap_or(DEFAULT_TEMPLATE);
        issues.placeholders("string_to_sign", &unknown_placeholders(template, SIGNED));
        let value = self.value.as_deref().unwrap_or("{signature}");
        issues.placeholders("value", &unknown_placeholders(value, SHOWN));
        let header = issues.header("header", self.header.as_deref().or(Some("Authorization")));
        let timestamp_header = issues.header("timestamp_header", self.timestamp_header.as_deref());
        let nonce_header = issues.header("nonce_header", self.nonce_header.as_deref());
        issues.finish()?;
        Ok(HmacAuth {
            settings: self.clone(),
            header: header.unwrap_or(reqwest::header::AUTHORIZATION),
            timestamp_header,
            nonce_header,
        })
    }
}
