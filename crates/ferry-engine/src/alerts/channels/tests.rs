//! Each kind against a local receiver that checks what its vendor documents (format, content
//! type, the signature recomputed from the secret and the timestamp sent) and answers as the
//! vendor does, failures included; e-mail against a local SMTP server, over TLS.

mod digest;
mod dingtalk;
mod email;
mod feishu;
mod receiver;
mod sender;
mod slack;
mod smtp;
mod teams;
mod wecom;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use ferry_kit::http::Url;
use ferry_model::config::{ChannelConfig, Language};

use super::{Channel, Digest};
use crate::alerts::{Alert, AlertState, Condition, Facts, Surroundings};

/// 2027-01-15 08:00:00 UTC plus `minutes`.
fn t(minutes: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap() + chrono::Duration::minutes(minutes)
}

/// Where the messages are read: Shanghai, with the console at `https://ferry.example.com`.
fn around() -> Surroundings {
    Surroundings {
        zone: Tz::Asia__Shanghai,
        console: Some(Surroundings::console_under("https://ferry.example.com").unwrap()),
        base_dir: std::env::temp_dir(),
    }
}

/// Dead letters in `orders` since 08:00 UTC, announced at 08:42 (a reminder).
fn dead_letters() -> Alert {
    Alert {
        flow: "orders".into(),
        condition: Condition::DeadLetters,
        state: AlertState::Firing,
        message: "flow `orders`: still: 3 open dead letter(s)".into(),
        since: t(0),
        at: t(42),
        facts: Some(Facts::DeadLetters { open: 3 }),
    }
}

/// The queue of `customers` caught up after 1h 3m.
fn lag_recovered() -> Alert {
    Alert {
        flow: "customers".into(),
        condition: Condition::Lag,
        state: AlertState::Resolved,
        message: "flow `customers`: recovered: the queue has caught up".into(),
        since: t(0),
        at: t(63),
        facts: None,
    }
}

/// The digest of both alerts in `language`.
fn digest(language: Language) -> Digest {
    Digest::new(&[dead_letters(), lag_recovered()], language, &around())
}

/// The channel a YAML entry of `alerts.channels` describes.
fn channel(yaml: &str) -> Channel {
    let config: ChannelConfig = serde_saphyr::from_str(yaml).expect("a channel");
    Channel::all(&[config], &around())
        .expect("a valid channel")
        .remove(0)
}

/// Whether a timestamp as sent (`units` per second: 1000 for milliseconds, 1 for seconds)
/// is within an hour of now: the window DingTalk and Feishu allow.
fn within_an_hour(sent: &str, units: i64) -> bool {
    let Ok(sent) = sent.parse::<i64>() else {
        return false;
    };
    let now = Utc::now().timestamp_millis() * units / 1000;
    (now - sent).abs() < 3600 * units
}

/// The console page of a flow.
fn flow_page(flow: &str) -> Url {
    Url::parse(&format!("https://ferry.example.com/console/flows/{flow}")).unwrap()
}
