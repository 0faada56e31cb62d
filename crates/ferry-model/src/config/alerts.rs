//! The `alerts:` section: when `ferry run` tells someone that a flow needs attention.
//!
//! ```yaml
//! alerts:
//!   channels:                                     # chat groups and mailboxes (see [`channels`])
//!     - { kind: wecom, webhook: "${WECOM_WEBHOOK}", language: zh }
//!     - { kind: slack, webhook: "${SLACK_WEBHOOK}" }
//!   url: https://hooks.example.com/ferry          # and/or POST JSON here
//!   headers: { Authorization: "Bearer ${ALERT_TOKEN}" }
//!   every: 30s          # how often the conditions are checked
//!   repeat: 1h          # a condition still true is announced again at most this often
//!   error_rate: 0.05    # the last run failed more than 5 % of what it read
//!   dead_letters: 1     # at least this many open dead letters
//!   lag: 15m            # the oldest queued item has waited longer than this
//!   silent_after: 1h    # a scheduled flow has had no successful run for this long
//!   missed_notices: 3   # polls in a row found changes no webhook announced
//!   flows:
//!     orders: { silent_after: 10m, error_rate: 0 }   # per-flow overrides
//! ```
//!
//! Only present when the section is: a config without `alerts:` sends none; one without
//! `channels` or `url` writes them to the log only.

pub mod channels;

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{ConfigIssue, DurationStr};
pub use channels::{ChannelConfig, Language};

/// The alerts section.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertsConfig {
    /// Chat groups (WeCom, DingTalk, Feishu/Lark, Slack, Teams) and mailboxes the alerts
    /// and recoveries of each check are sent to, as one short message per check.
    #[serde(default)]
    pub channels: Vec<ChannelConfig>,
    /// Each alert and each recovery is POSTed here as JSON. Without it, they only go to the
    /// log (which they always do).
    #[serde(default)]
    pub url: Option<String>,
    /// Headers sent with each POST (credentials: use `${ENV}`). Their values are secrets:
    /// never shown in messages.
    #[serde(default)]
    pub headers: IndexMap<String, String>,
    /// How often the conditions are checked. Default 30s.
    #[serde(default = "default_every")]
    pub every: DurationStr,
    /// A condition that stays true is announced again at most this often (no flooding).
    /// Default 1h.
    #[serde(default = "default_repeat")]
    pub repeat: DurationStr,
    /// Threshold for every flow: see [`AlertRules::error_rate`]. Default 0.05.
    #[serde(default)]
    pub error_rate: Option<f64>,
    /// Threshold for every flow: see [`AlertRules::dead_letters`]. Default 1.
    #[serde(default)]
    pub dead_letters: Option<u64>,
    /// Threshold for every flow: see [`AlertRules::lag`]. Default 15m.
    #[serde(default)]
    pub lag: Option<DurationStr>,
    /// Threshold for every flow: see [`AlertRules::silent_after`].
    #[serde(default)]
    pub silent_after: Option<DurationStr>,
    /// Threshold for every flow: see [`AlertRules::missed_notices`]. Default 3.
    #[serde(default)]
    pub missed_notices: Option<u32>,
    /// Per-flow thresholds, replacing the defaults key by key.
    #[serde(default)]
    pub flows: IndexMap<String, AlertRules>,
}

fn default_every() -> DurationStr {
    DurationStr(std::time::Duration::from_secs(30))
}

fn default_repeat() -> DurationStr {
    DurationStr(std::time::Duration::from_secs(3600))
}

/// Thresholds; a key left out takes the default (or, per flow, the section's value).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertRules {
    /// Alert when the last run failed more than this share of the records it read
    /// (0.05 = 5 %; 0 = any failure). Also when the last run stopped with an error.
    /// Default 0.05.
    #[serde(default)]
    pub error_rate: Option<f64>,
    /// Alert when the flow has at least this many open dead letters. Default 1.
    #[serde(default)]
    pub dead_letters: Option<u64>,
    /// Alert when the oldest item in the flow's queue has waited longer than this.
    /// Default 15m.
    #[serde(default)]
    pub lag: Option<DurationStr>,
    /// Alert when a flow with a `poll` or `cron` trigger has had no successful run for this
    /// long: the failure nobody notices. Default: 3 poll intervals (at least 5m), or 1h for
    /// cron.
    #[serde(default)]
    pub silent_after: Option<DurationStr>,
    /// Alert when a flow fed by webhooks (a vendor's pushes, Ferry's own notices) had this
    /// many polls in a row find changes that no notice announced, and no notice arrived
    /// meanwhile: the sender has most likely stopped (Jiandaoyun disables a data push after
    /// repeated failed deliveries) and only polling is carrying the flow. Default 3.
    #[serde(default)]
    pub missed_notices: Option<u32>,
}

impl AlertRules {
    /// `self`, with each key it leaves out taken from `defaults`.
    pub fn or(&self, defaults: &AlertRules) -> AlertRules {
        AlertRules {
            error_rate: self.error_rate.or(defaults.error_rate),
            dead_letters: self.dead_letters.or(defaults.dead_letters),
            lag: self.lag.or(defaults.lag),
            silent_after: self.silent_after.or(defaults.silent_after),
            missed_notices: self.missed_notices.or(defaults.missed_notices),
        }
    }
}

impl AlertsConfig {
    /// The section's own thresholds (those every flow gets unless it overrides them).
    /// (Written out rather than `#[serde(flatten)]`ed: serde cannot combine `flatten` with
    /// `deny_unknown_fields`, and a typo here must be an error.)
    pub fn defaults(&self) -> AlertRules {
        AlertRules {
            error_rate: self.error_rate,
            dead_letters: self.dead_letters,
            lag: self.lag,
            silent_after: self.silent_after,
            missed_notices: self.missed_notices,
        }
    }

    /// The thresholds of one flow: its own keys, then the section's.
    pub fn rules_for(&self, flow: &str) -> AlertRules {
        let defaults = self.defaults();
        match self.flows.get(flow) {
            Some(own) => own.or(&defaults),
            None => defaults,
        }
    }

    /// Checks that need only the file; `flows` are the flows the config declares.
    pub(crate) fn validate<'a>(
        &self,
        flows: impl Iterator<Item = &'a String> + Clone,
        issues: &mut Vec<ConfigIssue>,
    ) {
        if let Some(url) = &self.url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            issues.push(ConfigIssue::new(
                ["alerts", "url"],
                "must be an http:// or https:// URL",
            ));
        }
        channels::validate_all(&self.channels, issues);
        if self.every.0.is_zero() {
            issues.push(ConfigIssue::new(
                ["alerts", "every"],
                "must be more than 0s",
            ));
        }
        let mut check = |rules: &AlertRules, at: &[&str]| {
            if let Some(rate) = rules.error_rate
                && !(0.0..=1.0).contains(&rate)
            {
                let mut path: Vec<String> = at.iter().map(|s| (*s).to_owned()).collect();
                path.push("error_rate".to_owned());
                issues.push(ConfigIssue::at(
                    path,
                    "must be a share between 0 and 1 (0.05 = 5 %)",
                ));
            }
        };
        check(&self.defaults(), &["alerts"]);
        for (name, rules) in &self.flows {
            check(rules, &["alerts", "flows", name]);
        }
        for name in self.flows.keys() {
            if !flows.clone().any(|f| f == name) {
                let known: Vec<&str> = flows.clone().map(String::as_str).collect();
                issues.push(ConfigIssue::at(
                    vec!["alerts".to_owned(), "flows".to_owned(), name.clone()],
                    super::words::unknown_name("flow", name, &known),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_name_the_key() {
        let c: AlertsConfig =
            serde_saphyr::from_str("error_rate: 5\nflows: { nope: {} }\nurl: ftp://x").unwrap();
        let flows = ["orders".to_owned()];
        let mut issues = Vec::new();
        c.validate(flows.iter(), &mut issues);
        let text: Vec<String> = issues
            .iter()
            .map(|i| format!("{}: {}", i.dotted(), i.message))
            .collect();
        assert!(
            text.iter()
                .any(|t| t.starts_with("alerts.error_rate: must be a share")),
            "{text:?}"
        );
        assert!(
            text.iter()
                .any(|t| t.starts_with("alerts.flows.nope: unknown flow `nope`")),
            "{text:?}"
        );
        assert!(
            text.iter().any(|t| t.starts_with("alerts.url:")),
            "{text:?}"
        );
    }

    #[test]
    fn a_flow_overrides_key_by_key() {
        let c: AlertsConfig =
            serde_saphyr::from_str("lag: 10m\ndead_letters: 3\nflows: { orders: { lag: 1h } }")
                .unwrap();
        let rules = c.rules_for("orders");
        assert_eq!(rules.lag.map(|d| d.0.as_secs()), Some(3600));
        assert_eq!(rules.dead_letters, Some(3));
        assert_eq!(c.rules_for("other").lag.map(|d| d.0.as_secs()), Some(600));
        assert!(
            serde_saphyr::from_str::<AlertsConfig>("lagg: 1m").is_err(),
            "typos are errors"
        );
    }
}
