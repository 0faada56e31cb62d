//! `store.retention`: how long the store keeps history. `ferry run` deletes what is older
//! every `every`, in small batches (one short transaction each), so the store stays the size
//! of what is worth looking at.
//!
//! ```yaml
//! store:
//!   retention:
//!     runs: 30d            # ferry status, the console's recent runs, GET /runs
//!     ledger: 90d          # ferry ledger, the console's ledger, GET /ledger
//!     dead_letters: 90d    # closed ones only (resolved, skipped), from when they closed
//!     audit: 365d          # operator actions (GET /audit)
//!     sync_requests: 7d    # tracking ids of API and webhook requests (GET /sync/{id})
//!     every: 1h            # how often ferry run prunes
//! ```
//!
//! Each is a duration (`30d`, `12h`, `2w`) or `forever`. What is still needed is never
//! deleted, whatever its age: open and replayed dead letters, the ledger entries of a record
//! that has one, each flow's latest run, a request whose queue item still waits, and
//! anything that is not history (cursors, xref, the queue, baselines, conflicts).

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};

use super::{ConfigIssue, DurationStr};

const DAY: Duration = Duration::from_secs(24 * 3600);

/// How long each kind of history is kept.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Retention {
    /// Runs, from when they finished. Each flow's latest run is kept. Default 30d.
    pub runs: Keep,
    /// Ledger entries (every write attempt and its outcome), from their time. Entries of a
    /// record with an open or replayed dead letter are kept until it is closed. At least as
    /// long as `sync_requests` (a tracked request is answered from the ledger) and one day
    /// (`ferry status` counts a day of `not_owner` reports). Default 90d.
    pub ledger: Keep,
    /// Resolved and skipped dead letters, from when they were closed (open and replayed ones
    /// are never deleted). Default 90d.
    pub dead_letters: Keep,
    /// The audit log of operator actions. Default 365d.
    pub audit: Keep,
    /// Tracked sync requests (API triggers and webhooks): how long a tracking id answers.
    /// A request whose queue item still waits is kept. Default 7d.
    pub sync_requests: Keep,
    /// How often `ferry run` deletes what is past its time (the first time when it starts).
    /// Default 1h.
    pub every: DurationStr,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            runs: Keep::For(30 * DAY),
            ledger: Keep::For(90 * DAY),
            dead_letters: Keep::For(90 * DAY),
            audit: Keep::For(365 * DAY),
            sync_requests: Keep::For(7 * DAY),
            every: DurationStr(Duration::from_secs(3600)),
        }
    }
}

/// A retention period: a duration written as text (`90d`, `12h`) or `forever`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(into = "String")]
#[schemars(with = "String")]
pub enum Keep {
    /// Rows older than this are deleted.
    For(Duration),
    /// Nothing is deleted.
    Forever,
}

impl Keep {
    /// The period, `None` for `forever`.
    pub fn period(self) -> Option<Duration> {
        match self {
            Keep::For(d) => Some(d),
            Keep::Forever => None,
        }
    }
}

impl From<Keep> for String {
    /// `90d`, `12h`, `forever` (a period of whole days, hours or minutes is written in that
    /// unit, not as months and days).
    fn from(value: Keep) -> Self {
        let Keep::For(d) = value else {
            return "forever".into();
        };
        let secs = d.as_secs();
        if d.subsec_nanos() == 0 && secs > 0 {
            for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60)] {
                if secs % size == 0 {
                    return format!("{}{unit}", secs / size);
                }
            }
        }
        String::from(DurationStr(d))
    }
}

impl<'de> Deserialize<'de> for Keep {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        if text.trim().eq_ignore_ascii_case("forever") {
            return Ok(Keep::Forever);
        }
        humantime::parse_duration(text.trim())
            .map(Keep::For)
            .map_err(|e| {
                serde::de::Error::custom(format!(
                    "`{text}` is neither a duration like 90d or 12h nor `forever` ({e})"
                ))
            })
    }
}

impl Retention {
    /// Checks the periods against each other and against what reads the history.
    pub fn validate(&self, issues: &mut Vec<ConfigIssue>) {
        fn at(key: &str) -> [&str; 3] {
            ["store", "retention", key]
        }
        for (key, keep) in [
            ("runs", self.runs),
            ("ledger", self.ledger),
            ("dead_letters", self.dead_letters),
            ("audit", self.audit),
            ("sync_requests", self.sync_requests),
        ] {
            if keep.period().is_some_and(|d| d.is_zero()) {
                issues.push(ConfigIssue::new(
                    at(key),
                    "must be more than 0s (`forever` keeps everything)",
                ));
            }
        }
        if self.every.0.is_zero() {
            issues.push(ConfigIssue::new(at("every"), "must be more than 0s"));
        }
        let Some(ledger) = self.ledger.period() else {
            return;
        };
        if ledger < DAY {
            issues.push(ConfigIssue::new(
                at("ledger"),
                "must be at least 1d: `ferry status` counts the last day's `not_owner` reports \
                 from the ledger",
            ));
        }
        if self
            .sync_requests
            .period()
            .is_none_or(|requests| ledger < requests)
        {
            issues.push(ConfigIssue::new(
                at("ledger"),
                format!(
                    "must be at least as long as `sync_requests` ({}): a tracked request is \
                     answered from the ledger",
                    String::from(self.sync_requests)
                ),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Result<Retention, String> {
        serde_saphyr::from_str(yaml).map_err(|e| e.to_string())
    }

    fn problems(r: &Retention) -> Vec<String> {
        let mut issues = Vec::new();
        r.validate(&mut issues);
        issues
            .iter()
            .map(|i| format!("{}: {}", i.path.join("."), i.message))
            .collect()
    }

    #[test]
    fn defaults_and_periods_read_as_written() {
        let r = parse("{}").unwrap();
        assert_eq!(r, Retention::default());
        assert_eq!(r.runs, Keep::For(30 * DAY));
        assert!(problems(&r).is_empty());
        let r = parse("{ audit: forever, runs: 2w, every: 10m }").unwrap();
        assert_eq!((r.audit, r.runs), (Keep::Forever, Keep::For(14 * DAY)));
        assert_eq!(r.every.0, Duration::from_secs(600));
        assert_eq!(String::from(Keep::For(90 * DAY)), "90d");
        assert_eq!(
            String::from(Keep::For(Duration::from_secs(36 * 3600))),
            "36h"
        );
        assert_eq!(String::from(Keep::For(Duration::from_secs(90))), "1m 30s");
        assert_eq!(String::from(Keep::Forever), "forever");
    }

    #[test]
    fn periods_are_checked() {
        let e = parse("{ runs: soon }").unwrap_err();
        assert!(e.contains("`soon` is neither a duration"), "{e}");
        assert!(
            parse("{ ledger: 1d, keep: 1d }").is_err(),
            "unknown keys are refused"
        );
        let r = parse("{ runs: 0s, ledger: 12h, sync_requests: 1d, every: 0s }").unwrap();
        let found = problems(&r);
        assert!(
            found
                .iter()
                .any(|p| p.starts_with("store.retention.runs: must be more than 0s"))
        );
        assert!(
            found
                .iter()
                .any(|p| p.starts_with("store.retention.every:"))
        );
        assert!(
            found
                .iter()
                .any(|p| p.contains("ledger: must be at least 1d"))
        );
        assert!(
            found
                .iter()
                .any(|p| p.contains("as long as `sync_requests` (1d)"))
        );
        let r = parse("{ ledger: 30d, sync_requests: forever }").unwrap();
        assert_eq!(
            problems(&r).len(),
            1,
            "a ledger kept less than requests forever"
        );
        assert!(
            problems(&parse("{ ledger: forever, sync_requests: forever }").unwrap()).is_empty()
        );
    }

    #[test]
    fn a_bad_period_in_the_file_is_pointed_at() {
        let yaml = "systems: {}\nstore:\n  retention:\n    runs: 30d\n    audit: a year\n";
        let problems = match super::super::load_str(std::path::Path::new("ferry.yaml"), yaml) {
            Ok(_) => panic!("loaded"),
            Err(e) => e.problems,
        };
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].starts_with("ferry.yaml:5:") && problems[0].contains("`a year`"),
            "{problems:?}"
        );
        let yaml = "systems: {}\nstore:\n  retention: { ledger: 2d }\n";
        let problems = match super::super::load_str(std::path::Path::new("ferry.yaml"), yaml) {
            Ok(_) => panic!("loaded"),
            Err(e) => e.problems,
        };
        assert!(
            problems
                .iter()
                .any(|p| p.contains("store.retention.ledger: must be at least as long")),
            "{problems:?}"
        );
    }
}
