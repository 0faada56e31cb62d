//! Reading and writing single records, upserts by business key and batches.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::Ctx;
use super::answer::{ApiError, FieldError};
use super::objects::{self, ObjectSpec};
use crate::store::Record;

/// How a record is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WriteMode {
    /// A new record; its business key must be new.
    Create,
    /// Update the record with the business key in the body, or create it.
    Upsert,
}

/// A record written: the record and whether it was created.
pub struct Written {
    pub record: Record,
    pub created: bool,
}

/// Validates and writes `fields` as a record of `spec`. `key` is the business key an
/// upsert goes by (from the URL, or the body's key field).
pub fn write(
    ctx: &Ctx,
    spec: &ObjectSpec,
    fields: Map<String, Value>,
    mode: WriteMode,
    key: Option<&str>,
) -> Result<Written, ApiError> {
    let store = ctx.harness.store();
    let body_key = fields
        .get(spec.key)
        .and_then(Value::as_str)
        .map(str::to_owned);
    let label = format!(
        "{} {}",
        spec.name,
        key.or(body_key.as_deref()).unwrap_or("(no key)")
    );
    if let (Some(key), Some(body_key)) = (key, body_key.as_deref())
        && key != body_key
    {
        let reason = format!("`{body_key}` differs from the key `{key}` in the URL");
        return Err(ApiError::validation(
            &label,
            vec![FieldError::new(spec.key, reason)],
        ));
    }
    let existing = match (mode, key.or(body_key.as_deref())) {
        (WriteMode::Upsert, Some(key)) => store.find_by_key(spec.name, key)?,
        _ => None,
    };
    let mut fields = fields;
    if existing.is_none()
        && let Some(key) = key
    {
        fields.insert(spec.key.to_owned(), key.into());
    }
    let refusals = objects::refusals(store, spec, &fields, existing.is_none());
    if !refusals.is_empty() {
        return Err(ApiError::validation(&label, refusals));
    }
    Ok(match existing {
        Some(record) => Written {
            record: store.update(spec.name, record.id, fields)?,
            created: false,
        },
        None => Written {
            record: store.insert(spec.name, fields)?,
            created: true,
        },
    })
}

fn object_body(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    match serde_json::from_slice(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::bad_request("body: expected a JSON object")),
        Err(e) => Err(ApiError::bad_request(format!("body: {e}"))),
    }
}

fn id_of(spec: &ObjectSpec, id: &str) -> Result<u64, ApiError> {
    id.parse().map_err(|_| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            format!("{}: `{id}` is not a record id", spec.name),
        )
    })
}

fn answer(written: Written) -> Response {
    let status = if written.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    (status, Json(written.record.to_json())).into_response()
}

/// `POST /api/{object}`: 201 with the record, 409 `DUPLICATE_KEY`, 422 `VALIDATION_FAILED`.
pub async fn create(
    State(ctx): State<Ctx>,
    Path(object): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let spec = objects::spec(&object)?;
    let written = write(&ctx, spec, object_body(&body)?, WriteMode::Create, None)?;
    Ok(answer(written))
}

/// `GET /api/{object}/{id}`.
pub async fn read(
    State(ctx): State<Ctx>,
    Path((object, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let spec = objects::spec(&object)?;
    let record = ctx.harness.store().get(spec.name, id_of(spec, &id)?)?;
    Ok(Json(record.to_json()).into_response())
}

/// `PATCH /api/{object}/{id}`: sets the given fields.
pub async fn update(
    State(ctx): State<Ctx>,
    Path((object, id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let spec = objects::spec(&object)?;
    let id = id_of(spec, &id)?;
    let store = ctx.harness.store();
    let current = store.get(spec.name, id)?;
    let patch = object_body(&body)?;
    let refusals = objects::refusals(store, spec, &patch, false);
    if !refusals.is_empty() {
        let key = current
            .fields
            .get(spec.key)
            .and_then(Value::as_str)
            .unwrap_or("?");
        return Err(ApiError::validation(
            &format!("{} {key}", spec.name),
            refusals,
        ));
    }
    Ok(Json(store.update(spec.name, id, patch)?.to_json()).into_response())
}

/// `DELETE /api/{object}/{id}`: 204.
pub async fn delete(
    State(ctx): State<Ctx>,
    Path((object, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let spec = objects::spec(&object)?;
    ctx.harness.store().delete(spec.name, id_of(spec, &id)?)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `PUT /api/{object}/by-key/{key}`: 201 when created, 200 when updated.
pub async fn upsert(
    State(ctx): State<Ctx>,
    Path((object, key)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let spec = objects::spec(&object)?;
    let written = write(
        &ctx,
        spec,
        object_body(&body)?,
        WriteMode::Upsert,
        Some(&key),
    )?;
    Ok(answer(written))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Batch {
    #[serde(default = "create_mode")]
    mode: WriteMode,
    records: Vec<Value>,
}

fn create_mode() -> WriteMode {
    WriteMode::Create
}

/// `POST /api/{object}/batch` with `{"mode": "create"|"upsert", "records": […]}`: each
/// record is written on its own (no transaction); 200 with one result per record, in order.
pub async fn batch(
    State(ctx): State<Ctx>,
    Path(object): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let spec = objects::spec(&object)?;
    let batch: Batch =
        serde_json::from_slice(&body).map_err(|e| ApiError::bad_request(format!("body: {e}")))?;
    let max = ctx.config.max_batch;
    if batch.records.len() > max {
        return Err(ApiError::bad_request(format!(
            "records: at most {max} records in one batch, found {}",
            batch.records.len()
        )));
    }
    let results: Vec<Value> = batch
        .records
        .into_iter()
        .enumerate()
        .map(|(index, record)| {
            let outcome = match record {
                Value::Object(fields) => write(&ctx, spec, fields, batch.mode, None),
                _ => Err(ApiError::bad_request(format!(
                    "records[{index}]: expected a JSON object"
                ))),
            };
            match outcome {
                Ok(w) => {
                    json!({ "index": index, "ok": true, "id": w.record.id, "created": w.created })
                }
                Err(e) => json!({ "index": index, "ok": false, "error": e.body() }),
            }
        })
        .collect();
    Ok(Json(json!({ "results": results })).into_response())
}
