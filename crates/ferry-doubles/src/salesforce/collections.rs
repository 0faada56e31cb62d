//! sObject Collections (dossier §4): `POST`/`PATCH`/`DELETE /composite/sobjects`, upsert
//! `PATCH /composite/sobjects/<obj>/<extIdField>` and read `GET /composite/sobjects/<obj>`.
//! At most 200 records; answered 200 with one result per record in input order, each with
//! its own errors (`statusCode`); with `allOrNone` a single failure leaves every record
//! unwritten and the others answer `ALL_OR_NONE_OPERATION_ROLLED_BACK`. Every record is
//! checked before any is written, so a run is all or nothing.

use std::collections::HashSet;

use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::Ctx;
use super::answer::{SfError, json};
use super::ids::sf_id;
use super::records::{self, Mode, by_external_id, prepare};
use super::schema::{ERP_ID, SObject, sobject};
use super::sobjects::{body_object, chosen};
use super::writes::{Writer, origin};

/// The documented cap of one request.
pub const MAX_RECORDS: usize = 200;

enum Plan {
    Create(&'static SObject, Map<String, Value>, bool),
    Update(&'static SObject, u64, Map<String, Value>, bool),
    Delete(&'static SObject, u64),
}

/// Routes the segments after `/composite/sobjects`.
pub fn serve(
    ctx: &Ctx,
    method: &Method,
    rest: &[&str],
    query: &[(String, String)],
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, SfError> {
    let param = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let ids = || -> Vec<String> {
        param("ids")
            .unwrap_or_default()
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    };
    match (method.as_str(), rest) {
        ("GET", [obj]) => {
            let object = sobject(obj).ok_or_else(SfError::not_found)?;
            let fields = chosen(object, query)?;
            let list: Vec<Value> = ids()
                .iter()
                .map(|id| match records::find(ctx, Some(object), id) {
                    Some((o, r)) => records::answer(ctx, o, &r, fields.as_deref()),
                    None => Value::Null,
                })
                .collect();
            Ok(json(StatusCode::OK, Value::Array(list)))
        }
        ("DELETE", []) => {
            let ids = ids();
            cap(ids.len())?;
            let plans = ids
                .iter()
                .map(|id| match records::find(ctx, None, id) {
                    Some((o, r)) => Ok(Plan::Delete(o, r.id)),
                    None => Err(SfError::new(
                        StatusCode::NOT_FOUND,
                        "ENTITY_IS_DELETED",
                        "entity is deleted",
                    )),
                })
                .collect();
            Ok(finish(
                ctx,
                headers,
                plans,
                param("allOrNone") == Some("true"),
            ))
        }
        ("POST" | "PATCH", []) | ("PATCH", [_, _]) => {
            let body = body_object(body)?;
            let all_or_none = body
                .get("allOrNone")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            let list = body
                .get("records")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            cap(list.len())?;
            let upsert = match rest {
                [obj, field] => {
                    let object = sobject(obj).ok_or_else(SfError::not_found)?;
                    let ext = object.field(field).filter(|f| f.external_id).ok_or_else(|| {
                        SfError::bad("INVALID_FIELD", format!("Field name provided, {field} is not an External ID or indexed field for {}", object.name))
                    })?;
                    Some((object, ext.name))
                }
                _ => None,
            };
            let mut seen = HashSet::new();
            let plans = list
                .iter()
                .map(|item| {
                    let item = item.as_object().cloned().unwrap_or_default();
                    plan(ctx, method, &item, upsert, &mut seen)
                })
                .collect();
            Ok(finish(ctx, headers, plans, all_or_none))
        }
        _ => Err(SfError::not_found()),
    }
}

fn cap(n: usize) -> Result<(), SfError> {
    if n > MAX_RECORDS {
        return Err(SfError::bad(
            "EXCEEDED_ID_LIMIT",
            format!(
                "record limit reached. cannot submit more than {MAX_RECORDS} records into this call"
            ),
        ));
    }
    Ok(())
}

/// What one record of the request will do, checked.
fn plan(
    ctx: &Ctx,
    method: &Method,
    item: &Map<String, Value>,
    upsert: Option<(&'static SObject, &str)>,
    seen: &mut HashSet<String>,
) -> Result<Plan, SfError> {
    let type_name = item
        .get("attributes")
        .and_then(|a| a["type"].as_str())
        .unwrap_or_default();
    let object = sobject(type_name)
        .ok_or_else(|| SfError::bad("INVALID_TYPE", "Must send a concrete entity type."))?;
    // Within one request, one external id value may be written once.
    let mut claim = |field: &str, value: &str| -> Result<(), SfError> {
        if seen.insert(format!("{}/{field}/{}", object.name, value.to_lowercase())) {
            Ok(())
        } else {
            Err(SfError::bad(
                "DUPLICATE_EXTERNAL_ID",
                format!("Duplicate external id specified: {value}"),
            ))
        }
    };
    if let Some((target, ext)) = upsert {
        if target.name != object.name {
            return Err(SfError::bad(
                "INVALID_TYPE",
                format!(
                    "This request requires all records to be of type {}",
                    target.name
                ),
            ));
        }
        let value = item
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(ext))
            .and_then(|(_, v)| v.as_str())
            .map(str::to_owned)
            .ok_or_else(|| {
                SfError::on_fields("MISSING_ARGUMENT", format!("{ext} not specified"), &[ext])
            })?;
        claim(ext, &value)?;
        let matches = by_external_id(ctx, object, ext, &value);
        return match matches.as_slice() {
            [] => Ok(Plan::Create(
                object,
                prepare(ctx, object, item, Mode::Create)?,
                true,
            )),
            [one] => {
                let mut rest = item.clone();
                rest.retain(|k, _| !k.eq_ignore_ascii_case(ext));
                Ok(Plan::Update(
                    object,
                    one.id,
                    prepare(ctx, object, &rest, Mode::Update(one.id))?,
                    true,
                ))
            }
            _ => Err(SfError::bad(
                "DUPLICATE_EXTERNAL_ID",
                format!("{ext}: more than one record found for external id field: {value}"),
            )),
        };
    }
    if let Some(erp) = item.get(ERP_ID).and_then(Value::as_str) {
        claim(ERP_ID, erp)?;
    }
    if method == Method::POST {
        if item.contains_key("Id") {
            return Err(SfError::bad(
                "INVALID_FIELD",
                "cannot specify Id in an insert call",
            ));
        }
        return Ok(Plan::Create(
            object,
            prepare(ctx, object, item, Mode::Create)?,
            false,
        ));
    }
    let id = item.get("Id").and_then(Value::as_str).unwrap_or_default();
    let (_, record) = records::find(ctx, Some(object), id)
        .ok_or_else(|| SfError::bad("MALFORMED_ID", format!("malformed id {id}")))?;
    let mut rest = item.clone();
    rest.remove("Id");
    Ok(Plan::Update(
        object,
        record.id,
        prepare(ctx, object, &rest, Mode::Update(record.id))?,
        false,
    ))
}

/// Writes the plans (none when `all_or_none` and one failed); the per-record results.
fn finish(
    ctx: &Ctx,
    headers: &HeaderMap,
    plans: Vec<Result<Plan, SfError>>,
    all_or_none: bool,
) -> Response {
    let failed = |e: &SfError| json!({"success": false, "errors": [e.item_json()]});
    if all_or_none && plans.iter().any(Result::is_err) {
        let rolled = SfError::bad(
            "ALL_OR_NONE_OPERATION_ROLLED_BACK",
            "Record rolled back because not all records were valid and the request was using AllOrNone header",
        );
        let out: Vec<Value> = plans
            .iter()
            .map(|p| failed(p.as_ref().err().unwrap_or(&rolled)))
            .collect();
        return json(StatusCode::OK, Value::Array(out));
    }
    let mut writer = Writer::new(ctx, origin(headers, "rest"));
    let out: Vec<Value> = plans
        .into_iter()
        .map(|p| {
            let done = p.and_then(|plan| match plan {
                Plan::Create(o, fields, upsert) => writer
                    .create(o, fields)
                    .map(|r| (sf_id(o, r.id), upsert.then_some(true))),
                Plan::Update(o, id, fields, upsert) => writer
                    .update(o, id, fields)
                    .map(|_| (sf_id(o, id), upsert.then_some(false))),
                Plan::Delete(o, id) => writer.delete(o, id).map(|()| (sf_id(o, id), None)),
            });
            match done {
                Ok((id, created)) => {
                    let mut r = json!({"id": id, "success": true, "errors": []});
                    if let Some(c) = created {
                        r["created"] = c.into();
                    }
                    r
                }
                Err(e) => failed(&e),
            }
        })
        .collect();
    json(StatusCode::OK, Value::Array(out))
}
