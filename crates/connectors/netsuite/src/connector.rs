//! The factory `kind: netsuite` selects, and the connector it builds: one per account.

use std::sync::Arc;

use async_trait::async_trait;
use ferry_kit::http::HttpClient;
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
use crate::discover;
use crate::sink::NetSuiteSink;
use crate::source::NetSuiteSource;

/// Records written at once by default: under the shared tier's limit of 5.
const DEFAULT_CONCURRENCY: usize = 4;

/// Makes `netsuite` connectors.
pub struct NetSuiteFactory;

impl ConnectorFactory for NetSuiteFactory {
    fn kind(&self) -> &'static str {
        "netsuite"
    }

    fn summary(&self) -> &'static str {
        "Oracle NetSuite (TBA): SuiteQL reads by lastmodifieddate; REST record API upserts by external id"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            read: true,
            incremental: true,
            snapshot: false,
            webhook: false,
            write: true,
            delete: true,
            scan: false,
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
        Ok(Arc::new(NetSuiteConnector::from_settings(ctx, settings)?))
    }
}

/// One configured NetSuite account.
#[derive(Debug)]
pub struct NetSuiteConnector {
    pub(crate) api: Api,
    concurrency: usize,
}

impl NetSuiteConnector {
    /// Validates the settings and prepares the client (no I/O).
    pub fn from_settings(
        ctx: &BuildContext,
        settings: &Map<String, Value>,
    ) -> Result<Self, SettingsIssues> {
        let system: SystemSettings = parse(settings)?;
        let mut issues = system.issues();
        let http = system
            .http()
            .validate()
            .map_err(|found| issues.extend(found))
            .ok();
        let auth = system
            .tba()
            .build()
            .map_err(|found| issues.extend(found))
            .ok();
        let (Some(http), Some(auth), true) = (http, auth, issues.is_empty()) else {
            return Err(issues);
        };
        let http = HttpClient::new(&ctx.system, http, auth)
            .map_err(|e| vec![ConfigIssue::new(["url"], e.message().to_owned())])?;
        Ok(Self {
            api: Api::new(http),
            concurrency: system.concurrency.unwrap_or(DEFAULT_CONCURRENCY),
        })
    }
}

#[async_trait]
impl Connector for NetSuiteConnector {
    fn source(&self, options: &Map<String, Value>) -> Result<Arc<dyn Source>, SettingsIssues> {
        let options: SourceOptions = parse(options)?;
        Ok(Arc::new(NetSuiteSource::new(
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
        Ok(Arc::new(NetSuiteSink::new(
            self.api.clone(),
            options.validate()?,
            ctx,
            self.concurrency,
        )))
    }

    async fn discover(&self) -> Result<Vec<ObjectInfo>, ConnectorError> {
        discover::objects(&self.api).await
    }

    async fn probe(&self) -> Result<(), ConnectorError> {
        discover::probe(&self.api).await
    }
}
