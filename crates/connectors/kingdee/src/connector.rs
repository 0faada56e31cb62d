//! The factory `kind: kingdee` selects, and the connector it builds: one per data centre.

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
use crate::config::{SourceOptions, SystemSettings, TargetOptions};
use crate::login::KingdeeLogin;
use crate::reply::SessionCheck;
use crate::sink::KingdeeSink;
use crate::source::KingdeeSource;

/// Makes `kingdee` connectors.
pub struct KingdeeFactory;

impl ConnectorFactory for KingdeeFactory {
    fn kind(&self) -> &'static str {
        "kingdee"
    }

    fn summary(&self) -> &'static str {
        "Kingdee 金蝶云星空 (K/3 Cloud WebAPI): forms read by change time, upserts by number, submit/audit, push, allocate"
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
        Ok(Arc::new(KingdeeConnector::from_settings(ctx, settings)?))
    }
}

/// One configured data centre.
#[derive(Debug)]
pub struct KingdeeConnector {
    pub(crate) api: Api,
}

impl KingdeeConnector {
    /// Validates the settings and prepares the client (no I/O: the session opens on the
    /// first call).
    pub fn from_settings(
        ctx: &BuildContext,
        settings: &Map<String, Value>,
    ) -> Result<Self, SettingsIssues> {
        let system: SystemSettings = parse_settings(settings)?;
        let http = system.http.validate();
        let zone = system.check();
        let (http, zone) = match (http, zone) {
            (Ok(http), Ok(zone)) => (http, zone),
            (http, zone) => {
                let mut issues = http.err().unwrap_or_default();
                issues.extend(zone.err().unwrap_or_default());
                return Err(issues);
            }
        };
        let login = Arc::new(KingdeeLogin::new(
            &system.acct_id,
            system.login.clone(),
            system.lcid,
        ));
        let http = HttpClient::new(&ctx.system, http, login.clone())
            .map_err(|e| vec![ConfigIssue::new(["url"], e.message().to_owned())])?
            .with_reply_check(Arc::new(SessionCheck));
        Ok(Self {
            api: Api {
                http,
                zone,
                batch_size: system.batch_size,
                #[cfg(test)]
                login,
            },
        })
    }
}

#[async_trait]
impl Connector for KingdeeConnector {
    fn source(&self, options: &Map<String, Value>) -> Result<Arc<dyn Source>, SettingsIssues> {
        let options: SourceOptions = parse(options)?;
        Ok(Arc::new(KingdeeSource::new(
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
        Ok(Arc::new(KingdeeSink::new(
            self.api.clone(),
            options.validate()?,
            ctx,
        )))
    }

    async fn discover(&self) -> Result<Vec<ObjectInfo>, ConnectorError> {
        self.discover_forms().await
    }
}
