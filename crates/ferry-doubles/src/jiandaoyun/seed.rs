//! The double's starting records, the same every run: customers (客户) and orders (订单)
//! with lines, members, departments, addresses and files, in Chinese. Customers are stamped
//! from [`SEED_EPOCH`] on, three per second; orders an hour later, two per second — so a
//! reader filtering on `updateTime` meets ties.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Map, Value, json};

use super::Shared;
use super::config::JiandaoyunConfig;
use super::forms::{CUSTOMER_FORM, ORDER_FORM, customer, order};
use super::records::{CREATOR, FLOW_STATE, UPDATER, iso, member_object};
use crate::store::RecordStore;

/// The `createTime`/`updateTime` of the first seeded customer.
pub const SEED_EPOCH: &str = "2024-05-01T01:00:00Z";

/// (name, kind, phone, [province, city, district, detail], tags) of a seeded customer.
type CustomerRow = (
    &'static str,
    &'static str,
    &'static str,
    [&'static str; 4],
    &'static [&'static str],
);

const CUSTOMERS: [CustomerRow; 7] = [
    (
        "上海宏达贸易有限公司",
        "企业",
        "021-5555-0101",
        ["上海市", "上海市", "浦东新区", "张江路100号"],
        &["重点客户", "华东"],
    ),
    (
        "北京星辰科技有限公司",
        "企业",
        "010-6666-0202",
        ["北京市", "北京市", "海淀区", "中关村大街1号"],
        &["华北"],
    ),
    (
        "深圳华强电子有限公司",
        "企业",
        "0755-8888-0303",
        ["广东省", "深圳市", "福田区", "华强北路2号"],
        &["重点客户", "华南"],
    ),
    (
        "李娜",
        "个人",
        "138-0000-0404",
        ["浙江省", "杭州市", "西湖区", "龙井路6号"],
        &[],
    ),
    (
        "广州南方食品有限公司",
        "企业",
        "020-3333-0505",
        ["广东省", "广州市", "天河区", "体育西路3号"],
        &["华南"],
    ),
    (
        "成都天府茶业有限公司",
        "企业",
        "028-8777-0606",
        ["四川省", "成都市", "锦江区", "春熙路8号"],
        &[],
    ),
    (
        "王伟",
        "个人",
        "139-1111-0707",
        ["江苏省", "南京市", "鼓楼区", "中山路9号"],
        &["新客户"],
    ),
];

/// (product, unit price) of the order lines.
const PRODUCTS: [(&str, f64); 4] = [
    ("不锈钢螺栓 M8", 12.5),
    ("工业胶带", 35.0),
    ("铜芯电缆", 8.8),
    ("液压油 46#", 96.0),
];

const STATUSES: [&str; 3] = ["草稿", "已确认", "已发货"];

/// Declares every configured form and writes the seed records into the default ones.
pub fn fill(store: &RecordStore, config: &JiandaoyunConfig, shared: &Shared) {
    for form in config.apps.iter().flat_map(|a| &a.forms) {
        // `_id` is never stored, so the store's business key never refuses a record.
        store.define(&form.entry_id, "_id");
    }
    let epoch: DateTime<Utc> = SEED_EPOCH.parse().expect("the seed epoch is a time");
    let has = |entry_id: &str| config.apps.iter().any(|a| a.form(entry_id).is_some());
    if has(CUSTOMER_FORM) {
        for i in 0..config.seed.customers {
            let at = epoch + Duration::seconds(i64::try_from(i / 3).unwrap_or(0));
            insert(store, CUSTOMER_FORM, customer_record(config, i), at);
        }
    }
    if has(ORDER_FORM) {
        for i in 0..config.seed.orders {
            let at =
                epoch + Duration::hours(1) + Duration::seconds(i64::try_from(i / 2).unwrap_or(0));
            let record = order_record(config, shared, i, at);
            insert(store, ORDER_FORM, record, at);
        }
    }
}

fn insert(store: &RecordStore, form: &str, record: Value, at: DateTime<Utc>) {
    let Value::Object(fields) = record else {
        unreachable!("seed records are objects")
    };
    store
        .insert_at(form, fields, at)
        .expect("seed records have no business key");
}

/// The `i`-th member (by position, wrapping) as a member widget value and as a creator.
fn member(config: &JiandaoyunConfig, i: usize) -> (Value, Value) {
    let Some(m) = config.members.get(i % config.members.len().max(1)) else {
        return (Value::Null, Value::Null);
    };
    (
        json!({"username": m.username, "name": m.name}),
        member_object(m),
    )
}

fn department(config: &JiandaoyunConfig, i: usize) -> Value {
    config
        .departments
        .get(i % config.departments.len().max(1))
        .map_or(
            Value::Null,
            |d| json!({"dept_no": d.dept_no, "name": d.name}),
        )
}

fn file(name: &str, mime: &str, size: u64) -> Value {
    let url = format!("https://files.jiandaoyun.example/ferry/{name}");
    json!({"name": name, "size": size, "mime": mime, "url": url})
}

fn customer_record(config: &JiandaoyunConfig, i: usize) -> Value {
    let (name, kind, phone, [province, city, district, detail], tags) =
        CUSTOMERS[i % CUSTOMERS.len()];
    let round = i / CUSTOMERS.len();
    let name = if round == 0 {
        name.to_owned()
    } else {
        format!("{name}（{round}）")
    };
    let (owner, creator) = member(config, i);
    let n = i + 1;
    let licence = file(&format!("licence-{n}.png"), "image/png", 204_800);
    let contracts: Vec<Value> = (kind == "企业")
        .then(|| file(&format!("合同-{n}.pdf"), "application/pdf", 512_000))
        .into_iter()
        .collect();
    let note = if i.is_multiple_of(2) {
        "按月结算"
    } else {
        ""
    };
    let mut record = json!({
        customer::NAME: name,
        customer::NUMBER: format!("KH{n:04}"),
        customer::KIND: kind,
        customer::PHONE: phone,
        customer::CREDIT: 50_000 * n,
        customer::SIGNED_AT: format!("2024-0{}-{n:02}T02:00:00.000Z", 1 + i % 4),
        customer::OWNER: owner,
        customer::DEPARTMENT: department(config, 1 + i % 2),
        customer::ADDRESS: {"province": province, "city": city, "district": district, "detail": detail},
        customer::TAGS: tags,
        customer::LICENCE: [licence],
        customer::CONTRACTS: contracts,
        customer::NOTE: note,
    });
    system_fields(&mut record, &creator, 1);
    record
}

/// Line `n` of order `i`: product, quantity, price and amount.
fn order_line(shared: &Shared, i: usize, n: usize, at: DateTime<Utc>) -> Value {
    let (product, price) = PRODUCTS[(i + n) % PRODUCTS.len()];
    let qty = 10.0 * (n as f64 + 1.0);
    json!({
        "_id": shared.new_row_id(at),
        order::line::PRODUCT: product,
        order::line::QTY: qty,
        order::line::PRICE: price,
        order::line::AMOUNT: qty * price,
        order::line::DELIVER_AT: format!("2024-05-{:02}T01:00:00.000Z", 10 + i),
    })
}

fn order_record(config: &JiandaoyunConfig, shared: &Shared, i: usize, at: DateTime<Utc>) -> Value {
    let lines: Vec<Value> = (0..1 + i % 3)
        .map(|n| order_line(shared, i, n, at))
        .collect();
    let total: f64 = lines
        .iter()
        .filter_map(|l| l[order::line::AMOUNT].as_f64())
        .sum();
    let (sales, creator) = member(config, i);
    let (mate, _) = member(config, i + 1);
    let serial = shared.next_serial(ORDER_FORM, order::ORDER_NO);
    let attachments: Vec<Value> = i
        .is_multiple_of(2)
        .then(|| {
            file(
                &format!("订单-{}.xlsx", i + 1),
                "application/vnd.ms-excel",
                40_960,
            )
        })
        .into_iter()
        .collect();
    let ship_to = format!("莘庄工业区{}号", i + 1);
    let mut record = json!({
        order::ORDER_NO: format!("DD{serial:06}"),
        order::CUSTOMER_NO: format!("KH{:04}", 1 + i % config.seed.customers.max(1)),
        order::ORDERED_AT: iso(at - Duration::days(1)),
        order::STATUS: STATUSES[i % STATUSES.len()],
        order::SALES: sales,
        order::TEAM: [mate],
        order::DEPARTMENT: department(config, 1),
        order::SHIP_TO: {"province": "上海市", "city": "上海市", "district": "闵行区", "detail": ship_to},
        order::LINES: lines,
        order::TOTAL: total,
        order::ATTACHMENTS: attachments,
    });
    let flow = match i % 5 {
        1 => 0,
        4 => 2,
        _ => 1,
    };
    system_fields(&mut record, &creator, flow);
    record
}

fn system_fields(record: &mut Value, creator: &Value, flow_state: i64) {
    let fields: &mut Map<String, Value> = record.as_object_mut().expect("records are objects");
    fields.insert(CREATOR.into(), creator.clone());
    fields.insert(UPDATER.into(), creator.clone());
    fields.insert(FLOW_STATE.into(), flow_state.into());
}
