//! The three list APIs: customers (`merchant/newlist`, `data` a bare array, no total),
//! materials (`product/listproductbycondition`) and sales orders (`voucherorder/list`,
//! one row per line unless `isSum`), all paged by `pageIndex` / `pageSize` and filtered by
//! their documented fields, `simpleVOs` and `queryOrders`.
//!
//! Rows come in store order, `pubts` then id (ties broken by id), unless `queryOrders` says
//! otherwise.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::Ctx;
use super::conditions::{self, field_value};
use super::envelope::{YyError, ok_body, ok_numeric_body};
use super::objects::{
    MERCHANT, MERCHANT_SUBTABLES, PRODUCT, PRODUCT_SUBTABLES, VOUCHER_ORDER, parse_local, row,
    scalar_text,
};

/// The largest `pageSize` of each list: 5000 documented for customers; the others are
/// guesses (one list is documented with 500).
pub const MERCHANT_MAX_PAGE: u64 = 5000;
pub const PRODUCT_MAX_PAGE: u64 = 500;
pub const ORDER_MAX_PAGE: u64 = 500;

/// The page asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Page {
    pub index: u64,
    pub size: u64,
}

impl Page {
    /// `pageIndex` and `pageSize`, both required, numbers (or numeric text), at least 1,
    /// the size at most `max`.
    pub fn read(body: &Value, max: u64) -> Result<Self, YyError> {
        let number = |name: &str| -> Result<u64, YyError> {
            let value = body.get(name).filter(|v| !v.is_null());
            let value = value.ok_or_else(|| YyError::required(name))?;
            let parsed = match value {
                Value::Number(n) => n.as_u64(),
                Value::String(s) => s.trim().parse().ok(),
                _ => None,
            };
            parsed.ok_or_else(|| YyError::wrong_type(name, "整数"))
        };
        let page = Self {
            index: number("pageIndex")?,
            size: number("pageSize")?,
        };
        if page.index < 1 || page.size < 1 {
            return Err(YyError::business("pageIndex和pageSize必须大于0"));
        }
        if page.size > max {
            return Err(YyError::business(format!(
                "每页条数[pageSize]不能超过{max}"
            )));
        }
        Ok(page)
    }

    /// This page's part of `rows`.
    pub fn slice(self, rows: Vec<Value>) -> Vec<Value> {
        let skip =
            usize::try_from((self.index - 1).saturating_mul(self.size)).unwrap_or(usize::MAX);
        let take = usize::try_from(self.size).unwrap_or(usize::MAX);
        rows.into_iter().skip(skip).take(take).collect()
    }

    /// The paged `data`: counts, page numbers and this page's `recordList`.
    pub fn data(self, rows: Vec<Value>) -> Value {
        let count = rows.len() as u64;
        let pages = count.div_ceil(self.size);
        json!({
            "pageIndex": self.index,
            "pageSize": self.size,
            "recordCount": count,
            "pageCount": pages,
            "beginPageIndex": 1,
            "endPageIndex": pages,
            "recordList": self.slice(rows),
        })
    }
}

/// A time parameter of the body (`beganTime`, `pubts` …), absent or `yyyy-MM-dd HH:mm:ss`.
fn time_param(ctx: &Ctx, body: &Value, name: &str) -> Result<Option<DateTime<Utc>>, YyError> {
    match body.get(name).and_then(scalar_text) {
        None => Ok(None),
        Some(text) => parse_local(&text, ctx.config.utc_offset)
            .map(Some)
            .ok_or_else(|| YyError::wrong_type(name, "yyyy-MM-dd HH:mm:ss格式的时间")),
    }
}

/// Whether `row`'s `pubts` is within `[from, to]` (each end optional, both inclusive).
fn pubts_within(
    ctx: &Ctx,
    row: &Value,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> bool {
    let zone = ctx.config.utc_offset;
    let Some(at) = row["pubts"].as_str().and_then(|t| parse_local(t, zone)) else {
        return false;
    };
    from.is_none_or(|f| at >= f) && to.is_none_or(|t| at <= t)
}

/// Whether `row[field]` equals the body's `param`, when the body has it.
fn equals_param(body: &Value, param: &str, row: &Value, field: &str) -> bool {
    match body.get(param).and_then(scalar_text) {
        None => true,
        Some(wanted) => scalar_text(field_value(row, field)).as_deref() == Some(wanted.as_str()),
    }
}

/// Every record of `object` as a list row without `omit`, in store order.
fn rows_of(ctx: &Ctx, object: &str, omit: &[&str]) -> Vec<Value> {
    let zone = ctx.config.utc_offset;
    let records = ctx
        .harness
        .store()
        .list(object, None, None)
        .unwrap_or_default();
    records.iter().map(|r| row(object, r, zone, omit)).collect()
}

/// Keeps the rows passing `keep` and the `simpleVOs`, then applies `queryOrders`.
fn select(
    ctx: &Ctx,
    body: &Value,
    rows: Vec<Value>,
    keep: impl Fn(&Value) -> bool,
) -> Result<Vec<Value>, YyError> {
    let conditions = conditions::parse(body)?;
    let zone = ctx.config.utc_offset;
    let mut kept: Vec<Value> = rows
        .into_iter()
        .filter(|r| keep(r) && conditions::admits(&conditions, r, zone))
        .collect();
    conditions::sort(&mut kept, body, zone);
    Ok(kept)
}

/// `POST /yonbip/digitalModel/merchant/newlist`: `code`, `name`, `createOrgId`,
/// `createOrgCode`, `customerClassCode`, `creditCode` exact; `beganTime`/`endTime` a `pubts`
/// range, `pubts` a lower bound (both inclusive). `data` is the page's bare array, with the
/// numeric code 200 of the documented example.
pub fn merchants(ctx: &Ctx, body: &Value) -> Result<Value, YyError> {
    let page = Page::read(body, MERCHANT_MAX_PAGE)?;
    let began = time_param(ctx, body, "beganTime")?;
    let end = time_param(ctx, body, "endTime")?;
    let since = time_param(ctx, body, "pubts")?;
    let exact = [
        ("code", "code"),
        ("name", "name.simplifiedName"),
        ("createOrgId", "createOrgId"),
        ("createOrgCode", "createOrgCode"),
        ("customerClassCode", "customerClassCode"),
        ("creditCode", "creditCode"),
    ];
    let rows = select(
        ctx,
        body,
        rows_of(ctx, MERCHANT, &MERCHANT_SUBTABLES),
        |r| {
            exact.iter().all(|(p, f)| equals_param(body, p, r, f))
                && pubts_within(ctx, r, began.max(since), end)
        },
    )?;
    Ok(ok_numeric_body(Value::Array(page.slice(rows))))
}

/// `POST /yonbip/digitalModel/product/listproductbycondition`: `productCode`,
/// `productName` exact, `managerClassCodeList`, `beganTime`/`endTime` a `pubts` range.
pub fn products(ctx: &Ctx, body: &Value) -> Result<Value, YyError> {
    let page = Page::read(body, PRODUCT_MAX_PAGE)?;
    let began = time_param(ctx, body, "beganTime")?;
    let end = time_param(ctx, body, "endTime")?;
    let classes: Option<Vec<String>> = body
        .get("managerClassCodeList")
        .and_then(Value::as_array)
        .map(|codes| codes.iter().filter_map(scalar_text).collect());
    let rows = select(ctx, body, rows_of(ctx, PRODUCT, &PRODUCT_SUBTABLES), |r| {
        equals_param(body, "productCode", r, "code")
            && equals_param(body, "productName", r, "name.simplifiedName")
            && classes.as_ref().is_none_or(|c| {
                scalar_text(&r["manageClassCode"]).is_some_and(|code| c.contains(&code))
            })
            && pubts_within(ctx, r, began, end)
    })?;
    Ok(ok_body(page.data(rows)))
}

/// `POST /yonbip/sd/voucherorder/list`: `code`, `open_vouchdate_begin`/`_end`, and
/// `simpleVOs` on any answered field (`pubts`, `vouchdate`, `agentId` …). `isSum` true
/// answers one row per order (no lines); false (the default) one row per line, the header
/// repeated and the line's fields prefixed `orderDetails_`.
pub fn orders(ctx: &Ctx, body: &Value) -> Result<Value, YyError> {
    let page = Page::read(body, ORDER_MAX_PAGE)?;
    let from = time_param(ctx, body, "open_vouchdate_begin")?;
    let to = time_param(ctx, body, "open_vouchdate_end")?;
    let per_order = body
        .get("isSum")
        .is_some_and(|v| v.as_bool() == Some(true) || v.as_str() == Some("true"));
    let headers = rows_of(ctx, VOUCHER_ORDER, &[]);
    let rows: Vec<Value> = if per_order {
        headers.into_iter().map(without_lines).collect()
    } else {
        headers.iter().flat_map(line_rows).collect()
    };
    let zone = ctx.config.utc_offset;
    let rows = select(ctx, body, rows, |r| {
        let vouchdate = r["vouchdate"].as_str().and_then(|t| parse_local(t, zone));
        equals_param(body, "code", r, "code")
            && from.is_none_or(|f| vouchdate.is_some_and(|v| v >= f))
            && to.is_none_or(|t| vouchdate.is_some_and(|v| v <= t))
    })?;
    Ok(ok_body(page.data(rows)))
}

fn without_lines(mut order: Value) -> Value {
    if let Some(fields) = order.as_object_mut() {
        fields.remove("orderDetails");
    }
    order
}

/// One flat row per line of `order`.
fn line_rows(order: &Value) -> Vec<Value> {
    let header = without_lines(order.clone());
    let lines = order["orderDetails"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    lines
        .iter()
        .map(|line| {
            let mut out: Map<String, Value> = header.as_object().cloned().unwrap_or_default();
            for (k, v) in line.as_object().into_iter().flatten() {
                let key = if v.is_object() {
                    k.clone()
                } else {
                    format!("orderDetails_{k}")
                };
                out.insert(key, v.clone());
            }
            Value::Object(out)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_count_and_slice() {
        let page = Page::read(&json!({"pageIndex": 2, "pageSize": "2"}), 10).unwrap();
        let rows: Vec<Value> = (1..=5).map(|n| json!({ "n": n })).collect();
        let data = page.data(rows);
        assert_eq!(data["recordCount"], 5);
        assert_eq!(data["pageCount"], 3);
        assert_eq!(data["recordList"], json!([{"n": 3}, {"n": 4}]));
        assert_eq!(
            Page::read(&json!({"pageSize": 1}), 10).unwrap_err().code,
            "310008"
        );
        assert_eq!(
            Page::read(&json!({"pageIndex": 1, "pageSize": 11}), 10)
                .unwrap_err()
                .code,
            "999"
        );
        assert_eq!(
            Page::read(&json!({"pageIndex": "x", "pageSize": 1}), 10)
                .unwrap_err()
                .code,
            "310023"
        );
    }
}
