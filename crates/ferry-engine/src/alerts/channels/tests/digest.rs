//! The words: what an operator reads at 3 a.m., in English and Chinese.

use std::time::Duration;

use super::*;
use crate::alerts::channels::digest::MAX_ITEMS;

#[test]
fn several_alerts_make_one_message_with_figures_times_and_links() {
    let d = digest(Language::En);
    assert_eq!(d.title, "🔴 [Ferry] 2 alerts: 1 firing, 1 recovered");
    assert!(d.firing);
    assert_eq!(d.items[0].heading, "🔴 orders · dead letters (still)");
    assert_eq!(
        d.items[0].detail,
        "3 open dead letter(s); see `ferry dlq list --flow orders`"
    );
    // Times in the workspace's zone, as the CLI shows them.
    assert_eq!(
        d.items[0].when,
        "since 2027-01-15 16:00:00 +08:00 (for 42m)"
    );
    assert_eq!(d.items[0].link, Some(flow_page("orders")));
    assert_eq!(d.items[1].heading, "✅ customers · queue lag: recovered");
    assert_eq!(d.items[1].detail, "the queue has caught up");
    assert_eq!(
        d.items[1].when,
        "lasted 1h 3m, from 2027-01-15 16:00:00 +08:00"
    );
    assert_eq!(
        d.link.as_ref().map(Url::as_str),
        Some("https://ferry.example.com/console/")
    );
    assert!(d.more.is_none());
}

#[test]
fn chinese_reads_as_chinese() {
    let d = digest(Language::Zh);
    assert_eq!(d.title, "🔴【Ferry】2 条告警：1 条告警中，1 条已恢复");
    assert_eq!(d.items[0].heading, "🔴 orders · 死信（仍未恢复）");
    assert_eq!(
        d.items[0].detail,
        "3 条死信待处理；查看 `ferry dlq list --flow orders`"
    );
    assert_eq!(
        d.items[0].when,
        "自 2027-01-15 16:00:00 +08:00 起（已持续 42分钟）"
    );
    assert_eq!(d.items[1].heading, "✅ customers · 队列积压：已恢复");
    assert_eq!(d.items[1].detail, "队列积压已消化");
    assert_eq!(
        d.items[1].when,
        "持续 1小时3分钟，自 2027-01-15 16:00:00 +08:00 起"
    );
    assert_eq!(d.button(), "在 Ferry 控制台中查看");

    let lag = Facts::Lag {
        waited: Duration::from_secs(3660),
        limit: Duration::from_secs(900),
    };
    assert_eq!(
        lag.describe("orders", Language::Zh, Tz::Asia__Shanghai),
        "队列中最早的记录已等待 1小时1分钟（上限 15分钟）"
    );
    let silent = Facts::Silent {
        quiet: Duration::from_secs(600),
        period: Duration::from_secs(60),
        last_success: Some(t(0)),
    };
    assert_eq!(
        silent.describe("orders", Language::Zh, Tz::Asia__Shanghai),
        "已 10分钟 没有成功运行，按计划应每 1分钟 运行一次（上次成功于 2027-01-15 16:00:00 +08:00）"
    );
}

#[test]
fn one_alert_is_named_in_the_title_and_links_to_its_own_page() {
    let new = Alert {
        at: t(0),
        ..dead_letters()
    };
    let d = Digest::new(std::slice::from_ref(&new), Language::En, &around());
    assert_eq!(
        d.title, "🔴 [Ferry] orders: dead letters",
        "a new alert is not `still`"
    );
    assert_eq!(d.items[0].when, "since 2027-01-15 16:00:00 +08:00");
    assert_eq!(d.link, Some(flow_page("orders")));

    let drift = Alert {
        condition: Condition::Drift,
        facts: Some(Facts::Drift {
            id: 17,
            trigger: "schedule".into(),
            started: t(0),
            counts: ferry_store::ReconcileCounts {
                differing: 2,
                ..Default::default()
            },
        }),
        ..new
    };
    let d = Digest::new(&[drift], Language::Zh, &around());
    assert_eq!(d.title, "🔴【Ferry】orders：数据不一致");
    assert_eq!(
        d.link.as_ref().map(Url::as_str),
        Some("https://ferry.example.com/console/reconciliations/17"),
        "drift links to the reconciliation's report"
    );
    assert!(
        d.items[0].detail.starts_with(
            "对账 #17（schedule，2027-01-15 16:00:00 +08:00）发现数据不一致：2 条不同"
        )
    );

    let recovered = Digest::new(&[lag_recovered()], Language::En, &around());
    assert_eq!(
        recovered.title,
        "✅ [Ferry] customers: queue lag: recovered"
    );
    assert!(!recovered.firing);
}

#[test]
fn links_need_a_public_url_and_survive_any_flow_name() {
    let local = Surroundings {
        console: None,
        ..around()
    };
    let d = Digest::new(&[dead_letters()], Language::En, &local);
    assert_eq!((d.link.clone(), d.items[0].link.clone()), (None, None));
    assert!(!d.text().contains("http"), "{}", d.text());

    let odd = Alert {
        flow: "订单 同步/#1".into(),
        ..dead_letters()
    };
    let d = Digest::new(&[odd], Language::En, &around());
    assert_eq!(
        d.link.as_ref().map(Url::as_str),
        Some(
            "https://ferry.example.com/console/flows/%E8%AE%A2%E5%8D%95%20%E5%90%8C%E6%AD%A5%2F%231"
        )
    );
    let under = Surroundings::console_under("https://example.com/ferry").unwrap();
    assert_eq!(under.as_str(), "https://example.com/ferry/console/");
    assert!(Surroundings::console_under("ferry.example.com").is_err());
}

#[test]
fn a_long_list_is_cut_and_counted() {
    let many: Vec<Alert> = (0..MAX_ITEMS + 2)
        .map(|i| Alert {
            flow: format!("flow{i}"),
            ..dead_letters()
        })
        .collect();
    let d = Digest::new(&many, Language::En, &around());
    assert_eq!(d.items.len(), MAX_ITEMS);
    assert_eq!(
        d.title,
        format!(
            "🔴 [Ferry] {} alerts: {} firing",
            MAX_ITEMS + 2,
            MAX_ITEMS + 2
        )
    );
    assert_eq!(
        d.more.as_deref(),
        Some("… and 2 more: see the log or the console")
    );
    let zh = Digest::new(&many, Language::Zh, &around());
    assert_eq!(zh.more.as_deref(), Some("…… 另有 2 条，详见日志或控制台"));

    // An error quoted from a system is clipped, not the whole message.
    let long = Alert {
        facts: Some(Facts::RunStopped {
            run: 9,
            error: "x".repeat(5000),
        }),
        ..dead_letters()
    };
    let d = Digest::new(&[long], Language::En, &around());
    assert!(d.items[0].detail.chars().count() <= 400 && d.items[0].detail.ends_with('…'));
}

#[test]
fn utc_is_called_utc_by_any_of_its_names() {
    use crate::alerts::facts::when;
    assert_eq!(when(t(0), Tz::Etc__UTC), "2027-01-15 08:00:00 UTC");
    assert_eq!(when(t(0), Tz::UTC), "2027-01-15 08:00:00 UTC");
    assert_eq!(when(t(0), Tz::Europe__London), "2027-01-15 08:00:00 +00:00");
}
