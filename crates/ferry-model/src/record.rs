//! The record: one object from one system as it travels through a flow.

use std::io::Write;

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
    /// Where the source read it, when that says more than the id (`orders.csv line 17`):
    /// error messages about the record name it. Not part of the record's hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
}

impl Record {
    /// A live record with the given id and fields.
    pub fn new(id: impl Into<String>, fields: Map<String, Value>) -> Self {
        Self {
            id: id.into(),
            updated_at: None,
            fields,
            deleted: false,
            origin: None,
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
    thread_local! {
        /// The canonical bytes of the record being hashed, kept between calls so that hashing
        /// a record allocates nothing but its sorted key list.
        static CANONICAL: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    // The canonical bytes are gathered in one buffer and hashed in one call: feeding SHA-256
    // a few bytes at a time costs more than the hashing itself on records of short fields.
    let digest = CANONICAL.with_borrow_mut(|bytes| {
        bytes.clear();
        canonical_object(bytes, fields);
        let digest = Sha256::digest(bytes.as_slice());
        // A huge record does not pin its buffer for the thread's life.
        if bytes.capacity() > 1 << 20 {
            *bytes = Vec::new();
        }
        digest
    });
    hex::encode(&digest[..16])
}

/// Appends the canonical form of an object: `{`, then each `key \0 value` in key order, `}`.
fn canonical_object(out: &mut Vec<u8>, fields: &Map<String, Value>) {
    let mut entries: Vec<(&String, &Value)> = fields.iter().collect();
    entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
    out.push(b'{');
    for (key, value) in entries {
        out.extend_from_slice(key.as_bytes());
        out.push(0);
        canonical_value(out, value);
    }
    out.push(b'}');
}

/// Appends the canonical form of a value: strings tagged `s` so that `"1"` and `1` differ.
fn canonical_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Object(map) => canonical_object(out, map),
        Value::Array(items) => {
            out.push(b'[');
            for item in items {
                canonical_value(out, item);
                out.push(b',');
            }
            out.push(b']');
        }
        Value::String(s) => {
            out.push(b's');
            out.extend_from_slice(s.as_bytes());
            out.push(0);
        }
        other => {
            // Numbers, booleans and null as JSON text (writing to a Vec cannot fail).
            let _ = write!(out, "{other}");
            out.push(0);
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

    /// Stores keep these hashes across upgrades: a change in the canonical form would make
    /// every record look changed and be written again once.
    #[test]
    fn hash_is_stable_across_versions() {
        let v = json!({"name": "客户 1", "credit": "10.50", "n": 3, "ok": true, "none": null,
            "lines": [{"sku": "A", "qty": 2.5}], "tags": []});
        assert_eq!(
            content_hash(v.as_object().unwrap()),
            "df89266ae93fc1c2133beea00bc60d57"
        );
    }
}
