//! Reads: a resource path (`accounts`, `accounts(<guid>)`, `accounts(accountnumber='A1')`),
//! one record, or a collection with `$select`, `$filter`, `$orderby`, paging by
//! `Prefer: odata.maxpagesize` and `@odata.nextLink`, and change tracking (delta links).

use std::cmp::Ordering;

use axum::http::StatusCode;
use serde_json::{Map, Value, json};

use super::auth::url_form;
use super::error::DvError;
use super::tables::{Table, table};
use super::tracker::{Tracker, is_guid};
use super::{Ctx, Request};
use crate::reply::Reply;
use crate::store::{Record, stamp};

/// A resource: a table, and a record of it by GUID or alternate key.
pub struct Target {
    pub table: &'static Table,
    pub key: Option<Key>,
}

pub enum Key {
    Guid(String),
    /// `(column, value)` pairs of an alternate key.
    Alternate(Vec<(String, Value)>),
}

/// `accounts`, `accounts(<guid>)` or `accounts(accountnumber='A1',…)`.
pub fn target(resource: &str) -> Result<Target, DvError> {
    let (set, key) = match resource.split_once('(') {
        Some((set, rest)) => {
            let inner = rest.strip_suffix(')').ok_or_else(|| {
                DvError::bad_request(format!("Bad Request - Error in query syntax: {resource}"))
            })?;
            (set, Some(key(inner)?))
        }
        None => (resource, None),
    };
    let table = table(set).ok_or_else(|| {
        DvError::new(
            StatusCode::NOT_FOUND,
            "0x8006088a",
            format!("Resource not found for the segment '{set}'."),
        )
    })?;
    Ok(Target { table, key })
}

fn key(inner: &str) -> Result<Key, DvError> {
    if is_guid(inner) {
        return Ok(Key::Guid(inner.to_ascii_lowercase()));
    }
    let mut pairs = Vec::new();
    for part in split_top(inner, ',') {
        let (column, literal) = part.split_once('=').ok_or_else(|| {
            DvError::bad_request(format!(
                "The key '{inner}' is not a GUID or key=value list."
            ))
        })?;
        pairs.push((column.trim().to_owned(), literal_value(literal.trim())?));
    }
    Ok(Key::Alternate(pairs))
}

/// Splits at `sep` outside quotes.
fn split_top(text: &str, sep: char) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut quoted = false;
    for c in text.chars() {
        if c == '\'' {
            quoted = !quoted;
        }
        if c == sep && !quoted {
            out.push(String::new());
        } else if let Some(last) = out.last_mut() {
            last.push(c);
        }
    }
    out
}

/// An OData literal: `'text'` (with `''` for a quote), a number, `true`/`false`, `null`,
/// or a date(time).
pub fn literal_value(text: &str) -> Result<Value, DvError> {
    if let Some(inner) = text.strip_prefix('\'').and_then(|t| t.strip_suffix('\'')) {
        return Ok(Value::String(inner.replace("''", "'")));
    }
    match text {
        "true" => return Ok(Value::Bool(true)),
        "false" => return Ok(Value::Bool(false)),
        "null" => return Ok(Value::Null),
        _ => {}
    }
    if let Ok(n) = text.parse::<serde_json::Number>() {
        return Ok(Value::Number(n));
    }
    if chrono::DateTime::parse_from_rfc3339(text).is_ok()
        || chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").is_ok()
    {
        return Ok(Value::String(text.to_owned()));
    }
    Err(DvError::bad_request(format!(
        "Syntax error: '{text}' is not a valid literal."
    )))
}

/// The store record a key names, if any.
pub fn find(
    ctx: &Ctx,
    tracker: &Tracker,
    table: &'static Table,
    key: &Key,
) -> Result<Option<Record>, DvError> {
    let store = ctx.store();
    match key {
        Key::Guid(guid) => Ok(tracker
            .id_of(table.set, guid)
            .and_then(|id| store.get(table.set, id).ok())),
        Key::Alternate(pairs) => {
            let mut names: Vec<&str> = pairs.iter().map(|(c, _)| c.as_str()).collect();
            names.sort_unstable();
            let mut wanted: Vec<&str> = table.key.to_vec();
            wanted.sort_unstable();
            if names != wanted {
                return Err(DvError::bad_request(format!(
                    "The key '{}' is not an alternate key of {}: its key is ({}).",
                    names.join(","),
                    table.entity,
                    table.key.join(",")
                )));
            }
            let rows = store.list(table.set, None, None).unwrap_or_default();
            Ok(rows
                .into_iter()
                .find(|r| pairs.iter().all(|(c, v)| r.fields.get(c) == Some(v))))
        }
    }
}

/// A record as the Web API shows it: `@odata.etag`, the GUID, columns, lookups' values,
/// `modifiedon`, `createdon`, `versionnumber`.
pub fn entity(tracker: &Tracker, table: &'static Table, record: &Record) -> Map<String, Value> {
    let row = tracker.row(table.set, record.id);
    let version = row.map_or(0, |r| r.version);
    let mut out = Map::new();
    out.insert("@odata.etag".into(), json!(format!("W/\"{version}\"")));
    out.insert(
        table.id.into(),
        json!(row.map(|r| r.guid.clone()).unwrap_or_default()),
    );
    for (name, _) in table.columns {
        out.insert(
            (*name).into(),
            record.fields.get(*name).cloned().unwrap_or(Value::Null),
        );
    }
    for lookup in table.lookups {
        let property = lookup.value_property();
        let value = record.fields.get(&property).cloned().unwrap_or(Value::Null);
        out.insert(property, value);
    }
    out.insert("modifiedon".into(), json!(stamp(record.updated_at)));
    out.insert("createdon".into(), json!(stamp(record.created_at)));
    out.insert("versionnumber".into(), json!(version));
    out
}

/// The query options of a GET.
#[derive(Default)]
struct Options {
    select: Vec<String>,
    filter: Vec<(String, String, Value)>,
    orderby: Vec<(String, bool)>,
    skiptoken: Option<String>,
    deltatoken: Option<String>,
    top: Option<usize>,
}

fn options(table: &Table, query: &str) -> Result<Options, DvError> {
    let mut out = Options::default();
    for (name, value) in url_form(query) {
        match name.as_str() {
            "$select" => out.select = value.split(',').map(|s| s.trim().to_owned()).collect(),
            "$filter" => out.filter = filter(table, &value)?,
            "$orderby" => {
                for part in value.split(',') {
                    let mut words = part.split_whitespace();
                    let column = words.next().unwrap_or("").to_owned();
                    let descending = words.next() == Some("desc");
                    out.orderby.push((column, descending));
                }
            }
            "$skiptoken" => out.skiptoken = Some(value),
            "$deltatoken" => out.deltatoken = Some(value),
            "$top" => out.top = value.parse().ok(),
            "$count" | "$expand" => {}
            other if other.starts_with('$') => {
                return Err(DvError::bad_request(format!(
                    "The query parameter {other} is not supported"
                )));
            }
            _ => {}
        }
    }
    for column in out.select.iter().chain(out.orderby.iter().map(|(c, _)| c)) {
        known_property(table, column)?;
    }
    Ok(out)
}

fn known_property(table: &Table, column: &str) -> Result<(), DvError> {
    let known = column == table.id
        || table.column(column).is_some()
        || super::tables::SYSTEM_COLUMNS
            .iter()
            .any(|(n, _)| *n == column)
        || table.lookups.iter().any(|l| l.value_property() == column);
    if known {
        Ok(())
    } else {
        Err(DvError::new(
            StatusCode::BAD_REQUEST,
            "0x80060888",
            format!(
                "Could not find a property named '{column}' on type 'Microsoft.Dynamics.CRM.{}'.",
                table.entity
            ),
        ))
    }
}

/// `a eq 'x' and b gt 5`: comparisons joined by `and`.
fn filter(table: &Table, text: &str) -> Result<Vec<(String, String, Value)>, DvError> {
    let mut out = Vec::new();
    for clause in text.split(" and ") {
        let clause = clause.trim().trim_start_matches('(').trim_end_matches(')');
        let mut words = clause.splitn(3, ' ');
        let (Some(column), Some(op), Some(literal)) = (words.next(), words.next(), words.next())
        else {
            return Err(DvError::bad_request(format!(
                "The $filter clause '{clause}' is not supported by this double: use `column op literal` joined by `and`."
            )));
        };
        if !["eq", "ne", "gt", "ge", "lt", "le"].contains(&op) {
            return Err(DvError::bad_request(format!(
                "The operator '{op}' is not supported"
            )));
        }
        known_property(table, column)?;
        out.push((
            column.to_owned(),
            op.to_owned(),
            literal_value(literal.trim())?,
        ));
    }
    Ok(out)
}

fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Value::String(x), Value::String(y)) => {
            match (
                chrono::DateTime::parse_from_rfc3339(x),
                chrono::DateTime::parse_from_rfc3339(y),
            ) {
                (Ok(x), Ok(y)) => Some(x.cmp(&y)),
                _ => Some(x.to_lowercase().cmp(&y.to_lowercase())),
            }
        }
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        (Value::Null, Value::Null) => Some(Ordering::Equal),
        _ => None,
    }
}

fn admits(row: &Map<String, Value>, filter: &[(String, String, Value)]) -> bool {
    filter.iter().all(|(column, op, wanted)| {
        let have = row.get(column).unwrap_or(&Value::Null);
        let order = compare(have, wanted);
        match op.as_str() {
            "eq" => order == Some(Ordering::Equal),
            "ne" => order != Some(Ordering::Equal),
            "gt" => order == Some(Ordering::Greater),
            "ge" => matches!(order, Some(Ordering::Greater | Ordering::Equal)),
            "lt" => order == Some(Ordering::Less),
            _ => matches!(order, Some(Ordering::Less | Ordering::Equal)),
        }
    })
}

/// A GET of one record or a collection.
pub fn get(
    ctx: &Ctx,
    tracker: &Tracker,
    target: &Target,
    request: &Request<'_>,
) -> Result<Reply, DvError> {
    let table = target.table;
    let options = options(table, request.query)?;
    if let Some(key) = &target.key {
        let record = find(ctx, tracker, table, key)?.ok_or_else(|| missing(table, key))?;
        let mut body = select(entity(tracker, table, &record), &options.select, table);
        body.insert(
            "@odata.context".into(),
            json!(format!("{}$metadata#{}/$entity", ctx.root(), table.set)),
        );
        return Ok(Reply::json(StatusCode::OK, &Value::Object(body)));
    }
    if options.deltatoken.is_some() || request.prefers("odata.track-changes") {
        if !options.filter.is_empty() || !options.orderby.is_empty() {
            return Err(DvError::bad_request(
                "$filter, $orderby and $expand cannot be used with change tracking; use $select only.",
            ));
        }
        return changes(ctx, tracker, table, &options, request);
    }
    query(ctx, tracker, table, &options, request)
}

pub fn missing(table: &Table, key: &Key) -> DvError {
    match key {
        Key::Guid(guid) => DvError::not_found(table.entity, guid),
        Key::Alternate(_) => DvError::no_key_match(table.entity),
    }
}

fn select(mut row: Map<String, Value>, select: &[String], table: &Table) -> Map<String, Value> {
    if !select.is_empty() {
        row.retain(|k, _| k.starts_with('@') || k == table.id || select.contains(k));
    }
    row
}

fn page_size(ctx: &Ctx, request: &Request<'_>) -> usize {
    request
        .max_page_size()
        .unwrap_or(ctx.config.page_size)
        .clamp(1, 5000)
}

/// `$skiptoken` as Dataverse writes it: a `<cookie … />` whose `pagingcookie` is itself
/// URL-encoded, the whole URL-encoded again in the link (so the paging cookie reads
/// `%253ccookie…` there). `fields` are the double's own position attributes.
fn skiptoken(page: usize, fields: &[(&str, String)], tracking: bool) -> String {
    let inner = fields
        .iter()
        .map(|(k, v)| format!(" {k}=\"{v}\""))
        .collect::<String>();
    let paging = format!("<cookie page=\"{}\"{inner} />", page - 1);
    let encoded = pct(&paging);
    let tracking = if tracking { "True" } else { "False" };
    format!("<cookie pagenumber=\"{page}\" pagingcookie=\"{encoded}\" istracking=\"{tracking}\" />")
}

fn pct(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// An attribute of the position cookie inside a `$skiptoken`.
fn cookie_attr(token: &str, name: &str) -> Option<String> {
    let paging = attr(token, "pagingcookie")?;
    let decoded = percent_encoding::percent_decode_str(&paging).decode_utf8_lossy();
    attr(&decoded, name)
}

fn attr(text: &str, name: &str) -> Option<String> {
    let start = text.find(&format!(" {name}=\""))? + name.len() + 3;
    let len = text[start..].find('"')?;
    Some(text[start..start + len].to_owned())
}

/// The URL of the next page: the request's own query with a new `$skiptoken`.
fn next_link(ctx: &Ctx, table: &Table, query: &str, token: &str) -> String {
    let kept: Vec<(String, String)> = url_form(query)
        .into_iter()
        .filter(|(k, _)| k != "$skiptoken")
        .collect();
    let mut out = format!("{}{}?", ctx.root(), table.set);
    for (k, v) in kept {
        out.push_str(&format!("{k}={}&", pct(&v)));
    }
    out.push_str(&format!("$skiptoken={}", pct(token)));
    out
}

fn collection(ctx: &Ctx, table: &Table, rows: Vec<Value>) -> Map<String, Value> {
    let mut body = Map::new();
    body.insert(
        "@odata.context".into(),
        json!(format!("{}$metadata#{}", ctx.root(), table.set)),
    );
    body.insert("value".into(), Value::Array(rows));
    body
}

/// A plain query: filtered, ordered (default: by GUID), paged by position.
fn query(
    ctx: &Ctx,
    tracker: &Tracker,
    table: &'static Table,
    options: &Options,
    request: &Request<'_>,
) -> Result<Reply, DvError> {
    let records = ctx.store().list(table.set, None, None).unwrap_or_default();
    let mut rows: Vec<Map<String, Value>> = records
        .iter()
        .map(|r| entity(tracker, table, r))
        .filter(|row| admits(row, &options.filter))
        .collect();
    sort_rows(&mut rows, &options.orderby, table.id);
    if let Some(top) = options.top {
        rows.truncate(top);
    }
    let size = page_size(ctx, request);
    let skip: usize = match &options.skiptoken {
        Some(token) => cookie_attr(token, "skip")
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| DvError::bad_request("The $skiptoken is not valid."))?,
        None => 0,
    };
    let page_number = skip / size + 1;
    let more = rows.len() > skip + size;
    let page: Vec<Value> = rows
        .into_iter()
        .skip(skip)
        .take(size)
        .map(|row| Value::Object(select(row, &options.select, table)))
        .collect();
    let mut body = collection(ctx, table, page);
    if more {
        let token = skiptoken(
            page_number + 1,
            &[("skip", (skip + size).to_string())],
            false,
        );
        body.insert(
            "@odata.nextLink".into(),
            json!(next_link(ctx, table, request.query, &token)),
        );
    }
    Ok(Reply::json(StatusCode::OK, &Value::Object(body))
        .header("preference-applied", format!("odata.maxpagesize={size}")))
}

/// Sorts by `orderby`, then by the GUID (Dataverse's default order is the primary key).
fn sort_rows(rows: &mut [Map<String, Value>], orderby: &[(String, bool)], id: &str) {
    let mut order = orderby.to_vec();
    order.push((id.to_owned(), false));
    rows.sort_by(|a, b| {
        order
            .iter()
            .map(|(c, desc)| {
                let (x, y) = (
                    a.get(c).unwrap_or(&Value::Null),
                    b.get(c).unwrap_or(&Value::Null),
                );
                let o = compare(x, y).unwrap_or(Ordering::Equal);
                if *desc { o.reverse() } else { o }
            })
            .find(|o| *o != Ordering::Equal)
            .unwrap_or(Ordering::Equal)
    });
}

/// A tracked read: with no delta token, every live row (the initial read); with one,
/// the rows changed and deleted after its version. Both in version order, paged, the last
/// page carrying `@odata.deltaLink` at the version the read started at.
fn changes(
    ctx: &Ctx,
    tracker: &Tracker,
    table: &'static Table,
    options: &Options,
    request: &Request<'_>,
) -> Result<Reply, DvError> {
    let since = delta_version(tracker, options.deltatoken.as_deref())?;
    let (bound, after) = match &options.skiptoken {
        Some(token) => {
            let read = |name| cookie_attr(token, name).and_then(|v| v.parse::<u64>().ok());
            match (read("bound"), read("last")) {
                (Some(bound), Some(last)) => (bound, last),
                _ => return Err(DvError::bad_request("The $skiptoken is not valid.")),
            }
        }
        None => (tracker.version, since.unwrap_or(0)),
    };
    let mut rows = tracked_rows(ctx, tracker, table, &options.select, since.is_some());
    rows.retain(|(v, _)| *v > after && *v <= bound);
    rows.sort_by_key(|(v, _)| *v);
    let size = page_size(ctx, request);
    let more = rows.len() > size;
    rows.truncate(size);
    let last = rows.last().map_or(after, |(v, _)| *v);
    let mut body = collection(ctx, table, rows.into_iter().map(|(_, r)| r).collect());
    if more {
        let page = cookie_attr(options.skiptoken.as_deref().unwrap_or(""), "page")
            .and_then(|p| p.parse::<usize>().ok())
            .unwrap_or(0)
            + 2;
        let fields = [("bound", bound.to_string()), ("last", last.to_string())];
        let token = skiptoken(page, &fields, true);
        let next = next_link(ctx, table, request.query, &token);
        body.insert("@odata.nextLink".into(), json!(next));
    } else {
        let link = delta_link(ctx, table, request.query, bound);
        body.insert("@odata.deltaLink".into(), json!(link));
    }
    Ok(Reply::json(StatusCode::OK, &Value::Object(body))
        .header("preference-applied", "odata.track-changes"))
}

/// The version a delta token names (`<version>!<time>`), if it is still honoured.
fn delta_version(tracker: &Tracker, token: Option<&str>) -> Result<Option<u64>, DvError> {
    let Some(token) = token else {
        return Ok(None);
    };
    let version: u64 = token
        .split('!')
        .next()
        .and_then(|v| v.parse().ok())
        .ok_or_else(DvError::expired_delta_token)?;
    if version < tracker.oldest_token || version > tracker.version {
        return Err(DvError::expired_delta_token());
    }
    Ok(Some(version))
}

/// `(version, row)` of every live row, and with `deleted` the `$deletedEntity` rows.
fn tracked_rows(
    ctx: &Ctx,
    tracker: &Tracker,
    table: &'static Table,
    columns: &[String],
    deleted: bool,
) -> Vec<(u64, Value)> {
    let records = ctx.store().list(table.set, None, None).unwrap_or_default();
    let mut rows: Vec<(u64, Value)> = records
        .iter()
        .filter_map(|r| {
            let version = tracker.row(table.set, r.id)?.version;
            let row = select(entity(tracker, table, r), columns, table);
            Some((version, Value::Object(row)))
        })
        .collect();
    if deleted {
        let context = format!("{}$metadata#{}/$deletedEntity", ctx.root(), table.set);
        rows.extend(
            tracker
                .tombstones
                .iter()
                .filter(|t| t.set == table.set)
                .map(|t| {
                    let row = json!({"@odata.context": context, "id": t.guid, "reason": "deleted"});
                    (t.version, row)
                }),
        );
    }
    rows
}

/// The delta link for changes after `version`, keeping the request's `$select`.
fn delta_link(ctx: &Ctx, table: &Table, query: &str, version: u64) -> String {
    let stamp = ctx.harness.clock().now().format("%m/%d/%Y %H:%M:%S");
    let token = format!("{version}!{stamp}");
    let mut link = format!("{}{}?", ctx.root(), table.set);
    for (k, v) in url_form(query).into_iter().filter(|(k, _)| k == "$select") {
        link.push_str(&format!("{k}={}&", pct(&v)));
    }
    link.push_str(&format!("$deltatoken={}", pct(&token)));
    link
}
