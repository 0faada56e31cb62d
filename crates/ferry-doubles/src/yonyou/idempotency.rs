//! MDD idempotency (幂等): a `resubmitCheckKey` inside `data` (at most 32 characters) makes
//! a save run once per API. Within the window (1 hour) the same key answers the first
//! success again, exactly; after it, the duplicate code with `data: {"id": …}`. Refusals are
//! not remembered, so a refused save may be sent again with the same key. The window is
//! counted on the harness clock, which tests move.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::Ctx;
use super::api::Api;
use super::envelope::YyError;

/// The longest key accepted.
pub const MAX_KEY_CHARS: usize = 32;

/// A save's success: the whole answer body and the saved record's id.
pub struct Saved {
    pub answer: Value,
    pub id: Value,
}

#[derive(Debug)]
struct Entry {
    answer: Value,
    id: Value,
    at: DateTime<Utc>,
}

/// Successes by (API path, key).
#[derive(Debug, Default)]
pub struct IdempotencyCache {
    entries: Mutex<HashMap<(String, String), Entry>>,
}

impl IdempotencyCache {
    pub fn clear(&self) {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

/// The `resubmitCheckKey` of `data`, if it has one.
pub fn key_of(data: &Value) -> Result<Option<String>, YyError> {
    let field = "data.resubmitCheckKey";
    match data.get("resubmitCheckKey") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) if s.chars().count() > MAX_KEY_CHARS => {
            Err(YyError::pattern(field, "长度不能超过32位"))
        }
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(YyError::wrong_type(field, "字符串")),
    }
}

/// Runs `save` once per key of `data` for `api`: a replay answers from the cache. Writes
/// are serialised, so two calls with one key never both save.
pub fn run_once(
    ctx: &Ctx,
    api: Api,
    data: &Value,
    save: impl FnOnce() -> Result<Saved, YyError>,
) -> Result<Value, YyError> {
    let key = key_of(data)?;
    let _writing = ctx.writing();
    let now = ctx.harness.clock().now();
    let cache = &ctx.shared.idempotency;
    let slot = key.map(|k| (api.path().to_owned(), k));
    if let Some(slot) = &slot {
        let entries = cache.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(entry) = entries.get(slot) {
            let window = chrono::Duration::from_std(ctx.config.idempotency_window)
                .unwrap_or(chrono::Duration::MAX);
            if now - entry.at < window {
                return Ok(entry.answer.clone());
            }
            return Ok(json!({
                "code": ctx.config.duplicate_code,
                "message": "幂等接口，重复提交请求",
                "data": {"id": entry.id},
            }));
        }
    }
    let saved = save()?;
    if let Some(slot) = slot {
        let entry = Entry {
            answer: saved.answer.clone(),
            id: saved.id,
            at: now,
        };
        let mut entries = cache.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries.insert(slot, entry);
    }
    Ok(saved.answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_optional_text_of_at_most_32_characters() {
        assert_eq!(key_of(&json!({})).unwrap(), None);
        assert_eq!(
            key_of(&json!({"resubmitCheckKey": "k"})).unwrap(),
            Some("k".into())
        );
        let long = "键".repeat(33);
        assert_eq!(
            key_of(&json!({ "resubmitCheckKey": long }))
                .unwrap_err()
                .code,
            "310015"
        );
        assert_eq!(
            key_of(&json!({"resubmitCheckKey": 7})).unwrap_err().code,
            "310023"
        );
    }
}
