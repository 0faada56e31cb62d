//! `ferry discover`: the objects the system holds and their fields.

use ferry_model::ConnectorError;
use serde_json::Value;

use crate::Object;
use crate::connector::BottleCrmConnector;
use crate::objects;
use ferry_kit::http::Call;
use ferry_kit::{FieldInfo, ObjectInfo};

impl BottleCrmConnector {
    /// Each object with its fields, from the server's own OpenAPI document (the record
    /// schema, plus the write-only fields of its create request) and its custom field
    /// definitions (`custom_fields.<key>`).
    pub(crate) async fn discover_objects(&self) -> Result<Vec<ObjectInfo>, ConnectorError> {
        let http = &self.api.http;
        let openapi: Value = http
            .json(Call::get("schema/").query("format", "json"))
            .await
            .map_err(|e| e.context("reading the OpenAPI document"))?;
        let custom: Value = http
            .json(Call::get("api/custom-fields/"))
            .await
            .map_err(|e| e.context("reading the custom field definitions"))?;
        let schemas = openapi.pointer("/components/schemas").ok_or_else(|| {
            ConnectorError::fatal(format!(
                "{}: the OpenAPI document has no components/schemas",
                http.system()
            ))
        })?;
        let definitions = custom
            .get("definitions")
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice);
        Ok(objects::ALL
            .iter()
            .map(|object| discover_object(object.spec(), schemas, definitions))
            .collect())
    }
}

/// The fields of one object.
fn discover_object(spec: &objects::Spec, schemas: &Value, custom: &[Value]) -> ObjectInfo {
    let (read, write) = spec.schema;
    let mut fields: Vec<FieldInfo> = Vec::new();
    let mut add = |schema: &Value, only: &str| {
        let required: Vec<&str> = schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        for (name, prop) in schema
            .get("properties")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            if fields.iter().any(|f| f.name == *name) {
                continue;
            }
            let mut ty = type_name(prop, schemas);
            let read_only = prop.get("readOnly").and_then(Value::as_bool) == Some(true);
            if read_only {
                ty.push_str(", read-only");
            } else if !only.is_empty() {
                ty.push_str(only);
            }
            fields.push(FieldInfo {
                name: name.clone(),
                ty,
                nullable: prop.get("nullable").and_then(Value::as_bool) == Some(true)
                    || !required.contains(&name.as_str()),
            });
        }
    };
    if let Some(schema) = schemas.get(read) {
        add(schema, "");
    }
    if let Some(schema) = write.and_then(|w| schemas.get(w)) {
        add(schema, ", write-only");
    }
    let model = match spec.object {
        Object::Accounts => "Account",
        Object::Contacts => "Contact",
        Object::Opportunities => "Opportunity",
        Object::Invoices => "Invoice",
        Object::Products | Object::Payments => "",
    };
    for def in custom {
        let active = def.get("is_active").and_then(Value::as_bool) != Some(false);
        if active
            && def.get("target_model").and_then(Value::as_str) == Some(model)
            && let Some(key) = def.get("key").and_then(Value::as_str)
        {
            let kind = def
                .get("field_type")
                .and_then(Value::as_str)
                .unwrap_or("text");
            fields.push(FieldInfo {
                name: format!("custom_fields.{key}"),
                ty: format!("custom field ({kind})"),
                nullable: def.get("is_required").and_then(Value::as_bool) != Some(true),
            });
        }
    }
    ObjectInfo {
        name: spec.name.to_owned(),
        fields,
    }
}

/// An OpenAPI property's type in a few words: `string (uuid)`, `array of Contact`, or an
/// enumeration's values (`Draft | Sent | …`), which is what a mapping writer needs.
fn type_name(prop: &Value, schemas: &Value) -> String {
    let reference = prop.get("$ref").or_else(|| {
        ["allOf", "oneOf", "anyOf"]
            .iter()
            .find_map(|k| prop.get(*k)?.as_array()?.iter().find_map(|v| v.get("$ref")))
    });
    if let Some(name) = reference
        .and_then(Value::as_str)
        .and_then(|r| r.rsplit('/').next())
    {
        return match schemas
            .get(name)
            .and_then(|s| s.get("enum"))
            .and_then(Value::as_array)
        {
            Some(values) => values
                .iter()
                .filter_map(Value::as_str)
                .filter(|v| !v.is_empty())
                .collect::<Vec<_>>()
                .join(" | "),
            None => name.to_owned(),
        };
    }
    match prop.get("type").and_then(Value::as_str) {
        Some("array") => format!(
            "array of {}",
            prop.get("items")
                .map_or_else(|| "any".to_owned(), |items| type_name(items, schemas))
        ),
        Some(ty) => match prop.get("format").and_then(Value::as_str) {
            Some(format) => format!("{ty} ({format})"),
            None => ty.to_owned(),
        },
        None => "any".to_owned(),
    }
}
