//! A chat robot's webhook: one POST per check through the shared HTTP client, in the
//! vendor's format (`wecom.rs`, `dingtalk.rs`, …).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use ferry_kit::http::{Auth, HttpClient, HttpOptions, Outgoing, Url};
use ferry_model::ConnectorError;
use ferry_model::config::Language;

use super::{DeliveryError, Digest, dingtalk, feishu, slack, teams, wecom};

/// Whose webhook it is: decides the format, the signature and how answers are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vendor {
    /// 企业微信 group robot.
    Wecom,
    /// 钉钉 custom robot.
    Dingtalk,
    /// 飞书 / Lark custom bot.
    Feishu,
    /// Slack incoming webhook.
    Slack,
    /// Microsoft Teams Workflows webhook.
    Teams,
}

/// A chat channel.
pub struct Webhook {
    name: String,
    vendor: Vendor,
    url: Url,
    secret: Option<String>,
    language: Language,
    client: HttpClient,
    /// The token parts of the URL and the secret, kept out of messages.
    secrets: Vec<String>,
}

impl fmt::Debug for Webhook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL holds the robot's token: never printed.
        f.debug_struct("Webhook")
            .field("name", &self.name)
            .field("vendor", &self.vendor)
            .field("signed", &self.secret.is_some())
            .finish_non_exhaustive()
    }
}

impl Webhook {
    /// The channel `name` posting to `webhook`. An error names the key at fault.
    pub fn new(
        name: String,
        vendor: Vendor,
        webhook: &str,
        secret: Option<&str>,
        language: Language,
    ) -> Result<Self, (Vec<String>, String)> {
        let at = || vec!["webhook".to_owned()];
        // The parser's message never quotes the URL it was given.
        let url = Url::parse(webhook.trim()).map_err(|e| (at(), format!("not a URL: {e}")))?;
        let mut secrets = url_secrets(&url);
        secrets.extend(secret.map(str::to_owned));
        let mut options = HttpOptions::new(url.clone());
        options.timeout = Duration::from_secs(10);
        options.retries = 2;
        options.backoff = Duration::from_secs(1);
        // Longest first, so a secret holding another is masked whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        let client = HttpClient::new(
            &format!("alert channel `{name}`"),
            options,
            Arc::new(Scrub(secrets.clone())),
        )
        .map_err(|e| (at(), e.message().to_owned()))?;
        Ok(Self {
            name,
            vendor,
            url,
            secret: secret.map(str::to_owned),
            language,
            client,
            secrets,
        })
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The language of its messages.
    pub fn language(&self) -> Language {
        self.language
    }

    /// Whose webhook it is.
    pub fn vendor(&self) -> Vendor {
        self.vendor
    }

    /// Posts `digest` in the vendor's format, signed when there is a secret.
    pub async fn deliver(&self, digest: &Digest) -> Result<(), DeliveryError> {
        let secret = self.secret.as_deref();
        let now = Utc::now();
        let call = match self.vendor {
            Vendor::Wecom => wecom::call(&self.url, digest),
            Vendor::Dingtalk => dingtalk::call(&self.url, secret, digest, now),
            Vendor::Feishu => feishu::call(&self.url, secret, digest, now),
            Vendor::Slack => slack::call(&self.url, digest),
            Vendor::Teams => teams::call(&self.url, digest),
        };
        // Sent again after a timeout or a 5xx too: a message shown twice is better than an
        // alert lost.
        match self.client.send(call.safe_to_repeat()).await {
            Ok(_) => Ok(()),
            Err(e) => Err(DeliveryError::Webhook(self.scrubbed(&e))),
        }
    }

    /// `e` without the URL's token: the client masks what it knows as secrets in what
    /// servers say, but names the request by its URL, whose path holds the token of a
    /// Feishu or Slack webhook.
    fn scrubbed(&self, e: &ConnectorError) -> ConnectorError {
        let mut message = e.message().to_owned();
        for secret in &self.secrets {
            message = message.replace(secret.as_str(), "****");
        }
        ConnectorError::new(e.kind(), message)
    }
}

/// No credentials to add (the URL carries them), only secrets to keep out of messages.
struct Scrub(Vec<String>);

impl fmt::Debug for Scrub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Scrub")
    }
}

#[async_trait]
impl Auth for Scrub {
    async fn apply(&self, _: &HttpClient, _: &mut Outgoing) -> Result<(), ConnectorError> {
        Ok(())
    }

    fn secrets(&self) -> Vec<String> {
        self.0.clone()
    }
}

/// The parts of a webhook URL that are its credentials: every query value (WeCom's `key`,
/// DingTalk's `access_token`, the `sig` of a Teams workflow) and every path segment that
/// looks like a token (8 characters or more, with a digit or a capital: Feishu's hook id,
/// Slack's `T…/B…/…`), whereas words such as `open-apis` or `services` stay readable.
pub fn url_secrets(url: &Url) -> Vec<String> {
    let mut secrets: Vec<String> = url
        .query_pairs()
        .map(|(_, v)| v.into_owned())
        .filter(|v| v.len() >= 4)
        .collect();
    // The query as written too: a value with escapes appears that way in a URL.
    secrets.extend(
        url.query()
            .into_iter()
            .flat_map(|q| q.split('&'))
            .filter_map(|pair| pair.split_once('=').map(|(_, v)| v.to_owned()))
            .filter(|v| v.len() >= 4),
    );
    let tokenish = |s: &&str| {
        s.len() >= 8
            && s.chars()
                .any(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
    };
    secrets.extend(
        url.path_segments()
            .into_iter()
            .flatten()
            .filter(tokenish)
            .map(str::to_owned),
    );
    secrets
}
