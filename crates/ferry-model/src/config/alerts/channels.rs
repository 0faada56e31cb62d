//! `alerts.channels`: the chat groups and mailboxes alerts are sent to, each with its kind.
//!
//! ```yaml
//! alerts:
//!   channels:
//!     - { kind: wecom, webhook: "${WECOM_WEBHOOK}", language: zh }         # 企业微信群机器人
//!     - { kind: dingtalk, webhook: "${DINGTALK_WEBHOOK}", secret: "${DINGTALK_SECRET}" }
//!     - { kind: feishu, webhook: "${FEISHU_WEBHOOK}", secret: "${FEISHU_SECRET}" }
//!     - { kind: slack, webhook: "${SLACK_WEBHOOK}" }
//!     - { kind: teams, webhook: "${TEAMS_WEBHOOK}" }                        # a Workflows webhook
//!     - kind: email
//!       smtp: "smtps://alerts%40example.com:${SMTP_PASSWORD}@smtp.example.com"  # implicit TLS, 465
//!       from: "Ferry <alerts@example.com>"
//!       to: [ops@example.com]
//! ```
//!
//! Webhooks are `https://`; `http://` only to this machine (`localhost`, `127.0.0.1`, `::1`),
//! for a local relay or a test. A webhook URL holds the robot's token, so it belongs in
//! `${ENV}` like the secrets: messages about a channel never show it.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::super::ConfigIssue;

/// One place alerts are sent to besides the log.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ChannelConfig {
    /// A 企业微信 (WeCom) group robot: `https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…`.
    Wecom(WebhookChannel),
    /// A 钉钉 (DingTalk) custom robot: `https://oapi.dingtalk.com/robot/send?access_token=…`,
    /// signed with `secret` (加签, the `SEC…` string). A robot secured by keywords instead
    /// needs the keyword `Ferry`, which every message holds.
    Dingtalk(SignedChannel),
    /// A 飞书 / Lark custom bot: `https://open.feishu.cn/open-apis/bot/v2/hook/…` (or
    /// `open.larksuite.com`), signed with `secret` when its 签名校验 is on.
    Feishu(SignedChannel),
    /// A Slack incoming webhook: `https://hooks.slack.com/services/…`.
    Slack(WebhookChannel),
    /// A Microsoft Teams Workflows webhook (the "Send webhook alerts to a channel" template,
    /// trigger "When a Teams webhook request is received"); it takes Adaptive Cards.
    Teams(WebhookChannel),
    /// E-mail through an SMTP server, over TLS.
    Email(EmailChannel),
}

/// A chat robot reached by its webhook URL alone.
#[derive(Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookChannel {
    /// How messages and the log name this channel. Default: its kind, numbered when a kind
    /// is used twice (`wecom`, `wecom-2`).
    #[serde(default)]
    pub name: Option<String>,
    /// The webhook URL, token included (use `${ENV}`).
    pub webhook: String,
    /// The language of the messages. Default `en`.
    #[serde(default)]
    pub language: Language,
}

/// A chat robot reached by its webhook URL, whose requests are signed with a secret.
#[derive(Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SignedChannel {
    /// How messages and the log name this channel. Default: its kind, numbered when a kind
    /// is used twice (`dingtalk`, `dingtalk-2`).
    #[serde(default)]
    pub name: Option<String>,
    /// The webhook URL, token included (use `${ENV}`).
    pub webhook: String,
    /// The signing secret shown in the robot's security settings (use `${ENV}`). Without
    /// it requests are not signed.
    #[serde(default)]
    pub secret: Option<String>,
    /// The language of the messages. Default `en`.
    #[serde(default)]
    pub language: Language,
}

/// E-mail through an SMTP server.
#[derive(Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailChannel {
    /// How messages and the log name this channel. Default `email` (`email-2`…).
    #[serde(default)]
    pub name: Option<String>,
    /// The server: `smtps://user:password@host` for implicit TLS (port 465 by default) or
    /// `smtp://user:password@host` for STARTTLS, required (port 587 by default). A user
    /// with `@` writes it `%40`. Plain SMTP only to this machine:
    /// `smtp://localhost:25?tls=none`.
    pub smtp: String,
    /// The sender: `alerts@example.com` or `Ferry <alerts@example.com>`.
    pub from: String,
    /// The recipients.
    pub to: Vec<String>,
    /// A PEM file of certificate authorities to trust besides the system's (an internal
    /// relay's own CA). Relative to the config file's folder.
    #[serde(default)]
    pub ca: Option<String>,
    /// The language of the messages. Default `en`.
    #[serde(default)]
    pub language: Language,
}

// Debug without the webhook, the secret or the SMTP URL: they hold credentials, and a
// config may be printed while debugging.
impl fmt::Debug for WebhookChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookChannel")
            .field("name", &self.name)
            .field("language", &self.language)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for SignedChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignedChannel")
            .field("name", &self.name)
            .field("signed", &self.secret.is_some())
            .field("language", &self.language)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for EmailChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmailChannel")
            .field("name", &self.name)
            .field("from", &self.from)
            .field("to", &self.to)
            .field("language", &self.language)
            .finish_non_exhaustive()
    }
}

/// The language a channel's messages are written in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Language {
    /// English.
    #[default]
    En,
    /// 简体中文.
    Zh,
}

/// How a channel's transport is secured, from its URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// TLS from the first byte (`smtps://`).
    Implicit,
    /// Plain first, then `STARTTLS`, which the server must offer (`smtp://`).
    StartTls,
    /// No TLS (`smtp://…?tls=none`, this machine only).
    None,
}

impl ChannelConfig {
    /// The kind, as written in `kind:`.
    pub fn kind(&self) -> &'static str {
        match self {
            ChannelConfig::Wecom(_) => "wecom",
            ChannelConfig::Dingtalk(_) => "dingtalk",
            ChannelConfig::Feishu(_) => "feishu",
            ChannelConfig::Slack(_) => "slack",
            ChannelConfig::Teams(_) => "teams",
            ChannelConfig::Email(_) => "email",
        }
    }

    /// The name set with `name:`, if any.
    pub fn own_name(&self) -> Option<&str> {
        match self {
            ChannelConfig::Wecom(c) | ChannelConfig::Slack(c) | ChannelConfig::Teams(c) => {
                c.name.as_deref()
            }
            ChannelConfig::Dingtalk(c) | ChannelConfig::Feishu(c) => c.name.as_deref(),
            ChannelConfig::Email(c) => c.name.as_deref(),
        }
    }

    /// The language of its messages.
    pub fn language(&self) -> Language {
        match self {
            ChannelConfig::Wecom(c) | ChannelConfig::Slack(c) | ChannelConfig::Teams(c) => {
                c.language
            }
            ChannelConfig::Dingtalk(c) | ChannelConfig::Feishu(c) => c.language,
            ChannelConfig::Email(c) => c.language,
        }
    }

    /// The webhook URL of a chat channel (`None` for e-mail).
    pub fn webhook(&self) -> Option<&str> {
        match self {
            ChannelConfig::Wecom(c) | ChannelConfig::Slack(c) | ChannelConfig::Teams(c) => {
                Some(&c.webhook)
            }
            ChannelConfig::Dingtalk(c) | ChannelConfig::Feishu(c) => Some(&c.webhook),
            ChannelConfig::Email(_) => None,
        }
    }

    /// Checks that need only the file; `at` is the channel's key path
    /// (`alerts.channels.2`).
    pub(crate) fn validate(&self, at: &[String], issues: &mut Vec<ConfigIssue>) {
        let path = |key: &str| {
            let mut p = at.to_vec();
            p.push(key.to_owned());
            p
        };
        if let Some(webhook) = self.webhook()
            && let Err(message) = check_webhook(webhook)
        {
            issues.push(ConfigIssue::at(path("webhook"), message));
        }
        match self {
            ChannelConfig::Wecom(c) => query_named(c, "key", "wecom", path("webhook"), issues),
            ChannelConfig::Dingtalk(c) => {
                query_named(c, "access_token", "dingtalk", path("webhook"), issues);
                check_secret(c, path("secret"), issues);
            }
            ChannelConfig::Feishu(c) => check_secret(c, path("secret"), issues),
            ChannelConfig::Email(c) => c.validate(at, issues),
            ChannelConfig::Slack(_) | ChannelConfig::Teams(_) => {}
        }
    }
}

/// The names of `channels`, in order: `name:` when set, else the kind, numbered from the
/// second of a kind on (`wecom`, `wecom-2`).
pub fn channel_names(channels: &[ChannelConfig]) -> Vec<String> {
    let mut seen: Vec<&str> = Vec::new();
    channels
        .iter()
        .map(|c| {
            seen.push(c.kind());
            match c.own_name() {
                Some(name) => name.to_owned(),
                None => match seen.iter().filter(|k| **k == c.kind()).count() {
                    1 => c.kind().to_owned(),
                    n => format!("{}-{n}", c.kind()),
                },
            }
        })
        .collect()
}

/// Checks every channel, and that their names are unique.
pub(crate) fn validate_all(channels: &[ChannelConfig], issues: &mut Vec<ConfigIssue>) {
    let names = channel_names(channels);
    for (i, channel) in channels.iter().enumerate() {
        let at = vec!["alerts".to_owned(), "channels".to_owned(), i.to_string()];
        channel.validate(&at, issues);
        if names[..i].contains(&names[i]) {
            let mut path = at;
            path.push("name".to_owned());
            issues.push(ConfigIssue::at(
                path,
                format!(
                    "another channel is already called `{}`: give each its own `name:`",
                    names[i]
                ),
            ));
        }
    }
}

/// `https://`, or `http://` to this machine; never quotes the URL (it holds the token).
fn check_webhook(url: &str) -> Result<(), String> {
    if url.trim().is_empty() {
        return Err("is empty (an environment variable set to nothing?)".to_owned());
    }
    let Some((scheme, _)) = url.split_once("://") else {
        return Err("must be an https:// URL".to_owned());
    };
    match (scheme, host_of(url).as_deref()) {
        (_, None | Some("")) => Err("has no host".to_owned()),
        ("https", Some(_)) => Ok(()),
        ("http", Some(host)) if is_loopback(host) => Ok(()),
        ("http", Some(_)) => Err(
            "must be https:// (the request carries the robot's token); http:// is allowed \
             only to this machine (localhost, 127.0.0.1)"
                .to_owned(),
        ),
        _ => Err("must be an https:// URL".to_owned()),
    }
}

/// A robot whose token is a query parameter: say so when it is missing (a URL copied
/// without its query string).
fn query_named(
    channel: &impl HasWebhook,
    name: &str,
    kind: &str,
    at: Vec<String>,
    issues: &mut Vec<ConfigIssue>,
) {
    let query = channel.webhook().split_once('?').map_or("", |(_, q)| q);
    let present = query.split('&').any(|pair| {
        pair.split_once('=')
            .is_some_and(|(k, v)| k == name && !v.is_empty())
    });
    if !present && check_webhook(channel.webhook()).is_ok() {
        issues.push(ConfigIssue::at(
            at,
            format!("a {kind} webhook carries its token as `?{name}=…`; this one has none"),
        ));
    }
}

fn check_secret(channel: &SignedChannel, at: Vec<String>, issues: &mut Vec<ConfigIssue>) {
    if channel
        .secret
        .as_deref()
        .is_some_and(|s| s.trim().is_empty())
    {
        issues.push(ConfigIssue::at(
            at,
            "is empty (an environment variable set to nothing?); leave `secret` out when \
             the robot does not sign",
        ));
    }
}

trait HasWebhook {
    fn webhook(&self) -> &str;
}

impl HasWebhook for WebhookChannel {
    fn webhook(&self) -> &str {
        &self.webhook
    }
}

impl HasWebhook for SignedChannel {
    fn webhook(&self) -> &str {
        &self.webhook
    }
}

impl EmailChannel {
    fn validate(&self, at: &[String], issues: &mut Vec<ConfigIssue>) {
        let path = |keys: &[&str]| {
            let mut p = at.to_vec();
            p.extend(keys.iter().map(|k| (*k).to_owned()));
            p
        };
        if let Err(message) = self.security() {
            issues.push(ConfigIssue::at(path(&["smtp"]), message));
        }
        if !self.from.contains('@') {
            issues.push(ConfigIssue::at(
                path(&["from"]),
                format!("`{}` is not an address like alerts@example.com", self.from),
            ));
        }
        if self.to.is_empty() {
            issues.push(ConfigIssue::at(path(&["to"]), "names no recipient"));
        }
        for (i, to) in self.to.iter().enumerate() {
            if !to.contains('@') {
                issues.push(ConfigIssue::at(
                    path(&["to", &i.to_string()]),
                    format!("`{to}` is not an address like ops@example.com"),
                ));
            }
        }
    }

    /// How the connection is secured; an error (never quoting the URL, which holds the
    /// password) when `smtp` is not a URL this channel can use.
    pub fn security(&self) -> Result<SmtpSecurity, String> {
        let url = self.smtp.trim();
        let Some((scheme, _)) = url.split_once("://") else {
            return Err(
                "must be a URL like smtps://user:password@smtp.example.com (implicit TLS) \
                 or smtp://user:password@smtp.example.com (STARTTLS)"
                    .to_owned(),
            );
        };
        let host = host_of(url).unwrap_or_default();
        if host.is_empty() {
            return Err("has no host".to_owned());
        }
        let query = url.split_once('?').map(|(_, q)| q);
        match (scheme, query) {
            ("smtps", None) => Ok(SmtpSecurity::Implicit),
            ("smtp", None) => Ok(SmtpSecurity::StartTls),
            ("smtp", Some("tls=none")) if is_loopback(&host) => Ok(SmtpSecurity::None),
            ("smtp", Some("tls=none")) => Err(
                "`tls=none` sends the password in clear: allowed only to this machine \
                 (localhost, 127.0.0.1)"
                    .to_owned(),
            ),
            ("smtp" | "smtps", Some(_)) => {
                Err("takes no query except `?tls=none` (to this machine)".to_owned())
            }
            _ => Err(format!(
                "unknown scheme `{scheme}://`: use smtps:// (implicit TLS) or smtp:// (STARTTLS)"
            )),
        }
    }
}

/// The host of a URL, without user info, port or brackets.
fn host_of(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(bracketed) = host_port.strip_prefix('[') {
        bracketed.split(']').next().unwrap_or_default()
    } else {
        host_port.split(':').next().unwrap_or_default()
    };
    Some(host.to_ascii_lowercase())
}

/// This machine: a request there never crosses a network.
fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests;
