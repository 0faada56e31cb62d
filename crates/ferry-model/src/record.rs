//! The record: one object from one system as it travels through a flow.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// One object read from (or about to be written to) a system.
///
/// Field values are JSON values. Money and quantities travel as decimal *strings*
/// (`"1234.50"`), never as floats, so no cent is lost between systems.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// The record's id in its own system (primary key, row id, file + line).
    pub id: String,
    /// When the source says the record last changed, if it says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<DateTime<Utc>>,
    /// The record's fields as the system gave them.
    pub fields: Map<String, Value>,
    /// The record was deleted at the source.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
}

impl Record {
    /// A live record with the given id and fields.
    pub fn new(id: impl Into<String>, fields: Map<String, Value>) -> Self {
        Self {
            id: id.into(),
            updated_at: None,
            fields,
            deleted: false,
        }
    }

    /// The source version shown in the ledger: the updated-at stamp when there is one.
    pub fn version(&self) -> Option<String> {
        self.updated_at.map(|t| t.to_rfc3339())
    }

    /// The hash of the record's fields (see [`content_hash`]).
    pub fn hash(&self) -> String {
        content_hash(&self.fields)
    }
}

/// A stable SHA-256 hash (hex, first 32 characters) of a field map.
///
/// Keys are hashed in sorted order so that two maps with the same content hash the same
/// whatever order a system returned its columns in. The engine compares this hash with the one
/// it last wrote to skip writes that would change nothing, which also stops echo loops.
pub fn content_hash(fields: &Map<String, Value>) -> String {
    let mut hasher = Sha256::new();
    hash_object(&mut hasher, fields);
    let digest = hasher.finalize();
    hex::encode(&digest[..16])
}

fn hash_object(hasher: &mut Sha256, fields: &Map<String, Value>) {
    let mut keys: Vec<&String> = fields.keys().collect();
    keys.sort_unstable();
    hasher.update(b"{");
    for key in keys {
        hasher.update(key.as_bytes());
        hasher.update(b"\0");
        hash_value(hasher, &fields[key]);
    }
    hasher.update(b"}");
}

fn hash_value(hasher: &mut Sha256, value: &Value) {
    match value {
        Value::Object(map) => hash_object(hasher, map),
        Value::Array(items) => {
            hasher.update(b"[");
            for item in items {
                hash_value(hasher, item);
                hasher.update(b",");
            }
            hasher.update(b"]");
        }
        Value::String(s) => {
            hasher.update(b"s");
            hasher.update(s.as_bytes());
            hasher.update(b"\0");
        }
        other => {
            hasher.update(other.to_string().as_bytes());
            hasher.update(b"\0");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn hash_ignores_key_order_but_not_values() {
        let a = json!({"a": 1, "b": "x", "c": {"y": 2, "z": [1, 2]}});
        let b = json!({"c": {"z": [1, 2], "y": 2}, "b": "x", "a": 1});
        let c = json!({"a": 1, "b": "x", "c": {"y": 2, "z": [2, 1]}});
        let h = |v: &Value| content_hash(v.as_object().unwrap());
        assert_eq!(h(&a), h(&b));
        assert_ne!(h(&a), h(&c));
        // A string "1" and a number 1 are different content.
        assert_ne!(h(&json!({"a": "1"})), h(&json!({"a": 1})));
    }
}
