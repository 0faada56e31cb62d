//! The settings every HTTP connector shares, embedded in its system settings with
//! `#[serde(flatten)]`, and their validation.

use std::num::NonZeroU32;
use std::time::Duration;

use ferry_model::config::{ConfigIssue, DurationStr};
use ferry_model::secret::mask_url;
use reqwest::Url;
use schemars::JsonSchema;
use serde::Deserialize;

/// HTTP settings of a system: where it is, how long to wait, how often to retry, and the
/// request budget of the account (shared by every flow on the system).
///
/// ```yaml
/// url: https://erp.example.com        # base URL; request paths are relative to it
/// timeout: 30s                        # per attempt (default 30s)
/// retries: 3                          # extra attempts after a transient failure (default 3)
/// rate: { per_second: 5, burst: 10 }  # at most 5 requests/s, 10 at once after a pause
/// daily_quota: 10000                  # requests per UTC day, then RateLimited until midnight
/// ```
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpSettings {
    /// Base URL of the system (`https://host[:port][/prefix]`). Request paths are joined to
    /// it. User info in the URL is sent as HTTP Basic credentials and masked in messages.
    pub url: String,
    /// How long one attempt may take, connect to last byte (`30s`, `2m`; default 30s).
    #[serde(default)]
    pub timeout: Option<DurationStr>,
    /// How many times a transient failure (connection refused, timeout, HTTP 429, 502, 503,
    /// 504) is retried before the request fails: `retries: 3` means at most 4 attempts.
    /// Default 3; `0` never retries.
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// Wait before the first retry, doubled at each next one with jitter, at most 30s
    /// (default 500ms). A `Retry-After` from the server replaces it.
    #[serde(default)]
    pub backoff: Option<DurationStr>,
    /// Most requests per second to the system, across every flow using it.
    #[serde(default)]
    pub rate: Option<RateSettings>,
    /// Most requests per day, across every flow using it. The day is the UTC calendar day:
    /// once the quota is spent, requests fail at once as rate-limited until 00:00 UTC, and
    /// the engine resumes the flows then, at the cursors they had.
    #[serde(default)]
    pub daily_quota: Option<u64>,
}

fn default_retries() -> u32 {
    3
}

/// A request rate.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RateSettings {
    /// Sustained requests per second (may be fractional: `0.5` is one request every 2 s).
    pub per_second: f64,
    /// Requests allowed at once after a quiet spell (default 1: evenly spaced).
    #[serde(default)]
    pub burst: Option<u32>,
}

impl HttpSettings {
    /// The keys these settings take, so a connector embedding them can tell its own apart.
    pub const KEYS: &'static [&'static str] = &[
        "url",
        "timeout",
        "retries",
        "backoff",
        "rate",
        "daily_quota",
    ];

    /// Checks the settings and returns them ready to use. Every problem is reported, each at
    /// its key (`rate.per_second`).
    pub fn validate(&self) -> Result<HttpOptions, Vec<ConfigIssue>> {
        let mut issues = Vec::new();
        let base = match Url::parse(self.url.trim()) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {
                Some(url)
            }
            Ok(_) => {
                issues.push(ConfigIssue::new(
                    ["url"],
                    format!(
                        "`{}` is not an http:// or https:// URL with a host",
                        mask_url(&self.url)
                    ),
                ));
                None
            }
            Err(e) => {
                issues.push(ConfigIssue::new(
                    ["url"],
                    format!("`{}` is not a URL ({e})", mask_url(&self.url)),
                ));
                None
            }
        };
        let timeout = self.timeout.map_or(Duration::from_secs(30), |d| d.0);
        if timeout.is_zero() {
            issues.push(ConfigIssue::new(["timeout"], "must be longer than 0s"));
        }
        let backoff = self.backoff.map_or(Duration::from_millis(500), |d| d.0);
        let rate = self.rate.as_ref().and_then(|r| {
            let per_second_ok = r.per_second.is_finite() && r.per_second > 0.0;
            if !per_second_ok {
                issues.push(ConfigIssue::new(
                    ["rate", "per_second"],
                    format!("must be a positive number, not {}", r.per_second),
                ));
            }
            let burst = match r.burst.map(NonZeroU32::new) {
                None => NonZeroU32::MIN,
                Some(Some(b)) => b,
                Some(None) => {
                    issues.push(ConfigIssue::new(["rate", "burst"], "must be at least 1"));
                    NonZeroU32::MIN
                }
            };
            per_second_ok.then(|| Rate {
                period: Duration::from_secs_f64(1.0 / r.per_second),
                burst,
            })
        });
        if self.daily_quota == Some(0) {
            issues.push(ConfigIssue::new(
                ["daily_quota"],
                "must be at least 1 (leave it out for no quota)",
            ));
        }
        match base {
            Some(base) if issues.is_empty() => Ok(HttpOptions {
                base,
                timeout,
                retries: self.retries,
                backoff,
                rate,
                daily_quota: self.daily_quota,
            }),
            _ => Err(issues),
        }
    }
}

/// Validated [`HttpSettings`], what [`HttpClient::new`](super::HttpClient::new) takes.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// Base URL.
    pub base: Url,
    /// Per-attempt timeout.
    pub timeout: Duration,
    /// Retries after the first attempt.
    pub retries: u32,
    /// First retry wait.
    pub backoff: Duration,
    /// Request rate, if limited.
    pub rate: Option<Rate>,
    /// Requests per UTC day, if limited.
    pub daily_quota: Option<u64>,
}

impl HttpOptions {
    /// Options for `base` with the defaults of [`HttpSettings`] (for tests and tools).
    pub fn new(base: Url) -> Self {
        Self {
            base,
            timeout: Duration::from_secs(30),
            retries: default_retries(),
            backoff: Duration::from_millis(500),
            rate: None,
            daily_quota: None,
        }
    }
}

/// One request every `period`, up to `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Time between two requests at the sustained rate.
    pub period: Duration,
    /// Requests allowed at once.
    pub burst: NonZeroU32,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn issues(v: serde_json::Value) -> Vec<(String, String)> {
        let settings: HttpSettings = crate::settings::parse(v.as_object().unwrap()).unwrap();
        settings
            .validate()
            .unwrap_err()
            .into_iter()
            .map(|i| (i.dotted(), i.message))
            .collect()
    }

    #[test]
    fn defaults_and_a_full_setting_validate() {
        let s: HttpSettings =
            crate::settings::parse(json!({"url": "http://h:8000/x"}).as_object().unwrap()).unwrap();
        let o = s.validate().unwrap();
        assert_eq!(o.timeout, Duration::from_secs(30));
        assert_eq!(o.retries, 3);
        assert_eq!((o.rate, o.daily_quota), (None, None));

        let s: HttpSettings = crate::settings::parse(
            json!({"url": "https://h", "timeout": "5s", "retries": 0, "backoff": "10ms",
                   "rate": {"per_second": 0.5, "burst": 3}, "daily_quota": 100})
            .as_object()
            .unwrap(),
        )
        .unwrap();
        let o = s.validate().unwrap();
        assert_eq!(o.timeout, Duration::from_secs(5));
        assert_eq!(o.retries, 0);
        assert_eq!(
            o.rate,
            Some(Rate {
                period: Duration::from_secs(2),
                burst: NonZeroU32::new(3).unwrap()
            })
        );
        assert_eq!(o.daily_quota, Some(100));
    }

    #[test]
    fn every_problem_is_reported_at_its_key_without_the_password() {
        let found = issues(json!({
            "url": "ftp://me:s3cret@h/", "timeout": "0s",
            "rate": {"per_second": -1, "burst": 0}, "daily_quota": 0
        }));
        let paths: Vec<&str> = found.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            [
                "url",
                "timeout",
                "rate.per_second",
                "rate.burst",
                "daily_quota"
            ]
        );
        assert!(!found[0].1.contains("s3cret"), "{}", found[0].1);
        assert!(found[0].1.contains("me:****@h"), "{}", found[0].1);
        assert_eq!(issues(json!({"url": "not a url"}))[0].0, "url");
    }
}
