//! The batch APIs (dossier §3), at most 100 records each: `data/batch_create` →
//! `{"status": "success", "success_count": N, "success_ids": [...]}`, `data/batch_update`
//! (the same values on every record) and `data/batch_delete` →
//! `{"status": "success", "success_count": N}`. A batch is checked whole before anything
//! is written: one bad value refuses it all, naming the record (`第3条数据`). Ids the form
//! does not have are skipped. Batches do not push notices (correction 3).

use serde_json::{Map, Value, json};

use super::Ctx;
use super::answer::JdyError;
use super::data::{accept_flags, missing};
use super::records;
use super::request::{Api, Body};

/// The most records one batch takes.
pub const MAX_BATCH: usize = 100;

/// `app/entry/data/batch_create`.
pub fn create(ctx: &Ctx, body: &Body) -> Result<Value, JdyError> {
    let (_, form) = body.form(&ctx.config)?;
    accept_flags(body)?;
    let creator = ctx.member_param(body, "data_creator")?;
    let list = body
        .get("data_list")
        .and_then(Value::as_array)
        .filter(|l| (1..=MAX_BATCH).contains(&l.len()))
        .ok_or_else(|| {
            JdyError::BadParameter(format!("data_list 必须是 1 到 {MAX_BATCH} 条数据的数组"))
        })?;
    let _writing = ctx.writing();
    ctx.idempotent(body, Api::BatchCreate, form, || {
        let checked = list
            .iter()
            .enumerate()
            .map(|(i, data)| ctx.checked(form, data, None).map_err(|e| in_record(e, i)))
            .collect::<Result<Vec<_>, _>>()?;
        let mut ids = Vec::with_capacity(checked.len());
        for fields in checked {
            let record = ctx.insert(form, fields, &creator)?;
            ids.push(records::data_id_of(&record));
        }
        Ok(json!({ "status": "success", "success_count": ids.len(), "success_ids": ids }))
    })
}

/// `app/entry/data/batch_update`.
pub fn update(ctx: &Ctx, body: &Body) -> Result<Value, JdyError> {
    let (_, form) = body.form(&ctx.config)?;
    accept_flags(body)?;
    let ids = body.strings("data_ids", MAX_BATCH)?;
    let data = body.get("data").ok_or_else(|| missing("data"))?;
    let _writing = ctx.writing();
    ctx.idempotent(body, Api::BatchUpdate, form, || {
        let found: Vec<_> = ids
            .iter()
            .filter_map(|id| ctx.find(form, id).ok())
            .collect();
        let patches = found
            .iter()
            .map(|r| ctx.checked(form, data, Some(&r.fields)))
            .collect::<Result<Vec<Map<String, Value>>, _>>()?;
        for (record, mut patch) in found.iter().zip(patches) {
            patch.insert(records::UPDATER.into(), Value::Null);
            let _ = ctx.harness.store().update(&form.entry_id, record.id, patch);
        }
        Ok(json!({ "status": "success", "success_count": found.len() }))
    })
}

/// `app/entry/data/batch_delete`.
pub fn delete(ctx: &Ctx, body: &Body) -> Result<Value, JdyError> {
    let (_, form) = body.form(&ctx.config)?;
    let ids = body.strings("data_ids", MAX_BATCH)?;
    let _writing = ctx.writing();
    let deleted = ids
        .iter()
        .filter_map(|id| ctx.find(form, id).ok())
        .filter(|r| ctx.harness.store().delete(&form.entry_id, r.id).is_ok())
        .count();
    Ok(json!({ "status": "success", "success_count": deleted }))
}

/// A refusal of the `index`-th record of a batch, naming it.
fn in_record(error: JdyError, index: usize) -> JdyError {
    let n = index + 1;
    match error {
        JdyError::InvalidValue { field, reason } => JdyError::InvalidValue {
            field: format!("第{n}条数据 {field}"),
            reason,
        },
        JdyError::Required { field } => JdyError::Required {
            field: format!("第{n}条数据 {field}"),
        },
        other => other,
    }
}
