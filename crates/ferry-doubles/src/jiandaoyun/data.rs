//! The single-record APIs (dossier §3): `data/get` → `{"data": {…}}`, `data/create` and
//! `data/update` → `{"data": {…}}` (the record as stored), `data/delete` →
//! `{"status": "success"}`. Creates and updates read `{"value": …}`-wrapped widget values
//! (see [`super::values`]), honour `transaction_id`, accept `is_start_workflow` and
//! `is_start_trigger`, and push `data_create`, `data_update` and `data_remove` notices.

use serde_json::{Map, Value, json};

use super::Ctx;
use super::answer::JdyError;
use super::forms::{App, Form};
use super::records::{self, UPDATER};
use super::request::{Api, Body};
use crate::store::Record;

/// `app/entry/data/get`.
pub fn get(ctx: &Ctx, body: &Body) -> Result<Value, JdyError> {
    let (app, form) = body.form(&ctx.config)?;
    let record = ctx.find(form, body.text("data_id")?)?;
    Ok(json!({ "data": ctx.record_json(app, form, &record) }))
}

/// `app/entry/data/create`: one record; `data_creator` (a username) becomes its creator.
pub fn create(ctx: &Ctx, body: &Body) -> Result<Value, JdyError> {
    let (app, form) = body.form(&ctx.config)?;
    accept_flags(body)?;
    let creator = ctx.member_param(body, "data_creator")?;
    let _writing = ctx.writing();
    ctx.idempotent(body, Api::DataCreate, form, || {
        let data = body.get("data").ok_or_else(|| missing("data"))?;
        let fields = ctx.checked(form, data, None)?;
        let record = ctx.insert(form, fields, &creator)?;
        let record = ctx.record_json(app, form, &record);
        ctx.shared.push.enqueue("data_create", record.clone());
        Ok(json!({ "data": record }))
    })
}

/// `app/entry/data/update`: the widgets sent are replaced, the others kept; a sub-form is
/// replaced by the rows sent (rows sent with their `_id` keep it).
pub fn update(ctx: &Ctx, body: &Body) -> Result<Value, JdyError> {
    let (app, form) = body.form(&ctx.config)?;
    accept_flags(body)?;
    let _writing = ctx.writing();
    ctx.idempotent(body, Api::DataUpdate, form, || {
        let existing = ctx.find(form, body.text("data_id")?)?;
        let data = body.get("data").ok_or_else(|| missing("data"))?;
        let record = ctx.patch(form, &existing, data)?;
        let record = ctx.record_json(app, form, &record);
        ctx.shared.push.enqueue("data_update", record.clone());
        Ok(json!({ "data": record }))
    })
}

/// `app/entry/data/delete`.
pub fn delete(ctx: &Ctx, body: &Body) -> Result<Value, JdyError> {
    let (app, form) = body.form(&ctx.config)?;
    accept_flags(body)?;
    let _writing = ctx.writing();
    let record = ctx.find(form, body.text("data_id")?)?;
    ctx.harness
        .store()
        .delete(&form.entry_id, record.id)
        .map_err(|_| JdyError::DataNotFound(records::data_id_of(&record)))?;
    ctx.shared
        .push
        .enqueue("data_remove", removed_json(ctx, app, form, &record));
    Ok(json!({ "status": "success" }))
}

/// The record of a removal notice: as it was, with `deleteTime` now.
fn removed_json(ctx: &Ctx, app: &App, form: &Form, record: &Record) -> Value {
    let mut json = ctx.record_json(app, form, record);
    json["deleteTime"] = records::iso(ctx.harness.clock().now()).into();
    json
}

/// The workflow and trigger flags are accepted (and have no effect in the double).
pub fn accept_flags(body: &Body) -> Result<(), JdyError> {
    body.flag("is_start_workflow")?;
    body.flag("is_start_trigger")?;
    Ok(())
}

pub fn missing(key: &str) -> JdyError {
    JdyError::BadParameter(format!("缺少参数 {key}"))
}

impl Ctx {
    /// The record of `form` with this `_id`.
    pub(super) fn find(&self, form: &Form, data_id: &str) -> Result<Record, JdyError> {
        let not_found = || JdyError::DataNotFound(data_id.to_owned());
        let id = records::store_id(data_id).ok_or_else(not_found)?;
        let record = self.harness.store().get(&form.entry_id, id);
        record
            .ok()
            .filter(|r| records::data_id_of(r) == data_id)
            .ok_or_else(not_found)
    }

    /// The widgets `data` writes, read and (when the run enforces it) checked for required
    /// widgets over the record they make with `existing`.
    pub(super) fn checked(
        &self,
        form: &Form,
        data: &Value,
        existing: Option<&Map<String, Value>>,
    ) -> Result<Map<String, Value>, JdyError> {
        let fields = self.writer().read(form, data, existing)?;
        if self.config.enforce_required {
            let mut whole = existing.cloned().unwrap_or_default();
            whole.extend(fields.clone());
            super::values::check_required(form, &whole)?;
        }
        Ok(fields)
    }

    /// Adds a record by `creator` (a member object or null), flow finished.
    pub(super) fn insert(
        &self,
        form: &Form,
        mut fields: Map<String, Value>,
        creator: &Value,
    ) -> Result<Record, JdyError> {
        fields.insert(records::CREATOR.into(), creator.clone());
        fields.insert(UPDATER.into(), creator.clone());
        fields.insert(records::FLOW_STATE.into(), 1.into());
        self.stamp_serial(form, &mut fields);
        self.harness
            .store()
            .insert(&form.entry_id, fields)
            .map_err(|e| JdyError::BadParameter(e.to_string()))
    }

    /// Writes `data` over `existing`; the updater of an API update is null.
    pub(super) fn patch(
        &self,
        form: &Form,
        existing: &Record,
        data: &Value,
    ) -> Result<Record, JdyError> {
        let mut fields = self.checked(form, data, Some(&existing.fields))?;
        fields.insert(UPDATER.into(), Value::Null);
        self.harness
            .store()
            .update(&form.entry_id, existing.id, fields)
            .map_err(|_| JdyError::DataNotFound(records::data_id_of(existing)))
    }

    /// Runs a write once per `transaction_id`: a completed one is answered again.
    pub(super) fn idempotent(
        &self,
        body: &Body,
        api: Api,
        form: &Form,
        write: impl FnOnce() -> Result<Value, JdyError>,
    ) -> Result<Value, JdyError> {
        let Some(id) = body.optional_text("transaction_id")? else {
            return write();
        };
        let transactions = &self.shared.transactions;
        if let Some(answer) = transactions.replay(id, api.name(), &form.entry_id)? {
            return Ok(answer);
        }
        let answer = write()?;
        transactions.remember(id, api.name(), &form.entry_id, &answer);
        Ok(answer)
    }

    /// The member a username parameter names as a `creator` object; null when absent.
    pub(super) fn member_param(&self, body: &Body, key: &str) -> Result<Value, JdyError> {
        let Some(username) = body.optional_text(key)? else {
            return Ok(Value::Null);
        };
        let member = self.config.member(username).ok_or_else(|| {
            JdyError::BadParameter(format!("{key} 不是团队成员的用户名：{username}"))
        })?;
        Ok(records::member_object(member))
    }
}
