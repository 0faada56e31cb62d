//! Inbound webhooks: `POST /hooks/{system}` with a change notice.
//!
//! A system whose connector brings the vendor's own format ([`ferry_kit::inbound`]) is
//! handled by `native.rs`; everything below is Ferry's own format.
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
//! 5. the body parses, names flows reading from this system, and carries at most one
//!    delivery id (400).
//!
//! Then the notices are committed to the durable queue and only then answered `202` with
//! tracking ids: a notice answered is never lost, even if Ferry dies right after.
//!
//! **Repeats.** Since a notice carries no data, accepting one twice costs at most a read of
//! the source; refusing one can lose a change (two notices for one record within a second
//! are byte-identical). So a repeat is recognised by what makes it the same delivery, in the
//! store, in the transaction of the enqueue:
//! - with a delivery id ([`notice::DELIVERY_HEADERS`] or the notices' `delivery_id`), the id
//!   is remembered for the tolerance window; the same id again is answered `200` with the
//!   first delivery's tracking ids and `"duplicate": true`, and queues nothing (the same id
//!   for other records is a sender's error: `409`);
//! - without one, the signature is remembered until its timestamp leaves the window; the same
//!   signature again is not refused: each record joins its read still waiting in the queue,
//!   or is queued again when that read was already worked off (or has started).
//!
//! Outside the window a captured request fails the timestamp check; inside it, a replay can
//! make Ferry read a record again, nothing more. A delivery id in a header is not signed: a
//! captured request resent under the id the sender will use next would make that delivery
//! a duplicate, so header ids must be unguessable (the body's `delivery_id` is signed).

mod native;
pub mod notice;
pub mod signature;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chrono::Utc;
use ferry_store::{Accepted, DeliveryKey, SeenDelivery};
use sha2::{Digest, Sha256};

use crate::AppState;
use crate::api::sync::{SyncAccepted, resolve, tracked};
use crate::auth::RateKey;
use crate::config::ServerSettings;
use crate::error::ApiError;
use crate::ops::WEBHOOKS_TOTAL;

pub use notice::DELIVERY_HEADERS;
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
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let result = match state.engine.inbound(&system).cloned() {
        Some(inbound) => {
            let request = (headers, query.as_deref(), body);
            native::accept(&state, &system, inbound.as_ref(), request).await
        }
        None => accept(&state, &system, &headers, body)
            .await
            .map(|accepted| (accepted, None)),
    };
    let label = match &result {
        Ok((accepted, _)) if accepted.duplicate => "duplicate",
        Ok(_) => "accepted",
        Err(ApiError::NotFound(_)) => "unknown_system",
        Err(ApiError::BadSignature(_)) => "bad_signature",
        Err(ApiError::Conflict(_)) => "reused_delivery_id",
        Err(ApiError::BadRequest(_)) => "malformed",
        Err(ApiError::TooLarge(_)) => "too_large",
        Err(ApiError::RateLimited(_)) => "rate_limited",
        Err(_) => "error",
    };
    // Only configured systems get a label: a made-up name in the path adds no series.
    if !matches!(result, Err(ApiError::NotFound(_))) {
        metrics::counter!(WEBHOOKS_TOTAL, "system" => system.clone(), "result" => label)
            .increment(1);
    }
    if let Err(e) = &result {
        // Both come from the request (the path, the body): Debug-formatted, so CR, LF, NUL
        // and other control characters are escaped and cannot forge a log line.
        tracing::info!(system = ?system, error = ?e.to_string(), "Webhook refused.");
    }
    result.map(|(accepted, acknowledgement)| match acknowledgement {
        // The vendor's own acknowledgement, or it sends the notice again.
        Some(ack) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, ack.content_type)],
            ack.body,
        )
            .into_response(),
        None => {
            let status = if accepted.duplicate {
                // Nothing new was queued; a 2xx, so the sender stops redelivering.
                StatusCode::OK
            } else {
                StatusCode::ACCEPTED
            };
            (status, Json(accepted)).into_response()
        }
    })
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
    let body = admit(state, system, body)?;
    let signed = check_signature(state, hook.secret.bytes(), headers, &body)?;

    let parsed = notice::parse(&body).map_err(ApiError::BadRequest)?;
    let delivery_id =
        notice::delivery_id(headers, parsed.delivery_id).map_err(ApiError::BadRequest)?;
    let pairs =
        resolve(&state.engine, &parsed.notices, Some(system)).map_err(ApiError::BadRequest)?;
    let seen = seen_delivery(state, system, signed, delivery_id.as_deref(), &pairs);
    enqueue(state, pairs, seen).await
}

/// The system's rate limit, then the body (its size limit is the router's).
fn admit(
    state: &AppState,
    system: &str,
    body: Result<Bytes, BytesRejection>,
) -> Result<Bytes, ApiError> {
    if let Some(limiter) = state.hook_limiters.get(system) {
        limiter.check(&RateKey::Hook(system.to_owned()))?;
    }
    body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::TooLarge(state.settings.max_body)
        } else {
            ApiError::BadRequest(format!("request body: {}", e.body_text()))
        }
    })
}

/// Commits the pairs to the durable queue (or recognises a repeat of `seen`'s delivery) and
/// says what was accepted.
async fn enqueue(
    state: &AppState,
    pairs: Vec<(String, String)>,
    seen: SeenDelivery,
) -> Result<SyncAccepted, ApiError> {
    match state
        .engine
        .request_sync(&pairs, "webhook", Some(&seen))
        .await?
    {
        Accepted::Queued(ids) => Ok(tracked(pairs, ids)),
        Accepted::Duplicate {
            tracking_ids,
            fingerprint,
        } => match &seen.key {
            DeliveryKey::Id {
                fingerprint: ours, ..
            } if *ours == fingerprint => Ok(SyncAccepted {
                duplicate: true,
                ..tracked(pairs, tracking_ids)
            }),
            DeliveryKey::Id { id, .. } => Err(ApiError::Conflict(format!(
                "delivery id `{id}` was already accepted for other records: a new notice needs \
                 a new delivery id"
            ))),
            DeliveryKey::Signature(_) => Err(ApiError::Conflict(
                "this signature was already accepted for other records".to_owned(),
            )),
        },
    }
}

/// A request that passed the signature check: when it was signed, and its signature.
struct Signed {
    /// `X-Ferry-Timestamp`, Unix seconds.
    sent: i64,
    /// The signature header's value, lower-case.
    signature: String,
}

/// Checks that the timestamp is within the tolerance of our clock and that the signature
/// matches the body and timestamp.
fn check_signature(
    state: &AppState,
    secret: &[u8],
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Signed, ApiError> {
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
    let tolerance = tolerance_secs(state);
    let skew = Utc::now().timestamp().saturating_sub(sent);
    if skew.abs() > tolerance {
        return Err(ApiError::BadSignature(format!(
            "the timestamp is {} s {} our clock (tolerance {tolerance} s)",
            skew.abs(),
            if skew > 0 { "behind" } else { "ahead of" }
        )));
    }
    verify(secret, timestamp, body, signature).map_err(ApiError::BadSignature)?;
    Ok(Signed {
        sent,
        signature: signature.to_ascii_lowercase(),
    })
}

fn tolerance_secs(state: &AppState) -> i64 {
    i64::try_from(state.settings.tolerance.as_secs()).unwrap_or(i64::MAX)
}

/// What makes this request the same delivery when it comes again, and until when: its
/// delivery id (for the tolerance from now: a redelivery is signed afresh), or else its
/// signature (until its timestamp leaves the window, after which the check refuses it).
fn seen_delivery(
    state: &AppState,
    system: &str,
    signed: Signed,
    delivery_id: Option<&str>,
    pairs: &[(String, String)],
) -> SeenDelivery {
    let tolerance = tolerance_secs(state);
    let (key, from) = match delivery_id {
        Some(id) => (
            DeliveryKey::Id {
                id: id.to_owned(),
                fingerprint: fingerprint(pairs),
            },
            Utc::now().timestamp(),
        ),
        None => (DeliveryKey::Signature(signed.signature), signed.sent),
    };
    SeenDelivery {
        system: system.to_owned(),
        key,
        expires_at: chrono::DateTime::from_timestamp(from.saturating_add(tolerance), 0)
            .unwrap_or_else(Utc::now)
            + chrono::Duration::seconds(1),
    }
}

/// Identifies the records a delivery asked for (SHA-256 of their (flow, id) list, hex), so a
/// delivery id reused for other records is told apart from a redelivery.
fn fingerprint(pairs: &[(String, String)]) -> String {
    let mut hash = Sha256::new();
    for (flow, id) in pairs {
        // Lengths first: no two lists hash the same bytes.
        for part in [flow, id] {
            hash.update((part.len() as u64).to_be_bytes());
            hash.update(part.as_bytes());
        }
    }
    hex::encode(hash.finalize())
}
