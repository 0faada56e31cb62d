//! Event-subscription pushes (事件订阅): the double POSTs
//! `{"signature", "timestamp", "nonce", "encrypt"}` to the callback URL, the decrypted
//! message being `{"type", "eventId", "timestamp", "tenantId", …business payload…}`, and
//! expects the encrypted `success` back (a plain `success` is accepted too, as the Python
//! SDK sample answers; the log records which). A failed push is retried with the same
//! `eventId`. Every delivery is logged for tests.

use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::Ctx;
use super::config::YonyouConfig;
use super::event_crypto::{EventCrypto, nonce};
use super::objects::{MERCHANT, PRODUCT, VOUCHER_ORDER, name_text, wire_id};
use super::token::now_ms;
use crate::store::Record;

/// The callback check sent when a subscription is saved.
pub const CHECK_URL: &str = "CHECK_URL";
pub const MERCHANT_INSERT: &str = "YXYBASEDOC_AA_MERCHANT_INSERT";
pub const MERCHANT_UPDATE: &str = "YXYBASEDOC_AA_MERCHANT_UPDATE";
pub const PRODUCT_INSERT: &str = "YXYBASEDOC_PC_PRODUCT_INSERT";
pub const PRODUCT_UPDATE: &str = "YXYBASEDOC_PC_PRODUCT_UPDATE";
pub const SALE_SAVE: &str = "SALE_SAVEORDER_NOTIFY_SENT";
pub const SALE_SUBMIT: &str = "SALE_SUBMITORDER_NOTIFY_SENT";
pub const SALE_AUDIT: &str = "SALE_AUDITORDER_NOTIFY_SENT";
pub const SALE_UNAUDIT: &str = "SALE_UNAUDITORDER_NOTIFY_SENT";
pub const SALE_DELETE: &str = "SALE_DELETEORDER_NOTIFY_SENT";

/// How the callback answered the last attempt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PushOutcome {
    /// The documented reply: `success` encrypted and signed.
    EncryptedSuccess,
    /// A plain-text `success` (the Python SDK sample's reply).
    PlainSuccess,
    /// Anything else: no answer, a non-2xx status, a bad signature, another text.
    Refused { status: Option<u16>, reason: String },
}

/// One event pushed (with its retries).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PushDelivery {
    pub event_type: String,
    pub event_id: String,
    /// The decrypted message that was sent.
    pub event: Value,
    /// The body of the last attempt.
    pub sent: Value,
    pub attempts: u32,
    pub outcome: PushOutcome,
}

impl PushDelivery {
    /// Whether the callback acknowledged the event (either form of `success`).
    pub fn delivered(&self) -> bool {
        !matches!(self.outcome, PushOutcome::Refused { .. })
    }
}

/// The callback URL and the deliveries so far.
#[derive(Debug, Default)]
pub struct PushState {
    url: Mutex<Option<String>>,
    log: Mutex<Vec<PushDelivery>>,
    client: OnceLock<reqwest::Client>,
}

impl PushState {
    pub fn set_url(&self, url: Option<String>) {
        *self.url.lock().unwrap_or_else(PoisonError::into_inner) = url;
    }

    pub fn url(&self) -> Option<String> {
        self.url
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn log(&self) -> Vec<PushDelivery> {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn clear_log(&self) {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    fn client(&self) -> reqwest::Client {
        self.client
            .get_or_init(|| {
                // reqwest is built without a default TLS provider; pick ring as Ferry does.
                let _ = rustls::crypto::ring::default_provider().install_default();
                reqwest::Client::builder().build().unwrap_or_default()
            })
            .clone()
    }
}

/// A random event id in UUID form.
fn event_id() -> String {
    let b: [u8; 16] = rand::random();
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// The decrypted message: the outer fields, then the payload's fields.
pub fn event_message(config: &YonyouConfig, event_type: &str, payload: &Value) -> Value {
    let mut out = Map::new();
    out.insert("type".into(), event_type.into());
    out.insert("eventId".into(), event_id().into());
    out.insert("timestamp".into(), now_ms().into());
    out.insert("tenantId".into(), config.tenant_id.clone().into());
    if let Value::Object(fields) = payload {
        out.extend(fields.clone());
    }
    Value::Object(out)
}

/// Pushes `event` to `url`, retrying as configured, and logs the delivery.
pub async fn deliver(
    config: Arc<YonyouConfig>,
    state: Arc<PushState>,
    url: String,
    event: Value,
) -> PushDelivery {
    let crypto = EventCrypto::new(&config.app_key, &config.app_secret);
    let message = event.to_string();
    let mut delivery = PushDelivery {
        event_type: event["type"].as_str().unwrap_or("").to_owned(),
        event_id: event["eventId"].as_str().unwrap_or("").to_owned(),
        event,
        sent: Value::Null,
        attempts: 0,
        outcome: PushOutcome::Refused {
            status: None,
            reason: "not sent".into(),
        },
    };
    while delivery.attempts <= config.push.retries {
        if delivery.attempts > 0 {
            tokio::time::sleep(config.push.retry_delay).await;
        }
        delivery.attempts += 1;
        let (sent, outcome) = attempt(&state, &crypto, &url, &message, config.push.timeout).await;
        (delivery.sent, delivery.outcome) = (sent, outcome);
        if delivery.delivered() {
            break;
        }
    }
    let mut log = state.log.lock().unwrap_or_else(PoisonError::into_inner);
    log.push(delivery.clone());
    delivery
}

/// One POST of the sealed message; the body sent and the judged reply.
async fn attempt(
    state: &PushState,
    crypto: &EventCrypto,
    url: &str,
    message: &str,
    timeout: Duration,
) -> (Value, PushOutcome) {
    let refused = |status, reason: String| PushOutcome::Refused { status, reason };
    let sealed = match crypto.seal(message, now_ms(), &nonce()) {
        Ok(sealed) => sealed,
        Err(e) => return (Value::Null, refused(None, e.to_string())),
    };
    let sent = serde_json::to_value(&sealed).unwrap_or_default();
    let request = state.client().post(url).json(&sealed).timeout(timeout);
    let outcome = match request.send().await {
        Err(e) => refused(None, format!("no answer: {e}")),
        Ok(response) => {
            let status = response.status().as_u16();
            let body = response.text().await.unwrap_or_default();
            judge_reply(crypto, status, &body)
        }
    };
    (sent, outcome)
}

/// Whether a callback's answer acknowledges the event.
pub fn judge_reply(crypto: &EventCrypto, status: u16, body: &str) -> PushOutcome {
    let refused = |reason: String| PushOutcome::Refused {
        status: Some(status),
        reason,
    };
    if !(200..300).contains(&status) {
        return refused(format!("status {status}: {body}"));
    }
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    if let Some(sealed) = parsed.as_ref().and_then(EventCrypto::parse_sealed) {
        return match crypto.open(&sealed) {
            Ok(text) if text == "success" => PushOutcome::EncryptedSuccess,
            Ok(text) => refused(format!("the decrypted reply is `{text}`, not `success`")),
            Err(e) => refused(format!("the encrypted reply does not open: {e}")),
        };
    }
    if body.trim() == "success" || parsed.as_ref().and_then(Value::as_str) == Some("success") {
        return PushOutcome::PlainSuccess;
    }
    refused(format!("the reply is not `success`: {body}"))
}

/// After a write through the API: pushes `event_type` in the background when a callback
/// URL is set and pushes on write are on.
pub fn notify(ctx: &Ctx, event_type: &str, payload: Value) {
    let Some(url) = ctx.shared.push.url() else {
        return;
    };
    if !ctx.config.push.on_write {
        return;
    }
    let event = event_message(&ctx.config, event_type, &payload);
    let (config, state) = (ctx.config.clone(), ctx.shared.push.clone());
    tokio::spawn(deliver(config, state, url, event));
}

/// A customer event's payload: the customer as a flat object (`name` as `{"zh_CN"}`).
pub fn merchant_payload(record: &Record) -> Value {
    let f = &record.fields;
    json!({
        "id": wire_id(MERCHANT, record.id),
        "code": f["code"],
        "name": {"zh_CN": name_text(&f["name"]).unwrap_or_default()},
        "createOrg": f["createOrgId"],
        "transType": f.get("transTypeCode").cloned().unwrap_or(Value::Null),
        "merchantAppliedDetail": f.get("merchantAppliedDetail").cloned().unwrap_or_else(|| json!({})),
    })
}

/// A material event's payload: `{"archive": {"id", "orgId"}}`.
pub fn product_payload(record: &Record) -> Value {
    json!({"archive": {"id": wire_id(PRODUCT, record.id), "orgId": record.fields["orgId"]}})
}

/// A sales-order event's payload: `{"BILL_INFO": {"billId", "billCode", "billNo"}}`.
pub fn order_payload(record: &Record) -> Value {
    json!({"BILL_INFO": {
        "billId": wire_id(VOUCHER_ORDER, record.id),
        "billCode": record.fields["code"],
        "billNo": "voucher_order",
    }})
}

/// The documented payload of an event about the record `code` of `object`.
pub fn record_payload(record: &Record, object: &str) -> Value {
    match object {
        MERCHANT => merchant_payload(record),
        PRODUCT => product_payload(record),
        _ => order_payload(record),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_judged_encrypted_plain_or_refused() {
        let crypto = EventCrypto::new("yy-app-key", "yy-app-s3cret");
        let sealed = crypto.seal("success", 1, "n").unwrap();
        let body = serde_json::to_string(&sealed).unwrap();
        assert_eq!(
            judge_reply(&crypto, 200, &body),
            PushOutcome::EncryptedSuccess
        );
        assert_eq!(
            judge_reply(&crypto, 200, " success\n"),
            PushOutcome::PlainSuccess
        );
        assert!(matches!(
            judge_reply(&crypto, 500, "success"),
            PushOutcome::Refused { .. }
        ));
        let wrong = EventCrypto::new("yy-app-key", "other-secret")
            .seal("success", 1, "n")
            .unwrap();
        let body = serde_json::to_string(&wrong).unwrap();
        assert!(matches!(
            judge_reply(&crypto, 200, &body),
            PushOutcome::Refused { .. }
        ));
    }

    #[test]
    fn event_messages_carry_the_outer_fields_then_the_payload() {
        let config = YonyouConfig::default();
        let message = event_message(&config, SALE_AUDIT, &json!({"BILL_INFO": {"billId": 1}}));
        assert_eq!(message["type"], SALE_AUDIT);
        assert_eq!(message["tenantId"], "ferry-tenant");
        assert_eq!(message["eventId"].as_str().unwrap().len(), 36);
        assert_eq!(message["BILL_INFO"]["billId"], 1);
    }
}
