//! The factory `kind: sql` selects, and the connector it builds: one per configured system.

use std::sync::Arc;

use async_trait::async_trait;
use ferry_model::ConnectorError;
use serde_json::{Map, Value};

use ferry_kit::{
    BuildContext, Capabilities, Connector, ConnectorFactory, ConnectorSchemas, ObjectInfo,
    SettingsIssues, Sink, SinkContext, Source,
};

use crate::db::{self, Db};
use crate::{SqlSettings, SqlSourceOptions, SqlTargetOptions};
use crate::{config, sink, source};

/// Makes `sql` connectors.
pub struct SqlFactory;

impl ConnectorFactory for SqlFactory {
    fn kind(&self) -> &'static str {
        "sql"
    }

    fn summary(&self) -> &'static str {
        "Tables of PostgreSQL, MariaDB/MySQL and SQLite databases (keyset reads by updated-at, upserts by key)"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            read: true,
            incremental: true,
            snapshot: true,
            webhook: false,
            write: true,
            delete: true,
            scan: true,
        }
    }

    fn schemas(&self) -> ConnectorSchemas {
        ConnectorSchemas::of::<SqlSettings, SqlSourceOptions, SqlTargetOptions>()
    }

    fn build(
        &self,
        ctx: &BuildContext,
        settings: &Map<String, Value>,
    ) -> Result<Arc<dyn Connector>, SettingsIssues> {
        Ok(Arc::new(SqlConnector::from_settings(ctx, settings)?))
    }
}

/// One configured database.
#[derive(Debug)]
pub struct SqlConnector {
    pub(crate) system: String,
    pub(crate) db: Arc<Db>,
}

impl SqlConnector {
    /// Validates the settings and prepares the (lazily opened) pool.
    pub fn from_settings(
        ctx: &BuildContext,
        settings: &Map<String, Value>,
    ) -> Result<Self, SettingsIssues> {
        let settings: SqlSettings = config::parse(settings)?;
        let (backend, timeout) = settings.validate()?;
        let display = config::mask_url(&settings.url);
        let secrets = config::url_secrets(&settings.url);
        let options = db::options(backend, &settings.url, &ctx.base_dir).and_then(|run| {
            Ok((
                run,
                db::probe_options(backend, &settings.url, &ctx.base_dir)?,
            ))
        });
        let (options, probe) = options.map_err(|e| {
            let mut message = e;
            for s in &secrets {
                message = message.replace(s.as_str(), "****");
            }
            vec![ferry_model::config::ConfigIssue::new(
                ["url"],
                format!("`{display}`: {message}"),
            )]
        })?;
        let db = Db::new(
            backend,
            options,
            settings.max_connections,
            timeout,
            display,
            secrets,
        )
        .with_probe(probe);
        Ok(SqlConnector {
            system: ctx.system.clone(),
            db: Arc::new(db),
        })
    }
}

#[async_trait]
impl Connector for SqlConnector {
    fn source(&self, options: &Map<String, Value>) -> Result<Arc<dyn Source>, SettingsIssues> {
        let options: SqlSourceOptions = config::parse(options)?;
        let overlap = options.validate()?;
        Ok(Arc::new(source::SqlSource::new(
            self.db.clone(),
            options,
            overlap,
        )))
    }

    fn sink(
        &self,
        options: &Map<String, Value>,
        ctx: &SinkContext,
    ) -> Result<Arc<dyn Sink>, SettingsIssues> {
        let options: SqlTargetOptions = config::parse(options)?;
        options.validate()?;
        Ok(Arc::new(sink::SqlSink::new(
            self.db.clone(),
            options,
            ctx.clone(),
        )))
    }

    async fn discover(&self) -> Result<Vec<ObjectInfo>, ConnectorError> {
        self.discover_objects().await
    }

    /// `SELECT 1` on a connection opened only to look. A SQLite file that does not exist yet
    /// is no problem here (a run creates it); the flows' probes say which table it lacks.
    async fn probe(&self) -> Result<(), ConnectorError> {
        let db = self.db.probing();
        if db.missing_file().is_some() {
            return Ok(());
        }
        db.query("SELECT 1", Vec::new()).await.map(|_| ())
    }
}
