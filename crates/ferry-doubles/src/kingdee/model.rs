//! Reading a Save `Model`: keys matched to the form's fields without case, sub-header
//! objects (`FSaleOrderFinance`) flattened onto the header, values checked and converted
//! to the stored shape, references looked up by `FNumber` (or `FName`).

use serde_json::{Map, Value, json};

use super::answer::KdError;
use super::catalog;
use super::dates;
use super::forms::{ENTRY_ID, Field, Form, Kind, Target};
use crate::store::RecordStore;

/// A model as given: the primary key, header values and entry lines, by field.
#[derive(Debug, Default)]
pub struct Model {
    /// The internal id to update; `None` creates.
    pub pk: Option<u64>,
    /// Header values, converted; `Value::Null` clears a field.
    pub header: Vec<(&'static Field, Value)>,
    /// The entry lines when the model has the entry key.
    pub lines: Option<Vec<Line>>,
}

/// One entry line of a model.
#[derive(Debug, Default)]
pub struct Line {
    /// `FEntryID`; `None` adds a line.
    pub id: Option<u64>,
    pub values: Vec<(&'static Field, Value)>,
}

/// Reads `model` of `form`. Keys the form does not have are ignored, as are values of
/// fields only the server sets.
pub fn read(form: &Form, model: &Value, store: &RecordStore) -> Result<Model, KdError> {
    let Some(model) = model.as_object() else {
        return Err(KdError::BadParameter("Model必须是JSON对象".into()));
    };
    let mut read = Model::default();
    for (key, value) in flatten(form, model) {
        if key.eq_ignore_ascii_case(form.pk) {
            read.pk = id_of(value).filter(|id| *id != 0);
        } else if let Some(entry) = form.entry.filter(|e| e.key.eq_ignore_ascii_case(key)) {
            let lines = value.as_array().map(Vec::as_slice).unwrap_or_default();
            let lines = lines.iter().map(|l| read_line(form, entry.key, l, store));
            read.lines = Some(lines.collect::<Result<_, _>>()?);
        } else if let Some(field) = form.header_field(key).filter(|f| !f.server) {
            read.header.push((field, convert(field, value, store)?));
        }
    }
    Ok(read)
}

/// The model's pairs with sub-header objects opened up.
fn flatten<'m>(form: &Form, model: &'m Map<String, Value>) -> Vec<(&'m str, &'m Value)> {
    let mut pairs = Vec::new();
    for (key, value) in model {
        let sub = form.sub_headers.iter().any(|s| s.eq_ignore_ascii_case(key));
        let inner = match value {
            Value::Object(o) if sub => Some(o),
            Value::Array(a) if sub => a.first().and_then(Value::as_object),
            _ => None,
        };
        match inner {
            Some(o) => pairs.extend(o.iter().map(|(k, v)| (k.as_str(), v))),
            None => pairs.push((key.as_str(), value)),
        }
    }
    pairs
}

fn read_line(form: &Form, entry: &str, line: &Value, store: &RecordStore) -> Result<Line, KdError> {
    let Some(line) = line.as_object() else {
        return Err(KdError::BadParameter(format!(
            "{entry}的每一行必须是JSON对象"
        )));
    };
    let mut read = Line::default();
    for (key, value) in line {
        if key.eq_ignore_ascii_case(ENTRY_ID) {
            read.id = id_of(value).filter(|id| *id != 0);
        } else if let Some(field) = form.entry_field(key).filter(|f| !f.server) {
            read.values.push((field, convert(field, value, store)?));
        }
    }
    Ok(read)
}

/// An id sent as a number or a numeric string.
fn id_of(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => n.as_u64().or_else(|| n.as_f64().map(|f| f as u64)),
        Value::String(s) if s.trim().is_empty() => Some(0),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A value as stored for `field`; `Value::Null` for an empty one.
pub fn convert(field: &Field, value: &Value, store: &RecordStore) -> Result<Value, KdError> {
    let bad = || KdError::BadValue {
        key: field.key.to_owned(),
        caption: field.caption.to_owned(),
        value: shown(value),
    };
    if value.is_null() {
        return Ok(Value::Null);
    }
    Ok(match field.kind {
        Kind::Text => match value {
            Value::String(s) => s.clone().into(),
            Value::Number(n) => n.to_string().into(),
            _ => return Err(bad()),
        },
        Kind::Decimal => match value {
            Value::String(s) if s.trim().is_empty() => Value::Null,
            _ => super::columns::number_of(value)
                .map(Value::from)
                .ok_or_else(bad)?,
        },
        Kind::Int => id_of(value).map(Value::from).ok_or_else(bad)?,
        Kind::Bool => match value {
            Value::Bool(b) => (*b).into(),
            Value::String(s) if s.eq_ignore_ascii_case("true") || s == "1" => true.into(),
            Value::String(s) if s.eq_ignore_ascii_case("false") || s == "0" => false.into(),
            Value::Number(n) => (n.as_f64() != Some(0.0)).into(),
            _ => return Err(bad()),
        },
        Kind::Date => match value {
            Value::String(s) if s.trim().is_empty() => Value::Null,
            Value::String(s) => dates::stored(dates::parse(s).ok_or_else(bad)?).into(),
            _ => return Err(bad()),
        },
        Kind::Created | Kind::Modified => Value::Null,
        Kind::Ref(target) => reference(field, target, value, store)?,
    })
}

fn shown(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A reference `{"FNumber": "C001"}` (or `{"FName": …}`), checked to exist and stored as
/// `{"FNumber": <the number as the server has it>}`.
fn reference(
    field: &Field,
    target: Target,
    value: &Value,
    store: &RecordStore,
) -> Result<Value, KdError> {
    let Value::Object(given) = value else {
        return Err(KdError::BadValue {
            key: field.key.to_owned(),
            caption: field.caption.to_owned(),
            value: shown(value),
        });
    };
    let lookup = |name: &str| super::request::get_ci(given, name).map(shown);
    let (by_name, wanted) = match (lookup("FNumber"), lookup("FName")) {
        (Some(n), _) => (false, n),
        (None, Some(n)) => (true, n),
        (None, None) => return Ok(Value::Null),
    };
    if wanted.trim().is_empty() {
        return Ok(Value::Null);
    }
    let found = match target {
        Target::Fixed(items) if by_name => {
            catalog::by_name(items, &wanted).map(|i| i.number.to_owned())
        }
        Target::Fixed(items) => catalog::by_number(items, &wanted).map(|i| i.number.to_owned()),
        Target::Form(form) if by_name => find_by_name(store, form, &wanted),
        Target::Form(form) => store
            .find_by_key(form, &wanted)
            .ok()
            .flatten()
            .map(|_| wanted.clone()),
    };
    match found {
        Some(number) => Ok(json!({ "FNumber": number })),
        None => Err(KdError::NoSuchReference {
            key: field.key.to_owned(),
            caption: field.caption.to_owned(),
            value: wanted,
        }),
    }
}

fn find_by_name(store: &RecordStore, form: &str, name: &str) -> Option<String> {
    let records = store.list(form, None, None).ok()?;
    let record = records
        .iter()
        .find(|r| r.fields.get("FName").and_then(Value::as_str) == Some(name))?;
    record
        .fields
        .get("FNumber")
        .and_then(Value::as_str)
        .map(str::to_owned)
}
