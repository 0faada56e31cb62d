//! Mutations (dossier §4): `customerCreate(input:)`, `customerUpdate(input: {id, …})`,
//! `customerSet(identifier: {id | email | phone | customId}, input:)` (upsert),
//! `productSet(input:, identifier: {id | handle})` (synchronous; product fields only — its
//! variants are kept as stored), `bulkOperationRunQuery(query:)`; and, in modules of their
//! own, `inventorySetQuantities` (`stock.rs`) and `fulfillmentCreate` (`fulfil.rs`). Validation failures are
//! `userErrors { field message code }` inside HTTP 200. Every write stamps `updatedAt` from
//! the harness clock and queues the matching webhook (`customers/create`,
//! `customers/update`, `products/create`, `products/update`) when a webhook URL is set.

use serde_json::{Map, Value, json};

use super::graphql::Field;
use super::resolve::{node, select};
use super::{Ctx, object_of_gid};
use crate::StoreError;

/// Answers a mutation payload with the mutation's selection.
pub fn payload(value: &Value, f: &Field) -> Value {
    select(value, &f.selection).unwrap_or(Value::Null)
}

pub fn error(field: &[&str], message: &str, code: &str) -> Value {
    json!({"field": field, "message": message, "code": code})
}

const CUSTOMER_FIELDS: [&str; 7] = [
    "email",
    "firstName",
    "lastName",
    "phone",
    "note",
    "tags",
    "metafields",
];

fn customer_fields(input: &Map<String, Value>) -> (Map<String, Value>, Vec<Value>) {
    let mut fields = Map::new();
    let mut errors = Vec::new();
    for k in CUSTOMER_FIELDS {
        if let Some(v) = input.get(k) {
            fields.insert(k.to_owned(), v.clone());
        }
    }
    if let Some(email) = input.get("email").and_then(Value::as_str)
        && (!email.contains('@') || email.starts_with('@') || email.ends_with('@'))
    {
        errors.push(error(&["email"], "Email is invalid", "INVALID"));
    }
    if let Some(addresses) = input.get("addresses").and_then(Value::as_array) {
        fields.insert("addresses".into(), Value::Array(addresses.clone()));
        if let Some(first) = addresses.first() {
            fields.insert("defaultAddress".into(), first.clone());
        }
    }
    (fields, errors)
}

/// A mutation field.
pub fn mutation_field(ctx: &Ctx, f: &Field) -> Result<Value, String> {
    let input = f
        .args
        .get("input")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let _guard = ctx
        .shared
        .writes
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let store = ctx.harness.store();
    match f.name.as_str() {
        "customerCreate" => {
            let (fields, mut errors) = customer_fields(&input);
            let has_identity = ["email", "phone", "firstName", "lastName"].iter().any(|k| {
                fields
                    .get(*k)
                    .and_then(Value::as_str)
                    .is_some_and(|s| !s.is_empty())
            });
            if !has_identity {
                errors.push(error(
                    &["customer"],
                    "Customer must have a name, phone number or email address",
                    "BLANK",
                ));
            }
            if !errors.is_empty() {
                return Ok(payload(&json!({"customer": null, "userErrors": errors}), f));
            }
            match store.insert("Customer", fields) {
                Ok(r) => {
                    let n = node("Customer", &r);
                    ctx.shared.webhooks.enqueue("customers/create", &n);
                    Ok(payload(&json!({"customer": n, "userErrors": []}), f))
                }
                Err(StoreError::DuplicateKey { .. }) => Ok(payload(
                    &json!({"customer": null, "userErrors": [error(&["email"], "Email has already been taken", "TAKEN")]}),
                    f,
                )),
                Err(e) => Err(e.to_string()),
            }
        }
        "customerUpdate" => {
            let id = input.get("id").and_then(Value::as_str).unwrap_or("");
            let Some(("Customer", n)) = object_of_gid(id) else {
                let e = error(&["id"], "Customer does not exist", "INVALID");
                return Ok(payload(&json!({"customer": null, "userErrors": [e]}), f));
            };
            let (fields, errors) = customer_fields(&input);
            if !errors.is_empty() {
                return Ok(payload(&json!({"customer": null, "userErrors": errors}), f));
            }
            match store.update("Customer", n, fields) {
                Ok(r) => {
                    let n = node("Customer", &r);
                    ctx.shared.webhooks.enqueue("customers/update", &n);
                    Ok(payload(&json!({"customer": n, "userErrors": []}), f))
                }
                Err(StoreError::NotFound { .. }) => Ok(payload(
                    &json!({"customer": null, "userErrors": [error(&["id"], "Customer does not exist", "INVALID")]}),
                    f,
                )),
                Err(StoreError::DuplicateKey { .. }) => Ok(payload(
                    &json!({"customer": null, "userErrors": [error(&["email"], "Email has already been taken", "TAKEN")]}),
                    f,
                )),
                Err(e) => Err(e.to_string()),
            }
        }
        "productSet" => {
            let ident = f.args.get("identifier").cloned().unwrap_or(Value::Null);
            let mut fields = Map::new();
            for k in [
                "title",
                "handle",
                "status",
                "vendor",
                "productType",
                "tags",
                "descriptionHtml",
            ] {
                if let Some(v) = input.get(k) {
                    fields.insert(k.to_owned(), v.clone());
                }
            }
            if let Some(s) = fields.get("status").and_then(Value::as_str)
                && !matches!(s, "ACTIVE" | "DRAFT" | "ARCHIVED")
            {
                let e = error(
                    &["input", "status"],
                    "Status is not included in the list",
                    "INCLUSION",
                );
                return Ok(payload(&json!({"product": null, "userErrors": [e]}), f));
            }
            let existing = if let Some(id) = ident["id"].as_str() {
                object_of_gid(id)
                    .filter(|(k, _)| *k == "Product")
                    .and_then(|(_, n)| store.get("Product", n).ok())
            } else if let Some(h) = ident["handle"]
                .as_str()
                .or(fields.get("handle").and_then(Value::as_str))
            {
                store.find_by_key("Product", h).map_err(|e| e.to_string())?
            } else {
                None
            };
            let written = match existing {
                Some(r) => store
                    .update("Product", r.id, fields)
                    .map(|r| ("products/update", r)),
                None => {
                    if fields
                        .get("title")
                        .and_then(Value::as_str)
                        .is_none_or(str::is_empty)
                    {
                        let e = error(&["input", "title"], "Title can't be blank", "BLANK");
                        return Ok(payload(&json!({"product": null, "userErrors": [e]}), f));
                    }
                    if !fields.contains_key("handle") {
                        let title = fields["title"].as_str().unwrap_or("").to_lowercase();
                        let handle: String = title.split_whitespace().collect::<Vec<_>>().join("-");
                        fields.insert("handle".into(), handle.into());
                    }
                    fields.entry("status").or_insert("ACTIVE".into());
                    fields.entry("variants").or_insert(json!([]));
                    store
                        .insert("Product", fields)
                        .map(|r| ("products/create", r))
                }
            };
            match written {
                Ok((topic, r)) => {
                    let n = node("Product", &r);
                    ctx.shared.webhooks.enqueue(topic, &n);
                    Ok(payload(
                        &json!({"product": n, "productSetOperation": null, "userErrors": []}),
                        f,
                    ))
                }
                Err(StoreError::DuplicateKey { .. }) => Ok(payload(
                    &json!({"product": null, "userErrors": [error(&["input", "handle"], "Handle has already been taken", "TAKEN")]}),
                    f,
                )),
                Err(e) => Err(e.to_string()),
            }
        }
        "customerSet" => customer_set(ctx, f, &input),
        "inventorySetQuantities" => super::stock::set_quantities(ctx, f, &input),
        "fulfillmentCreate" => super::fulfil::create(ctx, f),
        "bulkOperationRunQuery" => ctx.shared.bulk.run(ctx, f),
        other => Err(format!(
            "Field '{other}' doesn't exist on type 'Mutation' (not served by this double)"
        )),
    }
}

/// Metafields `new` merged into `old` by namespace and key (a value given replaces one held).
fn merge_metafields(old: Option<&Value>, new: Option<&Value>) -> Value {
    let mut out: Vec<Value> = old.and_then(Value::as_array).cloned().unwrap_or_default();
    for m in new.and_then(Value::as_array).into_iter().flatten() {
        let same = |o: &Value| o["namespace"] == m["namespace"] && o["key"] == m["key"];
        match out.iter_mut().find(|o| same(o)) {
            Some(o) => *o = m.clone(),
            None => out.push(m.clone()),
        }
    }
    Value::Array(out)
}

/// The customer `identifier` names, if any: by id, email, phone or a custom id (a metafield
/// holding a unique value). An identifier naming none of these is an error.
fn find_customer(
    store: &crate::RecordStore,
    identifier: &Value,
) -> Result<Option<crate::Record>, Value> {
    let all = || store.list("Customer", None, None).unwrap_or_default();
    if let Some(id) = identifier["id"].as_str() {
        return Ok(object_of_gid(id)
            .filter(|(k, _)| *k == "Customer")
            .and_then(|(_, n)| store.get("Customer", n).ok()));
    }
    if let Some(email) = identifier["email"].as_str() {
        return Ok(all().into_iter().find(|r| {
            r.fields
                .get("email")
                .and_then(Value::as_str)
                .is_some_and(|e| e.eq_ignore_ascii_case(email))
        }));
    }
    if let Some(phone) = identifier["phone"].as_str() {
        return Ok(all()
            .into_iter()
            .find(|r| r.fields.get("phone").and_then(Value::as_str) == Some(phone)));
    }
    let custom = &identifier["customId"];
    if let (Some(ns), Some(key), Some(value)) = (
        custom["namespace"].as_str(),
        custom["key"].as_str(),
        custom["value"].as_str(),
    ) {
        return Ok(all().into_iter().find(|r| {
            r.fields
                .get("metafields")
                .and_then(Value::as_array)
                .is_some_and(|ms| {
                    ms.iter().any(|m| {
                        m["namespace"].as_str() == Some(ns)
                            && m["key"].as_str() == Some(key)
                            && m["value"].as_str() == Some(value)
                    })
                })
        }));
    }
    Err(error(
        &["identifier"],
        "An identifier (id, email, phone or customId) is required",
        "INVALID",
    ))
}

/// `customerSet(identifier:, input:)`: the customer the identifier names is updated with
/// the input, else one is created (with a `customId` identifier's metafield set).
fn customer_set(ctx: &Ctx, f: &Field, input: &Map<String, Value>) -> Result<Value, String> {
    let store = ctx.harness.store();
    let identifier = f.args.get("identifier").cloned().unwrap_or(Value::Null);
    let refused =
        |errors: Vec<Value>| Ok(payload(&json!({"customer": null, "userErrors": errors}), f));
    let existing = match find_customer(store, &identifier) {
        Ok(found) => found,
        Err(e) => return refused(vec![e]),
    };
    let (mut fields, errors) = customer_fields(input);
    if !errors.is_empty() {
        return refused(
            errors
                .into_iter()
                .map(|mut e| {
                    if let Some(path) = e["field"].as_array_mut() {
                        path.insert(0, "input".into());
                    }
                    e
                })
                .collect(),
        );
    }
    let custom = &identifier["customId"];
    let key_metafield = custom.is_object().then(|| {
        json!([{"namespace": custom["namespace"], "key": custom["key"], "value": custom["value"], "type": "single_line_text_field"}])
    });
    let held = existing.as_ref().and_then(|r| r.fields.get("metafields"));
    let metafields = merge_metafields(
        held,
        Some(&merge_metafields(
            fields.get("metafields"),
            key_metafield.as_ref(),
        )),
    );
    fields.insert("metafields".into(), metafields);
    if existing.is_none() {
        if let Some(email) = identifier["email"].as_str() {
            fields.entry("email").or_insert(email.into());
        }
        let has_identity = ["email", "phone", "firstName", "lastName"].iter().any(|k| {
            fields
                .get(*k)
                .and_then(Value::as_str)
                .is_some_and(|s| !s.is_empty())
        });
        if !has_identity {
            return refused(vec![error(
                &["input"],
                "Customer must have a name, phone number or email address",
                "BLANK",
            )]);
        }
    }
    let written = match &existing {
        Some(r) => store
            .update("Customer", r.id, fields)
            .map(|r| ("customers/update", r)),
        None => store
            .insert("Customer", fields)
            .map(|r| ("customers/create", r)),
    };
    match written {
        Ok((topic, r)) => {
            let n = node("Customer", &r);
            ctx.shared.webhooks.enqueue(topic, &n);
            Ok(payload(&json!({"customer": n, "userErrors": []}), f))
        }
        Err(StoreError::DuplicateKey { .. }) => refused(vec![error(
            &["input", "email"],
            "Email has already been taken",
            "TAKEN",
        )]),
        Err(e) => Err(e.to_string()),
    }
}
