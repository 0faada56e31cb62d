//! Microsoft Teams through a Workflows webhook (the "Send webhook alerts to a channel"
//! template, trigger "When a Teams webhook request is received"): `POST` the URL Workflows
//! gives (`…/workflows/…/triggers/manual/paths/invoke?…&sig=…`) with an Adaptive Card in the
//! envelope the retired Office 365 connector used, which the template reads as
//! `attachments[0].content`:
//! `{"type": "message", "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "content": {AdaptiveCard 1.4}}]}`.
//! Workflows answers 202 Accepted and runs the flow afterwards.

use ferry_kit::http::{Call, Url};
use serde_json::{Value, json};

use super::Digest;

/// The Adaptive Card content type.
pub const CARD: &str = "application/vnd.microsoft.card.adaptive";

/// The request for `digest`.
pub fn call(url: &Url, digest: &Digest) -> Call {
    Call::post(url.as_str()).json(&body(digest))
}

/// The JSON body.
pub fn body(digest: &Digest) -> Value {
    let mut body = vec![json!({
        "type": "TextBlock",
        "text": digest.title,
        "size": "Medium",
        "weight": "Bolder",
        "color": if digest.firing { "Attention" } else { "Good" },
        "wrap": true,
    })];
    for item in &digest.items {
        body.push(json!({ "type": "TextBlock", "text": item.heading, "weight": "Bolder", "wrap": true, "separator": true }));
        body.push(
            json!({ "type": "TextBlock", "text": item.detail, "wrap": true, "spacing": "Small" }),
        );
        body.push(json!({ "type": "TextBlock", "text": item.when, "isSubtle": true, "wrap": true, "spacing": "None" }));
    }
    if let Some(more) = &digest.more {
        body.push(json!({ "type": "TextBlock", "text": more, "isSubtle": true, "wrap": true }));
    }
    let actions: Vec<Value> = digest
        .link
        .iter()
        .map(|link| json!({ "type": "Action.OpenUrl", "title": digest.button(), "url": link.as_str() }))
        .collect();
    json!({
        "type": "message",
        "attachments": [{
            "contentType": CARD,
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": body,
                "actions": actions,
                "msteams": { "width": "Full" },
            },
        }],
    })
}
