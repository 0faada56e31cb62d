//! The factory `kind: sap` selects, and the connector it builds: one per S/4HANA system.

use std::sync::Arc;

use async_trait::async_trait;
use ferry_kit::http::{HttpClient, parse_settings};
use ferry_kit::settings::parse;
use ferry_kit::{
    BuildContext, Capabilities, Connector, ConnectorFactory, ConnectorSchemas, ObjectInfo,
    SettingsIssues, Sink, SinkContext, Source,
};
use ferry_model::ConnectorError;
use ferry_model::config::ConfigIssue;
use serde_json::{Map, Value};

use crate::api::Api;
use crate::config::{DEFAULT_SERVICES, SourceOptions, SystemSettings, TargetOptions};
use crate::sink::SapSink;
use crate::source::SapSource;

/// Makes `sap` connectors.
pub struct SapFactory;

impl ConnectorFactory for SapFactory {
    fn kind(&self) -> &'static str {
        "sap"
    }

    fn summary(&self) -> &'static str {
        "SAP S/4HANA (A2X OData v2): entity sets read by change time, upserts by business key with deep insert, ETags and $batch"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            read: true,
            incremental: true,
            snapshot: false,
            webhook: false,
            write: true,
            delete: false,
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
        Ok(Arc::new(SapConnector::from_settings(ctx, settings)?))
    }
}

/// One configured S/4HANA system.
#[derive(Debug)]
pub struct SapConnector {
    pub(crate) api: Api,
    pub(crate) services: Vec<String>,
}

impl SapConnector {
    /// Validates the settings and prepares the client (no I/O).
    pub fn from_settings(
        ctx: &BuildContext,
        settings: &Map<String, Value>,
    ) -> Result<Self, SettingsIssues> {
        let system: SystemSettings = parse_settings(settings)?;
        let mut issues = system.issues();
        let http = system
            .http
            .validate()
            .map_err(|found| issues.extend(found))
            .ok();
        let auth = system
            .auth
            .build()
            .map_err(|found| {
                issues.extend(found.into_iter().map(|mut i| {
                    let mut path = vec!["auth".to_owned()];
                    path.append(&mut i.path);
                    ConfigIssue::at(path, i.message)
                }));
            })
            .ok();
        let (Some(http), Some(auth), true) = (http, auth, issues.is_empty()) else {
            return Err(issues);
        };
        let http = HttpClient::new(&ctx.system, http, auth)
            .map_err(|e| vec![ConfigIssue::new(["url"], e.message().to_owned())])?;
        let services = if system.services.is_empty() {
            DEFAULT_SERVICES.iter().map(|s| (*s).to_owned()).collect()
        } else {
            system.services.clone()
        };
        Ok(Self {
            api: Api::new(http, system.sap_client.clone(), system.batch_size),
            services,
        })
    }
}

#[async_trait]
impl Connector for SapConnector {
    fn source(&self, options: &Map<String, Value>) -> Result<Arc<dyn Source>, SettingsIssues> {
        let options: SourceOptions = parse(options)?;
        Ok(Arc::new(SapSource::new(
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
        Ok(Arc::new(SapSink::new(
            self.api.clone(),
            options.validate()?,
            ctx,
        )))
    }

    async fn discover(&self) -> Result<Vec<ObjectInfo>, ConnectorError> {
        self.discover_sets().await
    }
}
