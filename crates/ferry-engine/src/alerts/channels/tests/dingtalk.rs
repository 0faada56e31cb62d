//! 钉钉: markdown `{"msgtype", "markdown": {"title", "text"}}`; signed robots check
//! `timestamp` (ms, within an hour) and `sign` = urlEncode(Base64(HmacSHA256(secret,
//! timestamp + "\n" + secret))) in the query; failures are HTTP 200 with `errcode` ≠ 0.

use axum::http::StatusCode;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::json;
use sha2::Sha256;

use super::receiver::{Receiver, Seen, json};
use super::*;

const TOKEN: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f90";
const SECRET: &str = "SEC3a4b5c6d7e8f9012345678901234567890abcdef1234567890abcdef123456";

/// The sign as DingTalk's documentation computes it, URL-encoded as its Java sample does.
fn expected_sign(timestamp: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("{timestamp}\n{SECRET}").as_bytes());
    let b64 = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    b64.replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D")
}

/// What a signed DingTalk robot checks before it takes a message.
fn answer(seen: &Seen) -> serde_json::Value {
    let body = seen.json();
    if seen.param("access_token").as_deref() != Some(TOKEN) {
        return json!({"errcode": 300001, "errmsg": "token is not exist"});
    }
    let timestamp = seen.param("timestamp").unwrap_or_default();
    let signed = seen.raw_param("sign") == Some(expected_sign(&timestamp));
    if !within_an_hour(&timestamp, 1000) || !signed {
        return json!({
            "errcode": 310000,
            "errmsg": "sign not match, more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]"
        });
    }
    let markdown = &body["markdown"];
    if !seen.content_type.starts_with("application/json")
        || body["msgtype"] != "markdown"
        || !markdown["title"].is_string()
        || !markdown["text"].is_string()
    {
        return json!({"errcode": 40035, "errmsg": "缺少参数 json"});
    }
    json!({"errcode": 0, "errmsg": "ok"})
}

fn dingtalk(receiver: &Receiver, secret: &str) -> Channel {
    channel(&format!(
        "{{ kind: dingtalk, webhook: \"{}/robot/send?access_token={TOKEN}\", secret: \"{secret}\" }}",
        receiver.base
    ))
}

#[tokio::test]
async fn signs_as_dingtalk_checks_and_posts_markdown() {
    let receiver = Receiver::start(|seen, _| json(StatusCode::OK, answer(seen))).await;
    dingtalk(&receiver, SECRET)
        .deliver(&digest(Language::En))
        .await
        .expect("delivered");
    let seen = &receiver.seen()[0];
    let markdown = &seen.json()["markdown"];
    assert_eq!(
        markdown["title"],
        "🔴 [Ferry] 2 alerts: 1 firing, 1 recovered"
    );
    let text = markdown["text"].as_str().unwrap();
    assert!(text.starts_with("#### 🔴 [Ferry] 2 alerts"), "{text}");
    assert!(
        text.contains("**🔴 orders · dead letters (still)**\n\n3 open dead letter(s)"),
        "{text}"
    );
    assert!(
        text.contains(
            "[Open in the Ferry console](https://ferry.example.com/console/flows/orders)"
        )
    );
}

#[tokio::test]
async fn sign_not_match_is_a_failure_naming_the_channel_without_secrets() {
    let receiver = Receiver::start(|seen, _| json(StatusCode::OK, answer(seen))).await;
    let wrong = "SECwrong0000000000000000000000000000000000000000000000000000000000";
    let err = dingtalk(&receiver, wrong)
        .deliver(&digest(Language::En))
        .await
        .expect_err("DingTalk refused it")
        .to_string();
    assert!(err.starts_with("alert channel `dingtalk`:"), "{err}");
    assert!(err.contains("sign not match"), "{err}");
    assert!(err.contains("(errcode 310000)"), "{err}");
    assert!(!err.contains(wrong) && !err.contains(TOKEN), "{err}");
    assert_eq!(receiver.seen().len(), 1, "a refusal is not retried");
}

#[test]
fn the_sign_matches_the_documented_recipe() {
    // DingTalk's Python sample (`quote_plus(b64encode(hmac(secret, f"{ts}\n{secret}")))`)
    // prints this for timestamp 1700000000000 and secret `secret`.
    let sign = crate::alerts::channels::dingtalk::sign("1700000000000", "secret");
    assert_eq!(sign, "OuzzJR5+xZ4/EYwqtNt6sMYZQMTa/HEGvc9miJe7XzY=");
}
