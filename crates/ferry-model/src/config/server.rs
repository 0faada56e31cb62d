//! The `server:` section: Ferry's HTTP server (REST API, inbound webhooks, metrics).
//!
//! ```yaml
//! server:
//!   listen: 127.0.0.1:7878          # default
//!   tls: { cert: tls/cert.pem, key: tls/key.pem }   # optional; paths from the config's folder
//!   allow_ips: [127.0.0.1/32, 10.0.0.0/8]           # empty: every address
//!   rate_limit: { per_second: 20, burst: 40 }       # per API key
//!   webhook: { tolerance: 5m, max_body: 1048576 }
//!   hooks:
//!     crm: { secret: "${CRM_HOOK_SECRET}" }         # POST /hooks/crm, signed with this secret
//!     shop: { secret: "${SHOP_HOOK_SECRET}", rate_limit: { per_second: 5000, burst: 10000 } }
//!   mask:
//!     phone: phone                                  # 13812345678 -> 138****5678
//!     tax_id: tax_id                                # 91350100M000100Y43 -> 9135***********Y43
//!   public_url: https://ferry.example.com           # where people reach it; alerts link here
//! ```
//!
//! Per-system webhook secrets live under `server.hooks.<system>` rather than under
//! `systems.<name>`, because a system's other keys are its connector's own settings.

use std::net::SocketAddr;

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{ConfigIssue, DurationStr};

/// Shortest webhook secret accepted: HMAC-SHA256 with a guessable secret protects nothing.
pub const MIN_SECRET_LEN: usize = 16;

/// The HTTP server.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// `ferry run` serves HTTP (`--no-serve` overrides). Default: true.
    pub enabled: bool,
    /// Address and port to listen on. Default `127.0.0.1:7878` (this machine only).
    pub listen: String,
    /// Serve HTTPS with this certificate and key (PEM files).
    pub tls: Option<TlsConfig>,
    /// Client addresses allowed (CIDR such as `10.0.0.0/8`, or a single address). Empty: all.
    /// Checked before anything else, for every route.
    pub allow_ips: Vec<String>,
    /// Requests per API key (webhooks have their own, under `hooks`).
    pub rate_limit: RateLimitConfig,
    /// Inbound webhook checks.
    pub webhook: WebhookSettings,
    /// Systems that may send change notices to `POST /hooks/<system>`, with their signing
    /// secret. A system not listed here gets 404.
    pub hooks: IndexMap<String, HookConfig>,
    /// Payload fields shown masked by the API (ledger, dead letters): field name → rule.
    /// Applied at any depth of a payload.
    pub mask: IndexMap<String, MaskRule>,
    /// The address people reach this server at, when it is not `listen` (behind a reverse
    /// proxy, say `https://ferry.example.com`). Alerts link to the console there; without
    /// it they carry no link, as `listen` is often an address only this machine can reach.
    pub public_url: Option<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: "127.0.0.1:7878".into(),
            tls: None,
            allow_ips: Vec::new(),
            rate_limit: RateLimitConfig::default(),
            webhook: WebhookSettings::default(),
            hooks: IndexMap::new(),
            mask: IndexMap::new(),
            public_url: None,
        }
    }
}

/// Certificate and private key, PEM. Relative paths are taken from the config file's folder.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// The certificate chain (leaf first).
    pub cert: String,
    /// The private key (PKCS#8, PKCS#1 or SEC1).
    pub key: String,
}

/// A token bucket per API key: `burst` requests at once, refilled at `per_second`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    /// Sustained requests per second.
    pub per_second: u32,
    /// Requests allowed at once before the sustained rate applies.
    pub burst: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            per_second: 20,
            burst: 40,
        }
    }
}

/// How inbound webhooks are checked.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookSettings {
    /// How far a notice's signed timestamp may be from our clock (either way).
    pub tolerance: DurationStr,
    /// Largest body accepted, in bytes (larger: 413).
    pub max_body: usize,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            tolerance: DurationStr(std::time::Duration::from_secs(300)),
            max_body: 1024 * 1024,
        }
    }
}

/// One system allowed to send webhooks.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HookConfig {
    /// The HMAC-SHA256 signing secret shared with the system (use `${ENV}`; at least 16
    /// characters).
    pub secret: String,
    /// Notices per second accepted from this system. Default: [`HookConfig::DEFAULT_RATE`]
    /// (1,000/s, bursts of 2,000), not `server.rate_limit`: a CRM's mass update sends
    /// thousands of notices at once, where an API key is a person or a script.
    #[serde(default)]
    pub rate_limit: Option<RateLimitConfig>,
}

impl HookConfig {
    /// The webhook rate limit when a hook sets none.
    pub const DEFAULT_RATE: RateLimitConfig = RateLimitConfig {
        per_second: 1000,
        burst: 2000,
    };

    /// This hook's rate limit.
    pub fn rate(&self) -> RateLimitConfig {
        self.rate_limit.clone().unwrap_or(Self::DEFAULT_RATE)
    }
}

/// How a field is shown by the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MaskRule {
    /// The first 3 and last 4 characters: `138****5678`.
    Phone,
    /// The first 4 and last 3 characters: `9135***********Y43`.
    TaxId,
    /// The first character of the local part and the domain: `a****@example.com`.
    Email,
    /// The last 4 characters only: `****5678`.
    Last4,
    /// Nothing: `****`.
    Full,
}

impl ServerConfig {
    /// Offline checks of the section; `systems` are the configured system names.
    pub fn validate(&self, systems: impl Fn(&str) -> bool) -> Vec<ConfigIssue> {
        let mut issues = Vec::new();
        if self.listen.parse::<SocketAddr>().is_err() {
            issues.push(ConfigIssue::new(
                ["server", "listen"],
                format!(
                    "`{}` is not an address and port like 127.0.0.1:7878 or [::]:7878",
                    self.listen
                ),
            ));
        }
        for entry in &self.allow_ips {
            if parse_allowed(entry).is_none() {
                issues.push(ConfigIssue::new(
                    ["server", "allow_ips"],
                    format!("`{entry}` is not an IP network like 10.0.0.0/8 or an address"),
                ));
            }
        }
        check_rate(&mut issues, &["server"], &self.rate_limit);
        if let Some(url) = &self.public_url
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            issues.push(ConfigIssue::new(
                ["server", "public_url"],
                "must be an http:// or https:// URL such as https://ferry.example.com",
            ));
        }
        if self.webhook.max_body == 0 {
            issues.push(ConfigIssue::new(
                ["server", "webhook", "max_body"],
                "must be at least 1 byte",
            ));
        }
        if self.webhook.tolerance.0.is_zero() {
            issues.push(ConfigIssue::new(
                ["server", "webhook", "tolerance"],
                "must be longer than 0s",
            ));
        }
        for (system, hook) in &self.hooks {
            if !systems(system) {
                issues.push(ConfigIssue::at(
                    vec!["server".into(), "hooks".into(), system.clone()],
                    format!("unknown system `{system}`"),
                ));
            }
            if hook.secret.chars().count() < MIN_SECRET_LEN {
                // The message never shows the secret itself.
                issues.push(ConfigIssue::at(
                    vec![
                        "server".into(),
                        "hooks".into(),
                        system.clone(),
                        "secret".into(),
                    ],
                    format!("must be at least {MIN_SECRET_LEN} characters"),
                ));
            }
            if let Some(rate) = &hook.rate_limit {
                check_rate(&mut issues, &["server", "hooks", system], rate);
            }
        }
        issues
    }

    /// The parsed `allow_ips` (entries that do not parse are left out: `validate` reports
    /// them).
    pub fn allowed_networks(&self) -> Vec<ipnet::IpNet> {
        self.allow_ips
            .iter()
            .filter_map(|e| parse_allowed(e))
            .collect()
    }
}

/// `10.0.0.0/8` or a bare address (a network of one).
fn parse_allowed(entry: &str) -> Option<ipnet::IpNet> {
    let entry = entry.trim();
    entry.parse::<ipnet::IpNet>().ok().or_else(|| {
        entry
            .parse::<std::net::IpAddr>()
            .ok()
            .map(ipnet::IpNet::from)
    })
}

/// A rate limit's zeros, reported under `path` + `rate_limit`.
fn check_rate(issues: &mut Vec<ConfigIssue>, path: &[&str], rate: &RateLimitConfig) {
    for (key, value) in [("per_second", rate.per_second), ("burst", rate.burst)] {
        if value == 0 {
            let mut at: Vec<String> = path.iter().map(|s| (*s).to_owned()).collect();
            at.extend(["rate_limit".to_owned(), key.to_owned()]);
            issues.push(ConfigIssue::at(at, "must be at least 1"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_local_and_valid() {
        let c = ServerConfig::default();
        assert_eq!(c.listen, "127.0.0.1:7878");
        assert!(c.validate(|_| true).is_empty());
    }

    #[test]
    fn bad_values_are_reported_by_path_without_secrets() {
        let mut c = ServerConfig {
            listen: "localhost".into(),
            allow_ips: vec![
                "10.0.0.0/8".into(),
                "192.168.1.7".into(),
                "10.0.0/33".into(),
            ],
            public_url: Some("ferry.example.com".into()),
            ..Default::default()
        };
        c.rate_limit.burst = 0;
        c.hooks.insert(
            "crm".into(),
            HookConfig {
                secret: "short-secret".into(),
                rate_limit: Some(RateLimitConfig {
                    per_second: 0,
                    burst: 10,
                }),
            },
        );
        c.hooks.insert(
            "nosuch".into(),
            HookConfig {
                secret: "x".repeat(32),
                rate_limit: None,
            },
        );
        let issues = c.validate(|s| s == "crm");
        let got: Vec<(String, &str)> = issues
            .iter()
            .map(|i| (i.dotted(), i.message.as_str()))
            .collect();
        assert_eq!(got.len(), 7, "{got:?}");
        assert_eq!(got[0].0, "server.listen");
        assert_eq!(got[1].0, "server.allow_ips");
        assert!(got[1].1.contains("10.0.0/33"));
        assert_eq!(got[2].0, "server.rate_limit.burst");
        assert_eq!(got[3].0, "server.public_url");
        assert_eq!(got[4].0, "server.hooks.crm.secret");
        assert!(!got[4].1.contains("short-secret"));
        assert_eq!(got[5].0, "server.hooks.crm.rate_limit.per_second");
        assert_eq!(got[6].0, "server.hooks.nosuch");
        assert_eq!(c.hooks["nosuch"].rate(), HookConfig::DEFAULT_RATE);
        assert_eq!(c.allowed_networks().len(), 2);
    }
}
