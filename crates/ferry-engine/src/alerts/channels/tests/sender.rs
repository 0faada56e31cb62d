//! The sender: one message per check to every channel at once, a failing channel stopping
//! no other; channels that cannot be built are config problems at their keys.

use axum::http::StatusCode;
use ferry_model::config::AlertsConfig;
use serde_json::json;

use super::receiver::{Receiver, json, text};
use super::*;
use crate::alerts::Sender;

fn sender(yaml: &str) -> Result<Sender, Vec<String>> {
    let config: AlertsConfig = serde_saphyr::from_str(yaml).expect("an alerts section");
    Sender::new(&config, around()).map_err(|issues| {
        issues
            .iter()
            .map(|i| format!("{}: {}", i.dotted(), i.message))
            .collect()
    })
}

#[tokio::test]
async fn each_check_is_one_message_per_channel_and_a_failure_stops_no_other() {
    let wecom =
        Receiver::start(|_, _| json(StatusCode::OK, json!({"errcode": 0, "errmsg": "ok"}))).await;
    let slack = Receiver::start(|_, _| text(StatusCode::GONE, "channel_is_archived")).await;
    let teams = Receiver::start(|_, _| text(StatusCode::ACCEPTED, "")).await;
    let sender = sender(&format!(
        "channels:
  - {{ kind: wecom, webhook: \"{}/send?key=k1\" }}
  - {{ kind: slack, webhook: \"{}/services/T1/B2/c3\" }}
  - {{ kind: teams, webhook: \"{}/workflows/x\" }}
",
        wecom.base, slack.base, teams.base
    ))
    .unwrap();
    assert_eq!(
        sender
            .channels()
            .iter()
            .map(Channel::name)
            .collect::<Vec<_>>(),
        ["wecom", "slack", "teams"]
    );
    sender.announce(&[dead_letters(), lag_recovered()]).await;
    assert_eq!(wecom.seen().len(), 1, "both alerts in one message");
    let content = wecom.seen()[0].json()["markdown"]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        content.contains("orders") && content.contains("customers"),
        "{content}"
    );
    assert_eq!(slack.seen().len(), 1, "an archived channel is not retried");
    assert_eq!(
        teams.seen().len(),
        1,
        "delivered despite the failure before it"
    );

    sender.announce(&[]).await;
    assert_eq!(
        wecom.seen().len(),
        1,
        "a check with nothing to say sends nothing"
    );
}

#[test]
fn channels_that_cannot_be_built_are_problems_at_their_keys() {
    let found = sender(
        "channels:
  - { kind: email, smtp: \"smtps://u:p@mail.example.com\", from: \"a@b@c\", to: [ops@example.com] }
  - { kind: email, smtp: \"smtps://u:p@mail.example.com\", from: a@example.com, to: [ops@example.com], ca: no-such-ca.pem }
  - { kind: slack, webhook: \"https://hooks.exa mple.com/services/T1/B2/tok-secret\" }
",
    )
    .expect_err("three problems");
    assert_eq!(found.len(), 3, "{found:?}");
    assert!(
        found[0].starts_with("alerts.channels.0.from: `a@b@c` is not an address"),
        "{found:?}"
    );
    assert!(
        found[1].starts_with("alerts.channels.1.ca: cannot read"),
        "{found:?}"
    );
    assert!(
        found[2].starts_with("alerts.channels.2.webhook: not a URL"),
        "{found:?}"
    );
    assert!(!found[2].contains("tok-secret"), "{found:?}");
}
