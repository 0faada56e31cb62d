//! `ferry discover`: the objects the system holds and their fields.

use ferry_model::ConnectorError;

use ferry_kit::{FieldInfo, ObjectInfo};

use crate::connector::SqlConnector;
use crate::value::Val;

impl SqlConnector {
    /// Each table or view with its columns, their database types and nullability, from the
    /// catalogue in one query.
    pub(crate) async fn discover_objects(&self) -> Result<Vec<ObjectInfo>, ConnectorError> {
        let rows = self
            .db
            .query(self.db.backend.discover_sql(), Vec::new())
            .await?;
        let mut out: Vec<ObjectInfo> = Vec::new();
        for row in rows {
            let text = |i: usize| row.values.get(i).and_then(Val::as_text).unwrap_or_default();
            let (table, field) = (
                text(0),
                FieldInfo {
                    name: text(1),
                    ty: text(2),
                    nullable: text(3) == "YES",
                },
            );
            match out.last_mut() {
                Some(last) if last.name == table => last.fields.push(field),
                _ => out.push(ObjectInfo {
                    name: table,
                    fields: vec![field],
                }),
            }
        }
        tracing::debug!(system = %self.system, tables = out.len(), "discovered");
        Ok(out)
    }
}
