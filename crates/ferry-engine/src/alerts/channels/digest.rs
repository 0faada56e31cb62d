//! One check's announcements as a short message, before any vendor's format: a title, an
//! item per alert (what, figures, since when, a console link), in English or Chinese.

use chrono::{DateTime, Utc};
use ferry_kit::http::Url;
use ferry_model::config::Language;

use super::super::facts::{human, label, recovery, when};
use super::super::{Alert, AlertState, Surroundings};

/// Alerts listed in one message; more are counted ("and 3 more"), as a chat message must
/// stay readable on a phone and within the vendors' size limits.
pub const MAX_ITEMS: usize = 8;
/// Longest detail kept (an error quoted from a system can be long), in characters.
const MAX_DETAIL: usize = 400;

/// One check's announcements, worded for one channel.
#[derive(Debug, Clone, PartialEq)]
pub struct Digest {
    /// One line: `🔴 [Ferry] orders: dead letters`, or a count when there are several.
    pub title: String,
    /// One per alert, at most [`MAX_ITEMS`].
    pub items: Vec<Item>,
    /// "… and 3 more (…)" when some were left out.
    pub more: Option<String>,
    /// The console page for the whole message: the item's own when there is one, else the
    /// console's overview (`server.public_url` unset: none).
    pub link: Option<Url>,
    /// Whether anything is firing (red), or all recovered (green).
    pub firing: bool,
    /// The language it is written in.
    pub language: Language,
}

/// One alert in a [`Digest`].
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// `🔴 orders · dead letters`, `✅ orders · dead letters: recovered`.
    pub heading: String,
    /// The figures (firing) or what recovered.
    pub detail: String,
    /// `since 2026-12-07 03:12:05 +08:00 (for 42m)`.
    pub when: String,
    /// The console page that shows it.
    pub link: Option<Url>,
}

impl Digest {
    /// The message for `alerts` (at least one) in `language`.
    pub fn new(alerts: &[Alert], language: Language, around: &Surroundings) -> Self {
        let items: Vec<Item> = alerts
            .iter()
            .take(MAX_ITEMS)
            .map(|a| item(a, language, around))
            .collect();
        let left = alerts.len().saturating_sub(MAX_ITEMS);
        let more = (left > 0).then(|| match language {
            Language::En => format!("… and {left} more: see the log or the console"),
            Language::Zh => format!("…… 另有 {left} 条，详见日志或控制台"),
        });
        let link = match items.as_slice() {
            [only] => only.link.clone(),
            _ => around.console.clone(),
        };
        Digest {
            title: title(alerts, language),
            items,
            more,
            link,
            firing: alerts.iter().any(|a| a.state == AlertState::Firing),
            language,
        }
    }

    /// What a link button says.
    pub fn button(&self) -> &'static str {
        match self.language {
            Language::En => "Open in the Ferry console",
            Language::Zh => "在 Ferry 控制台中查看",
        }
    }

    /// The whole message as plain text (e-mail, and the notification preview of chats).
    pub fn text(&self) -> String {
        let mut out = format!("{}\n", self.title);
        for item in &self.items {
            out.push_str(&format!(
                "\n{}\n{}\n{}\n",
                item.heading, item.detail, item.when
            ));
            if let Some(link) = &item.link {
                out.push_str(&format!("{link}\n"));
            }
        }
        if let Some(more) = &self.more {
            out.push_str(&format!("\n{more}\n"));
            if let Some(link) = &self.link {
                out.push_str(&format!("{link}\n"));
            }
        }
        out
    }
}

/// `🔴 [Ferry] orders: dead letters`, or for several `🔴 [Ferry] 3 alerts: 2 firing, 1
/// recovered`. Every title holds "Ferry": a DingTalk robot secured by keywords needs one.
fn title(alerts: &[Alert], language: Language) -> String {
    let firing = alerts
        .iter()
        .filter(|a| a.state == AlertState::Firing)
        .count();
    let mark = if firing > 0 { "🔴" } else { "✅" };
    if let [only] = alerts {
        let what = format!(
            "{}{}",
            label(only.condition, language),
            suffix(only, language)
        );
        return match language {
            Language::En => format!("{mark} [Ferry] {}: {what}", only.flow),
            Language::Zh => format!("{mark}【Ferry】{}：{what}", only.flow),
        };
    }
    let resolved = alerts.len() - firing;
    match language {
        Language::En => {
            let mut parts = Vec::new();
            if firing > 0 {
                parts.push(format!("{firing} firing"));
            }
            if resolved > 0 {
                parts.push(format!("{resolved} recovered"));
            }
            format!(
                "{mark} [Ferry] {} alerts: {}",
                alerts.len(),
                parts.join(", ")
            )
        }
        Language::Zh => {
            let mut parts = Vec::new();
            if firing > 0 {
                parts.push(format!("{firing} 条告警中"));
            }
            if resolved > 0 {
                parts.push(format!("{resolved} 条已恢复"));
            }
            format!(
                "{mark}【Ferry】{} 条告警：{}",
                alerts.len(),
                parts.join("，")
            )
        }
    }
}

/// How a heading ends: nothing for a new alert, "(still)" for a reminder, "recovered".
fn suffix(alert: &Alert, language: Language) -> &'static str {
    match (alert.state, alert.since < alert.at, language) {
        (AlertState::Resolved, _, Language::En) => ": recovered",
        (AlertState::Resolved, _, Language::Zh) => "：已恢复",
        (AlertState::Firing, true, Language::En) => " (still)",
        (AlertState::Firing, true, Language::Zh) => "（仍未恢复）",
        (AlertState::Firing, false, _) => "",
    }
}

fn item(alert: &Alert, language: Language, around: &Surroundings) -> Item {
    let mark = match alert.state {
        AlertState::Firing => "🔴",
        AlertState::Resolved => "✅",
    };
    let heading = format!(
        "{mark} {} · {}{}",
        alert.flow,
        label(alert.condition, language),
        suffix(alert, language)
    );
    let detail = match &alert.facts {
        Some(facts) => facts.describe(&alert.flow, language, around.zone),
        None => recovery(alert.condition, language).to_owned(),
    };
    let page = alert.facts.as_ref().map_or_else(
        || vec!["flows".to_owned(), alert.flow.clone()],
        |f| f.console_page(&alert.flow),
    );
    Item {
        heading,
        detail: clip(&detail, MAX_DETAIL),
        when: period(alert, language, around),
        link: around.console.as_ref().map(|c| page_under(c, &page)),
    }
}

/// Since when, and for how long: `since … (for 42m)`, `lasted 1h 3m, from …`.
fn period(alert: &Alert, language: Language, around: &Surroundings) -> String {
    let since = when(alert.since, around.zone);
    let lasted = lasted(alert.since, alert.at);
    match (alert.state, language, lasted) {
        (AlertState::Firing, Language::En, None) => format!("since {since}"),
        (AlertState::Firing, Language::En, Some(d)) => format!("since {since} (for {})", d.0),
        (AlertState::Firing, Language::Zh, None) => format!("自 {since} 起"),
        (AlertState::Firing, Language::Zh, Some(d)) => format!("自 {since} 起（已持续 {}）", d.1),
        (AlertState::Resolved, Language::En, d) => format!(
            "lasted {}, from {since}",
            d.map_or_else(|| "under a minute".to_owned(), |d| d.0)
        ),
        (AlertState::Resolved, Language::Zh, d) => format!(
            "持续 {}，自 {since} 起",
            d.map_or_else(|| "不到 1 分钟".to_owned(), |d| d.1)
        ),
    }
}

/// How long from `since` to `at`, in English and Chinese; `None` under a second.
fn lasted(since: DateTime<Utc>, at: DateTime<Utc>) -> Option<(String, String)> {
    let d = (at - since).to_std().ok().filter(|d| d.as_secs() > 0)?;
    Some((human(d, Language::En), human(d, Language::Zh)))
}

/// `console` + `segments`, each percent-encoded as a path segment (flow names are free text).
fn page_under(console: &Url, segments: &[String]) -> Url {
    let mut url = console.clone();
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty().extend(segments);
    }
    url
}

/// At most `max` characters, with `…` when cut.
pub fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}
