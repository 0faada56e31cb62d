//! Teams (Workflows): an Adaptive Card in `{"type": "message", "attachments": [...]}`;
//! 202 Accepted.

use axum::http::StatusCode;
use serde_json::json;

use super::receiver::{Receiver, Seen, json, text};
use super::*;

const SIG: &str = "Hx2mQ8vYp3kLw9TzR4nB7cD1eF5gJ6hK0aS";

/// What the "When a Teams webhook request is received" trigger checks.
fn answer(seen: &Seen) -> axum::response::Response {
    if seen.param("sig").as_deref() != Some(SIG) {
        return json(
            StatusCode::UNAUTHORIZED,
            json!({"error": {"code": "DirectApiAuthorizationRequired", "message": "The request must be authenticated."}}),
        );
    }
    let body = seen.json();
    let attachment = &body["attachments"][0];
    let card = &attachment["content"];
    let valid = seen.content_type.starts_with("application/json")
        && body["type"] == "message"
        && attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
        && card["type"] == "AdaptiveCard"
        && card["version"] == "1.4"
        && card["body"].as_array().is_some_and(|b| {
            b.iter()
                .all(|e| e["type"] == "TextBlock" && e["text"].is_string())
        });
    if !valid {
        return json(
            StatusCode::BAD_REQUEST,
            json!({"error": {"code": "TriggerInputSchemaMismatch", "message": "The input body for trigger 'manual' of type 'Request' did not match its schema definition."}}),
        );
    }
    text(StatusCode::ACCEPTED, "")
}

fn teams(receiver: &Receiver, sig: &str) -> Channel {
    channel(&format!(
        "{{ kind: teams, webhook: \"{}/workflows/4b1e/triggers/manual/paths/invoke?api-version=1&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig={sig}\" }}",
        receiver.base
    ))
}

#[tokio::test]
async fn posts_an_adaptive_card_in_the_attachments_envelope() {
    let receiver = Receiver::start(|seen, _| answer(seen)).await;
    teams(&receiver, SIG)
        .deliver(&digest(Language::En))
        .await
        .expect("accepted");
    let card = receiver.seen()[0].json()["attachments"][0]["content"].clone();
    assert_eq!(
        card["body"][0]["text"],
        "🔴 [Ferry] 2 alerts: 1 firing, 1 recovered"
    );
    assert_eq!(card["body"][0]["color"], "Attention");
    assert_eq!(card["body"][1]["text"], "🔴 orders · dead letters (still)");
    assert_eq!(card["actions"][0]["type"], "Action.OpenUrl");
    assert_eq!(
        card["actions"][0]["url"],
        "https://ferry.example.com/console/"
    );
}

#[tokio::test]
async fn a_refusal_names_the_channel_and_the_reason_without_the_sig() {
    let receiver = Receiver::start(|seen, _| answer(seen)).await;
    let err = teams(&receiver, "WRONGsig0123456789")
        .deliver(&digest(Language::En))
        .await
        .expect_err("refused")
        .to_string();
    assert!(err.starts_with("alert channel `teams`:"), "{err}");
    assert!(err.contains("The request must be authenticated."), "{err}");
    assert!(!err.contains("WRONGsig0123456789"), "{err}");
}
