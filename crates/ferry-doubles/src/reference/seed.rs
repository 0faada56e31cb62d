//! The reference double's starting records: the same every run.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Map, Value, json};

use super::config::Seed;
use super::objects::OBJECTS;
use crate::store::RecordStore;

/// The modified time of the first seeded record of each object.
pub const SEED_EPOCH: &str = "2026-01-01T00:00:00Z";

const COMPANIES: [(&str, &str); 6] = [
    ("上海宏达贸易有限公司", "上海"),
    ("Acme Trading GmbH", "Hamburg"),
    ("北京星辰科技有限公司", "北京"),
    ("Iberia Foods S.L.", "Valencia"),
    ("深圳华强电子有限公司", "深圳"),
    ("Thames Tools Ltd", "London"),
];

const GOODS: [(&str, &str); 4] = [
    ("Hex bolt M8", "pcs"),
    ("不锈钢垫圈", "box"),
    ("Cable 3x1.5mm", "m"),
    ("工业胶带", "roll"),
];

/// Declares the objects and writes `seed`'s records, `seed.ties` per modified second.
pub fn fill(store: &RecordStore, seed: &Seed) {
    for object in &OBJECTS {
        store.define(object.name, object.key);
    }
    let customers = (1..=seed.customers).map(customer);
    let products = (1..=seed.products).map(product);
    let orders = (1..=seed.orders).map(|i| order(i, seed));
    insert_all(store, "customers", customers, seed.ties);
    insert_all(store, "products", products, seed.ties);
    insert_all(store, "orders", orders, seed.ties);
}

fn insert_all(
    store: &RecordStore,
    object: &str,
    records: impl Iterator<Item = Value>,
    ties: usize,
) {
    let epoch: DateTime<Utc> = SEED_EPOCH.parse().expect("the seed epoch is a time");
    for (i, record) in records.enumerate() {
        let second = i64::try_from(i / ties.max(1)).unwrap_or(i64::MAX);
        let fields: Map<String, Value> = match record {
            Value::Object(map) => map,
            _ => unreachable!("seed records are objects"),
        };
        store
            .insert_at(object, fields, epoch + Duration::seconds(second))
            .expect("seed keys are unique");
    }
}

fn customer(i: usize) -> Value {
    let (name, city) = COMPANIES[i % COMPANIES.len()];
    json!({
        "code": format!("C{i:04}"),
        "name": format!("{name} {i}"),
        "email": format!("buyer{i}@example.com"),
        "phone": format!("+86 21 5555 {:04}", i % 10_000),
        "city": city,
        "credit_limit": (i % 7) as f64 * 10_000.0,
        "active": !i.is_multiple_of(10),
    })
}

fn product(i: usize) -> Value {
    let (name, unit) = GOODS[i % GOODS.len()];
    json!({
        "sku": format!("P{i:04}"),
        "name": format!("{name} #{i}"),
        "price": (i * 125 % 10_000) as f64 / 100.0 + 0.5,
        "stock": i * 10,
        "unit": unit,
    })
}

/// Order `i`: for customer `i` (cycling), with 1–3 lines of seeded products.
fn order(i: usize, seed: &Seed) -> Value {
    let customer = 1 + (i - 1) % seed.customers.max(1);
    let lines: Vec<Value> = (0..1 + i % 3)
        .map(|n| {
            let sku = 1 + (i + n) % seed.products.max(1);
            json!({ "sku": format!("P{sku:04}"), "qty": n + 1, "price": (sku as f64) + 0.5 })
        })
        .collect();
    json!({
        "number": format!("SO{i:05}"),
        "customer_code": format!("C{customer:04}"),
        "order_date": format!("2026-01-{:02}", 1 + i % 28),
        "status": "open",
        "lines": lines,
    })
}
