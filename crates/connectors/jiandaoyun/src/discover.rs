//! `ferry discover`: every form of every app the key may use, with its widgets (name, label
//! and type), so a mapping can be written against `_widget_…` names or aliases.

use ferry_kit::{FieldInfo, ObjectInfo};
use ferry_model::ConnectorError;
use serde_json::Value;

use crate::api::Form;
use crate::connector::JdyConnector;

impl JdyConnector {
    pub(crate) async fn discover_forms(&self) -> Result<Vec<ObjectInfo>, ConnectorError> {
        let mut out = Vec::new();
        for (app, app_name) in self.api.apps().await? {
            for (entry, name) in self.api.forms(&app).await? {
                let form = Form {
                    app: app.clone(),
                    entry: entry.clone(),
                };
                let fields = self
                    .api
                    .widgets(&form)
                    .await?
                    .iter()
                    .filter_map(|w| {
                        let text = |k: &str| w.get(k).and_then(Value::as_str).unwrap_or_default();
                        Some(FieldInfo {
                            name: w.get("name")?.as_str()?.to_owned(),
                            ty: format!("{} ({})", text("type"), text("label")),
                            nullable: true,
                        })
                    })
                    .collect();
                out.push(ObjectInfo {
                    // The form id first: it is what a flow's `form:` takes.
                    name: format!("{entry} ({app_name}/{name}, app {app})"),
                    fields,
                });
            }
        }
        Ok(out)
    }
}
