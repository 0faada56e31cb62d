//! Sales orders (销售订单): the single save (`voucherorder/singleSave`, MDD, `_status`
//! Insert/Update on the header and on every line), submit / audit / unaudit
//! (`batchsubmit`, `batchaudit`, `batchunaudit`, not idempotent) and delete (`delete`, MDD).
//!
//! Keys with `!` are flat JSON keys in a save (`"orderPrices!currency"`); they are stored
//! and answered nested (`"orderPrices": {"currency": …}`), as the list documents. Customers,
//! materials, organisations, units and tax codes may be named by id or code; each stored
//! reference keeps the id and adds `<field>_code` and `<field>_name`.

use serde_json::{Map, Value, json};

use super::Ctx;
use super::api::Api;
use super::envelope::{YyError, batch_body, ok_body};
use super::idempotency::{Saved, run_once};
use super::objects::{
    BaseDoc, CURRENCIES, MERCHANT, ORGS, PRODUCT, RATE_TYPES, TAX_CODES, TRANSACTION_TYPES, UNITS,
    VOUCHER_ORDER, line_id, local_text, name_text, parse_local, row, scalar_text, store_id,
    wire_id,
};
use super::push;
use super::save::{data_object, resolve, text};
use crate::store::Record;

/// `verifystate`: 0 开立, 1 审批中 (submitted), 2 已审核.
pub const OPEN: i64 = 0;
pub const SUBMITTED: i64 = 1;
pub const AUDITED: i64 = 2;

/// Header parameters a save must carry (the dossier's header list, all marked required).
const HEADER_REQUIRED: [&str; 13] = [
    "salesOrgId",
    "transactionTypeId",
    "vouchdate",
    "agentId",
    "settlementOrgId",
    "invoiceAgentId",
    "payMoney",
    "orderPrices!currency",
    "orderPrices!natCurrency",
    "orderPrices!exchRate",
    "orderPrices!exchangeRateType",
    "orderPrices!taxInclusive",
    "orderDetails",
];

/// Line parameters every line must carry (those the dossier lists).
const LINE_REQUIRED: [&str; 14] = [
    "_status",
    "productId",
    "qty",
    "priceQty",
    "masterUnitId",
    "iProductUnitId",
    "oriTaxUnitPrice",
    "oriSum",
    "orderDetailPrices!oriUnitPrice",
    "orderDetailPrices!oriMoney",
    "orderDetailPrices!oriTax",
    "taxId",
    "stockOrgId",
    "settlementOrgId",
];

/// Further line parameters the source's table marks required, checked with
/// `strict_order_lines`.
const LINE_REQUIRED_STRICT: [&str; 12] = [
    "iProductAuxUnitId",
    "subQty",
    "invExchRate",
    "invPriceExchRate",
    "unitExchangeType",
    "unitExchangeTypePrice",
    "orderProductType",
    "orderDetailPrices!natUnitPrice",
    "orderDetailPrices!natTaxUnitPrice",
    "orderDetailPrices!natMoney",
    "orderDetailPrices!natSum",
    "orderDetailPrices!natTax",
];

fn missing(data: &Map<String, Value>, key: &str) -> bool {
    data.get(key).is_none_or(|v| v.is_null() || *v == "")
}

/// `POST /yonbip/sd/voucherorder/singleSave`.
pub fn save(ctx: &Ctx, api: Api, body: &Value) -> Result<Value, YyError> {
    let data = data_object(body)?;
    run_once(ctx, api, &Value::Object(data.clone()), || {
        let record = match text(data, "_status").as_deref() {
            Some("Insert") => insert(ctx, data)?,
            Some("Update") => update(ctx, data)?,
            Some(other) => {
                return Err(YyError::business(format!(
                    "操作状态[_status]的值[{other}]不合法，应为Insert或Update"
                )));
            }
            None => return Err(YyError::required("data._status")),
        };
        push::notify(ctx, push::SALE_SAVE, push::order_payload(&record));
        let answer = row(VOUCHER_ORDER, &record, ctx.config.utc_offset, &[]);
        Ok(Saved {
            id: answer["id"].clone(),
            answer: ok_body(answer),
        })
    })
}

fn insert(ctx: &Ctx, data: &Map<String, Value>) -> Result<Record, YyError> {
    let mut fields = header(ctx, data)?;
    let store = ctx.harness.store();
    let order_no = store.list(VOUCHER_ORDER, None, None).map_or(0, |r| r.len()) as u64 + 1;
    let store_id_guess = next_store_id(ctx);
    let lines = sent_lines(ctx, data, store_id_guess, 0)?;
    check_total(data, &lines)?;
    let code = match text(data, "code") {
        Some(code) => code,
        None => next_code(ctx, order_no),
    };
    fields.insert("code".into(), code.clone().into());
    fields.insert("orderDetails".into(), Value::Array(lines));
    fields.insert("verifystate".into(), OPEN.into());
    fields.insert("nextStatusName".into(), "CONFIRMORDER".into());
    store
        .insert(VOUCHER_ORDER, fields)
        .map_err(|_| YyError::business(format!("单据编号[{code}]已存在")))
}

/// The store id the next inserted order gets (line ids are derived from it).
fn next_store_id(ctx: &Ctx) -> u64 {
    let records = ctx.harness.store().list(VOUCHER_ORDER, None, None);
    records
        .ok()
        .and_then(|r| r.iter().map(|r| r.id).max())
        .unwrap_or(0)
        + 1
}

/// `UO-<today yyyyMMdd><6-digit number>`, the first free from `from` on.
fn next_code(ctx: &Ctx, from: u64) -> String {
    let today = ctx
        .harness
        .clock()
        .now()
        .with_timezone(&ctx.config.utc_offset);
    let day = today.format("%Y%m%d");
    (from..)
        .map(|n| format!("UO-{day}{n:06}"))
        .find(|c| {
            ctx.harness
                .store()
                .find_by_key(VOUCHER_ORDER, c)
                .is_ok_and(|r| r.is_none())
        })
        .unwrap_or_default()
}

/// An update: by `id`, of an order not yet submitted; the header is sent whole, lines
/// `Insert` are added, `Update` (with `id`) replaced, `Delete` (with `id`) removed, the
/// others kept.
fn update(ctx: &Ctx, data: &Map<String, Value>) -> Result<Record, YyError> {
    let id = text(data, "id").ok_or_else(|| YyError::required("data.id"))?;
    let old = id
        .parse()
        .ok()
        .and_then(|wire| store_id(VOUCHER_ORDER, wire))
        .and_then(|id| ctx.harness.store().get(VOUCHER_ORDER, id).ok())
        .ok_or_else(YyError::not_found)?;
    match old.fields["verifystate"].as_i64() {
        Some(AUDITED) => return Err(YyError::business("单据已审核，不能修改")),
        Some(SUBMITTED) => return Err(YyError::business("单据审批中，不能修改")),
        _ => {}
    }
    let mut fields = header(ctx, data)?;
    let kept = old.fields["orderDetails"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let lines = merge_lines(ctx, data, old.id, kept)?;
    check_total(data, &lines)?;
    if let Some(code) = text(data, "code") {
        fields.insert("code".into(), code.into());
    }
    fields.insert("orderDetails".into(), Value::Array(lines));
    ctx.harness
        .store()
        .update(VOUCHER_ORDER, old.id, fields)
        .map_err(|e| YyError::business(e.to_string()))
}

fn merge_lines(
    ctx: &Ctx,
    data: &Map<String, Value>,
    order: u64,
    mut lines: Vec<Value>,
) -> Result<Vec<Value>, YyError> {
    let sent = data
        .get("orderDetails")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut next = lines
        .iter()
        .filter_map(|l| l["lineno"].as_u64())
        .max()
        .unwrap_or(0);
    for (i, line) in sent.iter().enumerate() {
        let line = line.as_object().cloned().unwrap_or_default();
        let at = format!("data.orderDetails[{i}]");
        let status = text(&line, "_status").unwrap_or_default();
        let position = text(&line, "id").and_then(|id| {
            lines
                .iter()
                .position(|l| scalar_text(&l["id"]).as_deref() == Some(id.as_str()))
        });
        match (status.as_str(), position) {
            ("Insert", _) => {
                next += 1;
                lines.push(order_line(ctx, &line, &at, line_id(order, next), next)?);
            }
            ("Update", Some(p)) => {
                let lineno = lines[p]["lineno"].as_u64().unwrap_or(0);
                let id = lines[p]["id"].as_u64().unwrap_or(0);
                lines[p] = order_line(ctx, &line, &at, id, lineno)?;
            }
            ("Delete", Some(p)) => _ = lines.remove(p),
            ("Update" | "Delete", None) => {
                let id = text(&line, "id").unwrap_or_default();
                return Err(YyError::business(format!("订单行id:{id}未找到")));
            }
            _ => return Err(YyError::required(&format!("{at}._status"))),
        }
    }
    if lines.is_empty() {
        return Err(YyError::required("data.orderDetails"));
    }
    Ok(lines)
}

/// The lines of an insert: every line `_status` Insert.
fn sent_lines(
    ctx: &Ctx,
    data: &Map<String, Value>,
    order: u64,
    first: u64,
) -> Result<Vec<Value>, YyError> {
    let sent = match data.get("orderDetails") {
        Some(Value::Array(lines)) if !lines.is_empty() => lines,
        Some(Value::Array(_)) | None | Some(Value::Null) => {
            return Err(YyError::required("data.orderDetails"));
        }
        Some(_) => return Err(YyError::wrong_type("data.orderDetails", "数组")),
    };
    sent.iter()
        .enumerate()
        .map(|(i, line)| {
            let line = line.as_object().cloned().unwrap_or_default();
            let n = first + i as u64 + 1;
            order_line(
                ctx,
                &line,
                &format!("data.orderDetails[{i}]"),
                line_id(order, n),
                n,
            )
        })
        .collect()
}

/// `payMoney` must equal the sum of the lines' `oriSum` (to the cent).
fn check_total(data: &Map<String, Value>, lines: &[Value]) -> Result<(), YyError> {
    let total: f64 = lines.iter().filter_map(|l| l["oriSum"].as_f64()).sum();
    let pay = number(data, "payMoney", "data.payMoney")?;
    if (pay - total).abs() >= 0.005 {
        return Err(YyError::business(format!(
            "表头含税金额[payMoney]{pay:.2}与表体含税金额合计{total:.2}不一致"
        )));
    }
    Ok(())
}

/// A number parameter (a JSON number or numeric text).
fn number(data: &Map<String, Value>, key: &str, at: &str) -> Result<f64, YyError> {
    let value = data.get(key).ok_or_else(|| YyError::required(at))?;
    value
        .as_f64()
        .or_else(|| value.as_str().and_then(|s| s.trim().parse().ok()))
        .ok_or_else(|| YyError::wrong_type(at, "数值"))
}

/// Puts a resolved reference: `<key>` = id, `<key>_code`, `<key>_name`.
fn put_link(fields: &mut Map<String, Value>, key: &str, id: u64, code: &str, name: &str) {
    fields.insert(key.to_owned(), id.into());
    fields.insert(format!("{key}_code"), code.into());
    fields.insert(format!("{key}_name"), name.into());
}

fn put_doc(fields: &mut Map<String, Value>, key: &str, doc: &BaseDoc) {
    put_link(fields, key, doc.id, doc.code, doc.name);
}

/// A base-data reference parameter of `data`, resolved or refused `<caption>:<value>未找到`.
fn doc_param<'a>(
    data: &Map<String, Value>,
    key: &str,
    docs: &'a [BaseDoc],
    caption: &str,
) -> Result<&'a BaseDoc, YyError> {
    resolve(docs, &data[key], caption, YyError::business)
}

/// A record of `object` named by id or code.
fn record_param(ctx: &Ctx, object: &str, value: &Value, caption: &str) -> Result<Record, YyError> {
    let shown = scalar_text(value).unwrap_or_default();
    let store = ctx.harness.store();
    let by_id = shown
        .parse()
        .ok()
        .and_then(|wire| store_id(object, wire))
        .and_then(|id| store.get(object, id).ok());
    by_id
        .or_else(|| store.find_by_key(object, &shown).ok().flatten())
        .ok_or_else(|| YyError::business(format!("{caption}:{shown}未找到")))
}

/// The stored header fields of a save (everything but code, lines and status).
fn header(ctx: &Ctx, data: &Map<String, Value>) -> Result<Map<String, Value>, YyError> {
    if let Some(key) = HEADER_REQUIRED.iter().find(|k| missing(data, k)) {
        return Err(YyError::required(&format!("data.{key}")));
    }
    let zone = ctx.config.utc_offset;
    let vouchdate = text(data, "vouchdate")
        .and_then(|t| parse_local(&t, zone))
        .ok_or_else(|| YyError::wrong_type("data.vouchdate", "yyyy-MM-dd HH:mm:ss格式的时间"))?;
    let mut fields = Map::new();
    fields.insert("vouchdate".into(), local_text(vouchdate, zone).into());
    put_doc(
        &mut fields,
        "salesOrgId",
        doc_param(data, "salesOrgId", &ORGS, "销售组织")?,
    );
    put_doc(
        &mut fields,
        "settlementOrgId",
        doc_param(data, "settlementOrgId", &ORGS, "开票组织")?,
    );
    let kind = doc_param(data, "transactionTypeId", &TRANSACTION_TYPES, "交易类型")?;
    put_doc(&mut fields, "transactionTypeId", kind);
    for (key, caption) in [("agentId", "客户"), ("invoiceAgentId", "开票客户")] {
        let customer = record_param(ctx, MERCHANT, &data[key], caption)?;
        let name = name_text(&customer.fields["name"]).unwrap_or_default();
        let code = scalar_text(&customer.fields["code"]).unwrap_or_default();
        put_link(
            &mut fields,
            key,
            wire_id(MERCHANT, customer.id),
            &code,
            &name,
        );
    }
    fields.insert(
        "payMoney".into(),
        number(data, "payMoney", "data.payMoney")?.into(),
    );
    fields.insert("orderPrices".into(), order_prices(data)?);
    for key in [
        "receiveAddress",
        "receiver",
        "receiveMobile",
        "hopeReceiveDate",
        "memo",
        "headItem",
    ] {
        if let Some(value) = data.get(key) {
            fields.insert(key.into(), value.clone());
        }
    }
    Ok(fields)
}

/// The flat `orderPrices!…` keys as one object, currency and rate type resolved.
fn order_prices(data: &Map<String, Value>) -> Result<Value, YyError> {
    let mut prices = nested(data, "orderPrices");
    for (key, docs, caption) in [
        ("currency", &CURRENCIES[..], "币种"),
        ("natCurrency", &CURRENCIES[..], "本币"),
        ("exchangeRateType", &RATE_TYPES[..], "汇率类型"),
    ] {
        let doc = resolve(docs, &prices[key], caption, YyError::business)?;
        put_doc(&mut prices, key, doc);
    }
    Ok(Value::Object(prices))
}

/// The values of the flat keys `<prefix>!<name>`, keyed by name.
fn nested(data: &Map<String, Value>, prefix: &str) -> Map<String, Value> {
    let start = format!("{prefix}!");
    data.iter()
        .filter_map(|(k, v)| {
            k.strip_prefix(&start)
                .map(|name| (name.to_owned(), v.clone()))
        })
        .collect()
}

/// One stored line from a sent line (`at` names it in refusals).
fn order_line(
    ctx: &Ctx,
    line: &Map<String, Value>,
    at: &str,
    id: u64,
    lineno: u64,
) -> Result<Value, YyError> {
    let strict = ctx.config.strict_order_lines;
    let extra: &[&str] = if strict { &LINE_REQUIRED_STRICT } else { &[] };
    if let Some(key) = LINE_REQUIRED.iter().chain(extra).find(|k| missing(line, k)) {
        return Err(YyError::required(&format!("{at}.{key}")));
    }
    let product = record_param(ctx, PRODUCT, &line["productId"], "物料")?;
    let mut out = Map::new();
    out.insert("id".into(), id.into());
    out.insert("lineno".into(), lineno.into());
    let name = name_text(&product.fields["name"]).unwrap_or_default();
    let code = scalar_text(&product.fields["code"]).unwrap_or_default();
    put_link(
        &mut out,
        "productId",
        wire_id(PRODUCT, product.id),
        &code,
        &name,
    );
    line_references(line, &mut out)?;
    for key in [
        "qty",
        "priceQty",
        "subQty",
        "oriTaxUnitPrice",
        "oriSum",
        "invExchRate",
        "invPriceExchRate",
    ] {
        if line.contains_key(key) {
            out.insert(
                key.into(),
                number(line, key, &format!("{at}.{key}"))?.into(),
            );
        }
    }
    for key in [
        "skuId",
        "unitExchangeType",
        "unitExchangeTypePrice",
        "consignTime",
        "memo",
    ] {
        if let Some(value) = line.get(key) {
            out.insert(key.into(), value.clone());
        }
    }
    let kind = line
        .get("orderProductType")
        .cloned()
        .unwrap_or_else(|| "SALE".into());
    out.insert("orderProductType".into(), kind);
    out.insert(
        "orderDetailPrices".into(),
        Value::Object(nested(line, "orderDetailPrices")),
    );
    Ok(Value::Object(out))
}

/// A line's units, tax code and organisations.
fn line_references(line: &Map<String, Value>, out: &mut Map<String, Value>) -> Result<(), YyError> {
    for key in ["masterUnitId", "iProductUnitId", "iProductAuxUnitId"] {
        if !missing(line, key) {
            put_doc(out, key, doc_param(line, key, &UNITS, "计量单位")?);
        }
    }
    let tax = doc_param(line, "taxId", &TAX_CODES, "税目")?;
    put_doc(out, "taxId", tax);
    out.insert("taxRate".into(), tax.rate.into());
    put_doc(
        out,
        "stockOrgId",
        doc_param(line, "stockOrgId", &ORGS, "库存组织")?,
    );
    put_doc(
        out,
        "settlementOrgId",
        doc_param(line, "settlementOrgId", &ORGS, "开票组织")?,
    );
    Ok(())
}

/// The orders a batch operation names: `{"data": [{"id": …}, …]}`.
fn batch_ids(body: &Value) -> Result<Vec<Value>, YyError> {
    match body.get("data") {
        Some(Value::Array(rows)) if !rows.is_empty() => Ok(rows
            .iter()
            .map(|r| r.get("id").cloned().unwrap_or(Value::Null))
            .collect()),
        Some(Value::Array(_)) | None | Some(Value::Null) => Err(YyError::required("data")),
        Some(_) => Err(YyError::wrong_type("data", "数组")),
    }
}

/// A state change: from the order's `verifystate` to the new one, or why not.
type Transition = fn(i64) -> Result<(i64, &'static str), &'static str>;

fn to_submitted(state: i64) -> Result<(i64, &'static str), &'static str> {
    match state {
        OPEN => Ok((SUBMITTED, "APPROVING")),
        SUBMITTED => Err("单据已提交，不能重复提交"),
        _ => Err("单据已审核，不能提交"),
    }
}

fn to_audited(state: i64) -> Result<(i64, &'static str), &'static str> {
    match state {
        AUDITED => Err("单据已审核，不能重复审核"),
        _ => Ok((AUDITED, "DELIVERGOODS")),
    }
}

fn to_open(state: i64) -> Result<(i64, &'static str), &'static str> {
    match state {
        AUDITED => Ok((OPEN, "CONFIRMORDER")),
        _ => Err("单据未审核，不能弃审"),
    }
}

/// Applies `change` to each named order; per-order results.
fn operate(ctx: &Ctx, body: &Value, change: Transition, event: &str) -> Result<Value, YyError> {
    let ids = batch_ids(body)?;
    let _writing = ctx.writing();
    let (mut messages, mut infos) = (Vec::new(), Vec::new());
    for id in &ids {
        match transition(ctx, id, change) {
            Ok(record) => {
                push::notify(ctx, event, push::order_payload(&record));
                infos.push(state_info(ctx, &record));
            }
            Err(message) => messages.push(message.into()),
        }
    }
    Ok(batch_body(ids.len(), messages, infos))
}

fn transition(ctx: &Ctx, id: &Value, change: Transition) -> Result<Record, String> {
    let shown = scalar_text(id).unwrap_or_default();
    let store = ctx.harness.store();
    let record = shown
        .parse()
        .ok()
        .and_then(|wire| store_id(VOUCHER_ORDER, wire))
        .and_then(|id| store.get(VOUCHER_ORDER, id).ok())
        .ok_or_else(|| format!("单据[{shown}]不存在"))?;
    let code = scalar_text(&record.fields["code"]).unwrap_or_default();
    let state = record.fields["verifystate"].as_i64().unwrap_or(OPEN);
    let (state, next) = change(state).map_err(|why| format!("单据[{code}]{why}"))?;
    let patch = json!({"verifystate": state, "nextStatusName": next});
    let patch = patch.as_object().cloned().unwrap_or_default();
    store
        .update(VOUCHER_ORDER, record.id, patch)
        .map_err(|e| e.to_string())
}

fn state_info(ctx: &Ctx, record: &Record) -> Value {
    json!({
        "id": wire_id(VOUCHER_ORDER, record.id),
        "code": record.fields["code"],
        "verifystate": record.fields["verifystate"],
        "nextStatus": record.fields["nextStatusName"],
        "pubts": local_text(record.updated_at, ctx.config.utc_offset),
    })
}

/// `POST /yonbip/sd/voucherorder/batchsubmit`.
pub fn submit(ctx: &Ctx, body: &Value) -> Result<Value, YyError> {
    operate(ctx, body, to_submitted, push::SALE_SUBMIT)
}

/// `POST /yonbip/sd/voucherorder/batchaudit` (from open or submitted: no approval flow).
pub fn audit(ctx: &Ctx, body: &Value) -> Result<Value, YyError> {
    operate(ctx, body, to_audited, push::SALE_AUDIT)
}

/// `POST /yonbip/sd/voucherorder/batchunaudit`.
pub fn unaudit(ctx: &Ctx, body: &Value) -> Result<Value, YyError> {
    operate(ctx, body, to_open, push::SALE_UNAUDIT)
}

/// `POST /yonbip/sd/voucherorder/delete` with `{"data": {"id": [...], "code": [...]}}`
/// (ids win when both are given); audited orders are refused per order.
pub fn delete(ctx: &Ctx, api: Api, body: &Value) -> Result<Value, YyError> {
    let data = data_object(body)?;
    let named = |key: &str| {
        data.get(key)
            .and_then(Value::as_array)
            .filter(|a| !a.is_empty())
    };
    let (ids, by_id) = match (named("id"), named("code")) {
        (Some(ids), _) => (ids.clone(), true),
        (None, Some(codes)) => (codes.clone(), false),
        (None, None) => return Err(YyError::required("data.id")),
    };
    run_once(ctx, api, &Value::Object(data.clone()), || {
        let (mut messages, mut infos) = (Vec::new(), Vec::new());
        for named in &ids {
            match delete_one(ctx, named, by_id) {
                Ok(info) => infos.push(info),
                Err(message) => messages.push(message.into()),
            }
        }
        Ok(Saved {
            answer: batch_body(ids.len(), messages, infos),
            id: Value::Array(ids.clone()),
        })
    })
}

fn delete_one(ctx: &Ctx, named: &Value, by_id: bool) -> Result<Value, String> {
    let shown = scalar_text(named).unwrap_or_default();
    let store = ctx.harness.store();
    let record = if by_id {
        shown
            .parse()
            .ok()
            .and_then(|wire| store_id(VOUCHER_ORDER, wire))
            .and_then(|id| store.get(VOUCHER_ORDER, id).ok())
    } else {
        store.find_by_key(VOUCHER_ORDER, &shown).ok().flatten()
    };
    let record = record.ok_or_else(|| format!("单据[{shown}]不存在"))?;
    if record.fields["verifystate"].as_i64() != Some(OPEN) {
        return Err(format!("单据[{shown}]已提交或已审核，删除失败！"));
    }
    store
        .delete(VOUCHER_ORDER, record.id)
        .map_err(|e| e.to_string())?;
    push::notify(ctx, push::SALE_DELETE, push::order_payload(&record));
    Ok(json!({"id": wire_id(VOUCHER_ORDER, record.id), "code": record.fields["code"]}))
}
