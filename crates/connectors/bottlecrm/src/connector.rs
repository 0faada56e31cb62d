//! The factory `kind: bottlecrm` selects, and the connector it builds: one per configured system.

use std::sync::Arc;

use async_trait::async_trait;
use ferry_model::ConnectorError;
use ferry_model::config::ConfigIssue;
use reqwest::header::HeaderName;
use serde_json::{Map, Value};

use crate::api::Api;
use crate::config::Credential;
use crate::{SourceOptions, SystemSettings, TargetOptions};
use crate::{config, sink, source};
use ferry_kit::http::{HttpClient, StaticAuth};
use ferry_kit::{
    BuildContext, Capabilities, Connector, ConnectorFactory, ConnectorSchemas, ObjectInfo,
    SettingsIssues, Sink, SinkContext, Source,
};

/// Makes `bottlecrm` connectors.
#[derive(Debug, Clone, Copy, Default)]
pub struct BottleCrmFactory;

impl ConnectorFactory for BottleCrmFactory {
    fn kind(&self) -> &'static str {
        "bottlecrm"
    }

    fn summary(&self) -> &'static str {
        "BottleCRM over REST: accounts, contacts, deals with lines, invoices, payments, products (snapshot polling, upsert by key)"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            read: true,
            incremental: false,
            snapshot: true,
            webhook: false,
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
        Ok(Arc::new(BottleCrmConnector::from_settings(ctx, settings)?))
    }
}

/// One BottleCRM organization.
#[derive(Debug)]
pub struct BottleCrmConnector {
    pub(crate) api: Api,
    pub(crate) concurrency: usize,
}

impl BottleCrmConnector {
    /// Validates the settings and prepares the HTTP client (no request is sent).
    pub fn from_settings(
        ctx: &BuildContext,
        settings: &Map<String, Value>,
    ) -> Result<Self, SettingsIssues> {
        let system = config::parse_system(settings)?;
        let (auth, key) = match &system.credential {
            Credential::Token(token) => (StaticAuth::bearer(token), "token"),
            Credential::ApiKey(api_key) => (
                StaticAuth::default().with_header(
                    HeaderName::from_static("token"),
                    api_key,
                    api_key,
                ),
                "api_key",
            ),
        };
        let auth = auth.map_err(|e| vec![ConfigIssue::new([key], e.message().to_owned())])?;
        let http = HttpClient::new(&ctx.system, system.http, Arc::new(auth))
            .map_err(|e| vec![ConfigIssue::new(["url"], e.message().to_owned())])?;
        Ok(Self {
            api: Api { http },
            concurrency: system.concurrency,
        })
    }
}

#[async_trait]
impl Connector for BottleCrmConnector {
    fn source(&self, options: &Map<String, Value>) -> Result<Arc<dyn Source>, SettingsIssues> {
        Ok(Arc::new(source::BottleSource {
            api: self.api.clone(),
            spec: config::parse_source(options)?,
            concurrency: self.concurrency,
        }))
    }

    fn sink(
        &self,
        options: &Map<String, Value>,
        ctx: &SinkContext,
    ) -> Result<Arc<dyn Sink>, SettingsIssues> {
        Ok(Arc::new(sink::BottleSink {
            api: self.api.clone(),
            spec: config::parse_target(options)?,
            key_field: ctx.key_field.clone(),
            fields: ctx.fields.clone(),
            concurrency: self.concurrency,
        }))
    }

    async fn discover(&self) -> Result<Vec<ObjectInfo>, ConnectorError> {
        self.discover_objects().await
    }
}
