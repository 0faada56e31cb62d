//! Writing stock: `inventorySetQuantities` sets the **available** quantity of an inventory
//! item at a location, keyed by item and location.
//!
//! A record (the `stock` entity) gives the SKU (`sku`), the location (`warehouse`: a code
//! listed in the target's `locations`, a location's GID, or its name) and the quantity
//! (`available`, a whole number); `fields:` renames say which canonical field holds each.
//! The item is found by SKU (`productVariants(query: "sku:…")`; none or several is the
//! record's error). The call says why (`reason`, default `correction`) and where from
//! (`referenceDocumentUri: ferry://stock/<key>`, shown in the item's history).
//!
//! The ERP is the system of record for the number, so the write is absolute, not
//! compare-and-set: API versions before 2026-01 send `ignoreCompareQuantity: true`; later
//! ones, which replaced the compare field by `changeFromQuantity`, send
//! `changeFromQuantity: null` ("whatever it is now"). Which version made the change is to
//! be verified against a real shop.

use ferry_kit::Outgoing;
use ferry_kit::Written;
use ferry_kit::http::percent_encode;
use ferry_kit::sink::{decimal, key_text};
use ferry_model::{ConnectorError, ErrorKind};
use rust_decimal::prelude::ToPrimitive;
use serde_json::{Value, json};

use crate::gql::{Sel, string};
use crate::sink::ShopifySink;

const SET: &str = "mutation ($input: InventorySetQuantitiesInput!) { inventorySetQuantities(input: $input) { inventoryAdjustmentGroup { id } userErrors { field message code } } }";

/// The first API version whose quantities take `changeFromQuantity` (to verify).
const CHANGE_FROM_SINCE: &str = "2026-01";

fn invalid(message: String) -> ConnectorError {
    ConnectorError::new(ErrorKind::Validation, message)
}

impl ShopifySink {
    /// The inventory item of the variant with SKU `sku`.
    async fn item_of(&self, sku: &str) -> Result<String, ConnectorError> {
        let f = Sel::connection(
            "productVariants",
            2,
            "ProductVariant",
            vec![
                Sel::scalar("id"),
                Sel::scalar("sku"),
                Sel::object("inventoryItem", vec![Sel::scalar("id")]),
            ],
        )
        .arg("query", string(&format!("sku:'{sku}'")));
        let data = self.api.query(&[f], false, "variant by SKU").await?;
        let found: Vec<&Value> = data["productVariants"]["nodes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|v| v["sku"].as_str() == Some(sku))
            .collect();
        match found.as_slice() {
            [one] => one["inventoryItem"]["id"]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| {
                    invalid(format!(
                        "the variant with SKU `{sku}` has no inventory item"
                    ))
                }),
            [] => Err(invalid(format!("no product variant has SKU `{sku}`"))),
            many => Err(invalid(format!(
                "{} product variants have SKU `{sku}`: which one to stock is not clear",
                many.len()
            ))),
        }
    }

    /// The location a record names: through `locations`, a GID, or a name.
    async fn location_of(&self, named: &str) -> Result<String, ConnectorError> {
        let named = self.spec.locations.get(named).map_or(named, String::as_str);
        if named.starts_with("gid://shopify/Location/") {
            return Ok(named.to_owned());
        }
        let mut held = self.locations.lock().await;
        if held.is_none() {
            let f = Sel::connection("locations", 250, "Location", Sel::scalars(&["id", "name"]));
            let data = self.api.query(&[f], false, "locations").await?;
            let all = data["locations"]["nodes"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|l| {
                    Some((l["name"].as_str()?.to_owned(), l["id"].as_str()?.to_owned()))
                })
                .collect();
            *held = Some(all);
        }
        held.iter()
            .flatten()
            .find(|(name, _)| name == named)
            .map(|(_, id)| id.clone())
            .ok_or_else(|| {
                invalid(format!(
                    "no location is called `{named}`: list it under the target's `locations`"
                ))
            })
    }

    pub(crate) async fn write_stock(&self, record: &Outgoing) -> Result<Written, ConnectorError> {
        let text = |role: &str| self.role(record, role).and_then(key_text);
        let sku = text("sku").ok_or_else(|| invalid(format!("key `{}`: no `sku`", record.key)))?;
        let place = text("warehouse").ok_or_else(|| {
            invalid(format!(
                "key `{}`: no `warehouse` (the location)",
                record.key
            ))
        })?;
        let quantity = self
            .role(record, "available")
            .and_then(decimal)
            .filter(|d| d.fract().is_zero())
            .and_then(|d| d.to_i64())
            .ok_or_else(|| {
                invalid(format!(
                    "key `{}`: `available` is not a whole number: {}",
                    record.key,
                    self.role(record, "available").unwrap_or(&Value::Null)
                ))
            })?;
        let item = self.item_of(&sku).await?;
        let location = self.location_of(&place).await?;
        let mut q = json!({"inventoryItemId": item, "locationId": location, "quantity": quantity});
        let mut input = json!({
            "name": "available",
            "reason": self.spec.reason,
            "referenceDocumentUri": format!("ferry://stock/{}", percent_encode(&record.key)),
        });
        if self.api.version() >= CHANGE_FROM_SINCE {
            q["changeFromQuantity"] = Value::Null;
        } else {
            input["ignoreCompareQuantity"] = Value::Bool(true);
        }
        input["quantities"] = json!([q]);
        let data = self
            .api
            .run(
                SET,
                json!({"input": input}),
                crate::gql::MUTATION_COST,
                true,
                "inventorySetQuantities",
            )
            .await?;
        let answer = &data["inventorySetQuantities"];
        if let Some(e) = self.refusal("inventorySetQuantities", &record.key, &answer["userErrors"])
        {
            return Err(e);
        }
        Ok(Written {
            target_id: format!("{item}|{location}"),
        })
    }
}
