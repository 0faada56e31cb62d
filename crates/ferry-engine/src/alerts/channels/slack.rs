//! Slack incoming webhook: `POST https://hooks.slack.com/services/…` with `{"text", "blocks"}`:
//! `text` is what notifications and screen readers show, the blocks what the channel shows
//! (a header of at most 150 characters, a section per alert in `mrkdwn`, where `&`, `<` and
//! `>` must be escaped, and a button to the console). Slack answers HTTP 200 `ok`, or a 4xx
//! whose body is the reason (`invalid_payload`, `channel_is_archived`, `no_service`…), or
//! 429 with `Retry-After`.

use ferry_kit::http::{Call, Url};
use serde_json::{Value, json};

use super::Digest;
use super::digest::clip;

/// The documented limit of a header block's text.
const MAX_HEADER: usize = 150;

/// The request for `digest`.
pub fn call(url: &Url, digest: &Digest) -> Call {
    Call::post(url.as_str()).json(&body(digest))
}

/// The JSON body.
pub fn body(digest: &Digest) -> Value {
    let mut blocks = vec![json!({
        "type": "header",
        "text": { "type": "plain_text", "text": clip(&digest.title, MAX_HEADER), "emoji": true },
    })];
    for item in &digest.items {
        let mut text = format!(
            "*{}*\n{}\n_{}_",
            escape(&item.heading),
            escape(&item.detail),
            escape(&item.when)
        );
        if let Some(link) = &item.link {
            text.push_str(&format!("\n<{link}|{}>", digest.button()));
        }
        blocks.push(json!({ "type": "section", "text": { "type": "mrkdwn", "text": text } }));
    }
    if let Some(more) = &digest.more {
        blocks.push(json!({
            "type": "context",
            "elements": [{ "type": "mrkdwn", "text": escape(more) }],
        }));
    }
    if let Some(link) = digest.link.as_ref().filter(|_| digest.items.len() > 1) {
        blocks.push(json!({
            "type": "actions",
            "elements": [{
                "type": "button",
                "text": { "type": "plain_text", "text": digest.button() },
                "url": link.as_str(),
            }],
        }));
    }
    json!({ "text": digest.text(), "blocks": blocks })
}

/// Slack's three control characters in `mrkdwn`.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
