//! The factory `kind: dynamics` selects, and the connector it builds: one per Dataverse
//! org, with one HTTP client holding the Entra ID token.

use std::sync::Arc;

use async_trait::async_trait;
use ferry_kit::http::{ClientAuth, ClientCredentialsSettings, HttpClient, parse_settings};
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
use crate::sink::DynamicsSink;
use crate::source::DynamicsSource;

/// Makes `dynamics` connectors.
pub struct DynamicsFactory;

impl ConnectorFactory for DynamicsFactory {
    fn kind(&self) -> &'static str {
        "dynamics"
    }

    fn summary(&self) -> &'static str {
        "Dynamics 365 / Dataverse Web API (OData v4): change tracking with delta links, upserts by alternate key in $batch change sets"
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
        Ok(Arc::new(DynamicsConnector::from_settings(ctx, settings)?))
    }
}

/// One configured Dataverse org.
#[derive(Debug)]
pub struct DynamicsConnector {
    pub(crate) api: Api,
}

impl DynamicsConnector {
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
        if !issues.is_empty() {
            return Err(issues);
        }
        let credentials = ClientCredentialsSettings {
            token_url: system.token_url(),
            client_id: system.client_id.trim().to_owned(),
            client_secret: system.client_secret.clone(),
            scope: Some(system.scope()),
            audience: None,
            client_auth: ClientAuth::Body,
        };
        // The scheme's issues are at its own keys, which are ours too (`client_id`, …);
        // its `token_url` is made from `authority` and `tenant`.
        let auth = credentials.build().map_err(|found| {
            found
                .into_iter()
                .map(|i| {
                    let key = match i.path.first().map(String::as_str) {
                        Some("token_url") => "authority".to_owned(),
                        Some(k) => k.to_owned(),
                        None => "tenant".to_owned(),
                    };
                    ConfigIssue::at(vec![key], i.message)
                })
                .collect::<Vec<_>>()
        })?;
        let Some(http) = http else {
            return Err(issues);
        };
        let http = HttpClient::new(&ctx.system, http, auth)
            .map_err(|e| vec![ConfigIssue::new(["url"], e.message().to_owned())])?;
        Ok(Self {
            api: Api::new(http, system.batch_size),
        })
    }
}

#[async_trait]
impl Connector for DynamicsConnector {
    fn source(&self, options: &Map<String, Value>) -> Result<Arc<dyn Source>, SettingsIssues> {
        let options: SourceOptions = parse(options)?;
        Ok(Arc::new(DynamicsSource::new(
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
        Ok(Arc::new(DynamicsSink::new(
            self.api.clone(),
            options.validate()?,
            ctx,
        )))
    }

    async fn discover(&self) -> Result<Vec<ObjectInfo>, ConnectorError> {
        crate::discover::discover(&self.api).await
    }
}
