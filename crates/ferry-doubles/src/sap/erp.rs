//! The ERP team's own work, for tests: an outbound delivery of a sales order (as VL01N would
//! post it, with goods issue) and its billing document (VF01), with the order's statuses
//! moving on, so a test can watch the documents travel back to the CRM. The seed uses the
//! same documents for its completed orders.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::entity::{KEY, REV};
use super::values;
use crate::error::StoreError;
use crate::store::RecordStore;

/// Why the ERP team's step could not be done.
#[derive(Debug, thiserror::Error)]
pub enum ErpError {
    #[error("no sales order {0}")]
    NoOrder(String),
    #[error("sales order {0} has no outbound delivery to bill")]
    NotDelivered(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Delivers every item of sales order `order` in full, now (by the store's clock): a new
/// `A_OutbDeliveryHeader` whose items reference the order (`ReferenceSDDocument`), and the
/// order marked delivered. Returns the delivery's number.
pub fn deliver(store: &RecordStore, order: &str) -> Result<String, ErpError> {
    let record = store
        .find_by_key("A_SalesOrder", order)?
        .ok_or_else(|| ErpError::NoOrder(order.to_owned()))?;
    let number = next_number(store, "A_OutbDeliveryHeader", 80_000_001)?;
    let header = delivery_document(&number, &record.fields, store.clock().now());
    store.insert("A_OutbDeliveryHeader", header)?;
    let statuses = json!({"OverallTotalDeliveryStatus": "C", "OverallDeliveryStatus": "C",
                          "OverallSDProcessStatus": "B"});
    store.update("A_SalesOrder", record.id, object(statuses))?;
    Ok(number)
}

/// Bills sales order `order` from its newest delivery: a new `A_BillingDocument` (19 % tax)
/// whose items name the order (`SalesDocument`) and the delivery (`ReferenceSDDocument`),
/// and the order marked completed. Returns the billing document's number.
pub fn bill(store: &RecordStore, order: &str) -> Result<String, ErpError> {
    let record = store
        .find_by_key("A_SalesOrder", order)?
        .ok_or_else(|| ErpError::NoOrder(order.to_owned()))?;
    let delivery = store
        .list("A_OutbDeliveryHeader", None, None)?
        .into_iter()
        .rev()
        .find(|d| delivered_order(&d.fields) == Some(order))
        .map(|d| text(&d.fields, "DeliveryDocument").to_owned())
        .ok_or_else(|| ErpError::NotDelivered(order.to_owned()))?;
    let number = next_number(store, "A_BillingDocument", 90_000_001)?;
    let at = store.clock().now();
    let document = billing_document(&number, &delivery, &record.fields, at);
    store.insert("A_BillingDocument", document)?;
    let completed = json!({"OverallSDProcessStatus": "C"});
    store.update("A_SalesOrder", record.id, object(completed))?;
    Ok(number)
}

/// The delivery document of `order` (a sales order's stored fields), all items in full.
pub(super) fn delivery_document(
    number: &str,
    order: &Map<String, Value>,
    at: DateTime<Utc>,
) -> Map<String, Value> {
    let sales_order = text(order, "SalesOrder");
    let customer = text(order, "SoldToParty");
    let lines: Vec<Value> = items(order)
        .iter()
        .map(|i| {
            let item = text(i, "SalesOrderItem");
            json!({"DeliveryDocument": number,
                "DeliveryDocumentItem": format!("{:06}", item.parse::<u32>().unwrap_or(0)),
                "Material": i["Material"], "ActualDeliveryQuantity": i["RequestedQuantity"],
                "DeliveryQuantityUnit": "PC", "ReferenceSDDocument": sales_order,
                "ReferenceSDDocumentItem": item, "Batch": ""})
        })
        .collect();
    object(
        json!({"DeliveryDocument": number, "SoldToParty": customer, "ShipToParty": customer,
        "ShippingPoint": "1010", "DeliveryDate": values::day(at), "ActualGoodsMovementDate": values::day(at),
        "OverallGoodsMovementStatus": "C", "OverallSDProcessStatus": "C",
        "to_DeliveryDocumentItem": lines, KEY: number, REV: 0}),
    )
}

/// The billing document of `order` delivered by `delivery`: net from the items, 19 % tax.
pub(super) fn billing_document(
    number: &str,
    delivery: &str,
    order: &Map<String, Value>,
    at: DateTime<Utc>,
) -> Map<String, Value> {
    let sales_order = text(order, "SalesOrder");
    let customer = text(order, "SoldToParty");
    let net = |i: &Map<String, Value>| text(i, "NetAmount").parse::<f64>().unwrap_or(0.0);
    let billed: Vec<Value> = items(order)
        .iter()
        .map(|i| {
            json!({"BillingDocument": number, "BillingDocumentItem": i["SalesOrderItem"],
                "Material": i["Material"], "BillingQuantity": i["RequestedQuantity"],
                "BillingQuantityUnit": "PC", "NetAmount": i["NetAmount"],
                "TaxAmount": values::decimal(net(i) * 0.19, 2), "ReferenceSDDocument": delivery,
                "ReferenceSDDocumentItem": i["SalesOrderItem"], "SalesDocument": sales_order,
                "SalesDocumentItem": i["SalesOrderItem"]})
        })
        .collect();
    let total: f64 = items(order).iter().map(net).sum();
    let tax = total * 0.19;
    let accounting = number
        .parse::<u64>()
        .map_or(0, |n| n - 90_000_001 + 1_800_000_001);
    object(
        json!({"BillingDocument": number, "BillingDocumentType": "F2",
        "BillingDocumentDate": values::day(at), "SoldToParty": customer, "PayerParty": customer,
        "TotalNetAmount": values::decimal(total, 2), "TotalTaxAmount": values::decimal(tax, 2),
        "TotalGrossAmount": values::decimal(total + tax, 2),
        "TransactionCurrency": text(order, "TransactionCurrency"), "BillingDocumentIsCancelled": false,
        "AccountingDocument": accounting.to_string(), "AccountingPostingStatus": "C",
        "to_Item": billed, KEY: number, REV: 0}),
    )
}

/// The sales order a delivery's first item references.
fn delivered_order(delivery: &Map<String, Value>) -> Option<&str> {
    delivery
        .get("to_DeliveryDocumentItem")?
        .as_array()?
        .first()?
        .get("ReferenceSDDocument")?
        .as_str()
}

fn items(order: &Map<String, Value>) -> Vec<Map<String, Value>> {
    order
        .get("to_Item")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i.as_object().cloned())
                .collect()
        })
        .unwrap_or_default()
}

/// One past the highest number of `object` (numbers are numeric text), or `first`.
fn next_number(store: &RecordStore, object: &str, first: u64) -> Result<String, StoreError> {
    let highest = store
        .list(object, None, None)?
        .iter()
        .filter_map(|r| r.fields.get(KEY)?.as_str()?.parse::<u64>().ok())
        .max();
    Ok(highest.map_or(first, |n| n + 1).to_string())
}

fn text<'a>(fields: &'a Map<String, Value>, name: &str) -> &'a str {
    fields.get(name).and_then(Value::as_str).unwrap_or("")
}

fn object(value: Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap_or_default()
}
