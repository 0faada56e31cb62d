//! The factory `kind: tryton` selects, and the connector it builds: one per configured system.

use std::sync::Arc;

use async_trait::async_trait;
use ferry_model::ConnectorError;
use ferry_model::config::ConfigIssue;
use serde_json::{Map, Value, json};

use ferry_kit::http::HttpClient;
use ferry_kit::{
    BuildContext, Capabilities, Connector, ConnectorFactory, ConnectorSchemas, ObjectInfo,
    SettingsIssues, Sink, SinkContext, Source,
};

use crate::rpc::{Effect, Rpc, Session};
use crate::{TrytonSettings, TrytonSourceOptions, TrytonTargetOptions};
use crate::{config, sink, source};

/// Makes `tryton` connectors.
pub struct TrytonFactory;

impl ConnectorFactory for TrytonFactory {
    fn kind(&self) -> &'static str {
        "tryton"
    }

    fn summary(&self) -> &'static str {
        "Tryton ERP over JSON-RPC (reads by last_modified_at, upserts by business key, children, workflow buttons)"
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
        ConnectorSchemas::of::<TrytonSettings, TrytonSourceOptions, TrytonTargetOptions>()
    }

    fn build(
        &self,
        ctx: &BuildContext,
        settings: &Map<String, Value>,
    ) -> Result<Arc<dyn Connector>, SettingsIssues> {
        Ok(Arc::new(TrytonConnector::from_settings(ctx, settings)?))
    }
}

/// One configured Tryton database.
#[derive(Debug)]
pub struct TrytonConnector {
    pub(crate) rpc: Arc<Rpc>,
    /// The session, for tests to count logins.
    #[cfg(test)]
    pub(crate) session: Arc<Session>,
}

impl TrytonConnector {
    /// Validates the settings and prepares the client (no I/O: the session opens on the
    /// first call).
    pub fn from_settings(
        ctx: &BuildContext,
        settings: &Map<String, Value>,
    ) -> Result<Self, SettingsIssues> {
        let settings = config::parse_settings(settings)?;
        let options = settings.validate()?;
        let session = Session::new(
            &settings.database,
            &settings.user,
            settings.password.clone(),
            settings.language.as_deref().unwrap_or("en"),
        );
        let session = Arc::new(session);
        let http = HttpClient::new(&ctx.system, options, session.clone())
            .map_err(|e| vec![ConfigIssue::new(["url"], e.message())])?;
        Ok(Self {
            rpc: Arc::new(Rpc::new(http, &settings.database, settings.context)),
            #[cfg(test)]
            session,
        })
    }

    /// The system's HTTP client (shared by every source and sink made from it).
    pub fn http(&self) -> &HttpClient {
        &self.rpc.http
    }
}

#[async_trait]
impl Connector for TrytonConnector {
    fn source(&self, options: &Map<String, Value>) -> Result<Arc<dyn Source>, SettingsIssues> {
        let options: TrytonSourceOptions = config::parse(options)?;
        let overlap = options.validate()?;
        Ok(Arc::new(source::TrytonSource::new(
            self.rpc.clone(),
            options,
            overlap,
        )))
    }

    fn sink(
        &self,
        options: &Map<String, Value>,
        ctx: &SinkContext,
    ) -> Result<Arc<dyn Sink>, SettingsIssues> {
        let options: TrytonTargetOptions = config::parse(options)?;
        options.validate()?;
        Ok(Arc::new(sink::TrytonSink::new(
            self.rpc.clone(),
            options,
            ctx,
        )))
    }

    async fn discover(&self) -> Result<Vec<ObjectInfo>, ConnectorError> {
        self.discover_objects().await
    }

    /// Logs in and counts the models: one small read that any user may make.
    async fn probe(&self) -> Result<(), ConnectorError> {
        let count = vec![json!([])];
        let none = Map::new();
        self.rpc
            .model("ir.model", "search_count", count, &none, Effect::Read)
            .await
            .map(|_| ())
    }
}
