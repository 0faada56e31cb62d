//! 飞书 / Lark custom bot: `POST https://open.feishu.cn/open-apis/bot/v2/hook/…` with a
//! message card, `{"msg_type": "interactive", "card": {header, elements}}`, the body at most
//! 20 KB. With 签名校验 on, the body also holds `timestamp` (seconds, within an hour of
//! Feishu's clock) and `sign`: the Base64 HmacSHA256 keyed with `timestamp + "\n" + secret`
//! over an empty message. Feishu answers `{"code": 0, "msg": "success"}`, or another `code`
//! (19021: the sign or the timestamp did not match).

use std::sync::Arc;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use ferry_kit::http::{Call, Url};
use ferry_kit::http::{Digest as HmacDigest, hmac};
use serde_json::{Value, json};

use super::{Digest, replies};

/// The request for `digest`, signed at `now` when there is a secret.
pub fn call(url: &Url, secret: Option<&str>, digest: &Digest, now: DateTime<Utc>) -> Call {
    let mut body = body(digest);
    if let Some(secret) = secret {
        let timestamp = now.timestamp().to_string();
        body["sign"] = Value::String(sign(&timestamp, secret));
        body["timestamp"] = Value::String(timestamp);
    }
    Call::post(url.as_str())
        .json(&body)
        .check(Arc::new(replies::FEISHU))
}

/// Base64(HmacSHA256(key = `timestamp + "\n" + secret`, message = empty)).
pub fn sign(timestamp: &str, secret: &str) -> String {
    let key = format!("{timestamp}\n{secret}");
    let mac = hmac(HmacDigest::Sha256, key.as_bytes(), b"");
    base64::engine::general_purpose::STANDARD.encode(mac)
}

/// The JSON body, unsigned: a card with a red (firing) or green (all recovered) header.
pub fn body(digest: &Digest) -> Value {
    let mut elements: Vec<Value> = Vec::new();
    for item in &digest.items {
        let mut text = format!("**{}**\n{}\n{}", item.heading, item.detail, item.when);
        if let Some(link) = &item.link {
            text.push_str(&format!("\n[{}]({link})", digest.button()));
        }
        elements.push(json!({ "tag": "div", "text": { "tag": "lark_md", "content": text } }));
    }
    if let Some(more) = &digest.more {
        elements.push(json!({ "tag": "div", "text": { "tag": "plain_text", "content": more } }));
    }
    if let Some(link) = digest.link.as_ref().filter(|_| digest.items.len() > 1) {
        elements.push(json!({
            "tag": "action",
            "actions": [{
                "tag": "button",
                "type": "primary",
                "text": { "tag": "plain_text", "content": digest.button() },
                "url": link.as_str(),
            }],
        }));
    }
    json!({
        "msg_type": "interactive",
        "card": {
            "config": { "wide_screen_mode": true },
            "header": {
                "template": if digest.firing { "red" } else { "green" },
                "title": { "tag": "plain_text", "content": digest.title },
            },
            "elements": elements,
        },
    })
}
