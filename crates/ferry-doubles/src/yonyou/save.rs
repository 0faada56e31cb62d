//! Base-data writes: the customer save (`merchant/idempotent/newinsert`, insert only, MDD),
//! the customer batch save (`batch/merchant/save`, `_status` Insert/Update by code, per-row
//! results) and the material save (`product/idempotent/save`, upsert by code, MDD).
//!
//! Refusals follow each API's documented shape: the customer save answers code 0 with
//! `"data": null` (`客户名称不能为空!`); the material save's required parameters answer
//! 310008 and unknown references 999 `<名称>:<值>未找到`; the batch save answers 200 with
//! `failCount` and one message per refused row.

use serde_json::{Map, Value, json};

use super::Ctx;
use super::api::Api;
use super::envelope::{YyError, batch_body, ok_body};
use super::idempotency::{Saved, run_once};
use super::objects::{
    BaseDoc, CUSTOMER_CLASSES, MANAGE_CLASSES, MERCHANT, ORGS, PRODUCT, UNITS, find_doc, name_text,
    scalar_text, stored_name, wire_id,
};
use super::push;
use crate::error::StoreError;
use crate::store::Record;

/// The `data` object of a save body.
pub fn data_object(body: &Value) -> Result<&Map<String, Value>, YyError> {
    match body.get("data") {
        None | Some(Value::Null) => Err(YyError::required("data")),
        Some(Value::Object(data)) => Ok(data),
        Some(_) => Err(YyError::wrong_type("data", "对象")),
    }
}

/// `data[key]` as text, if present and not empty.
pub fn text(data: &Map<String, Value>, key: &str) -> Option<String> {
    data.get(key).and_then(scalar_text)
}

/// The `ref` fields of a reference to `doc`: `<prefix>Id`, `<prefix>Code`, `<prefix>Name`.
fn put_ref(fields: &mut Map<String, Value>, prefix: &str, doc: &BaseDoc) {
    fields.insert(format!("{prefix}Id"), doc.id.into());
    fields.insert(format!("{prefix}Code"), doc.code.into());
    fields.insert(format!("{prefix}Name"), doc.name.into());
}

/// The entry of `docs` named by `value`, or the refusal `<caption>:<value>未找到`.
pub fn resolve<'a>(
    docs: &'a [BaseDoc],
    value: &Value,
    caption: &str,
    refuse: fn(String) -> YyError,
) -> Result<&'a BaseDoc, YyError> {
    find_doc(docs, value).ok_or_else(|| {
        let shown = scalar_text(value).unwrap_or_default();
        refuse(format!("{caption}:{shown}未找到"))
    })
}

/// Customer fields copied as sent by both customer saves.
const MERCHANT_PLAIN: [&str; 9] = [
    "enterpriseNature",
    "enterpriseName",
    "personName",
    "licenseType",
    "creditCode",
    "taxPayingCategories",
    "transTypeCode",
    "shortname",
    "merchantAgentFinancialInfos",
];

/// `POST /yonbip/digitalModel/merchant/idempotent/newinsert`.
pub fn insert_merchant(ctx: &Ctx, api: Api, body: &Value) -> Result<Value, YyError> {
    let data = data_object(body)?;
    run_once(ctx, api, &Value::Object(data.clone()), || {
        let fields = new_merchant(data)?;
        let code = text(data, "code").unwrap_or_default();
        let record = ctx
            .harness
            .store()
            .insert(MERCHANT, fields)
            .map_err(|e| duplicate_merchant(&e, &code))?;
        push::notify(ctx, push::MERCHANT_INSERT, push::merchant_payload(&record));
        let id = wire_id(MERCHANT, record.id);
        Ok(Saved {
            answer: json!({"code": "200", "success": true, "data": [{"id": id, "code": code}]}),
            id: id.into(),
        })
    })
}

fn duplicate_merchant(error: &StoreError, code: &str) -> YyError {
    match error {
        StoreError::DuplicateKey { .. } => {
            YyError::customer_refused(format!("客户编码[{code}]已存在!"))
        }
        other => YyError::business(other.to_string()),
    }
}

/// The stored fields of a customer sent to `newinsert` (name `simplifiedName`,
/// `createOrgCode`), refused with code 0 naming the first missing or unknown field.
fn new_merchant(data: &Map<String, Value>) -> Result<Map<String, Value>, YyError> {
    let refuse = YyError::customer_refused;
    let name = data
        .get("name")
        .and_then(|n| n.get("simplifiedName"))
        .and_then(scalar_text);
    let name = name.ok_or_else(|| refuse("客户名称不能为空!".into()))?;
    let code = text(data, "code").ok_or_else(|| refuse("客户编码不能为空!".into()))?;
    let org = data
        .get("createOrgCode")
        .filter(|v| scalar_text(v).is_some())
        .ok_or_else(|| refuse("管理组织不能为空!".into()))?;
    let org = resolve(&ORGS, org, "管理组织编码", refuse)?;
    let mut fields = Map::new();
    fields.insert("code".into(), code.into());
    let mut stored = data["name"].as_object().cloned().unwrap_or_default();
    stored.insert("simplifiedName".into(), name.into());
    fields.insert("name".into(), Value::Object(stored));
    put_ref(&mut fields, "createOrg", org);
    put_ref(&mut fields, "belongOrg", org);
    if let Some(class) = data
        .get("customerClassCode")
        .filter(|v| scalar_text(v).is_some())
    {
        let class = resolve(&CUSTOMER_CLASSES, class, "客户分类编码", refuse)?;
        put_ref(&mut fields, "customerClass", class);
    }
    copy_plain(data, &mut fields, &MERCHANT_PLAIN);
    fields.insert(
        "merchantContactInfos".into(),
        contacts(data.get("merchantContactInfos"))?,
    );
    fields.insert(
        "merchantAddressInfos".into(),
        addresses(data.get("merchantAddressInfos"))?,
    );
    fields.insert("stopstatus".into(), false.into());
    Ok(fields)
}

fn copy_plain(data: &Map<String, Value>, fields: &mut Map<String, Value>, keys: &[&str]) {
    for key in keys {
        if let Some(value) = data.get(*key) {
            fields.insert((*key).to_owned(), value.clone());
        }
    }
}

/// A sub-table's rows (absent = none), each needing `required`, at most one `isDefault`.
fn sub_rows(
    value: Option<&Value>,
    table: &str,
    required: &[(&str, &str)],
) -> Result<Value, YyError> {
    let refuse = YyError::customer_refused;
    let rows = match value {
        None | Some(Value::Null) => return Ok(json!([])),
        Some(Value::Array(rows)) => rows,
        Some(_) => return Err(YyError::wrong_type(table, "数组")),
    };
    let mut defaults = 0;
    let mut out = Vec::new();
    for row in rows {
        let mut row = row.as_object().cloned().unwrap_or_default();
        for (key, caption) in required {
            if row.get(*key).is_none_or(|v| v.is_null() || v == "") {
                return Err(refuse(format!("{caption}[{key}]不能为空!")));
            }
        }
        if is_true(row.get("isDefault")) {
            defaults += 1;
        }
        row.remove("_status");
        out.push(Value::Object(row));
    }
    if defaults > 1 {
        return Err(refuse(format!("{table}只能有一个默认值!")));
    }
    Ok(Value::Array(out))
}

/// `true`, or the text `"true"` (examples write booleans as text).
pub fn is_true(value: Option<&Value>) -> bool {
    value.is_some_and(|v| v.as_bool() == Some(true) || v.as_str() == Some("true"))
}

fn contacts(value: Option<&Value>) -> Result<Value, YyError> {
    let required = [("fullName", "联系人姓名"), ("isDefault", "是否默认")];
    sub_rows(value, "merchantContactInfos", &required)
}

fn addresses(value: Option<&Value>) -> Result<Value, YyError> {
    let required = [
        ("addressCode", "地址编码"),
        ("address", "详细地址"),
        ("isDefault", "是否默认"),
    ];
    sub_rows(value, "merchantAddressInfos", &required)
}

/// `POST /yonbip/digitalModel/batch/merchant/save`: each row on its own.
pub fn batch_save_merchants(ctx: &Ctx, body: &Value) -> Result<Value, YyError> {
    let rows = match body.get("data") {
        Some(Value::Array(rows)) if !rows.is_empty() => rows,
        Some(Value::Array(_)) | None | Some(Value::Null) => return Err(YyError::required("data")),
        Some(_) => return Err(YyError::wrong_type("data", "数组")),
    };
    let _writing = ctx.writing();
    let (mut messages, mut infos) = (Vec::new(), Vec::new());
    for row in rows {
        let row = row.as_object().cloned().unwrap_or_default();
        let code = text(&row, "code").unwrap_or_default();
        match batch_row(ctx, &row) {
            Ok(info) => infos.push(info),
            Err(message) => messages.push(format!("客户[{code}]：{message}").into()),
        }
    }
    Ok(batch_body(rows.len(), messages, infos))
}

/// One batch row saved; its info, or why it was refused.
fn batch_row(ctx: &Ctx, row: &Map<String, Value>) -> Result<Value, String> {
    let code = text(row, "code").ok_or("客户编码[code]不能为空")?;
    let store = ctx.harness.store();
    let existing = store.find_by_key(MERCHANT, &code).ok().flatten();
    let record = match (text(row, "_status").as_deref(), existing) {
        (Some("Insert"), None) => {
            let fields = batch_fields(row, true)?;
            let record = store.insert(MERCHANT, fields).map_err(|e| e.to_string())?;
            push::notify(ctx, push::MERCHANT_INSERT, push::merchant_payload(&record));
            record
        }
        (Some("Insert"), Some(_)) => return Err(format!("客户编码[{code}]已存在")),
        (Some("Update"), Some(old)) => {
            let patch = batch_patch(row, &old)?;
            let record = store
                .update(MERCHANT, old.id, patch)
                .map_err(|e| e.to_string())?;
            push::notify(ctx, push::MERCHANT_UPDATE, push::merchant_payload(&record));
            record
        }
        (Some("Update"), None) => return Err(format!("客户编码:{code}未找到")),
        _ => return Err("操作状态[_status]应为Insert或Update".into()),
    };
    let zone = ctx.config.utc_offset;
    Ok(json!({"id": wire_id(MERCHANT, record.id), "code": code,
              "pubts": super::objects::local_text(record.updated_at, zone)}))
}

/// The stored fields a batch row sets (`name.zh_CN`, `org_code`, `customerClass_code`);
/// an insert needs all of them and `merchantAppliedDetail`.
fn batch_fields(row: &Map<String, Value>, insert: bool) -> Result<Map<String, Value>, String> {
    let mut fields = Map::new();
    let as_text = |e: YyError| e.message;
    if let Some(code) = text(row, "code") {
        fields.insert("code".into(), code.into());
    }
    match row
        .get("name")
        .and_then(|n| n.get("zh_CN"))
        .and_then(scalar_text)
    {
        Some(name) => _ = fields.insert("name".into(), stored_name(&name)),
        None if insert => return Err("客户名称[name.zh_CN]不能为空".into()),
        None => {}
    }
    match row.get("org_code").filter(|v| scalar_text(v).is_some()) {
        Some(org) => {
            let org = resolve(&ORGS, org, "管理组织编码", YyError::business).map_err(as_text)?;
            put_ref(&mut fields, "createOrg", org);
            put_ref(&mut fields, "belongOrg", org);
        }
        None if insert => return Err("管理组织编码[org_code]不能为空".into()),
        None => {}
    }
    let class = row
        .get("customerClass_code")
        .or_else(|| row.get("customerClassErpCode"))
        .filter(|v| scalar_text(v).is_some());
    match class {
        Some(class) => {
            let class = resolve(&CUSTOMER_CLASSES, class, "客户分类编码", YyError::business)
                .map_err(as_text)?;
            put_ref(&mut fields, "customerClass", class);
        }
        None if insert => return Err("客户分类编码[customerClass_code]不能为空".into()),
        None => {}
    }
    match row.get("merchantAppliedDetail").filter(|v| v.is_object()) {
        Some(detail) => _ = fields.insert("merchantAppliedDetail".into(), detail.clone()),
        None if insert => return Err("客户业务信息[merchantAppliedDetail]不能为空".into()),
        None => {}
    }
    copy_plain(row, &mut fields, &MERCHANT_PLAIN);
    if insert {
        fields.insert("stopstatus".into(), false.into());
    }
    Ok(fields)
}

/// An update's patch: the fields sent, sub-table rows merged into the existing ones
/// (contacts by `fullName`, addresses by `addressCode`).
fn batch_patch(row: &Map<String, Value>, old: &Record) -> Result<Map<String, Value>, String> {
    let mut patch = batch_fields(row, false)?;
    let tables = [
        ("merchantContacterInfos", "merchantContactInfos", "fullName"),
        (
            "merchantAddressInfos",
            "merchantAddressInfos",
            "addressCode",
        ),
    ];
    for (sent_key, stored_key, match_key) in tables {
        if let Some(Value::Array(sent)) = row.get(sent_key) {
            let merged = merge_rows(old.fields.get(stored_key), sent, match_key);
            patch.insert(stored_key.into(), merged);
        }
    }
    Ok(patch)
}

fn merge_rows(existing: Option<&Value>, sent: &[Value], match_key: &str) -> Value {
    let mut rows: Vec<Value> = existing
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for row in sent {
        let mut row = row.as_object().cloned().unwrap_or_default();
        row.remove("_status");
        let key = row.get(match_key).cloned();
        match rows
            .iter_mut()
            .find(|r| key.is_some() && r.get(match_key) == key.as_ref())
        {
            Some(Value::Object(old)) => old.extend(row),
            _ => rows.push(Value::Object(row)),
        }
    }
    Value::Array(rows)
}

/// `POST /yonbip/digitalModel/product/idempotent/save`: insert when the code is new,
/// update when it exists.
pub fn save_product(ctx: &Ctx, api: Api, body: &Value) -> Result<Value, YyError> {
    let data = data_object(body)?;
    run_once(ctx, api, &Value::Object(data.clone()), || {
        let fields = product_fields(data)?;
        let code = text(data, "code").unwrap_or_default();
        let store = ctx.harness.store();
        let (record, event) = match store.find_by_key(PRODUCT, &code).ok().flatten() {
            Some(old) => (store.update(PRODUCT, old.id, fields), push::PRODUCT_UPDATE),
            None => (store.insert(PRODUCT, fields), push::PRODUCT_INSERT),
        };
        let record = record.map_err(|e| YyError::business(e.to_string()))?;
        push::notify(ctx, event, push::product_payload(&record));
        let id = wire_id(PRODUCT, record.id);
        Ok(Saved {
            answer: ok_body(json!({ "id": id })),
            id: id.into(),
        })
    })
}

/// A required parameter of `data`: present and not empty, else 310008 naming it.
fn required<'a>(data: &'a Map<String, Value>, key: &str) -> Result<&'a Value, YyError> {
    data.get(key)
        .filter(|v| !v.is_null() && *v != "")
        .ok_or_else(|| YyError::required(&format!("data.{key}")))
}

/// The first of two alternative parameters (`orgCode` before `orgId`: code wins).
fn either<'a>(data: &'a Map<String, Value>, code: &str, id: &str) -> Result<&'a Value, YyError> {
    required(data, code).or_else(|_| required(data, id))
}

/// An enumerated integer parameter with its allowed values.
fn choice(data: &Map<String, Value>, key: &str, allowed: &[i64]) -> Result<i64, YyError> {
    let value = required(data, key)?;
    let number = value
        .as_i64()
        .or_else(|| value.as_str().and_then(|s| s.parse().ok()))
        .ok_or_else(|| YyError::wrong_type(&format!("data.{key}"), "整数"))?;
    if !allowed.contains(&number) {
        return Err(YyError::business(format!("{key}的值[{number}]不合法")));
    }
    Ok(number)
}

/// The stored fields of a material (`name.simplifiedName`, code-or-id references).
fn product_fields(data: &Map<String, Value>) -> Result<Map<String, Value>, YyError> {
    let code = required(data, "code")?.clone();
    let name = required(data, "name").map(name_text)?;
    let name = name.ok_or_else(|| YyError::required("data.name.simplifiedName"))?;
    let org = resolve(
        &ORGS,
        either(data, "orgCode", "orgId")?,
        "组织编码",
        YyError::business,
    )?;
    let class = either(data, "manageClassCode", "manageClass")?;
    let class = resolve(&MANAGE_CLASSES, class, "物料分类编码", YyError::business)?;
    let real = choice(data, "realProductAttribute", &[1, 2])?;
    let unit_use = choice(data, "unitUseType", &[1, 2])?;
    let unit = match unit_use {
        2 => resolve(
            &UNITS,
            either(data, "unitCode", "unit")?,
            "计量单位编码",
            YyError::business,
        )?,
        _ => &UNITS[0],
    };
    let detail = required(data, "detail")?;
    let detail = detail
        .as_object()
        .ok_or_else(|| YyError::wrong_type("data.detail", "对象"))?;
    for key in ["purchaseUnitCode", "stockUnitCode"] {
        if let Some(value) = detail.get(key).filter(|v| scalar_text(v).is_some()) {
            resolve(&UNITS, value, "计量单位编码", YyError::business)?;
        }
    }
    let mut stored = data["name"].as_object().cloned().unwrap_or_default();
    stored.insert("simplifiedName".into(), name.into());
    let mut fields = Map::new();
    fields.insert("code".into(), code);
    fields.insert("name".into(), Value::Object(stored));
    put_ref(&mut fields, "org", org);
    fields.insert("createOrgId".into(), org.id.into());
    fields.insert("manageClass".into(), class.id.into());
    fields.insert("manageClassCode".into(), class.code.into());
    fields.insert("manageClassName".into(), class.name.into());
    fields.insert("realProductAttribute".into(), real.into());
    fields.insert("unitUseType".into(), unit_use.into());
    fields.insert("unit".into(), unit.id.into());
    fields.insert("unitCode".into(), unit.code.into());
    fields.insert("unitName".into(), unit.name.into());
    copy_plain(
        data,
        &mut fields,
        &["modelDescription", "shortName", "erpCode"],
    );
    fields.insert("detail".into(), Value::Object(detail.clone()));
    fields.insert("stopstatus".into(), false.into());
    Ok(fields)
}
