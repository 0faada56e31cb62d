//! The REST record API: `GET`, `POST`, `PATCH`, `PUT` and `DELETE` on
//! `record/v1/<type>[/<id>|/eid:<external id>]`, and `POST
//! record/v1/salesOrder/<id>/!transform/<type>`.
//!
//! Bodies use the REST field names (`companyName`); the store keeps SuiteQL's (lower
//! case). References are `{"id": "12"}` or `{"externalId": "C-1"}`; the `item` sublist is
//! `{"items": [{"item": {"id": "5"}, "quantity": 2, "rate": 9.5}]}`. Writes answer 204 with
//! `Location` naming the record.

use axum::http::header::LOCATION;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::NsError;
use super::schema::{self, LINE_FIELDS, LINE_REFS, RecordType};
use crate::store::{Record, RecordStore};

/// One record API request.
pub struct Request<'a> {
    pub method: &'a str,
    /// The path under `record/v1/`.
    pub path: &'a str,
    pub query: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    /// The absolute `…/record/v1/` prefix, for `Location`.
    pub base: &'a str,
}

/// Which record a path names.
enum Which {
    None,
    Id(u64),
    Eid(String),
}

/// Serves one request.
pub fn handle(store: &RecordStore, request: &Request<'_>) -> Result<Response, NsError> {
    let parts: Vec<&str> = request.path.split('/').collect();
    let kind = schema::record_type(parts[0])
        .ok_or_else(|| NsError::missing(format!("Record type '{}' does not exist.", parts[0])))?;
    let which = match parts.get(1) {
        None | Some(&"") => Which::None,
        Some(p) => match p.strip_prefix("eid:") {
            Some(eid) => Which::Eid(
                percent_encoding::percent_decode_str(eid)
                    .decode_utf8_lossy()
                    .into_owned(),
            ),
            None => Which::Id(p.parse().map_err(|_| {
                NsError::missing(format!("The record instance '{p}' does not exist."))
            })?),
        },
    };
    if let (Some(&"!transform"), Some(to)) = (parts.get(2), parts.get(3)) {
        let from = find(store, kind, &which)?;
        return transform(store, request, &from, to);
    }
    match (request.method, which) {
        ("GET", Which::None) => list(store, kind, request.query),
        ("GET", which) => {
            Ok(axum::Json(render(store, kind, &find(store, kind, &which)?)).into_response())
        }
        ("POST", Which::None) => {
            let fields = incoming(store, kind, request, None)?;
            created(store, kind, request, fields)
        }
        ("PATCH", which) => {
            let record = find(store, kind, &which)?;
            let fields = incoming(store, kind, request, Some(&record))?;
            updated(store, kind, request, record.id, fields)
        }
        ("PUT", Which::Eid(eid)) => match find(store, kind, &Which::Eid(eid.clone())) {
            Ok(record) => {
                let fields = incoming(store, kind, request, Some(&record))?;
                updated(store, kind, request, record.id, fields)
            }
            Err(_) => {
                let mut fields = incoming(store, kind, request, None)?;
                fields.insert("externalid".into(), json!(eid));
                created(store, kind, request, fields)
            }
        },
        ("DELETE", which) => {
            let record = find(store, kind, &which)?;
            store
                .delete(kind.object, record.id)
                .map_err(|e| NsError::missing(e.to_string()))?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        (method, _) => Err(NsError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "INVALID_REQUEST",
            format!("The HTTP method {method} is not allowed here."),
        )),
    }
}

/// The stored record of this type by id or external id.
fn find(store: &RecordStore, kind: &RecordType, which: &Which) -> Result<Record, NsError> {
    let gone =
        |what: &str| NsError::missing(format!("The record instance '{what}' does not exist."));
    let record = match which {
        Which::None => return Err(gone("")),
        Which::Id(id) => store
            .get(kind.object, *id)
            .map_err(|_| gone(&id.to_string()))?,
        Which::Eid(eid) => {
            let key = store_key(kind, eid);
            store
                .find_by_key(kind.object, &key)
                .ok()
                .flatten()
                .ok_or_else(|| gone(&format!("eid:{eid}")))?
        }
    };
    if schema::type_of(kind.object, &record.fields).is_none_or(|t| t.name != kind.name) {
        return Err(gone(&record.id.to_string()));
    }
    Ok(record)
}

/// The store's business key of an external id: transactions keep theirs per record type.
pub fn store_key(kind: &RecordType, eid: &str) -> String {
    match kind.tran {
        Some(_) => format!("{}:{eid}", kind.name),
        None => eid.to_owned(),
    }
}

/// `GET record/v1/<type>?q=…&limit=&offset=`: ids only. `q` is the record API's own
/// filter; the double knows `lastModifiedDate ON_OR_AFTER|AFTER|BEFORE "M/d/yyyy"` (joined
/// by `AND`), and refuses a date in another format as NetSuite does (the account's date
/// format, here the default `M/d/yyyy`).
fn list(store: &RecordStore, kind: &RecordType, query: &str) -> Result<Response, NsError> {
    let param = |name: &str| {
        reqwest::Url::parse(&format!("http://x/?{query}"))
            .ok()?
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    let number =
        |name: &str, default: usize| param(name).and_then(|v| v.parse().ok()).unwrap_or(default);
    let (limit, offset) = (number("limit", 1000).clamp(1, 1000), number("offset", 0));
    let mut conditions = Vec::new();
    for part in param("q")
        .unwrap_or_default()
        .split(" AND ")
        .filter(|p| !p.trim().is_empty())
    {
        conditions.push(date_condition(part.trim())?);
    }
    let items: Vec<Value> = store
        .list(kind.object, None, None)
        .map_err(|e| NsError::parameter(e.to_string()))?
        .into_iter()
        .filter(|r| schema::type_of(kind.object, &r.fields).is_some_and(|t| t.name == kind.name))
        .filter(|r| {
            conditions.iter().all(|(op, day)| {
                let d = r.updated_at.date_naive();
                match op.as_str() {
                    "ON_OR_AFTER" => d >= *day,
                    "AFTER" => d > *day,
                    "BEFORE" => d < *day,
                    "ON_OR_BEFORE" => d <= *day,
                    _ => d == *day,
                }
            })
        })
        .map(|r| json!({"id": r.id.to_string(), "links": []}))
        .collect();
    let total = items.len();
    let page: Vec<Value> = items.into_iter().skip(offset).take(limit).collect();
    Ok(axum::Json(
        json!({"count": page.len(), "hasMore": offset + page.len() < total,
                         "offset": offset, "totalResults": total, "items": page, "links": []}),
    )
    .into_response())
}

/// `lastModifiedDate ON_OR_AFTER "5/1/2024"` as the operator and the day.
fn date_condition(part: &str) -> Result<(String, chrono::NaiveDate), NsError> {
    let unsupported = || {
        NsError::parameter(format!(
            "Invalid search query: '{part}' (the double knows lastModifiedDate with ON, ON_OR_AFTER, AFTER, BEFORE, ON_OR_BEFORE)."
        ))
    };
    let mut words = part.splitn(3, ' ');
    let (Some(field), Some(op), Some(value)) = (words.next(), words.next(), words.next()) else {
        return Err(unsupported());
    };
    let ops = ["ON", "ON_OR_AFTER", "AFTER", "BEFORE", "ON_OR_BEFORE"];
    if !field.eq_ignore_ascii_case("lastModifiedDate") || !ops.contains(&op) {
        return Err(unsupported());
    }
    let value = value.trim().trim_matches('"');
    let day = chrono::NaiveDate::parse_from_str(value, "%m/%d/%Y").map_err(|_| {
        NsError::parameter(format!(
            "Invalid search query. Parse of date/time \"{value}\" failed with date format \"M/d/yyyy\"."
        ))
        .at("q")
    })?;
    Ok((op.to_owned(), day))
}

/// The REST name of a stored (lower-case) field.
fn rest_name(kind: &RecordType, stored: &str) -> Option<&'static str> {
    kind.fields
        .iter()
        .chain(kind.refs.iter().map(|(f, _)| f))
        .find(|f| f.eq_ignore_ascii_case(stored))
        .copied()
}

/// A stored record as the record API answers it.
fn render(store: &RecordStore, kind: &RecordType, record: &Record) -> Value {
    let mut out = Map::new();
    out.insert("links".into(), json!([]));
    out.insert("id".into(), json!(record.id.to_string()));
    out.insert(
        "lastModifiedDate".into(),
        json!(record.updated_at.to_rfc3339()),
    );
    for (k, v) in &record.fields {
        let Some(name) = rest_name(kind, k) else {
            continue;
        };
        let value = match kind.refs.iter().find(|(f, _)| *f == name) {
            Some((_, object)) => reference(store, object, v),
            None => v.clone(),
        };
        out.insert(name.into(), value);
    }
    if kind.lines {
        let items: Vec<Value> = schema::lines(record)
            .into_iter()
            .map(|line| {
                let mut l = Map::new();
                for (k, v) in line {
                    let value = match LINE_REFS.iter().find(|(f, _)| f == k) {
                        Some((_, object)) => reference(store, object, v),
                        None => v.clone(),
                    };
                    l.insert(k.clone(), value);
                }
                Value::Object(l)
            })
            .collect();
        out.insert("item".into(), json!({"items": items}));
    }
    Value::Object(out)
}

fn reference(store: &RecordStore, object: &str, id: &Value) -> Value {
    let id = id.as_str().unwrap_or_default();
    let name = id
        .parse()
        .ok()
        .and_then(|n| store.get(object, n).ok())
        .and_then(|r| {
            ["companyname", "itemid", "tranid", "name"]
                .iter()
                .find_map(|k| r.fields.get(*k).and_then(Value::as_str).map(str::to_owned))
        });
    json!({"id": id, "refName": name})
}

/// The body of a write, checked and in stored form.
fn incoming(
    store: &RecordStore,
    kind: &RecordType,
    request: &Request<'_>,
    existing: Option<&Record>,
) -> Result<Map<String, Value>, NsError> {
    let body: Value = if request.body.is_empty() {
        json!({})
    } else {
        serde_json::from_slice(request.body)
            .map_err(|e| NsError::parameter(format!("Invalid content in the request body: {e}.")))?
    };
    let Value::Object(body) = body else {
        return Err(NsError::parameter(
            "The request body must be a JSON object.",
        ));
    };
    let strict = request
        .headers
        .get("x-netsuite-propertynamevalidation")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("error"));
    let mut out = Map::new();
    for (k, v) in body {
        if let Some((name, object)) = kind.refs.iter().find(|(f, _)| *f == k) {
            out.insert(name.to_ascii_lowercase(), resolve(store, object, &v, name)?);
        } else if kind.fields.contains(&k.as_str()) {
            out.insert(k.to_ascii_lowercase(), v);
        } else if k == "item" && kind.lines {
            let replace = request.query.contains("replace=item")
                || existing.is_none()
                || request.method == "PUT";
            let old = existing
                .map(|r| schema::lines(r).into_iter().cloned().collect())
                .unwrap_or_default();
            out.insert(
                "item".into(),
                Value::Array(sublist(store, &v, old, replace)?),
            );
        } else if strict && k != "id" && k != "links" {
            return Err(NsError::parameter(format!(
                "Invalid field name '{k}'. Field does not exist on record type '{}'.",
                kind.name
            ))
            .at(k));
        }
    }
    let merged = |k: &str| {
        out.get(k)
            .or_else(|| existing.and_then(|r| r.fields.get(k)))
            .filter(|v| !matches!(v, Value::Null) && v.as_str() != Some(""))
    };
    let person = merged("isperson").is_some_and(|v| v == &json!(true));
    for (field, label) in kind.required {
        let stored = field.to_ascii_lowercase();
        if merged(&stored).is_none() && !(person && *field == "companyName") {
            return Err(NsError::user(format!("Please enter value(s) for: {label}")).at(*field));
        }
    }
    if person && merged("lastname").is_none() && kind.name == "customer" {
        return Err(NsError::user("Please enter value(s) for: Last Name").at("lastName"));
    }
    if kind.lines
        && merged("item")
            .and_then(Value::as_array)
            .is_none_or(Vec::is_empty)
    {
        return Err(
            NsError::user("You must enter at least one line item for this transaction.").at("item"),
        );
    }
    Ok(out)
}

/// A reference (`{"id": "3"}` or `{"externalId": "C-1"}`) as the id it names.
fn resolve(store: &RecordStore, object: &str, value: &Value, path: &str) -> Result<Value, NsError> {
    let bad = |key: &str| {
        NsError::user(format!("Invalid {path} reference key {key}.")).at(path.to_owned())
    };
    let id = value.get("id").and_then(|v| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    });
    if let Some(id) = id {
        let exists = id
            .parse()
            .ok()
            .and_then(|n| store.get(object, n).ok())
            .is_some();
        return if exists { Ok(json!(id)) } else { Err(bad(&id)) };
    }
    if let Some(eid) = value.get("externalId").and_then(Value::as_str) {
        return match store.find_by_key(object, eid).ok().flatten() {
            Some(r) => Ok(json!(r.id.to_string())),
            None => Err(bad(eid)),
        };
    }
    Err(NsError::parameter(format!(
        "The reference in '{path}' needs an 'id' or 'externalId'."
    ))
    .at(path.to_owned()))
}

/// The `item` sublist of a write: replaces the lines, or merges by `line` (PATCH without
/// `replace=item`). Amounts are quantity × rate.
fn sublist(
    store: &RecordStore,
    value: &Value,
    mut lines: Vec<Map<String, Value>>,
    replace: bool,
) -> Result<Vec<Value>, NsError> {
    let items = value
        .get("items")
        .and_then(Value::as_array)
        .ok_or_else(|| {
            NsError::parameter("The 'item' sublist must be {\"items\": [...]}.").at("item")
        })?;
    if replace {
        lines.clear();
    }
    for (i, entry) in items.iter().enumerate() {
        let Some(entry) = entry.as_object() else {
            return Err(NsError::parameter("A sublist line must be an object.")
                .at(format!("item.items[{i}]")));
        };
        let mut line = Map::new();
        for (k, v) in entry {
            if let Some((name, object)) = LINE_REFS.iter().find(|(f, _)| f == k) {
                line.insert(
                    (*name).into(),
                    resolve(store, object, v, &format!("item.items[{i}].{name}"))?,
                );
            } else if LINE_FIELDS.contains(&k.as_str()) {
                line.insert(k.clone(), v.clone());
            }
        }
        if !line.contains_key("item") {
            return Err(NsError::user("Please enter value(s) for: Item")
                .at(format!("item.items[{i}].item")));
        }
        let number = |k: &str| {
            line.get(k)
                .and_then(|v| v.as_f64().or_else(|| v.as_str()?.parse().ok()))
        };
        let quantity = number("quantity").unwrap_or(1.0);
        let rate = number("rate").unwrap_or(0.0);
        // An amount sent is kept (a line discounted below quantity × rate, to verify on a
        // real account); otherwise NetSuite computes it.
        let amount = number("amount").unwrap_or(quantity * rate);
        line.insert("quantity".into(), json!(quantity));
        line.insert("rate".into(), json!(rate));
        line.insert("amount".into(), json!((amount * 100.0).round() / 100.0));
        let at = line.get("line").and_then(Value::as_u64);
        match at.and_then(|n| {
            lines
                .iter()
                .position(|l| l.get("line").and_then(Value::as_u64) == Some(n))
        }) {
            Some(p) => lines[p].extend(line),
            None => {
                let next = lines
                    .iter()
                    .filter_map(|l| l.get("line")?.as_u64())
                    .max()
                    .unwrap_or(0)
                    + 1;
                line.insert("line".into(), json!(next));
                lines.push(line);
            }
        }
    }
    Ok(lines.into_iter().map(Value::Object).collect())
}

/// Adds what the server sets on create and stores the record: 204 + `Location`.
fn created(
    store: &RecordStore,
    kind: &RecordType,
    request: &Request<'_>,
    mut fields: Map<String, Value>,
) -> Result<Response, NsError> {
    if let Some(code) = kind.tran {
        fields.insert("type".into(), json!(code));
        if let Some(eid) = fields.get("externalid").and_then(Value::as_str) {
            fields.insert("_eid".into(), json!(store_key(kind, eid)));
        }
        if !fields.contains_key("trandate") {
            fields.insert(
                "trandate".into(),
                json!(store.clock().now().format("%Y-%m-%d").to_string()),
            );
        }
        if !fields.contains_key("status") {
            fields.insert(
                "status".into(),
                json!(if code == "SalesOrd" { "B" } else { "A" }),
            );
        }
    }
    if let Some(itemtype) = kind.itemtype {
        fields.insert("itemtype".into(), json!(itemtype));
    }
    let record = store.insert(kind.object, fields).map_err(|_| {
        NsError::user("Error while accessing a resource. This entity already exists.")
            .at("externalId")
    })?;
    if kind.tran.is_some() && !record.fields.contains_key("tranid") {
        let number = format!(
            "{}{}",
            &kind.name[..2].to_ascii_uppercase(),
            1000 + record.id
        );
        let patch = json!({"tranid": number});
        let _ = store.update(
            kind.object,
            record.id,
            patch.as_object().cloned().unwrap_or_default(),
        );
    }
    Ok(located(request.base, kind.name, record.id))
}

fn updated(
    store: &RecordStore,
    kind: &RecordType,
    request: &Request<'_>,
    id: u64,
    fields: Map<String, Value>,
) -> Result<Response, NsError> {
    store.update(kind.object, id, fields).map_err(|_| {
        NsError::user("Error while accessing a resource. This entity already exists.")
            .at("externalId")
    })?;
    Ok(located(request.base, kind.name, id))
}

fn located(base: &str, name: &str, id: u64) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("{base}{name}/{id}")) {
        response.headers_mut().insert(LOCATION, v);
    }
    response
}

/// `POST salesOrder/<id>/!transform/itemFulfillment|invoice`: a new record from the order,
/// all its lines, the order's status moved on.
fn transform(
    store: &RecordStore,
    request: &Request<'_>,
    from: &Record,
    to: &str,
) -> Result<Response, NsError> {
    if from.fields.get("type").and_then(Value::as_str) != Some("SalesOrd") {
        return Err(NsError::parameter(
            "Only sales orders can be transformed here.",
        ));
    }
    let id = match to {
        "itemFulfillment" => super::erp::Erp::new(store).fulfil(from.id),
        "invoice" => super::erp::Erp::new(store).bill(from.id),
        _ => {
            return Err(NsError::parameter(format!(
                "Cannot transform a sales order into '{to}'."
            )));
        }
    }
    .map_err(|e| NsError::user(e.to_string()))?;
    let extra: Map<String, Value> = serde_json::from_slice::<Value>(request.body)
        .ok()
        .and_then(|v| v.as_object().cloned())
        .unwrap_or_default();
    let kind = schema::record_type(to).ok_or_else(|| NsError::parameter("unknown type"))?;
    let patch: Map<String, Value> = extra
        .into_iter()
        .filter(|(k, _)| kind.fields.contains(&k.as_str()))
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect();
    if let Some(eid) = patch.get("externalid").and_then(Value::as_str) {
        let mut with_key = patch.clone();
        with_key.insert("_eid".into(), json!(store_key(kind, eid)));
        store.update("transaction", id, with_key).map_err(|_| {
            NsError::user("Error while accessing a resource. This entity already exists.")
                .at("externalId")
        })?;
    } else if !patch.is_empty() {
        let _ = store.update("transaction", id, patch);
    }
    Ok(located(request.base, to, id))
}
