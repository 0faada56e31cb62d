//! The detail APIs: customers (`merchant/newBatchDetail`) and materials
//! (`product/batchdetailnew`) by id or code, one object or an array of them (the
//! documentation shows both), answering `data` as an array with the sub-tables; a sales
//! order (`GET voucherorder/detail?id=`) with its lines.

use serde_json::Value;

use super::Ctx;
use super::envelope::{YyError, ok_body};
use super::objects::{MERCHANT, PRODUCT, VOUCHER_ORDER, row, scalar_text, store_id};
use crate::store::Record;

/// The asked-for items: the body itself, or each element of an array body.
fn items(body: &Value) -> Vec<&Value> {
    match body {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    }
}

/// The record an item names: by `id` first (ids win when both are given), else by the code
/// under `code_key`. `None` when neither matches.
fn find(ctx: &Ctx, object: &str, item: &Value, code_key: &str) -> Option<Record> {
    let store = ctx.harness.store();
    if let Some(id) = item.get("id").and_then(scalar_text) {
        let id = id.parse().ok().and_then(|wire| store_id(object, wire))?;
        return store.get(object, id).ok();
    }
    let code = item.get(code_key).and_then(scalar_text)?;
    store.find_by_key(object, &code).ok().flatten()
}

/// Full rows of the records `body` names; `code_key` names the code parameter and
/// `org_keys` the organisation parameters of which one is required (none for customers).
fn batch(
    ctx: &Ctx,
    object: &str,
    body: &Value,
    code_key: &str,
    org_keys: &[&str],
) -> Result<Value, YyError> {
    let zone = ctx.config.utc_offset;
    let mut rows = Vec::new();
    for item in items(body) {
        if item.get("id").and_then(scalar_text).is_none()
            && item.get(code_key).and_then(scalar_text).is_none()
        {
            return Err(YyError::required("id"));
        }
        if !org_keys.is_empty()
            && org_keys
                .iter()
                .all(|k| item.get(*k).and_then(scalar_text).is_none())
        {
            return Err(YyError::required(org_keys[0]));
        }
        if let Some(record) = find(ctx, object, item, code_key) {
            rows.push(row(object, &record, zone, &[]));
        }
    }
    Ok(ok_body(Value::Array(rows)))
}

/// `POST /yonbip/digitalModel/merchant/newBatchDetail` (`id` or `code`; `belongOrgId` /
/// `belongOrgCode` accepted and not checked: every customer is used by every organisation).
pub fn merchants(ctx: &Ctx, body: &Value) -> Result<Value, YyError> {
    batch(ctx, MERCHANT, body, "code", &[])
}

/// `POST /yonbip/digitalModel/product/batchdetailnew` (`id` or `productCode`, and `orgId`
/// or `orgCode`, one of which is required).
pub fn products(ctx: &Ctx, body: &Value) -> Result<Value, YyError> {
    batch(ctx, PRODUCT, body, "productCode", &["orgId", "orgCode"])
}

/// `GET /yonbip/sd/voucherorder/detail?id=`: the order with `orderDetails`, 1002 when
/// there is none.
pub fn order(ctx: &Ctx, params: &[(String, String)]) -> Result<Value, YyError> {
    let id = params
        .iter()
        .find(|(k, _)| k == "id")
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| YyError::required("id"))?;
    let wire: u64 = id
        .parse()
        .map_err(|_| YyError::wrong_type("id", "长整数"))?;
    let record = store_id(VOUCHER_ORDER, wire)
        .and_then(|id| ctx.harness.store().get(VOUCHER_ORDER, id).ok())
        .ok_or_else(YyError::not_found)?;
    Ok(ok_body(row(
        VOUCHER_ORDER,
        &record,
        ctx.config.utc_offset,
        &[],
    )))
}
