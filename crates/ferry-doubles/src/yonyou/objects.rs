//! The double's objects in the harness store, the ids it answers, the fixed base data
//! (organisations, classes, units, currencies, tax rates, transaction types), and the rows
//! the APIs answer for a record.
//!
//! Records are stored under the field names the APIs answer (`code`, `name`
//! `{"simplifiedName"}`, …); the store id becomes the answered `id` by adding a per-object
//! base (YonBIP ids are 16-digit numbers), and the store's modified time becomes `pubts`.

use chrono::{DateTime, FixedOffset, NaiveDateTime, Utc};
use serde_json::{Map, Value, json};

use crate::store::Record;

/// Customers (客户档案). Business key `code`.
pub const MERCHANT: &str = "merchant";
/// Materials (物料档案). Business key `code`.
pub const PRODUCT: &str = "product";
/// Sales orders (销售订单), lines under `orderDetails`. Business key `code`.
pub const VOUCHER_ORDER: &str = "voucherorder";

/// The format of `pubts`, `vouchdate` and every time filter: local time, no zone.
pub const TIME_FORMAT: &str = "%Y-%m-%d %H:%M:%S";

/// The answered id of store id 1 minus one, per object.
fn id_base(object: &str) -> u64 {
    match object {
        MERCHANT => 2_285_747_004_510_000,
        PRODUCT => 2_285_750_118_220_000,
        _ => 1_958_317_327_470_000,
    }
}

/// Sales-order line ids: this base + order store id × 1000 + line number.
const LINE_ID_BASE: u64 = 1_958_400_000_000_000;

/// The id the APIs answer for store id `id` of `object`.
pub fn wire_id(object: &str, id: u64) -> u64 {
    id_base(object) + id
}

/// The store id behind an answered id, if it is one of `object`'s.
pub fn store_id(object: &str, wire: u64) -> Option<u64> {
    wire.checked_sub(id_base(object))
        .filter(|id| (1..1_000_000_000).contains(id))
}

/// The id of line `line` (1-based) of the order with store id `order`.
pub fn line_id(order: u64, line: u64) -> u64 {
    LINE_ID_BASE + order * 1000 + line
}

/// A time in the server's local time, as `pubts` is written.
pub fn local_text(at: DateTime<Utc>, zone: FixedOffset) -> String {
    at.with_timezone(&zone).format(TIME_FORMAT).to_string()
}

/// A `yyyy-MM-dd HH:mm:ss` (or `yyyy-MM-dd`) local time as UTC.
pub fn parse_local(text: &str, zone: FixedOffset) -> Option<DateTime<Utc>> {
    let text = text.trim();
    let naive = NaiveDateTime::parse_from_str(text, TIME_FORMAT)
        .ok()
        .or_else(|| {
            chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .ok()
                .map(|d| d.and_time(chrono::NaiveTime::MIN))
        })?;
    naive.and_local_timezone(zone).single().map(|t| t.to_utc())
}

/// One entry of the fixed base data: id, code, name (and a rate for tax codes).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BaseDoc {
    pub id: u64,
    pub code: &'static str,
    pub name: &'static str,
    pub rate: f64,
}

const fn doc(id: u64, code: &'static str, name: &'static str) -> BaseDoc {
    BaseDoc {
        id,
        code,
        name,
        rate: 0.0,
    }
}

/// Organisations (管理组织 / 销售组织 / 库存组织 / 开票组织).
pub const ORGS: [BaseDoc; 3] = [
    doc(1_861_030_480_855_040, "global00", "Ferry 企业集团"),
    doc(1_861_030_480_855_041, "101", "华东销售公司"),
    doc(1_861_030_480_855_042, "102", "华南销售公司"),
];
/// Customer classes (客户分类).
pub const CUSTOMER_CLASSES: [BaseDoc; 2] = [
    doc(1_861_031_000_000_001, "01", "重点客户"),
    doc(1_861_031_000_000_002, "02", "普通客户"),
];
/// Material classes (物料分类).
pub const MANAGE_CLASSES: [BaseDoc; 2] = [
    doc(1_861_032_000_000_001, "01", "成品"),
    doc(1_861_032_000_000_002, "02", "原材料"),
];
/// Units (计量单位).
pub const UNITS: [BaseDoc; 4] = [
    doc(1_861_033_000_000_001, "PCS", "个"),
    doc(1_861_033_000_000_002, "KGM", "千克"),
    doc(1_861_033_000_000_003, "MTR", "米"),
    doc(1_861_033_000_000_004, "LTR", "升"),
];
/// Currencies (币种).
pub const CURRENCIES: [BaseDoc; 2] = [
    doc(1_861_034_000_000_001, "CNY", "人民币"),
    doc(1_861_034_000_000_002, "USD", "美元"),
];
/// Exchange-rate types (汇率类型).
pub const RATE_TYPES: [BaseDoc; 1] = [doc(1_861_035_000_000_001, "01", "基准汇率")];
/// Tax codes (税目), with their rate in percent.
pub const TAX_CODES: [BaseDoc; 3] = [
    BaseDoc {
        rate: 13.0,
        ..doc(1_861_036_000_000_013, "VAT13", "增值税13%")
    },
    BaseDoc {
        rate: 9.0,
        ..doc(1_861_036_000_000_009, "VAT9", "增值税9%")
    },
    doc(1_861_036_000_000_000, "VAT0", "零税率"),
];
/// Sales transaction types (交易类型).
pub const TRANSACTION_TYPES: [BaseDoc; 1] = [doc(1_861_037_000_000_001, "SO01", "普通销售")];

/// The entry of `docs` a client's value names: its id (number or numeric text) or its code.
pub fn find_doc<'a>(docs: &'a [BaseDoc], value: &Value) -> Option<&'a BaseDoc> {
    let text = scalar_text(value)?;
    docs.iter()
        .find(|d| d.code == text || d.id.to_string() == text)
}

/// A string or number as text; `None` for anything else or an empty string.
pub fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A record's fields with `id`, `pubts` and `createTime` added, minus the keys in `omit`.
pub fn row(object: &str, record: &Record, zone: FixedOffset, omit: &[&str]) -> Value {
    let mut out = Map::new();
    out.insert("id".into(), wire_id(object, record.id).into());
    for (k, v) in &record.fields {
        if !omit.contains(&k.as_str()) {
            out.insert(k.clone(), v.clone());
        }
    }
    out.insert("pubts".into(), local_text(record.updated_at, zone).into());
    out.insert(
        "createTime".into(),
        local_text(record.created_at, zone).into(),
    );
    Value::Object(out)
}

/// Sub-tables a customer list row leaves out (the detail API answers them).
pub const MERCHANT_SUBTABLES: [&str; 3] = [
    "merchantContactInfos",
    "merchantAddressInfos",
    "merchantAppliedDetail",
];
/// What a material list row leaves out.
pub const PRODUCT_SUBTABLES: [&str; 1] = ["detail"];

/// The simplified-Chinese text of a multilingual name (`{"simplifiedName"}` or `{"zh_CN"}`)
/// or of a plain string.
pub fn name_text(name: &Value) -> Option<String> {
    match name {
        Value::String(s) => Some(s.clone()),
        Value::Object(m) => m
            .get("simplifiedName")
            .or_else(|| m.get("zh_CN"))
            .and_then(scalar_text),
        _ => None,
    }
}

/// A name as stored and answered: `{"simplifiedName": text}`.
pub fn stored_name(text: &str) -> Value {
    json!({ "simplifiedName": text })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_stay_below_two_to_the_53() {
        for object in [MERCHANT, PRODUCT, VOUCHER_ORDER] {
            let wire = wire_id(object, 7);
            assert_eq!(store_id(object, wire), Some(7));
            assert!(wire < 1 << 53);
        }
        assert_eq!(store_id(MERCHANT, 12), None);
        assert!(line_id(999_999, 999) < 1 << 53);
    }

    #[test]
    fn local_times_are_beijing_time_without_a_zone() {
        let zone = super::super::config::beijing();
        let at = parse_local("2024-05-01 09:00:00", zone).unwrap();
        assert_eq!(at.to_rfc3339(), "2024-05-01T01:00:00+00:00");
        assert_eq!(local_text(at, zone), "2024-05-01 09:00:00");
        assert_eq!(
            parse_local("2024-05-01", zone).unwrap().to_rfc3339(),
            "2024-04-30T16:00:00+00:00"
        );
        assert_eq!(parse_local("05/01/2024", zone), None);
    }
}
