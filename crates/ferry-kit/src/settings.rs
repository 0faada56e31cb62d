//! Reading a connector's settings map into its typed config, with the key path of what is
//! wrong (`watermark.overlap`, `types.a`), which `ferry check` turns into file:line.

use ferry_model::config::{ConfigIssue, words};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::SettingsIssues;

/// Deserializes `map` into `T` (a `deny_unknown_fields` struct), reporting the first problem
/// at its key path. serde_path_to_error tracks the path; a missing field is reported at the
/// field itself rather than at the map that lacks it.
pub fn parse<T: DeserializeOwned>(map: &Map<String, Value>) -> Result<T, SettingsIssues> {
    let value = Value::Object(map.clone());
    serde_path_to_error::deserialize(&value).map_err(|e| {
        let mut path: Vec<String> = e
            .path()
            .iter()
            .filter_map(|segment| match segment {
                serde_path_to_error::Segment::Map { key } => Some(key.clone()),
                serde_path_to_error::Segment::Seq { index } => Some(index.to_string()),
                serde_path_to_error::Segment::Enum { variant } => Some(variant.clone()),
                serde_path_to_error::Segment::Unknown => None,
            })
            .collect();
        let message = e.inner().to_string();
        if let Some(field) = quoted_after(&message, "missing field `") {
            path.push(field.to_owned());
        }
        vec![ConfigIssue::at(path, words::humanize(&message))]
    })
}

/// The text between `prefix` (which ends with a backquote) and the next backquote.
fn quoted_after<'a>(message: &'a str, prefix: &str) -> Option<&'a str> {
    message.strip_prefix(prefix)?.split('`').next()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        column: String,
        #[serde(default)]
        kind: Option<u32>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        table: String,
        #[serde(default)]
        watermark: Option<Inner>,
        #[serde(default)]
        columns: Vec<String>,
    }

    fn issue(v: serde_json::Value) -> (String, String) {
        let map = v.as_object().unwrap().clone();
        let i = parse::<Outer>(&map).unwrap_err().remove(0);
        (i.dotted(), i.message)
    }

    #[test]
    fn problems_are_reported_at_their_key_path() {
        assert_eq!(issue(json!({})).0, "table");
        assert_eq!(
            issue(json!({"table": "t", "watermark": {}})).0,
            "watermark.column"
        );
        assert_eq!(
            issue(json!({"table": "t", "watermark": {"column": "c", "kind": "x"}})).0,
            "watermark.kind"
        );
        assert_eq!(
            issue(json!({"table": "t", "columns": ["a", 5]})).0,
            "columns.1"
        );
        let (path, message) = issue(json!({"table": "t", "tabel": "u"}));
        assert_eq!(path, "tabel");
        assert!(
            message == "unknown key `tabel`; did you mean `table`?",
            "{message}"
        );
    }
}
