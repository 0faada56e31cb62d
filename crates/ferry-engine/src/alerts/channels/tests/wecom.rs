//! 企业微信: markdown in `{"msgtype", "markdown": {"content"}}` at most 4096 bytes; failures
//! are HTTP 200 with `errcode` ≠ 0; 45009 (too fast) is retried.

use axum::http::StatusCode;
use serde_json::json;

use super::receiver::{Receiver, Seen, json};
use super::*;

const KEY: &str = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa";

/// What WeCom checks before it takes a message.
fn refusal(seen: &Seen) -> Option<serde_json::Value> {
    let body = seen.json();
    let content = body["markdown"]["content"].as_str().unwrap_or_default();
    if seen.param("key").as_deref() != Some(KEY) {
        return Some(json!({"errcode": 93000, "errmsg": "invalid webhook url"}));
    }
    if !seen.content_type.starts_with("application/json")
        || body["msgtype"] != "markdown"
        || content.is_empty()
        || content.len() > 4096
    {
        return Some(json!({"errcode": 40008, "errmsg": "invalid message type"}));
    }
    None
}

fn wecom(receiver: &Receiver, key: &str) -> Channel {
    channel(&format!(
        "{{ kind: wecom, webhook: \"{}/cgi-bin/webhook/send?key={key}\", language: zh }}",
        receiver.base
    ))
}

#[tokio::test]
async fn posts_markdown_wecom_takes() {
    let receiver = Receiver::start(|seen, _| {
        json(
            StatusCode::OK,
            refusal(seen).unwrap_or(json!({"errcode": 0, "errmsg": "ok"})),
        )
    })
    .await;
    wecom(&receiver, KEY)
        .deliver(&digest(Language::Zh))
        .await
        .expect("delivered");
    let seen = receiver.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path, "/cgi-bin/webhook/send");
    let content = seen[0].json()["markdown"]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        content.starts_with("**🔴【Ferry】2 条告警：1 条告警中，1 条已恢复**\n"),
        "{content}"
    );
    assert!(
        content.contains("> **🔴 orders · 死信（仍未恢复）**\n> 3 条死信待处理"),
        "{content}"
    );
    assert!(content.contains(
        "<font color=\"comment\">自 2027-01-15 16:00:00 +08:00 起（已持续 42分钟）</font>"
    ));
    assert!(
        content.contains("[在 Ferry 控制台中查看](https://ferry.example.com/console/flows/orders)")
    );
}

#[tokio::test]
async fn an_errcode_is_a_failure_naming_the_channel_without_the_key() {
    let receiver = Receiver::start(|seen, _| {
        json(
            StatusCode::OK,
            refusal(seen).unwrap_or(json!({"errcode": 0, "errmsg": "ok"})),
        )
    })
    .await;
    let wrong = "0ec2sifa-WRONG-KEY-4bc4";
    let err = wecom(&receiver, wrong)
        .deliver(&digest(Language::En))
        .await
        .expect_err("WeCom refused it")
        .to_string();
    assert!(err.starts_with("alert channel `wecom`:"), "{err}");
    assert!(
        err.contains("WeCom refused the message: invalid webhook url (errcode 93000)"),
        "{err}"
    );
    assert!(!err.contains(wrong), "{err}");
    assert_eq!(receiver.seen().len(), 1, "a refusal is not retried");
}

#[tokio::test]
async fn sending_too_fast_is_retried() {
    let receiver = Receiver::start(|_, before| match before {
        0 => json(
            StatusCode::OK,
            json!({"errcode": 45009, "errmsg": "api freq out of limit"}),
        ),
        _ => json(StatusCode::OK, json!({"errcode": 0, "errmsg": "ok"})),
    })
    .await;
    wecom(&receiver, KEY)
        .deliver(&digest(Language::En))
        .await
        .expect("delivered on the second try");
    assert_eq!(receiver.seen().len(), 2);
}

#[test]
fn content_stays_within_4096_bytes() {
    let long = Alert {
        facts: Some(Facts::RunStopped {
            run: 1,
            error: "错误".repeat(300),
        }),
        ..dead_letters()
    };
    let many: Vec<Alert> = (0..8)
        .map(|i| Alert {
            flow: format!("流程{i}"),
            ..long.clone()
        })
        .collect();
    let d = Digest::new(&many, Language::Zh, &around());
    let body = crate::alerts::channels::wecom::body(&d);
    let content = body["markdown"]["content"].as_str().unwrap();
    assert!(content.len() <= 4096, "{}", content.len());
    assert!(content.ends_with('…'));
}
