//! Slack: `{"text", "blocks"}`; HTTP 200 `ok`, 4xx with the reason as text, 429 with
//! `Retry-After`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::IntoResponse;

use super::receiver::{Receiver, Seen, text};
use super::*;

const PATH: &str = "/services/T0123456789/B1001010101/7IsoQTrixdUtE971O1xQTm4T";

/// What Slack checks before it posts a message.
fn answer(seen: &Seen) -> axum::response::Response {
    if seen.path != PATH {
        return text(StatusCode::NOT_FOUND, "no_service");
    }
    let body: serde_json::Value = match serde_json::from_slice(&seen.body) {
        Ok(body) if seen.content_type.starts_with("application/json") => body,
        _ => return text(StatusCode::BAD_REQUEST, "invalid_payload"),
    };
    let blocks = body["blocks"].as_array().cloned().unwrap_or_default();
    let header_ok = blocks.first().is_some_and(|b| {
        b["type"] == "header"
            && b["text"]["type"] == "plain_text"
            && b["text"]["text"]
                .as_str()
                .is_some_and(|t| t.chars().count() <= 150)
    });
    let sections_ok = blocks[1..].iter().all(|b| {
        b["type"] != "section"
            || (b["text"]["type"] == "mrkdwn"
                && b["text"]["text"].as_str().is_some_and(|t| t.len() <= 3000))
    });
    if body["text"].as_str().is_none_or(str::is_empty) || !header_ok || !sections_ok {
        return text(StatusCode::BAD_REQUEST, "invalid_blocks");
    }
    text(StatusCode::OK, "ok")
}

fn slack(receiver: &Receiver, path: &str) -> Channel {
    channel(&format!(
        "{{ kind: slack, webhook: \"{}{path}\" }}",
        receiver.base
    ))
}

#[tokio::test]
async fn posts_text_and_blocks() {
    let receiver = Receiver::start(|seen, _| answer(seen)).await;
    let odd = Alert {
        flow: "a<b>&c".into(),
        ..dead_letters()
    };
    let d = Digest::new(&[odd, lag_recovered()], Language::En, &around());
    slack(&receiver, PATH).deliver(&d).await.expect("delivered");
    let body = receiver.seen()[0].json();
    assert!(
        body["text"]
            .as_str()
            .unwrap()
            .starts_with("🔴 [Ferry] 2 alerts")
    );
    let blocks = body["blocks"].as_array().unwrap();
    assert_eq!(
        blocks[0]["text"]["text"],
        "🔴 [Ferry] 2 alerts: 1 firing, 1 recovered"
    );
    let first = blocks[1]["text"]["text"].as_str().unwrap();
    assert!(
        first.starts_with("*🔴 a&lt;b&gt;&amp;c · dead letters (still)*\n3 open dead letter(s)"),
        "Slack's control characters are escaped: {first}"
    );
    assert!(
        first.contains("\n_since 2027-01-15 16:00:00 +08:00 (for 42m)_"),
        "{first}"
    );
    assert_eq!(blocks.last().unwrap()["type"], "actions");
}

#[tokio::test]
async fn a_refusal_names_the_channel_and_slacks_reason_without_the_token() {
    let receiver = Receiver::start(|seen, _| answer(seen)).await;
    let wrong = "/services/T0123456789/B1001010101/XXXXwrongTokenXXXX";
    let err = slack(&receiver, wrong)
        .deliver(&digest(Language::En))
        .await
        .expect_err("no such webhook")
        .to_string();
    assert!(err.starts_with("alert channel `slack`:"), "{err}");
    assert!(
        err.contains("HTTP 404") && err.contains("no_service"),
        "{err}"
    );
    assert!(
        !err.contains("XXXXwrongTokenXXXX") && !err.contains("B1001010101"),
        "{err}"
    );
}

#[tokio::test]
async fn rate_limited_waits_for_retry_after() {
    let receiver = Receiver::start(|seen, before| {
        if before == 0 {
            let mut r = text(StatusCode::TOO_MANY_REQUESTS, "rate_limited").into_response();
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            return r;
        }
        answer(seen)
    })
    .await;
    slack(&receiver, PATH)
        .deliver(&digest(Language::En))
        .await
        .expect("delivered after the wait");
    assert_eq!(receiver.seen().len(), 2);
}
