//! Reading an sObject by SOQL, incrementally by its change time.
//!
//! A page asks for the records after the cursor, `ORDER BY <modified>, Id`, with
//! `LIMIT <limit + 1>` (to know whether more follow), following `nextRecordsUrl` when
//! Salesforce answers the rows in several batches. The position is the kit's [`Keyset`]:
//! `(modified, Id)` of the last record read, so a page edge inside a run of equal
//! `SystemModstamp`s loses nothing and repeats nothing:
//!
//! ```sql
//! WHERE (SystemModstamp > 2024-05-01T01:02:00.000Z
//!        OR (SystemModstamp = 2024-05-01T01:02:00.000Z AND Id > '001…'))
//! ```
//!
//! Each scan ends in the kit's overlap window (default five minutes): the next scan starts
//! at `SystemModstamp >= <top − overlap>`, for records committed late with an earlier
//! stamp, until the window settles. Watermarks keep Salesforce's milliseconds, in UTC.
//!
//! With `lines`, a second query reads the children of the page's records
//! (`<parent> IN (…)`) and each record gets them as `lines` in `Id` order.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use ferry_kit::keyset::{Keyset, ReadAt, ScanEnd};
use ferry_kit::sink::fetched_in_order;
use ferry_kit::{Page, Source};
use ferry_model::{ConnectorError, Record};
use serde_json::{Map, Value};

use crate::api::{Api, quote};
use crate::cdc::Session;
use crate::config::{Changes, SourceSpec};

/// The cursor: `w` the change time read last (UTC, milliseconds), `id` its `Id`.
type Cursor = Keyset<String, String>;

/// Ids per `IN (…)`: keeps the query string well under the URL length limit.
const IDS_PER_QUERY: usize = 200;

/// An sObject read by one flow.
pub struct SalesforceSource {
    pub(crate) api: Api,
    pub(crate) spec: SourceSpec,
    /// With `changes: cdc`, the CometD client of this source (see [`crate::cdc`]).
    pub(crate) session: Mutex<Option<Session>>,
}

impl SalesforceSource {
    pub fn new(api: Api, spec: SourceSpec) -> Self {
        Self {
            api,
            spec,
            session: Mutex::new(None),
        }
    }

    /// `Id`, the change time, then the flow's fields, each once.
    fn select(&self) -> Vec<String> {
        let mut out = vec!["Id".to_owned(), self.spec.modified.clone()];
        for f in &self.spec.fields {
            if !out.iter().any(|o| o.eq_ignore_ascii_case(f)) {
                out.push(f.clone());
            }
        }
        out
    }

    fn soql(&self, conditions: &[String], order: &str, limit: Option<usize>) -> String {
        let mut soql = format!(
            "SELECT {} FROM {}",
            self.select().join(", "),
            self.spec.object
        );
        let mut all: Vec<String> = conditions.to_vec();
        all.extend(self.spec.filter.as_ref().map(|f| format!("({f})")));
        if !all.is_empty() {
            soql.push_str(" WHERE ");
            soql.push_str(&all.join(" AND "));
        }
        soql.push_str(" ORDER BY ");
        soql.push_str(order);
        if let Some(limit) = limit {
            soql.push_str(&format!(" LIMIT {limit}"));
        }
        soql
    }

    /// The condition of the records after `cursor`.
    fn after(&self, cursor: &Cursor) -> Option<String> {
        let m = &self.spec.modified;
        let w = cursor.w.as_deref()?;
        Some(match &cursor.id {
            Some(id) => format!("({m} > {w} OR ({m} = {w} AND Id > {}))", quote(id)),
            None => format!("{m} >= {w}"),
        })
    }

    /// A record from a row: `attributes` dropped, relationship fields (`Account.ERP_Id__c`)
    /// flattened under their dotted names.
    fn record(&self, mut row: Map<String, Value>) -> Result<Record, ConnectorError> {
        row.remove("attributes");
        let id = row
            .get("Id")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| {
                ConnectorError::fatal(format!(
                    "{}: a row of `{}` came without an `Id`",
                    self.api.http.system(),
                    self.spec.object
                ))
            })?;
        flatten(&mut row, &self.spec.fields);
        let updated_at = row
            .get(&self.spec.modified)
            .and_then(Value::as_str)
            .and_then(parse_time);
        Ok(Record {
            updated_at,
            ..Record::new(id, row)
        })
    }

    /// Puts each record's children under `lines`.
    async fn attach_lines(&self, records: &mut [Record]) -> Result<(), ConnectorError> {
        let Some(lines) = &self.spec.lines else {
            return Ok(());
        };
        let mut by_parent: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        for chunk in records.chunks(IDS_PER_QUERY) {
            let ids: Vec<String> = chunk.iter().map(|r| quote(&r.id)).collect();
            let mut select = vec!["Id".to_owned(), lines.parent.clone()];
            select.extend(lines.fields.iter().cloned());
            select.dedup();
            let soql = format!(
                "SELECT {} FROM {} WHERE {} IN ({}) ORDER BY {}, Id",
                select.join(", "),
                lines.object,
                lines.parent,
                ids.join(", "),
                lines.parent
            );
            for mut row in self.api.query_all(&soql).await? {
                row.remove("attributes");
                flatten(&mut row, &lines.fields);
                let Some(parent) = row.get(&lines.parent).and_then(Value::as_str) else {
                    continue;
                };
                by_parent
                    .entry(parent.to_owned())
                    .or_default()
                    .push(Value::Object(row));
            }
        }
        for record in records {
            let lines = by_parent.remove(&record.id).unwrap_or_default();
            record.fields.insert("lines".into(), Value::Array(lines));
        }
        Ok(())
    }

    fn end(&self, w: Option<String>) -> ScanEnd<String, String> {
        let overlap = TimeDelta::from_std(self.spec.overlap).unwrap_or(TimeDelta::zero());
        match w.as_deref().and_then(parse_time) {
            Some(at) => ScanEnd::Window {
                from: Cursor::end_at(literal(at - overlap), None),
                overlap,
            },
            None => ScanEnd::Exact(Cursor::start()),
        }
    }
}

impl SalesforceSource {
    /// One page of the SOQL keyset after `cursor` (a [`Keyset`] cursor).
    pub(crate) async fn read_soql(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page, ConnectorError> {
        let limit = limit.clamp(1, 50_000);
        let cursor = Cursor::decode(cursor)
            .map_err(|e| ConnectorError::fatal(format!("unreadable cursor: {e}")))?;
        let order = format!("{} ASC, Id ASC", self.spec.modified);
        let soql = self.soql(
            &self.after(&cursor).into_iter().collect::<Vec<_>>(),
            &order,
            Some(limit + 1),
        );
        let asked = ReadAt::asking();
        let rows = self.api.query_up_to(&soql, limit + 1).await?;
        let at = ReadAt::answered(asked);
        let more = rows.len() > limit;
        let mut records = rows
            .into_iter()
            .take(limit)
            .map(|row| self.record(row))
            .collect::<Result<Vec<_>, _>>()?;
        self.attach_lines(&mut records).await?;
        let last = records.last().map(|r| {
            let w = r.updated_at.map(literal);
            (w, Some(r.id.clone()))
        });
        let next = cursor.after_page(last, more, None, at, |w, _| self.end(w));
        Ok(Page {
            records,
            cursor: next.encode(),
            more,
            pass: None,
        })
    }
}

#[async_trait]
impl Source for SalesforceSource {
    async fn read(&self, cursor: Option<&str>, limit: usize) -> Result<Page, ConnectorError> {
        match self.spec.changes {
            Changes::Soql => self.read_soql(cursor, limit).await,
            Changes::Cdc => self.read_cdc(cursor, limit).await,
        }
    }

    async fn fetch(&self, ids: &[String]) -> Result<Vec<Record>, ConnectorError> {
        let valid: Vec<&String> = ids.iter().filter(|id| is_id(id)).collect();
        let mut found: BTreeMap<String, Record> = BTreeMap::new();
        for chunk in valid.chunks(IDS_PER_QUERY) {
            let list: Vec<String> = chunk.iter().map(|id| quote(id)).collect();
            let soql = self.soql(&[format!("Id IN ({})", list.join(", "))], "Id ASC", None);
            let mut records = self
                .api
                .query_all(&soql)
                .await?
                .into_iter()
                .map(|row| self.record(row))
                .collect::<Result<Vec<_>, _>>()?;
            self.attach_lines(&mut records).await?;
            for r in records {
                // 15- and 18-character ids name the same record.
                found.insert(r.id.chars().take(15).collect(), r);
            }
        }
        Ok(fetched_in_order(ids, |id| {
            let short: String = id.chars().take(15).collect();
            found.remove(&short).map(|mut r| {
                r.id = id.to_owned();
                r
            })
        }))
    }
}

/// A Salesforce id: 15 or 18 letters and digits.
pub fn is_id(text: &str) -> bool {
    matches!(text.len(), 15 | 18) && text.chars().all(|c| c.is_ascii_alphanumeric())
}

/// Moves the values of dotted fields (`Account.ERP_Id__c`), which Salesforce answers as
/// nested objects, to their dotted names; the nested objects go.
pub fn flatten(row: &mut Map<String, Value>, fields: &[String]) {
    let mut nested = Vec::new();
    for f in fields.iter().filter(|f| f.contains('.')) {
        let mut parts = f.split('.');
        let head = parts.next().unwrap_or_default();
        let mut at = row.get(head);
        for part in parts {
            at = at.and_then(|v| v.get(part));
        }
        let value = at.cloned().unwrap_or(Value::Null);
        nested.push(head.to_owned());
        row.insert(f.clone(), value);
    }
    for head in nested {
        if row.get(&head).is_some_and(Value::is_object) {
            row.remove(&head);
        }
    }
}

/// A Salesforce datetime (`2024-05-01T01:02:00.000+0000`, or RFC 3339).
pub fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .or_else(|_| DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .ok()
        .map(|t| t.to_utc())
}

/// A SOQL datetime literal, UTC with milliseconds (`2024-05-01T01:02:00.000Z`).
pub fn literal(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}
