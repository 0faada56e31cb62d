//! Answering a query's fields from the store. Records are stored in the shape the API
//! answers them in (camelCase fields, nested objects, lists for nested connections); the
//! double adds `id` (a GID), `legacyResourceId`, `createdAt` and `updatedAt` from the store.
//! Any field selected that a record lacks is answered `null`.

use serde_json::{Map, Value, json};

use super::cost::is_connection;
use super::graphql::Field;
use super::search;
use super::{Ctx, MAX_PAGE, gid, object_of_gid};
use crate::store::{Record, stamp};

/// A stored record as the API answers it.
pub fn node(kind: &str, record: &Record) -> Value {
    let mut fields = record.fields.clone();
    fields.insert("id".into(), gid(kind, record.id).into());
    fields.insert("legacyResourceId".into(), record.id.to_string().into());
    fields.insert("createdAt".into(), stamp(record.created_at).into());
    fields.insert("updatedAt".into(), stamp(record.updated_at).into());
    if kind == "Customer" {
        let first = fields
            .get("firstName")
            .and_then(Value::as_str)
            .unwrap_or("");
        let last = fields.get("lastName").and_then(Value::as_str).unwrap_or("");
        let display = if first.is_ascii() && last.is_ascii() {
            format!("{first} {last}").trim().to_owned()
        } else {
            format!("{last}{first}")
        };
        fields.insert("displayName".into(), display.into());
    }
    Value::Object(fields)
}

/// Answers `selection` over `value`.
pub fn select(value: &Value, selection: &[Field]) -> Result<Value, String> {
    let mut out = Map::new();
    for f in selection {
        if f.name == "__typename" {
            continue;
        }
        let answer = if f.name == "metafield" {
            let ns = f.args.get("namespace").and_then(Value::as_str);
            let key = f.args.get("key").and_then(Value::as_str);
            let found = value["metafields"].as_array().and_then(|ms| {
                ms.iter()
                    .find(|m| m["namespace"].as_str() == ns && m["key"].as_str() == key)
            });
            match found {
                Some(m) => select(m, &f.selection)?,
                None => Value::Null,
            }
        } else {
            field(value.get(&f.name).unwrap_or(&Value::Null), f)?
        };
        out.insert(f.key().to_owned(), answer);
    }
    Ok(Value::Object(out))
}

fn field(value: &Value, f: &Field) -> Result<Value, String> {
    match value {
        Value::Array(items) if is_connection(f) => {
            let cursors: Vec<(String, Value)> = items
                .iter()
                .enumerate()
                .map(|(i, v)| (search::cursor(i as u64, &json!(i)), v.clone()))
                .collect();
            let start = match f.args.get("after").and_then(Value::as_str) {
                Some(c) => search::read_cursor(c).ok_or("Invalid cursor")?.0 as usize + 1,
                None => 0,
            };
            let first = page_size(f)?;
            let page: Vec<(String, Value)> = cursors.into_iter().skip(start).collect();
            connection(f, page, first, start > 0)
        }
        Value::Array(items) => {
            let names: Option<Vec<&str>> = f
                .args
                .get("names")
                .and_then(Value::as_array)
                .map(|n| n.iter().filter_map(Value::as_str).collect());
            let limit = f
                .args
                .get("first")
                .and_then(Value::as_u64)
                .map_or(usize::MAX, |n| n as usize);
            let mut out = Vec::new();
            for item in items.iter().filter(|i| {
                names
                    .as_ref()
                    .is_none_or(|n| n.contains(&i["name"].as_str().unwrap_or("")))
            }) {
                if out.len() >= limit {
                    break;
                }
                out.push(if f.selection.is_empty() {
                    item.clone()
                } else {
                    select(item, &f.selection)?
                });
            }
            Ok(Value::Array(out))
        }
        Value::Object(_) if !f.selection.is_empty() => select(value, &f.selection),
        Value::Null => Ok(Value::Null),
        other if f.selection.is_empty() => Ok(other.clone()),
        _ => Err(format!(
            "Field '{}' must not have a selection since it is a scalar",
            f.name
        )),
    }
}

/// `first` (or `last`) of a connection, checked: one is required, at most 250.
pub fn page_size(f: &Field) -> Result<usize, String> {
    let n = f
        .args
        .get("first")
        .or(f.args.get("last"))
        .and_then(Value::as_i64)
        .ok_or_else(|| "you must provide one of first or last".to_owned())?;
    if !(0..=MAX_PAGE as i64).contains(&n) {
        return Err(format!(
            "The connection `{}` must not request more than {MAX_PAGE} records",
            f.name
        ));
    }
    Ok(n as usize)
}

/// A connection answer over `rest` (every item after the cursor, in order) cut at `first`.
pub fn connection(
    f: &Field,
    rest: Vec<(String, Value)>,
    first: usize,
    has_previous: bool,
) -> Result<Value, String> {
    let has_next = rest.len() > first;
    let page: Vec<(String, Value)> = rest.into_iter().take(first).collect();
    let mut out = Map::new();
    for c in &f.selection {
        let v = match c.name.as_str() {
            "nodes" => Value::Array(
                page.iter()
                    .map(|(_, v)| select(v, &c.selection))
                    .collect::<Result<_, _>>()?,
            ),
            "edges" => {
                let mut edges = Vec::new();
                for (cursor, v) in &page {
                    let mut edge = Map::new();
                    for e in &c.selection {
                        match e.name.as_str() {
                            "cursor" => edge.insert(e.key().to_owned(), cursor.clone().into()),
                            "node" => edge.insert(e.key().to_owned(), select(v, &e.selection)?),
                            _ => edge.insert(e.key().to_owned(), Value::Null),
                        };
                    }
                    edges.push(Value::Object(edge));
                }
                Value::Array(edges)
            }
            "pageInfo" => {
                let info = json!({
                    "hasNextPage": has_next,
                    "hasPreviousPage": has_previous,
                    "endCursor": page.last().map(|(c, _)| c.clone()),
                    "startCursor": page.first().map(|(c, _)| c.clone()),
                });
                select(&info, &c.selection)?
            }
            _ => Value::Null,
        };
        out.insert(c.key().to_owned(), v);
    }
    Ok(Value::Object(out))
}

/// Every node of a top-level collection (`customers`, `products`, `orders`) passing the
/// field's `query`, in its `sortKey` order (`ID` by default, `UPDATED_AT`, `CREATED_AT`),
/// `reverse`d if asked, each with its cursor.
pub fn collection(ctx: &Ctx, kind: &str, f: &Field) -> Result<Vec<(String, Value)>, String> {
    let records = ctx
        .harness
        .store()
        .list(kind, None, None)
        .map_err(|e| e.to_string())?;
    let terms = search::parse(f.args.get("query").and_then(Value::as_str).unwrap_or(""));
    let sort = f
        .args
        .get("sortKey")
        .and_then(Value::as_str)
        .unwrap_or("ID");
    let key_of = |n: &Value| -> Value {
        match sort {
            "UPDATED_AT" => n["updatedAt"].clone(),
            "CREATED_AT" => n["createdAt"].clone(),
            _ => Value::Null,
        }
    };
    if !matches!(sort, "ID" | "UPDATED_AT" | "CREATED_AT") {
        return Err(format!(
            "Argument 'sortKey' has an invalid value ({sort}); served: ID, UPDATED_AT, CREATED_AT"
        ));
    }
    let mut nodes = Vec::new();
    for r in &records {
        let n = node(kind, r);
        if search::admits(&terms, &n)? {
            nodes.push((r.id, key_of(&n), n));
        }
    }
    let sort_key = |id: u64, v: &Value| (v.as_str().unwrap_or("").to_owned(), id);
    nodes.sort_by_key(|a| sort_key(a.0, &a.1));
    let reverse = f
        .args
        .get("reverse")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if reverse {
        nodes.reverse();
    }
    if let Some(after) = f.args.get("after").and_then(Value::as_str) {
        let (id, value) = search::read_cursor(after).ok_or("Invalid cursor")?;
        let at = sort_key(id, &value);
        nodes.retain(|n| {
            let k = sort_key(n.0, &n.1);
            if reverse { k < at } else { k > at }
        });
    }
    Ok(nodes
        .into_iter()
        .map(|(id, v, n)| (search::cursor(id, &v), n))
        .collect())
}

/// A top-level query field.
pub fn query_field(ctx: &Ctx, f: &Field) -> Result<Value, String> {
    match f.name.as_str() {
        "customers" | "products" | "orders" => {
            let kind = super::kind_of(&f.name);
            let first = page_size(f)?;
            let has_previous = f.args.get("after").is_some_and(|a| !a.is_null());
            let all = collection(ctx, kind, f)?;
            connection(f, all, first, has_previous)
        }
        "customer" | "product" | "order" => {
            let kind = super::kind_of(&f.name);
            let id = f.args.get("id").and_then(Value::as_str).unwrap_or("");
            match object_of_gid(id).filter(|(k, _)| *k == kind) {
                Some((_, n)) => match ctx.harness.store().get(kind, n) {
                    Ok(r) => select(&node(kind, &r), &f.selection),
                    Err(_) => Ok(Value::Null),
                },
                None => Err(format!("Invalid global id '{id}'")),
            }
        }
        "customersCount" | "productsCount" | "ordersCount" => {
            let kind = super::kind_of(f.name.trim_end_matches("Count"));
            let count = collection(ctx, kind, f)?.len();
            select(&json!({"count": count, "precision": "EXACT"}), &f.selection)
        }
        "productVariants" => product_variants(ctx, f),
        "shop" => {
            let shop = json!({"name": "Ferry Test Shop", "myshopifyDomain": ctx.config.shop_domain,
                              "currencyCode": "USD", "ianaTimezone": "UTC"});
            select(&shop, &f.selection)
        }
        "locations" => {
            let first = page_size(f)?;
            let all: Vec<(String, Value)> = super::LOCATIONS
                .iter()
                .map(|(n, name)| {
                    let node = json!({"id": gid("Location", *n), "legacyResourceId": n.to_string(), "name": name, "isActive": true});
                    (search::cursor(*n, &json!(n)), node)
                })
                .collect();
            let after = f.args.get("after").and_then(Value::as_str);
            let start = match after {
                Some(c) => search::read_cursor(c).ok_or("Invalid cursor")?.0 as usize,
                None => 0,
            };
            connection(f, all.into_iter().skip(start).collect(), first, start > 0)
        }
        "inventoryItem" => {
            let id = f.args.get("id").and_then(Value::as_str).unwrap_or("");
            let products = ctx
                .harness
                .store()
                .list("Product", None, None)
                .map_err(|e| e.to_string())?;
            for p in &products {
                for v in p
                    .fields
                    .get("variants")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    if v["inventoryItem"]["id"].as_str() == Some(id) {
                        let mut item = v["inventoryItem"].clone();
                        item["variant"] = json!({"id": v["id"], "sku": v["sku"]});
                        return select(&item, &f.selection);
                    }
                }
            }
            Ok(Value::Null)
        }
        "currentBulkOperation" => {
            let op = ctx.shared.bulk.current(&ctx.harness);
            match op {
                Some(op) => select(&op, &f.selection),
                None => Ok(Value::Null),
            }
        }
        other => Err(format!(
            "Field '{other}' doesn't exist on type 'QueryRoot' (not served by this double)"
        )),
    }
}

/// `productVariants(first:, after:, query:)`: every product's variants, in product then
/// variant order, each with its `product { id title handle }`; `sku:` is the one search
/// term served here (others are ignored).
fn product_variants(ctx: &Ctx, f: &Field) -> Result<Value, String> {
    let first = page_size(f)?;
    let terms = search::parse(f.args.get("query").and_then(Value::as_str).unwrap_or(""));
    let products = ctx
        .harness
        .store()
        .list("Product", None, None)
        .map_err(|e| e.to_string())?;
    let mut products: Vec<_> = products.iter().map(|r| node("Product", r)).collect();
    products.sort_by_key(|p| object_of_gid(p["id"].as_str().unwrap_or("")).map(|(_, n)| n));
    let mut all = Vec::new();
    for p in &products {
        for v in p["variants"].as_array().into_iter().flatten() {
            let wanted = terms
                .iter()
                .filter(|t| t.field == "sku")
                .all(|t| v["sku"].as_str() == Some(t.value.as_str()));
            if !wanted {
                continue;
            }
            let mut v = v.clone();
            v["product"] = json!({"id": p["id"], "title": p["title"], "handle": p["handle"]});
            let n = object_of_gid(v["id"].as_str().unwrap_or("")).map_or(0, |(_, n)| n);
            all.push((search::cursor(n, &json!(n)), v));
        }
    }
    let start = match f.args.get("after").and_then(Value::as_str) {
        Some(c) => {
            let (after, _) = search::read_cursor(c).ok_or("Invalid cursor")?;
            all.iter()
                .position(|(c, _)| search::read_cursor(c).is_some_and(|(n, _)| n == after))
                .map_or(all.len(), |i| i + 1)
        }
        None => 0,
    };
    connection(f, all.into_iter().skip(start).collect(), first, start > 0)
}
