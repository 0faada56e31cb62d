//! The starting records, the same every run: customers with Chinese and English names,
//! products with variants (SKUs) and inventory levels at two locations, orders with line
//! items, transactions and fulfilments. Stamped from [`SEED_EPOCH`], two records per second
//! per object, so an `updated_at` reader meets ties.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use super::gid;
use crate::store::RecordStore;

/// The `updatedAt` of the first seeded record of each object.
pub const SEED_EPOCH: &str = "2024-05-01T01:00:00Z";

const CUSTOMERS: [(&str, &str, &str, &str, &str); 6] = [
    (
        "伟",
        "王",
        "wang.wei@example.cn",
        "+8613800000001",
        "上海市",
    ),
    (
        "Emily",
        "Clark",
        "emily.clark@example.com",
        "+14155550102",
        "San Francisco",
    ),
    ("娜", "李", "li.na@example.cn", "+8613800000003", "杭州市"),
    (
        "James",
        "Chen",
        "james.chen@example.com",
        "+14155550104",
        "Seattle",
    ),
    (
        "芳",
        "张",
        "zhang.fang@example.cn",
        "+8613800000005",
        "深圳市",
    ),
    (
        "Sophie",
        "Martin",
        "sophie.martin@example.com",
        "+33155550106",
        "Paris",
    ),
];

/// (title, handle, [(sku, price)]) of a seeded product.
type ProductRow = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

const PRODUCTS: [ProductRow; 3] = [
    (
        "龙井绿茶 Longjing Green Tea",
        "longjing-green-tea",
        &[("TEA-LJ-100", "29.99"), ("TEA-LJ-250", "64.00")],
    ),
    (
        "Ceramic Teapot 陶瓷茶壶",
        "ceramic-teapot",
        &[("POT-CER-WHT", "45.00")],
    ),
    (
        "Bamboo Tea Tray",
        "bamboo-tea-tray",
        &[("TRAY-BMB-S", "19.50"), ("TRAY-BMB-L", "32.00")],
    ),
];

/// The locations stock is held at.
pub const LOCATIONS: [(u64, &str); 2] = [(1, "上海仓 Shanghai Warehouse"), (2, "Los Angeles DC")];

fn at(i: usize) -> DateTime<Utc> {
    let epoch: DateTime<Utc> = SEED_EPOCH.parse().expect("a time");
    epoch + Duration::seconds((i / 2) as i64)
}

fn money(amount: &str) -> Value {
    json!({"shopMoney": {"amount": amount, "currencyCode": "USD"}})
}

pub fn fill(store: &RecordStore) {
    store.define("Customer", "email");
    store.define("Product", "handle");
    store.define("Order", "name");
    for (i, (first, last, email, phone, city)) in CUSTOMERS.iter().enumerate() {
        let address = json!({"address1": format!("{} {}", i + 1, "Main Rd"), "city": city, "zip": format!("2000{i}"), "countryCodeV2": if email.ends_with(".cn") { "CN" } else { "US" }, "company": null});
        let fields = json!({
            "email": email, "firstName": first, "lastName": last, "phone": phone,
            "state": "ENABLED", "tags": if i % 2 == 0 { json!(["wholesale"]) } else { json!([]) },
            "numberOfOrders": "0", "defaultAddress": address, "addresses": [address],
            "metafields": [{"namespace": "erp", "key": "customer_no", "value": format!("C{:04}", i + 1), "type": "single_line_text_field"}],
        });
        let _ = store.insert_at(
            "Customer",
            fields.as_object().cloned().unwrap_or_default(),
            at(i),
        );
    }
    let mut variants_all = Vec::new();
    for (p, (title, handle, variants)) in PRODUCTS.iter().enumerate() {
        let product_id = p as u64 + 1;
        let variants: Vec<Value> = variants
            .iter()
            .enumerate()
            .map(|(v, (sku, price))| {
                let vid = product_id * 100 + v as u64 + 1;
                let levels: Vec<Value> = LOCATIONS
                    .iter()
                    .map(|(lid, lname)| {
                        let available = (vid % 7) * 10 + lid * 5;
                        json!({
                            "id": format!("gid://shopify/InventoryLevel/{vid}{lid}?inventory_item_id={vid}"),
                            "location": {"id": gid("Location", *lid), "name": lname},
                            "quantities": [
                                {"name": "available", "quantity": available},
                                {"name": "committed", "quantity": 2},
                                {"name": "on_hand", "quantity": available + 2},
                            ],
                        })
                    })
                    .collect();
                let total: i64 = levels.iter().map(|l| l["quantities"][0]["quantity"].as_i64().unwrap_or(0)).sum();
                let variant = json!({
                    "id": gid("ProductVariant", vid), "sku": sku, "barcode": format!("69{vid:011}"),
                    "price": price, "compareAtPrice": null, "inventoryQuantity": total,
                    "title": sku,
                    "inventoryItem": {"id": gid("InventoryItem", vid), "tracked": true, "sku": sku, "inventoryLevels": levels},
                });
                variants_all.push(variant.clone());
                variant
            })
            .collect();
        let fields = json!({"title": title, "handle": handle, "status": "ACTIVE", "vendor": "Ferry Tea Co.", "productType": "Tea", "tags": ["seed"], "variants": variants});
        let _ = store.insert_at(
            "Product",
            fields.as_object().cloned().unwrap_or_default(),
            at(p),
        );
    }
    for o in 0..4usize {
        let customer = o % CUSTOMERS.len() + 1;
        let lines: Vec<Value> = (0..=o % 2)
            .map(|l| {
                let v = &variants_all[(o + l) % variants_all.len()];
                json!({"id": gid("LineItem", (o * 10 + l + 1) as u64), "sku": v["sku"], "name": v["sku"], "quantity": l + 1,
                       "originalUnitPriceSet": money(v["price"].as_str().unwrap_or("0")), "variant": {"id": v["id"], "sku": v["sku"]}})
            })
            .collect();
        let total: f64 = lines
            .iter()
            .map(|l| {
                l["quantity"].as_f64().unwrap_or(0.0)
                    * l["originalUnitPriceSet"]["shopMoney"]["amount"]
                        .as_str()
                        .and_then(|a| a.parse::<f64>().ok())
                        .unwrap_or(0.0)
            })
            .sum();
        let total = format!("{total:.2}");
        let fulfilled = o % 2 == 0;
        let fulfillments = if fulfilled {
            json!([{"id": gid("Fulfillment", o as u64 + 1), "status": "SUCCESS", "createdAt": SEED_EPOCH,
                    "trackingInfo": [{"number": format!("SF10{o:08}"), "url": format!("https://www.sf-express.com/track?no=SF10{o:08}"), "company": "SF Express"}]}])
        } else {
            json!([])
        };
        let fields = json!({
            "name": format!("#{}", 1001 + o), "currencyCode": "USD",
            "displayFinancialStatus": "PAID",
            "displayFulfillmentStatus": if fulfilled { "FULFILLED" } else { "UNFULFILLED" },
            "totalPriceSet": money(&total),
            "customer": {"id": gid("Customer", customer as u64)},
            "lineItems": lines,
            "transactions": [{"kind": "SALE", "status": "SUCCESS", "gateway": "manual", "amountSet": money(&total)}],
            "fulfillments": fulfillments,
        });
        let _ = store.insert_at(
            "Order",
            fields.as_object().cloned().unwrap_or_default(),
            at(o),
        );
    }
}
