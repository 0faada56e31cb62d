//! Writes: create (sales orders by deep insert, business partners), update by PATCH,
//! MERGE or PUT with `If-Match` (412 stale, 428 missing when required), and DELETE.
//! Callers hold the double's write lock.

use axum::http::{HeaderMap, StatusCode};
use serde_json::{Map, Value, json};

use super::Ctx;
use super::answer::{Reply, SapError};
use super::catalog::{self, EntitySet};
use super::config::IfMatch;
use super::entity::{self, KEY, REV};
use super::orders;
use super::path::{Resource, key_text};
use super::values;

/// A JSON object body, or Gateway's refusal.
pub fn body_object(body: &[u8]) -> Result<Map<String, Value>, SapError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(SapError::bad_request(
            "/IWBEP/CM_MGW_RT/009",
            "The Data Services Request could not be understood due to malformed syntax",
        )),
    }
}

/// The properties of `set` in a client's object, checked and in stored form. Navigation
/// properties are left to the caller; change stamps are ignored; keys only if allowed.
pub fn accept_fields(
    set: &EntitySet,
    body: &Map<String, Value>,
    keys: bool,
) -> Result<Map<String, Value>, SapError> {
    let mut out = Map::new();
    for (name, value) in body {
        if name == "__metadata" || set.nav(name).is_some() || set.is_computed(name) {
            continue;
        }
        let Some(kind) = set.kind(name) else {
            return Err(SapError::bad_request(
                "/IWBEP/CM_MGW_RT/004",
                format!(
                    "Property '{name}' is invalid for type '{}'",
                    set.type_name()
                ),
            ));
        };
        if !keys && set.key.contains(&name.as_str()) {
            continue;
        }
        let stored = values::accept(kind, value).ok_or_else(|| {
            SapError::bad_request(
                "/IWBEP/CM_MGW_RT/005",
                format!(
                    "Invalid value {value} for property '{name}' of type {}",
                    kind.edm()
                ),
            )
        })?;
        out.insert(name.clone(), stored);
    }
    Ok(out)
}

/// The entries of a deep-insert navigation: an array or `{"results": […]}`.
pub fn nav_entries(
    body: &Map<String, Value>,
    nav: &str,
) -> Result<Vec<Map<String, Value>>, SapError> {
    let list = match body.get(nav) {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(a)) => a,
        Some(Value::Object(o)) => match o.get("results") {
            Some(Value::Array(a)) => a,
            _ => {
                return Err(SapError::bad_request(
                    "/IWBEP/CM_MGW_RT/009",
                    format!("Invalid content of '{nav}'"),
                ));
            }
        },
        Some(_) => {
            return Err(SapError::bad_request(
                "/IWBEP/CM_MGW_RT/009",
                format!("Invalid content of '{nav}'"),
            ));
        }
    };
    list.iter()
        .map(|v| {
            v.as_object().cloned().ok_or_else(|| {
                SapError::bad_request("/IWBEP/CM_MGW_RT/009", format!("Invalid entry in '{nav}'"))
            })
        })
        .collect()
}

/// POST to an entity set.
pub fn create(ctx: &Ctx, resource: &Resource, body: &[u8]) -> Result<Reply, SapError> {
    if let (Some(order), Some(nav), "A_SalesOrder") =
        (&resource.key, resource.nav, resource.set.name)
        && nav.name == "to_Item"
    {
        return orders::add_item(ctx, order, &body_object(body)?);
    }
    if resource.key.is_some() || resource.count {
        return Err(SapError::method_not_allowed("POST", resource.set.name));
    }
    let object = body_object(body)?;
    match resource.set.name {
        "A_SalesOrder" => orders::create(ctx, &object),
        "A_BusinessPartner" => create_partner(ctx, &object),
        other => Err(SapError::method_not_allowed("POST", other)),
    }
}

/// `POST A_BusinessPartner` with roles and addresses; the number is the next free one.
fn create_partner(ctx: &Ctx, body: &Map<String, Value>) -> Result<Reply, SapError> {
    let set = catalog::named("A_BusinessPartner");
    let mut fields = accept_fields(set, body, false)?;
    let category = fields
        .get("BusinessPartnerCategory")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    if !matches!(category.as_str(), "1" | "2") {
        return Err(SapError::bad_request(
            "R11/401",
            "Business partner category must be 1 (person) or 2 (organization)",
        ));
    }
    let store = ctx.harness.store();
    let highest = store
        .list(set.name, None, None)
        .unwrap_or_default()
        .iter()
        .filter_map(|r| {
            r.fields
                .get("BusinessPartner")?
                .as_str()?
                .parse::<u64>()
                .ok()
        })
        .max()
        .unwrap_or(10_100_000);
    let number = (highest + 1).to_string();
    for nav in ["to_BusinessPartnerRole", "to_BusinessPartnerAddress"] {
        let child_set = catalog::named(set.nav(nav).map_or("", |n| n.set));
        let mut entries = Vec::new();
        for (i, raw) in nav_entries(body, nav)?.iter().enumerate() {
            let mut entry = accept_fields(child_set, raw, true)?;
            entry.insert("BusinessPartner".into(), number.clone().into());
            if nav == "to_BusinessPartnerAddress" {
                entry.insert("AddressID".into(), (i + 1).to_string().into());
            }
            entries.push(Value::Object(entry));
        }
        fields.insert(nav.into(), Value::Array(entries));
    }
    let full_name = match category.as_str() {
        "2" => fields
            .get("OrganizationBPName1")
            .cloned()
            .unwrap_or(json!("")),
        _ => json!(format!(
            "{} {}",
            fields
                .get("FirstName")
                .and_then(Value::as_str)
                .unwrap_or(""),
            fields.get("LastName").and_then(Value::as_str).unwrap_or("")
        )),
    };
    fields.entry("BusinessPartnerFullName").or_insert(full_name);
    fields.insert("BusinessPartner".into(), number.clone().into());
    fields.insert(KEY.into(), number.clone().into());
    fields.insert(REV.into(), 0.into());
    let customer = partner_customer(body, &number, &fields)?;
    if customer.is_some() {
        fields.insert("Customer".into(), number.clone().into());
    }
    let record = store
        .insert(set.name, fields)
        .map_err(|e| SapError::bad_request("R11/001", e.to_string()))?;
    if let Some(customer) = customer {
        // Credit management configured: a new customer gets a credit account in the
        // segment, with the default limit, in its first sales area's currency.
        let currency = customer["to_CustomerSalesArea"][0]["Currency"]
            .as_str()
            .unwrap_or("EUR")
            .to_owned();
        store
            .insert("A_Customer", customer)
            .map_err(|e| SapError::bad_request("R11/001", e.to_string()))?;
        let account = json!({"BusinessPartner": number, "CreditSegment": orders::CREDIT_SEGMENT,
            "CustomerCreditLimitAmount": orders::NEW_CUSTOMER_CREDIT_LIMIT, "CreditExposureAmount": "0.00",
            "CreditSegmentCurrency": currency, "CreditLimitIsExceeded": false,
            KEY: format!("{number}|{}", orders::CREDIT_SEGMENT), REV: 0});
        if let Value::Object(account) = account {
            store
                .insert("A_CreditManagementAccount", account)
                .map_err(|e| SapError::bad_request("R11/001", e.to_string()))?;
        }
    }
    let expand = [
        "to_BusinessPartnerRole".to_owned(),
        "to_BusinessPartnerAddress".to_owned(),
    ];
    let rendered = entity::render(ctx, set, &record, &expand);
    Ok(Reply::json(StatusCode::CREATED, &json!({ "d": rendered }))
        .header("location", entity::uri(ctx, set, &[number]))
        .header("etag", entity::etag(&record)))
}

/// The customer deep-inserted with a business partner (`to_Customer`, one entity, with its
/// `to_CustomerSalesArea`): the same number, named after the partner.
fn partner_customer(
    body: &Map<String, Value>,
    number: &str,
    partner: &Map<String, Value>,
) -> Result<Option<Map<String, Value>>, SapError> {
    let raw = match body.get("to_Customer") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(o)) => o,
        Some(_) => {
            return Err(SapError::bad_request(
                "/IWBEP/CM_MGW_RT/009",
                "Invalid content of 'to_Customer'",
            ));
        }
    };
    let set = catalog::named("A_Customer");
    let mut customer = accept_fields(set, raw, false)?;
    let areas = nav_entries(raw, "to_CustomerSalesArea")?
        .iter()
        .map(|a| {
            let mut area = accept_fields(catalog::named("A_CustomerSalesArea"), a, true)?;
            area.insert("Customer".into(), number.into());
            Ok(Value::Object(area))
        })
        .collect::<Result<Vec<_>, SapError>>()?;
    customer.insert("Customer".into(), number.into());
    customer.entry("CustomerName").or_insert_with(|| {
        partner
            .get("BusinessPartnerFullName")
            .cloned()
            .unwrap_or(json!(""))
    });
    customer
        .entry("CustomerAccountGroup")
        .or_insert_with(|| json!("CUST"));
    customer
        .entry("DeletionIndicator")
        .or_insert_with(|| json!(false));
    customer
        .entry("OrderIsBlockedForCustomer")
        .or_insert_with(|| json!(""));
    customer.insert("to_CustomerSalesArea".into(), Value::Array(areas));
    customer.insert(KEY.into(), number.into());
    customer.insert(REV.into(), 0.into());
    Ok(Some(customer))
}

/// `If-Match` against the record's current ETag.
fn check_if_match(ctx: &Ctx, headers: &HeaderMap, current: &str) -> Result<(), SapError> {
    match headers
        .get("if-match")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
    {
        None if ctx.config.if_match == IfMatch::Required => Err(SapError::etag_required()),
        None => Ok(()),
        Some("*") => Ok(()),
        Some(given) if given == current => Ok(()),
        Some(_) => Err(SapError::stale_etag()),
    }
}

/// PATCH, MERGE or PUT of one entity (PUT is read as a full update of the properties
/// sent, like PATCH; see the README).
pub fn update(
    ctx: &Ctx,
    resource: &Resource,
    method: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Reply, SapError> {
    let set = resource.set;
    let (Some(key), None, false) = (&resource.key, resource.nav, resource.count) else {
        return Err(SapError::method_not_allowed(method, set.name));
    };
    if !set.updatable {
        return Err(SapError::method_not_allowed(method, set.name));
    }
    let object = body_object(body)?;
    if let Some(nav) = set.navs.iter().find(|n| object.contains_key(n.name)) {
        return Err(SapError::bad_request(
            "/IWBEP/CM_MGW_RT/010",
            format!(
                "Deep update is not supported: remove '{}' from the request",
                nav.name
            ),
        ));
    }
    for (i, k) in set.key.iter().enumerate() {
        if let Some(v) = object.get(*k).and_then(Value::as_str)
            && v != key[i]
        {
            return Err(SapError::bad_request(
                "/IWBEP/CM_MGW_RT/011",
                format!("Key property '{k}' cannot be changed"),
            ));
        }
    }
    let (record, index) = entity::locate(ctx, set, key)?;
    check_if_match(ctx, headers, &entity::etag(&record))?;
    let mut patch = accept_fields(set, &object, false)?;
    let rev = record.fields.get(REV).and_then(Value::as_u64).unwrap_or(0);
    let object_name = set.parent.map_or(set.name, |(parent, _)| parent);
    if let (Some(i), Some((_, nav))) = (index, set.parent) {
        // An embedded entry: change it inside the header's array, reprice a sales order.
        let mut entries = record
            .fields
            .get(nav)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if let Some(Value::Object(entry)) = entries.get_mut(i) {
            entry.extend(patch);
            if set.name == "A_SalesOrderItem" {
                orders::fill_item(ctx, entry)?;
            }
        }
        patch = Map::new();
        if set.name == "A_SalesOrderItem" {
            patch.insert("TotalNetAmount".into(), orders::total(&entries).into());
        }
        patch.insert(nav.into(), Value::Array(entries));
    }
    patch.insert(REV.into(), (rev + 1).into());
    ctx.harness
        .store()
        .update(object_name, record.id, patch)
        .map_err(|e| SapError::bad_request("/IWBEP/CM_MGW_RT/011", e.to_string()))?;
    let updated = ctx.harness.store().get(object_name, record.id).ok();
    let mut reply = Reply::no_content();
    if let Some(updated) = updated {
        reply = reply.header("etag", entity::etag(&updated));
    }
    Ok(reply)
}

/// DELETE of a sales order or of one of its items; the exposure follows.
pub fn delete(ctx: &Ctx, resource: &Resource, headers: &HeaderMap) -> Result<Reply, SapError> {
    let set = resource.set;
    if let (Some(key), None, "A_SalesOrderItem") = (&resource.key, resource.nav, set.name) {
        let (order, index) = entity::locate(ctx, set, key)?;
        check_if_match(ctx, headers, &entity::etag(&order))?;
        let mut items = entity::embedded_entries(set, &order.fields);
        if let Some(i) = index {
            items.remove(i);
        }
        orders::save_items(ctx, &order, items.into_iter().map(Value::Object).collect())?;
        return Ok(Reply::no_content());
    }
    let (Some(key), None, false, "A_SalesOrder") =
        (&resource.key, resource.nav, resource.count, set.name)
    else {
        return Err(SapError::method_not_allowed("DELETE", set.name));
    };
    let (record, _) = entity::locate(ctx, set, key)?;
    check_if_match(ctx, headers, &entity::etag(&record))?;
    let sold_to = record
        .fields
        .get("SoldToParty")
        .and_then(Value::as_str)
        .unwrap_or("");
    let net: f64 = record
        .fields
        .get("TotalNetAmount")
        .and_then(Value::as_str)
        .and_then(|t| t.parse().ok())
        .unwrap_or(0.0);
    orders::add_exposure(ctx, sold_to, -net);
    let store = ctx.harness.store();
    if let Ok(Some(found)) = store.find_by_key(set.name, &key_text(key)) {
        let _ = store.delete(set.name, found.id);
    }
    Ok(Reply::no_content())
}
