//! Shopify's webhooks at `POST /hooks/<system>`: verified by their HMAC, turned into the
//! ids of the records that changed, which the engine then reads (`fetch` by id): a
//! webhook's payload is never taken as the record's state (deliveries come out of order
//! and twice).
//!
//! - **Verify**: `X-Shopify-Hmac-Sha256` is the Base64 HMAC-SHA256 of the raw body keyed
//!   with the app's client secret; compared in constant time, whitespace trimmed (Ruby's
//!   `Base64.encode64` adds a newline). The un-prefixed `Shopify-Hmac-Sha256` (newer
//!   deliveries, the official SDKs accept both) is read too; header names are
//!   case-insensitive.
//! - **Repeats**: `X-Shopify-Webhook-Id` (or `Shopify-Webhook-Id`) is the delivery's id,
//!   the same on Shopify's retries (8 over 4 hours): a repeat within 5 hours is answered
//!   as a duplicate.
//! - **Changes**: the topic (`X-Shopify-Topic`) names the object: `customers/*` →
//!   customers, `products/*` → products, `orders/*` → orders, `fulfillments/*` and
//!   `refunds/create` → their order (`order_id`). The record is the payload's
//!   `admin_graphql_api_id`, else its numeric `id` made a GID. A `*/delete` reads as
//!   deleted when fetched. Other topics (`inventory_levels/update`, `app/uninstalled`,
//!   `bulk_operations/finish`) change nothing a flow reads.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::TimeDelta;
use ferry_kit::http::{Digest, hmac};
use ferry_kit::inbound::{Changes, Inbound, InboundError, InboundFlow, InboundRequest, Verified};
use serde_json::Value;
use subtle::ConstantTimeEq;

use crate::source::as_gid;

/// How long a repeat of a delivery is recognised (Shopify retries for 4 hours).
const RETRIED_FOR: TimeDelta = TimeDelta::hours(5);

/// Verifies and reads the webhooks of one app.
pub struct Webhooks {
    secret: String,
}

impl std::fmt::Debug for Webhooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhooks").finish_non_exhaustive()
    }
}

/// Base64 of HMAC-SHA256 over `body` keyed with `secret`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    STANDARD.encode(hmac(Digest::Sha256, secret.as_bytes(), body))
}

/// A header by its `X-Shopify-` name or the un-prefixed one.
fn header<'a>(request: &'a InboundRequest<'_>, name: &str) -> Option<&'a str> {
    request
        .header(&format!("x-shopify-{name}"))
        .or_else(|| request.header(&format!("shopify-{name}")))
}

impl Webhooks {
    pub fn new(secret: String) -> Self {
        Self { secret }
    }
}

impl Inbound for Webhooks {
    fn verify(&self, request: &InboundRequest<'_>) -> Result<Verified, InboundError> {
        let Some(given) = header(request, "hmac-sha256") else {
            return Err(InboundError::Signature(
                "no X-Shopify-Hmac-Sha256 header: not a Shopify webhook".into(),
            ));
        };
        let expected = signature(&self.secret, request.body);
        if !bool::from(expected.as_bytes().ct_eq(given.trim().as_bytes())) {
            return Err(InboundError::Signature(
                "the HMAC does not match the body signed with the app's client secret".into(),
            ));
        }
        let replay_key = header(request, "webhook-id")
            .map_or_else(|| format!("hmac:{expected}"), |id| format!("webhook:{id}"));
        Ok(Verified {
            replay_key,
            valid_until: request.received_at + RETRIED_FOR,
        })
    }

    fn changes(
        &self,
        request: &InboundRequest<'_>,
        flows: &[InboundFlow<'_>],
    ) -> Result<Changes, InboundError> {
        let topic = header(request, "topic").unwrap_or_default();
        let body: Value = serde_json::from_slice(request.body)
            .map_err(|e| InboundError::Malformed(format!("the webhook is not JSON: {e}")))?;
        let (object, kind, id) = match topic.split('/').next().unwrap_or_default() {
            "customers" => ("customers", "Customer", own_id(&body, "Customer")),
            "products" => ("products", "Product", own_id(&body, "Product")),
            "orders" => ("orders", "Order", own_id(&body, "Order")),
            "fulfillments" | "refunds" => ("orders", "Order", order_id(&body)),
            _ => return Ok(Changes::default()),
        };
        let Some(id) = id else {
            return Err(InboundError::Malformed(format!(
                "a `{topic}` webhook without the {kind}'s id"
            )));
        };
        let records = flows
            .iter()
            .filter(|f| f.source.get("object").and_then(Value::as_str) == Some(object))
            .map(|f| (f.name.to_owned(), id.clone()))
            .collect();
        Ok(Changes { records })
    }
}

/// The payload's own record: `admin_graphql_api_id`, else its numeric `id`.
fn own_id(body: &Value, kind: &str) -> Option<String> {
    body.get("admin_graphql_api_id")
        .and_then(Value::as_str)
        .and_then(|g| as_gid(g, kind))
        .or_else(|| number(body.get("id")).and_then(|n| as_gid(&n, kind)))
}

/// A fulfilment's or refund's order.
fn order_id(body: &Value) -> Option<String> {
    number(body.get("order_id")).and_then(|n| as_gid(&n, "Order"))
}

fn number(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_base64_hmac_sha256_of_the_body() {
        // Python: base64.b64encode(hmac.new(b'secret', b'{"id":1}', hashlib.sha256).digest())
        assert_eq!(
            signature("secret", br#"{"id":1}"#),
            "A971iWIMgT8Zj9A9eWfikrFj7wQ16/Qwcc4OlRl2PLc="
        );
    }

    #[test]
    fn records_are_named_by_gid_or_number() {
        let body =
            serde_json::json!({"id": 12, "admin_graphql_api_id": "gid://shopify/Customer/12"});
        assert_eq!(
            own_id(&body, "Customer").as_deref(),
            Some("gid://shopify/Customer/12")
        );
        let bare = serde_json::json!({"id": 7});
        assert_eq!(
            own_id(&bare, "Order").as_deref(),
            Some("gid://shopify/Order/7")
        );
        let fulfilment = serde_json::json!({"id": 3, "order_id": 9});
        assert_eq!(
            order_id(&fulfilment).as_deref(),
            Some("gid://shopify/Order/9")
        );
    }
}
