//! The starting records, the same every run: customers with Chinese and English names,
//! products with variants (SKUs) and inventory levels at two locations, orders with line
//! items (6 % tax lines on every line, a discount allocation on order #1002's first line),
//! transactions, fulfilment orders and fulfilments (#1001 and #1003 are fulfilled). Stamped from [`SEED_EPOCH`], two records per second
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
        let fields = order(o, &variants_all);
        let _ = store.insert_at(
            "Order",
            fields.as_object().cloned().unwrap_or_default(),
            at(o),
        );
    }
}

/// Cents as Shopify's decimal text (`"29.99"`).
fn amount(cents: i64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

fn cents(text: &str) -> i64 {
    let (units, fraction) = text.split_once('.').unwrap_or((text, "0"));
    let fraction = format!("{fraction:0<2}");
    units.parse::<i64>().unwrap_or(0) * 100 + fraction[..2].parse::<i64>().unwrap_or(0)
}

/// The tax rate of every seeded line (6 %), and the discount on order #1002's first line.
const TAX_PERCENT: i64 = 6;
const DISCOUNT_CENTS: i64 = 500;

/// Seeded order `o`: one or two lines, each taxed, the first line of the second order
/// discounted; money in cents so the totals add up exactly.
fn order(o: usize, variants: &[Value]) -> Value {
    let customer = o % CUSTOMERS.len() + 1;
    let fulfilled = o.is_multiple_of(2);
    let (mut subtotal, mut tax_total, mut discounts) = (0i64, 0i64, 0i64);
    let mut lines = Vec::new();
    let mut fo_lines = Vec::new();
    for l in 0..=o % 2 {
        let v = &variants[(o + l) % variants.len()];
        let quantity = (l + 1) as i64;
        let price = cents(v["price"].as_str().unwrap_or("0"));
        let discount = if o == 1 && l == 0 { DISCOUNT_CENTS } else { 0 };
        let net = price * quantity - discount;
        // Half up to the cent, as Shopify rounds a line's tax.
        let tax = (net * TAX_PERCENT + 50) / 100;
        subtotal += net;
        tax_total += tax;
        discounts += discount;
        let line_id = (o * 10 + l + 1) as u64;
        let allocations = if discount > 0 {
            json!([{"allocatedAmountSet": money(&amount(discount))}])
        } else {
            json!([])
        };
        lines.push(json!({
            "id": gid("LineItem", line_id), "sku": v["sku"], "name": v["sku"], "quantity": quantity,
            "originalUnitPriceSet": money(&amount(price)),
            "discountedTotalSet": money(&amount(net)),
            "variant": {"id": v["id"], "sku": v["sku"]},
            "taxLines": [{"title": "State Tax", "rate": 0.06, "ratePercentage": 6.0, "priceSet": money(&amount(tax))}],
            "discountAllocations": allocations,
        }));
        fo_lines.push(json!({
            "id": gid("FulfillmentOrderLineItem", line_id),
            "lineItem": {"id": gid("LineItem", line_id), "sku": v["sku"]},
            "totalQuantity": quantity,
            "remainingQuantity": if fulfilled { 0 } else { quantity },
        }));
    }
    let total = amount(subtotal + tax_total);
    let fulfillments = if fulfilled {
        json!([{"id": gid("Fulfillment", o as u64 + 1), "status": "SUCCESS", "createdAt": SEED_EPOCH,
                "trackingInfo": [{"number": format!("SF10{o:08}"), "url": format!("https://www.sf-express.com/track?no=SF10{o:08}"), "company": "SF Express"}]}])
    } else {
        json!([])
    };
    let (lid, lname) = LOCATIONS[o % LOCATIONS.len()];
    json!({
        "name": format!("#{}", 1001 + o), "currencyCode": "USD",
        "email": CUSTOMERS[customer - 1].2,
        "displayFinancialStatus": "PAID",
        "displayFulfillmentStatus": if fulfilled { "FULFILLED" } else { "UNFULFILLED" },
        "subtotalPriceSet": money(&amount(subtotal)),
        "totalTaxSet": money(&amount(tax_total)),
        "totalDiscountsSet": money(&amount(discounts)),
        "totalPriceSet": money(&total),
        "customer": {"id": gid("Customer", customer as u64)},
        "lineItems": lines,
        "transactions": [{"id": gid("OrderTransaction", o as u64 + 1), "kind": "SALE", "status": "SUCCESS", "gateway": "manual",
                          "processedAt": SEED_EPOCH, "amountSet": money(&total)}],
        "fulfillments": fulfillments,
        "fulfillmentOrders": [{
            "id": gid("FulfillmentOrder", o as u64 + 1),
            "status": if fulfilled { "CLOSED" } else { "OPEN" },
            "assignedLocation": {"location": {"id": gid("Location", lid), "name": lname}},
            "lineItems": fo_lines,
        }],
    })
}
