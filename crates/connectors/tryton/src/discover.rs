//! `ferry discover`: the objects the system holds and their fields.

use std::collections::HashMap;

use ferry_model::ConnectorError;
use serde_json::{Map, Value, json};

use ferry_kit::{FieldInfo, ObjectInfo};

use crate::connector::TrytonConnector;
use crate::rpc::Effect;
use crate::sink;

impl TrytonConnector {
    /// The stored models (those with a `create_date`) and their fields, from one read of
    /// `ir.model.field`; `required` from `fields_get` for the common models (parties,
    /// products, sales, invoices, shipments).
    pub(crate) async fn discover_objects(&self) -> Result<Vec<ObjectInfo>, ConnectorError> {
        let none = Map::new();
        let fields = self
            .rpc
            .model(
                "ir.model.field",
                "search_read",
                vec![
                    json!([]),
                    json!(0),
                    Value::Null,
                    json!([["model", "ASC"], ["name", "ASC"]]),
                    json!(["model", "name", "ttype", "relation"]),
                ],
                &none,
                Effect::Read,
            )
            .await?;
        let mut models: Vec<ObjectInfo> = Vec::new();
        for row in fields.as_array().into_iter().flatten() {
            let text = |k: &str| row.get(k).and_then(Value::as_str).unwrap_or_default();
            let ty = match row.get("relation").and_then(Value::as_str) {
                Some(r) if !r.is_empty() => format!("{}({r})", text("ttype")),
                _ => text("ttype").to_owned(),
            };
            let field = FieldInfo {
                name: text("name").to_owned(),
                ty,
                nullable: true,
            };
            match models.last_mut() {
                Some(last) if last.name == text("model") => last.fields.push(field),
                _ => models.push(ObjectInfo {
                    name: text("model").to_owned(),
                    fields: vec![field],
                }),
            }
        }
        models.retain(|m| m.fields.iter().any(|f| f.name == "create_date"));
        for model in models
            .iter_mut()
            .filter(|m| COMMON_MODELS.contains(&m.name.as_str()))
        {
            let meta: HashMap<String, sink::FieldMeta> =
                sink::fields_of(&self.rpc, &model.name).await?;
            for field in &mut model.fields {
                field.nullable = !meta.get(&field.name).is_some_and(|f| f.required);
            }
        }
        tracing::debug!(
            system = self.rpc.http.system(),
            models = models.len(),
            "Discovered."
        );
        Ok(models)
    }
}

/// Models whose `required` flags `discover` reads with `fields_get` (one call each, so not
/// for every model); the fields of other models are listed from `ir.model.field`, which
/// does not say whether a field is required, and shown as optional.
const COMMON_MODELS: &[&str] = &[
    "party.party",
    "party.address",
    "party.contact_mechanism",
    "party.identifier",
    "product.template",
    "product.product",
    "sale.sale",
    "sale.line",
    "account.invoice",
    "account.invoice.line",
    "stock.shipment.out",
    "stock.move",
];
