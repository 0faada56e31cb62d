//! Reading a REST object: incremental by a change-time filter, or by snapshot passes.
//!
//! ## Incremental (`since:` set)
//!
//! The cursor is `{"v":1,"w":"<watermark>","ids":{id: digest, …},"at":<page position>}`: the
//! highest change time read (`w`, as the API wrote it), the records read *at* that time with
//! a digest of their content (a record changed again within that same second keeps its
//! change time but not its digest, so it is read again rather than lost),
//! and, rarely, a page position. Each read asks for the records changed since `w` (minus the
//! `overlap`), **first page only**, skips those already read at `w`, and moves `w` to the
//! newest record of the page. Re-anchoring every page on the filter instead of walking page
//! numbers is what keeps the read exact while the list changes under it: with page or offset
//! paging a record updated between two requests moves to the end of the list and shifts the
//! others, so page 2 would skip one; asked again from `w`, nothing is skipped and nothing
//! already read comes twice (ties at `w` are skipped by id). Only when a whole page ties at
//! `w` (more records share one change time than a page holds) does the read walk on to the
//! next page position at the same `w`.
//!
//! This needs the list in change-time order, oldest first; a page that is not is an error
//! that says so (add the API's sort parameter under `query:`), never a silent loss. An API
//! whose filter is exclusive (`updated_after`) cannot return records written later in the same
//! second as `w`: set `inclusive: false` and `overlap: 1s`, and the read asks from `w − 1s`
//! (records read again cost no write: the engine's read hashes skip them).
//!
//! ## Snapshot passes (no `since:`)
//!
//! Each pass walks every page and says which pass each page belongs to; the engine skips
//! unchanged records by content hash and, after a complete pass, asks [`Source::fetch`] about
//! records it did not see (gone ones are deletes). The cursor is
//! `{"v":1,"pass":<epoch ms>,"at":<page position>}` inside a pass and
//! `{"v":1,"pass":…,"done":true}` after it.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ferry_kit::http::PagePos;
use ferry_kit::sink::{fetched_in_order, key_text};
use ferry_kit::{Page, SnapshotPass, Source};
use ferry_model::{ConnectorError, Record};
use futures::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::api::{Api, PageAsk};
use crate::object::{Object, Since};

/// The position of a REST source (see the module docs).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestCursor {
    pub v: u32,
    /// Incremental: the highest change time read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub w: Option<String>,
    /// Incremental: the records read at `w`, id → digest of their fields.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub ids: BTreeMap<String, String>,
    /// The page to read next, when not the first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<PagePos>,
    /// Snapshot: the pass number (its start, epoch ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pass: Option<u64>,
    /// Snapshot: the pass is complete.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub done: bool,
}

impl RestCursor {
    fn decode(text: Option<&str>, object: &str) -> Result<Self, ConnectorError> {
        match text {
            None => Ok(Self { v: 1, ..Self::default() }),
            Some(t) => serde_json::from_str(t).map_err(|e| {
                ConnectorError::fatal(format!("{object}: the saved cursor `{t}` is not this connector's ({e}); reset the flow's cursor"))
            }),
        }
    }

    fn encode(&self) -> String {
        serde_json::to_string(self).expect("a cursor serializes")
    }
}

/// Reads one object.
pub struct RestSource {
    pub api: Api,
    pub object: Object,
    pub concurrency: usize,
}

#[async_trait]
impl Source for RestSource {
    async fn read(&self, cursor: Option<&str>, limit: usize) -> Result<Page, ConnectorError> {
        let cursor = RestCursor::decode(cursor, &self.object.name)?;
        let size = limit.clamp(1, self.object.list.page_size);
        match &self.object.since {
            Some(since) => self.read_since(since, cursor, size).await,
            None => self.read_pass(cursor, size).await,
        }
    }

    async fn fetch(&self, ids: &[String]) -> Result<Vec<Record>, ConnectorError> {
        let found: Vec<Option<Record>> = futures::stream::iter(0..ids.len())
            .map(|i| async move {
                let value = self.api.get(&self.object, &ids[i]).await?;
                value.map(|v| self.record(v, 0)).transpose()
            })
            .buffered(self.concurrency)
            .try_collect()
            .await?;
        let mut by_id = found
            .into_iter()
            .flatten()
            .map(|r| (r.id.clone(), r))
            .collect::<std::collections::HashMap<_, _>>();
        Ok(fetched_in_order(ids, |id| by_id.remove(id)))
    }
}

impl RestSource {
    async fn read_since(
        &self,
        since: &Since,
        cursor: RestCursor,
        size: usize,
    ) -> Result<Page, ConnectorError> {
        let ask_from = cursor.w.as_deref().map(|w| back(w, since.overlap));
        let page = self
            .api
            .list(
                &self.object,
                PageAsk {
                    at: cursor.at.as_ref(),
                    size,
                    since: ask_from.as_deref(),
                },
            )
            .await?;
        let start = cursor.w.as_deref().map(Stamp::of);
        let mut top = start.clone();
        let mut ids_at_top = cursor.ids.clone();
        let mut records = Vec::new();
        let mut previous: Option<Stamp> = None;
        for (i, item) in page.items.into_iter().enumerate() {
            let record = self.record(item, i)?;
            let stamp = self.stamp(&record, since)?;
            if previous.as_ref().is_some_and(|p| stamp < *p) {
                return Err(self.out_of_order(&record, since));
            }
            let digest = digest(&record);
            let seen =
                start.as_ref() == Some(&stamp) && cursor.ids.get(&record.id) == Some(&digest);
            match top.as_ref().map(|t| stamp.cmp(t)) {
                None | Some(std::cmp::Ordering::Greater) => {
                    top = Some(stamp.clone());
                    ids_at_top = BTreeMap::from([(record.id.clone(), digest)]);
                }
                Some(std::cmp::Ordering::Equal) => {
                    ids_at_top.insert(record.id.clone(), digest);
                }
                Some(std::cmp::Ordering::Less) => {}
            }
            previous = Some(stamp);
            if !seen {
                records.push(record);
            }
        }
        let moved = top != start;
        let top = top.map(|t| t.text);
        let (at, more) = match page.next {
            None => (None, false),
            Some(_) if moved => (None, true),
            Some(next) => (Some(next), true),
        };
        let next = RestCursor {
            v: 1,
            w: top,
            ids: ids_at_top,
            at,
            ..RestCursor::default()
        };
        Ok(Page {
            records,
            cursor: next.encode(),
            more,
            pass: None,
        })
    }

    async fn read_pass(&self, cursor: RestCursor, size: usize) -> Result<Page, ConnectorError> {
        let now = Utc::now().timestamp_millis().max(0) as u64;
        let (pass, at) = match cursor.pass {
            Some(pass) if !cursor.done => (pass, cursor.at),
            Some(pass) => (now.max(pass + 1), None),
            None => (now, None),
        };
        let page = self
            .api
            .list(
                &self.object,
                PageAsk {
                    at: at.as_ref(),
                    size,
                    since: None,
                },
            )
            .await?;
        let records = page
            .items
            .into_iter()
            .enumerate()
            .map(|(i, item)| self.record(item, i))
            .collect::<Result<Vec<_>, _>>()?;
        let done = page.next.is_none();
        let next = RestCursor {
            v: 1,
            pass: Some(pass),
            at: page.next,
            done,
            ..RestCursor::default()
        };
        Ok(Page {
            records,
            cursor: next.encode(),
            more: !done,
            pass: Some(SnapshotPass {
                number: pass,
                complete: done,
            }),
        })
    }

    /// An API record as a Ferry record: its id from the id field, its change time from the
    /// `since` field when that is an RFC 3339 time.
    fn record(&self, item: Value, index: usize) -> Result<Record, ConnectorError> {
        let Value::Object(fields) = item else {
            return Err(ConnectorError::fatal(format!(
                "{}: item {index} of the reply is not an object but `{}`",
                self.object.name,
                clip(&item.to_string())
            )));
        };
        let id = fields
            .get(&self.object.id)
            .and_then(key_text)
            .ok_or_else(|| {
                ConnectorError::fatal(format!(
                    "{}: item {index} of the reply has no id in `{}` (set `id:` on the object)",
                    self.object.name, self.object.id
                ))
            })?;
        let updated_at = self
            .object
            .since
            .as_ref()
            .and_then(|s| fields.get(&s.field))
            .and_then(Value::as_str)
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc));
        let mut record = Record::new(id, fields);
        record.updated_at = updated_at;
        Ok(record)
    }

    fn out_of_order(&self, record: &Record, since: &Since) -> ConnectorError {
        ConnectorError::fatal(format!(
            "{}: record {} comes after a newer one: the list is not in `{}` order, so an incremental read could miss records; add the API's sort parameter (oldest first) under `query:`, or leave `since:` out to read by full passes",
            self.object.name, record.id, since.field
        ))
    }

    fn stamp(&self, record: &Record, since: &Since) -> Result<Stamp, ConnectorError> {
        match record.fields.get(&since.field) {
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(Stamp::of(s)),
            Some(Value::Number(n)) => Ok(Stamp::of(&n.to_string())),
            _ => Err(ConnectorError::invalid(format!(
                "{} {}: no change time in `{}`, which incremental reads need",
                self.object.name, record.id, since.field
            ))),
        }
    }
}

/// A change time, compared as an instant when it is RFC 3339, as a number when it is one,
/// else as text.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Stamp {
    order: (Option<DateTime<Utc>>, Option<i128>),
    text: String,
}

impl Stamp {
    fn of(text: &str) -> Self {
        let instant = DateTime::parse_from_rfc3339(text.trim())
            .ok()
            .map(|t| t.with_timezone(&Utc));
        let number = text.trim().parse::<i128>().ok();
        Self {
            order: (instant, number),
            text: text.to_owned(),
        }
    }
}

/// A short digest of a record's fields, to tell a record changed within one second from the
/// same record read again.
fn digest(record: &Record) -> String {
    let bytes = serde_json::to_vec(&record.fields).expect("JSON serializes");
    hex::encode(&Sha256::digest(bytes)[..8])
}

/// The filter value `overlap` before `w` (the same text when there is no overlap or `w` is
/// not a time).
fn back(w: &str, overlap: std::time::Duration) -> String {
    if overlap.is_zero() {
        return w.to_owned();
    }
    match (
        DateTime::parse_from_rfc3339(w.trim()),
        chrono::TimeDelta::from_std(overlap),
    ) {
        (Ok(t), Ok(d)) => {
            (t.with_timezone(&Utc) - d).to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
        }
        _ => w.to_owned(),
    }
}

fn clip(text: &str) -> String {
    text.chars().take(80).collect()
}
