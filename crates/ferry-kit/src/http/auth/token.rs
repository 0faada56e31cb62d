//! [`OAuth2`]: an access token fetched from a token endpoint, cached and renewed. The
//! three OAuth 2.0 flows (client credentials, refresh token, JWT bearer) differ only in the
//! form fields of the token request: each is a [`Grant`].

use std::fmt;
use std::future::Future;
use std::sync::Mutex as SyncMutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use base64::Engine as _;
use ferry_model::secret::mask_url;
use ferry_model::{ConnectorError, ErrorKind};
use reqwest::Url;
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderName, HeaderValue};
use serde_json::Value;
use tokio::sync::Mutex;

use super::encode::{form, pct};
use super::{Auth, Outgoing};
use crate::http::{Call, HttpClient};

/// Renew a token this long before the server said it expires (a tenth of its life if that
/// is shorter): a request must not leave with a token that expires on the way.
const MARGIN: Duration = Duration::from_secs(60);

/// What one OAuth 2.0 flow puts in its token request.
pub(super) trait Grant: Send + Sync {
    /// Its `grant_type` as named in messages.
    fn name(&self) -> &'static str;
    /// The form fields of a token request, client authentication aside.
    fn fields(&self) -> Result<Vec<(&'static str, String)>, ConnectorError>;
    /// Whether a token request may be sent again after a timeout. Not when it spends a
    /// refresh token the server may already have rotated.
    fn repeatable(&self) -> bool {
        true
    }
    /// The token reply carried a (new) refresh token.
    fn rotated(&self, _refresh_token: &str) {}
    /// The grant's secrets.
    fn secrets(&self) -> Vec<String>;
}

/// How the client identifies itself to the token endpoint (RFC 6749 §2.3.1).
#[derive(Clone)]
pub(super) struct OAuth2Client {
    /// The client id.
    pub(super) id: String,
    /// The client secret; none for a public client.
    pub(super) secret: Option<String>,
    /// In an `Authorization: Basic` header rather than in the form body.
    pub(super) basic: bool,
}

impl OAuth2Client {
    fn basic_header(&self) -> Result<HeaderValue, ConnectorError> {
        // RFC 6749 §2.3.1: both parts form-encoded before they are joined.
        let raw = format!(
            "{}:{}",
            pct(&self.id),
            pct(self.secret.as_deref().unwrap_or(""))
        );
        let encoded = base64::engine::general_purpose::STANDARD.encode(raw);
        let mut value = HeaderValue::from_str(&format!("Basic {encoded}"))
            .map_err(|_| ConnectorError::fatal("the client credentials cannot go in a header"))?;
        value.set_sensitive(true);
        Ok(value)
    }

    fn add_to(&self, fields: &mut Vec<(&'static str, String)>) {
        fields.push(("client_id", self.id.clone()));
        if let Some(secret) = &self.secret {
            fields.push(("client_secret", secret.clone()));
        }
    }
}

/// An OAuth 2.0 access token sent as `Authorization: Bearer <token>`.
///
/// The token is fetched on the first request, not when the client is built (building does
/// no I/O), and kept until shortly before the `expires_in` of its reply (until refused, when
/// the reply gives none, as Salesforce's does). A 401/403 renews it once: concurrent
/// requests refused with the same token share one renewal. A failed token request is an
/// [`ErrorKind::Auth`] error naming the token URL (transient failures stay transient).
///
/// A reply's `instance_url` (Salesforce: the org's own host, where its API answers; the
/// token endpoint is on `login.salesforce.com`) becomes the [`Auth::api_base`] of the
/// client: calls go there from then on.
pub struct OAuth2 {
    token_url: String,
    client: Option<OAuth2Client>,
    grant: Box<dyn Grant>,
    held: Held,
    instance: SyncMutex<Option<Url>>,
}

/// A credential obtained from the server (an access token, a session) and put in one
/// header of every request: obtained on first use, shared by all requests, renewed when it
/// expires or is refused. The OAuth 2.0 flows and the session login keep theirs here, and so
/// can a connector's own login (Kingdee's), so that "renew once for all the requests
/// refused together" is written once.
#[derive(Default)]
pub struct Held {
    current: Mutex<Option<Issued>>,
    /// The secret part of the current one, to scrub from messages (readable without
    /// waiting for a renewal).
    secret: SyncMutex<String>,
}

/// A credential: the header value, its secret part, and when to stop using it.
pub struct Issued {
    /// What goes in the header.
    pub header: HeaderValue,
    /// The secret part of it, scrubbed from every message.
    pub secret: String,
    /// When to obtain a new one unasked (`None`: when the server refuses it).
    pub renew_at: Option<Instant>,
}

impl Issued {
    fn fresh(&self) -> bool {
        self.renew_at.is_none_or(|at| Instant::now() < at)
    }
}

impl Held {
    /// Puts the current credential in header `name` of `request`, obtaining one first if
    /// there is none or it has expired.
    pub async fn apply<F>(
        &self,
        name: &HeaderName,
        request: &mut Outgoing,
        obtain: impl FnOnce() -> F,
    ) -> Result<(), ConnectorError>
    where
        F: Future<Output = Result<Issued, ConnectorError>>,
    {
        let mut current = self.current.lock().await;
        if !current.as_ref().is_some_and(Issued::fresh) {
            *current = None;
            *current = Some(self.keep(obtain().await?));
        }
        if let Some(issued) = current.as_ref() {
            request.headers.insert(name.clone(), issued.header.clone());
        }
        Ok(())
    }

    /// Obtains a new credential if `rejected` carried the current one in header `name`;
    /// another request refused with the same one may have renewed it already.
    pub async fn renew<F>(
        &self,
        name: &HeaderName,
        rejected: &Outgoing,
        obtain: impl FnOnce() -> F,
    ) -> Result<(), ConnectorError>
    where
        F: Future<Output = Result<Issued, ConnectorError>>,
    {
        let mut current = self.current.lock().await;
        let refused = rejected.headers.get(name);
        if current.as_ref().is_none_or(|c| Some(&c.header) == refused) {
            *current = None;
            *current = Some(self.keep(obtain().await?));
        }
        Ok(())
    }

    fn keep(&self, mut issued: Issued) -> Issued {
        issued.header.set_sensitive(true);
        issued
            .secret
            .clone_into(&mut self.secret.lock().unwrap_or_else(|p| p.into_inner()));
        issued
    }

    /// The secret part of the current credential.
    pub fn secret(&self) -> String {
        self.secret
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl OAuth2 {
    pub(super) fn new(
        token_url: &str,
        client: Option<OAuth2Client>,
        grant: Box<dyn Grant>,
    ) -> Self {
        Self {
            token_url: token_url.to_owned(),
            client,
            grant,
            held: Held::default(),
            instance: SyncMutex::new(None),
        }
    }

    async fn fetch(&self, http: &HttpClient) -> Result<Issued, ConnectorError> {
        let reply: Value = http.json(self.token_call()?).await.map_err(|e| {
            let kind = if e.kind().is_transient() {
                e.kind()
            } else {
                ErrorKind::Auth
            };
            ConnectorError::new(kind, e.message()).context(self.cannot())
        })?;
        self.read(&reply).map_err(|reason| {
            ConnectorError::new(ErrorKind::Auth, format!("{}: {reason}", self.cannot()))
        })
    }

    fn cannot(&self) -> String {
        format!(
            "cannot get an access token ({} grant) from {}",
            self.grant.name(),
            mask_url(self.token_url.split('?').next().unwrap_or_default())
        )
    }

    fn token_call(&self) -> Result<Call, ConnectorError> {
        let mut fields = self.grant.fields()?;
        let mut call = Call::post(self.token_url.clone())
            .without_auth()
            .label("access token")
            .header(ACCEPT, HeaderValue::from_static("application/json"));
        match &self.client {
            Some(client) if client.basic => {
                call = call.header(AUTHORIZATION, client.basic_header()?)
            }
            Some(client) => client.add_to(&mut fields),
            None => {}
        }
        call = call.body(
            form(&fields).into_bytes(),
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        Ok(if self.grant.repeatable() {
            call.safe_to_repeat()
        } else {
            call
        })
    }

    /// The token of a reply (RFC 6749 §5.1); `expires_in` may be a number or, as NetSuite
    /// sends it, a string.
    fn read(&self, reply: &Value) -> Result<Issued, String> {
        let token = reply
            .get("access_token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .ok_or("the reply holds no `access_token`")?;
        if let Some(rotated) = reply.get("refresh_token").and_then(Value::as_str) {
            self.grant.rotated(rotated);
        }
        if let Some(instance) = reply.get("instance_url").and_then(Value::as_str) {
            let url = Url::parse(instance.trim())
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
                .ok_or("the reply's `instance_url` is not an http(s) URL")?;
            *self.instance.lock().unwrap_or_else(|p| p.into_inner()) = Some(url);
        }
        let header = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| "the access token holds characters not allowed in a header")?;
        let lifetime = match reply.get("expires_in") {
            Some(Value::Number(n)) => n.as_u64(),
            Some(Value::String(s)) => s.trim().parse().ok(),
            _ => None,
        };
        let renew_at = lifetime.map(|secs| {
            let life = Duration::from_secs(secs);
            Instant::now() + life - MARGIN.min(life / 10)
        });
        Ok(Issued {
            header,
            secret: token.to_owned(),
            renew_at,
        })
    }
}

impl fmt::Debug for OAuth2 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuth2")
            .field("grant", &self.grant.name())
            .field("token_url", &mask_url(&self.token_url))
            .field("client_id", &self.client.as_ref().map(|c| c.id.as_str()))
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Auth for OAuth2 {
    async fn apply(&self, http: &HttpClient, request: &mut Outgoing) -> Result<(), ConnectorError> {
        self.held
            .apply(&AUTHORIZATION, request, || self.fetch(http))
            .await
    }

    async fn refresh(
        &self,
        http: &HttpClient,
        rejected: &Outgoing,
    ) -> Result<bool, ConnectorError> {
        self.held
            .renew(&AUTHORIZATION, rejected, || async {
                tracing::info!(
                    system = http.system(),
                    grant = self.grant.name(),
                    "Access token refused; fetching a new one."
                );
                self.fetch(http).await
            })
            .await?;
        Ok(true)
    }

    fn api_base(&self) -> Option<Url> {
        self.instance
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn secrets(&self) -> Vec<String> {
        let mut out = self.grant.secrets();
        out.extend(self.client.as_ref().and_then(|c| c.secret.clone()));
        out.push(self.held.secret());
        out
    }
}
