//! The factory `kind: jiandaoyun` selects, and the connector it builds: one per account.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use ferry_kit::http::{HttpClient, Rate, StaticAuth, parse_settings};
use ferry_kit::inbound::Inbound;
use ferry_kit::settings::parse;
use ferry_kit::{
    BuildContext, Capabilities, Connector, ConnectorFactory, ConnectorSchemas, ObjectInfo,
    SettingsIssues, Sink, SinkContext, Source,
};
use ferry_model::ConnectorError;
use ferry_model::config::ConfigIssue;
use serde_json::{Map, Value};

use crate::api::{Api, Replies};
use crate::config::{SourceOptions, SystemSettings, TargetOptions};
use crate::inbound::JdyPush;
use crate::sink::JdySink;
use crate::source::JdySource;

/// The API root when `url` is not given.
pub const DEFAULT_URL: &str = "https://api.jiandaoyun.com/api";

/// Makes `jiandaoyun` connectors.
pub struct JdyFactory;

impl ConnectorFactory for JdyFactory {
    fn kind(&self) -> &'static str {
        "jiandaoyun"
    }

    fn summary(&self) -> &'static str {
        "Jiandaoyun 简道云 forms over the open API v5 (reads by update time, upserts by a key widget, sub-forms, data push webhooks)"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            read: true,
            incremental: true,
            snapshot: false,
            webhook: true,
            write: true,
            delete: true,
            scan: true,
        }
    }

    fn schemas(&self) -> ConnectorSchemas {
        ConnectorSchemas::of::<SystemSettings, SourceOptions, TargetOptions>()
    }

    fn build(
        &self,
        ctx: &BuildContext,
        settings: &Map<String, Value>,
    ) -> Result<Arc<dyn Connector>, SettingsIssues> {
        Ok(Arc::new(JdyConnector::from_settings(ctx, settings)?))
    }
}

/// One configured account.
pub struct JdyConnector {
    pub(crate) api: Api,
    push: Option<Arc<JdyPush>>,
    concurrency: usize,
}

impl std::fmt::Debug for JdyConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JdyConnector")
            .field("api", &self.api)
            .finish_non_exhaustive()
    }
}

impl JdyConnector {
    /// Validates the settings and prepares the client (no request is sent).
    pub fn from_settings(
        ctx: &BuildContext,
        settings: &Map<String, Value>,
    ) -> Result<Self, SettingsIssues> {
        let mut settings = settings.clone();
        settings
            .entry("url")
            .or_insert_with(|| Value::String(DEFAULT_URL.to_owned()));
        let system: SystemSettings = parse_settings(&settings)?;
        let mut issues = system.issues();
        let http = system
            .http
            .validate()
            .map_err(|found| issues.extend(found))
            .ok();
        let (Some(mut http), true) = (http, issues.is_empty()) else {
            return Err(issues);
        };
        if http.rate.is_none() {
            // The documented limits: 30/s to list, 10/s for batches, 50/s per company.
            http.rate = Some(Rate {
                period: Duration::from_millis(100),
                burst: NonZeroU32::new(10).expect("10 is not zero"),
            });
        }
        let auth = StaticAuth::bearer(system.api_key.trim())
            .map_err(|e| vec![ConfigIssue::new(["api_key"], e.message().to_owned())])?;
        let http = HttpClient::new(&ctx.system, http, Arc::new(auth))
            .map_err(|e| vec![ConfigIssue::new(["url"], e.message().to_owned())])?
            .with_reply_check(Arc::new(Replies));
        Ok(Self {
            api: Api { http },
            push: system.push_secret.map(|s| Arc::new(JdyPush::new(s))),
            concurrency: system.concurrency,
        })
    }
}

#[async_trait]
impl Connector for JdyConnector {
    fn source(&self, options: &Map<String, Value>) -> Result<Arc<dyn Source>, SettingsIssues> {
        let options: SourceOptions = parse(options)?;
        let overlap = options.validate()?;
        Ok(Arc::new(JdySource::new(self.api.clone(), options, overlap)))
    }

    fn sink(
        &self,
        options: &Map<String, Value>,
        ctx: &SinkContext,
    ) -> Result<Arc<dyn Sink>, SettingsIssues> {
        let options: TargetOptions = parse(options)?;
        options.validate()?;
        Ok(Arc::new(JdySink::new(
            self.api.clone(),
            options,
            ctx,
            self.concurrency,
        )))
    }

    async fn discover(&self) -> Result<Vec<ObjectInfo>, ConnectorError> {
        self.discover_forms().await
    }

    fn inbound(&self) -> Option<Arc<dyn Inbound>> {
        self.push.clone().map(|p| p as Arc<dyn Inbound>)
    }
}
