//! Store records as Jiandaoyun answers them: `_id`, the widgets' values, and the system
//! fields `creator`, `updater`, `deleter`, `createTime`, `updateTime`, `deleteTime`,
//! `flowState`, `appId`, `entryId` (dossier §4, correction 5).
//!
//! A form is a store object named by its `entry_id`. The store's record id is encoded in the
//! record's `_id` (24 hex digits, like a MongoDB ObjectId: 8 of the creation time in seconds,
//! 16 of the store id), so ordering by `_id` is ordering by creation. The store's created and
//! modified times are `createTime` and `updateTime`. Widget values are stored in the shape
//! they are read in (not the `{"value": …}` wrapping of writes); `creator`, `updater` and
//! `flowState` are stored fields.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value, json};

use super::config::Member;
use super::forms::{Form, Widget, WidgetType};
use crate::store::Record;

/// The store field holding the `creator` member object.
pub const CREATOR: &str = "creator";
/// The store field holding the `updater` member object.
pub const UPDATER: &str = "updater";
/// The store field holding `flowState` (0 in progress, 1 done, 2 voided).
pub const FLOW_STATE: &str = "flowState";

/// The system fields of a record and their widget types (for filters and `fields`).
pub const SYSTEM_FIELDS: [(&str, &str, WidgetType); 7] = [
    (CREATOR, "提交人", WidgetType::User),
    (UPDATER, "修改人", WidgetType::User),
    ("deleter", "删除人", WidgetType::User),
    ("createTime", "提交时间", WidgetType::Datetime),
    ("updateTime", "更新时间", WidgetType::Datetime),
    ("deleteTime", "删除时间", WidgetType::Datetime),
    (FLOW_STATE, "流程状态", WidgetType::Number),
];

/// The `_id` of the record with store id `id` created at `created`.
pub fn data_id(id: u64, created: DateTime<Utc>) -> String {
    let secs = u32::try_from(created.timestamp()).unwrap_or(0);
    format!("{secs:08x}{id:016x}")
}

/// The `_id` of a store record.
pub fn data_id_of(record: &Record) -> String {
    data_id(record.id, record.created_at)
}

/// The store id encoded in an `_id`, if it is one the double could have made.
pub fn store_id(data_id: &str) -> Option<u64> {
    let valid = data_id.len() == 24 && data_id.bytes().all(|b| b.is_ascii_hexdigit());
    valid
        .then(|| u64::from_str_radix(&data_id[8..], 16).ok())
        .flatten()
}

/// A time as Jiandaoyun writes it: UTC with milliseconds, `2024-05-01T01:00:00.000Z`.
pub fn iso(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A member as the `creator`/`updater` system fields carry it (correction 5).
pub fn member_object(member: &Member) -> Value {
    json!({
        "name": member.name, "username": member.username, "status": 1, "type": 0,
        "departments": member.departments, "integrate_id": member.username,
    })
}

/// The value a widget reads as when it holds nothing (a guess per type).
pub fn empty_value(widget: &Widget) -> Value {
    use WidgetType::*;
    match widget.kind {
        Text | Textarea | Radiogroup | Combo | Sn => Value::from(""),
        Checkboxgroup | Combocheck | Usergroup | Deptgroup | Image | Upload | Subform => {
            Value::Array(Vec::new())
        }
        Number | Datetime | User | Dept | Address => Value::Null,
    }
}

/// The record as the API answers it: every widget of the form (empty ones as
/// [`empty_value`]), then the system fields. Stored fields the form has no widget for are
/// not answered.
pub fn to_json(record: &Record, form: &Form, app_id: &str) -> Value {
    let mut out = Map::new();
    out.insert("_id".into(), data_id_of(record).into());
    for widget in &form.widgets {
        let value = record.fields.get(&widget.name).cloned();
        let value = value
            .filter(|v| !v.is_null())
            .unwrap_or_else(|| empty_value(widget));
        out.insert(widget.name.clone(), value);
    }
    let stored = |name: &str| record.fields.get(name).cloned().unwrap_or(Value::Null);
    out.insert(CREATOR.into(), stored(CREATOR));
    out.insert(UPDATER.into(), stored(UPDATER));
    out.insert("deleter".into(), Value::Null);
    out.insert("createTime".into(), iso(record.created_at).into());
    out.insert("updateTime".into(), iso(record.updated_at).into());
    out.insert("deleteTime".into(), Value::Null);
    let flow = record.fields.get(FLOW_STATE).cloned();
    out.insert(FLOW_STATE.into(), flow.unwrap_or_else(|| 1.into()));
    out.insert("appId".into(), app_id.into());
    out.insert("entryId".into(), form.entry_id.clone().into());
    Value::Object(out)
}

/// The record JSON with only `_id` and the `fields` asked for.
pub fn project(record: Value, fields: Option<&[String]>) -> Value {
    let (Some(fields), Value::Object(all)) = (fields, &record) else {
        return record;
    };
    let mut out = Map::new();
    out.insert("_id".into(), all.get("_id").cloned().unwrap_or(Value::Null));
    for name in fields {
        if let Some(value) = all.get(name) {
            out.insert(name.clone(), value.clone());
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_encode_the_store_id_and_sort_by_creation() {
        let at: DateTime<Utc> = "2024-05-01T01:00:00Z".parse().unwrap();
        let id = data_id(10, at);
        assert_eq!(id.len(), 24);
        assert!(id.ends_with("000000000000000a"), "{id}");
        assert_eq!(store_id(&id), Some(10));
        assert!(data_id(9, at) < data_id(10, at));
        assert_eq!(store_id("nope"), None);
        assert_eq!(iso(at), "2024-05-01T01:00:00.000Z");
    }
}
