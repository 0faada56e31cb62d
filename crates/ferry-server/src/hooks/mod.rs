//! Inbound webhooks: `POST /hooks/{system}` with a change notice.
//!
//! A notice says which record changed, never what it now holds (the worker reads the latest
//! state from the source): `{"entity": "customer", "id": "42"}`, `{"flow": "customers",
//! "id": 42}`, or a JSON list of them. An entity notice goes to every enabled flow reading
//! that entity from the system.
//!
//! Checks, in order (each refusal is a JSON `{"error": …}` saying why):
//! 1. the system has a secret under `server.hooks` (else 404);
//! 2. the system's rate limit, `server.hooks.<system>.rate_limit` (429 with `Retry-After`);
//! 3. the body is at most `server.webhook.max_body` bytes (413);
//! 4. `X-Ferry-Timestamp` (Unix seconds) is within `server.webhook.tolerance` of our clock
//!    (401), and `X-Ferry-Signature: sha256=<hex>` is the HMAC-SHA256 of
//!    `timestamp + "." + body` with the system's secret (401, compared in constant time);
//! 5. the body parses and names flows reading from this system (400);
//! 6. the signature was not accepted before (409): the store remembers accepted signatures
//!    until their timestamp leaves the window, in the same transaction as the enqueue.
//!
//! Then the notices are committed to the durable queue and only then answered `202` with
//! tracking ids: a notice answered is never lost, even if Ferry dies right after.

pub mod signature;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use chrono::Utc;
use ferry_store::{Accepted, SeenSignature};

use crate::AppState;
use crate::api::sync::{Notice, SyncAccepted, resolve, tracked};
use crate::auth::RateKey;
use crate::config::ServerSettings;
use crate::error::ApiError;
use crate::ops::WEBHOOKS_TOTAL;

pub use signature::{SIGNATURE_HEADER, TIMESTAMP_HEADER, sign, verify};

/// `POST /hooks/{system}`, with the body limit of the settings.
pub fn router(settings: &ServerSettings) -> Router<AppState> {
    Router::new()
        .route("/hooks/{system}", post(receive))
        .layer(DefaultBodyLimit::max(settings.max_body))
}

async fn receive(
    State(state): State<AppState>,
    Path(system): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<SyncAccepted>), ApiError> {
    let result = accept(&state, &system, &headers, body).await;
    let label = match &result {
        Ok(_) => "accepted",
        Err(ApiError::NotFound(_)) => "unknown_system",
        Err(ApiError::BadSignature(_)) => "bad_signature",
        Err(ApiError::Conflict(_)) => "replayed",
        Err(ApiError::BadRequest(_)) => "malformed",
        Err(ApiError::TooLarge(_)) => "too_large",
        Err(ApiError::RateLimited(_)) => "rate_limited",
        Err(_) => "error",
    };
    if !matches!(result, Err(ApiError::NotFound(_))) {
        metrics::counter!(WEBHOOKS_TOTAL, "system" => system.clone(), "result" => label)
            .increment(1);
    }
    if let Err(e) = &result {
        tracing::info!(system = %system, error = %e, "Webhook refused.");
    }
    result.map(|accepted| (StatusCode::ACCEPTED, Json(accepted)))
}

async fn accept(
    state: &AppState,
    system: &str,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<SyncAccepted, ApiError> {
    let hook = state.settings.hooks.get(system).ok_or_else(|| {
        ApiError::NotFound(format!("no webhook is configured for system `{system}`"))
    })?;
    if let Some(limiter) = state.hook_limiters.get(system) {
        limiter.check(&RateKey::Hook(system.to_owned()))?;
    }
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::TooLarge(state.settings.max_body)
        } else {
            ApiError::BadRequest(format!("request body: {}", e.body_text()))
        }
    })?;

    let header = |name: &str| -> Result<&str, ApiError> {
        headers
            .get(name)
            .ok_or_else(|| ApiError::BadSignature(format!("missing header {name}")))?
            .to_str()
            .map_err(|_| ApiError::BadSignature(format!("header {name} is not text")))
    };
    let timestamp = header(TIMESTAMP_HEADER)?.trim();
    let signature = header(SIGNATURE_HEADER)?.trim();
    let sent: i64 = timestamp.parse().map_err(|_| {
        ApiError::BadSignature(format!(
            "{TIMESTAMP_HEADER} must be Unix seconds, not `{timestamp}`"
        ))
    })?;
    let tolerance = i64::try_from(state.settings.tolerance.as_secs()).unwrap_or(i64::MAX);
    let skew = Utc::now().timestamp().saturating_sub(sent);
    if skew.abs() > tolerance {
        return Err(ApiError::BadSignature(format!(
            "the timestamp is {} s {} our clock (tolerance {tolerance} s)",
            skew.abs(),
            if skew > 0 { "behind" } else { "ahead of" }
        )));
    }
    verify(hook.secret.bytes(), timestamp, &body, signature).map_err(ApiError::BadSignature)?;

    let notices: Vec<Notice> = parse_notices(&body).map_err(ApiError::BadRequest)?;
    let pairs = resolve(&state.engine, &notices, Some(system)).map_err(ApiError::BadRequest)?;
    let seen = SeenSignature {
        system: system.to_owned(),
        signature: signature.to_ascii_lowercase(),
        // Past this, the timestamp check refuses the request anyway.
        expires_at: chrono::DateTime::from_timestamp(sent.saturating_add(tolerance), 0)
            .unwrap_or_else(Utc::now)
            + chrono::Duration::seconds(1),
    };
    match state
        .engine
        .request_sync(&pairs, "webhook", Some(&seen))
        .await?
    {
        Accepted::Queued(ids) => Ok(tracked(pairs, ids)),
        Accepted::Replayed => Err(ApiError::Conflict(
            "this signature was already accepted: a replayed request is refused (sign each \
             notice with a fresh timestamp)"
                .into(),
        )),
    }
}

/// One notice or a list of them, with the JSON error's line and column when malformed.
fn parse_notices(body: &[u8]) -> Result<Vec<Notice>, String> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("the body is not JSON: {e}"))?;
    let list = match value {
        serde_json::Value::Array(items) => items,
        object @ serde_json::Value::Object(_) => vec![object],
        other => {
            return Err(format!(
                "the body must be a notice object or a list of them, not {}",
                kind(&other)
            ));
        }
    };
    list.into_iter()
        .enumerate()
        .map(|(n, v)| serde_json::from_value::<Notice>(v).map_err(|e| format!("notice {n}: {e}")))
        .collect()
}

fn kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "a list",
        serde_json::Value::Object(_) => "an object",
    }
}
