//! # The sink kit
//!
//! Rules every sink needs and that must not differ from one connector to the next, because
//! users see their effect: which field a rename writes, what a key looks like as text, when
//! a value read back equals the one about to be written (no write, no echo), and how a
//! refused batch is pinned on the record that caused it.

use std::str::FromStr;

use ferry_model::{ConnectorError, ErrorKind, Record};
use indexmap::IndexMap;
use rust_decimal::Decimal;
use serde_json::{Map, Value};

/// Canonical field → the system's field, as a flow's `fields:` (or `columns:`) option
/// writes it: a listed field is written under its new name, `~` (null) leaves it out, and an
/// unlisted field keeps its name. Read with [`renamed`].
pub type Renames = IndexMap<String, Option<String>>;

/// The system's field a canonical `field` is written to under `renames` (`None`: left out).
pub fn renamed<'a>(renames: &'a Renames, field: &'a str) -> Option<&'a str> {
    match renames.get(field) {
        Some(Some(to)) => Some(to),
        Some(None) => None,
        None => Some(field),
    }
}

/// A value used as a business key or code: text (trimmed) or a number written out; empty
/// text and every other value are no key.
pub fn key_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A decimal from a decimal string (`"12.50"`, `"1e3"`) or a JSON number.
pub fn decimal(value: &Value) -> Option<Decimal> {
    let text = match value {
        Value::String(s) => s.trim().to_owned(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    Decimal::from_str(&text)
        .or_else(|_| Decimal::from_scientific(&text))
        .ok()
}

/// Whether a value the system holds (`has`) already says what a write would (`wanted`), so
/// the write can be skipped: the same JSON, the same number however written (`10.0` =
/// `"10.00"`), the same code as text or number (`1` = `"1"`), or no value either way (`null`
/// = `""`: most systems store an absent text as one or the other).
pub fn same_value(wanted: &Value, has: &Value) -> bool {
    if wanted == has {
        return true;
    }
    if let (Some(a), Some(b)) = (decimal(wanted), decimal(has)) {
        return a == b;
    }
    match (wanted, has) {
        (Value::Null, Value::String(s)) | (Value::String(s), Value::Null) => s.trim().is_empty(),
        _ => matches!((key_text(wanted), key_text(has)), (Some(a), Some(b)) if a == b),
    }
}

/// The records `ids` asked [`Source::fetch`](crate::Source::fetch) for, in that order: each
/// from `found` by its id, and one found nowhere as a record with `deleted: true`.
pub fn fetched_in_order(
    ids: &[String],
    mut found: impl FnMut(&str) -> Option<Record>,
) -> Vec<Record> {
    ids.iter()
        .map(|id| found(id).unwrap_or_else(|| gone(id)))
        .collect()
}

/// A record that no longer exists.
pub fn gone(id: &str) -> Record {
    Record {
        id: id.to_owned(),
        updated_at: None,
        fields: Map::new(),
        deleted: true,
        origin: None,
    }
}

/// Which errors of a batch call are the data's fault, so that sending the records one at a
/// time will find the culprit; every other error fails the whole batch (and is retried or
/// stops the flow) without being pinned on any record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusals {
    /// Only [`ErrorKind::Validation`]: the system names bad data precisely (a database's
    /// constraint violation), and anything else is about the connection or configuration.
    Validation,
    /// Anything but a transient error or refused credentials: the system reports a record's
    /// bad data in several ways (an RPC server's exception names, say).
    NotTransientOrAuth,
}

impl Refusals {
    /// Whether `e` is a refusal of the data (see the variants).
    pub fn of_data(self, e: &ConnectorError) -> bool {
        match self {
            Refusals::Validation => e.kind() == ErrorKind::Validation,
            Refusals::NotTransientOrAuth => {
                !(e.kind().is_transient() || e.kind() == ErrorKind::Auth)
            }
        }
    }
}

/// The one rule for "the batch was refused: find the record". Sends `count` items in one
/// call (`batch`, whose `Ok` holds one result per item, in order); when that call is refused
/// for the data (`refusals`), sends each item alone (`one(i)`) so that each refusal becomes
/// its own record's error, with the system's own message and the item's `key(i)` as context,
/// and the other items are written. An error that is not the data's fails the whole call, at
/// once or in the middle of the one-by-one pass. A batch of one is not sent twice.
///
/// Items are passed by index so that the closures borrow nothing from their caller's
/// arguments, which keeps the futures `Send` inside `async_trait` methods.
pub async fn batch_then_each<R, Batch, One>(
    count: usize,
    refusals: Refusals,
    key: impl Fn(usize) -> String,
    batch: impl FnOnce() -> Batch,
    mut one: impl FnMut(usize) -> One,
) -> Result<Vec<Result<R, ConnectorError>>, ConnectorError>
where
    Batch: Future<Output = Result<Vec<R>, ConnectorError>>,
    One: Future<Output = Result<R, ConnectorError>>,
{
    if count == 0 {
        return Ok(Vec::new());
    }
    let refused = match batch().await {
        Ok(results) => return Ok(results.into_iter().map(Ok).collect()),
        Err(e) if !refusals.of_data(&e) => return Err(e),
        Err(e) => e,
    };
    if count == 1 {
        return Ok(vec![Err(refused.context(format!("key `{}`", key(0))))]);
    }
    tracing::debug!(error = %refused, records = count, "Batch refused; sending the records one by one.");
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        out.push(match one(i).await {
            Ok(r) => Ok(r),
            Err(e) if !refusals.of_data(&e) => return Err(e),
            Err(e) => Err(e.context(format!("key `{}`", key(i)))),
        });
    }
    Ok(out)
}

/// Writes a batch record by record, `concurrency` at once, results in batch order: `one(i)`
/// writes item `i`. The batch's outcome is decided by [`each_outcome`]. Items are passed by
/// index for the reason given at [`batch_then_each`].
pub async fn each<T, Fut>(
    count: usize,
    concurrency: usize,
    one: impl FnMut(usize) -> Fut,
) -> Result<Vec<Result<T, ConnectorError>>, ConnectorError>
where
    Fut: Future<Output = Result<T, ConnectorError>>,
{
    use futures::StreamExt;
    let results = futures::stream::iter(0..count)
        .map(one)
        .buffered(concurrency.max(1))
        .collect()
        .await;
    each_outcome(results)
}

/// The outcome of a batch written record by record (one request each): the per-record
/// results, or the error of the whole batch. Refused credentials are the system's problem, not
/// the records', and so is a batch in which every record failed for a transient reason (the
/// server is down): those fail the batch, so the engine retries it instead of dead-lettering
/// good records.
pub fn each_outcome<T>(
    results: Vec<Result<T, ConnectorError>>,
) -> Result<Vec<Result<T, ConnectorError>>, ConnectorError> {
    if let Some(Err(e)) = results
        .iter()
        .find(|r| matches!(r, Err(e) if e.kind() == ErrorKind::Auth))
    {
        return Err(e.clone());
    }
    let all_transient = !results.is_empty()
        && results
            .iter()
            .all(|r| matches!(r, Err(e) if e.kind().is_transient()));
    if all_transient && let Some(Err(e)) = results.first() {
        return Err(e.clone());
    }
    Ok(results)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn renames_keep_unlisted_names_and_leave_out_tildes() {
        let renames: Renames = [
            ("name".to_owned(), Some("title".to_owned())),
            ("notes".to_owned(), None),
        ]
        .into_iter()
        .collect();
        assert_eq!(renamed(&renames, "name"), Some("title"));
        assert_eq!(renamed(&renames, "notes"), None);
        assert_eq!(renamed(&renames, "email"), Some("email"));
    }

    #[test]
    fn values_are_the_same_however_a_system_writes_them() {
        assert!(same_value(&json!("10.00"), &json!(10.0)));
        assert!(same_value(&json!("1e3"), &json!("1000")));
        assert!(same_value(&json!(7), &json!("7")));
        assert!(same_value(&json!(null), &json!("")));
        assert!(same_value(&json!(" "), &json!(null)));
        assert!(!same_value(&json!("10.01"), &json!("10.00")));
        assert!(!same_value(&json!("A"), &json!("a")));
        assert!(!same_value(&json!(null), &json!(0)));
        assert!(!same_value(&json!({"a": 1}), &json!({"a": 2})));
    }

    #[test]
    fn keys_are_trimmed_text_or_numbers() {
        assert_eq!(key_text(&json!(" C-1 ")), Some("C-1".to_owned()));
        assert_eq!(key_text(&json!(42)), Some("42".to_owned()));
        assert_eq!(key_text(&json!("  ")), None);
        assert_eq!(key_text(&json!(true)), None);
    }

    fn refuse(kind: ErrorKind, m: &str) -> ConnectorError {
        ConnectorError::new(kind, m.to_owned())
    }

    #[tokio::test]
    async fn a_refused_batch_is_pinned_on_its_record_and_the_rest_written() {
        let items = [1, 2, 3];
        let mut sent_alone = Vec::new();
        let out = batch_then_each(
            items.len(),
            Refusals::Validation,
            |i| format!("K{}", items[i]),
            || async { Err(refuse(ErrorKind::Validation, "row 2: name is required")) },
            |i| {
                sent_alone.push(items[i]);
                async move {
                    if items[i] == 2 {
                        Err(refuse(ErrorKind::Validation, "name is required"))
                    } else {
                        Ok(items[i] * 10)
                    }
                }
            },
        )
        .await
        .unwrap();
        assert_eq!(sent_alone, [1, 2, 3]);
        assert_eq!(out[0].as_ref().unwrap(), &10);
        let message = out[1].as_ref().unwrap_err().message();
        assert!(
            message.contains("K2") && message.contains("name is required"),
            "{message}"
        );
        assert_eq!(out[2].as_ref().unwrap(), &30);
    }

    #[tokio::test]
    async fn an_outage_fails_the_batch_without_blaming_a_record() {
        let out = batch_then_each(
            2,
            Refusals::NotTransientOrAuth,
            |i| i.to_string(),
            || async { Err::<Vec<i32>, _>(refuse(ErrorKind::Retryable, "HTTP 503")) },
            |_| async { panic!("an outage must not be retried one by one") },
        )
        .await;
        assert_eq!(out.unwrap_err().kind(), ErrorKind::Retryable);
        let midway = batch_then_each(
            2,
            Refusals::NotTransientOrAuth,
            |i| i.to_string(),
            || async { Err::<Vec<i32>, _>(refuse(ErrorKind::Fatal, "bad record")) },
            |i| async move {
                match i {
                    0 => Ok(1),
                    _ => Err(refuse(ErrorKind::Auth, "session expired")),
                }
            },
        )
        .await;
        assert_eq!(midway.unwrap_err().kind(), ErrorKind::Auth);
    }

    #[tokio::test]
    async fn a_batch_of_one_is_not_sent_twice() {
        let mut calls = 0;
        let out = batch_then_each(
            1,
            Refusals::Validation,
            |i| i.to_string(),
            || async { Err::<Vec<i32>, _>(refuse(ErrorKind::Validation, "too big")) },
            |_| {
                calls += 1;
                async { Ok(0) }
            },
        )
        .await
        .unwrap();
        assert_eq!(calls, 0);
        assert!(out[0].as_ref().unwrap_err().message().contains("too big"));
    }
}
