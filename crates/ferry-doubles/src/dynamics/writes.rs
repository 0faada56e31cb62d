//! Writes: `POST` creates, `PATCH` upserts (by GUID or alternate key) with Dataverse's
//! `If-Match` / `If-None-Match` rules, `DELETE`; bodies checked against the table's columns
//! and types, lookups bound with `<nav>@odata.bind`.

use axum::http::StatusCode;
use serde_json::{Map, Value, json};

use super::error::DvError;
use super::read::{Key, Target, entity, find, missing, target};
use super::tables::{Edm, Table};
use super::tracker::Tracker;
use super::{Ctx, Request};
use crate::reply::Reply;
use crate::store::RecordStore;

/// A few records of each table.
pub fn seed(store: &RecordStore) {
    let rows = [
        (
            "accounts",
            json!({"name": "Contoso Ltd", "accountnumber": "C001", "creditlimit": 50000.0, "address1_city": "Redmond"}),
        ),
        (
            "accounts",
            json!({"name": "Fabrikam Inc", "accountnumber": "C002", "creditlimit": 12500.5, "address1_city": "Seattle"}),
        ),
        (
            "contacts",
            json!({"firstname": "Yvonne", "lastname": "McKay", "emailaddress1": "yvonne@contoso.example"}),
        ),
        (
            "opportunities",
            json!({"name": "100 laptops", "new_externalkey": "O-1", "estimatedvalue": 90000.0}),
        ),
        (
            "salesorders",
            json!({"name": "Order 1", "ordernumber": "ORD-1", "totalamount": 1234.56}),
        ),
    ];
    for (set, fields) in rows {
        if let Value::Object(fields) = fields {
            let _ = store.insert(set, fields);
        }
    }
}

fn parse_body(table: &Table, body: &[u8]) -> Result<Map<String, Value>, DvError> {
    match serde_json::from_slice(body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(DvError::payload(
            table.entity,
            "The request body is not a JSON object.",
        )),
    }
}

/// The body as store fields: columns checked for type and length, lookups resolved to
/// `_<attribute>_value` GUIDs; `created` maps Content-IDs of a change set to their records.
pub fn fields(
    ctx: &Ctx,
    tracker: &Tracker,
    table: &'static Table,
    body: Map<String, Value>,
    created: &[(String, String)],
) -> Result<Map<String, Value>, DvError> {
    let mut out = Map::new();
    for (name, value) in body {
        if name.starts_with("@odata.") || name == table.id {
            continue;
        }
        if let Some(nav) = name.strip_suffix("@odata.bind") {
            let lookup = table.lookup(nav).ok_or_else(|| {
                DvError::payload(
                    table.entity,
                    format!("An undeclared property '{nav}' which only has property annotations in the payload but no property value was found in the payload."),
                )
            })?;
            let guid = bind(ctx, tracker, lookup.target, &value, created)?;
            out.insert(lookup.value_property(), Value::String(guid));
            continue;
        }
        let Some(edm) = table.column(&name) else {
            return Err(DvError::payload(
                table.entity,
                format!(
                    "The property '{name}' does not exist on type 'Microsoft.Dynamics.CRM.{}'. Make sure to only use property names that are defined by the type or mark the type as open type.",
                    table.entity
                ),
            ));
        };
        check_type(table, &name, edm, &value)?;
        out.insert(name, value);
    }
    Ok(out)
}

fn check_type(table: &Table, name: &str, edm: Edm, value: &Value) -> Result<(), DvError> {
    let fits = match (edm, value) {
        (_, Value::Null) => true,
        (Edm::String(max), Value::String(s)) => {
            if s.chars().count() > max {
                return Err(DvError::too_long(table.entity, name, max));
            }
            true
        }
        (Edm::Decimal, Value::Number(_)) => true,
        (Edm::Int32, Value::Number(n)) => n.as_i64().is_some_and(|i| i32::try_from(i).is_ok()),
        (Edm::Boolean, Value::Bool(_)) => true,
        (Edm::Date, Value::String(s)) => chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok(),
        (Edm::DateTimeOffset, Value::String(s)) => chrono::DateTime::parse_from_rfc3339(s).is_ok(),
        _ => false,
    };
    if fits {
        Ok(())
    } else {
        Err(DvError::payload(
            table.entity,
            format!(
                "Cannot convert the literal '{value}' to the expected type '{}'.",
                edm.name()
            ),
        ))
    }
}

/// The GUID a bind names: `/accounts(<guid>)`, `/accounts(accountnumber='A1')`, or `$1`.
fn bind(
    ctx: &Ctx,
    tracker: &Tracker,
    target_set: &str,
    value: &Value,
    created: &[(String, String)],
) -> Result<String, DvError> {
    let text = value.as_str().unwrap_or_default();
    let text = match text.strip_prefix('$') {
        // `$1`: the record made by the change set's request with Content-ID 1.
        Some(id) => created
            .iter()
            .find(|(c, _)| c == id)
            .map_or(text, |(_, at)| at.as_str()),
        None => text,
    };
    let path = text.rsplit("/api/data/v9.2/").next().unwrap_or(text);
    let bound = target(path.trim_start_matches('/'))?;
    let key = bound.key.as_ref().ok_or_else(|| {
        DvError::bad_request(format!("The bind '{text}' does not name one record."))
    })?;
    if bound.table.set != target_set {
        return Err(DvError::bad_request(format!(
            "The bind '{text}' must name a record of {target_set}."
        )));
    }
    let record = find(ctx, tracker, bound.table, key)?.ok_or_else(|| missing(bound.table, key))?;
    Ok(tracker
        .row(bound.table.set, record.id)
        .map(|r| r.guid.clone())
        .unwrap_or_default())
}

/// What a write answers: 204 with `OData-EntityId`, or the record (201 created, 200
/// updated) with `Prefer: return=representation`.
fn written(
    ctx: &Ctx,
    tracker: &mut Tracker,
    table: &'static Table,
    id: u64,
    created: bool,
    request: &Request<'_>,
) -> Reply {
    tracker.observe(ctx.store());
    let guid = tracker
        .row(table.set, id)
        .map(|r| r.guid.clone())
        .unwrap_or_default();
    let location = format!("{}{}({guid})", ctx.root(), table.set);
    if request.prefers("return=representation")
        && let Ok(record) = ctx.store().get(table.set, id)
    {
        let status = if created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        };
        let body = Value::Object(entity(tracker, table, &record));
        return Reply::json(status, &body).header("odata-entityid", location);
    }
    Reply::no_content().header("odata-entityid", location)
}

/// `POST <set>`.
pub fn create(
    ctx: &Ctx,
    tracker: &mut Tracker,
    target: &Target,
    request: &Request<'_>,
) -> Result<Reply, DvError> {
    let table = target.table;
    let created = request.created;
    let body = parse_body(table, request.body)?;
    let fields = fields(ctx, tracker, table, body, created)?;
    let id = insert(ctx, table, fields)?;
    Ok(written(ctx, tracker, table, id, true, request))
}

fn insert(ctx: &Ctx, table: &Table, fields: Map<String, Value>) -> Result<u64, DvError> {
    ctx.store()
        .insert(table.set, fields)
        .map(|r| r.id)
        .map_err(|_| DvError::exists())
}

/// `PATCH <set>(<key>)`: an upsert. `If-None-Match: *` creates only (412 when the record
/// exists), `If-Match: *` updates only (404 when it does not), `If-Match: W/"<version>"`
/// updates only that version (412 otherwise).
pub fn upsert(
    ctx: &Ctx,
    tracker: &mut Tracker,
    target: &Target,
    request: &Request<'_>,
) -> Result<Reply, DvError> {
    let table = target.table;
    let created = request.created;
    let key = target
        .key
        .as_ref()
        .ok_or_else(|| DvError::bad_request("PATCH needs a key"))?;
    let existing = find(ctx, tracker, table, key)?;
    let if_match = request.header("if-match");
    let if_none_match = request.header("if-none-match");
    match (&existing, if_match, if_none_match) {
        (Some(_), _, Some("*")) => return Err(DvError::exists()),
        (None, Some(_), _) => return Err(missing(table, key)),
        (Some(record), Some(tag), _) if tag != "*" => {
            let version = tracker.row(table.set, record.id).map_or(0, |r| r.version);
            if tag != format!("W/\"{version}\"") {
                return Err(DvError::version_mismatch());
            }
        }
        _ => {}
    }
    let body = parse_body(table, request.body)?;
    let mut fields = fields(ctx, tracker, table, body, created)?;
    if let Key::Alternate(pairs) = key {
        // The URL's key values win over the body's.
        for (column, value) in pairs {
            fields.insert(column.clone(), value.clone());
        }
    }
    match existing {
        Some(record) => {
            ctx.store()
                .update(table.set, record.id, fields)
                .map_err(|_| DvError::exists())?;
            Ok(written(ctx, tracker, table, record.id, false, request))
        }
        None => {
            let id = insert(ctx, table, fields)?;
            if let Key::Guid(guid) = key {
                tracker.choose_guid(table.set, id, guid);
            }
            Ok(written(ctx, tracker, table, id, true, request))
        }
    }
}

/// `DELETE <set>(<key>)`.
pub fn delete(ctx: &Ctx, tracker: &mut Tracker, target: &Target) -> Result<Reply, DvError> {
    let table = target.table;
    let key = target
        .key
        .as_ref()
        .ok_or_else(|| DvError::bad_request("DELETE needs a key"))?;
    let record = find(ctx, tracker, table, key)?.ok_or_else(|| missing(table, key))?;
    let _ = ctx.store().delete(table.set, record.id);
    tracker.observe(ctx.store());
    Ok(Reply::no_content())
}
