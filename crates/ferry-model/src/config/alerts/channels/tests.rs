use std::path::Path;

use super::*;
use crate::config::load_str;

/// The problems `ferry check` would print for a file whose `alerts:` section is `alerts`.
fn problems(alerts: &str) -> Vec<String> {
    let yaml = format!("systems: {{}}\nalerts:\n{alerts}");
    match load_str(Path::new("ferry.yaml"), &yaml) {
        Ok(_) => vec![],
        Err(e) => e.problems,
    }
}

fn has(problems: &[String], prefix: &str) -> bool {
    problems.iter().any(|p| p.contains(prefix))
}

#[test]
fn every_kind_reads_and_checks_clean() {
    let yaml = r#"  channels:
    - { kind: wecom, webhook: "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k-1", language: zh }
    - { kind: dingtalk, webhook: "https://oapi.dingtalk.com/robot/send?access_token=t", secret: SECabc }
    - { kind: feishu, webhook: "https://open.feishu.cn/open-apis/bot/v2/hook/abc-123" }
    - { kind: slack, webhook: "https://hooks.slack.com/services/T1/B2/x3" }
    - { kind: teams, webhook: "http://127.0.0.1:8080/workflows/x" }
    - { kind: wecom, name: ops, webhook: "http://localhost/send?key=k-2" }
    - { kind: email, smtp: "smtps://a%40example.com:pw@smtp.example.com", from: a@example.com, to: [b@example.com] }
    - { kind: email, smtp: "smtp://localhost:2525?tls=none", from: a@example.com, to: [b@example.com] }
"#;
    assert_eq!(problems(yaml), Vec::<String>::new());
    let config: crate::config::AlertsConfig = serde_saphyr::from_str(yaml).unwrap();
    assert_eq!(
        channel_names(&config.channels),
        [
            "wecom", "dingtalk", "feishu", "slack", "teams", "ops", "email", "email-2"
        ]
    );
    assert_eq!(config.channels[0].language(), Language::Zh);
    assert_eq!(config.channels[1].language(), Language::En, "the default");
    let ChannelConfig::Email(mail) = &config.channels[7] else {
        panic!("an email channel")
    };
    assert_eq!(mail.security(), Ok(SmtpSecurity::None));
}

#[test]
fn an_unknown_kind_is_named_with_the_known_ones() {
    let found =
        problems("  channels:\n    - { kind: wechat, webhook: \"https://x.example.com\" }\n");
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].starts_with("ferry.yaml:4:15: alerts.channels.0.kind: `wechat` is not one of")
            && found[0].contains("wecom, dingtalk, feishu, slack, teams, email"),
        "{found:?}"
    );
}

#[test]
fn a_missing_webhook_or_a_stray_key_is_named_at_its_channel() {
    let found = problems("  channels:\n    - { kind: slack }\n");
    assert!(
        has(&found, "alerts.channels.0: missing `webhook:`"),
        "{found:?}"
    );
    let found = problems(
        "  channels:\n    - { kind: slack, webhook: \"https://h.example.com/x\", secret: s }\n",
    );
    assert!(
        has(
            &found,
            "4:58: alerts.channels.0.secret: unknown key `secret`"
        ),
        "{found:?}"
    );
}

#[test]
fn webhooks_must_be_https_except_to_this_machine() {
    let found = problems(
        "  channels:
    - { kind: slack, webhook: \"http://hooks.example.com/services/T1/B2/tok\" }
    - { kind: teams, webhook: \"http://[::1]:9000/x\" }
    - { kind: feishu, webhook: \"ftp://open.feishu.cn/x\" }
    - { kind: slack, webhook: \"\" }
",
    );
    assert_eq!(found.len(), 3, "{found:?}");
    assert!(
        has(&found, "alerts.channels.0.webhook: must be https://"),
        "{found:?}"
    );
    assert!(has(
        &found,
        "alerts.channels.2.webhook: must be an https:// URL"
    ));
    assert!(has(&found, "alerts.channels.3.webhook: is empty"));
}

#[test]
fn a_webhook_without_its_token_and_an_empty_secret_are_named() {
    let found = problems(
        "  channels:
    - { kind: wecom, webhook: \"https://qyapi.weixin.qq.com/cgi-bin/webhook/send\" }
    - { kind: dingtalk, webhook: \"https://oapi.dingtalk.com/robot/send?access_token=t\", secret: \"\" }
",
    );
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(has(
        &found,
        "alerts.channels.0.webhook: a wecom webhook carries its token as `?key=…`"
    ));
    assert!(has(&found, "alerts.channels.1.secret: is empty"));
}

#[test]
fn email_settings_are_checked_key_by_key() {
    let found = problems(
        "  channels:
    - { kind: email, smtp: \"smtp://mail.example.com?tls=none\", from: nobody, to: [] }
    - { kind: email, smtp: \"imap://mail.example.com\", from: a@example.com, to: [ops] }
",
    );
    assert_eq!(found.len(), 5, "{found:?}");
    assert!(has(
        &found,
        "alerts.channels.0.smtp: `tls=none` sends the password in clear"
    ));
    assert!(has(
        &found,
        "alerts.channels.0.from: `nobody` is not an address"
    ));
    assert!(has(&found, "alerts.channels.0.to: names no recipient"));
    assert!(has(
        &found,
        "alerts.channels.1.smtp: unknown scheme `imap://`"
    ));
    assert!(has(
        &found,
        "alerts.channels.1.to.0: `ops` is not an address"
    ));
}

#[test]
fn names_are_unique() {
    let found = problems(
        "  channels:
    - { kind: slack, webhook: \"https://hooks.slack.com/services/a\" }
    - { kind: teams, name: slack, webhook: \"https://x.example.com/y\" }
",
    );
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(has(
        &found,
        "alerts.channels.1.name: another channel is already called `slack`"
    ));
}

#[test]
fn messages_never_show_the_webhook_token_or_the_smtp_password() {
    // Values from `${…}` (here the defaults of unset variables) are secrets to `ferry check`;
    // the checks do not quote them in the first place.
    let found = problems(
        "  channels:
    - { kind: slack, webhook: \"${FERRY_TEST_UNSET:-http://hooks.example.com/services/T1/B2/tok-5678}\" }
    - { kind: email, smtp: \"smtp://u:${FERRY_TEST_UNSET:-pw-5678}@mail.example.com?tls=none\", from: a@example.com, to: [b@example.com] }
",
    );
    assert_eq!(found.len(), 2, "{found:?}");
    for problem in &found {
        assert!(!problem.contains("5678"), "{problem}");
    }
}

#[test]
fn debug_output_holds_no_credentials() {
    let config: crate::config::AlertsConfig = serde_saphyr::from_str(
        "channels:
  - { kind: dingtalk, webhook: \"https://oapi.dingtalk.com/robot/send?access_token=tok-1234\", secret: SEC-5678 }
  - { kind: email, smtp: \"smtps://u:pw-9012@smtp.example.com\", from: a@example.com, to: [b@example.com] }
",
    )
    .unwrap();
    let debug = format!("{config:?}");
    for secret in ["tok-1234", "SEC-5678", "pw-9012"] {
        assert!(!debug.contains(secret), "{debug}");
    }
    assert!(debug.contains("signed: true"), "{debug}");
}
