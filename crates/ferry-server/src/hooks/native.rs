//! Webhooks in a system's own format, for systems whose connector offers one
//! ([`ferry_kit::inbound`]): the connector verifies the vendor's signature and says which
//! records changed; from there on a notice is handled as in Ferry's own format (durable queue
//! before the answer, repeats recognised by the vendor's delivery id or signature).
//!
//! `server.hooks.<system>` is optional here (the secret is in the system's settings, where
//! the connector reads it); when present, its `rate_limit` applies.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::HeaderMap;
use chrono::Utc;
use ferry_kit::inbound::{Acknowledgement, Inbound, InboundError, InboundFlow, InboundRequest};
use ferry_store::{DeliveryKey, SeenDelivery};

use super::{admit, enqueue, fingerprint};
use crate::AppState;
use crate::api::sync::SyncAccepted;
use crate::error::ApiError;

/// The parts of a request a native format reads.
pub(super) type Request<'a> = (HeaderMap, Option<&'a str>, Result<Bytes, BytesRejection>);

/// Verifies, reads and queues one request to `POST /hooks/{system}`; with it, the answer
/// the vendor wants, if it wants its own.
pub(super) async fn accept(
    state: &AppState,
    system: &str,
    inbound: &dyn Inbound,
    (headers, query, body): Request<'_>,
) -> Result<(SyncAccepted, Option<Acknowledgement>), ApiError> {
    let body = admit(state, system, body)?;
    let request = InboundRequest {
        headers: &headers,
        query,
        body: &body,
        received_at: Utc::now(),
    };
    let accepted = queue(state, system, inbound, &request).await?;
    Ok((accepted, inbound.acknowledgement(&request)))
}

async fn queue(
    state: &AppState,
    system: &str,
    inbound: &dyn Inbound,
    request: &InboundRequest<'_>,
) -> Result<SyncAccepted, ApiError> {
    let request = *request;
    let verified = inbound.verify(&request).map_err(refusal)?;
    let flows: Vec<InboundFlow<'_>> = state
        .engine
        .flows()
        .filter(|f| !f.config.disabled && f.config.source.system == system)
        .map(|f| InboundFlow {
            name: &f.name,
            entity: &f.config.entity,
            source: &f.config.source.options,
        })
        .collect();
    let pairs = inbound.changes(&request, &flows).map_err(refusal)?.records;
    if pairs.is_empty() {
        // A topic no flow reads: acknowledged, so the vendor does not redeliver it.
        return Ok(SyncAccepted {
            accepted: Vec::new(),
            duplicate: false,
        });
    }
    let seen = SeenDelivery {
        system: system.to_owned(),
        key: DeliveryKey::Id {
            id: verified.replay_key,
            fingerprint: fingerprint(&pairs),
        },
        expires_at: verified.valid_until,
    };
    enqueue(state, pairs, seen).await
}

fn refusal(e: InboundError) -> ApiError {
    match e {
        InboundError::Signature(why) => ApiError::BadSignature(why),
        InboundError::Malformed(why) => ApiError::BadRequest(why),
    }
}
