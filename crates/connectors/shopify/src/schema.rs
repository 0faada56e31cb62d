//! What the connector reads of each object: a static schema (GraphQL has no cheap
//! per-shop field list worth walking; these are the fields an integration needs), the
//! query of one node, and how an answered node becomes a record.
//!
//! Records keep Shopify's field names (camelCase), with these changes so that mappings
//! read plain values:
//!
//! - money (`totalPriceSet { shopMoney { amount currencyCode } }`) becomes its amount in
//!   the shop's currency under the name without `Set` (`totalPrice: "123.45"`), a decimal
//!   string; the currency is the order's `currencyCode`;
//! - connections become lists of their nodes;
//! - metafields asked for come as `metafields: {namespace: {key: value}}`;
//! - orders: `lineItems` become `lines`, each with `quantity`, `originalUnitPrice`,
//!   `discountedTotal`, its `taxLines` (`title`, `rate`, `price`) and
//!   `discountAllocations` (`allocatedAmount`) as Shopify gives them, plus their sums `tax`
//!   and `discount`; `fulfillments` (status, tracking) and `transactions` (kind, status,
//!   gateway, amount) as lists;
//! - products: each variant gets its stock **per location** (`inventory: [{locationId,
//!   location, available, onHand, committed}]`) **and summed** over the locations read
//!   (`available`), so a flow can carry either; `inventoryItemId` is the item that
//!   `inventorySetQuantities` writes.
//!
//! Nested lists are read `LINES`/`VARIANTS` at a time (the rest is read after, page by page)
//! and `LEVELS` locations per variant (a query's cost grows with each).

use ferry_kit::sink::decimal;
use rust_decimal::Decimal;
use serde_json::{Map, Value};

use crate::config::Object;
use crate::gql::{Sel, string};

/// Line items read with an order, variants with a product (then page by page).
pub const LINES: u64 = 20;
pub const VARIANTS: u64 = 20;
/// Locations read per variant.
pub const LEVELS: u64 = 5;

fn money(name: &str) -> Sel {
    Sel::object(
        name,
        vec![Sel::object(
            "shopMoney",
            Sel::scalars(&["amount", "currencyCode"]),
        )],
    )
}

/// The GID type of an object's nodes.
pub fn gid_type(object: Object) -> &'static str {
    match object {
        Object::Customers => "Customer",
        Object::Products => "Product",
        Object::Orders => "Order",
    }
}

/// The query field of one node by id.
pub fn single(object: Object) -> &'static str {
    match object {
        Object::Customers => "customer",
        Object::Products => "product",
        Object::Orders => "order",
    }
}

/// The alias a metafield is read under.
fn metafield_alias(ns: &str, key: &str) -> String {
    format!("mf__{}__{}", ns.replace('-', "_"), key.replace('-', "_"))
}

fn line_fields() -> Vec<Sel> {
    let mut f = Sel::scalars(&["id", "sku", "name", "quantity"]);
    f.push(money("originalUnitPriceSet"));
    f.push(money("discountedTotalSet"));
    f.push(Sel::object("variant", Sel::scalars(&["id", "sku"])));
    let mut tax = Sel::scalars(&["title", "rate"]);
    tax.push(money("priceSet"));
    f.push(Sel::object("taxLines", tax));
    f.push(Sel::object(
        "discountAllocations",
        vec![money("allocatedAmountSet")],
    ));
    f
}

fn variant_fields() -> Vec<Sel> {
    let mut f = Sel::scalars(&[
        "id",
        "sku",
        "barcode",
        "price",
        "compareAtPrice",
        "inventoryQuantity",
    ]);
    let level = vec![
        Sel::object("location", Sel::scalars(&["id", "name"])),
        Sel::object("quantities", Sel::scalars(&["name", "quantity"]))
            .arg("names", "[\"available\", \"on_hand\", \"committed\"]"),
    ];
    f.push(Sel::object(
        "inventoryItem",
        vec![
            Sel::scalar("id"),
            Sel::scalar("tracked"),
            Sel::connection("inventoryLevels", LEVELS, "InventoryLevel", level),
        ],
    ));
    f
}

/// The nested connections of a node read page by page after it: (field, GID type,
/// node fields).
pub fn nested(object: Object) -> Option<(&'static str, &'static str, Vec<Sel>)> {
    match object {
        Object::Customers => None,
        Object::Products => Some(("variants", "ProductVariant", variant_fields())),
        Object::Orders => Some(("lineItems", "LineItem", line_fields())),
    }
}

/// The fields of one node of `object`, with the metafields asked for.
pub fn node_fields(object: Object, metafields: &[(String, String)]) -> Vec<Sel> {
    let mut f = Sel::scalars(&["id", "legacyResourceId", "createdAt", "updatedAt"]);
    match object {
        Object::Customers => {
            f.extend(Sel::scalars(&[
                "email",
                "firstName",
                "lastName",
                "displayName",
                "phone",
                "state",
                "tags",
                "note",
                "numberOfOrders",
            ]));
            f.push(Sel::object(
                "defaultAddress",
                Sel::scalars(&[
                    "address1",
                    "address2",
                    "city",
                    "province",
                    "zip",
                    "countryCodeV2",
                    "company",
                    "phone",
                ]),
            ));
        }
        Object::Products => {
            f.extend(Sel::scalars(&[
                "title",
                "handle",
                "status",
                "vendor",
                "productType",
                "tags",
            ]));
            f.push(Sel::connection(
                "variants",
                VARIANTS,
                "ProductVariant",
                variant_fields(),
            ));
        }
        Object::Orders => {
            f.extend(Sel::scalars(&[
                "name",
                "email",
                "currencyCode",
                "displayFinancialStatus",
                "displayFulfillmentStatus",
            ]));
            for m in [
                "subtotalPriceSet",
                "totalTaxSet",
                "totalDiscountsSet",
                "totalPriceSet",
            ] {
                f.push(money(m));
            }
            f.push(Sel::object("customer", Sel::scalars(&["id", "email"])));
            f.push(Sel::connection(
                "lineItems",
                LINES,
                "LineItem",
                line_fields(),
            ));
            f.push(Sel::object(
                "fulfillments",
                vec![
                    Sel::scalar("id"),
                    Sel::scalar("status"),
                    Sel::scalar("createdAt"),
                    Sel::object("trackingInfo", Sel::scalars(&["number", "url", "company"])),
                ],
            ));
            let mut tx = Sel::scalars(&["id", "kind", "status", "gateway", "processedAt"]);
            tx.push(money("amountSet"));
            f.push(Sel::object("transactions", tx));
        }
    }
    for (ns, key) in metafields {
        f.push(
            Sel::object("metafield", vec![Sel::scalar("value")])
                .alias(metafield_alias(ns, key))
                .arg("namespace", string(ns))
                .arg("key", string(key)),
        );
    }
    f
}

/// An answered value with money flattened and connections made lists (see the module docs).
pub fn plain(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            if map.contains_key("nodes") || map.contains_key("edges") {
                let nodes = match map.get("nodes") {
                    Some(Value::Array(n)) => n.clone(),
                    _ => map
                        .get("edges")
                        .and_then(Value::as_array)
                        .map(|e| e.iter().map(|e| e["node"].clone()).collect())
                        .unwrap_or_default(),
                };
                return Value::Array(nodes.into_iter().map(plain).collect());
            }
            let mut out = Map::new();
            for (k, v) in map {
                match k.strip_suffix("Set") {
                    Some(name) if v.get("shopMoney").is_some() => {
                        out.insert(name.to_owned(), v["shopMoney"]["amount"].clone());
                    }
                    _ => {
                        out.insert(k, plain(v));
                    }
                }
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.into_iter().map(plain).collect()),
        other => other,
    }
}

fn sum(items: &[Value], field: &str) -> Value {
    let total: Decimal = items.iter().filter_map(|i| decimal(&i[field])).sum();
    Value::String(total.to_string())
}

/// The record fields of an answered node of `object`.
pub fn shape(object: Object, node: Value, metafields: &[(String, String)]) -> Map<String, Value> {
    let Value::Object(mut fields) = plain(node) else {
        return Map::new();
    };
    if !metafields.is_empty() {
        let mut held: Map<String, Value> = Map::new();
        for (ns, key) in metafields {
            let value = fields
                .remove(&metafield_alias(ns, key))
                .and_then(|m| m.get("value").cloned())
                .unwrap_or(Value::Null);
            let space = held
                .entry(ns.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            space[key.as_str()] = value;
        }
        fields.insert("metafields".into(), Value::Object(held));
    }
    match object {
        Object::Customers => {}
        Object::Products => {
            if let Some(Value::Array(variants)) = fields.get_mut("variants") {
                variants.iter_mut().for_each(shape_variant);
            }
        }
        Object::Orders => {
            let mut lines = match fields.remove("lineItems") {
                Some(Value::Array(lines)) => lines,
                _ => Vec::new(),
            };
            lines.iter_mut().for_each(shape_line);
            fields.insert("lines".into(), Value::Array(lines));
        }
    }
    fields
}

/// A line's tax and discount sums.
fn shape_line(line: &mut Value) {
    let taxes = line["taxLines"].as_array().cloned().unwrap_or_default();
    let discounts = line["discountAllocations"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    line["tax"] = sum(&taxes, "price");
    line["discount"] = sum(&discounts, "allocatedAmount");
}

/// A variant's stock per location and summed.
fn shape_variant(variant: &mut Value) {
    let item = variant["inventoryItem"].take();
    let levels = item["inventoryLevels"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let quantity = |level: &Value, name: &str| {
        level["quantities"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|q| q["name"].as_str() == Some(name))
            .map_or(Value::Null, |q| q["quantity"].clone())
    };
    let inventory: Vec<Value> = levels
        .iter()
        .map(|l| {
            serde_json::json!({
                "locationId": l["location"]["id"], "location": l["location"]["name"],
                "available": quantity(l, "available"), "onHand": quantity(l, "on_hand"),
                "committed": quantity(l, "committed"),
            })
        })
        .collect();
    let available: i64 = inventory
        .iter()
        .filter_map(|l| l["available"].as_i64())
        .sum();
    variant["inventoryItemId"] = item["id"].clone();
    variant["tracked"] = item["tracked"].clone();
    variant["inventory"] = Value::Array(inventory);
    variant["available"] = available.into();
    if let Some(m) = variant.as_object_mut() {
        m.remove("inventoryItem");
    }
}

/// The fields `ferry discover` lists for each object: (name, type).
pub fn discovered(object: Object) -> Vec<(&'static str, &'static str)> {
    let mut f = vec![
        ("id", "ID"),
        ("legacyResourceId", "UnsignedInt64"),
        ("createdAt", "DateTime"),
        ("updatedAt", "DateTime"),
    ];
    f.extend(match object {
        Object::Customers => vec![
            ("email", "String"), ("firstName", "String"), ("lastName", "String"),
            ("displayName", "String"), ("phone", "String"), ("state", "CustomerState"),
            ("tags", "[String]"), ("note", "String"), ("numberOfOrders", "UnsignedInt64"),
            ("defaultAddress", "MailingAddress"), ("metafields", "{namespace: {key: value}}"),
        ],
        Object::Products => vec![
            ("title", "String"), ("handle", "String"), ("status", "ProductStatus"),
            ("vendor", "String"), ("productType", "String"), ("tags", "[String]"),
            ("variants", "[ProductVariant: id sku barcode price compareAtPrice inventoryQuantity inventoryItemId tracked available inventory[locationId location available onHand committed]]"),
        ],
        Object::Orders => vec![
            ("name", "String"), ("email", "String"), ("currencyCode", "CurrencyCode"),
            ("displayFinancialStatus", "OrderDisplayFinancialStatus"),
            ("displayFulfillmentStatus", "OrderDisplayFulfillmentStatus"),
            ("subtotalPrice", "Decimal"), ("totalTax", "Decimal"), ("totalDiscounts", "Decimal"),
            ("totalPrice", "Decimal"), ("customer", "Customer: id email"),
            ("lines", "[LineItem: id sku name quantity originalUnitPrice discountedTotal variant taxLines[title rate price] discountAllocations[allocatedAmount] tax discount]"),
            ("fulfillments", "[Fulfillment: id status createdAt trackingInfo[number url company]]"),
            ("transactions", "[OrderTransaction: id kind status gateway processedAt amount]"),
        ],
    });
    f
}
