//! Records as OData v2 JSON entities: `__metadata` (id, uri, type, etag), properties in
//! EDMX order with the change stamps computed from the store's times, and navigation
//! properties either `__deferred` or expanded (`{"results": […]}`, or the one entity).

use serde_json::{Map, Value, json};

use super::Ctx;
use super::answer::SapError;
use super::catalog::{self, EntitySet, Held, Kind, Stamp};
use super::path::{key_text, predicate};
use super::values;
use crate::store::Record;

/// Hidden fields of a stored record, never rendered.
pub const KEY: &str = "_key";
pub const REV: &str = "_rev";

/// The key values of a stored entity (or embedded entry) of `set`.
pub fn key_of(set: &EntitySet, fields: &Map<String, Value>) -> Vec<String> {
    set.key
        .iter()
        .map(|k| {
            fields
                .get(*k)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned()
        })
        .collect()
}

/// The ETag of a stored top-level record.
pub fn etag(record: &Record) -> String {
    let rev = record.fields.get(REV).and_then(Value::as_u64).unwrap_or(0);
    values::etag(record.updated_at, rev)
}

/// The absolute URI of an entity of `set` with `key`.
pub fn uri(ctx: &Ctx, set: &EntitySet, key: &[String]) -> String {
    format!(
        "{}/{}{}",
        ctx.root(set.service),
        set.name,
        predicate(set, key)
    )
}

fn default(kind: Kind) -> Value {
    match kind {
        Kind::Str => json!(""),
        Kind::Dec => json!("0"),
        Kind::Bool => json!(false),
        Kind::Time => json!("PT00H00M00S"),
        Kind::Date | Kind::Stamp => Value::Null,
    }
}

/// A top-level record of `set`, with the navigations named in `expand` expanded.
pub fn render(
    ctx: &Ctx,
    set: &EntitySet,
    record: &Record,
    expand: &[String],
) -> Map<String, Value> {
    let tag = etag(record);
    let mut out = entry(ctx, set, &record.fields, Some(&tag), expand, record);
    let stamps: Vec<(&str, String)> = match set.stamp {
        Stamp::DateTimeOffset => vec![
            ("LastChangeDateTime", values::stamp(record.updated_at)),
            ("LastChangeDate", values::day(record.updated_at)),
        ],
        Stamp::DateAndTime => vec![
            ("LastChangeDate", values::day(record.updated_at)),
            ("LastChangeTime", values::time(record.updated_at)),
        ],
        Stamp::Date => vec![("LastChangeDate", values::day(record.updated_at))],
        Stamp::None => Vec::new(),
    };
    for (name, value) in stamps {
        if set.kind(name).is_some() {
            out.insert(name.to_owned(), Value::String(value));
        }
    }
    if set.stamp != Stamp::None && set.kind("CreationDate").is_some() {
        out.insert("CreationDate".into(), values::day(record.created_at).into());
    }
    out
}

/// One entity from its stored fields: `record` is the top-level record holding it (for
/// navigations and the ETag of embedded entries, which is their header's).
fn entry(
    ctx: &Ctx,
    set: &EntitySet,
    fields: &Map<String, Value>,
    tag: Option<&str>,
    expand: &[String],
    record: &Record,
) -> Map<String, Value> {
    let key = key_of(set, fields);
    let uri = uri(ctx, set, &key);
    let mut meta = json!({"id": uri, "uri": uri, "type": set.type_name()});
    if let Some(tag) = tag {
        meta["etag"] = tag.into();
    }
    let mut out = Map::new();
    out.insert("__metadata".into(), meta);
    for (name, kind) in set.props {
        let value = fields.get(*name).cloned().unwrap_or_else(|| default(*kind));
        out.insert((*name).to_owned(), value);
    }
    for nav in set.navs {
        let value = if expand.iter().any(|e| e == nav.name) {
            expanded(ctx, nav.set, nav.held, fields, &key, record)
        } else {
            json!({"__deferred": {"uri": format!("{uri}/{}", nav.name)}})
        };
        out.insert(nav.name.to_owned(), value);
    }
    out
}

fn expanded(
    ctx: &Ctx,
    target: &str,
    held: Held,
    fields: &Map<String, Value>,
    key: &[String],
    record: &Record,
) -> Value {
    let set = catalog::named(target);
    match held {
        Held::Embedded => {
            let results: Vec<Value> = embedded_entries(set, fields)
                .iter()
                .map(|e| Value::Object(child(ctx, set, e, record)))
                .collect();
            json!({ "results": results })
        }
        Held::SameKey => ctx
            .harness
            .store()
            .find_by_key(set.name, &key_text(key))
            .ok()
            .flatten()
            .map_or(Value::Null, |r| Value::Object(render(ctx, set, &r, &[]))),
    }
}

/// The stored entries of embedded `set` within a parent's fields.
pub fn embedded_entries(set: &EntitySet, parent: &Map<String, Value>) -> Vec<Map<String, Value>> {
    let Some((_, nav)) = set.parent else {
        return Vec::new();
    };
    parent
        .get(nav)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_object).cloned().collect())
        .unwrap_or_default()
}

/// An embedded entry of `set` held by `record`.
pub fn child(
    ctx: &Ctx,
    set: &EntitySet,
    fields: &Map<String, Value>,
    record: &Record,
) -> Map<String, Value> {
    entry(ctx, set, fields, Some(&etag(record)), &[], record)
}

/// Every entity of `set`, rendered, in key order (embedded sets flattened from their parents).
pub fn all(ctx: &Ctx, set: &EntitySet, expand: &[String]) -> Vec<Map<String, Value>> {
    let store = ctx.harness.store();
    let mut out: Vec<Map<String, Value>> = match set.parent {
        None => store
            .list(set.name, None, None)
            .unwrap_or_default()
            .iter()
            .map(|r| render(ctx, set, r, expand))
            .collect(),
        Some((parent, _)) => store
            .list(parent, None, None)
            .unwrap_or_default()
            .iter()
            .flat_map(|r| {
                embedded_entries(set, &r.fields)
                    .into_iter()
                    .map(|e| child(ctx, set, &e, r))
                    .collect::<Vec<_>>()
            })
            .collect(),
    };
    out.sort_by_key(|e| key_of(set, e));
    out
}

/// The top-level record holding the entity of `set` with `key`, and for an embedded set
/// the entry's index in its parent's array.
pub fn locate(
    ctx: &Ctx,
    set: &EntitySet,
    key: &[String],
) -> Result<(Record, Option<usize>), SapError> {
    let missing = || SapError::not_found(&format!("{}{}", set.name, predicate(set, key)));
    let store = ctx.harness.store();
    match set.parent {
        None => store
            .find_by_key(set.name, &key_text(key))
            .ok()
            .flatten()
            .map(|r| (r, None))
            .ok_or_else(missing),
        Some((parent, _)) => {
            let parent_set = catalog::named(parent);
            let parent_key = &key[..parent_set.key.len()];
            let record = store
                .find_by_key(parent, &key_text(parent_key))
                .ok()
                .flatten()
                .ok_or_else(missing)?;
            let index = embedded_entries(set, &record.fields)
                .iter()
                .position(|e| key_of(set, e) == key)
                .ok_or_else(missing)?;
            Ok((record, Some(index)))
        }
    }
}

/// The entity addressed by `set` and `key`, rendered.
pub fn one(
    ctx: &Ctx,
    set: &EntitySet,
    key: &[String],
    expand: &[String],
) -> Result<Map<String, Value>, SapError> {
    let (record, index) = locate(ctx, set, key)?;
    Ok(match index {
        None => render(ctx, set, &record, expand),
        Some(i) => child(ctx, set, &embedded_entries(set, &record.fields)[i], &record),
    })
}

/// Keeps `__metadata` and the selected properties (`to_Item/Material` keeps `to_Item`).
pub fn select(entity: Map<String, Value>, select: &[String]) -> Map<String, Value> {
    if select.is_empty() || select.iter().any(|s| s == "*") {
        return entity;
    }
    entity
        .into_iter()
        .filter(|(name, _)| {
            name == "__metadata"
                || select
                    .iter()
                    .any(|s| s == name || s.split('/').next() == Some(name.as_str()))
        })
        .collect()
}
