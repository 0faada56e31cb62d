//! # Alert channels
//!
//! `alerts.channels` sends what one check found, alerts and recoveries together, as one short
//! message to each chat group or mailbox: a title that names the flow and the condition (or
//! how many there are), then for each alert what is wrong with its figures, since when, and
//! a link to the console page when `server.public_url` is set. The [`Digest`] is written
//! once per language (`language: en|zh` on the channel, times in the workspace's
//! `timezone:`) and each kind puts it in its vendor's documented format:
//!
//! | kind | request | signature | success / failure answer |
//! |---|---|---|---|
//! | `wecom` | `{"msgtype": "markdown", "markdown": {"content"}}`, ≤ 4096 bytes | none (the `key` in the URL) | HTTP 200 `{"errcode": 0}`; `errcode` ≠ 0 is a refusal, 45009 (over 20 messages a minute) is retried |
//! | `dingtalk` | `{"msgtype": "markdown", "markdown": {"title", "text"}}` | `timestamp` (ms) and `sign` = URL-encoded Base64 HmacSHA256(key = secret, `timestamp\nsecret`) in the query | HTTP 200 `{"errcode": 0}`; 310000 (sign, keyword or IP check failed) is a refusal, 130101 / 410100 (sending too fast) are retried |
//! | `feishu` | `{"msg_type": "interactive", "card"}` | `timestamp` (s) and `sign` = Base64 HmacSHA256(key = `timestamp\nsecret`, empty message) in the body | `{"code": 0}`; another `code` (19021: sign, 9499: bad request) is a refusal |
//! | `slack` | `{"text", "blocks"}` (header, sections, a button) | none (the URL) | HTTP 200 `ok`; 4xx with a code in the body (`invalid_payload`, `channel_is_archived`…); 429 retried after `Retry-After` |
//! | `teams` | `{"type": "message", "attachments": [Adaptive Card 1.4]}` | none (`sig` in the URL) | HTTP 202 |
//! | `email` | a UTF-8 `text/plain` mail, subject encoded (RFC 2047) | SMTP AUTH over implicit TLS (`smtps://`) or required STARTTLS (`smtp://`) | the server's reply code |
//!
//! Teams: the Office 365 connector's MessageCard webhooks are retired; a Teams channel now
//! gets a webhook from a Workflows flow ("Send webhook alerts to a channel", trigger "When a
//! Teams webhook request is received"), and Workflows take Adaptive Cards only, in the
//! `attachments` envelope the connector used (its own template reads
//! `attachments[0].content`). So `teams` sends that envelope.
//!
//! Delivery goes through the shared HTTP client: timeouts, retries with backoff (a refused
//! connection, 429, and the vendors' "too fast" codes; a timeout or 5xx too, since a message
//! shown twice is better than an alert lost), and messages that name the channel and the
//! vendor's own words, scrubbed of the webhook's token and the signing secret. A failure is
//! logged and never stops Ferry. The receivers in `tests.rs` check each format and recompute
//! each signature from the secret and the timestamp sent.

mod digest;
mod dingtalk;
mod email;
mod feishu;
mod replies;
mod slack;
mod teams;
mod webhook;
mod wecom;

#[cfg(test)]
mod tests;

use ferry_model::ConnectorError;
use ferry_model::config::alerts::channels::channel_names;
use ferry_model::config::{ChannelConfig, ConfigIssue, Language};

pub use digest::{Digest, Item};
pub use email::Mailer;
pub use webhook::{Vendor, Webhook};

use super::Surroundings;

/// One configured channel, ready to send.
#[derive(Debug)]
pub enum Channel {
    /// A chat robot's webhook.
    Webhook(Webhook),
    /// A mailbox, through SMTP.
    Email(Mailer),
}

/// Why a message did not reach a channel. The text names the channel and never holds a
/// webhook token, a signing secret or an SMTP password.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// The webhook could not be reached, or its server refused the message (the text
    /// names the channel, the request and the vendor's own message).
    #[error(transparent)]
    Webhook(ConnectorError),
    /// The mail could not be built from the alerts.
    #[error("alert channel `{channel}`: cannot write the mail: {reason}")]
    Mail {
        /// The channel's name.
        channel: String,
        /// What went wrong.
        reason: String,
    },
    /// The SMTP server could not be reached, or refused the mail.
    #[error("alert channel `{channel}`: {reason}")]
    Smtp {
        /// The channel's name.
        channel: String,
        /// What went wrong, with the server's reply when there is one.
        reason: String,
    },
}

impl Channel {
    /// Every channel of `configs`, or every problem found, each at its key
    /// (`alerts.channels.2.webhook`).
    pub(crate) fn all(
        configs: &[ChannelConfig],
        around: &Surroundings,
    ) -> Result<Vec<Channel>, Vec<ConfigIssue>> {
        let mut channels = Vec::new();
        let mut issues = Vec::new();
        for (i, (config, name)) in configs.iter().zip(channel_names(configs)).enumerate() {
            match Channel::new(config, name, around) {
                Ok(channel) => channels.push(channel),
                Err((keys, message)) => {
                    let mut path = vec!["alerts".to_owned(), "channels".to_owned(), i.to_string()];
                    path.extend(keys);
                    issues.push(ConfigIssue::at(path, message));
                }
            }
        }
        if issues.is_empty() {
            Ok(channels)
        } else {
            Err(issues)
        }
    }

    /// One channel; an error is the key at fault (its path under the channel) and what is
    /// wrong with it.
    fn new(
        config: &ChannelConfig,
        name: String,
        around: &Surroundings,
    ) -> Result<Channel, (Vec<String>, String)> {
        let hook = |vendor, webhook: &str, secret: Option<&str>, language| {
            Webhook::new(name.clone(), vendor, webhook, secret, language).map(Channel::Webhook)
        };
        match config {
            ChannelConfig::Wecom(c) => hook(Vendor::Wecom, &c.webhook, None, c.language),
            ChannelConfig::Slack(c) => hook(Vendor::Slack, &c.webhook, None, c.language),
            ChannelConfig::Teams(c) => hook(Vendor::Teams, &c.webhook, None, c.language),
            ChannelConfig::Dingtalk(c) => hook(
                Vendor::Dingtalk,
                &c.webhook,
                c.secret.as_deref(),
                c.language,
            ),
            ChannelConfig::Feishu(c) => {
                hook(Vendor::Feishu, &c.webhook, c.secret.as_deref(), c.language)
            }
            ChannelConfig::Email(c) => Mailer::new(name.clone(), c, around).map(Channel::Email),
        }
    }

    /// Its name (`name:`, or its kind).
    pub fn name(&self) -> &str {
        match self {
            Channel::Webhook(w) => w.name(),
            Channel::Email(m) => m.name(),
        }
    }

    /// The language of its messages.
    pub fn language(&self) -> Language {
        match self {
            Channel::Webhook(w) => w.language(),
            Channel::Email(m) => m.language(),
        }
    }

    /// Sends `digest`.
    pub async fn deliver(&self, digest: &Digest) -> Result<(), DeliveryError> {
        match self {
            Channel::Webhook(w) => w.deliver(digest).await,
            Channel::Email(m) => m.deliver(digest).await,
        }
    }
}
