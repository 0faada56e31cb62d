//! 钉钉 (DingTalk) custom robot: `POST https://oapi.dingtalk.com/robot/send?access_token=…`
//! with `{"msgtype": "markdown", "markdown": {"title": "…", "text": "…"}}` (the title is what
//! the notification shows). Signed robots (加签) also take `&timestamp=…&sign=…`: the
//! timestamp in milliseconds, within an hour of DingTalk's clock, and the sign the Base64
//! HmacSHA256, keyed with the secret, of `timestamp + "\n" + secret`, URL-encoded. DingTalk
//! answers HTTP 200 with `{"errcode": 0, "errmsg": "ok"}`, or another `errcode` (310000:
//! the sign, a keyword or the IP allow-list did not match).

use std::sync::Arc;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use ferry_kit::http::{Call, Url};
use ferry_kit::http::{Digest as HmacDigest, hmac};
use serde_json::{Value, json};

use super::{Digest, replies};

/// The request for `digest`, signed at `now` when there is a secret.
pub fn call(url: &Url, secret: Option<&str>, digest: &Digest, now: DateTime<Utc>) -> Call {
    let mut call = Call::post(url.as_str())
        .json(&body(digest))
        .check(Arc::new(replies::DINGTALK));
    if let Some(secret) = secret {
        let timestamp = now.timestamp_millis().to_string();
        // The query encoder percent-encodes the Base64 (`+`, `/`, `=`), as DingTalk asks.
        call = call
            .query("timestamp", &timestamp)
            .query("sign", sign(&timestamp, secret));
    }
    call
}

/// Base64(HmacSHA256(key = `secret`, message = `timestamp + "\n" + secret`)), before
/// URL-encoding.
pub fn sign(timestamp: &str, secret: &str) -> String {
    let message = format!("{timestamp}\n{secret}");
    let mac = hmac(HmacDigest::Sha256, secret.as_bytes(), message.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac)
}

/// The JSON body.
pub fn body(digest: &Digest) -> Value {
    json!({
        "msgtype": "markdown",
        "markdown": { "title": digest.title, "text": markdown(digest) },
    })
}

/// DingTalk's Markdown needs a blank line between paragraphs to break lines.
fn markdown(digest: &Digest) -> String {
    let mut out = format!("#### {}\n\n", digest.title);
    for item in &digest.items {
        out.push_str(&format!(
            "**{}**\n\n{}\n\n{}\n\n",
            item.heading, item.detail, item.when
        ));
        if let Some(link) = &item.link {
            out.push_str(&format!("[{}]({link})\n\n", digest.button()));
        }
    }
    if let Some(more) = &digest.more {
        out.push_str(&format!("{more}\n\n"));
        if let Some(link) = &digest.link {
            out.push_str(&format!("[{}]({link})\n\n", digest.button()));
        }
    }
    out
}
