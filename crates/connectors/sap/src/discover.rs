//! `ferry discover`: the entity sets of the configured services, each with its properties,
//! from the service's `$metadata` (EDMX). A service the system does not serve (or the
//! communication user may not use: SAP answers 403 `/IWFND/MED/170`) is left out.

use ferry_kit::ObjectInfo;
use ferry_model::{ConnectorError, ErrorKind};

use crate::connector::SapConnector;
use crate::schema::Schema;

impl SapConnector {
    pub(crate) async fn discover_sets(&self) -> Result<Vec<ObjectInfo>, ConnectorError> {
        let mut found = Vec::new();
        for service in &self.services {
            let edmx = match self.api.metadata(service).await {
                Ok(text) => text,
                Err(e) if matches!(e.kind(), ErrorKind::NotFound) => continue,
                // An unknown or inactive service is a 403 in SAP's words; the credentials
                // themselves are proven by the first service that answers.
                Err(e) if e.kind() == ErrorKind::Auth && !found.is_empty() => continue,
                Err(e) => return Err(e),
            };
            let schema = Schema::parse(&edmx).map_err(|e| {
                ConnectorError::fatal(format!("{service}: $metadata is not readable XML: {e}"))
            })?;
            found.extend(schema.objects());
        }
        Ok(found)
    }
}
