//! Logging in to K/3 Cloud and carrying the session (the kit's [`Auth`] hook).
//!
//! One of three logins (`ValidateUser`, `LoginByAppSecret`, `LoginBySign`) opens a session on
//! the first call; its `KDSVCSessionId` then goes on every request as the
//! `kdservice-sessionid` header, as the official SDKs send it (correction 1 of the dossier).
//! When a reply says the context is lost (`MsgCode` 1, read by
//! [`SessionCheck`](crate::reply::SessionCheck)), the client asks [`Auth::refresh`]: one
//! new login serves every request refused with the old session, and the request is sent
//! once more. The same text also comes for a wrong data centre or a disabled app
//! (correction 3): then the new login itself fails, as an `auth` error, and nothing loops.
//! Success is `LoginResultType` 1, or -5 (a password-policy state the vendor's samples
//! accept), whatever `Message` says (correction 2).

use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use ferry_kit::http::{Auth, Call, HeaderName, Held, HttpClient, Issued, Outgoing};
use ferry_model::{ConnectorError, ErrorKind};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::config::Login;
use crate::reply::text;

/// The header the session goes in.
pub const SESSION_HEADER: &str = "kdservice-sessionid";

/// The service path of an `AuthService` operation.
fn auth_service(name: &str) -> String {
    format!("Kingdee.BOS.WebApi.ServicesStub.AuthService.{name}.common.kdsvc")
}

/// A data centre's login and its session.
pub struct KingdeeLogin {
    acct_id: String,
    login: Login,
    lcid: u32,
    held: Held,
    header: HeaderName,
    /// Logins so far (for tests: a lost session costs exactly one).
    pub logins: AtomicU64,
}

impl std::fmt::Debug for KingdeeLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KingdeeLogin")
            .field("acct_id", &self.acct_id)
            .field("login", &self.login)
            .finish_non_exhaustive()
    }
}

impl KingdeeLogin {
    pub fn new(acct_id: &str, login: Login, lcid: u32) -> Self {
        Self {
            acct_id: acct_id.to_owned(),
            login,
            lcid,
            held: Held::default(),
            header: HeaderName::from_static(SESSION_HEADER),
            logins: AtomicU64::new(0),
        }
    }

    /// The login call for the configured way.
    fn call(&self) -> Call {
        let (acct, lcid) = (self.acct_id.as_str(), self.lcid);
        let (service, body) = match &self.login {
            Login::Password { user, password } => (
                "ValidateUser",
                json!({"acctid": acct, "username": user, "password": password, "lcid": lcid}),
            ),
            Login::AppSecret {
                user,
                app_id,
                app_secret,
            } => (
                "LoginByAppSecret",
                json!({"acctid": acct, "username": user, "appid": app_id,
                       "appsecret": app_secret, "lcid": lcid}),
            ),
            Login::Signature {
                user,
                app_id,
                app_secret,
            } => {
                let timestamp = chrono::Utc::now().timestamp();
                let sign = signature(&[acct, user, app_id, app_secret, &timestamp.to_string()]);
                // Positional, as the one published client of LoginBySign sends it.
                (
                    "LoginBySign",
                    json!({"parameters": [acct, user, app_id, timestamp, sign, lcid]}),
                )
            }
        };
        Call::post(auth_service(service))
            .json(&body)
            .without_auth()
            .label("login")
            // A login repeated after a timeout leaves an unused session at worst.
            .safe_to_repeat()
    }

    async fn open(&self, http: &HttpClient) -> Result<Issued, ConnectorError> {
        let user = self.login.user();
        let cannot = format!(
            "cannot log in to data centre `{}` as `{user}`",
            self.acct_id
        );
        let reply: Value = http.json(self.call()).await.map_err(|e| {
            let kind = if e.kind().is_transient() {
                e.kind()
            } else {
                ErrorKind::Auth
            };
            ConnectorError::new(kind, e.message()).context(&cannot)
        })?;
        let result = reply.get("LoginResultType").and_then(Value::as_i64);
        let session = text(reply.get("KDSVCSessionId")).filter(|s| !s.is_empty());
        let (Some(1 | -5), Some(session)) = (result, session) else {
            let said = text(reply.get("Message"))
                .filter(|m| !m.is_empty())
                .unwrap_or_else(|| format!("LoginResultType {}", result.unwrap_or(0)));
            return Err(ConnectorError::new(
                ErrorKind::Auth,
                http.scrub(&format!("{cannot}: {said}")),
            ));
        };
        let header = session.parse().map_err(|_| {
            ConnectorError::new(
                ErrorKind::Auth,
                format!("{cannot}: the session id cannot go in a header"),
            )
        })?;
        self.logins.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(system = http.system(), user, "Logged in to Kingdee.");
        Ok(Issued {
            header,
            secret: session,
            renew_at: None,
        })
    }
}

#[async_trait]
impl Auth for KingdeeLogin {
    async fn apply(&self, http: &HttpClient, request: &mut Outgoing) -> Result<(), ConnectorError> {
        self.held
            .apply(&self.header, request, || self.open(http))
            .await
    }

    async fn refresh(
        &self,
        http: &HttpClient,
        rejected: &Outgoing,
    ) -> Result<bool, ConnectorError> {
        self.held
            .renew(&self.header, rejected, || async {
                tracing::info!(
                    system = http.system(),
                    "Kingdee lost the session; logging in again."
                );
                self.open(http).await
            })
            .await?;
        Ok(true)
    }

    fn secrets(&self) -> Vec<String> {
        let mut secrets = self.login.secrets();
        secrets.push(self.held.secret());
        secrets
    }
}

/// `LoginBySign`'s sign: hex SHA-256 of the values sorted and joined without separators.
pub fn signature(values: &[&str]) -> String {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    hex::encode(Sha256::digest(sorted.concat().as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sign_is_over_the_sorted_values() {
        // Sorted: "1700000000", "acct", "app", "s3cret", "user" (digest computed apart).
        assert_eq!(
            signature(&["acct", "user", "app", "s3cret", "1700000000"]),
            "460d25403382520410363cc0d7d0a41af7428038ea30e1a87a1085a1b3968fb9"
        );
    }
}
