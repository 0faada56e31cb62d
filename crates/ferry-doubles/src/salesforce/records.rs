//! Records as Salesforce answers them, and writes as it checks them: field names without
//! case, types, required and read-only fields, references that must exist, relationships
//! given by external id (`{"Account": {"ERP_Id__c": "C001"}}`), the unique `ERP_Id__c`
//! and one validation rule (a negative `Credit_Limit__c`).

use axum::http::StatusCode;
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Map, Value, json};

use super::Ctx;
use super::answer::{SfError, datetime};
use super::config::{API_VERSION, USER_ID};
use super::ids::{parse, sf_id};
use super::schema::{Access, ERP_ID, Field, Kind, SObject, sobject};
use crate::store::Record;

/// A record's URL path, as in `attributes.url`.
pub fn url(object: &SObject, id: u64) -> String {
    format!(
        "/services/data/{API_VERSION}/sobjects/{}/{}",
        object.name,
        sf_id(object, id)
    )
}

/// Every field of `record`, system ones included, in the object's order (unset: null).
pub fn view(ctx: &Ctx, object: &SObject, record: &Record) -> Map<String, Value> {
    object
        .fields
        .iter()
        .map(|f| (f.name.to_owned(), value(ctx, object, record, f.name)))
        .collect()
}

/// The answer of a record with `fields` (all when none), led by `attributes`.
pub fn answer(ctx: &Ctx, object: &SObject, record: &Record, fields: Option<&[&Field]>) -> Value {
    let mut out = Map::new();
    out.insert(
        "attributes".into(),
        json!({"type": object.name, "url": url(object, record.id)}),
    );
    match fields {
        Some(list) => {
            for f in list {
                out.insert(f.name.into(), value(ctx, object, record, f.name));
            }
        }
        None => out.extend(view(ctx, object, record)),
    }
    Value::Object(out)
}

/// One field of a record as answered.
pub fn value(ctx: &Ctx, object: &SObject, record: &Record, name: &str) -> Value {
    match name {
        "Id" => sf_id(object, record.id).into(),
        "IsDeleted" => false.into(),
        "CreatedDate" => datetime(record.created_at).into(),
        "CreatedById" => USER_ID.into(),
        "SystemModstamp" => datetime(record.updated_at).into(),
        "LastModifiedDate" => record
            .fields
            .get(name)
            .cloned()
            .unwrap_or_else(|| datetime(record.updated_at).into()),
        "TotalPrice" => {
            let n = |k: &str| record.fields.get(k).and_then(Value::as_f64).unwrap_or(0.0);
            json!(n("Quantity") * n("UnitPrice"))
        }
        "TotalAmount" => {
            let items = ctx.harness.store().list("OrderItem", None, None);
            let id = sf_id(object, record.id);
            let total: f64 = items
                .unwrap_or_default()
                .iter()
                .filter(|i| i.fields.get("OrderId").and_then(Value::as_str) == Some(&id))
                .map(|i| {
                    let n = |k: &str| i.fields.get(k).and_then(Value::as_f64).unwrap_or(0.0);
                    n("Quantity") * n("UnitPrice")
                })
                .sum();
            json!(total)
        }
        _ => record.fields.get(name).cloned().unwrap_or(Value::Null),
    }
}

/// The records of `object` whose external id `field` is `value` (without case, as external
/// ids are unless marked case-sensitive).
pub fn by_external_id(ctx: &Ctx, object: &SObject, field: &str, value: &str) -> Vec<Record> {
    let rows = ctx.harness.store().list(object.name, None, None);
    rows.unwrap_or_default()
        .into_iter()
        .filter(|r| {
            r.fields
                .get(field)
                .and_then(Value::as_str)
                .is_some_and(|v| v.eq_ignore_ascii_case(value))
        })
        .collect()
}

/// The store record an id names, if it is a record of `object` (any object when none).
pub fn find(ctx: &Ctx, object: Option<&SObject>, id: &str) -> Option<(&'static SObject, Record)> {
    let (of, n) = parse(id)?;
    if object.is_some_and(|o| o.name != of.name) {
        return None;
    }
    Some((of, ctx.harness.store().get(of.name, n).ok()?))
}

/// Whether a write creates a record or changes record `id`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Create,
    Update(u64),
}

/// The fields to store for `body` written to `object`, checked as Salesforce checks them.
pub fn prepare(
    ctx: &Ctx,
    object: &SObject,
    body: &Map<String, Value>,
    mode: Mode,
) -> Result<Map<String, Value>, SfError> {
    let mut out = Map::new();
    for (key, given) in body {
        if key == "attributes" {
            continue;
        }
        if let Some(field) = object.field(key) {
            let writable = match field.access {
                Access::Optional | Access::Required => true,
                Access::CreateOnly => mode == Mode::Create,
                Access::ReadOnly => false,
            };
            if !writable {
                return Err(SfError::on_fields(
                    "INVALID_FIELD_FOR_INSERT_UPDATE",
                    format!(
                        "Unable to create/update fields: {}. Please check the security settings of this field and verify that it is read/write for your profile or permission set.",
                        field.name
                    ),
                    &[field.name],
                ));
            }
            out.insert(field.name.into(), coerce(ctx, field, given)?);
        } else if let (Some(field), Value::Object(lookup)) = (object.relationship(key), given) {
            out.insert(field.name.into(), resolve(ctx, field, lookup)?);
        } else {
            return Err(SfError::bad(
                "INVALID_FIELD",
                format!("No such column '{key}' on sobject of type {}", object.name),
            ));
        }
    }
    let missing: Vec<&str> = object
        .required()
        .filter(|f| match mode {
            Mode::Create => out.get(f.name).is_none_or(Value::is_null),
            Mode::Update(_) => out.get(f.name).is_some_and(Value::is_null),
        })
        .map(|f| f.name)
        .collect();
    if !missing.is_empty() {
        return Err(SfError::on_fields(
            "REQUIRED_FIELD_MISSING",
            format!("Required fields are missing: [{}]", missing.join(", ")),
            &missing,
        ));
    }
    if out
        .get("Credit_Limit__c")
        .and_then(Value::as_f64)
        .is_some_and(|n| n < 0.0)
    {
        return Err(SfError::on_fields(
            "FIELD_CUSTOM_VALIDATION_EXCEPTION",
            "信用额度不能为负数 / Credit limit cannot be negative",
            &["Credit_Limit__c"],
        ));
    }
    if let Some(key) = out.get(ERP_ID).and_then(Value::as_str) {
        let own = match mode {
            Mode::Update(id) => Some(id),
            Mode::Create => None,
        };
        if let Some(other) = by_external_id(ctx, object, ERP_ID, key)
            .into_iter()
            .find(|r| Some(r.id) != own)
        {
            return Err(SfError::bad(
                "DUPLICATE_VALUE",
                format!(
                    "duplicate value found: {ERP_ID} duplicates value on record with id: {}",
                    sf_id(object, other.id)
                ),
            ));
        }
    }
    Ok(out)
}

fn parse_error(field: &Field, kind: &str, given: &Value) -> SfError {
    SfError::bad(
        "JSON_PARSER_ERROR",
        format!(
            "Cannot deserialize instance of {kind} from VALUE_STRING value {given} or request may be missing a required field at [field {}]",
            field.name
        ),
    )
}

/// A written value in the type of `field` (numbers and booleans may come as text, as CSV
/// does).
pub fn coerce(ctx: &Ctx, field: &Field, given: &Value) -> Result<Value, SfError> {
    if given.is_null() {
        return Ok(Value::Null);
    }
    let text = given.as_str();
    match field.kind {
        Kind::Text | Kind::Id => Ok(match given {
            Value::String(_) => given.clone(),
            other => other.to_string().into(),
        }),
        Kind::Number => match (given.as_f64(), text.map(|t| t.trim().parse::<f64>())) {
            (Some(_), _) => Ok(given.clone()),
            (None, Some(Ok(n))) => Ok(json!(n)),
            _ => Err(parse_error(field, "double", given)),
        },
        Kind::Boolean => match (
            given.as_bool(),
            text.map(str::to_ascii_lowercase).as_deref(),
        ) {
            (Some(b), _) => Ok(b.into()),
            (None, Some("true")) => Ok(true.into()),
            (None, Some("false")) => Ok(false.into()),
            _ => Err(parse_error(field, "boolean", given)),
        },
        Kind::Date => text
            .and_then(|t| NaiveDate::parse_from_str(t.get(..10)?, "%Y-%m-%d").ok())
            .map(|d| d.format("%Y-%m-%d").to_string().into())
            .ok_or_else(|| parse_error(field, "date", given)),
        Kind::DateTime => text
            .and_then(parse_datetime)
            .map(|t| datetime(t).into())
            .ok_or_else(|| parse_error(field, "datetime", given)),
        Kind::Reference(target) => {
            let id = text.unwrap_or_default();
            if target == "User" {
                return Ok(USER_ID.into());
            }
            let Some((of, n)) = parse(id).filter(|(o, _)| o.name == target) else {
                return Err(SfError::on_fields(
                    "MALFORMED_ID",
                    format!("{target} ID: id value of incorrect type: {id}"),
                    &[field.name],
                ));
            };
            if ctx.harness.store().get(of.name, n).is_err() {
                return Err(SfError::on_fields(
                    "INVALID_CROSS_REFERENCE_KEY",
                    "invalid cross reference id",
                    &[field.name],
                ));
            }
            Ok(sf_id(of, n).into())
        }
    }
}

/// The id of the record a relationship names by external id (`{"ERP_Id__c": "C001"}`).
fn resolve(ctx: &Ctx, field: &Field, lookup: &Map<String, Value>) -> Result<Value, SfError> {
    let Kind::Reference(target) = field.kind else {
        return Err(SfError::bad("INVALID_FIELD", "not a relationship"));
    };
    let target = sobject(target).ok_or_else(|| SfError::bad("INVALID_FIELD", "not served"))?;
    let (key, wanted) = lookup
        .iter()
        .find(|(k, _)| *k != "attributes")
        .ok_or_else(|| SfError::bad("INVALID_FIELD", "no external id in the relationship"))?;
    let ext = target.field(key).filter(|f| f.external_id).ok_or_else(|| {
        SfError::bad(
            "INVALID_FIELD",
            format!(
                "Field name provided, {key} is not an External ID or indexed field for {}",
                target.name
            ),
        )
    })?;
    let wanted = wanted
        .as_str()
        .map_or_else(|| wanted.to_string(), str::to_owned);
    match by_external_id(ctx, target, ext.name, &wanted).as_slice() {
        [one] => Ok(sf_id(target, one.id).into()),
        [] => Err(SfError::bad(
            "INVALID_FIELD",
            format!(
                "Foreign key external ID: {wanted} not found for field {} in entity {}",
                ext.name, target.name
            ),
        )),
        _ => Err(SfError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_FIELD",
            format!(
                "Foreign key external ID: {wanted} matches more than one record for field {} in entity {}",
                ext.name, target.name
            ),
        )),
    }
}

/// An ISO-8601 datetime with `Z` or an offset (`+08:00` or `+0800`), fractions optional.
pub fn parse_datetime(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.to_utc());
    }
    ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%dT%H:%M:%S%z"]
        .iter()
        .find_map(|f| DateTime::parse_from_str(text, f).ok())
        .map(|t| t.to_utc())
}
