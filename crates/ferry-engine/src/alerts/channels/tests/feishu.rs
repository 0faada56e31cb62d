//! 飞书 / Lark: an interactive card; with 签名校验 on, `timestamp` (s, within an hour) and
//! `sign` = Base64(HmacSHA256(key = timestamp + "\n" + secret, empty message)) in the body;
//! failures are `{"code": ≠ 0, "msg"}`.

use axum::http::StatusCode;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::json;
use sha2::Sha256;

use super::receiver::{Receiver, Seen, json};
use super::*;

const HOOK: &str = "5e3d587e-d78e-4a07-bd07-265f269f86fd";
const SECRET: &str = "nIMtb7r3N9pkXyXdtAbx6e";

/// The sign as Feishu's documentation computes it.
fn expected_sign(timestamp: &str) -> String {
    let key = format!("{timestamp}\n{SECRET}");
    let mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).unwrap();
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// What a Feishu bot with signature verification checks before it takes a message.
fn answer(seen: &Seen) -> serde_json::Value {
    let body = seen.json();
    let timestamp = body["timestamp"].as_str().unwrap_or_default();
    let sign = body["sign"].as_str().unwrap_or_default();
    if seen.path != format!("/open-apis/bot/v2/hook/{HOOK}") {
        return json!({"code": 19001, "msg": "param invalid: incoming webhook access token invalid", "data": {}});
    }
    if !within_an_hour(timestamp, 1) || sign != expected_sign(timestamp) {
        return json!({
            "code": 19021,
            "msg": "sign match fail or timestamp is not within one hour from current time",
            "data": {}
        });
    }
    let card = &body["card"];
    if !seen.content_type.starts_with("application/json")
        || body["msg_type"] != "interactive"
        || !card["header"]["title"]["content"].is_string()
        || !card["elements"].is_array()
    {
        return json!({"code": 9499, "msg": "Bad Request", "data": {}});
    }
    json!({"code": 0, "msg": "success", "data": {}})
}

fn feishu(receiver: &Receiver, secret: &str) -> Channel {
    channel(&format!(
        "{{ kind: feishu, webhook: \"{}/open-apis/bot/v2/hook/{HOOK}\", secret: \"{secret}\", language: zh }}",
        receiver.base
    ))
}

#[tokio::test]
async fn signs_the_body_and_sends_a_card() {
    let receiver = Receiver::start(|seen, _| json(StatusCode::OK, answer(seen))).await;
    feishu(&receiver, SECRET)
        .deliver(&digest(Language::Zh))
        .await
        .expect("delivered");
    let card = receiver.seen()[0].json()["card"].clone();
    assert_eq!(card["header"]["template"], "red", "something is firing");
    assert_eq!(
        card["header"]["title"]["content"],
        "🔴【Ferry】2 条告警：1 条告警中，1 条已恢复"
    );
    let first = card["elements"][0]["text"]["content"].as_str().unwrap();
    assert!(
        first.starts_with("**🔴 orders · 死信（仍未恢复）**\n3 条死信待处理"),
        "{first}"
    );
    assert_eq!(
        card["elements"][2]["tag"], "action",
        "a button to the console"
    );
    assert_eq!(
        card["elements"][2]["actions"][0]["url"],
        "https://ferry.example.com/console/"
    );
}

#[tokio::test]
async fn a_bad_sign_is_a_failure_naming_the_channel_without_secrets() {
    let receiver = Receiver::start(|seen, _| json(StatusCode::OK, answer(seen))).await;
    let err = feishu(&receiver, "not-the-secret-0000")
        .deliver(&digest(Language::Zh))
        .await
        .expect_err("Feishu refused it")
        .to_string();
    assert!(err.starts_with("alert channel `feishu`:"), "{err}");
    assert!(err.contains("sign match fail"), "{err}");
    assert!(err.contains("(code 19021)"), "{err}");
    assert!(
        !err.contains(HOOK) && !err.contains("not-the-secret-0000"),
        "{err}"
    );
}

#[tokio::test]
async fn an_unsigned_bot_gets_no_sign() {
    let receiver = Receiver::start(|_, _| {
        json(
            StatusCode::OK,
            json!({"code": 0, "msg": "success", "data": {}}),
        )
    })
    .await;
    channel(&format!(
        "{{ kind: feishu, webhook: \"{}/open-apis/bot/v2/hook/{HOOK}\" }}",
        receiver.base
    ))
    .deliver(&digest(Language::En))
    .await
    .expect("delivered");
    let body = receiver.seen()[0].json();
    assert!(
        body.get("sign").is_none() && body.get("timestamp").is_none(),
        "{body}"
    );
}

#[test]
fn the_sign_matches_the_documented_recipe() {
    // Feishu's recipe (HmacSHA256 keyed with "timestamp\nsecret" over nothing, Base64) as
    // Python's hmac computes it for timestamp 1599360473 and secret `test-secret`.
    let sign = crate::alerts::channels::feishu::sign("1599360473", "test-secret");
    assert_eq!(sign, "wSds2BzzFIIGf/WrhUO+NI1q/9j+FRJd3JNHKAq0NZY=");
}
