//! `ferry discover`: each configured object, sampled live, with the fields its records carry
//! and the JSON type they hold, so a mapping can be written from what the API really sends.

use ferry_kit::{FieldInfo, ObjectInfo};
use ferry_model::ConnectorError;
use indexmap::IndexMap;
use serde_json::Value;

use crate::api::PageAsk;
use crate::connector::RestConnector;

/// Records sampled per object.
const SAMPLE: usize = 20;

impl RestConnector {
    /// Reads the first page (up to [`SAMPLE`] records) of every object and proposes its
    /// fields: the union over the sample, typed by the values seen (`string`, `number`,
    /// `boolean`, `object`, `array`), nullable when a record lacks the field or holds `null`.
    pub(crate) async fn discover_objects(&self) -> Result<Vec<ObjectInfo>, ConnectorError> {
        let mut objects = Vec::new();
        for object in self.objects.values() {
            let size = SAMPLE.min(object.list.page_size);
            let page = self
                .api
                .list(
                    object,
                    PageAsk {
                        at: None,
                        size,
                        since: None,
                    },
                )
                .await?;
            objects.push(ObjectInfo {
                name: object.name.clone(),
                fields: propose(&page.items),
            });
        }
        Ok(objects)
    }
}

/// The fields of a sample of records.
fn propose(sample: &[Value]) -> Vec<FieldInfo> {
    let mut seen: IndexMap<String, (Option<&'static str>, usize)> = IndexMap::new();
    for record in sample.iter().filter_map(Value::as_object) {
        for (name, value) in record {
            let entry = seen.entry(name.clone()).or_insert((None, 0));
            if !value.is_null() {
                entry.1 += 1;
                entry.0 = Some(match (entry.0, json_type(value)) {
                    (Some(a), b) if a != b => "mixed",
                    (_, b) => b,
                });
            }
        }
    }
    let objects = sample.iter().filter(|v| v.is_object()).count();
    seen.into_iter()
        .map(|(name, (ty, present))| FieldInfo {
            name,
            ty: ty.unwrap_or("null").to_owned(),
            nullable: present < objects,
        })
        .collect()
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_are_the_union_of_the_sample_typed_by_what_they_hold() {
        let fields = propose(&[
            json!({"id": 1, "name": "A", "city": null}),
            json!({"id": 2, "name": "B", "vip": true}),
        ]);
        let shown: Vec<(&str, &str, bool)> = fields
            .iter()
            .map(|f| (f.name.as_str(), f.ty.as_str(), f.nullable))
            .collect();
        assert_eq!(
            shown,
            [
                ("id", "number", false),
                ("name", "string", false),
                ("city", "null", true),
                ("vip", "boolean", true)
            ]
        );
    }
}
