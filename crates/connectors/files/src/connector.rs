//! The factory `kind: files` selects, and the connector it builds: one per configured system.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use ferry_model::ConnectorError;
use serde_json::{Map, Value};

use crate::{SourceOptions, SystemSettings, TargetOptions};
use crate::{config, probe, sink, source};
use ferry_kit::{
    BuildContext, Capabilities, Connector, ConnectorFactory, ConnectorSchemas, ObjectInfo,
    SettingsIssues, Sink, SinkContext, Source,
};

/// Makes `files` connectors.
#[derive(Debug, Clone, Copy, Default)]
pub struct FilesFactory;

impl ConnectorFactory for FilesFactory {
    fn kind(&self) -> &'static str {
        "files"
    }

    fn summary(&self) -> &'static str {
        "A folder of CSV/XLSX files: imports new or changed files (UTF-8 or GBK), exports CSV or XLSX"
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
        let settings = config::parse_system(settings)?;
        Ok(Arc::new(FilesConnector {
            system: ctx.system.clone(),
            dir: ctx.resolve(&settings.dir),
        }))
    }
}

/// One folder.
#[derive(Debug, Clone)]
pub struct FilesConnector {
    pub(crate) system: String,
    pub(crate) dir: PathBuf,
}

impl FilesConnector {
    /// The folder, resolved.
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }
}

#[async_trait]
impl Connector for FilesConnector {
    fn source(&self, options: &Map<String, Value>) -> Result<Arc<dyn Source>, SettingsIssues> {
        let spec = config::parse_source(options)?;
        Ok(Arc::new(source::FilesSource {
            dir: self.dir.clone(),
            spec: Arc::new(spec),
        }))
    }

    fn sink(
        &self,
        options: &Map<String, Value>,
        ctx: &SinkContext,
    ) -> Result<Arc<dyn Sink>, SettingsIssues> {
        let spec = config::parse_target(options)?;
        if !spec
            .columns
            .iter()
            .any(|(field, _)| *field == ctx.key_field)
        {
            let message = format!(
                "must include the business key `{}`: without it the file cannot be matched back to its records",
                ctx.key_field
            );
            return Err(vec![ferry_model::config::ConfigIssue::new(
                ["columns"],
                message,
            )]);
        }
        Ok(Arc::new(sink::FilesSink {
            dir: self.dir.clone(),
            spec,
            lock: tokio::sync::Mutex::new(()),
        }))
    }

    async fn discover(&self) -> Result<Vec<ObjectInfo>, ConnectorError> {
        self.discover_objects().await
    }

    /// The folder, if it exists, can be listed (see `probe::check_folder`).
    async fn probe(&self) -> Result<(), ConnectorError> {
        let dir = self.dir.clone();
        source::blocking(move || probe::check_folder(&dir)).await
    }
}
