//! The double's starting records, the same every run: customers with Chinese names,
//! contacts and addresses; materials in two classes; sales orders with one to three lines in
//! every state. Each object's records are stamped from [`SEED_EPOCH`] on (one hour later per
//! object), `ties` records per second, so watermark readers meet ties.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Map, Value, json};

use super::config::YonyouSeed;
use super::objects::{
    CURRENCIES, CUSTOMER_CLASSES, MANAGE_CLASSES, MERCHANT, ORGS, PRODUCT, RATE_TYPES, TAX_CODES,
    TRANSACTION_TYPES, UNITS, VOUCHER_ORDER, line_id, local_text, wire_id,
};
use super::orders::{AUDITED, OPEN, SUBMITTED};
use crate::store::RecordStore;

/// The `pubts` of the first seeded customer: 2024-05-01 09:00:00 Beijing time.
pub const SEED_EPOCH: &str = "2024-05-01T01:00:00Z";

/// (name, credit code, contact, mobile, address) of the seeded customers.
const CUSTOMERS: [(&str, &str, &str, &str, &str); 6] = [
    (
        "北京星辰科技有限公司",
        "91110108MA01ABCD1X",
        "张伟",
        "13800000001",
        "北京市海淀区中关村大街1号",
    ),
    (
        "上海宏达贸易有限公司",
        "91310115MA1HXYZ23K",
        "李娜",
        "13900000002",
        "上海市浦东新区张江路100号",
    ),
    (
        "深圳华强电子有限公司",
        "91440300MA5DEFG45P",
        "王强",
        "13700000003",
        "深圳市福田区华强北路2号",
    ),
    (
        "广州南方食品有限公司",
        "91440101MA59HIJ67Q",
        "刘洋",
        "13600000004",
        "广州市天河区体育西路3号",
    ),
    (
        "杭州西湖茶业有限公司",
        "91330106MA2KLMN89R",
        "陈静",
        "13500000005",
        "杭州市西湖区龙井路6号",
    ),
    (
        "成都天府物流有限公司",
        "91510100MA6OPQR01S",
        "杨帆",
        "13400000006",
        "成都市高新区天府大道8号",
    ),
];

/// (name, specification, unit index, class index, tax-inclusive price) of the materials.
const MATERIALS: [(&str, &str, usize, usize, f64); 5] = [
    ("不锈钢螺栓 M8", "M8×30", 0, 0, 1.13),
    ("工业胶带", "48mm×50m", 0, 0, 33.9),
    ("铜芯电缆", "3×1.5mm²", 2, 1, 9.04),
    ("液压油", "46#", 3, 1, 113.0),
    ("深沟球轴承", "6204-2RS", 0, 0, 22.6),
];

fn epoch() -> DateTime<Utc> {
    SEED_EPOCH.parse().expect("SEED_EPOCH is RFC 3339")
}

/// The stamp of record `index` (0-based) of the object seeded `hour` hours after the epoch.
fn stamp(hour: i64, index: usize, ties: usize) -> DateTime<Utc> {
    let second = i64::try_from(index / ties.max(1)).unwrap_or(0);
    epoch() + Duration::hours(hour) + Duration::seconds(second)
}

fn object(value: Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap_or_default()
}

/// Declares the objects and writes the seed records.
pub fn fill(store: &RecordStore, seed: &YonyouSeed) {
    for name in [MERCHANT, PRODUCT, VOUCHER_ORDER] {
        store.define(name, "code");
    }
    for i in 0..seed.customers {
        let _ = store.insert_at(MERCHANT, customer(i), stamp(0, i, seed.ties));
    }
    for i in 0..seed.materials {
        let _ = store.insert_at(PRODUCT, material(i), stamp(1, i, seed.ties));
    }
    let zone = super::config::beijing();
    for i in 0..seed.sales_orders {
        let at = stamp(2, i, seed.ties);
        let order = sales_order(i, seed, &local_text(at, zone));
        let _ = store.insert_at(VOUCHER_ORDER, order, at);
    }
}

/// A name from `table` for record `i`, numbered once the table is used up.
fn nth<T: Copy>(table: &[T], i: usize) -> (T, String) {
    let suffix = if i < table.len() {
        String::new()
    } else {
        format!("（{}）", i / table.len() + 1)
    };
    (table[i % table.len()], suffix)
}

fn customer(i: usize) -> Map<String, Value> {
    let ((name, credit, contact, mobile, address), suffix) = nth(&CUSTOMERS, i);
    let org = &ORGS[i % 2];
    let class = &CUSTOMER_CLASSES[usize::from(i.is_multiple_of(3))];
    object(json!({
        "code": format!("C{:04}", i + 1),
        "name": {"simplifiedName": format!("{name}{suffix}")},
        "createOrgId": org.id, "createOrgCode": org.code, "createOrgName": org.name,
        "belongOrgId": org.id, "belongOrgCode": org.code, "belongOrgName": org.name,
        "customerClassId": class.id, "customerClassCode": class.code, "customerClassName": class.name,
        "enterpriseNature": 0,
        "enterpriseName": format!("{name}{suffix}"),
        "licenseType": 0,
        "creditCode": credit,
        "taxPayingCategories": 0,
        "stopstatus": false,
        "merchantContactInfos": [{"fullName": contact, "mobile": mobile, "isDefault": true}],
        "merchantAddressInfos": [{"addressCode": "A1", "address": address, "isDefault": true}],
    }))
}

fn material(i: usize) -> Map<String, Value> {
    let ((name, spec, unit, class, _), suffix) = nth(&MATERIALS, i);
    let (unit, class, org) = (&UNITS[unit], &MANAGE_CLASSES[class], &ORGS[0]);
    object(json!({
        "code": format!("M{:04}", i + 1),
        "name": {"simplifiedName": format!("{name}{suffix}")},
        "orgId": org.id, "orgCode": org.code, "orgName": org.name, "createOrgId": org.id,
        "manageClass": class.id, "manageClassCode": class.code, "manageClassName": class.name,
        "realProductAttribute": 1,
        "unitUseType": 2,
        "unit": unit.id, "unitCode": unit.code, "unitName": unit.name,
        "modelDescription": spec,
        "detail": {"purchaseUnitCode": unit.code, "stockUnitCode": unit.code, "businessAttribute": "1,7"},
        "stopstatus": false,
    }))
}

/// A reference as orders store it: id, `_code`, `_name`.
fn link(out: &mut Map<String, Value>, key: &str, id: u64, code: &str, name: &str) {
    out.insert(key.into(), id.into());
    out.insert(format!("{key}_code"), code.into());
    out.insert(format!("{key}_name"), name.into());
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Line `n` (1-based) of seeded order `order` (0-based), for material `m`.
fn order_line(order: usize, n: usize, m: usize) -> Value {
    let ((name, _, unit, _, price), suffix) = nth(&MATERIALS, m);
    let (unit, tax, org) = (&UNITS[unit], &TAX_CODES[0], &ORGS[1]);
    let qty = (10 * n + order) as f64;
    let sum = round2(qty * price);
    let money = round2(sum / 1.13);
    let mut out = Map::new();
    out.insert("id".into(), line_id(order as u64 + 1, n as u64).into());
    out.insert("lineno".into(), (n as u64).into());
    link(
        &mut out,
        "productId",
        wire_id(PRODUCT, m as u64 + 1),
        &format!("M{:04}", m + 1),
        &format!("{name}{suffix}"),
    );
    for key in ["masterUnitId", "iProductUnitId", "iProductAuxUnitId"] {
        link(&mut out, key, unit.id, unit.code, unit.name);
    }
    link(&mut out, "taxId", tax.id, tax.code, tax.name);
    link(&mut out, "stockOrgId", org.id, org.code, org.name);
    link(&mut out, "settlementOrgId", org.id, org.code, org.name);
    let fields = json!({
        "taxRate": tax.rate, "qty": qty, "priceQty": qty, "subQty": qty,
        "oriTaxUnitPrice": price, "oriSum": sum, "orderProductType": "SALE",
        "orderDetailPrices": {"oriUnitPrice": round2(price / 1.13), "oriMoney": money,
                              "oriTax": round2(sum - money)},
    });
    out.extend(object(fields));
    Value::Object(out)
}

fn sales_order(i: usize, seed: &YonyouSeed, vouchdate: &str) -> Map<String, Value> {
    let materials = seed.materials.max(1);
    let lines: Vec<Value> = (1..=(i % 3) + 1)
        .map(|n| order_line(i, n, (i + n - 1) % materials))
        .collect();
    let pay = round2(lines.iter().filter_map(|l| l["oriSum"].as_f64()).sum());
    let state = [AUDITED, SUBMITTED, OPEN, AUDITED][i % 4];
    let next = ["DELIVERGOODS", "APPROVING", "CONFIRMORDER", "DELIVERGOODS"][i % 4];
    let c = i % seed.customers.max(1);
    let ((customer, ..), suffix) = nth(&CUSTOMERS, c);
    let customer_name = format!("{customer}{suffix}");
    let customer_code = format!("C{:04}", c + 1);
    let mut out = Map::new();
    out.insert("code".into(), format!("UO-20240501{:06}", i + 1).into());
    out.insert("vouchdate".into(), vouchdate.into());
    let (org, kind) = (&ORGS[1], &TRANSACTION_TYPES[0]);
    link(&mut out, "salesOrgId", org.id, org.code, org.name);
    link(&mut out, "settlementOrgId", org.id, org.code, org.name);
    link(&mut out, "transactionTypeId", kind.id, kind.code, kind.name);
    let customer_id = wire_id(MERCHANT, c as u64 + 1);
    link(
        &mut out,
        "agentId",
        customer_id,
        &customer_code,
        &customer_name,
    );
    link(
        &mut out,
        "invoiceAgentId",
        customer_id,
        &customer_code,
        &customer_name,
    );
    let (cny, rate) = (&CURRENCIES[0], &RATE_TYPES[0]);
    let mut prices = Map::new();
    link(&mut prices, "currency", cny.id, cny.code, cny.name);
    link(&mut prices, "natCurrency", cny.id, cny.code, cny.name);
    link(
        &mut prices,
        "exchangeRateType",
        rate.id,
        rate.code,
        rate.name,
    );
    prices.insert("exchRate".into(), 1.into());
    prices.insert("taxInclusive".into(), true.into());
    let rest = json!({
        "payMoney": pay, "orderPrices": prices, "memo": format!("种子订单{}", i + 1),
        "verifystate": state, "nextStatusName": next, "orderDetails": lines,
    });
    out.extend(object(rest));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Clock;

    #[test]
    fn the_seed_ties_records_and_balances_orders() {
        let store = RecordStore::new(Clock::system());
        fill(&store, &YonyouSeed::default());
        let customers = store.list(MERCHANT, None, None).unwrap();
        assert_eq!(customers.len(), 6);
        assert_eq!(customers[0].updated_at, customers[1].updated_at);
        assert_ne!(customers[1].updated_at, customers[2].updated_at);
        for order in store.list(VOUCHER_ORDER, None, None).unwrap() {
            let lines = order.fields["orderDetails"].as_array().unwrap();
            let sum: f64 = lines.iter().map(|l| l["oriSum"].as_f64().unwrap()).sum();
            assert!((order.fields["payMoney"].as_f64().unwrap() - sum).abs() < 0.005);
        }
        let big = RecordStore::new(Clock::system());
        fill(
            &big,
            &YonyouSeed {
                customers: 8,
                ..YonyouSeed::default()
            },
        );
        let seventh = big.find_by_key(MERCHANT, "C0007").unwrap().unwrap();
        assert_eq!(
            seventh.fields["name"]["simplifiedName"],
            "北京星辰科技有限公司（2）"
        );
    }
}
