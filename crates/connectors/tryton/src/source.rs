//! Reading a model: keyset pages by `(last_modified_at, id)` with an overlap window between
//! scans, or every record by id (`poll: all`), and `fetch` by id.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use ferry_model::{ConnectorError, Record};
use serde_json::{Map, Value, json};

use crate::config::{Poll, TrytonSourceOptions};
use crate::rpc::{Effect, Rpc};
use crate::value::{datetime_of, from_tryton, tryton_datetime};
use ferry_kit::keyset::{Keyset, ReadAt, ScanEnd};
use ferry_kit::{Page, Source};

/// The watermark every Tryton model has: `write_date`, or `create_date` for a record never
/// written. Searchable and sortable.
const WATERMARK: &str = "last_modified_at";

/// Ids per `fetch` search.
const FETCH_CHUNK: usize = 500;

/// The position between two reads: the sql connector's keyset cursor ([`ferry_kit::keyset`]),
/// `{"v":1,"w":"<RFC 3339>","id":42,"end":true}`; `w` is absent with `poll: all`.
type Cursor = Keyset<DateTime<Utc>, i64>;

/// Reads one model.
pub struct TrytonSource {
    pub(super) rpc: Arc<Rpc>,
    pub(super) opts: TrytonSourceOptions,
    overlap: TimeDelta,
    /// What `search_read` is asked for: the fields, the children's dotted fields, the id
    /// field and the watermark.
    read_fields: Vec<String>,
}

impl TrytonSource {
    pub(crate) fn new(rpc: Arc<Rpc>, opts: TrytonSourceOptions, overlap: Duration) -> Self {
        let mut read_fields: Vec<String> = vec!["id".to_owned(), WATERMARK.to_owned()];
        let wanted =
            opts.fields
                .iter()
                .cloned()
                .chain(std::iter::once(opts.id_field.clone()))
                .chain(opts.children.iter().flat_map(|(child, fields)| {
                    fields.iter().map(move |f| format!("{child}.{f}"))
                }));
        for f in wanted {
            if !read_fields.contains(&f) {
                read_fields.push(f);
            }
        }
        Self {
            rpc,
            overlap: TimeDelta::from_std(overlap).unwrap_or(TimeDelta::MAX),
            opts,
            read_fields,
        }
    }

    /// Context of every read: archived records too (archiving is a change to pass on),
    /// then the system's and the source's context.
    fn context(&self) -> Map<String, Value> {
        let mut extra = Map::new();
        extra.insert("active_test".to_owned(), Value::Bool(false));
        extra.extend(self.opts.context.clone());
        extra
    }

    pub(super) async fn search_read(
        &self,
        domain: Vec<Value>,
        limit: Option<usize>,
        order: Value,
    ) -> Result<Vec<Map<String, Value>>, ConnectorError> {
        let rows = self
            .rpc
            .model(
                &self.opts.model,
                "search_read",
                vec![
                    Value::Array(domain),
                    json!(0),
                    limit.map_or(Value::Null, Value::from),
                    order,
                    json!(self.read_fields),
                ],
                &self.context(),
                Effect::Read,
            )
            .await?;
        match rows {
            Value::Array(rows) => Ok(rows
                .into_iter()
                .filter_map(|r| match r {
                    Value::Object(m) => Some(m),
                    _ => None,
                })
                .collect()),
            other => Err(ConnectorError::fatal(format!(
                "{}: model `{}`: search_read returned {other}",
                self.rpc.http.system(),
                self.opts.model
            ))),
        }
    }

    /// A row as a record: the requested fields as plain JSON, dotted paths flattened,
    /// children as lists of objects.
    fn record(&self, row: &Map<String, Value>) -> Record {
        let mut fields = Map::new();
        for f in &self.opts.fields {
            fields.insert(f.clone(), pick(row, f));
        }
        for (child, child_fields) in &self.opts.children {
            let items = match row.get(&format!("{child}.")) {
                Some(Value::Array(items)) => items
                    .iter()
                    .filter_map(Value::as_object)
                    .map(|item| {
                        let mut out = Map::new();
                        out.insert("id".to_owned(), item.get("id").cloned().unwrap_or_default());
                        for f in child_fields {
                            out.insert(f.clone(), pick(item, f));
                        }
                        Value::Object(out)
                    })
                    .collect(),
                _ => Vec::new(),
            };
            fields.insert(child.clone(), Value::Array(items));
        }
        let id = match pick(row, &self.opts.id_field) {
            Value::String(s) => s,
            Value::Null => String::new(),
            other => other.to_string(),
        };
        let mut record = Record::new(id, fields);
        record.updated_at = row
            .get(WATERMARK)
            .and_then(Value::as_object)
            .and_then(datetime_of);
        record
    }

    fn unreadable(&self, text: &str, e: impl std::fmt::Display) -> ConnectorError {
        ConnectorError::fatal(format!(
            "model `{}`: unreadable cursor `{text}`: {e}",
            self.opts.model
        ))
    }

    /// The `domain` option as one clause to AND ours with: nested, since a domain that
    /// starts with `"OR"` would otherwise OR every clause appended to it.
    pub(super) fn user_domain(&self) -> Vec<Value> {
        if self.opts.domain.is_empty() {
            Vec::new()
        } else {
            vec![Value::Array(self.opts.domain.clone())]
        }
    }

    /// The domain selecting records after `cursor`.
    fn position(&self, cursor: &Cursor) -> Option<Value> {
        match (self.opts.poll, cursor.w, cursor.id) {
            (Poll::All, _, Some(id)) => Some(json!(["id", ">", id])),
            (Poll::All, _, None) | (Poll::Modified, None, _) => None,
            (Poll::Modified, Some(w), None) => Some(json!([WATERMARK, ">=", tryton_datetime(w)])),
            (Poll::Modified, Some(w), Some(id)) => {
                let w = tryton_datetime(w);
                Some(json!([
                    "OR",
                    [WATERMARK, ">", w],
                    [[WATERMARK, "=", w], ["id", ">", id]]
                ]))
            }
        }
    }

    /// How a scan that has read everything up to watermark `w` ends: in the overlap window
    /// before it, before every record at that instant (the window settles, see
    /// [`ferry_kit::keyset`]). With `poll: all`, at the start again.
    fn end_cursor(&self, w: Option<DateTime<Utc>>) -> ScanEnd<DateTime<Utc>, i64> {
        match (self.opts.poll, w) {
            (Poll::Modified, Some(w)) => ScanEnd::Window {
                from: Cursor::end_at(w.checked_sub_signed(self.overlap).unwrap_or(w), None),
                overlap: self.overlap,
            },
            _ => ScanEnd::Exact(Cursor::start()),
        }
    }
}

/// The value at a field path of a Tryton row: `name` directly; `party.name` through the
/// `party.` object Tryton returns for a dotted read; through a one2many (`identifiers.code`)
/// the list of values.
pub(crate) fn pick(row: &Map<String, Value>, path: &str) -> Value {
    match path.split_once('.') {
        None => from_tryton(row.get(path).cloned().unwrap_or(Value::Null)),
        Some((head, rest)) => match row.get(&format!("{head}.")) {
            Some(Value::Object(inner)) => pick(inner, rest),
            Some(Value::Array(items)) => Value::Array(
                items
                    .iter()
                    .filter_map(Value::as_object)
                    .map(|item| pick(item, rest))
                    .collect(),
            ),
            _ => Value::Null,
        },
    }
}

#[async_trait]
impl Source for TrytonSource {
    async fn probe(&self) -> ferry_kit::Probe {
        self.inspect().await
    }

    async fn read(&self, cursor: Option<&str>, limit: usize) -> Result<Page, ConnectorError> {
        let limit = limit.max(1);
        let cursor =
            Cursor::decode(cursor).map_err(|e| self.unreadable(cursor.unwrap_or_default(), e))?;
        let mut domain = self.user_domain();
        if let Some(p) = self.position(&cursor) {
            domain.push(p);
        }
        let order = match self.opts.poll {
            Poll::Modified => json!([[WATERMARK, "ASC"], ["id", "ASC"]]),
            Poll::All => json!([["id", "ASC"]]),
        };
        let asked = ReadAt::asking();
        let mut rows = self
            .search_read(domain, Some(limit + 1), order)
            .await
            .map_err(|e| e.context(format!("model `{}`", self.opts.model)))?;
        let read_at = ReadAt::answered(asked);
        let more = rows.len() > limit;
        rows.truncate(limit);
        let position = |row: &Map<String, Value>| {
            (
                row.get(WATERMARK)
                    .and_then(Value::as_object)
                    .and_then(datetime_of)
                    .filter(|_| self.opts.poll == Poll::Modified),
                row.get("id").and_then(Value::as_i64),
            )
        };
        let next = cursor.after_page(rows.last().map(position), more, None, read_at, |w, _| {
            self.end_cursor(w)
        });
        let records = rows.iter().map(|r| self.record(r)).collect();
        Ok(Page {
            records,
            cursor: next.encode(),
            more,
            pass: None,
        })
    }

    async fn fetch(&self, ids: &[String]) -> Result<Vec<Record>, ConnectorError> {
        let mut found: HashMap<String, Record> = HashMap::new();
        // Ids are Tryton ids unless `id_field` says otherwise; then search that field.
        let by_id = self.opts.id_field == "id";
        let keys: Vec<Value> = ids
            .iter()
            .filter_map(|id| {
                if by_id {
                    id.trim().parse::<i64>().ok().map(Value::from)
                } else {
                    Some(Value::String(id.clone()))
                }
            })
            .collect();
        for chunk in keys.chunks(FETCH_CHUNK) {
            let mut domain = self.user_domain();
            domain.push(json!([self.opts.id_field, "in", chunk]));
            for row in self.search_read(domain, None, Value::Null).await? {
                let record = self.record(&row);
                found.insert(record.id.clone(), record);
            }
        }
        Ok(ferry_kit::sink::fetched_in_order(ids, |id| {
            found.remove(id)
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_paths_are_read_through_relations() {
        let row = json!({
            "name": "Acme",
            "identifiers.": [{"code": "CRM-1", "id": 1}, {"code": "CRM-2", "id": 2}],
            "party.": {"name": "Jane", "id": 4, "country.": null},
            "amount": {"__class__": "Decimal", "decimal": "1.50"},
        });
        let row = row.as_object().unwrap();
        assert_eq!(pick(row, "name"), json!("Acme"));
        assert_eq!(pick(row, "identifiers.code"), json!(["CRM-1", "CRM-2"]));
        assert_eq!(pick(row, "party.name"), json!("Jane"));
        assert_eq!(pick(row, "party.country.code"), Value::Null);
        assert_eq!(pick(row, "amount"), json!("1.50"));
        assert_eq!(pick(row, "missing"), Value::Null);
    }

    #[test]
    fn the_cursor_round_trips_with_microseconds() {
        let mut c = Cursor::start();
        c.w = Some(
            DateTime::parse_from_rfc3339("2026-11-22T03:47:54.218358Z")
                .unwrap()
                .to_utc(),
        );
        c.id = Some(3);
        let text = c.encode();
        assert_eq!(text, r#"{"v":1,"w":"2026-11-22T03:47:54.218358Z","id":3}"#);
        assert_eq!(Cursor::decode(Some(&text)).unwrap(), c);
    }
}
