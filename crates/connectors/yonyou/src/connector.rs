//! The factory `kind: yonyou` selects, and the connector it builds: one per tenant.

use std::sync::Arc;

use async_trait::async_trait;
use ferry_kit::http::parse_settings;
use ferry_kit::inbound::Inbound;
use ferry_kit::settings::parse;
use ferry_kit::{
    BuildContext, Capabilities, Connector, ConnectorFactory, ConnectorSchemas, ObjectInfo,
    SettingsIssues, Sink, SinkContext, Source,
};
use ferry_model::ConnectorError;
use ferry_model::config::ConfigIssue;
use serde_json::{Map, Value};

use crate::api::{Api, App};
use crate::config::{SourceOptions, SystemSettings, TargetOptions};
use crate::inbound::EventPush;
use crate::sink::YonyouSink;
use crate::source::YonyouSource;

/// Makes `yonyou` connectors.
pub struct YonyouFactory;

impl ConnectorFactory for YonyouFactory {
    fn kind(&self) -> &'static str {
        "yonyou"
    }

    fn summary(&self) -> &'static str {
        "Yonyou 用友 YonBIP / YonSuite open API: customers, materials and sales orders read by pubts, upserts by code, submit/audit, event pushes"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            read: true,
            incremental: true,
            snapshot: false,
            webhook: true,
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
        Ok(Arc::new(YonyouConnector::from_settings(ctx, settings)?))
    }
}

/// One configured tenant.
#[derive(Debug)]
pub struct YonyouConnector {
    pub(crate) api: Api,
    push: Option<Arc<EventPush>>,
}

impl YonyouConnector {
    /// Validates the settings and prepares the clients (no I/O: the data centre is looked
    /// up and the token taken on the first call).
    pub fn from_settings(
        ctx: &BuildContext,
        settings: &Map<String, Value>,
    ) -> Result<Self, SettingsIssues> {
        let system: SystemSettings = parse_settings(settings)?;
        let (http, zone) = match (system.http.validate(), system.check()) {
            (Ok(http), Ok(zone)) => (http, zone),
            (http, zone) => {
                let mut issues = http.err().unwrap_or_default();
                issues.extend(zone.err().unwrap_or_default());
                return Err(issues);
            }
        };
        let app = App {
            tenant_id: system.tenant_id.clone(),
            app_key: system.app_key.clone(),
            app_secret: system.app_secret.clone(),
        };
        let fixed = system.token_url.clone().zip(system.gateway_url.clone());
        let api = Api::new(&ctx.system, http, app, fixed, zone)
            .map_err(|e| vec![ConfigIssue::new(["url"], e.message().to_owned())])?;
        let push = system.events.then(|| {
            Arc::new(EventPush::new(
                &system.app_key,
                &system.app_secret,
                system.event_reply,
            ))
        });
        Ok(Self { api, push })
    }
}

#[async_trait]
impl Connector for YonyouConnector {
    fn source(&self, options: &Map<String, Value>) -> Result<Arc<dyn Source>, SettingsIssues> {
        let options: SourceOptions = parse(options)?;
        Ok(Arc::new(YonyouSource::new(
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
        Ok(Arc::new(YonyouSink::new(
            self.api.clone(),
            options.validate()?,
            ctx,
        )))
    }

    async fn discover(&self) -> Result<Vec<ObjectInfo>, ConnectorError> {
        crate::discover::objects(&self.api).await
    }

    fn inbound(&self) -> Option<Arc<dyn Inbound>> {
        self.push.clone().map(|p| p as Arc<dyn Inbound>)
    }
}
