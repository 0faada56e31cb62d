//! The starting records: three customers, three items (two stocked at two locations), two
//! locations and one sales order, stamped at [`seed_epoch`].

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use crate::store::RecordStore;

/// When the seed records were made and last changed.
pub fn seed_epoch() -> DateTime<Utc> {
    DateTime::from_timestamp(1_777_000_000, 0).unwrap_or_default()
}

fn object(value: Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap_or_default()
}

/// Declares the objects and fills them.
pub fn fill(store: &RecordStore) {
    store.define("customer", "externalid");
    store.define("item", "externalid");
    store.define("transaction", "_eid");
    store.define("location", "name");
    let at = seed_epoch();
    let rows = [
        (
            "location",
            json!({"name": "Main Warehouse", "isinactive": false}),
        ),
        (
            "location",
            json!({"name": "East Coast", "isinactive": false}),
        ),
        (
            "customer",
            json!({"entityid": "C001", "externalid": "CRM-001", "companyname": "ACME Corp",
            "isperson": false, "email": "ap@acme.example", "isinactive": false}),
        ),
        (
            "customer",
            json!({"entityid": "C002", "externalid": "CRM-002", "companyname": "Globex",
            "isperson": false, "email": "buy@globex.example", "isinactive": false}),
        ),
        (
            "customer",
            json!({"entityid": "C003", "companyname": "Initech", "isperson": false,
            "isinactive": false}),
        ),
        (
            "item",
            json!({"itemid": "SKU-1", "externalid": "SKU-1", "displayname": "Widget",
            "itemtype": "InvtPart", "baseprice": 10.5, "isinactive": false,
            "locations": [{"location": "1", "quantityonhand": 40, "quantityavailable": 35},
                          {"location": "2", "quantityonhand": 12, "quantityavailable": 12}]}),
        ),
        (
            "item",
            json!({"itemid": "SKU-2", "externalid": "SKU-2", "displayname": "Gadget",
            "itemtype": "InvtPart", "baseprice": 25, "isinactive": false,
            "locations": [{"location": "1", "quantityonhand": 5, "quantityavailable": 5},
                          {"location": "2", "quantityonhand": 0, "quantityavailable": 0}]}),
        ),
        (
            "item",
            json!({"itemid": "SVC-1", "displayname": "Installation", "itemtype": "Service",
            "baseprice": 80, "isinactive": false}),
        ),
        (
            "transaction",
            json!({"type": "SalesOrd", "tranid": "SO1001", "externalid": "SHOP-1001",
            "_eid": "salesOrder:SHOP-1001", "entity": "1", "trandate": "2026-04-24", "status": "B",
            "otherrefnum": "PO-77", "memo": "seeded order",
            "item": [{"line": 1, "item": "1", "quantity": 2, "rate": 10.5, "amount": 21.0, "location": "1"},
                     {"line": 2, "item": "2", "quantity": 1, "rate": 25, "amount": 25.0, "location": "1"}]}),
        ),
    ];
    for (table, fields) in rows {
        // The seed is fixed: a failure here is a bug in it.
        store
            .insert_at(table, object(fields), at)
            .expect("the seed records are consistent");
    }
}

/// The Shopify double's SKUs NetSuite holds as inventory items, item name = SKU, with their
/// stock at `Main Warehouse` (location 1). `TRAY-BMB-L` is missing on purpose: the ERP team
/// has not created it yet, so an order for it is refused until they do.
pub const SHOP_ITEMS: [(&str, &str, f64, u32); 4] = [
    ("TEA-LJ-100", "Longjing Green Tea 100 g", 29.99, 120),
    ("TEA-LJ-250", "Longjing Green Tea 250 g", 64.0, 40),
    ("POT-CER-WHT", "Ceramic Teapot, white", 45.0, 15),
    ("TRAY-BMB-S", "Bamboo Tea Tray, small", 19.5, 30),
];

/// Adds [`SHOP_ITEMS`] (the account of a shop whose NetSuite item names are its SKUs).
pub fn shop_catalogue(store: &RecordStore) {
    for (sku, name, price, stock) in SHOP_ITEMS {
        add_item(store, sku, name, price, stock);
    }
}

/// An inventory item named `sku`, sold online (`isonline`, "Display in Web Site"), with
/// `stock` on hand and available at `Main Warehouse`, as the ERP team creates one.
pub fn add_item(store: &RecordStore, sku: &str, name: &str, price: f64, stock: u32) {
    let fields = json!({"itemid": sku, "externalid": sku, "displayname": name,
        "itemtype": "InvtPart", "baseprice": price, "isinactive": false, "isonline": true,
        "locations": [{"location": "1", "quantityonhand": stock, "quantityavailable": stock}]});
    store
        .insert("item", object(fields))
        .expect("a new item is consistent");
}
