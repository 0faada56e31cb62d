//! Jiandaoyun's data push (数据推送) at `POST /hooks/<system>`: verified by its signature,
//! turned into the records of the flows that read the form.
//!
//! The platform posts `?nonce=…&timestamp=…` with the header `X-JDY-Signature` =
//! hex SHA-1 of `nonce:body:secret:timestamp` over the raw body, and a `X-JDY-DeliverId`
//! unique per delivery (the server answers a repeat of it as a duplicate). The body is
//! `{"op": "data_create" | "data_update" | "data_remove" | …, "data": {"_id", "entryId", …}}`;
//! each flow whose `source:` reads that form gets the record's id, and the engine reads the
//! record's current state (a removed one reads as deleted). The platform disables a push
//! after repeated failures, and batch imports push nothing: keep the flow's poll as the
//! backstop.

use chrono::{DateTime, TimeDelta, Utc};
use ferry_kit::inbound::{Changes, Inbound, InboundError, InboundFlow, InboundRequest, Verified};
use serde_json::Value;
use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;

/// How far a push's timestamp may be from this host's clock (the platform retries failed
/// pushes, re-signing them).
const WINDOW: TimeDelta = TimeDelta::hours(1);

/// Verifies and reads pushes signed with one secret.
pub struct JdyPush {
    secret: String,
}

impl JdyPush {
    pub fn new(secret: String) -> Self {
        Self { secret }
    }
}

/// hex SHA-1 of `nonce:body:secret:timestamp`.
pub fn signature(nonce: &str, body: &[u8], secret: &str, timestamp: &str) -> String {
    let mut hash = Sha1::new();
    hash.update(nonce.as_bytes());
    hash.update(b":");
    hash.update(body);
    hash.update(b":");
    hash.update(secret.as_bytes());
    hash.update(b":");
    hash.update(timestamp.as_bytes());
    hex::encode(hash.finalize())
}

fn query_param<'a>(query: Option<&'a str>, name: &str) -> Option<&'a str> {
    query?
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

impl Inbound for JdyPush {
    fn verify(&self, request: &InboundRequest<'_>) -> Result<Verified, InboundError> {
        let refuse = |why: &str| Err(InboundError::Signature(why.to_owned()));
        let Some(given) = request.header("x-jdy-signature") else {
            return refuse("no X-JDY-Signature header: not a Jiandaoyun data push");
        };
        let (Some(nonce), Some(timestamp)) = (
            query_param(request.query, "nonce"),
            query_param(request.query, "timestamp"),
        ) else {
            return refuse("the push URL lacks its `nonce` and `timestamp` parameters");
        };
        let Some(sent) = timestamp
            .parse::<i64>()
            .ok()
            .and_then(|s| DateTime::<Utc>::from_timestamp(s, 0))
        else {
            return refuse("the push's timestamp is not a time");
        };
        if (request.received_at - sent).abs() > WINDOW {
            return refuse(
                "the push's timestamp is outside the accepted window (check the clocks)",
            );
        }
        let expected = signature(nonce, request.body, &self.secret, timestamp);
        if !bool::from(
            expected
                .as_bytes()
                .ct_eq(given.trim().to_ascii_lowercase().as_bytes()),
        ) {
            return refuse("the signature does not match the push secret");
        }
        let replay_key = request
            .header("x-jdy-deliverid")
            .map_or_else(|| format!("sig:{expected}"), |d| format!("deliver:{d}"));
        Ok(Verified {
            replay_key,
            valid_until: sent + WINDOW,
        })
    }

    fn changes(
        &self,
        request: &InboundRequest<'_>,
        flows: &[InboundFlow<'_>],
    ) -> Result<Changes, InboundError> {
        let body: Value = serde_json::from_slice(request.body)
            .map_err(|e| InboundError::Malformed(format!("the push is not JSON: {e}")))?;
        let op = body.get("op").and_then(Value::as_str).unwrap_or_default();
        if !op.starts_with("data_") {
            return Ok(Changes::default()); // form changes and the like: nothing to read
        }
        let data = body.get("data");
        let text = |key: &str| data.and_then(|d| d.get(key)).and_then(Value::as_str);
        let (Some(id), Some(form)) = (text("_id"), text("entryId")) else {
            return Err(InboundError::Malformed(format!(
                "a `{op}` push without `data._id` and `data.entryId`"
            )));
        };
        let app = text("appId");
        let records = flows
            .iter()
            .filter(|f| f.source.get("form").and_then(Value::as_str) == Some(form))
            .filter(|f| app.is_none() || f.source.get("app").and_then(Value::as_str) == app)
            .map(|f| (f.name.to_owned(), id.to_owned()))
            .collect();
        Ok(Changes { records })
    }
}
