//! Where the records are in a reply: a JSON pointer (`/data`, `""` for a body that is the
//! list) or a JSONPath query (`$.data[*]`, `$..items[?@.active]`, RFC 9535) for replies a
//! pointer cannot reach (records nested in groups, a list under a key that varies).

use std::fmt;

use serde_json::Value;
use serde_json_path::JsonPath;

/// A path to the records of a reply.
#[derive(Clone)]
pub enum RecordPath {
    /// The array at this JSON pointer (RFC 6901). `null` is no records; a reply without the
    /// key is not a list reply at all (most often an error reported inside an HTTP 200, which
    /// must not read as "no more records"), and neither is anything else that is not an
    /// array.
    Pointer(String),
    /// Every node this JSONPath query selects is one record.
    Query(JsonPath, String),
}

impl RecordPath {
    /// Reads a path as written in settings: `$…` is JSONPath, anything else a JSON
    /// pointer. The error says what is wrong with the JSONPath.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.starts_with('$') {
            let path =
                JsonPath::parse(text).map_err(|e| format!("`{text}` is not a JSONPath: {e}"))?;
            Ok(RecordPath::Query(path, text.to_owned()))
        } else if text.is_empty() || text.starts_with('/') {
            Ok(RecordPath::Pointer(text.to_owned()))
        } else {
            Err(format!(
                "`{text}` is neither a JSON pointer (`/data`) nor a JSONPath (`$.data[*]`)"
            ))
        }
    }

    /// The records `body` holds, or `None` when the path leads to something that is not a
    /// list of records.
    pub fn records(&self, body: &Value) -> Option<Vec<Value>> {
        match self {
            RecordPath::Pointer(pointer) => match body.pointer(pointer) {
                Some(Value::Array(items)) => Some(items.clone()),
                Some(Value::Null) if !pointer.is_empty() => Some(Vec::new()),
                _ => None,
            },
            RecordPath::Query(path, _) => {
                Some(path.query(body).all().into_iter().cloned().collect())
            }
        }
    }
}

impl From<&str> for RecordPath {
    /// A JSON pointer.
    fn from(pointer: &str) -> Self {
        RecordPath::Pointer(pointer.to_owned())
    }
}

impl fmt::Display for RecordPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordPath::Pointer(p) => f.write_str(p),
            RecordPath::Query(_, text) => f.write_str(text),
        }
    }
}

impl fmt::Debug for RecordPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RecordPath({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pointers_and_queries_find_the_records() {
        let body = json!({"data": [{"id": 1}, {"id": 2}], "groups": [{"items": [{"id": 3}]}, {"items": [{"id": 4}]}]});
        let ids = |path: &str| -> Vec<Value> {
            RecordPath::parse(path)
                .unwrap()
                .records(&body)
                .unwrap()
                .iter()
                .map(|r| r["id"].clone())
                .collect()
        };
        assert_eq!(ids("/data"), [json!(1), json!(2)]);
        assert_eq!(ids("$.groups[*].items[*]"), [json!(3), json!(4)]);
        assert!(
            RecordPath::parse("/missing")
                .unwrap()
                .records(&body)
                .is_none()
        );
        assert_eq!(
            RecordPath::parse("/none")
                .unwrap()
                .records(&json!({"none": null})),
            Some(vec![])
        );
        assert!(
            RecordPath::parse("").unwrap().records(&body).is_none(),
            "the body is no list"
        );
        assert!(RecordPath::parse("data").is_err());
        assert!(
            RecordPath::parse("$.data[")
                .unwrap_err()
                .contains("$.data[")
        );
    }
}
