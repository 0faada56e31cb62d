//! `View`: one record with all its lines, by `Number` or `Id`, under entity property names
//! (`BillNo`, `CustId{Id, Number, Name}`, `SaleOrderEntry[]`) rather than field keys. The
//! double derives each property from its field key by dropping the leading `F`.

use serde_json::{Map, Value, json};

use super::Ctx;
use super::answer::{self, KdError};
use super::columns::{Column, Part, Reader, Row};
use super::forms::{Field, Form, Kind, property_of};
use super::records;
use super::request::{Call, text, whole};
use crate::store::Record;

pub fn view(ctx: &Ctx, call: &Call) -> Result<Value, KdError> {
    let form = records::writable_form(call, "View")?;
    let store = ctx.harness.store();
    let number = text(&call.data, "Number").trim().to_owned();
    let id = whole(&call.data, "Id").filter(|id| *id > 0);
    let found = match (id, number.is_empty()) {
        (Some(id), _) => store.get(form.id, id as u64).ok(),
        (None, false) => store.find_by_key(form.id, &number).ok().flatten(),
        (None, true) => return Err(KdError::BadParameter("Number和Id不能同时为空".into())),
    };
    let Some(record) = found else {
        let what = id.map_or_else(|| format!("编码[{number}]"), |id| format!("内码[{id}]"));
        let status = answer::response_status(Vec::new(), &[(0, KdError::NotFound(what))]);
        return Ok(answer::result(status, one("Result", Value::Null)));
    };
    let object = entity(&ctx.reader(), form, &record);
    let status = answer::response_status(Vec::new(), &[]);
    Ok(answer::result(status, one("Result", object)))
}

fn one(key: &str, value: Value) -> Map<String, Value> {
    let mut map = Map::new();
    map.insert(key.into(), value);
    map
}

/// The record as an entity object.
fn entity(reader: &Reader<'_>, form: &Form, record: &Record) -> Value {
    let row = Row { record, line: None };
    let mut object = Map::new();
    object.insert("Id".into(), record.id.into());
    for field in form.header {
        put(reader, &mut object, field, false, row);
    }
    if let Some(entry) = form.entry {
        let lines: Vec<Value> = records::lines(form, record)
            .iter()
            .enumerate()
            .map(|(i, line)| {
                let row = Row {
                    record,
                    line: Some((i, line)),
                };
                let mut object = Map::new();
                object.insert("Id".into(), reader.cell(Column::EntryId, row).to_json());
                object.insert("Seq".into(), json!(i + 1));
                for field in entry.fields {
                    put(reader, &mut object, field, true, row);
                }
                Value::Object(object)
            })
            .collect();
        object.insert(property_of(entry.key).into(), lines.into());
    }
    Value::Object(object)
}

/// Puts one field's property (and for a reference, `<Property>_Id`).
fn put(
    reader: &Reader<'_>,
    object: &mut Map<String, Value>,
    field: &'static Field,
    in_entry: bool,
    row: Row<'_>,
) {
    let value = reader
        .cell(Column::Value { field, in_entry }, row)
        .to_json();
    if !matches!(field.kind, Kind::Ref(_)) {
        object.insert(field.property().into(), value);
        return;
    }
    let part = |part| {
        reader
            .cell(
                Column::RefPart {
                    field,
                    in_entry,
                    part,
                },
                row,
            )
            .to_json()
    };
    let id = value.as_i64().unwrap_or(0);
    let referenced = if id == 0 {
        Value::Null
    } else {
        json!({ "Id": id, "Number": part(Part::Number), "Name": part(Part::Name) })
    };
    object.insert(format!("{}_Id", field.property()), id.into());
    object.insert(field.property().into(), referenced);
}
