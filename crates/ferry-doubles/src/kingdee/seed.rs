//! The double's starting records: the same every run. Customers, materials with stock rows
//! in two warehouses, one price list, and sales orders in every status. Each form's records
//! are stamped from [`SEED_EPOCH`] on, two records per modified second (so a watermark
//! reader meets ties).

use chrono::{DateTime, Duration, Utc};
use serde_json::{Map, Value, json};

use super::amounts;
use super::config::KingdeeSeed;
use super::forms::{self, FORMS, Form};
use crate::store::RecordStore;

/// The modified time of the first seeded record of each form (09:00 in Shanghai).
pub const SEED_EPOCH: &str = "2024-05-01T01:00:00Z";

/// (name, short name, phone, address, tax number) of the seeded customers.
const CUSTOMERS: [(&str, &str, &str, &str); 6] = [
    (
        "上海宏达贸易有限公司",
        "宏达贸易",
        "021-5555-0101",
        "上海市浦东新区张江路100号",
    ),
    (
        "北京星辰科技有限公司",
        "星辰科技",
        "010-6666-0202",
        "北京市海淀区中关村大街1号",
    ),
    (
        "深圳华强电子有限公司",
        "华强电子",
        "0755-8888-0303",
        "深圳市福田区华强北路2号",
    ),
    (
        "广州南方食品有限公司",
        "南方食品",
        "020-3333-0404",
        "广州市天河区体育西路3号",
    ),
    (
        "Acme Trading GmbH",
        "Acme",
        "+49 40 5555 0505",
        "Speicherstadt 5, Hamburg",
    ),
    (
        "杭州西湖茶业有限公司",
        "西湖茶业",
        "0571-8777-0606",
        "杭州市西湖区龙井路6号",
    ),
];

/// (name, specification, base unit, price) of the seeded materials. The fifth has a blank
/// unit reference, answered as `" "` (see the README).
const MATERIALS: [(&str, &str, &str, f64); 5] = [
    ("不锈钢螺栓 M8", "M8×30", "Pcs", 12.5),
    ("工业胶带", "48mm×50m", "Pcs", 35.0),
    ("铜芯电缆", "3×1.5mm²", "m", 8.8),
    ("液压油", "46#", "L", 96.0),
    ("深沟球轴承", "6204-2RS", " ", 18.0),
];

/// Declares every form and writes the seed records.
pub fn fill(store: &RecordStore, seed: &KingdeeSeed) {
    for form in FORMS {
        store.define(form.id, form.number.unwrap_or("FID"));
    }
    let customers: Vec<Value> = (1..=seed.customers).map(customer).collect();
    let materials: Vec<Value> = (1..=seed.materials).map(material).collect();
    insert_all(store, &forms::BD_CUSTOMER, customers, 0);
    insert_all(store, &forms::BD_MATERIAL, materials, 1);
    insert_all(store, &forms::STK_INVENTORY, inventory(seed.materials), 2);
    insert_all(
        store,
        &forms::BD_SAL_PRICELIST,
        vec![price_list(seed.materials)],
        3,
    );
    let orders = (1..=seed.sales_orders)
        .map(|i| sales_order(i, seed))
        .collect();
    insert_all(store, &forms::SAL_SALEORDER, orders, 4);
}

fn insert_all(store: &RecordStore, form: &Form, records: Vec<Value>, hour: i64) {
    let epoch: DateTime<Utc> = SEED_EPOCH.parse().expect("the seed epoch is a time");
    for (i, record) in records.into_iter().enumerate() {
        let Value::Object(mut fields) = record else {
            unreachable!("seed records are objects")
        };
        amounts::compute(form, &mut fields);
        let second = i64::try_from(i / 2).unwrap_or(0);
        let at = epoch + Duration::hours(hour) + Duration::seconds(second);
        store
            .insert_at(form.id, fields, at)
            .expect("seed numbers are unique");
    }
}

fn org() -> Value {
    json!({"FNumber": "100"})
}

fn customer(i: usize) -> Value {
    let (name, short, phone, address) = CUSTOMERS[(i - 1) % CUSTOMERS.len()];
    let round = (i - 1) / CUSTOMERS.len();
    let name = if round == 0 {
        name.to_owned()
    } else {
        format!("{name}（{round}）")
    };
    let currency = if short == "Acme" { "PRE007" } else { "PRE001" };
    json!({
        "FNumber": format!("CUST{i:04}"), "FName": name, "FShortName": short,
        "FTEL": phone, "FADDRESS": address,
        "FTAXREGISTERCODE": format!("91310115MA1H{i:06}"),
        "FCreateOrgId": org(), "FUseOrgId": org(),
        "FTRADINGCURRID": {"FNumber": currency},
        "FCreditAmount": (i as f64) * 100_000.0,
        "FDocumentStatus": if i == 6 { "A" } else { "C" },
        "FForbidStatus": if i == 5 { "B" } else { "A" },
    })
}

fn material_of(i: usize) -> (&'static str, &'static str, &'static str, f64) {
    MATERIALS[(i - 1) % MATERIALS.len()]
}

fn material(i: usize) -> Value {
    let (name, spec, unit, _) = material_of(i);
    json!({
        "FNumber": format!("MAT{i:04}"), "FName": name, "FSpecification": spec,
        "FBaseUnitId": {"FNumber": unit},
        "FCreateOrgId": org(), "FUseOrgId": org(),
        "FDocumentStatus": "C", "FForbidStatus": "A",
    })
}

/// Every material in the finished-goods warehouse, the first two also in raw materials.
fn inventory(materials: usize) -> Vec<Value> {
    let row = |i: usize, stock: &str, qty: f64| {
        let (_, _, unit, _) = material_of(i);
        json!({
            "FMaterialId": {"FNumber": format!("MAT{i:04}")},
            "FStockId": {"FNumber": stock}, "FStockOrgId": org(),
            "FBaseUnitId": {"FNumber": unit}, "FBaseQty": qty, "FQty": qty,
        })
    };
    let finished = (1..=materials).map(|i| row(i, "CK001", 100.0 * i as f64));
    let raw = (1..=materials.min(2)).map(|i| row(i, "CK002", 10.0 * i as f64 + 0.5));
    finished.chain(raw).collect()
}

fn price_list(materials: usize) -> Value {
    let lines: Vec<Value> = (1..=materials)
        .map(|i| {
            let (_, _, unit, price) = material_of(i);
            json!({
                "FEntryID": i, "FMaterialId": {"FNumber": format!("MAT{i:04}")},
                "FPriceUnitId": {"FNumber": unit}, "FPrice": price,
            })
        })
        .collect();
    json!({
        "FNumber": "XSJMB0001", "FName": "标准销售价目表", "FCreateOrgId": org(),
        "FCurrencyId": {"FNumber": "PRE001"},
        "FDocumentStatus": "C", "FForbidStatus": "A", "FEntity": lines,
    })
}

/// Order `i`: statuses cycle C, B, A, C …; 1 to 3 lines; entry ids numbered across orders.
fn sales_order(i: usize, seed: &KingdeeSeed) -> Value {
    let customer = 1 + (i - 1) % seed.customers.clamp(1, 4);
    let first_entry: usize = (1..i).map(lines_of).sum::<usize>() + 1;
    let lines: Vec<Value> = (0..lines_of(i))
        .map(|n| {
            let m = 1 + (i + n) % seed.materials.max(1);
            let (_, _, unit, price) = material_of(m);
            json!({
                "FEntryID": first_entry + n, "FMaterialId": {"FNumber": format!("MAT{m:04}")},
                "FUnitID": {"FNumber": unit.trim()}, "FQty": (n + 1) as f64 * 10.0,
                "FPrice": price, "FEntryTaxRate": 13.0,
                "FDeliveryDate": format!("2024-05-{:02}T00:00:00", 10 + i % 18),
            })
        })
        .collect();
    let status = ["C", "C", "B", "A"][i % 4];
    let mut order: Map<String, Value> = json!({
        "FBillNo": format!("XSDD{i:06}"), "FDate": format!("2024-05-{:02}T00:00:00", 1 + i % 28),
        "FSaleOrgId": org(), "FCustId": {"FNumber": format!("CUST{customer:04}")},
        "FNote": format!("第{i}批订单"), "FSettleCurrId": {"FNumber": "PRE001"},
        "FIsIncludedTax": true, "FDocumentStatus": status, "FSaleOrderEntry": lines,
    })
    .as_object()
    .cloned()
    .unwrap_or_default();
    if status == "C" {
        let approved = format!("2024-05-{:02}T10:30:00", 1 + i % 28);
        order.insert("FApproveDate".into(), approved.into());
    }
    Value::Object(order)
}

fn lines_of(i: usize) -> usize {
    1 + i % 3
}
