//! `fulfillmentCreate(fulfillment:)` (dossier §4): fulfils line items of an order's
//! fulfilment orders, with tracking info.
//!
//! Input: `lineItemsByFulfillmentOrder: [{fulfillmentOrderId, fulfillmentOrderLineItems:
//! [{id, quantity}]}]` (no line items: every remaining quantity of that fulfilment order),
//! `trackingInfo: {number, url, company}`, `notifyCustomer`. Every fulfilment order must be
//! of one order and fulfillable (`OPEN` or `IN_PROGRESS`): a `CLOSED` one (already
//! fulfilled) is refused, so an order is never fulfilled twice. The answer's `userErrors`
//! carry `field` and `message` (Shopify's `UserError`, no code). On success the remaining
//! quantities go down, a fulfilment order with nothing left is `CLOSED`, the order's
//! `displayFulfillmentStatus` becomes `FULFILLED` or `PARTIALLY_FULFILLED`, its
//! `updatedAt` moves, and `fulfillments/create` is sent.

use serde_json::{Value, json};

use super::graphql::Field;
use super::resolve::node;
use super::writes::payload;
use super::{Ctx, gid};
use crate::store::stamp;

fn refused(f: &Field, field: &[&str], message: &str) -> Result<Value, String> {
    let e = json!({"field": field, "message": message});
    Ok(payload(&json!({"fulfillment": null, "userErrors": [e]}), f))
}

/// The order holding fulfilment order `id`, and its index there.
fn order_of(ctx: &Ctx, id: &str) -> Option<(crate::Record, usize)> {
    let orders = ctx.harness.store().list("Order", None, None).ok()?;
    orders.into_iter().find_map(|o| {
        let at = o
            .fields
            .get("fulfillmentOrders")?
            .as_array()?
            .iter()
            .position(|fo| fo["id"].as_str() == Some(id))?;
        Some((o, at))
    })
}

/// The mutation.
pub fn create(ctx: &Ctx, f: &Field) -> Result<Value, String> {
    let input = f.args.get("fulfillment").cloned().unwrap_or(Value::Null);
    let groups = input["lineItemsByFulfillmentOrder"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let path = ["fulfillment", "lineItemsByFulfillmentOrder"];
    if groups.is_empty() {
        return refused(f, &path, "Line items by fulfillment order can't be blank");
    }
    let mut order: Option<crate::Record> = None;
    let mut lines = Vec::new();
    for g in &groups {
        let id = g["fulfillmentOrderId"].as_str().unwrap_or("");
        let Some((found, at)) = order_of(ctx, id) else {
            return refused(f, &path, &format!("Fulfillment order {id} does not exist."));
        };
        let record = match order.take() {
            Some(o) if o.id != found.id => {
                return refused(
                    f,
                    &path,
                    "All fulfillment orders must belong to the same order.",
                );
            }
            Some(o) => o,
            None => found,
        };
        let mut record = record;
        let fo = &mut record.fields["fulfillmentOrders"][at];
        let status = fo["status"].as_str().unwrap_or("").to_owned();
        if !matches!(status.as_str(), "OPEN" | "IN_PROGRESS") {
            let n = id.rsplit('/').next().unwrap_or(id);
            let m = format!(
                "Fulfillment order {n} has an unfulfillable status= {}.",
                status.to_lowercase()
            );
            return refused(f, &path, &m);
        }
        let wanted: Vec<(String, Option<i64>)> = match g["fulfillmentOrderLineItems"].as_array() {
            Some(items) => items
                .iter()
                .map(|i| {
                    (
                        i["id"].as_str().unwrap_or("").to_owned(),
                        i["quantity"].as_i64(),
                    )
                })
                .collect(),
            None => fo["lineItems"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|l| (l["id"].as_str().unwrap_or("").to_owned(), None))
                .collect(),
        };
        for (line_id, quantity) in wanted {
            let Some(line) = fo["lineItems"]
                .as_array_mut()
                .and_then(|ls| ls.iter_mut().find(|l| l["id"].as_str() == Some(&line_id)))
            else {
                return refused(
                    f,
                    &path,
                    &format!("Fulfillment order line item {line_id} does not exist."),
                );
            };
            let remaining = line["remainingQuantity"].as_i64().unwrap_or(0);
            let quantity = quantity.unwrap_or(remaining);
            if quantity < 0 || quantity > remaining {
                return refused(
                    f,
                    &path,
                    "Invalid fulfillment order line item quantity requested.",
                );
            }
            if quantity == 0 {
                continue;
            }
            line["remainingQuantity"] = (remaining - quantity).into();
            lines.push(json!({"lineItem": line["lineItem"], "quantity": quantity}));
        }
        let left: i64 = fo["lineItems"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|l| l["remainingQuantity"].as_i64().unwrap_or(0))
            .sum();
        fo["status"] = if left == 0 { "CLOSED" } else { "IN_PROGRESS" }.into();
        order = Some(record);
    }
    let Some(mut record) = order else {
        return refused(f, &path, "Line items by fulfillment order can't be blank");
    };
    if lines.is_empty() {
        return refused(
            f,
            &path,
            "Invalid fulfillment order line item quantity requested.",
        );
    }
    let all_closed = record.fields["fulfillmentOrders"]
        .as_array()
        .into_iter()
        .flatten()
        .all(|fo| fo["status"].as_str() == Some("CLOSED"));
    let tracking = &input["trackingInfo"];
    let tracking: Vec<Value> = if tracking.is_object() {
        vec![
            json!({"number": tracking["number"], "url": tracking["url"], "company": tracking["company"]}),
        ]
    } else {
        Vec::new()
    };
    let fulfillment = json!({
        "id": gid("Fulfillment", ctx.shared.next_id()),
        "status": "SUCCESS",
        "createdAt": stamp(ctx.harness.clock().now()),
        "trackingInfo": tracking,
        "fulfillmentLineItems": lines,
    });
    let mut fulfillments = record.fields["fulfillments"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    fulfillments.push(fulfillment.clone());
    let mut patch = serde_json::Map::new();
    patch.insert("fulfillments".into(), Value::Array(fulfillments));
    patch.insert(
        "fulfillmentOrders".into(),
        record.fields["fulfillmentOrders"].take(),
    );
    let status = if all_closed {
        "FULFILLED"
    } else {
        "PARTIALLY_FULFILLED"
    };
    patch.insert("displayFulfillmentStatus".into(), status.into());
    let written = ctx
        .harness
        .store()
        .update("Order", record.id, patch)
        .map_err(|e| e.to_string())?;
    ctx.shared
        .webhooks
        .enqueue("orders/updated", &node("Order", &written));
    ctx.shared
        .webhooks
        .enqueue("fulfillments/create", &fulfillment);
    Ok(payload(
        &json!({"fulfillment": fulfillment, "userErrors": []}),
        f,
    ))
}
