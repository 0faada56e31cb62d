//! `ferry discover`: the three objects, each with the fields its first list row answers
//! (an object the app may not read, or that has no rows, lists no fields).

use ferry_kit::{FieldInfo, ObjectInfo};
use ferry_model::ConnectorError;
use serde_json::{Value, json};

use crate::api::{Api, rows_of};
use crate::objects::Object;

/// The objects and their fields.
pub async fn objects(api: &Api) -> Result<Vec<ObjectInfo>, ConnectorError> {
    let mut found = Vec::new();
    for object in Object::all() {
        let body = json!({"pageIndex": 1, "pageSize": 1, "isSum": true});
        let what = format!("the list of {}", object.name());
        let rows = rows_of(api.read(object.list_path(), &body, &what).await?);
        let fields = rows
            .first()
            .and_then(Value::as_object)
            .map(|row| {
                row.iter()
                    .map(|(name, value)| FieldInfo {
                        name: name.clone(),
                        ty: type_of(value).to_owned(),
                        nullable: true,
                    })
                    .collect()
            })
            .unwrap_or_default();
        found.push(ObjectInfo {
            name: object.name().to_owned(),
            fields,
        });
    }
    Ok(found)
}

fn type_of(value: &Value) -> &'static str {
    match value {
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
        Value::Null => "null",
    }
}
