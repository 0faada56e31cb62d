//! Mutations (dossier §4): `customerCreate(input:)`, `customerUpdate(input: {id, …})`,
//! `productSet(input:, identifier: {id | handle})` (synchronous; product fields only — its
//! variants are kept as stored), `bulkOperationRunQuery(query:)`. Validation failures are
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

fn error(field: &[&str], message: &str, code: &str) -> Value {
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
        "bulkOperationRunQuery" => ctx.shared.bulk.run(ctx, f),
        other => Err(format!(
            "Field '{other}' doesn't exist on type 'Mutation' (not served by this double)"
        )),
    }
}
