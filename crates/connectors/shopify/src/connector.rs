//! The factory `kind: shopify` selects, and the connector it builds: one per shop.

use std::sync::Arc;

use async_trait::async_trait;
use ferry_kit::http::{HeaderName, HttpClient, StaticAuth, parse_settings};
use ferry_kit::inbound::Inbound;
use ferry_kit::settings::parse;
use ferry_kit::{
    BuildContext, Capabilities, Connector, ConnectorFactory, ConnectorSchemas, ObjectInfo,
    SettingsIssues, Sink, SinkContext, Source,
};
use ferry_model::ConnectorError;
use ferry_model::config::ConfigIssue;
use serde_json::{Map, Value};

use crate::api::Api;
use crate::config::{SourceOptions, SystemSettings, TargetOptions};
use crate::inbound::Webhooks;
use crate::sink::ShopifySink;
use crate::source::ShopifySource;
use crate::throttle::{Pacing, RealTime};

/// Makes `shopify` connectors.
pub struct ShopifyFactory;

impl ConnectorFactory for ShopifyFactory {
    fn kind(&self) -> &'static str {
        "shopify"
    }

    fn summary(&self) -> &'static str {
        "Shopify (Admin GraphQL): customers, products with stock, orders by updated_at; bulk first loads; customerSet, productSet, inventory, fulfilments; HMAC webhooks"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            read: true,
            incremental: true,
            snapshot: false,
            webhook: true,
            write: true,
            delete: false,
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
        Ok(Arc::new(ShopifyConnector::from_settings(ctx, settings)?))
    }
}

/// One configured shop.
pub struct ShopifyConnector {
    pub(crate) api: Api,
    webhooks: Option<Arc<Webhooks>>,
}

impl std::fmt::Debug for ShopifyConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShopifyConnector")
            .field("api", &self.api)
            .finish_non_exhaustive()
    }
}

impl ShopifyConnector {
    /// Validates the settings and prepares the client (no request is sent).
    pub fn from_settings(
        ctx: &BuildContext,
        settings: &Map<String, Value>,
    ) -> Result<Self, SettingsIssues> {
        Self::with_pacing(ctx, settings, Arc::new(RealTime::default()))
    }

    /// The same, with the throttle's time and waits taken from `pacing` (tests run them on
    /// a double's clock).
    pub fn with_pacing(
        ctx: &BuildContext,
        settings: &Map<String, Value>,
        pacing: Arc<dyn Pacing>,
    ) -> Result<Self, SettingsIssues> {
        let system: SystemSettings = parse_settings(settings)?;
        let mut issues = system.issues();
        let http = system.http.validate().map_err(|e| issues.extend(e)).ok();
        let (Some(http), true) = (http, issues.is_empty()) else {
            return Err(issues);
        };
        let token = system.access_token.trim();
        let auth = StaticAuth::default()
            .with_header(
                HeaderName::from_static("x-shopify-access-token"),
                token,
                token,
            )
            .map_err(|e| vec![ConfigIssue::new(["access_token"], e.message().to_owned())])?;
        let http = HttpClient::new(&ctx.system, http, Arc::new(auth))
            .map_err(|e| vec![ConfigIssue::new(["url"], e.message().to_owned())])?;
        Ok(Self {
            api: Api::new(http, &system.api_version, pacing),
            webhooks: system.client_secret.map(|s| Arc::new(Webhooks::new(s))),
        })
    }
}

#[async_trait]
impl Connector for ShopifyConnector {
    fn source(&self, options: &Map<String, Value>) -> Result<Arc<dyn Source>, SettingsIssues> {
        let options: SourceOptions = parse(options)?;
        Ok(Arc::new(ShopifySource::new(
            self.api.clone(),
            options.validate()?,
        )))
    }

    fn sink(
        &self,
        options: &Map<String, Value>,
        ctx: &SinkContext,
    ) -> Result<Arc<dyn Sink>, SettingsIssues> {
        let options: TargetOptions = parse(options)?;
        Ok(Arc::new(ShopifySink::new(
            self.api.clone(),
            options.validate()?,
            ctx,
        )))
    }

    async fn discover(&self) -> Result<Vec<ObjectInfo>, ConnectorError> {
        self.list_objects().await
    }

    async fn probe(&self) -> Result<(), ConnectorError> {
        self.ping().await
    }

    fn inbound(&self) -> Option<Arc<dyn Inbound>> {
        self.webhooks.clone().map(|w| w as Arc<dyn Inbound>)
    }
}
