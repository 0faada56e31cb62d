//! Writing shipments: `fulfillmentCreate` on an order's fulfilment orders, with tracking.
//!
//! A record (the `shipment` entity) names the order (`order_number`: its name, `#1001`,
//! with or without `#`, or its GID), the tracking (`tracking_number`, `carrier`,
//! `tracking_url`) and optionally `lines` (`sku`, `quantity`): without lines, everything
//! still to fulfil is. `fields:` renames say which canonical field holds each.
//!
//! Idempotent, since the engine may send a shipment again (a retry, a replay): a
//! fulfilment with the same tracking number already on the order is the one written, and
//! an order with nothing left to fulfil is not fulfilled again (the write answers its last
//! fulfilment). Shopify's own refusals (`userErrors`) are the record's error.

use ferry_kit::sink::{decimal, key_text};
use ferry_kit::{Outgoing, Written};
use ferry_model::{ConnectorError, ErrorKind};
use rust_decimal::prelude::ToPrimitive;
use serde_json::{Value, json};

use crate::gql::{Sel, string};
use crate::sink::{ShopifySink, written};

const CREATE: &str = "mutation ($fulfillment: FulfillmentInput!) { fulfillmentCreate(fulfillment: $fulfillment) { fulfillment { id } userErrors { field message } } }";

fn invalid(message: String) -> ConnectorError {
    ConnectorError::new(ErrorKind::Validation, message)
}

/// The order fields the write needs.
fn order_fields() -> Vec<Sel> {
    let line = vec![
        Sel::scalar("id"),
        Sel::scalar("remainingQuantity"),
        Sel::object("lineItem", Sel::scalars(&["id", "sku"])),
    ];
    vec![
        Sel::scalar("id"),
        Sel::scalar("name"),
        Sel::object(
            "fulfillments",
            vec![
                Sel::scalar("id"),
                Sel::object("trackingInfo", Sel::scalars(&["number"])),
            ],
        ),
        Sel::connection(
            "fulfillmentOrders",
            5,
            "FulfillmentOrder",
            vec![
                Sel::scalar("id"),
                Sel::scalar("status"),
                Sel::connection("lineItems", 20, "FulfillmentOrderLineItem", line),
            ],
        ),
    ]
}

impl ShopifySink {
    /// The order a shipment names.
    async fn order_of(&self, named: &str) -> Result<Value, ConnectorError> {
        if named.starts_with("gid://shopify/Order/") {
            let f = Sel::object("order", order_fields()).arg("id", string(named));
            let data = self.api.query(&[f], false, "order by id").await?;
            return Ok(data["order"].clone()).and_then(|o| {
                if o.is_object() {
                    Ok(o)
                } else {
                    Err(invalid(format!("no order {named}")))
                }
            });
        }
        let mut names = vec![named.to_owned()];
        if !named.starts_with('#') {
            names.push(format!("#{named}"));
        }
        for name in &names {
            let f = Sel::connection("orders", 2, "Order", order_fields())
                .arg("query", string(&format!("name:'{name}'")));
            let data = self.api.query(&[f], false, "order by name").await?;
            let found: Vec<Value> = data["orders"]["nodes"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|o| o["name"].as_str() == Some(name.as_str()))
                .cloned()
                .collect();
            if let [one] = found.as_slice() {
                return Ok(one.clone());
            }
        }
        Err(invalid(format!("no order is named `{named}`")))
    }

    pub(crate) async fn write_fulfillment(
        &self,
        record: &Outgoing,
    ) -> Result<Written, ConnectorError> {
        let text = |role: &str| self.role(record, role).and_then(key_text);
        let named = text("order_number")
            .ok_or_else(|| invalid(format!("shipment `{}`: no `order_number`", record.key)))?;
        let order = self.order_of(&named).await?;
        let fulfillments = order["fulfillments"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let tracking = text("tracking_number");
        if let Some(number) = &tracking
            && let Some(done) = fulfillments.iter().find(|f| {
                f["trackingInfo"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|t| t["number"].as_str() == Some(number))
            })
        {
            return written(
                done["id"].as_str(),
                "an earlier fulfillmentCreate",
                self.api.http.system(),
            );
        }
        let open: Vec<&Value> = order["fulfillmentOrders"]["nodes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|fo| matches!(fo["status"].as_str(), Some("OPEN" | "IN_PROGRESS")))
            .collect();
        if open.is_empty() {
            // Nothing left to fulfil: the order is fulfilled already, not twice.
            let last = fulfillments.last().and_then(|f| f["id"].as_str());
            return written(last, "the order's last fulfilment", self.api.http.system())
                .map_err(|_| invalid(format!("order {named} has nothing to fulfil")));
        }
        let groups = self.groups(record, &named, &open)?;
        let mut input = json!({"lineItemsByFulfillmentOrder": groups, "notifyCustomer": self.spec.notify_customer});
        if let Some(number) = tracking {
            input["trackingInfo"] = json!({
                "number": number,
                "company": text("carrier"),
                "url": text("tracking_url"),
            });
        }
        // Not repeated after a timeout: a repeat finds its tracking number on the order.
        let data = self
            .api
            .run(
                CREATE,
                json!({"fulfillment": input}),
                crate::gql::MUTATION_COST,
                false,
                "fulfillmentCreate",
            )
            .await?;
        let answer = &data["fulfillmentCreate"];
        if let Some(e) = self.refusal("fulfillmentCreate", &record.key, &answer["userErrors"]) {
            return Err(e);
        }
        written(
            answer["fulfillment"]["id"].as_str(),
            "fulfillmentCreate",
            self.api.http.system(),
        )
    }

    /// `lineItemsByFulfillmentOrder`: every open fulfilment order whole, or the record's
    /// lines (SKU and quantity) taken from what remains.
    fn groups(
        &self,
        record: &Outgoing,
        named: &str,
        open: &[&Value],
    ) -> Result<Vec<Value>, ConnectorError> {
        let lines = self
            .role(record, "lines")
            .and_then(Value::as_array)
            .filter(|l| !l.is_empty());
        let Some(lines) = lines else {
            return Ok(open
                .iter()
                .map(|fo| json!({"fulfillmentOrderId": fo["id"]}))
                .collect());
        };
        let mut left: Vec<(String, String, i64)> = Vec::new(); // (fo, fo line, remaining)
        let mut groups: Vec<(String, Vec<Value>)> = Vec::new();
        for fo in open {
            for l in fo["lineItems"]["nodes"].as_array().into_iter().flatten() {
                left.push((
                    fo["id"].as_str().unwrap_or("").to_owned(),
                    l["id"].as_str().unwrap_or("").to_owned(),
                    l["remainingQuantity"].as_i64().unwrap_or(0),
                ));
            }
        }
        let sku_of = |fo_line: &str| {
            open.iter()
                .flat_map(|fo| fo["lineItems"]["nodes"].as_array().into_iter().flatten())
                .find(|l| l["id"].as_str() == Some(fo_line))
                .and_then(|l| l["lineItem"]["sku"].as_str())
                .map(str::to_owned)
        };
        for (i, line) in lines.iter().enumerate() {
            let sku = line.get("sku").and_then(key_text);
            let quantity = line
                .get("quantity")
                .and_then(decimal)
                .and_then(|d| d.to_i64());
            let (Some(sku), Some(wanted)) = (sku, quantity) else {
                return Err(invalid(format!(
                    "shipment `{}`: lines[{i}] needs `sku` and a whole `quantity`",
                    record.key
                )));
            };
            let mut quantity = wanted;
            for (fo, fo_line, remaining) in left.iter_mut() {
                if quantity == 0
                    || *remaining == 0
                    || sku_of(fo_line).as_deref() != Some(sku.as_str())
                {
                    continue;
                }
                let take = quantity.min(*remaining);
                *remaining -= take;
                quantity -= take;
                let item = json!({"id": fo_line, "quantity": take});
                match groups.iter_mut().find(|(id, _)| id.as_str() == fo.as_str()) {
                    Some((_, items)) => items.push(item),
                    None => groups.push((fo.clone(), vec![item])),
                }
            }
            if quantity > 0 {
                return Err(invalid(format!(
                    "shipment `{}`: order {named} has {} of SKU `{sku}` left to fulfil, not {wanted} (lines[{i}])",
                    record.key,
                    wanted - quantity
                )));
            }
        }
        Ok(groups
            .into_iter()
            .map(
                |(fo, items)| json!({"fulfillmentOrderId": fo, "fulfillmentOrderLineItems": items}),
            )
            .collect())
    }
}
