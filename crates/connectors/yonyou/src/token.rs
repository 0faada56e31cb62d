//! The self-built app's access token (自建应用 `getAccessToken`) and how it travels (the
//! kit's [`Auth`] hook).
//!
//! The token is asked for on the first call: `GET {tokenUrl}/open-auth/selfAppAuth/base/v1/
//! getAccessToken?appKey&timestamp&signature`, the signature being Base64(HmacSHA256(app
//! secret, every parameter but `signature` sorted by name and written name + value with
//! nothing between)), URL-encoded once on the way (the query encoding does it); the
//! timestamp is in milliseconds. The secret itself never travels.
//!
//! The token goes on every business call as the `access_token` query parameter, not in a
//! header. It is kept in the kit's [`Held`] (which keeps a credential as a header value: it
//! is read from a scratch request and moved into the URL) until a minute before its
//! `expire`; when a reply says it is invalid or expired (310036, 310001, read by
//! [`GatewayCheck`](crate::reply::GatewayCheck)), the client asks [`Auth::refresh`]: one new
//! token serves every request refused with the old one, and the request is sent once more.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use base64::Engine as _;
use ferry_kit::http::{Auth, Call, HeaderMap, HeaderName, HeaderValue, Held, HttpClient, Issued};
use ferry_kit::http::{Method, Outgoing, Url};
use ferry_model::{ConnectorError, ErrorKind};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;

use crate::reply::{Envelope, text};

/// The token path under the token service (the newer of the two documented).
pub const TOKEN_PATH: &str = "open-auth/selfAppAuth/base/v1/getAccessToken";
/// The query parameter the token goes in.
pub const TOKEN_PARAMETER: &str = "access_token";
/// Renew this long before the token expires.
const MARGIN: Duration = Duration::from_secs(60);

/// The scratch header [`Held`] keeps the token under (never sent).
const SLOT: &str = "x-yonyou-access-token";

/// The app's token, obtained and renewed.
pub struct AppToken {
    token_url: String,
    app_key: String,
    app_secret: String,
    held: Held,
    slot: HeaderName,
    /// Tokens obtained so far (for tests: an expired token costs exactly one).
    pub obtained: AtomicU64,
}

impl std::fmt::Debug for AppToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppToken")
            .field("token_url", &self.token_url)
            .field("app_key", &self.app_key)
            .finish_non_exhaustive()
    }
}

impl AppToken {
    pub fn new(token_url: &str, app_key: &str, app_secret: &str) -> Self {
        Self {
            token_url: token_url.trim_end_matches('/').to_owned(),
            app_key: app_key.to_owned(),
            app_secret: app_secret.to_owned(),
            held: Held::default(),
            slot: HeaderName::from_static(SLOT),
            obtained: AtomicU64::new(0),
        }
    }

    /// The token request, signed now.
    fn call(&self) -> Call {
        let timestamp = chrono::Utc::now().timestamp_millis().to_string();
        let params = [("appKey", self.app_key.as_str()), ("timestamp", &timestamp)];
        let signature = signature(&params, &self.app_secret);
        Call::get(format!("{}/{TOKEN_PATH}", self.token_url))
            .query("appKey", &self.app_key)
            .query("timestamp", &timestamp)
            .query("signature", signature)
            .without_auth()
            .label("getAccessToken")
    }

    /// Asks for a new token.
    async fn obtain(&self, http: &HttpClient) -> Result<Issued, ConnectorError> {
        let cannot = format!("cannot get a token for app `{}`", self.app_key);
        let reply: Value = http.json(self.call()).await.map_err(|e| {
            let kind = if e.kind().is_transient() {
                e.kind()
            } else {
                ErrorKind::Auth
            };
            ConnectorError::new(kind, e.message()).context(&cannot)
        })?;
        let envelope = Envelope::of(reply);
        let token = envelope
            .data
            .get("access_token")
            .and_then(text)
            .filter(|t| !t.is_empty());
        let (true, Some(token)) = (envelope.ok(), token) else {
            return Err(ConnectorError::new(
                ErrorKind::Auth,
                http.scrub(&format!("{cannot}: {}", envelope.refusal())),
            ));
        };
        let header = HeaderValue::from_str(&token).map_err(|_| {
            ConnectorError::new(
                ErrorKind::Auth,
                format!("{cannot}: the token is not URL-safe text"),
            )
        })?;
        let lifetime = envelope
            .data
            .get("expire")
            .and_then(text)
            .and_then(|s| s.parse::<u64>().ok())
            .map_or(Duration::from_secs(7200), Duration::from_secs);
        let early = MARGIN.min(lifetime / 10);
        self.obtained.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(system = http.system(), app = %self.app_key, "Got a Yonyou token.");
        Ok(Issued {
            header,
            secret: token,
            renew_at: Some(Instant::now() + lifetime.saturating_sub(early)),
        })
    }

    /// A request carrying `token` in the scratch header, for [`Held`] to compare.
    fn scratch(url: &Url, token: Option<&str>) -> Outgoing {
        let mut headers = HeaderMap::new();
        if let Some(value) = token.and_then(|t| HeaderValue::from_str(t).ok()) {
            headers.insert(HeaderName::from_static(SLOT), value);
        }
        Outgoing::new(Method::GET, url.clone(), headers, None)
    }
}

/// `url` with `access_token` set to `token` (any earlier one replaced).
fn with_token(url: &mut Url, token: &str) {
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != TOKEN_PARAMETER)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let mut pairs = url.query_pairs_mut();
    pairs.clear();
    pairs.extend_pairs(kept);
    pairs.append_pair(TOKEN_PARAMETER, token);
}

/// The token a request carried.
fn token_of(url: &Url) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == TOKEN_PARAMETER)
        .map(|(_, v)| v.into_owned())
}

#[async_trait]
impl Auth for AppToken {
    async fn apply(&self, http: &HttpClient, request: &mut Outgoing) -> Result<(), ConnectorError> {
        let mut scratch = Self::scratch(&request.url, None);
        self.held
            .apply(&self.slot, &mut scratch, || self.obtain(http))
            .await?;
        let token = scratch
            .headers
            .get(&self.slot)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| ConnectorError::new(ErrorKind::Auth, "no Yonyou token held"))?;
        with_token(&mut request.url, token);
        Ok(())
    }

    async fn refresh(
        &self,
        http: &HttpClient,
        rejected: &Outgoing,
    ) -> Result<bool, ConnectorError> {
        let sent = token_of(&rejected.url);
        let scratch = Self::scratch(&rejected.url, sent.as_deref());
        self.held
            .renew(&self.slot, &scratch, || async {
                tracing::info!(
                    system = http.system(),
                    "Yonyou refused the token; getting a new one."
                );
                self.obtain(http).await
            })
            .await?;
        Ok(true)
    }

    fn secrets(&self) -> Vec<String> {
        vec![self.app_secret.clone(), self.held.secret()]
    }
}

/// Base64(HmacSHA256(`secret`, the parameters sorted by name, each name + value, nothing
/// between)); URL-encoding is left to the query.
pub fn signature(params: &[(&str, &str)], secret: &str) -> String {
    let mut sorted = params.to_vec();
    sorted.sort_unstable_by_key(|(name, _)| *name);
    let text: String = sorted.iter().map(|(k, v)| format!("{k}{v}")).collect();
    base64::engine::general_purpose::STANDARD
        .encode(hmac_sha256(secret.as_bytes(), text.as_bytes()))
}

/// HMAC-SHA256 of `message` under `key`.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    // HMAC takes keys of any length: this cannot fail.
    let mut mac =
        <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_the_doubles_before_url_encoding() {
        let ours = signature(
            &[("timestamp", "1717200000000"), ("appKey", "yy-app-key")],
            "yy-app-s3cret",
        );
        let theirs = ferry_doubles::yonyou::token_signature(
            "yy-app-key",
            1_717_200_000_000,
            "yy-app-s3cret",
        );
        assert_eq!(ferry_doubles::yonyou::url_encode(&ours), theirs);
    }

    #[test]
    fn the_token_replaces_any_earlier_one_in_the_query() {
        let mut url = Url::parse("http://h/yonbip/x?id=1&access_token=old").unwrap();
        with_token(&mut url, "new");
        assert_eq!(url.query(), Some("id=1&access_token=new"));
        assert_eq!(token_of(&url).as_deref(), Some("new"));
    }
}
