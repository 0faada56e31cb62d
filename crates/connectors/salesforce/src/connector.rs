//! The factory `kind: salesforce` selects, and the connector it builds: one per org.

use std::sync::Arc;

use async_trait::async_trait;
use ferry_kit::http::{Call, HttpClient, parse_settings};
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
use crate::sink::SalesforceSink;
use crate::source::SalesforceSource;

/// Makes `salesforce` connectors.
pub struct SalesforceFactory;

impl ConnectorFactory for SalesforceFactory {
    fn kind(&self) -> &'static str {
        "salesforce"
    }

    fn summary(&self) -> &'static str {
        "Salesforce (REST API): SOQL by SystemModstamp, upsert by external id (sObject Collections, Bulk API 2.0)"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            read: true,
            incremental: true,
            snapshot: false,
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
        Ok(Arc::new(SalesforceConnector::from_settings(ctx, settings)?))
    }
}

/// One configured org.
#[derive(Debug)]
pub struct SalesforceConnector {
    pub(crate) api: Api,
}

impl SalesforceConnector {
    /// Validates the settings and prepares the client (no I/O: the token is fetched on the
    /// first call, and its `instance_url` becomes the API's base).
    pub fn from_settings(
        ctx: &BuildContext,
        settings: &Map<String, Value>,
    ) -> Result<Self, SettingsIssues> {
        let system: SystemSettings = parse_settings(settings)?;
        let mut issues = Vec::new();
        let http = system.http.validate().map_err(|e| issues.extend(e)).ok();
        let spec = system.check().map_err(|e| issues.extend(e)).ok();
        let auth = system
            .auth
            .build()
            .map_err(|e| {
                issues.extend(e.into_iter().map(|mut i| {
                    i.path.insert(0, "auth".into());
                    i
                }))
            })
            .ok();
        let (Some(http), Some(spec), Some(auth)) = (http, spec, auth) else {
            return Err(issues);
        };
        let http = HttpClient::new(&ctx.system, http, auth)
            .map_err(|e| vec![ConfigIssue::new(["url"], e.message().to_owned())])?;
        Ok(Self {
            api: Api::new(http, &spec),
        })
    }
}

#[async_trait]
impl Connector for SalesforceConnector {
    fn source(&self, options: &Map<String, Value>) -> Result<Arc<dyn Source>, SettingsIssues> {
        let options: SourceOptions = parse(options)?;
        Ok(Arc::new(SalesforceSource::new(
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
        Ok(Arc::new(SalesforceSink::new(
            self.api.clone(),
            options.validate()?,
            ctx,
        )))
    }

    async fn discover(&self) -> Result<Vec<ObjectInfo>, ConnectorError> {
        self.describe_objects().await
    }

    async fn probe(&self) -> Result<(), ConnectorError> {
        self.api
            .json(Call::get(self.api.path("limits")))
            .await
            .map(|_| ())
    }
}
