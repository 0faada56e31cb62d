//! Where announcements go: the log always, the JSON POST to `alerts.url` when set (one per
//! alert, the documented shape), and one message per check to each of `alerts.channels`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono_tz::Tz;
use ferry_kit::http::{Call, HeaderName, HttpClient, HttpOptions, StaticAuth, Url};
use ferry_model::config::{AlertsConfig, ConfigIssue};

use super::channels::{Channel, Digest};
use super::{Alert, AlertState};

/// What messages need from the rest of the config.
#[derive(Debug, Clone)]
pub struct Surroundings {
    /// The workspace's zone (`timezone:`): channels show times in it.
    pub zone: Tz,
    /// The console's root (`server.public_url` + `console/`): channels link there.
    pub console: Option<Url>,
    /// The config file's folder: relative paths (an e-mail channel's `ca`) start there.
    pub base_dir: PathBuf,
}

impl Surroundings {
    /// The console's root under `server.public_url`, which may have a path of its own
    /// (`https://example.com/ferry` behind a proxy).
    pub fn console_under(public_url: &str) -> Result<Url, ConfigIssue> {
        let issue = |m: String| ConfigIssue::new(["server", "public_url"], m);
        let mut url = Url::parse(public_url).map_err(|e| issue(format!("not a URL: {e}")))?;
        if !url.path().ends_with('/') {
            let path = format!("{}/", url.path());
            url.set_path(&path);
        }
        url.join("console/")
            .map_err(|e| issue(format!("cannot link to the console under it: {e}")))
    }
}

/// Where announcements go besides the log.
#[derive(Debug, Clone)]
pub struct Sender {
    post: Option<(HttpClient, String)>,
    channels: Arc<Vec<Channel>>,
    around: Surroundings,
}

impl Sender {
    /// Builds the POST client and the channels from the section (no I/O but reading a
    /// channel's `ca` file). Credentials (header values, webhook tokens, signing secrets,
    /// SMTP passwords) are scrubbed from every message.
    pub fn new(config: &AlertsConfig, around: Surroundings) -> Result<Self, Vec<ConfigIssue>> {
        let post = match &config.url {
            Some(url) => Some((post_client(config, url)?, url.clone())),
            None => None,
        };
        let channels = Channel::all(&config.channels, &around)?;
        Ok(Self {
            post,
            channels: Arc::new(channels),
            around,
        })
    }

    /// The channels, in config order.
    pub fn channels(&self) -> &[Channel] {
        &self.channels
    }

    /// Announces what one check found: each alert to the log and the JSON POST, then all of
    /// them as one message to each channel, the channels at once. A failed delivery is
    /// logged, never fatal: a condition still true is announced again after `repeat`.
    pub async fn announce(&self, alerts: &[Alert]) {
        for alert in alerts {
            log(alert);
            self.post(alert).await;
        }
        if alerts.is_empty() {
            return;
        }
        let deliveries = self.channels.iter().map(|channel| async move {
            let digest = Digest::new(alerts, channel.language(), &self.around);
            if let Err(e) = channel.deliver(&digest).await {
                tracing::warn!(
                    channel = channel.name(),
                    "could not deliver the alerts: {e}"
                );
            }
        });
        futures::future::join_all(deliveries).await;
    }

    async fn post(&self, alert: &Alert) {
        if let Some((client, url)) = &self.post
            && let Err(e) = client.send(Call::post(url.clone()).json(alert)).await
        {
            tracing::warn!(flow = %alert.flow, "could not deliver the alert: {e}");
        }
    }
}

fn log(alert: &Alert) {
    match alert.state {
        AlertState::Firing => tracing::warn!(
            flow = %alert.flow, condition = ?alert.condition, "ALERT {}", alert.message
        ),
        AlertState::Resolved => tracing::info!(
            flow = %alert.flow, condition = ?alert.condition, "ALERT {}", alert.message
        ),
    }
}

/// The client of the JSON POST. Header values are secrets: the shared HTTP client scrubs
/// them from every message.
fn post_client(config: &AlertsConfig, url: &str) -> Result<HttpClient, Vec<ConfigIssue>> {
    let issue = |path: &[&str], message: String| {
        ConfigIssue::at(path.iter().map(|s| (*s).to_owned()).collect(), message)
    };
    let base =
        Url::parse(url).map_err(|e| vec![issue(&["alerts", "url"], format!("not a URL: {e}"))])?;
    let mut auth = StaticAuth::default();
    for (name, value) in &config.headers {
        let header = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
            vec![issue(
                &["alerts", "headers", name],
                "not a header name".into(),
            )]
        })?;
        auth = auth
            .with_header(header, value, value)
            .map_err(|e| vec![issue(&["alerts", "headers", name], e.message().to_owned())])?;
    }
    let mut options = HttpOptions::new(base);
    options.retries = 2;
    options.timeout = Duration::from_secs(10);
    HttpClient::new("alerts", options, Arc::new(auth))
        .map_err(|e| vec![issue(&["alerts", "url"], e.message().to_owned())])
}
