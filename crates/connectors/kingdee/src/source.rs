//! Reading a form by `ExecuteBillQuery`, incrementally by its change time.
//!
//! K/3 Cloud has no change feed: a source asks for the records whose `FModifyDate` (or the
//! configured field) is past its cursor, ordered by that time and the primary key, and
//! keeps the position with the kit's [`Keyset`]: `(time, id)` of the last record read, so a
//! page edge inside a run of equal times loses nothing and repeats nothing. Each scan ends
//! in the kit's overlap window (default two minutes, as the dossier advises): the next scan
//! starts that far back, for documents committed late with an earlier time, until the
//! window settles. Times are the server's local text; the cursor keeps them with their
//! milliseconds and the filter compares them exactly.
//!
//! A page asks for `limit + 1` header rows (the query then names header fields only, so a
//! bill is one row) to know whether more follow; with `lines`, a second query reads the
//! entry rows of the page's bills (`<id> in (…)`, paged by `StartRow`) and each bill gets
//! them as `lines: [{id, <entry field>…}]` in entry order. Header rows repeated by a
//! server that answers one per line anyway are read once.
//!
//! With `poll: all` (stock, which has no change time) every scan reads the whole form in
//! primary-key order and starts again at the end; with `sum_by` as well, rows are summed
//! into one record per value of a field (see [`crate::groups`]).

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::TimeDelta;
use ferry_kit::keyset::{Keyset, ReadAt, ScanEnd};
use ferry_kit::{Page, Source, sink::fetched_in_order};
use ferry_model::{ConnectorError, Record};
use serde_json::{Map, Value};

use crate::api::{Api, Query, date_literal, parse_local};
use crate::config::SourceSpec;
use crate::groups::Groups;

/// The cursor: `w` the change time read last (local text with milliseconds), `id` its id.
type Cursor = Keyset<String, i64>;

/// A form read by one flow.
pub struct KingdeeSource {
    api: Api,
    spec: SourceSpec,
}

impl KingdeeSource {
    pub fn new(api: Api, spec: SourceSpec) -> Self {
        Self { api, spec }
    }

    /// The groups, when the flow sums rows (`sum_by`).
    fn groups(&self) -> Option<Groups<'_>> {
        self.spec.sum_by.as_deref().map(|by| Groups {
            api: &self.api,
            spec: &self.spec,
            by,
        })
    }

    /// The header field keys asked for: the id, the change time, then the flow's fields.
    fn header_keys(&self) -> Vec<String> {
        let mut keys = vec![self.spec.id.clone()];
        keys.extend(self.spec.modified.iter().cloned());
        keys.extend(self.spec.fields.iter().cloned());
        keys
    }

    /// The `FilterString` of the records after `cursor`, with the flow's own filter.
    fn filter_after(&self, cursor: &Cursor) -> String {
        let id = &self.spec.id;
        let position = match (&self.spec.modified, &cursor.w, cursor.id) {
            (Some(m), Some(w), id_after) => {
                let at = parse_local(w).map(date_literal);
                match (at, id_after) {
                    (Some(at), Some(after)) => {
                        Some(format!("({m} > {at} OR ({m} = {at} AND {id} > {after}))"))
                    }
                    (Some(at), None) => Some(format!("{m} >= {at}")),
                    (None, _) => None,
                }
            }
            (_, _, Some(after)) => Some(format!("{id} > {after}")),
            _ => None,
        };
        let own = self.spec.filter.as_ref().map(|f| format!("({f})"));
        [position, own]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" AND ")
    }

    fn order(&self) -> String {
        match &self.spec.modified {
            Some(m) => format!("{m} ASC,{} ASC", self.spec.id),
            None => format!("{} ASC", self.spec.id),
        }
    }

    /// Records from header rows (one per bill, first row kept), without lines yet.
    fn records(
        &self,
        keys: &[String],
        rows: Vec<Vec<Value>>,
    ) -> Result<Vec<Record>, ConnectorError> {
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for row in rows {
            let id = id_text(&row[0]).ok_or_else(|| {
                ConnectorError::fatal(format!(
                    "`{}` answered a row without an id in `{}`: {row:?}",
                    self.spec.form, self.spec.id
                ))
            })?;
            if !seen.insert(id.clone()) {
                continue;
            }
            let mut fields = Map::new();
            for (key, value) in keys.iter().zip(row).skip(1) {
                fields.insert(key.clone(), blank_as_empty(value));
            }
            let updated_at = self
                .spec
                .modified
                .as_ref()
                .and_then(|m| fields.get(m))
                .and_then(Value::as_str)
                .and_then(|t| self.api.utc(t));
            out.push(Record {
                updated_at,
                ..Record::new(id, fields)
            });
        }
        Ok(out)
    }

    /// Puts each bill's lines under `lines`.
    async fn attach_lines(&self, records: &mut [Record]) -> Result<(), ConnectorError> {
        let Some(lines) = &self.spec.lines else {
            return Ok(());
        };
        if records.is_empty() {
            return Ok(());
        }
        let entry_id = format!("{}_FEntryId", lines.entry);
        let mut keys = vec![self.spec.id.clone(), entry_id.clone()];
        keys.extend(lines.fields.iter().cloned());
        let ids: Vec<&str> = records.iter().map(|r| r.id.as_str()).collect();
        let query = Query {
            form: &self.spec.form,
            keys: &keys,
            filter: format!("{} in ({})", self.spec.id, ids.join(",")),
            order: format!("{} ASC,{entry_id} ASC", self.spec.id),
            start: 0,
            limit: 0,
        };
        let mut by_bill: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        for row in self.api.query_all(query).await? {
            let (Some(bill), Some(line)) = (id_text(&row[0]), id_text(&row[1])) else {
                continue; // a bill without lines answers one row with an empty entry id
            };
            if line == "0" {
                continue;
            }
            let mut fields = Map::new();
            fields.insert("id".into(), Value::String(line));
            for (key, value) in keys.iter().zip(row).skip(2) {
                fields.insert(key.clone(), blank_as_empty(value));
            }
            by_bill.entry(bill).or_default().push(Value::Object(fields));
        }
        for record in records {
            let lines = by_bill.remove(&record.id).unwrap_or_default();
            record.fields.insert("lines".into(), Value::Array(lines));
        }
        Ok(())
    }

    /// How a scan ends at `(w, id)`: in the overlap window, or (no change time) at the start.
    fn end(&self, w: Option<String>, _id: Option<i64>) -> ScanEnd<String, i64> {
        let overlap = TimeDelta::from_std(self.spec.overlap).unwrap_or(TimeDelta::zero());
        match w.as_deref().and_then(parse_local) {
            Some(at) if self.spec.modified.is_some() => ScanEnd::Window {
                from: Cursor::end_at(
                    (at - overlap).format("%Y-%m-%dT%H:%M:%S%.3f").to_string(),
                    None,
                ),
                overlap,
            },
            _ => ScanEnd::Exact(Cursor::start()),
        }
    }
}

#[async_trait]
impl Source for KingdeeSource {
    async fn read(&self, cursor: Option<&str>, limit: usize) -> Result<Page, ConnectorError> {
        let limit = limit.max(1);
        if let Some(groups) = self.groups() {
            return groups.read(cursor, limit).await;
        }
        let cursor = Cursor::decode(cursor)
            .map_err(|e| ConnectorError::fatal(format!("unreadable cursor: {e}")))?;
        let keys = self.header_keys();
        let query = Query {
            form: &self.spec.form,
            keys: &keys,
            filter: self.filter_after(&cursor),
            order: self.order(),
            start: 0,
            limit: limit + 1,
        };
        let asked = ReadAt::asking();
        let rows = self.api.query(&query).await?;
        let at = ReadAt::answered(asked);
        let more = rows.len() > limit;
        let mut records = self.records(&keys, rows)?;
        records.truncate(limit);
        self.attach_lines(&mut records).await?;
        let last = records.last().map(|r| {
            let w = self
                .spec
                .modified
                .as_ref()
                .and_then(|m| r.fields.get(m))
                .and_then(Value::as_str)
                .and_then(parse_local)
                .map(|at| at.format("%Y-%m-%dT%H:%M:%S%.3f").to_string());
            (w, r.id.parse::<i64>().ok())
        });
        let next = cursor.after_page(last, more, None, at, |w, id| self.end(w, id));
        Ok(Page {
            records,
            cursor: next.encode(),
            more,
            pass: None,
        })
    }

    async fn fetch(&self, ids: &[String]) -> Result<Vec<Record>, ConnectorError> {
        if let Some(groups) = self.groups() {
            let mut by_id: BTreeMap<String, Record> = groups
                .fetch(ids)
                .await?
                .into_iter()
                .map(|r| (r.id.clone(), r))
                .collect();
            return Ok(fetched_in_order(ids, |id| by_id.remove(id)));
        }
        let numeric: Vec<&str> = ids
            .iter()
            .map(String::as_str)
            .filter(|id| id.parse::<i64>().is_ok())
            .collect();
        let mut found = Vec::new();
        for chunk in numeric.chunks(500) {
            let keys = self.header_keys();
            let query = Query {
                form: &self.spec.form,
                keys: &keys,
                filter: format!("{} in ({})", self.spec.id, chunk.join(",")),
                order: format!("{} ASC", self.spec.id),
                start: 0,
                limit: 0,
            };
            let mut records = self.records(&keys, self.api.query_all(query).await?)?;
            self.attach_lines(&mut records).await?;
            found.extend(records);
        }
        let mut by_id: BTreeMap<String, Record> =
            found.into_iter().map(|r| (r.id.clone(), r)).collect();
        Ok(fetched_in_order(ids, |id| by_id.remove(id)))
    }
}

/// An id as text: ids come as numbers (or numeric text); 0 and `""` are none.
pub fn id_text(value: &Value) -> Option<String> {
    match value {
        Value::Number(n) if n.as_i64() != Some(0) => Some(n.to_string()),
        Value::String(s) if !s.trim().is_empty() && s.trim() != "0" => Some(s.trim().to_owned()),
        _ => None,
    }
}

/// An empty reference answers `""` or `" "` (correction 8): both read as `""`.
fn blank_as_empty(value: Value) -> Value {
    match value {
        Value::String(s) if s.trim().is_empty() => Value::String(String::new()),
        other => other,
    }
}
