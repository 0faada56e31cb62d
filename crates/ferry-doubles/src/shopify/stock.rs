//! `inventorySetQuantities(input:)` (dossier §4): sets the `available` (or `on_hand`)
//! quantity of inventory items at locations, all or nothing, and answers the adjustment
//! group with its changes.
//!
//! Input: `name` (`available` | `on_hand`), `reason` (one of Shopify's reason codes),
//! `referenceDocumentUri` (a URI, optional), `quantities: [{inventoryItemId, locationId,
//! quantity, …}]` (at most 250). Compare-and-set, as documented for the two API
//! generations: `ignoreCompareQuantity: true` on the input skips it; otherwise each
//! quantity carries `compareQuantity` (older versions) or `changeFromQuantity` (newer
//! ones, where `null` means "whatever it is now"), and a value that differs from the one
//! held refuses the whole call (`COMPARE_QUANTITY_STALE`). Setting `available` moves
//! `on_hand` by the same delta (committed stays). The product's `updatedAt` does not move
//! (a guess, see the README): stock is read back through `inventoryItem` or the product's
//! variants.

use serde_json::{Map, Value, json};

use super::graphql::Field;
use super::writes::{error, payload};
use super::{Ctx, gid};
use crate::store::stamp;

/// The reasons Shopify documents for an inventory change.
const REASONS: [&str; 17] = [
    "correction",
    "cycle_count_available",
    "damaged",
    "movement_created",
    "movement_updated",
    "movement_received",
    "movement_canceled",
    "other",
    "promotion",
    "quality_control",
    "received",
    "reservation_created",
    "reservation_deleted",
    "reservation_updated",
    "restock",
    "safety_stock",
    "shrinkage",
];

/// Where an inventory level is stored: product record, variant index, level index.
type At = (crate::Record, usize, usize);

fn find_level(ctx: &Ctx, item: &str, location: &str) -> Result<Option<At>, Option<()>> {
    let products = ctx
        .harness
        .store()
        .list("Product", None, None)
        .unwrap_or_default();
    for p in products {
        let variants = p.fields.get("variants").and_then(Value::as_array);
        for (vi, v) in variants.into_iter().flatten().enumerate() {
            if v["inventoryItem"]["id"].as_str() != Some(item) {
                continue;
            }
            let levels = v["inventoryItem"]["inventoryLevels"].as_array();
            let at = levels
                .into_iter()
                .flatten()
                .position(|l| l["location"]["id"].as_str() == Some(location));
            // The item exists; Some(()) in the error says "not stocked at that location".
            return at.map(|li| Some((p.clone(), vi, li))).ok_or(Some(()));
        }
    }
    Err(None)
}

fn quantity_of(level: &Value, name: &str) -> i64 {
    level["quantities"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|q| q["name"].as_str() == Some(name))
        .and_then(|q| q["quantity"].as_i64())
        .unwrap_or(0)
}

fn set_quantity(level: &mut Value, name: &str, quantity: i64) {
    if let Some(qs) = level["quantities"].as_array_mut() {
        match qs.iter_mut().find(|q| q["name"].as_str() == Some(name)) {
            Some(q) => q["quantity"] = quantity.into(),
            None => qs.push(json!({"name": name, "quantity": quantity})),
        }
    }
}

/// The input's problems, each a userError; empty when it may be applied.
fn check(ctx: &Ctx, input: &Map<String, Value>, name: &str) -> (Vec<Value>, Vec<At>) {
    let mut errors = Vec::new();
    let mut found = Vec::new();
    if !matches!(name, "available" | "on_hand") {
        errors.push(error(
            &["input", "name"],
            "The quantity name must be either 'available' or 'on_hand'.",
            "INVALID_NAME",
        ));
    }
    let reason = input.get("reason").and_then(Value::as_str).unwrap_or("");
    if !REASONS.contains(&reason) {
        errors.push(error(
            &["input", "reason"],
            "The specified reason is invalid.",
            "INVALID_REASON",
        ));
    }
    if let Some(uri) = input.get("referenceDocumentUri").and_then(Value::as_str)
        && !uri.split_once(':').is_some_and(|(scheme, rest)| {
            !scheme.is_empty()
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
                && !rest.is_empty()
        })
    {
        errors.push(error(
            &["input", "referenceDocumentUri"],
            "The specified reference document URI is invalid.",
            "INVALID_REFERENCE_DOCUMENT",
        ));
    }
    let quantities = input
        .get("quantities")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if quantities.len() > super::MAX_PAGE {
        let e = format!(
            "The input array size of {} is greater than the maximum allowed of {}.",
            quantities.len(),
            super::MAX_PAGE
        );
        errors.push(error(&["input", "quantities"], &e, "INVALID"));
    }
    let ignore = input.get("ignoreCompareQuantity") == Some(&Value::Bool(true));
    for (i, q) in quantities.iter().enumerate() {
        let i = i.to_string();
        let path = |f: &'static str| ["input", "quantities", i.as_str(), f];
        let item = q["inventoryItemId"].as_str().unwrap_or("");
        let location = q["locationId"].as_str().unwrap_or("");
        let Some(quantity) = q["quantity"].as_i64() else {
            errors.push(error(
                &path("quantity"),
                "Quantity is required.",
                "INVALID_QUANTITY",
            ));
            continue;
        };
        if quantity.abs() > 1_000_000_000 {
            errors.push(error(
                &path("quantity"),
                "The quantity can't be higher than 1,000,000,000.",
                "INVALID_QUANTITY_TOO_HIGH",
            ));
        }
        let at = match find_level(ctx, item, location) {
            Ok(Some(at)) => at,
            Ok(None) | Err(None) => {
                let e = "The specified inventory item could not be found.";
                errors.push(error(&path("inventoryItemId"), e, "INVALID_INVENTORY_ITEM"));
                continue;
            }
            Err(Some(())) => {
                let e = "The specified inventory item is not stocked at the location.";
                errors.push(error(
                    &path("locationId"),
                    e,
                    "ITEM_NOT_STOCKED_AT_LOCATION",
                ));
                continue;
            }
        };
        let held = quantity_of(
            &at.0.fields["variants"][at.1]["inventoryItem"]["inventoryLevels"][at.2],
            name,
        );
        let compare = if ignore {
            None
        } else if let Some(c) = q.get("changeFromQuantity") {
            c.as_i64() // null: no comparison
        } else if let Some(c) = q.get("compareQuantity").and_then(Value::as_i64) {
            Some(c)
        } else {
            errors.push(error(
                &path("compareQuantity"),
                "The compareQuantity value is required unless ignoreCompareQuantity is true.",
                "COMPARE_QUANTITY_REQUIRED",
            ));
            None
        };
        if compare.is_some_and(|c| c != held) {
            errors.push(error(
                &path("compareQuantity"),
                "The compareQuantity argument no longer matches the persisted quantity.",
                "COMPARE_QUANTITY_STALE",
            ));
        }
        found.push(at);
    }
    (errors, found)
}

/// The mutation.
pub fn set_quantities(ctx: &Ctx, f: &Field, input: &Map<String, Value>) -> Result<Value, String> {
    let name = input.get("name").and_then(Value::as_str).unwrap_or("");
    let (errors, _) = check(ctx, input, name);
    if !errors.is_empty() {
        let answer = json!({"inventoryAdjustmentGroup": null, "userErrors": errors});
        return Ok(payload(&answer, f));
    }
    let store = ctx.harness.store();
    let mut changes = Vec::new();
    let quantities = input["quantities"].as_array().cloned().unwrap_or_default();
    for q in &quantities {
        let item = q["inventoryItemId"].as_str().unwrap_or("");
        let location = q["locationId"].as_str().unwrap_or("");
        let Ok(Some((mut product, vi, li))) = find_level(ctx, item, location) else {
            continue;
        };
        let quantity = q["quantity"].as_i64().unwrap_or(0);
        let variant = &mut product.fields["variants"][vi];
        let level = &mut variant["inventoryItem"]["inventoryLevels"][li];
        let delta = quantity - quantity_of(level, name);
        set_quantity(level, name, quantity);
        changes.push(
            json!({"name": name, "delta": delta, "quantityAfterChange": quantity,
                            "item": {"id": item}, "location": {"id": location}}),
        );
        if name == "available" {
            let on_hand = quantity_of(level, "on_hand") + delta;
            set_quantity(level, "on_hand", on_hand);
            changes.push(
                json!({"name": "on_hand", "delta": delta, "quantityAfterChange": on_hand,
                                "item": {"id": item}, "location": {"id": location}}),
            );
        }
        let total: i64 = variant["inventoryItem"]["inventoryLevels"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|l| quantity_of(l, "available"))
            .sum();
        variant["inventoryQuantity"] = total.into();
        store
            .restore("Product", product)
            .map_err(|e| e.to_string())?;
    }
    let now = stamp(ctx.harness.clock().now());
    let group = json!({
        "id": gid("InventoryAdjustmentGroup", ctx.shared.next_id()),
        "createdAt": now,
        "reason": input["reason"],
        "referenceDocumentUri": input.get("referenceDocumentUri").cloned().unwrap_or(Value::Null),
        "changes": changes,
    });
    Ok(payload(
        &json!({"inventoryAdjustmentGroup": group, "userErrors": []}),
        f,
    ))
}
