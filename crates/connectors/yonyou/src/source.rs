//! Reading an object incrementally by its `pubts` (the row's change time).
//!
//! Yonyou's lists page by number (`pageIndex`/`pageSize`), and page numbers move under a
//! reader while records change: a record saved between two pages leaves its place and goes
//! to the end, so page 2 would skip the record that slid into page 1. So every page is
//! *re-anchored* on the time filter instead of walking page numbers: the next page asks
//! again for the records stamped at or after the newest `pubts` read so far, first page,
//! in `pubts`, `id` order, and skips the ones already read there. The cursor keeps, for the
//! records stamped within the overlap window of the newest time read, their id and a digest
//! of their row: a record read again unchanged is skipped, and one changed again within the
//! same second (the same `pubts`: it has whole seconds only) is read again. Only when a
//! whole page ties at the anchor (more records in one second than a page holds) does the
//! read walk on to the next page number at the same anchor.
//!
//! A scan ends at a short page; the next one starts `overlap` (default two minutes) before
//! the newest time read, for records committed late with an earlier `pubts`, and skips what
//! it has read unchanged.
//!
//! The time filter is the documented one of each list: `pubts` (at or after) on
//! customers, `beganTime`/`endTime` (both included) on materials, a `simpleVOs` `between`
//! on `pubts` for sales orders (one row per order, `isSum: true`). A page's content comes
//! from the detail APIs (contacts and addresses, units, order lines), which `fetch` uses
//! too, so a record reads the same both ways.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{NaiveDateTime, TimeDelta};
use ferry_kit::{Page, Source, sink::fetched_in_order};
use ferry_model::{ConnectorError, Record};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::api::{Api, TIME_FORMAT, id_of};
use crate::config::SourceSpec;
use crate::objects::Object;
use crate::reply::text;

/// The latest time a filter's open end stands for.
const FAR_FUTURE: &str = "2099-12-31 23:59:59";

/// The position between two reads (JSON, opaque to the engine).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Cursor {
    v: u32,
    /// The `pubts` the next page is anchored at (inclusive); none: every record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    from: Option<String>,
    /// The page number at that anchor (1 unless whole pages tied at it).
    #[serde(default = "first_page")]
    page: u32,
    /// The newest `pubts` read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    top: Option<String>,
    /// Records read within the overlap window of `top`: id → (`pubts`, digest of the row).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    seen: BTreeMap<String, (String, String)>,
}

fn first_page() -> u32 {
    1
}

/// One object read by one flow.
pub struct YonyouSource {
    api: Api,
    spec: SourceSpec,
}

impl YonyouSource {
    pub fn new(api: Api, spec: SourceSpec) -> Self {
        Self { api, spec }
    }

    /// The list body of page `page` of the records stamped at or after `from`.
    fn list_body(&self, from: Option<&str>, page: u32, size: usize) -> Value {
        let mut body = json!({
            "pageIndex": page, "pageSize": size,
            "queryOrders": [{"field": "pubts", "order": "asc"}, {"field": "id", "order": "asc"}],
        });
        let Some(from) = from else { return body };
        match self.spec.object {
            Object::Customers => body["pubts"] = json!(from),
            Object::Materials => {
                body["beganTime"] = json!(from);
                body["endTime"] = json!(FAR_FUTURE);
            }
            Object::SalesOrders => {
                body["simpleVOs"] = json!([{"field": "pubts", "op": "between",
                                            "value1": from, "value2": FAR_FUTURE}]);
            }
        }
        body
    }

    /// One page of list rows.
    async fn list(&self, from: Option<&str>, page: u32) -> Result<Vec<Value>, ConnectorError> {
        let mut body = self.list_body(from, page, self.spec.page_size);
        if self.spec.object == Object::SalesOrders {
            body["isSum"] = json!(true);
        }
        let what = format!("the list of {}", self.spec.object.name());
        let data = self
            .api
            .read(self.spec.object.list_path(), &body, &what)
            .await?;
        Ok(crate::api::rows_of(data))
    }

    /// The records of `rows` (list rows) as their details answer them, in `rows` order;
    /// rows whose record is gone meanwhile are left out.
    async fn details(&self, rows: &[Value]) -> Result<Vec<Record>, ConnectorError> {
        let mut found = crate::detail::details(&self.api, self.spec.object, rows).await?;
        Ok(rows
            .iter()
            .filter_map(|row| found.remove(&id_of(row)?))
            .map(|fields| self.record(fields))
            .collect())
    }

    fn record(&self, fields: serde_json::Map<String, Value>) -> Record {
        let id = fields.get("id").and_then(text).unwrap_or_default();
        let updated_at = fields
            .get("pubts")
            .and_then(Value::as_str)
            .and_then(|t| self.api.utc(t));
        Record {
            updated_at,
            ..Record::new(id, fields)
        }
    }

    fn overlap(&self) -> TimeDelta {
        TimeDelta::from_std(self.spec.overlap).unwrap_or(TimeDelta::zero())
    }

    /// `top` moved back by the overlap, in Yonyou's format.
    fn window_start(&self, top: &str) -> String {
        match NaiveDateTime::parse_from_str(top, TIME_FORMAT) {
            Ok(at) => (at - self.overlap()).format(TIME_FORMAT).to_string(),
            Err(_) => top.to_owned(),
        }
    }
}

/// A row's `pubts`.
fn pubts(row: &Value) -> Option<String> {
    row.get("pubts").and_then(text).filter(|t| !t.is_empty())
}

/// A short digest of a row's content.
fn digest(row: &Value) -> String {
    hex::encode(&Sha256::digest(row.to_string().as_bytes())[..12])
}

impl YonyouSource {
    /// Takes a page's rows into the cursor's window; the rows not read before unchanged,
    /// and the newest `pubts` of the page. The rows must come in `pubts` order.
    fn fresh_rows(
        &self,
        cursor: &mut Cursor,
        rows: &[Value],
    ) -> Result<(Vec<Value>, Option<String>), ConnectorError> {
        let mut fresh = Vec::new();
        let mut newest: Option<String> = None;
        for row in rows {
            let (Some(id), Some(at)) = (id_of(row), pubts(row)) else {
                return Err(ConnectorError::fatal(format!(
                    "the list of {} answered a row without `id` or `pubts`",
                    self.spec.object.name()
                )));
            };
            if newest.as_ref().is_some_and(|n| at < *n) {
                return Err(ConnectorError::fatal(format!(
                    "the list of {} is not in `pubts` order (record {id} at {at}): \
                     Ferry cannot read it incrementally",
                    self.spec.object.name()
                )));
            }
            newest = Some(at.clone());
            let mark = digest(row);
            if cursor.seen.get(&id).is_none_or(|(_, d)| *d != mark) {
                fresh.push(row.clone());
            }
            cursor.seen.insert(id, (at, mark));
        }
        Ok((fresh, newest))
    }

    /// Moves the cursor past a page whose newest `pubts` is `newest`: re-anchored there
    /// after a full page (or on to the next page number when the whole page tied at the
    /// anchor), or, at the end of a scan, back by the overlap; the window kept is the
    /// overlap before the newest time read.
    fn advance(&self, cursor: &mut Cursor, newest: Option<String>, full: bool) {
        cursor.top = cursor.top.take().max(newest.clone());
        if full && newest > cursor.from {
            cursor.from = newest;
            cursor.page = 1;
        } else if full {
            cursor.page += 1;
        } else {
            cursor.from = cursor.top.as_deref().map(|t| self.window_start(t));
            cursor.page = 1;
        }
        if let Some(top) = &cursor.top {
            let keep_from = self.window_start(top);
            cursor.seen.retain(|_, (at, _)| *at >= keep_from);
        }
    }
}

#[async_trait]
impl Source for YonyouSource {
    async fn read(&self, cursor: Option<&str>, _limit: usize) -> Result<Page, ConnectorError> {
        // The page size stays the configured one: a walk through a tie counts its pages.
        let mut cursor: Cursor = match cursor.filter(|c| !c.trim().is_empty()) {
            Some(text) => serde_json::from_str(text)
                .map_err(|e| ConnectorError::fatal(format!("unreadable cursor: {e}")))?,
            None => Cursor {
                v: 1,
                page: 1,
                ..Cursor::default()
            },
        };
        let rows = self.list(cursor.from.as_deref(), cursor.page).await?;
        let full = rows.len() >= self.spec.page_size;
        let (fresh, newest) = self.fresh_rows(&mut cursor, &rows)?;
        let records = self.details(&fresh).await?;
        self.advance(&mut cursor, newest, full);
        Ok(Page {
            records,
            cursor: serde_json::to_string(&cursor).unwrap_or_default(),
            more: full,
            pass: None,
        })
    }

    async fn fetch(&self, ids: &[String]) -> Result<Vec<Record>, ConnectorError> {
        let rows: Vec<Value> = ids.iter().map(|id| json!({"id": id})).collect();
        let rows = if self.spec.object == Object::Materials {
            // The material detail also needs the organisation: the list knows it.
            crate::detail::material_rows(&self.api, ids).await?
        } else {
            rows
        };
        let mut found: BTreeMap<String, Record> = self
            .details(&rows)
            .await?
            .into_iter()
            .map(|r| (r.id.clone(), r))
            .collect();
        Ok(fetched_in_order(ids, |id| found.remove(id)))
    }
}
