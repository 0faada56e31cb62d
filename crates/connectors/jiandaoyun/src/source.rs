//! Reading a form by its update time.
//!
//! `data/list` always answers in `_id` order, not by time, so a source cannot keep a
//! `(time, id)` position. Instead each *scan* reads every record updated since a time,
//! paging by the last `_id` within that filter, and remembers the newest update time it
//! saw. The next scan starts `overlap` before that (records saved late with an earlier time
//! come again), and skips what it has read already: the cursor keeps, for the records in
//! that window, a digest of their content, so a record read again unchanged is skipped and
//! one changed again within the same second (the same `updateTime`) is read again. Only the
//! window's records are kept (those of the previous scan, and this scan's newer than its
//! newest time less the overlap), so the cursor stays small however large the form.
//!
//! A record changed while a scan is under way keeps its `_id`, so the scan may have passed
//! it: its new time is newer than anything that scan saw, and the next scan reads it.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use ferry_kit::{Page, Source, sink::fetched_in_order};
use ferry_model::{ConnectorError, Record};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::api::{Api, Form, MAX_PAGE};
use crate::config::SourceOptions;

/// The position between two reads (JSON, opaque to the engine).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Cursor {
    v: u32,
    /// The update time this scan reads from (inclusive); none: every record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    since: Option<DateTime<Utc>>,
    /// The last `_id` this scan read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    after: Option<String>,
    /// The newest update time this scan read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    top: Option<DateTime<Utc>>,
    /// What the previous scan read in this scan's window: `_id` → (update time, content
    /// digest); a record found unchanged is skipped.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    seen: BTreeMap<String, (DateTime<Utc>, String)>,
    /// What this scan has read that may fall in the next scan's window (newer than the
    /// newest time read so far less the overlap: the next window starts no earlier).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    next: BTreeMap<String, (DateTime<Utc>, String)>,
}

/// A form read by one flow.
pub struct JdySource {
    api: Api,
    form: Form,
    fields: Vec<String>,
    filter: Vec<Value>,
    overlap: TimeDelta,
}

impl JdySource {
    pub fn new(api: Api, options: SourceOptions, overlap: Duration) -> Self {
        let mut fields = options.fields;
        if !fields.is_empty() && !fields.iter().any(|f| f == "updateTime") {
            fields.push("updateTime".into());
        }
        Self {
            api,
            form: Form {
                app: options.app,
                entry: options.form,
            },
            fields,
            filter: options
                .filter
                .and_then(|f| f.get("cond").and_then(Value::as_array).cloned())
                .unwrap_or_default(),
            overlap: TimeDelta::from_std(overlap).unwrap_or(TimeDelta::zero()),
        }
    }

    /// The filter of one scan: the update-time window and the flow's own conditions.
    fn filter(&self, since: Option<DateTime<Utc>>) -> Option<Value> {
        let mut cond = self.filter.clone();
        if let Some(since) = since {
            let from = since.to_rfc3339_opts(SecondsFormat::Millis, true);
            cond.push(json!({"field": "updateTime", "type": "datetime", "method": "range", "value": [from, null]}));
        }
        (!cond.is_empty()).then(|| json!({"rel": "and", "cond": cond}))
    }

    fn record(&self, fields: Map<String, Value>) -> Option<Record> {
        let id = fields.get("_id")?.as_str()?.to_owned();
        let updated_at = updated(&fields);
        Some(Record {
            updated_at,
            ..Record::new(id, fields)
        })
    }
}

/// A record's update time.
fn updated(fields: &Map<String, Value>) -> Option<DateTime<Utc>> {
    let text = fields.get("updateTime")?.as_str()?;
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn digest(fields: &Map<String, Value>) -> String {
    let text = Value::Object(fields.clone()).to_string();
    hex::encode(&Sha256::digest(text.as_bytes())[..12])
}

#[async_trait]
impl Source for JdySource {
    async fn read(&self, cursor: Option<&str>, limit: usize) -> Result<Page, ConnectorError> {
        let mut cursor: Cursor = match cursor.filter(|c| !c.trim().is_empty()) {
            Some(text) => serde_json::from_str(text)
                .map_err(|e| ConnectorError::fatal(format!("unreadable cursor: {e}")))?,
            None => Cursor {
                v: 1,
                ..Cursor::default()
            },
        };
        let limit = limit.clamp(1, MAX_PAGE);
        let filter = self.filter(cursor.since);
        let rows = self
            .api
            .list(
                &self.form,
                cursor.after.as_deref(),
                limit,
                &self.fields,
                filter.as_ref(),
            )
            .await?;
        let more = rows.len() == limit;
        let mut records = Vec::new();
        for fields in rows {
            let Some(record) = self.record(fields) else {
                continue;
            };
            cursor.after = Some(record.id.clone());
            let at = record.updated_at.unwrap_or_default();
            cursor.top = cursor.top.max(Some(at));
            let mark = digest(&record.fields);
            let unchanged = cursor.seen.get(&record.id).is_some_and(|(_, d)| *d == mark);
            cursor.next.insert(record.id.clone(), (at, mark));
            if !unchanged {
                records.push(record);
            }
        }
        if let Some(top) = cursor.top {
            // The next window starts at the final top less the overlap, and the final top
            // is no older than this one: older records will not be asked about again.
            let keep_from = top - self.overlap;
            cursor.next.retain(|_, (at, _)| *at >= keep_from);
        }
        if !more {
            // The scan ends: the next one starts `overlap` before the newest time read.
            cursor.since = cursor.top.map(|top| top - self.overlap).or(cursor.since);
            cursor.seen = std::mem::take(&mut cursor.next);
            cursor.after = None;
            cursor.top = None;
        }
        Ok(Page {
            records,
            cursor: serde_json::to_string(&cursor).unwrap_or_default(),
            more,
            pass: None,
        })
    }

    async fn fetch(&self, ids: &[String]) -> Result<Vec<Record>, ConnectorError> {
        let mut found = BTreeMap::new();
        for id in ids {
            if let Some(fields) = self.api.get(&self.form, id).await?
                && let Some(record) = self.record(fields)
            {
                found.insert(id.clone(), record);
            }
        }
        Ok(fetched_in_order(ids, |id| found.remove(id)))
    }
}
