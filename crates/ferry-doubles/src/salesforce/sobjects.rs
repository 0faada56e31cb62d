//! `/sobjects/…` (dossier §2): describe, create, read/update/delete by id, and read, upsert
//! and delete by external id — 201 `created: true` / 200 `created: false` (204 before
//! v46.0) / 300 with the matching records' URLs, `?updateOnly=true` refusing an insert.

use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::Ctx;
use super::answer::{SfError, json};
use super::ids::sf_id;
use super::records::{self, Mode, by_external_id, prepare};
use super::schema::{Access, Field, OBJECTS, SObject, sobject};
use super::writes::{Writer, origin};

/// A request's JSON object body.
pub fn body_object(body: &[u8]) -> Result<Map<String, Value>, SfError> {
    match serde_json::from_slice(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(SfError::bad(
            "JSON_PARSER_ERROR",
            "Cannot deserialize instance of sObject from a non-object value",
        )),
        Err(e) => Err(SfError::bad(
            "JSON_PARSER_ERROR",
            format!(
                "Unexpected character at [line:{}, column:{}]",
                e.line(),
                e.column()
            ),
        )),
    }
}

fn object_of(name: &str) -> Result<&'static SObject, SfError> {
    sobject(name).ok_or_else(|| {
        SfError::new(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            format!(
                "The requested resource does not exist: sObject type '{name}' is not supported."
            ),
        )
    })
}

/// Routes the path segments after `/sobjects`.
#[allow(clippy::too_many_arguments)]
pub fn serve(
    ctx: &Ctx,
    method: &Method,
    rest: &[&str],
    query: &[(String, String)],
    headers: &HeaderMap,
    body: &[u8],
    version: f64,
) -> Result<Response, SfError> {
    let not_allowed = || {
        SfError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
            format!("HTTP Method '{method}' not allowed."),
        )
    };
    match (rest, method.as_str()) {
        ([], "GET") => Ok(json(
            StatusCode::OK,
            json!({
                "encoding": "UTF-8", "maxBatchSize": 200,
                "sobjects": OBJECTS.iter().map(|o| json!({"name": o.name, "keyPrefix": o.prefix, "createable": true, "updateable": true, "queryable": true})).collect::<Vec<_>>(),
            }),
        )),
        ([obj], "GET") => {
            let o = object_of(obj)?;
            Ok(json(
                StatusCode::OK,
                json!({"objectDescribe": {"name": o.name, "keyPrefix": o.prefix}, "recentItems": []}),
            ))
        }
        ([obj], "POST") => {
            let o = object_of(obj)?;
            let fields = prepare(ctx, o, &body_object(body)?, Mode::Create)?;
            let record = Writer::new(ctx, origin(headers, "rest")).create(o, fields)?;
            Ok(json(
                StatusCode::CREATED,
                json!({"id": sf_id(o, record.id), "success": true, "errors": []}),
            ))
        }
        ([obj, "describe"], "GET") => Ok(json(StatusCode::OK, describe(object_of(obj)?))),
        ([obj, id], _) => by_id(ctx, method, object_of(obj)?, id, query, headers, body),
        ([obj, field, value], _) => by_external(
            ctx,
            method,
            object_of(obj)?,
            field,
            value,
            query,
            headers,
            body,
            version,
        ),
        ([_], _) => Err(not_allowed()),
        _ => Err(SfError::not_found()),
    }
}

/// The fields a `?fields=A,B` asks for (all when absent).
pub fn chosen<'o>(
    object: &'o SObject,
    query: &[(String, String)],
) -> Result<Option<Vec<&'o Field>>, SfError> {
    let Some((_, list)) = query.iter().find(|(k, _)| k == "fields") else {
        return Ok(None);
    };
    list.split(',')
        .map(|n| {
            object.field(n.trim()).ok_or_else(|| {
                SfError::bad(
                    "INVALID_FIELD",
                    format!("No such column '{}' on entity '{}'.", n.trim(), object.name),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

fn by_id(
    ctx: &Ctx,
    method: &Method,
    object: &SObject,
    id: &str,
    query: &[(String, String)],
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, SfError> {
    let (_, record) = records::find(ctx, Some(object), id).ok_or_else(SfError::not_found)?;
    let mut writer = Writer::new(ctx, origin(headers, "rest"));
    match method.as_str() {
        "GET" => {
            let fields = chosen(object, query)?;
            Ok(json(
                StatusCode::OK,
                records::answer(ctx, object, &record, fields.as_deref()),
            ))
        }
        "PATCH" => {
            let fields = prepare(ctx, object, &body_object(body)?, Mode::Update(record.id))?;
            writer.update(object, record.id, fields)?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        "DELETE" => {
            writer.delete(object, record.id)?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        _ => Err(SfError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
            format!("HTTP Method '{method}' not allowed. Allowed are HEAD,GET,PATCH,DELETE"),
        )),
    }
}

#[allow(clippy::too_many_arguments)]
fn by_external(
    ctx: &Ctx,
    method: &Method,
    object: &SObject,
    field: &str,
    value: &str,
    query: &[(String, String)],
    headers: &HeaderMap,
    body: &[u8],
    version: f64,
) -> Result<Response, SfError> {
    let ext = object
        .field(field)
        .filter(|f| f.external_id)
        .ok_or_else(|| {
            SfError::bad(
                "NOT_FOUND",
                format!("Provided external ID field does not exist or is not accessible: {field}"),
            )
        })?;
    let value = percent_encoding::percent_decode_str(value)
        .decode_utf8_lossy()
        .into_owned();
    let matches = by_external_id(ctx, object, ext.name, &value);
    if matches.len() > 1 {
        let urls: Vec<String> = matches.iter().map(|r| records::url(object, r.id)).collect();
        return Ok(json(StatusCode::MULTIPLE_CHOICES, json!(urls)));
    }
    let mut writer = Writer::new(ctx, origin(headers, "rest"));
    match (method.as_str(), matches.first()) {
        ("GET", Some(record)) => {
            let fields = chosen(object, query)?;
            Ok(json(
                StatusCode::OK,
                records::answer(ctx, object, record, fields.as_deref()),
            ))
        }
        ("DELETE", Some(record)) => {
            writer.delete(object, record.id)?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        ("GET" | "DELETE", None) => Err(SfError::not_found()),
        ("PATCH", found) => {
            let mut given = body_object(body)?;
            if let Some((key, v)) = given
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(ext.name))
                .map(|(k, v)| (k.clone(), v.clone()))
            {
                if v.as_str() != Some(value.as_str()) {
                    return Err(SfError::on_fields(
                        "INVALID_FIELD",
                        format!(
                            "The value of the external ID field in the body ({v}) does not match the one in the URL ({value})"
                        ),
                        &[ext.name],
                    ));
                }
                given.remove(&key);
            }
            let update_only = query.iter().any(|(k, v)| k == "updateOnly" && v == "true");
            match found {
                Some(record) => {
                    let fields = prepare(ctx, object, &given, Mode::Update(record.id))?;
                    writer.update(object, record.id, fields)?;
                    if version < 46.0 {
                        return Ok(StatusCode::NO_CONTENT.into_response());
                    }
                    Ok(json(
                        StatusCode::OK,
                        json!({"id": sf_id(object, record.id), "success": true, "errors": [], "created": false}),
                    ))
                }
                None if update_only => Err(SfError::not_found()),
                None => {
                    given.insert(ext.name.into(), value.clone().into());
                    let fields = prepare(ctx, object, &given, Mode::Create)?;
                    let record = writer.create(object, fields)?;
                    Ok(json(
                        StatusCode::CREATED,
                        json!({"id": sf_id(object, record.id), "success": true, "errors": [], "created": true}),
                    ))
                }
            }
        }
        _ => Err(SfError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
            format!("HTTP Method '{method}' not allowed. Allowed are GET,PATCH,DELETE"),
        )),
    }
}

/// `GET /sobjects/<obj>/describe`: the fields with their types and flags.
fn describe(object: &SObject) -> Value {
    let fields: Vec<Value> = object.fields.iter().map(|f| {
        let writable = matches!(f.access, Access::Optional | Access::Required);
        json!({
            "name": f.name, "type": f.kind.describe(), "externalId": f.external_id, "unique": f.unique,
            "createable": f.access != Access::ReadOnly, "updateable": writable,
            "nillable": f.access == Access::Optional,
            "referenceTo": match f.kind { super::schema::Kind::Reference(t) => vec![t], _ => vec![] },
        })
    }).collect();
    json!({"name": object.name, "keyPrefix": object.prefix, "createable": true, "updateable": true, "queryable": true, "fields": fields})
}
