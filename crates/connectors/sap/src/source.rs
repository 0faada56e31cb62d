//! Reading an entity set, incrementally by its change stamp.
//!
//! The A2X APIs have no change feed Ferry can read over HTTP (business events go through
//! Event Mesh), so a source asks for the records whose stamp (`LastChangeDateTime`, or
//! `LastChangeDate` + `LastChangeTime` for business partners) is past its cursor, ordered
//! by the stamp and the key, and keeps the position with the kit's [`Keyset`]: `(stamp in
//! epoch ms, key values)` of the last record read. Every page is its own query anchored on
//! that position (`$filter=(S gt t or (S eq t and Key gt 'k'))`, `$top=limit+1`), so a page
//! edge inside a run of equal stamps loses nothing and repeats nothing, and records that
//! move between pages cannot shift an offset. When the server cuts an answer shorter than
//! `$top` (its own page size), the `__next` link (`$skiptoken`) is followed verbatim within
//! the same read. Each scan ends in the kit's overlap window (default two minutes) until it
//! settles.
//!
//! With `poll: all` (sets without a stamp: customers, credit accounts) every scan reads
//! the whole set in key order and starts again at the end.
//!
//! Values: `/Date(…)/` become RFC 3339 UTC, or the day (`2024-05-01`) for a property
//! `$metadata` shows as a date (see [`crate::schema`]), decimals stay the strings SAP sends, expanded
//! navigations become arrays (`to_Item` as `lines`), `__metadata` is left out. A record's
//! id is its key value (`4000001`), or the key predicate for a composite key
//! (`BusinessPartner='10100001',CreditSegment='1000'`).

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Timelike};
use ferry_kit::keyset::{Keyset, ReadAt, ScanEnd};
use ferry_kit::{Page, Source, sink::fetched_in_order};
use ferry_model::{ConnectorError, Record};
use serde_json::{Map, Value};

use crate::api::{self, Api, date_millis, plain, predicate, text_literal, time_seconds};
use crate::config::{SourceSpec, Stamp, StampType};
use crate::schema::Schema;

/// The cursor: `w` the stamp read last (epoch ms), `id` its key values.
type Cursor = Keyset<i64, Vec<String>>;

/// The entities of one answer, and its `__next` link.
type Entities = (Vec<Map<String, Value>>, Option<String>);

/// The navigation read as a record's `lines`.
pub const LINES_NAV: &str = "to_Item";

/// An entity set read by one flow.
pub struct SapSource {
    api: Api,
    spec: SourceSpec,
}

impl SapSource {
    pub fn new(api: Api, spec: SourceSpec) -> Self {
        Self { api, spec }
    }

    /// The stamp conditions at `w`: after, at, and at-or-after.
    fn stamp_conditions(&self, w: i64) -> Option<(String, String, String)> {
        let at = DateTime::from_timestamp_millis(w)?;
        match &self.spec.stamp {
            Stamp::None => None,
            Stamp::One { field, ty } => {
                let text = if at.timestamp_subsec_millis() == 0 {
                    at.format("%Y-%m-%dT%H:%M:%S").to_string()
                } else {
                    at.format("%Y-%m-%dT%H:%M:%S%.3f").to_string()
                };
                let lit = match ty {
                    StampType::Datetimeoffset => format!("datetimeoffset'{text}Z'"),
                    StampType::Datetime => format!("datetime'{text}'"),
                };
                Some((
                    format!("{field} gt {lit}"),
                    format!("{field} eq {lit}"),
                    format!("{field} ge {lit}"),
                ))
            }
            Stamp::DateAndTime { date, time } => {
                let day = format!("datetime'{}T00:00:00'", at.format("%Y-%m-%d"));
                let tod = format!(
                    "time'PT{:02}H{:02}M{:02}S'",
                    at.hour(),
                    at.minute(),
                    at.second()
                );
                Some((
                    format!("({date} gt {day} or ({date} eq {day} and {time} gt {tod}))"),
                    format!("({date} eq {day} and {time} eq {tod})"),
                    format!("({date} gt {day} or ({date} eq {day} and {time} ge {tod}))"),
                ))
            }
        }
    }

    /// `(k1 gt 'a' or (k1 eq 'a' and k2 gt 'b'))`: the records after `values` in key order.
    fn after_key(&self, values: &[String]) -> String {
        let mut expr = String::new();
        for (i, (k, v)) in self.spec.key.iter().zip(values).enumerate().rev() {
            let lit = text_literal(v);
            expr = if i + 1 == values.len() || expr.is_empty() {
                format!("{k} gt {lit}")
            } else {
                format!("({k} gt {lit} or ({k} eq {lit} and {expr}))")
            };
        }
        expr
    }

    /// The `$filter` of the records after `cursor`, with the flow's own.
    fn filter_after(&self, cursor: &Cursor) -> Option<String> {
        let position = match (cursor.w, &cursor.id) {
            (Some(w), id) => self.stamp_conditions(w).map(|(gt, eq, ge)| match id {
                Some(id) if id.len() == self.spec.key.len() => {
                    format!("({gt} or ({eq} and {}))", self.after_key(id))
                }
                _ => ge,
            }),
            (None, Some(id)) if id.len() == self.spec.key.len() => Some(self.after_key(id)),
            _ => None,
        };
        let own = self.spec.filter.as_ref().map(|f| format!("({f})"));
        let parts: Vec<String> = [position, own].into_iter().flatten().collect();
        (!parts.is_empty()).then(|| parts.join(" and "))
    }

    fn orderby(&self) -> String {
        let mut order: Vec<String> = match &self.spec.stamp {
            Stamp::None => Vec::new(),
            Stamp::One { field, .. } => vec![format!("{field} asc")],
            Stamp::DateAndTime { date, time } => vec![format!("{date} asc"), format!("{time} asc")],
        };
        order.extend(self.spec.key.iter().map(|k| format!("{k} asc")));
        order.join(",")
    }

    /// `$select`, `$expand` and `$format` of every read.
    fn shape(&self) -> Vec<(&'static str, String)> {
        let mut query = Vec::new();
        if !self.spec.fields.is_empty() {
            let mut select: Vec<String> = self.spec.key.clone();
            match &self.spec.stamp {
                Stamp::None => {}
                Stamp::One { field, .. } => select.push(field.clone()),
                Stamp::DateAndTime { date, time } => {
                    select.push(date.clone());
                    select.push(time.clone());
                }
            }
            select.extend(self.spec.fields.iter().cloned());
            select.extend(self.spec.expand.iter().cloned());
            let mut seen = std::collections::HashSet::new();
            select.retain(|s| seen.insert(s.clone()));
            query.push(("$select", select.join(",")));
        }
        if !self.spec.expand.is_empty() {
            query.push(("$expand", self.spec.expand.join(",")));
        }
        query.push(("$format", "json".to_owned()));
        query
    }

    /// The entities of one answer, and its `__next` link.
    fn entities(&self, reply: &Value) -> Result<Entities, ConnectorError> {
        let d = reply.get("d").ok_or_else(|| {
            ConnectorError::fatal(format!(
                "{}/{} answered without `d`: not an OData v2 JSON answer",
                self.spec.service, self.spec.set
            ))
        })?;
        let rows = d
            .get("results")
            .and_then(Value::as_array)
            .or_else(|| d.as_array())
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter_map(|v| match v {
                Value::Object(m) => Some(m),
                _ => None,
            })
            .collect();
        let next = d.get("__next").and_then(Value::as_str).map(str::to_owned);
        Ok((rows, next))
    }

    /// The key values of an entity.
    fn key_values(&self, entity: &Map<String, Value>) -> Option<Vec<String>> {
        self.spec
            .key
            .iter()
            .map(|k| match entity.get(k)? {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
            .collect()
    }

    /// The stamp of an entity, epoch ms.
    fn stamp_of(&self, entity: &Map<String, Value>) -> Option<i64> {
        let ms = |f: &str| entity.get(f).and_then(Value::as_str).and_then(date_millis);
        match &self.spec.stamp {
            Stamp::None => None,
            Stamp::One { field, .. } => ms(field),
            Stamp::DateAndTime { date, time } => {
                let day = ms(date)?;
                let secs = entity
                    .get(time)
                    .and_then(Value::as_str)
                    .and_then(time_seconds)
                    .unwrap_or(0);
                Some(day + secs * 1000)
            }
        }
    }

    /// A record from an entity, its values typed by the service's `$metadata` if known.
    fn record(
        &self,
        entity: Map<String, Value>,
        schema: Option<&Schema>,
    ) -> Result<Record, ConnectorError> {
        let values = self.key_values(&entity).ok_or_else(|| {
            ConnectorError::fatal(format!(
                "{} answered an entity without its key {:?}: add them to `fields`",
                self.spec.set, self.spec.key
            ))
        })?;
        let id = self.id_of(&values);
        let updated_at = self
            .stamp_of(&entity)
            .and_then(DateTime::from_timestamp_millis);
        let mut values: Map<String, Value> = entity
            .into_iter()
            .filter(|(k, _)| k != "__metadata")
            .filter_map(|(k, v)| Some((k, plain(v)?)))
            .collect();
        if let Some(schema) = schema
            && let Some(ty) = schema.set_type(&self.spec.set)
        {
            values = schema.read_entity(ty, values);
        }
        let mut fields = Map::new();
        for (k, v) in values {
            let name = if k == LINES_NAV && self.spec.expand.iter().any(|e| e == LINES_NAV) {
                "lines".to_owned()
            } else {
                k
            };
            fields.insert(name, v);
        }
        Ok(Record {
            updated_at,
            ..Record::new(id, fields)
        })
    }

    /// The id of the record with these key values.
    fn id_of(&self, values: &[String]) -> String {
        match values {
            [one] => one.clone(),
            _ => {
                let p = predicate(&self.spec.key, values);
                p[1..p.len() - 1].to_owned()
            }
        }
    }

    /// How a scan ends at `(w, id)`: in the overlap window, or (no stamp) at the start.
    fn end(&self, w: Option<i64>, _id: Option<Vec<String>>) -> ScanEnd<i64, Vec<String>> {
        let overlap = TimeDelta::from_std(self.spec.overlap).unwrap_or(TimeDelta::zero());
        match w {
            Some(w) if self.spec.stamp != Stamp::None => ScanEnd::Window {
                from: Cursor::end_at(w - overlap.num_milliseconds(), None),
                overlap,
            },
            _ => ScanEnd::Exact(Cursor::start()),
        }
    }
}

#[async_trait]
impl Source for SapSource {
    async fn read(&self, cursor: Option<&str>, limit: usize) -> Result<Page, ConnectorError> {
        let limit = limit.max(1);
        let cursor = Cursor::decode(cursor)
            .map_err(|e| ConnectorError::fatal(format!("unreadable cursor: {e}")))?;
        let mut query = self.shape();
        if let Some(f) = self.filter_after(&cursor) {
            query.push(("$filter", f));
        }
        query.push(("$orderby", self.orderby()));
        query.push(("$top", (limit + 1).to_string()));
        let asked = ReadAt::asking();
        let path = Api::path(&self.spec.service, &self.spec.set);
        let (mut rows, mut next) = self.entities(&self.api.get(&path, &query).await?)?;
        // The server's own page size may be smaller than `$top`: follow `__next`.
        while rows.len() <= limit
            && let Some(link) = next.take()
        {
            let (more, link) = self.entities(&self.api.get(&link, &[]).await?)?;
            if more.is_empty() {
                break;
            }
            rows.extend(more);
            next = link;
        }
        let at = ReadAt::answered(asked);
        let schema = self.api.schema(&self.spec.service).await?;
        let more = rows.len() > limit;
        rows.truncate(limit);
        let last = rows.last().map(|e| (self.stamp_of(e), self.key_values(e)));
        let records = rows
            .into_iter()
            .map(|e| self.record(e, schema.as_deref()))
            .collect::<Result<Vec<_>, _>>()?;
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
        let schema = self.api.schema(&self.spec.service).await?;
        let shape: Vec<String> = self
            .shape()
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        for id in ids {
            let key = if self.spec.key.len() == 1 {
                format!("({})", text_literal(id))
            } else {
                format!("({id})")
            };
            let target = format!(
                "{}{key}?{}",
                Api::path(&self.spec.service, &self.spec.set),
                shape.join("&")
            );
            if let Some(answer) = self.api.get_one(&target).await? {
                if !answer.ok() {
                    return Err(api::sap_error(&answer));
                }
                if let Some(entity) = answer.entity() {
                    found.insert(id.clone(), self.record(entity, schema.as_deref())?);
                }
            }
        }
        Ok(fetched_in_order(ids, |id| found.remove(id)))
    }
}
