//! A record as Yonyou's save APIs take it: canonical fields renamed (a dotted path builds
//! nested objects, `name.simplifiedName`; keys with `!` stay flat, as Yonyou wants them),
//! the code set from the flow's key, the target's `defaults` where the record has no
//! value, lines under `orderDetails`; and the idempotency key derived from it all.

use ferry_kit::Outgoing;
use ferry_kit::sink::renamed;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::config::TargetOptions;

/// `resubmitCheckKey` is at most this long.
pub const KEY_CHARS: usize = 32;

/// The header fields of `out` under the target's names, with its code and the defaults.
pub fn header(options: &TargetOptions, out: &Outgoing, key_field: &str) -> Map<String, Value> {
    let lines_from = options.lines_from();
    let mut data = Map::new();
    for (canonical, value) in &out.fields {
        let is_lines = options.lines.is_some() && canonical == lines_from;
        if is_lines || canonical == key_field {
            continue;
        }
        if let Some(path) = renamed(&options.fields, canonical) {
            put(&mut data, path, value.clone());
        }
    }
    data.insert("code".into(), Value::String(out.key.clone()));
    fill(&mut data, &options.defaults);
    data
}

/// The lines of `out` under the line names, with the line defaults; an error says why the
/// lines are not lines.
pub fn lines(options: &TargetOptions, out: &Outgoing) -> Result<Vec<Map<String, Value>>, String> {
    let Some(target) = &options.lines else {
        return Ok(Vec::new());
    };
    let from = options.lines_from();
    let items = match out.fields.get(from) {
        Some(Value::Array(items)) => items,
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(_) => return Err(format!("`{from}` is not a list of lines")),
    };
    items
        .iter()
        .map(|item| {
            let Value::Object(fields) = item else {
                return Err(format!("a line is not an object: {item}"));
            };
            let mut line = Map::new();
            for (canonical, value) in fields {
                if let Some(path) = renamed(&target.fields, canonical) {
                    put(&mut line, path, value.clone());
                }
            }
            fill(&mut line, &target.defaults);
            Ok(line)
        })
        .collect()
}

/// Sets `value` at `path` (`a.b` nests; `a!b` is one key).
pub fn put(data: &mut Map<String, Value>, path: &str, value: Value) {
    match path.split_once('.') {
        None => {
            data.insert(path.to_owned(), value);
        }
        Some((head, rest)) => {
            let inner = data
                .entry(head.to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            if !inner.is_object() {
                *inner = Value::Object(Map::new());
            }
            if let Value::Object(inner) = inner {
                put(inner, rest, value);
            }
        }
    }
}

/// Puts each default where `data` has no value.
fn fill(data: &mut Map<String, Value>, defaults: &Map<String, Value>) {
    for (key, value) in defaults {
        if data.get(key).is_none_or(Value::is_null) {
            data.insert(key.clone(), value.clone());
        }
    }
}

/// The `resubmitCheckKey` of a write: the first 32 hex digits of SHA-256 over the API, the
/// request's data and what it was written over (the existing record's `pubts`). A request
/// sent again (a retry after a timeout) carries the same key, so Yonyou answers the first
/// result instead of writing twice; a later change of the same record, even back to an
/// earlier content, is written over a newer `pubts` and so gets a new key.
pub fn idempotency_key(path: &str, data: &Map<String, Value>, over: Option<&str>) -> String {
    let mut hash = Sha256::new();
    hash.update(path.as_bytes());
    hash.update([0]);
    hash.update(Value::Object(data.clone()).to_string().as_bytes());
    hash.update([0]);
    hash.update(over.unwrap_or("new").as_bytes());
    let mut key = hex::encode(hash.finalize());
    key.truncate(KEY_CHARS);
    key
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dotted_paths_nest_and_bangs_stay_flat() {
        let mut data = Map::new();
        put(&mut data, "name.simplifiedName", json!("螺栓"));
        put(&mut data, "orderPrices!currency", json!("CNY"));
        assert_eq!(
            Value::Object(data),
            json!({"name": {"simplifiedName": "螺栓"}, "orderPrices!currency": "CNY"})
        );
    }

    #[test]
    fn the_key_is_short_stable_and_moves_with_content_and_state() {
        let data = json!({"code": "M1"}).as_object().cloned().unwrap();
        let key = idempotency_key("p", &data, None);
        assert_eq!(key.len(), KEY_CHARS);
        assert_eq!(key, idempotency_key("p", &data, None));
        assert_ne!(
            key,
            idempotency_key("p", &data, Some("2024-05-01 09:00:00"))
        );
        let other = json!({"code": "M2"}).as_object().cloned().unwrap();
        assert_ne!(key, idempotency_key("p", &other, None));
    }
}
