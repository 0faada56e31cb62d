//! What the services share about stored records: the form a call may write, document
//! status, numbers, entry lines and ids, and the records a call names by `Numbers` or `Ids`.

use serde_json::{Map, Value, json};

use super::Ctx;
use super::answer::KdError;
use super::dates;
use super::forms::{self, APPROVE_DATE, DOCUMENT_STATUS, ENTRY_ID, Form};
use super::request::{Call, get_ci, list};
use crate::store::Record;

/// `FDocumentStatus` values.
pub mod status {
    /// 暂存: saved by `Draft`.
    pub const DRAFT: &str = "Z";
    /// 创建.
    pub const CREATED: &str = "A";
    /// 审核中: submitted.
    pub const SUBMITTED: &str = "B";
    /// 已审核.
    pub const AUDITED: &str = "C";
    /// 重新审核: un-audited.
    pub const REAUDIT: &str = "D";
}

/// The form a writing call names; query-only forms refuse.
pub fn writable_form(call: &Call, operation: &str) -> Result<&'static Form, KdError> {
    let id = call
        .form_id
        .as_deref()
        .filter(|f| !f.trim().is_empty())
        .ok_or(KdError::FormIdMissing)?;
    let form = forms::form(id).ok_or_else(|| KdError::UnknownForm(id.to_owned()))?;
    if form.query_only {
        return Err(KdError::NotSupported {
            form: form.id.into(),
            operation: operation.into(),
        });
    }
    Ok(form)
}

/// A record's `FDocumentStatus`.
pub fn status_of(record: &Record) -> &str {
    record
        .fields
        .get(DOCUMENT_STATUS)
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// A record's number (`FNumber`/`FBillNo`), `""` for forms without one.
pub fn number(form: &Form, record: &Record) -> String {
    form.number
        .and_then(|k| record.fields.get(k))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned()
}

/// The first number of the form's pattern no record has (`XSDD000001`, `CUST0007`).
pub fn next_number(ctx: &Ctx, form: &Form) -> String {
    let store = ctx.harness.store();
    (1..)
        .map(|n| {
            format!(
                "{}{n:0width$}",
                form.number_prefix,
                width = form.number_digits
            )
        })
        .find(|candidate| matches!(store.find_by_key(form.id, candidate), Ok(None)))
        .expect("some number is free")
}

/// The entry lines of a record of `form`.
pub fn lines(form: &Form, record: &Record) -> Vec<Map<String, Value>> {
    form.entry
        .and_then(|e| record.fields.get(e.key))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|l| l.as_object().cloned())
        .collect()
}

/// One more than the largest `FEntryID` of the form (entry ids are unique per form).
pub fn next_entry_id(ctx: &Ctx, form: &Form) -> u64 {
    let records = ctx
        .harness
        .store()
        .list(form.id, None, None)
        .unwrap_or_default();
    let largest = records
        .iter()
        .flat_map(|r| lines(form, r))
        .filter_map(|l| l.get(ENTRY_ID).and_then(Value::as_u64))
        .max()
        .unwrap_or(0);
    largest + 1
}

/// Sets a record's status, stamping the approval date when it becomes audited and
/// clearing it when it leaves that state.
pub fn set_status(ctx: &Ctx, form: &Form, id: u64, to: &str) -> Result<Record, KdError> {
    let mut patch = Map::new();
    patch.insert(DOCUMENT_STATUS.into(), to.into());
    if form.header_field(APPROVE_DATE).is_some() {
        let approved = (to == status::AUDITED).then(|| json!(dates::stored(ctx.now_local())));
        patch.insert(APPROVE_DATE.into(), approved.unwrap_or(Value::Null));
    }
    ctx.harness
        .store()
        .update(form.id, id, patch)
        .map_err(|_| KdError::NotFound(format!("内码[{id}]")))
}

/// The records a call names by `Numbers` (an array) or `Ids` (a comma-separated string),
/// each found or refused, in the order given.
pub fn named(
    ctx: &Ctx,
    form: &Form,
    data: &Map<String, Value>,
) -> Result<Vec<Result<Record, KdError>>, KdError> {
    let store = ctx.harness.store();
    let ids = list(data, "Ids");
    let numbers = list(data, "Numbers");
    if ids.is_empty() && numbers.is_empty() {
        return Err(KdError::BadParameter("Numbers和Ids不能同时为空".into()));
    }
    let by_id = ids.iter().map(|id| {
        id.parse::<u64>()
            .ok()
            .and_then(|n| store.get(form.id, n).ok())
            .ok_or_else(|| KdError::NotFound(format!("内码[{id}]")))
    });
    let by_number = numbers.iter().map(|n| {
        store
            .find_by_key(form.id, n)
            .ok()
            .flatten()
            .ok_or_else(|| KdError::NotFound(format!("编码[{n}]")))
    });
    Ok(by_id.chain(by_number).collect())
}

/// A text value of `data` (for optional parameters such as `TargetFormId`).
pub fn param<'d>(data: &'d Map<String, Value>, key: &str) -> &'d str {
    get_ci(data, key)
        .and_then(Value::as_str)
        .unwrap_or("")
        .trim()
}
