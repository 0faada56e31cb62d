//! Event pushes (事件订阅) at `POST /hooks/<system>`: verified by their signature,
//! decrypted, and turned into the records of the flows that read the object.
//!
//! The platform posts `{"signature", "timestamp" (ms), "nonce", "encrypt"}`. As the
//! dossier's §7 gives it (variant C, the official isv-demo's):
//!
//! - `signature` = Base64(HmacSHA256(app secret, the timestamp as text, the nonce and
//!   `encrypt` sorted and joined));
//! - `encrypt` = Base64(AES-256-CBC, no padding, of 16 random bytes + the message's length
//!   (4 bytes, big-endian) + the message + the app key, PKCS#7-padded to a multiple of
//!   **32**); the key is Base64-decoded from the app secret without `-`, cut or padded with
//!   `0` to 43 characters plus `=` (decoded leniently, as Java does), the IV its first 16
//!   bytes. The app key at the tail is checked.
//!
//! The message is `{"type": <event code>, "eventId", "tenantId", …}` with the record where
//! each event puts it: a customer's `id` at the top, a material's `archive.id`, a sales
//! order's `BILL_INFO.billId`. Each flow whose `source:` reads that object gets the
//! record's id; the engine then reads its current state. A repeat of an `eventId` (the
//! platform retries for 24 hours) is answered as a duplicate. `CHECK_URL` and events of
//! objects no flow reads change nothing. Keep the flows' polls as the backstop.
//!
//! Every push accepted is answered with `success` the way the documentation asks: sealed
//! like a push (encrypted, signed, with a fresh timestamp and nonce), since the platform
//! otherwise sends it again for a day. The Python SDK's sample answers a plain `success`
//! instead; `event_reply: plain` does that, for a tenant that turns out to want it.

use aes::Aes256;
use base64::Engine as _;
use base64::alphabet::STANDARD as ALPHABET;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use cbc::cipher::block_padding::NoPadding;
use cbc::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use chrono::{DateTime, TimeDelta, Utc};
use ferry_kit::inbound::{
    Acknowledgement, Changes, Inbound, InboundError, InboundFlow, InboundRequest, Verified,
};
use serde_json::Value;
use subtle::ConstantTimeEq;

use crate::config::EventReply;
use crate::objects::Object;
use crate::reply::text;
use crate::token::hmac_sha256;

/// How long the platform retries a push, and so how long a repeat is recognised.
const RETRIED_FOR: TimeDelta = TimeDelta::hours(24);
/// How far ahead of this host's clock a push's timestamp may be.
const AHEAD: TimeDelta = TimeDelta::minutes(5);
/// The padding block of the plaintext.
const PAD_BLOCK: usize = 32;

/// Base64 that, as Java's decoders, accepts non-zero bits after the last full byte.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &ALPHABET,
    GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
);

/// Verifies and opens the pushes of one self-built app.
pub struct EventPush {
    app_key: String,
    app_secret: String,
    reply: EventReply,
}

impl std::fmt::Debug for EventPush {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventPush")
            .field("app_key", &self.app_key)
            .finish_non_exhaustive()
    }
}

/// A push body.
struct Sealed {
    signature: String,
    timestamp: String,
    nonce: String,
    encrypt: String,
}

impl EventPush {
    pub fn new(app_key: &str, app_secret: &str, reply: EventReply) -> Self {
        Self {
            app_key: app_key.to_owned(),
            app_secret: app_secret.to_owned(),
            reply,
        }
    }

    /// The signature a push with these parts must carry.
    fn signature(&self, timestamp: &str, nonce: &str, encrypt: &str) -> String {
        let mut parts = [timestamp, nonce, encrypt];
        parts.sort_unstable();
        STANDARD.encode(hmac_sha256(
            self.app_secret.as_bytes(),
            parts.concat().as_bytes(),
        ))
    }

    /// The AES-256 key derived from the app secret.
    fn aes_key(&self) -> Option<[u8; 32]> {
        let mut k43: String = self
            .app_secret
            .chars()
            .filter(|c| *c != '-')
            .take(43)
            .collect();
        while k43.chars().count() < 43 {
            k43.push('0');
        }
        LENIENT.decode(format!("{k43}=")).ok()?.try_into().ok()
    }

    /// The message inside `encrypt`, its app key checked.
    fn decrypt(&self, encrypt: &str) -> Result<String, InboundError> {
        let malformed =
            |why: &str| InboundError::Malformed(format!("the push cannot be opened: {why}"));
        let key = self
            .aes_key()
            .ok_or_else(|| malformed("the app secret does not make an AES-256 key"))?;
        let mut data = STANDARD
            .decode(encrypt.trim())
            .map_err(|_| malformed("`encrypt` is not Base64"))?;
        let cipher = cbc::Decryptor::<Aes256>::new_from_slices(&key, &key[..16])
            .map_err(|_| malformed("bad key"))?;
        let plain = cipher
            .decrypt_padded::<NoPadding>(&mut data)
            .map_err(|_| malformed("not whole AES blocks"))?;
        let plain = unpad(plain);
        let length = plain
            .get(16..20)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(u32::from_be_bytes)
            .ok_or_else(|| malformed("too short"))?;
        let end = 20 + length as usize;
        let message = plain
            .get(20..end)
            .ok_or_else(|| malformed("its length field is wrong"))?;
        if plain[end..] != *self.app_key.as_bytes() {
            return Err(malformed(
                "it is not for this app (the app key at its end differs)",
            ));
        }
        String::from_utf8(message.to_vec()).map_err(|_| malformed("the message is not UTF-8"))
    }

    /// `message` sealed as the platform seals a push: 16 random bytes, its length, itself
    /// and the app key, padded to 32, AES-256-CBC, Base64.
    fn encrypt(&self, message: &str) -> Option<String> {
        let key = self.aes_key()?;
        let mut plain = rand::random::<[u8; 16]>().to_vec();
        plain.extend(u32::try_from(message.len()).ok()?.to_be_bytes());
        plain.extend(message.as_bytes());
        plain.extend(self.app_key.as_bytes());
        let pad = PAD_BLOCK - plain.len() % PAD_BLOCK;
        plain.extend(std::iter::repeat_n(u8::try_from(pad).ok()?, pad));
        let length = plain.len();
        let cipher = cbc::Encryptor::<Aes256>::new_from_slices(&key, &key[..16]).ok()?;
        let sealed = cipher
            .encrypt_padded::<NoPadding>(&mut plain, length)
            .ok()?;
        Some(STANDARD.encode(sealed))
    }

    /// `success`, sealed with a fresh timestamp and nonce.
    fn sealed_success(&self) -> Option<Value> {
        let encrypt = self.encrypt("success")?;
        let timestamp = Utc::now().timestamp_millis().to_string();
        let nonce = format!("{:016x}", rand::random::<u64>());
        Some(serde_json::json!({
            "signature": self.signature(&timestamp, &nonce, &encrypt),
            "timestamp": timestamp.parse::<i64>().ok()?,
            "nonce": nonce,
            "encrypt": encrypt,
        }))
    }

    /// The decrypted message of a verified request.
    fn message(&self, request: &InboundRequest<'_>) -> Result<Value, InboundError> {
        let sealed = sealed(request.body)?;
        let text = self.decrypt(&sealed.encrypt)?;
        serde_json::from_str(&text)
            .map_err(|e| InboundError::Malformed(format!("the event is not JSON: {e}")))
    }
}

/// Removes PKCS#7 padding of block 32 (a last byte outside 1..=32 removes nothing).
fn unpad(plain: &[u8]) -> &[u8] {
    let pad = plain.last().map_or(0, |b| usize::from(*b));
    if (1..=PAD_BLOCK).contains(&pad) && pad <= plain.len() {
        &plain[..plain.len() - pad]
    } else {
        plain
    }
}

/// The parts of a push body (the timestamp a number or numeric text).
fn sealed(body: &[u8]) -> Result<Sealed, InboundError> {
    let body: Value = serde_json::from_slice(body)
        .map_err(|e| InboundError::Malformed(format!("the push is not JSON: {e}")))?;
    let part = |key: &str| body.get(key).and_then(text).filter(|v| !v.is_empty());
    match (
        part("signature"),
        part("timestamp"),
        part("nonce"),
        part("encrypt"),
    ) {
        (Some(signature), Some(timestamp), Some(nonce), Some(encrypt)) => Ok(Sealed {
            signature,
            timestamp,
            nonce,
            encrypt,
        }),
        _ => Err(InboundError::Signature(
            "not a Yonyou event push: `signature`, `timestamp`, `nonce` and `encrypt` are required"
                .into(),
        )),
    }
}

/// The object an event code is about.
fn object_of(event: &str) -> Option<Object> {
    Object::all()
        .into_iter()
        .find(|o| o.event_prefixes().iter().any(|p| event.starts_with(p)))
}

/// The record an event names, where its object's events put it.
fn record_id(object: Object, message: &Value) -> Option<String> {
    let at = match object {
        Object::Customers => "/id",
        Object::Materials => "/archive/id",
        Object::SalesOrders => "/BILL_INFO/billId",
    };
    message
        .pointer(at)
        .and_then(text)
        .filter(|id| !id.is_empty())
}

/// The object a flow's `source:` reads.
fn source_object(flow: &InboundFlow<'_>) -> Option<Object> {
    serde_json::from_value(flow.source.get("object")?.clone()).ok()
}

impl Inbound for EventPush {
    fn verify(&self, request: &InboundRequest<'_>) -> Result<Verified, InboundError> {
        let sealed = sealed(request.body)?;
        let refuse = |why: &str| Err(InboundError::Signature(why.to_owned()));
        let Some(sent) = sealed
            .timestamp
            .parse::<i64>()
            .ok()
            .and_then(DateTime::<Utc>::from_timestamp_millis)
        else {
            return refuse("the push's timestamp is not a time in milliseconds");
        };
        if sent - request.received_at > AHEAD || request.received_at - sent > RETRIED_FOR {
            return refuse(
                "the push's timestamp is outside the accepted window (check the clocks)",
            );
        }
        let expected = self.signature(&sealed.timestamp, &sealed.nonce, &sealed.encrypt);
        if !bool::from(
            expected
                .as_bytes()
                .ct_eq(sealed.signature.trim().as_bytes()),
        ) {
            return refuse("the signature does not match the app secret");
        }
        let event_id = self
            .decrypt(&sealed.encrypt)
            .ok()
            .and_then(|m| serde_json::from_str::<Value>(&m).ok())
            .and_then(|m| m.get("eventId").and_then(text));
        Ok(Verified {
            replay_key: event_id
                .map_or_else(|| format!("sig:{expected}"), |e| format!("event:{e}")),
            valid_until: sent + RETRIED_FOR,
        })
    }

    fn changes(
        &self,
        request: &InboundRequest<'_>,
        flows: &[InboundFlow<'_>],
    ) -> Result<Changes, InboundError> {
        let message = self.message(request)?;
        let event = message.get("type").and_then(text).unwrap_or_default();
        let Some(object) = object_of(&event) else {
            return Ok(Changes::default()); // CHECK_URL, and objects Ferry does not read
        };
        let Some(id) = record_id(object, &message) else {
            return Err(InboundError::Malformed(format!(
                "a `{event}` event without the record's id"
            )));
        };
        let records = flows
            .iter()
            .filter(|f| source_object(f) == Some(object))
            .map(|f| (f.name.to_owned(), id.clone()))
            .collect();
        Ok(Changes { records })
    }

    fn acknowledgement(&self, _request: &InboundRequest<'_>) -> Option<Acknowledgement> {
        let plain = Acknowledgement {
            content_type: "text/plain; charset=utf-8",
            body: b"success".to_vec(),
        };
        match self.reply {
            EventReply::Plain => Some(plain),
            // A secret that makes no AES key refuses every push at `verify` already.
            EventReply::Encrypted => self.sealed_success().map(|sealed| Acknowledgement {
                content_type: "application/json",
                body: sealed.to_string().into_bytes(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_doubles::yonyou::EventCrypto;
    use ferry_kit::http::HeaderMap;
    use ferry_model::Entity;
    use serde_json::{Map, json};

    fn push(body: &Value) -> (HeaderMap, Vec<u8>) {
        (HeaderMap::new(), serde_json::to_vec(body).unwrap())
    }

    #[test]
    fn a_push_sealed_as_documented_is_verified_and_routed() {
        let crypto = EventCrypto::new("yy-app-key", "yy-app-s3cret");
        let message = json!({"type": "YXYBASEDOC_PC_PRODUCT_UPDATE", "eventId": "e-1",
                             "archive": {"id": 2285750118220001_u64, "orgId": "global00"}});
        let now = Utc::now().timestamp_millis() as u64;
        let sealed = crypto
            .seal(&message.to_string(), now, "abcdEFGH12345678")
            .unwrap();
        let (headers, body) = push(&serde_json::to_value(&sealed).unwrap());
        let request = InboundRequest {
            headers: &headers,
            query: None,
            body: &body,
            received_at: Utc::now(),
        };
        let ours = EventPush::new("yy-app-key", "yy-app-s3cret", EventReply::Encrypted);
        let verified = ours.verify(&request).unwrap();
        assert_eq!(verified.replay_key, "event:e-1");
        let reads = |object: &str| {
            let mut m = Map::new();
            m.insert("object".into(), json!(object));
            m
        };
        let (materials, customers) = (reads("materials"), reads("customers"));
        let flows = [
            InboundFlow {
                name: "m",
                entity: &Entity::PRODUCT,
                source: &materials,
            },
            InboundFlow {
                name: "c",
                entity: &Entity::CUSTOMER,
                source: &customers,
            },
        ];
        let changes = ours.changes(&request, &flows).unwrap();
        assert_eq!(
            changes.records,
            vec![("m".to_owned(), "2285750118220001".to_owned())]
        );

        let wrong = EventPush::new("yy-app-key", "another-secret", EventReply::Encrypted);
        let refused = wrong.verify(&request).unwrap_err();
        assert!(!refused.to_string().contains("yy-app-s3cret"));
    }

    #[test]
    fn a_push_is_acknowledged_with_success_sealed_as_the_platform_opens_it() {
        let (headers, body) = push(&json!({}));
        let request = InboundRequest {
            headers: &headers,
            query: None,
            body: &body,
            received_at: Utc::now(),
        };
        let crypto = EventCrypto::new("yy-app-key", "yy-app-s3cret");
        let ours = EventPush::new("yy-app-key", "yy-app-s3cret", EventReply::Encrypted);
        let ack = ours.acknowledgement(&request).expect("an answer");
        assert_eq!(ack.content_type, "application/json");
        let reply: Value = serde_json::from_slice(&ack.body).unwrap();
        let sealed = EventCrypto::parse_sealed(&reply).expect("the push's own shape");
        assert_eq!(
            crypto.open(&sealed).unwrap(),
            "success",
            "signed and encrypted"
        );
        // Each answer is sealed afresh (random prefix, nonce).
        let again = ours.acknowledgement(&request).unwrap();
        assert_ne!(again.body, ack.body);

        let plain = EventPush::new("yy-app-key", "yy-app-s3cret", EventReply::Plain);
        assert_eq!(plain.acknowledgement(&request).unwrap().body, b"success");
    }
}
