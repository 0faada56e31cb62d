//! Reading an object by SuiteQL, incrementally by `lastmodifieddate`.
//!
//! Each page is its own query anchored on the position of the last record read, the kit's
//! [`Keyset`] over (`lastmodifieddate` to the second, `id`): rows of a later second, or of
//! the same second with a higher id, ordered by the second (`TO_CHAR`, so that finer stamps
//! cannot reorder a second's rows) and the id. A page edge inside a run of rows changed in
//! the same second loses nothing and repeats nothing, and rows that move between pages
//! cannot shift an offset (SuiteQL's own paging is by offset). Each scan ends in the kit's
//! overlap window (default two minutes) until it settles.
//!
//! Records: the object's columns as SuiteQL gives them (text), `lastmodifieddate` as RFC
//! 3339 UTC; transactions with `lines` (`transactionline`, the main line left out) each
//! with its item's `sku`; fulfilments with `createdfrom_externalid`; stock per item with
//! `locations: {name: {on_hand, available}}` and the totals `on_hand`, `available`.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use ferry_kit::keyset::{Keyset, ReadAt, ScanEnd};
use ferry_kit::sink::{decimal, fetched_in_order};
use ferry_kit::{Page, Source};
use ferry_model::{ConnectorError, Record};
use serde_json::{Map, Value, json};

use crate::api::{self, Api, IN_CHUNK, id_literal, text};
use crate::config::{ObjectKind, SourceSpec};
use crate::objects::{ObjectDef, def};

/// The cursor: `w` the second of the last record read (epoch seconds), `id` its id.
type Cursor = Keyset<i64, i64>;

/// The alias of the change stamp written to the second.
const STAMP: &str = "lastmodified";
/// `TO_CHAR`'s format, and chrono's for the same text.
const STAMP_FORMAT: &str = r#"'YYYY-MM-DD"T"HH24:MI:SS'"#;
const CHRONO_STAMP: &str = "%Y-%m-%dT%H:%M:%S";

/// An object read by one flow.
pub struct NetSuiteSource {
    api: Api,
    spec: SourceSpec,
    def: &'static ObjectDef,
}

/// `TO_DATE('2026-05-01 10:00:00', 'YYYY-MM-DD HH24:MI:SS')` of epoch second `w`.
fn to_date(w: i64) -> String {
    let at = DateTime::from_timestamp(w, 0).unwrap_or_default();
    format!(
        "TO_DATE('{}', 'YYYY-MM-DD HH24:MI:SS')",
        at.format("%Y-%m-%d %H:%M:%S")
    )
}

impl NetSuiteSource {
    pub fn new(api: Api, spec: SourceSpec) -> Self {
        let def = def(spec.object);
        Self { api, spec, def }
    }

    fn columns(&self) -> String {
        let mut columns: Vec<&str> = self.def.columns.to_vec();
        columns.extend(self.spec.fields.iter().map(String::as_str));
        let mut seen = std::collections::HashSet::new();
        columns.retain(|c| seen.insert(*c));
        format!(
            "{}, TO_CHAR(lastmodifieddate, {STAMP_FORMAT}) AS {STAMP}",
            columns.join(", ")
        )
    }

    /// The object's condition and the flow's, ANDed with `more`.
    fn conditions(&self, more: Option<String>) -> String {
        let parts: Vec<String> = [
            self.def.condition.map(str::to_owned),
            self.spec.filter.as_ref().map(|f| format!("({f})")),
            more,
        ]
        .into_iter()
        .flatten()
        .collect();
        if parts.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", parts.join(" AND "))
        }
    }

    /// The rows after `cursor`: a later second, or the same second and a higher id.
    /// Written with ranges rather than `=` so that sub-second stamps still match.
    fn after(cursor: &Cursor) -> Option<String> {
        let w = cursor.w?;
        Some(match cursor.id {
            Some(id) => format!(
                "(lastmodifieddate >= {next} OR (lastmodifieddate >= {at} AND lastmodifieddate < {next} AND id > {id}))",
                at = to_date(w),
                next = to_date(w + 1)
            ),
            None => format!("lastmodifieddate >= {}", to_date(w)),
        })
    }

    /// How a scan ends at `(w, id)`: in the overlap window.
    fn end(&self, w: Option<i64>, _id: Option<i64>) -> ScanEnd<i64, i64> {
        let overlap = TimeDelta::from_std(self.spec.overlap).unwrap_or(TimeDelta::zero());
        match w {
            Some(w) => ScanEnd::Window {
                from: Cursor::end_at(w - overlap.num_seconds(), None),
                overlap,
            },
            None => ScanEnd::Exact(Cursor::start()),
        }
    }

    /// The records of these rows, with what each object adds.
    async fn records(&self, rows: Vec<Map<String, Value>>) -> Result<Vec<Record>, ConnectorError> {
        let mut records: Vec<Record> = rows.into_iter().map(record).collect();
        if self.def.lines {
            self.add_lines(&mut records).await?;
        }
        match self.spec.object {
            ObjectKind::Fulfilments => self.add_order_ids(&mut records).await?,
            ObjectKind::Stock => self.add_stock(&mut records).await?,
            _ => {}
        }
        Ok(records)
    }

    async fn add_lines(&self, records: &mut [Record]) -> Result<(), ConnectorError> {
        let mut by_tran: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        let ids: Vec<String> = records.iter().map(|r| r.id.clone()).collect();
        let mut rows = Vec::new();
        for chunk in ids.chunks(IN_CHUNK) {
            let list: Vec<String> = chunk.iter().map(|i| id_literal(i)).collect();
            let q = format!(
                "SELECT id, transaction, linesequencenumber, item, quantity, rate, netamount, location FROM transactionline WHERE transaction IN ({}) AND mainline = 'F' ORDER BY transaction, linesequencenumber",
                list.join(", ")
            );
            rows.extend(self.api.query_all(&q).await?);
        }
        let items: Vec<String> = unique(rows.iter().filter_map(|r| text(r, "item")));
        let skus = api::lookup(&self.api, "item", "id", &items, &["itemid"]).await?;
        for row in rows {
            let item = text(&row, "item").unwrap_or_default();
            let sku = skus.get(item).and_then(|r| r.get("itemid")).cloned();
            let line = json!({"line": row.get("linesequencenumber"), "item": row.get("item"),
                "sku": sku, "quantity": row.get("quantity"), "rate": row.get("rate"),
                "amount": row.get("netamount"), "location": row.get("location")});
            let tran = text(&row, "transaction").unwrap_or_default().to_owned();
            by_tran.entry(tran).or_default().push(line);
        }
        for r in records {
            let lines = by_tran.remove(&r.id).unwrap_or_default();
            r.fields.insert("lines".into(), Value::Array(lines));
        }
        Ok(())
    }

    /// `createdfrom_externalid`: the external id of the order a fulfilment ships.
    async fn add_order_ids(&self, records: &mut [Record]) -> Result<(), ConnectorError> {
        let orders = unique(
            records
                .iter()
                .filter_map(|r| r.fields.get("createdfrom")?.as_str()),
        );
        let found = api::lookup(&self.api, "transaction", "id", &orders, &["externalid"]).await?;
        for r in records {
            let from = r
                .fields
                .get("createdfrom")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let eid = found.get(from).and_then(|o| o.get("externalid")).cloned();
            r.fields
                .insert("createdfrom_externalid".into(), eid.unwrap_or(Value::Null));
        }
        Ok(())
    }

    /// Location id → the name records use: the `locations` option (ids or names), or
    /// every location by id.
    async fn location_names(&self) -> Result<Option<BTreeMap<String, String>>, ConnectorError> {
        if self.spec.locations.is_empty() {
            return Ok(None);
        }
        let mut names = BTreeMap::new();
        let mut by_name = Vec::new();
        for (at, name) in &self.spec.locations {
            if at.chars().all(|c| c.is_ascii_digit()) {
                names.insert(at.clone(), name.clone());
            } else {
                by_name.push((at.clone(), name.clone()));
            }
        }
        if !by_name.is_empty() {
            let wanted: Vec<String> = by_name.iter().map(|(n, _)| n.clone()).collect();
            let found = api::lookup(&self.api, "location", "name", &wanted, &[]).await?;
            for (location, name) in by_name {
                let id = found
                    .get(&location)
                    .and_then(|r| r.get("id"))
                    .and_then(Value::as_str);
                let Some(id) = id else {
                    return Err(ConnectorError::fatal(format!(
                        "`locations`: NetSuite has no location named `{location}`"
                    )));
                };
                names.insert(id.to_owned(), name);
            }
        }
        Ok(Some(names))
    }

    async fn add_stock(&self, records: &mut [Record]) -> Result<(), ConnectorError> {
        let names = self.location_names().await?;
        let ids: Vec<String> = records.iter().map(|r| r.id.clone()).collect();
        let mut rows = Vec::new();
        for chunk in ids.chunks(IN_CHUNK) {
            let list: Vec<String> = chunk.iter().map(|i| id_literal(i)).collect();
            let q = format!(
                "SELECT item, location, quantityonhand, quantityavailable FROM inventoryitemlocations WHERE item IN ({}) ORDER BY item, location",
                list.join(", ")
            );
            rows.extend(self.api.query_all(&q).await?);
        }
        for r in records {
            let mut locations = Map::new();
            let (mut on_hand, mut available) = (Vec::new(), Vec::new());
            for row in rows
                .iter()
                .filter(|row| text(row, "item") == Some(r.id.as_str()))
            {
                let location = text(row, "location").unwrap_or_default();
                let name = match &names {
                    Some(names) => match names.get(location) {
                        Some(n) => n.clone(),
                        None => continue,
                    },
                    None => location.to_owned(),
                };
                let zero = Value::String("0".into());
                let held = row.get("quantityonhand").unwrap_or(&zero);
                let free = row.get("quantityavailable").unwrap_or(&zero);
                on_hand.push(held.clone());
                available.push(free.clone());
                locations.insert(name, json!({"on_hand": held, "available": free}));
            }
            let sku = r.fields.get("itemid").cloned().unwrap_or(Value::Null);
            r.fields.insert("sku".into(), sku);
            r.fields
                .insert("locations".into(), Value::Object(locations));
            r.fields
                .insert("on_hand".into(), Value::String(total(&on_hand)));
            r.fields
                .insert("available".into(), Value::String(total(&available)));
        }
        Ok(())
    }
}

/// The sum of decimal quantities, as text.
fn total(values: &[Value]) -> String {
    values
        .iter()
        .filter_map(decimal)
        .reduce(|a, b| a + b)
        .map_or_else(|| "0".into(), |d| d.normalize().to_string())
}

fn unique<'a>(values: impl Iterator<Item = &'a str>) -> Vec<String> {
    let set: std::collections::BTreeSet<String> = values.map(str::to_owned).collect();
    set.into_iter().collect()
}

/// The second a row's `lastmodified` names.
fn second(row: &Map<String, Value>) -> Option<i64> {
    let stamp = text(row, STAMP)?;
    NaiveDateTime::parse_from_str(stamp, CHRONO_STAMP)
        .ok()
        .map(|t| t.and_utc().timestamp())
}

fn row_id(row: &Map<String, Value>) -> Option<i64> {
    text(row, "id")?.parse().ok()
}

/// A record from a row: its columns, `lastmodifieddate` as RFC 3339 UTC.
fn record(mut row: Map<String, Value>) -> Record {
    let id = text(&row, "id").unwrap_or_default().to_owned();
    let at = second(&row).and_then(|s| DateTime::<Utc>::from_timestamp(s, 0));
    row.remove(STAMP);
    if let Some(at) = at {
        row.insert(
            "lastmodifieddate".into(),
            json!(at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        );
    }
    Record {
        updated_at: at,
        ..Record::new(id, row)
    }
}

#[async_trait]
impl Source for NetSuiteSource {
    async fn read(&self, cursor: Option<&str>, limit: usize) -> Result<Page, ConnectorError> {
        let limit = limit.clamp(1, api::MAX_LIMIT);
        let cursor = Cursor::decode(cursor)
            .map_err(|e| ConnectorError::fatal(format!("unreadable cursor: {e}")))?;
        let q = format!(
            "SELECT {} FROM {}{} ORDER BY {STAMP}, id",
            self.columns(),
            self.def.table,
            self.conditions(Self::after(&cursor))
        );
        let asked = ReadAt::asking();
        let (rows, more) = self.api.query(&q, limit, 0).await?;
        let at = ReadAt::answered(asked);
        let last = rows.last().map(|r| (second(r), row_id(r)));
        if let Some(bad) = rows
            .iter()
            .find(|r| second(r).is_none() || row_id(r).is_none())
        {
            return Err(ConnectorError::fatal(format!(
                "{}: a row without a readable id or lastmodifieddate: {}",
                self.def.name,
                Value::Object(bad.clone())
            )));
        }
        let records = self.records(rows).await?;
        let next = cursor.after_page(last, more, None, at, |w, id| self.end(w, id));
        Ok(Page {
            records,
            cursor: next.encode(),
            more,
            pass: None,
        })
    }

    async fn fetch(&self, ids: &[String]) -> Result<Vec<Record>, ConnectorError> {
        let mut found = std::collections::HashMap::new();
        for chunk in ids.chunks(IN_CHUNK) {
            let list: Vec<String> = chunk.iter().map(|i| id_literal(i)).collect();
            let q = format!(
                "SELECT {} FROM {}{} ORDER BY id",
                self.columns(),
                self.def.table,
                self.conditions(Some(format!("id IN ({})", list.join(", "))))
            );
            let rows = self.api.query_all(&q).await?;
            for r in self.records(rows).await? {
                found.insert(r.id.clone(), r);
            }
        }
        Ok(fetched_in_order(ids, |id| found.remove(id)))
    }
}
