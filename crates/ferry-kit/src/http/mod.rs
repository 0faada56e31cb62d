//! # Shared HTTP plumbing
//!
//! Everything an HTTP connector (tryton, bottlecrm, …) needs to talk to its system, once:
//!
//! - [`HttpSettings`]: the settings every HTTP system takes (`url`, `timeout`, `retries`,
//!   `backoff`, `rate`, `daily_quota`), embedded in the connector's own settings with
//!   `#[serde(flatten)]` and read with [`parse_settings`], which keeps key paths exact;
//!   [`HttpSettings::validate`] gives the [`HttpOptions`] a client is built from.
//! - [`HttpClient`]: one per configured system, built with the connector and cloned into
//!   every source and sink made from it, so all flows on the system share its connection
//!   pool, credentials, request rate and daily quota (the budget belongs to the account, not
//!   to a flow). [`HttpClient::send`] takes a [`Call`] and returns the 2xx [`Response`] or a
//!   classified [`ConnectorError`](ferry_model::ConnectorError):
//!
//!   | failure | kind | retried here |
//!   |---|---|---|
//!   | connection refused | `Retryable` | yes, any method (nothing was sent) |
//!   | timeout, broken reply | `Retryable` | idempotent or [`Call::safe_to_repeat`] only |
//!   | 408, 502, 503, 504 | `Retryable` | idempotent or safe-to-repeat only; 503 honours `Retry-After` |
//!   | 429 | `RateLimited { retry_after }` | yes, any method, after `Retry-After` |
//!   | other 5xx | `Retryable` | no (the engine retries later) |
//!   | 401, 403 | `Auth` | once, after [`Auth::refresh`] renewed the credentials |
//!   | 404, 410 | `NotFound` | no |
//!   | 409 | `Conflict` | no |
//!   | 400, 422, other 4xx | `Validation`, with the server's own message | no |
//!   | 2xx whose body reports an error ([`ReplyCheck`]) | as the check says: `Validation` with the server's message, `Auth`, `Retryable`, `RateLimited` | as the status equivalents above |
//!   | daily quota spent | `RateLimited { retry_after: until 00:00 UTC }` | no: fails at once |
//!
//!   Retries wait with exponential backoff and jitter (backon) from `backoff`, at most
//!   [`MAX_WAIT`]; a `Retry-After` longer than that is not waited out inside the request but
//!   returned as `retry_after`, so the engine pauses the flow and resumes it at its cursor.
//!   Messages name the system, method and URL (user info masked, no query string, e.g.
//!   `erp: POST http://host/erp/rpc/ (model.party.party.create): HTTP 400: …`) and are
//!   scrubbed of every secret the [`Auth`] declares.
//! - [`Auth`]: how credentials go on requests and are renewed after a refusal. It sees the
//!   whole [`Outgoing`] request (method, URL, headers, body) so that it can sign it.
//!   [`AuthSettings`] is the `auth:` block every HTTP connector embeds: `none`, `bearer`,
//!   `basic`, `api_key`, `oauth2_client_credentials`, `oauth2_refresh_token` and
//!   `jwt_bearer` (one token cache: [`OAuth2`]), `hmac` ([`HmacAuth`]), `netsuite_tba`
//!   ([`NetSuiteTba`]) and `session` ([`SessionLogin`]); the YAML of each is on
//!   [`AuthSettings`]. A token endpoint or login URL may be on another host: a call
//!   [without credentials](Call::without_auth) may leave the system's origin, one with them
//!   never does.
//! - [`ReplyCheck`]: errors reported inside HTTP 200 bodies (Kingdee, Yonyou, Jiandaoyun),
//!   per client ([`HttpClient::with_reply_check`]) or per call ([`Call::check`]);
//!   [`ReplyRules`] is the configured one (`status_path`, `ok_values`, `auth_codes`, …);
//!   [`ErrorCodes`] classifies refusals by the error codes in their body rather than their
//!   status (NetSuite's `o:errorDetails`, whose `CONCURRENCY_LIMIT_EXCEEDED` may come as a
//!   400), through [`ReplyCheck::classify`].
//! - [`multipart`]: OData `$batch` bodies of change sets, and their answers read back.
//! - [`Lister`]: paged list endpoints (offset/limit, page number, cursor token, next URL in
//!   the body, `Link` header: [`Paging`]), one page at a time from a serializable
//!   [`PagePos`] or all at once, the records found by a [`RecordPath`] (JSON pointer or
//!   JSONPath).

mod auth;
mod client;
mod config;
mod limits;
pub mod multipart;
mod paging;
mod records;
mod reply;

#[cfg(test)]
mod tests;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

pub use auth::{
    Auth, AuthSettings, BodyFormat, ClientAuth, ClientCredentialsSettings, Digest, Held, HmacAuth,
    HmacSettings, Issued, JwtAlgorithm, JwtBearerSettings, NetSuiteSettings, NetSuiteTba, NoAuth,
    OAuth2, Outgoing, RefreshTokenSettings, SessionLogin, SessionSettings, SignatureEncoding,
    StaticAuth, TimestampFormat, hmac, pct as percent_encode,
};
pub use client::{Call, HttpClient, MAX_WAIT, Response, server_message};
pub use config::{HttpOptions, HttpSettings, Rate, RateSettings};
pub use paging::{ListPage, Lister, PagePos, Paging};
pub use records::RecordPath;
pub use reply::{ErrorCodes, ReplyCheck, ReplyRules};
pub use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
pub use reqwest::{Method, StatusCode, Url};

use crate::SettingsIssues;

/// Reads a connector's system settings `T` that embed [`HttpSettings`] with
/// `#[serde(flatten)]`.
///
/// serde loses key paths through `flatten`, so the HTTP keys are first read on their own
/// (a wrong `timeout` is reported at `timeout`), then the whole map into `T`; an unknown key
/// is reported at itself with the keys `T` accepts.
pub fn parse_settings<T: DeserializeOwned + schemars::JsonSchema>(
    map: &Map<String, Value>,
) -> Result<T, SettingsIssues> {
    let http: Map<String, Value> = map
        .iter()
        .filter(|(k, _)| HttpSettings::KEYS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    crate::settings::parse::<HttpSettings>(&http)?;
    let schema = schemars::schema_for!(T);
    let known: Vec<String> = schema
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();
    let unknown: Vec<_> = map
        .keys()
        .filter(|k| !known.is_empty() && !known.contains(k))
        .map(|k| {
            let known: Vec<&str> = known.iter().map(String::as_str).collect();
            ferry_model::config::ConfigIssue::new(
                [k.as_str()],
                ferry_model::config::words::unknown_key(k, &known),
            )
        })
        .collect();
    if !unknown.is_empty() {
        return Err(unknown);
    }
    crate::settings::parse::<T>(map)
}
