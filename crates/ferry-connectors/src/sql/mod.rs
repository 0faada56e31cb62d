//! Placeholder, replaced by the real connector.
use std::sync::Arc;
use serde_json::{Map, Value};
use crate::{BuildContext, Connector, ConnectorFactory, ConnectorSchemas, SettingsIssues};

/// Factory.
pub struct SqlFactory;

impl ConnectorFactory for SqlFactory {
    fn kind(&self) -> &'static str { "sql" }
    fn summary(&self) -> &'static str { "" }
    fn schemas(&self) -> ConnectorSchemas { unimplemented!() }
    fn build(&self, _ctx: &BuildContext, _settings: &Map<String, Value>) -> Result<Arc<dyn Connector>, SettingsIssues> { unimplemented!() }
}
