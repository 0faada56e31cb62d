//! Sales orders: the deep insert (header, `to_Item`, `to_Partner`, manual `PPR0` prices)
//! with numbers and prices assigned by the double, items added to and removed from an
//! existing order, repricing after an item change, and
//! the credit exposure an order adds to its sold-to party's credit account.

use axum::http::StatusCode;
use serde_json::{Map, Value, json};

use super::Ctx;
use super::answer::{Reply, SapError};
use super::catalog;
use super::entity::{self, KEY, REV};
use super::values;
use super::writes::{accept_fields, nav_entries};
use crate::store::Record;

/// The credit segment every seeded credit account is in (a guess; see the README).
pub const CREDIT_SEGMENT: &str = "1000";

/// The credit limit a customer created through the API starts with (a guess: in S/4HANA a
/// rule of the credit segment sets it; see the README).
pub const NEW_CUSTOMER_CREDIT_LIMIT: &str = "10000.00";

fn text<'a>(fields: &'a Map<String, Value>, name: &str) -> &'a str {
    fields.get(name).and_then(Value::as_str).unwrap_or("")
}

fn amount(fields: &Map<String, Value>, name: &str) -> f64 {
    text(fields, name).parse().unwrap_or(0.0)
}

/// `POST A_SalesOrder`.
pub fn create(ctx: &Ctx, body: &Map<String, Value>) -> Result<Reply, SapError> {
    let set = catalog::named("A_SalesOrder");
    let mut header = accept_fields(set, body, true)?;
    for required in [
        "SalesOrderType",
        "SalesOrganization",
        "DistributionChannel",
        "OrganizationDivision",
        "SoldToParty",
    ] {
        if text(&header, required).is_empty() {
            return Err(
                SapError::bad_request("00/055", "Fill out all required entry fields").detail(
                    "00/055",
                    format!("Field {required} is required"),
                    required,
                ),
            );
        }
    }
    let sold_to = text(&header, "SoldToParty").to_owned();
    let area = [
        text(&header, "SalesOrganization").to_owned(),
        text(&header, "DistributionChannel").to_owned(),
        text(&header, "OrganizationDivision").to_owned(),
    ];
    let currency = sales_area_currency(ctx, &sold_to, &area).ok_or_else(|| {
        let message = format!(
            "Sold-to party {sold_to} not maintained for sales area {}",
            area.join(" ")
        );
        SapError::bad_request("V1/384", message)
    })?;
    let number = next_number(ctx);
    let mut items = Vec::new();
    for (i, raw) in nav_entries(body, "to_Item")?.iter().enumerate() {
        let item_set = catalog::named("A_SalesOrderItem");
        // Manual prices are consumed here; pricing elements are not served as a set.
        let mut plain = raw.clone();
        plain.remove("to_PricingElement");
        let mut item = accept_fields(item_set, &plain, true)?;
        item.insert("SalesOrder".into(), number.clone().into());
        item.insert("SalesOrderItem".into(), ((i + 1) * 10).to_string().into());
        item.insert("TransactionCurrency".into(), currency.clone().into());
        let manual = nav_entries(raw, "to_PricingElement")?
            .iter()
            .find(|p| text(p, "ConditionType") == "PPR0")
            .map(|p| text(p, "ConditionRateValue").to_owned());
        if let Some(rate) = manual {
            item.insert("_ManualPrice".into(), rate.into());
        }
        fill_item(ctx, &mut item)?;
        items.push(item);
    }
    let partners = nav_entries(body, "to_Partner")?
        .iter()
        .map(|p| {
            let mut partner = accept_fields(catalog::named("A_SalesOrderHeaderPartner"), p, true)?;
            partner.insert("SalesOrder".into(), number.clone().into());
            Ok(Value::Object(partner))
        })
        .collect::<Result<Vec<_>, SapError>>()?;
    let total = items.iter().map(|i| amount(i, "NetAmount")).sum::<f64>();
    let today = values::day(ctx.harness.clock().now());
    for (name, value) in [
        ("SalesOrder", json!(number)),
        ("TotalNetAmount", json!(values::decimal(total, 2))),
        ("TransactionCurrency", json!(currency)),
        ("SalesOrderDate", json!(today)),
        ("OverallSDProcessStatus", json!("A")),
        ("OverallTotalDeliveryStatus", json!("A")),
        ("OverallDeliveryStatus", json!("A")),
        ("TotalBlockStatus", json!("")),
    ] {
        header.insert(name.into(), value);
    }
    header
        .entry("RequestedDeliveryDate")
        .or_insert_with(|| json!(today));
    let warning = add_exposure(ctx, &sold_to, total);
    header.insert(
        "TotalCreditCheckStatus".into(),
        json!(if warning.is_some() { "B" } else { "A" }),
    );
    header.insert(
        "to_Item".into(),
        Value::Array(items.into_iter().map(Value::Object).collect()),
    );
    header.insert("to_Partner".into(), Value::Array(partners));
    header.insert(KEY.into(), number.clone().into());
    header.insert(REV.into(), 0.into());
    let record = ctx
        .harness
        .store()
        .insert(set.name, header)
        .map_err(|e| SapError::bad_request("V1/001", e.to_string()))?;
    let expand = ["to_Item".to_owned(), "to_Partner".to_owned()];
    let rendered = entity::render(ctx, set, &record, &expand);
    let uri = entity::uri(ctx, set, &[number]);
    let mut reply = Reply::json(StatusCode::CREATED, &json!({ "d": rendered }))
        .header("location", uri)
        .header("etag", entity::etag(&record));
    if let Some(message) = warning {
        reply = reply.warning("V1/154", &message);
    }
    Ok(reply)
}

/// Checks the material, takes the unit and the price, and computes `NetAmount`.
pub fn fill_item(ctx: &Ctx, item: &mut Map<String, Value>) -> Result<(), SapError> {
    let material = text(item, "Material").to_owned();
    let product = ctx
        .harness
        .store()
        .find_by_key("A_Product", &material)
        .ok()
        .flatten()
        .ok_or_else(|| {
            SapError::bad_request(
                "M3/305",
                format!("The material {material} does not exist or is not activated"),
            )
            .detail(
                "V1/405",
                format!("Item {} could not be created", text(item, "SalesOrderItem")),
                "to_Item",
            )
        })?;
    let quantity = amount(item, "RequestedQuantity");
    if quantity <= 0.0 {
        return Err(SapError::bad_request(
            "V1/082",
            format!("Enter a quantity for item {}", text(item, "SalesOrderItem")),
        ));
    }
    if text(item, "RequestedQuantityUnit").is_empty() {
        item.insert(
            "RequestedQuantityUnit".into(),
            text(&product.fields, "BaseUnit").into(),
        );
    }
    let valuation = entity::embedded_entries(catalog::named("A_ProductValuation"), &product.fields);
    let list_price = valuation.first().map_or(0.0, |v| {
        amount(v, "StandardPrice") / amount(v, "PriceUnitQty").max(1.0)
    });
    let price = item
        .get("_ManualPrice")
        .and_then(Value::as_str)
        .and_then(|p| p.parse().ok())
        .unwrap_or(list_price);
    item.insert(
        "NetAmount".into(),
        values::decimal(quantity * price, 2).into(),
    );
    item.entry("Plant").or_insert_with(|| json!("1010"));
    item.entry("SalesOrderItemCategory")
        .or_insert_with(|| json!("TAN"));
    item.entry("SDProcessStatus").or_insert_with(|| json!("A"));
    item.entry("SalesOrderItemText").or_insert_with(|| {
        let descriptions =
            entity::embedded_entries(catalog::named("A_ProductDescription"), &product.fields);
        json!(
            descriptions
                .first()
                .map_or("", |d| text(d, "ProductDescription"))
        )
    });
    Ok(())
}

/// `POST A_SalesOrder('…')/to_Item`: an item added to an order, numbered after its last
/// item (steps of 10), priced, and the order repriced with its exposure.
pub fn add_item(ctx: &Ctx, order: &[String], body: &Map<String, Value>) -> Result<Reply, SapError> {
    let (record, _) = entity::locate(ctx, catalog::named("A_SalesOrder"), order)?;
    let mut items = record
        .fields
        .get("to_Item")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut item = accept_fields(catalog::named("A_SalesOrderItem"), body, true)?;
    let last = items
        .iter()
        .filter_map(|i| i.get("SalesOrderItem")?.as_str()?.parse::<u64>().ok())
        .max()
        .unwrap_or(0);
    item.insert(
        "SalesOrder".into(),
        text(&record.fields, "SalesOrder").into(),
    );
    item.insert(
        "SalesOrderItem".into(),
        (last / 10 * 10 + 10).to_string().into(),
    );
    item.insert(
        "TransactionCurrency".into(),
        text(&record.fields, "TransactionCurrency").into(),
    );
    fill_item(ctx, &mut item)?;
    items.push(Value::Object(item.clone()));
    save_items(ctx, &record, items)?;
    Ok(Reply::json(StatusCode::CREATED, &json!({ "d": item })))
}

/// An order's items replaced by `items`: its total, revision and its sold-to party's
/// exposure follow.
pub fn save_items(ctx: &Ctx, order: &Record, items: Vec<Value>) -> Result<(), SapError> {
    let before = amount(&order.fields, "TotalNetAmount");
    let after = total(&items);
    let rev = order.fields.get(REV).and_then(Value::as_u64).unwrap_or(0);
    let mut patch = Map::new();
    patch.insert("to_Item".into(), Value::Array(items));
    patch.insert("TotalNetAmount".into(), after.clone().into());
    patch.insert(REV.into(), (rev + 1).into());
    ctx.harness
        .store()
        .update("A_SalesOrder", order.id, patch)
        .map_err(|e| SapError::bad_request("V1/001", e.to_string()))?;
    let delta = after.parse::<f64>().unwrap_or(0.0) - before;
    add_exposure(ctx, text(&order.fields, "SoldToParty"), delta);
    Ok(())
}

/// The sum of the items' `NetAmount`, as the header's `TotalNetAmount`.
pub fn total(items: &[Value]) -> String {
    let sum: f64 = items
        .iter()
        .filter_map(Value::as_object)
        .map(|i| amount(i, "NetAmount"))
        .sum();
    values::decimal(sum, 2)
}

/// The currency of `customer`'s sales area, if the customer is maintained for it.
fn sales_area_currency(ctx: &Ctx, customer: &str, area: &[String; 3]) -> Option<String> {
    let record = ctx
        .harness
        .store()
        .find_by_key("A_Customer", customer)
        .ok()??;
    entity::embedded_entries(catalog::named("A_CustomerSalesArea"), &record.fields)
        .into_iter()
        .find(|a| {
            text(a, "SalesOrganization") == area[0]
                && text(a, "DistributionChannel") == area[1]
                && text(a, "Division") == area[2]
        })
        .map(|a| text(&a, "Currency").to_owned())
}

fn next_number(ctx: &Ctx) -> String {
    let highest = ctx
        .harness
        .store()
        .list("A_SalesOrder", None, None)
        .unwrap_or_default()
        .iter()
        .filter_map(|r| text(&r.fields, "SalesOrder").parse::<u64>().ok())
        .max()
        .unwrap_or(4_000_000);
    (highest + 1).to_string()
}

/// Adds `amount` to the exposure of `customer`'s credit account; the warning when the
/// exposure now exceeds the limit.
pub fn add_exposure(ctx: &Ctx, customer: &str, amount: f64) -> Option<String> {
    let store = ctx.harness.store();
    let key = format!("{customer}|{CREDIT_SEGMENT}");
    let account = store
        .find_by_key("A_CreditManagementAccount", &key)
        .ok()??;
    let exposure = self::amount(&account.fields, "CreditExposureAmount") + amount;
    let limit = self::amount(&account.fields, "CustomerCreditLimitAmount");
    let exceeded = exposure > limit;
    let mut patch = Map::new();
    patch.insert(
        "CreditExposureAmount".into(),
        values::decimal(exposure, 2).into(),
    );
    patch.insert("CreditLimitIsExceeded".into(), exceeded.into());
    let rev = account.fields.get(REV).and_then(Value::as_u64).unwrap_or(0);
    patch.insert(REV.into(), (rev + 1).into());
    let _ = store.update("A_CreditManagementAccount", account.id, patch);
    exceeded.then(|| {
        let currency = text(&account.fields, "CreditSegmentCurrency");
        format!("Credit limit of sold-to party {customer} exceeded: exposure {exposure:.2} {currency}, limit {limit:.2} {currency}; order blocked for delivery")
    })
}
