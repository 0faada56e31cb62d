//! NetSuite Token-Based Authentication: OAuth 1.0a (RFC 5849) with HMAC-SHA256, as
//! NetSuite's REST web services expect it (see `docs/apis/netsuite.md`).

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine as _;
use ferry_model::ConnectorError;
use ferry_model::config::ConfigIssue;
use reqwest::header::{AUTHORIZATION, HeaderValue};
use schemars::JsonSchema;
use serde::Deserialize;

use super::encode::{Digest, hmac, nonce, pct};
use super::settings::Issues;
use super::{Auth, Outgoing};
use crate::http::HttpClient;

/// `type: netsuite_tba`: consumer key and secret from the integration record, token id
/// and secret from the access token of a user and role. They do not expire until revoked,
/// so there is nothing to refresh: a refusal (wrong secret, clock off by minutes, a nonce
/// used twice) is an `auth` error.
#[derive(Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NetSuiteSettings {
    /// The account id as in the URL (`1234567`, `1234567-sb1`); the realm is made from it
    /// (`1234567_SB1`).
    pub account: String,
    /// The integration record's consumer key.
    pub consumer_key: String,
    /// The integration record's consumer secret.
    pub consumer_secret: String,
    /// The access token's id.
    pub token_id: String,
    /// The access token's secret.
    pub token_secret: String,
}

/// Signs every request with NetSuite TBA; see [`NetSuiteSettings`].
pub struct NetSuiteTba {
    realm: String,
    settings: NetSuiteSettings,
}

impl fmt::Debug for NetSuiteTba {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NetSuiteTba")
            .field("realm", &self.realm)
            .finish_non_exhaustive()
    }
}

impl NetSuiteTba {
    /// The `Authorization` header for `request` sent at `timestamp` with `nonce`.
    ///
    /// Base string: `METHOD & pct(URL without query) & pct(params)`, where params are the
    /// `oauth_*` values and the query parameters, each name and value percent-encoded, sorted
    /// by name then value, joined as `k=v` with `&`. Key: `pct(consumer secret) &
    /// pct(token secret)`. The body is not signed.
    pub(super) fn header(&self, request: &Outgoing, timestamp: &str, nonce: &str) -> String {
        let s = &self.settings;
        let oauth = [
            ("oauth_consumer_key", s.consumer_key.as_str()),
            ("oauth_token", s.token_id.as_str()),
            ("oauth_signature_method", "HMAC-SHA256"),
            ("oauth_timestamp", timestamp),
            ("oauth_nonce", nonce),
            ("oauth_version", "1.0"),
        ];
        let signature = self.signature(request, &oauth);
        let fields: Vec<String> = oauth
            .iter()
            .copied()
            .chain([("oauth_signature", signature.as_str())])
            .map(|(k, v)| format!("{k}=\"{}\"", pct(v)))
            .collect();
        format!("OAuth realm=\"{}\", {}", self.realm, fields.join(", "))
    }

    /// base64 HMAC-SHA256 of the signature base string (RFC 5849 §3.4.1).
    fn signature(&self, request: &Outgoing, oauth: &[(&str, &str)]) -> String {
        let mut params: Vec<(String, String)> =
            oauth.iter().map(|(k, v)| (pct(k), pct(v))).collect();
        params.extend(request.url.query_pairs().map(|(k, v)| (pct(&k), pct(&v))));
        params.sort();
        let params: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let mut base_url = request.url.clone();
        base_url.set_query(None);
        base_url.set_fragment(None);
        let base = format!(
            "{}&{}&{}",
            request.method.as_str().to_ascii_uppercase(),
            pct(base_url.as_str()),
            pct(&params.join("&"))
        );
        let s = &self.settings;
        let key = format!("{}&{}", pct(&s.consumer_secret), pct(&s.token_secret));
        let mac = hmac(Digest::Sha256, key.as_bytes(), base.as_bytes());
        base64::engine::general_purpose::STANDARD.encode(mac)
    }
}

#[async_trait]
impl Auth for NetSuiteTba {
    async fn apply(&self, _: &HttpClient, request: &mut Outgoing) -> Result<(), ConnectorError> {
        let timestamp = chrono::Utc::now().timestamp().to_string();
        let header = self.header(request, &timestamp, &nonce());
        let mut value = HeaderValue::from_str(&header).map_err(|_| {
            ConnectorError::fatal(
                "the NetSuite account or token holds characters not allowed in a header",
            )
        })?;
        value.set_sensitive(true);
        request.headers.insert(AUTHORIZATION, value);
        Ok(())
    }

    fn secrets(&self) -> Vec<String> {
        vec![
            self.settings.consumer_secret.clone(),
            self.settings.token_secret.clone(),
        ]
    }
}

impl NetSuiteSettings {
    /// Checks the settings and builds the [`Auth`].
    pub fn build(&self) -> Result<Arc<dyn Auth>, Vec<ConfigIssue>> {
        Ok(Arc::new(self.checked()?))
    }

    pub(super) fn checked(&self) -> Result<NetSuiteTba, Vec<ConfigIssue>> {
        let mut issues = Issues::default();
        issues.required("account", &self.account, "account id");
        issues.required("consumer_key", &self.consumer_key, "consumer key");
        issues.required("consumer_secret", &self.consumer_secret, "consumer secret");
        issues.required("token_id", &self.token_id, "token id");
        issues.required("token_secret", &self.token_secret, "token secret");
        issues.finish()?;
        let trimmed = NetSuiteSettings {
            account: self.account.trim().to_owned(),
            consumer_key: self.consumer_key.trim().to_owned(),
            consumer_secret: self.consumer_secret.trim().to_owned(),
            token_id: self.token_id.trim().to_owned(),
            token_secret: self.token_secret.trim().to_owned(),
        };
        Ok(NetSuiteTba {
            realm: trimmed.account.to_ascii_uppercase().replace('-', "_"),
            settings: trimmed,
        })
    }
}
