//! The document life cycle: `Submit` (Z/A/D → B), `Audit` (B → C), `UnAudit` (C → D,
//! refused while a downstream bill exists), `Delete` (Z/A/D only), `ExcuteOperation`
//! Forbid/Enable (`FForbidStatus` B/A) and `Allocate`/`CancelAllocate` of base data to
//! organisations. Each names its records by `Numbers` or `Ids` and answers per record.

use serde_json::{Map, Value};

use super::Ctx;
use super::answer::{self, KdError};
use super::catalog;
use super::forms::{FORBID_STATUS, Form};
use super::push;
use super::records::{self, status};
use super::request::{Call, list};
use crate::store::Record;

/// The field where the double records the organisations base data was allocated to (not
/// a Kingdee field; see the README).
pub const ALLOCATED_ORGS: &str = "AllocatedOrgIds";

/// A step applied to one named record.
type Step = fn(&Ctx, &'static Form, &Record) -> Result<Record, KdError>;

/// Applies `step` to every record the call names and answers per record.
pub fn operate(ctx: &Ctx, call: &Call, operation: &str, step: Step) -> Result<Value, KdError> {
    let form = records::writable_form(call, operation)?;
    let _writing = ctx.writing();
    let named = records::named(ctx, form, &call.data)?;
    let mut successes = Vec::new();
    let mut errors = Vec::new();
    for (index, found) in named.into_iter().enumerate() {
        match found.and_then(|r| step(ctx, form, &r)) {
            Ok(r) => successes.push(answer::success_entity(
                r.id,
                &records::number(form, &r),
                index,
            )),
            Err(e) => errors.push((index, e)),
        }
    }
    Ok(answer::result(
        answer::response_status(successes, &errors),
        Map::new(),
    ))
}

pub fn submit(ctx: &Ctx, form: &'static Form, record: &Record) -> Result<Record, KdError> {
    match records::status_of(record) {
        status::SUBMITTED => Err(KdError::AlreadySubmitted),
        status::AUDITED => Err(KdError::AlreadyAudited),
        _ => records::set_status(ctx, form, record.id, status::SUBMITTED),
    }
}

pub fn audit(ctx: &Ctx, form: &'static Form, record: &Record) -> Result<Record, KdError> {
    match records::status_of(record) {
        status::SUBMITTED => records::set_status(ctx, form, record.id, status::AUDITED),
        status::AUDITED => Err(KdError::AlreadyAudited),
        _ => Err(KdError::NotSubmitted),
    }
}

pub fn unaudit(ctx: &Ctx, form: &'static Form, record: &Record) -> Result<Record, KdError> {
    if records::status_of(record) != status::AUDITED {
        return Err(KdError::NotAudited);
    }
    if push::has_downstream(ctx, form, record) {
        return Err(KdError::HasDownstream);
    }
    records::set_status(ctx, form, record.id, status::REAUDIT)
}

pub fn delete(ctx: &Ctx, form: &'static Form, record: &Record) -> Result<Record, KdError> {
    match records::status_of(record) {
        status::DRAFT | status::CREATED | status::REAUDIT => ctx
            .harness
            .store()
            .delete(form.id, record.id)
            .map_err(|_| KdError::NotFound(format!("内码[{}]", record.id))),
        other => Err(KdError::NotDeletable(other.to_owned())),
    }
}

/// `ExcuteOperation` with `opNumber` Forbid or Enable.
pub fn custom_operation(ctx: &Ctx, call: &Call) -> Result<Value, KdError> {
    let op = call.op_number.clone().unwrap_or_default();
    let form = records::writable_form(call, &op)?;
    let not_supported = || KdError::NotSupported {
        form: form.id.into(),
        operation: op.clone(),
    };
    if form.header_field(FORBID_STATUS).is_none() {
        return Err(not_supported());
    }
    if op.eq_ignore_ascii_case("Forbid") {
        operate(ctx, call, &op, |ctx, form, r| set_forbid(ctx, form, r, "B"))
    } else if op.eq_ignore_ascii_case("Enable") {
        operate(ctx, call, &op, |ctx, form, r| set_forbid(ctx, form, r, "A"))
    } else {
        Err(not_supported())
    }
}

fn set_forbid(ctx: &Ctx, form: &Form, record: &Record, to: &str) -> Result<Record, KdError> {
    let mut patch = Map::new();
    patch.insert(FORBID_STATUS.into(), to.into());
    ctx.harness
        .store()
        .update(form.id, record.id, patch)
        .map_err(|_| KdError::NotFound(format!("内码[{}]", record.id)))
}

/// `Allocate` (`cancel` false) or `CancelAllocate`: `PkIds` of base data to or from the
/// organisations `TOrgIds` (both comma-separated ids).
pub fn allocate(ctx: &Ctx, call: &Call, cancel: bool) -> Result<Value, KdError> {
    let operation = if cancel { "CancelAllocate" } else { "Allocate" };
    let form = records::writable_form(call, operation)?;
    if !form.base_data {
        return Err(KdError::NotSupported {
            form: form.id.into(),
            operation: operation.into(),
        });
    }
    let orgs = org_ids(&call.data)?;
    let _writing = ctx.writing();
    let store = ctx.harness.store();
    let mut successes = Vec::new();
    let mut errors = Vec::new();
    for (index, pk) in list(&call.data, "PkIds").iter().enumerate() {
        let found = pk
            .parse::<u64>()
            .ok()
            .and_then(|id| store.get(form.id, id).ok());
        let Some(record) = found else {
            errors.push((index, KdError::NotFound(format!("内码[{pk}]"))));
            continue;
        };
        let mut allocated: Vec<u64> = record
            .fields
            .get(ALLOCATED_ORGS)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_u64)
            .collect();
        allocated.retain(|o| !orgs.contains(o));
        if !cancel {
            allocated.extend(&orgs);
        }
        let mut patch = Map::new();
        patch.insert(ALLOCATED_ORGS.into(), allocated.into());
        if let Ok(r) = store.update(form.id, record.id, patch) {
            successes.push(answer::success_entity(
                r.id,
                &records::number(form, &r),
                index,
            ));
        }
    }
    Ok(answer::result(
        answer::response_status(successes, &errors),
        Map::new(),
    ))
}

fn org_ids(data: &Map<String, Value>) -> Result<Vec<u64>, KdError> {
    let given = list(data, "TOrgIds");
    if given.is_empty() {
        return Err(KdError::BadParameter("TOrgIds不能为空".into()));
    }
    given
        .iter()
        .map(|o| {
            o.parse::<u64>()
                .ok()
                .filter(|id| catalog::ORGS.iter().any(|org| org.id == *id))
                .ok_or_else(|| KdError::UnknownOrg(o.clone()))
        })
        .collect()
}
