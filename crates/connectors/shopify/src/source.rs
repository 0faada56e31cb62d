//! Reading customers, products or orders by `updated_at`.
//!
//! A scan asks `<object>(query: "updated_at:>='<w>'", sortKey: UPDATED_AT)`: Shopify
//! orders that by `(updatedAt, id)`, so the kit's [`Keyset`] position `(updatedAt, id)` of
//! the last record read is exact at ties (many records changed in the same second). Within
//! a scan, pages follow Shopify's own cursor (`after: endCursor`, kept in our cursor with
//! the scan's anchor `w`, since it is only valid for the same query); a record changed
//! while the scan runs moves behind the cursor and is read later in the same scan. A scan
//! that starts at an exact position `(w, id)` (a settled window) asks `>= w` and skips the
//! records at `w` up to `id`, following Shopify's cursor past a long run of ties.
//!
//! Each scan ends in the kit's overlap window (default 2 minutes, for Shopify's search
//! index, which trails writes): the next one starts at `top − overlap` until the window
//! settles. A first read (no cursor), or a scan with more changes than `bulk_threshold`,
//! goes through a bulk operation instead ([`crate::bulk`]), and its records are served from
//! memory page by page with the same keyset positions; after a restart mid-way the scan
//! goes on by paged queries from the position reached, which is exact.
//!
//! Nested lists longer than what a page reads with each record (order lines, product
//! variants) are read after, page by page (`order(id:) { lineItems(after:) }`).

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use ferry_kit::keyset::{Keyset, ReadAt, ScanEnd};
use ferry_kit::sink::fetched_in_order;
use ferry_kit::{Page, Source};
use ferry_model::{ConnectorError, Record};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::api::Api;
use crate::config::{Bulk, SourceSpec};
use crate::gql::{MAX_COST, Sel, string};
use crate::schema;

/// The keyset position: `w` the `updatedAt` read last (UTC, whole seconds), `id` the
/// number of its GID.
pub type Position = Keyset<String, u64>;

/// The stored cursor: the position, and mid-scan Shopify's cursor with the anchor of the
/// query it belongs to, or the bulk operation whose records are being served.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Cursor {
    #[serde(flatten)]
    pub pos: Position,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anchor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bulk: Option<String>,
}

impl Cursor {
    fn decode(text: Option<&str>) -> Result<Self, ConnectorError> {
        let bad = |e: String| ConnectorError::fatal(format!("unreadable cursor: {e}"));
        let Some(text) = text.filter(|t| !t.trim().is_empty()) else {
            return Ok(Self::at(Position::start()));
        };
        let cursor: Self = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
        if cursor.pos.v != 1 {
            return Err(bad(format!("unknown cursor version {}", cursor.pos.v)));
        }
        Ok(cursor)
    }

    fn at(pos: Position) -> Self {
        Self {
            pos,
            after: None,
            anchor: None,
            bulk: None,
        }
    }

    /// Between two pages of a scan (not at its start or end).
    fn mid_scan(&self) -> bool {
        !self.pos.end && (self.pos.w.is_some() || self.pos.id.is_some())
    }

    /// No scan has ended yet: the first read.
    fn first(&self) -> bool {
        !self.pos.end && self.pos.w.is_none() && self.pos.id.is_none()
    }
}

/// One object read by one flow.
pub struct ShopifySource {
    pub(crate) api: Api,
    pub(crate) spec: SourceSpec,
    /// The records of the last bulk operation, by its id, served page by page.
    pub(crate) bulk: Mutex<Option<(String, Arc<Vec<Record>>)>>,
}

impl ShopifySource {
    pub fn new(api: Api, spec: SourceSpec) -> Self {
        Self {
            api,
            spec,
            bulk: Mutex::new(None),
        }
    }

    pub(crate) fn fields(&self) -> Vec<Sel> {
        schema::node_fields(self.spec.object, &self.spec.metafields)
    }

    /// The search of a scan anchored at `w` (none: every record).
    pub(crate) fn search(&self, w: Option<&str>) -> Option<String> {
        let mut terms: Vec<String> = Vec::new();
        if let Some(w) = w {
            terms.push(format!("updated_at:>='{w}'"));
        }
        terms.extend(self.spec.query.as_ref().map(|q| format!("({q})")));
        (!terms.is_empty()).then(|| terms.join(" AND "))
    }

    /// A record from an answered node (nested lists complete).
    pub(crate) fn record(&self, node: Value) -> Result<Record, ConnectorError> {
        let id = node["id"].as_str().map(str::to_owned).ok_or_else(|| {
            ConnectorError::fatal(format!(
                "{}: a node of `{}` came without an `id`",
                self.api.http.system(),
                self.spec.object.name()
            ))
        })?;
        let updated_at = node["updatedAt"].as_str().and_then(parse_time);
        let fields = schema::shape(self.spec.object, node, &self.spec.metafields);
        Ok(Record {
            updated_at,
            ..Record::new(id, fields)
        })
    }

    pub(crate) fn end(&self, w: Option<String>) -> ScanEnd<String, u64> {
        let overlap = TimeDelta::from_std(self.spec.overlap).unwrap_or(TimeDelta::zero());
        match w.as_deref().and_then(parse_time) {
            Some(at) => ScanEnd::Window {
                from: Position::end_at(literal(at - overlap), None),
                overlap,
            },
            None => ScanEnd::Exact(Position::start()),
        }
    }

    /// Nodes of one connection page a query may ask without passing the cost ceiling.
    fn page_size(&self, wanted: usize) -> u64 {
        let one = Sel::connection("x", 1, "", self.fields()).cost() - 2;
        let fits = (MAX_COST - 2) / one.max(1);
        (wanted as u64).clamp(1, 250).min(fits.max(1))
    }

    /// Reads the rest of each node's nested list (order lines, variants) where the page
    /// answered only the first part.
    async fn complete(&self, node: &mut Value) -> Result<(), ConnectorError> {
        let Some((field, gid_type, fields)) = schema::nested(self.spec.object) else {
            return Ok(());
        };
        let id = node["id"].as_str().unwrap_or("").to_owned();
        let one = Sel::connection("x", 1, gid_type, fields.clone()).cost() - 2;
        let first = ((MAX_COST - 3) / one.max(1)).clamp(1, 250);
        while node[field]["pageInfo"]["hasNextPage"] == Value::Bool(true) {
            let after = node[field]["pageInfo"]["endCursor"]
                .as_str()
                .unwrap_or("")
                .to_owned();
            let more = Sel::connection(field, first, gid_type, fields.clone())
                .arg("after", string(&after));
            let top =
                Sel::object(schema::single(self.spec.object), vec![more]).arg("id", string(&id));
            let data = self
                .api
                .query(&[top], false, &format!("{field} of {id}"))
                .await?;
            let page = &data[schema::single(self.spec.object)][field];
            let Some(nodes) = page["nodes"].as_array() else {
                break;
            };
            if let Some(held) = node[field]["nodes"].as_array_mut() {
                held.extend(nodes.iter().cloned());
            }
            node[field]["pageInfo"] = page["pageInfo"].clone();
        }
        Ok(())
    }

    /// One page of a paged scan from `cursor`.
    async fn read_paged(&self, cursor: Cursor, limit: usize) -> Result<Page, ConnectorError> {
        let limit = limit.clamp(1, 10_000);
        let (anchor, skip) = match (&cursor.after, cursor.mid_scan()) {
            (Some(_), true) => (cursor.anchor.clone(), None),
            _ => (
                cursor.pos.w.clone(),
                cursor.pos.w.clone().zip(cursor.pos.id),
            ),
        };
        let skip = skip.and_then(|(w, id)| parse_time(&w).map(|t| (t, id)));
        let search = self.search(anchor.as_deref());
        let mut after = cursor.after.clone().filter(|_| cursor.mid_scan());
        let mut got: Vec<(Record, String)> = Vec::new();
        let asked = ReadAt::asking();
        loop {
            let first = self.page_size(limit + 1 - got.len());
            let mut top = Sel::connection(self.spec.object.name(), first, "", self.fields())
                .arg("sortKey", "UPDATED_AT");
            if let Some(q) = &search {
                top = top.arg("query", string(q));
            }
            if let Some(a) = &after {
                top = top.arg("after", string(a));
            }
            let label = format!("{} page", self.spec.object.name());
            let data = self.api.query(&[top], true, &label).await?;
            let conn = &data[self.spec.object.name()];
            for edge in conn["edges"].as_array().into_iter().flatten() {
                let mut node = edge["node"].clone();
                let position = node["updatedAt"]
                    .as_str()
                    .and_then(parse_time)
                    .zip(gid_number(&node["id"]));
                if let (Some(skip), Some(at)) = (skip, position)
                    && at <= skip
                {
                    continue;
                }
                if got.len() <= limit {
                    self.complete(&mut node).await?;
                    let c = edge["cursor"].as_str().unwrap_or("").to_owned();
                    got.push((self.record(node)?, c));
                }
            }
            let has_next = conn["pageInfo"]["hasNextPage"] == Value::Bool(true);
            if got.len() > limit || !has_next {
                break;
            }
            after = conn["pageInfo"]["endCursor"].as_str().map(str::to_owned);
        }
        let at = ReadAt::answered(asked);
        let more = got.len() > limit;
        got.truncate(limit);
        let last = got.last().map(|(r, _)| position(r));
        let pos = cursor
            .pos
            .after_page(last, more, None, at, |w, _| self.end(w));
        let next = Cursor {
            after: got.last().map(|(_, c)| c.clone()).filter(|_| more),
            anchor: anchor.filter(|_| more),
            bulk: None,
            pos,
        };
        Ok(Page {
            records: got.into_iter().map(|(r, _)| r).collect(),
            cursor: serde_json::to_string(&next).unwrap_or_default(),
            more,
            pass: None,
        })
    }

    /// Whether a scan from `cursor` reads by bulk operation: a first read, or more changes
    /// than the threshold.
    async fn by_bulk(&self, cursor: &Cursor) -> Result<bool, ConnectorError> {
        if self.spec.bulk == Bulk::Never || cursor.mid_scan() {
            return Ok(false);
        }
        if cursor.first() {
            return Ok(true);
        }
        let count = format!("{}Count", self.spec.object.name());
        let mut f = Sel::object(&count, vec![Sel::scalar("count")]);
        if let Some(q) = self.search(cursor.pos.w.as_deref()) {
            f = f.arg("query", string(&q));
        }
        let data = self.api.query(&[f], false, "count changes").await?;
        let n = data[&count]["count"].as_u64().unwrap_or(0);
        Ok(n > self.spec.bulk_threshold)
    }

    /// One page of the records of the bulk operation `op`, after the cursor's position.
    pub(crate) fn serve_bulk(
        &self,
        cursor: &Cursor,
        op: &str,
        records: &[Record],
        at: ReadAt,
        limit: usize,
    ) -> Page {
        let limit = limit.max(1);
        let from = if cursor.bulk.is_some() {
            cursor
                .pos
                .w
                .as_deref()
                .and_then(parse_time)
                .zip(cursor.pos.id)
        } else {
            None
        };
        let rest: Vec<&Record> = records
            .iter()
            .filter(|r| from.is_none_or(|f| sort_key(r) > (Some(f.0), f.1)))
            .collect();
        let more = rest.len() > limit;
        let page: Vec<Record> = rest.into_iter().take(limit).cloned().collect();
        let last = page.last().map(position);
        let pos = cursor
            .pos
            .after_page(last, more, None, at, |w, _| self.end(w));
        let next = Cursor {
            bulk: more.then(|| op.to_owned()),
            ..Cursor::at(pos)
        };
        Page {
            records: page,
            cursor: serde_json::to_string(&next).unwrap_or_default(),
            more,
            pass: None,
        }
    }

    fn cached(&self, op: &str) -> Option<Arc<Vec<Record>>> {
        let held = self.bulk.lock().unwrap_or_else(|p| p.into_inner());
        held.as_ref()
            .filter(|(id, _)| id == op)
            .map(|(_, r)| r.clone())
    }
}

#[async_trait]
impl Source for ShopifySource {
    async fn read(&self, cursor: Option<&str>, limit: usize) -> Result<Page, ConnectorError> {
        let cursor = Cursor::decode(cursor)?;
        if let Some(op) = &cursor.bulk {
            let at = ReadAt::answered(ReadAt::asking());
            if let Some(records) = self.cached(op) {
                return Ok(self.serve_bulk(&cursor, op, &records, at, limit));
            }
            // Restarted mid-way: the position is exact, so paged queries go on from it.
            let mut paged = cursor.clone();
            paged.bulk = None;
            return self.read_paged(paged, limit).await;
        }
        if self.by_bulk(&cursor).await? {
            let asked = ReadAt::asking();
            let (op, records) = self.bulk_records(cursor.pos.w.as_deref()).await?;
            let at = ReadAt::answered(asked);
            let page = self.serve_bulk(&cursor, &op, &records, at, limit);
            *self.bulk.lock().unwrap_or_else(|p| p.into_inner()) = Some((op, records));
            return Ok(page);
        }
        self.read_paged(cursor, limit).await
    }

    async fn fetch(&self, ids: &[String]) -> Result<Vec<Record>, ConnectorError> {
        let kind = schema::gid_type(self.spec.object);
        let gids: Vec<String> = ids.iter().filter_map(|id| as_gid(id, kind)).collect();
        let one = Sel::object("x", self.fields()).cost();
        let per_call = ((MAX_COST / one.max(1)) as usize).clamp(1, 50);
        let mut found: Vec<Record> = Vec::new();
        for chunk in gids.chunks(per_call) {
            let fields: Vec<Sel> = chunk
                .iter()
                .enumerate()
                .map(|(i, id)| {
                    Sel::object(schema::single(self.spec.object), self.fields())
                        .alias(format!("r{i}"))
                        .arg("id", string(id))
                })
                .collect();
            let data = self.api.query(&fields, false, "fetch by id").await?;
            for i in 0..chunk.len() {
                let mut node = data[format!("r{i}").as_str()].clone();
                if node.is_object() {
                    self.complete(&mut node).await?;
                    found.push(self.record(node)?);
                }
            }
        }
        Ok(fetched_in_order(ids, |id| {
            let gid = as_gid(id, kind)?;
            found.iter().find(|r| r.id == gid).map(|r| Record {
                id: id.to_owned(),
                ..r.clone()
            })
        }))
    }
}

/// `gid://shopify/<kind>/<n>` from a GID of that kind or a bare number.
pub fn as_gid(id: &str, kind: &str) -> Option<String> {
    let id = id.trim();
    if id.chars().all(|c| c.is_ascii_digit()) && !id.is_empty() {
        return Some(format!("gid://shopify/{kind}/{id}"));
    }
    let rest = id
        .strip_prefix("gid://shopify/")?
        .strip_prefix(kind)?
        .strip_prefix('/')?;
    rest.split('?').next()?.parse::<u64>().ok()?;
    Some(id.to_owned())
}

/// The number of a GID (`gid://shopify/Customer/12` → 12).
pub fn gid_number(id: &Value) -> Option<u64> {
    id.as_str()?
        .rsplit('/')
        .next()?
        .split('?')
        .next()?
        .parse()
        .ok()
}

fn sort_key(r: &Record) -> (Option<DateTime<Utc>>, u64) {
    (
        r.updated_at,
        gid_number(&Value::String(r.id.clone())).unwrap_or(0),
    )
}

fn position(r: &Record) -> (Option<String>, Option<u64>) {
    let (at, id) = sort_key(r);
    (at.map(literal), Some(id))
}

/// Sorts records as `sortKey: UPDATED_AT` does: by `(updatedAt, id)`.
pub fn sort(records: &mut [Record]) {
    records.sort_by_key(sort_key);
}

/// A Shopify time (RFC 3339).
pub fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text).ok().map(|t| t.to_utc())
}

/// A time as a search writes it: UTC, whole seconds (`2024-05-01T01:00:00Z`).
pub fn literal(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_gids_of_the_object_or_numbers() {
        assert_eq!(
            as_gid("12", "Customer").as_deref(),
            Some("gid://shopify/Customer/12")
        );
        assert_eq!(
            as_gid("gid://shopify/Customer/12", "Customer").as_deref(),
            Some("gid://shopify/Customer/12")
        );
        assert_eq!(as_gid("gid://shopify/Order/12", "Customer"), None);
        assert_eq!(as_gid("nope", "Customer"), None);
        assert_eq!(
            gid_number(&Value::from(
                "gid://shopify/InventoryLevel/11?inventory_item_id=1"
            )),
            Some(11)
        );
    }

    #[test]
    fn cursors_round_trip_with_the_position_flattened() {
        let c = Cursor {
            after: Some("abc".into()),
            anchor: Some("2024-05-01T01:00:00Z".into()),
            ..Cursor::at(Position::end_at("2024-05-01T01:00:00Z".into(), Some(7)))
        };
        let text = serde_json::to_string(&c).unwrap();
        assert!(
            text.contains("\"v\":1") && text.contains("\"after\":\"abc\""),
            "{text}"
        );
        let back = Cursor::decode(Some(&text)).unwrap();
        assert_eq!(back.pos, c.pos);
        assert_eq!(back.after.as_deref(), Some("abc"));
        assert!(Cursor::decode(None).unwrap().first());
    }
}
