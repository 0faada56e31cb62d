//! Reading a BottleCRM object by **snapshot passes**.
//!
//! BottleCRM has no "changed since" filter, and accounts and deals do not even show when they
//! changed, so a source cannot ask for changes. Instead each pass pages through the whole
//! collection (`limit`/`offset`, in the list's own order) and returns every record; the
//! engine compares each record's content hash with the one it read last time and skips the
//! unchanged ones, and treats ids not seen in a complete pass as deleted candidates.
//!
//! ## The cursor contract
//!
//! The cursor is JSON, opaque to the engine but readable with [`SnapshotCursor::parse`]:
//!
//! ```json
//! {"v":1,"pass":1795312800123,"segment":0,"offset":200,"tail":["9f…","9e…","9d…"],"last":"9d…"}
//! {"v":1,"pass":1795312800123,"done":true,"segment":0,"offset":0}
//! ```
//!
//! - `pass` numbers the passes: the time the pass started, in epoch milliseconds, so the
//!   numbers increase and are never reused, even across a reset cursor. A read with no
//!   cursor starts a pass; a read with a `done` cursor starts the next one. Every page
//!   reports its pass in [`Page::pass`] (`SnapshotPass { number, complete }`), as the
//!   engine's snapshot contract asks.
//! - A page whose `more` is `false` always ends a **complete** pass: its `Page::pass` says
//!   `complete: true` and its cursor is the `done` one (the first cursor above is inside a
//!   pass, the second ends it). Every record that existed from the start to the end of the
//!   pass was returned in it, at least once (one may come twice when records are created
//!   before it during the pass, which the read hash makes harmless). Records created during a
//!   pass may come in it or in the next. After a complete pass the engine asks
//!   [`Source::fetch`] about the records an earlier pass saw and this one did not; `fetch`
//!   answers for every id, those BottleCRM no longer has as `deleted`.
//! - `more: true` means the pass goes on: read again with the page's cursor. A pass
//!   interrupted by a crash resumes from the last committed cursor, inside the same pass.
//! - Memory is one page: nothing but the position and the last few ids is kept between
//!   pages.
//!
//! ## Staying exact while the collection changes
//!
//! Offsets move when records before the position are created or deleted between two pages.
//! So the cursor keeps where the last page ended: the ids of its last records (`tail`) and,
//! for lists whose order a client can compare, the last record's place in it (`last`: its id
//! for accounts and deals, listed by id; its creation time for contacts and invoices). The
//! next page is read from up to [`BACK`] records before the offset and resumes after the
//! records already returned; if more records vanished than that, it steps back further.
//! So deletions do not skip records and creations do not repeat them. Products are listed
//! by name in the database's collation, which a client cannot reproduce: there the last
//! `tail` id found marks the place, and failing that (all of them deleted) the plain offset
//! does. A product renamed during a pass moves in the list and may be missed by that pass
//! (the next reads it); that is one reason the engine must confirm a deletion with
//! [`Source::fetch`] before acting on it.
//!
//! `segment` is the part of the list being read: BottleCRM pages active and inactive
//! accounts separately, so an account pass reads `is_active=true` (segment 0) and then
//! `is_active=false` (segment 1). Other objects have one segment.

use std::collections::HashSet;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ferry_model::{ConnectorError, Record};
use futures::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};

use crate::api::{Api, Fields};
use crate::config::SourceSpec;
use ferry_kit::{Page, SnapshotPass, Source};

/// How many records before the offset a page re-reads to find where it left off.
pub const BACK: usize = 10;

/// How many ids of the last records returned the cursor keeps.
const TAIL: usize = 3;

/// The position of a snapshot source (see the module docs for the contract).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotCursor {
    /// Format version (1).
    pub v: u32,
    /// The pass number: when the pass started, in epoch milliseconds.
    pub pass: u64,
    /// The pass is complete: the next read starts pass `pass + 1`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub done: bool,
    /// The list segment being read.
    #[serde(default)]
    pub segment: usize,
    /// Records of the segment returned so far (the list offset to continue from).
    #[serde(default)]
    pub offset: usize,
    /// Ids of the last records returned, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tail: Vec<String>,
    /// Where the last record returned stands in the list order (its id, or its creation
    /// time), for lists whose order the client can compare.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last: Option<String>,
}

impl SnapshotCursor {
    /// The start of pass `pass`.
    fn start(pass: u64) -> Self {
        Self {
            v: 1,
            pass,
            done: false,
            segment: 0,
            offset: 0,
            tail: Vec::new(),
            last: None,
        }
    }

    /// Reads a cursor produced by this source.
    pub fn parse(text: &str) -> Result<Self, ConnectorError> {
        let cursor: Self = serde_json::from_str(text).map_err(|e| {
            ConnectorError::fatal(format!(
                "the stored cursor `{text}` is not a BottleCRM snapshot cursor ({e}); run a full sync"
            ))
        })?;
        if cursor.v != 1 {
            return Err(ConnectorError::fatal(format!(
                "the stored cursor has version {}, this Ferry reads version 1; run a full sync",
                cursor.v
            )));
        }
        Ok(cursor)
    }

    fn encode(&self) -> String {
        serde_json::to_string(self).expect("a cursor serializes")
    }
}

/// Reads one object.
pub struct BottleSource {
    pub api: Api,
    pub spec: SourceSpec,
    pub concurrency: usize,
}

impl BottleSource {
    fn what(&self) -> String {
        format!("{}: {}", self.api.http.system(), self.spec.spec.name)
    }

    /// Turns a record of the API into a [`Record`]: its id, its last change when the object
    /// shows one, its fields without the clock-driven ones.
    fn record(&self, mut fields: Fields) -> Result<Record, ConnectorError> {
        let spec = self.spec.spec;
        let Some(id) = fields.get("id").and_then(|v| v.as_str()).map(str::to_owned) else {
            return Err(ConnectorError::fatal(format!(
                "{}: a record without an `id`",
                self.what()
            )));
        };
        spec.normalize(&mut fields);
        let updated_at = spec
            .updated_at
            .and_then(|f| fields.get(f)?.as_str())
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|t| t.with_timezone(&Utc));
        let mut record = Record::new(id, fields);
        record.updated_at = updated_at;
        Ok(record)
    }

    /// How many records at the start of `window` (read `back` records before the cursor's
    /// offset) were returned already; `None` when the window starts too late to tell.
    ///
    /// With a list order the client can compare (by id, by creation time) the answer is
    /// exact: the records before the last one returned in list order, and those tied with it
    /// that were returned. Otherwise the last `tail` id found marks the place, and failing
    /// that the plain offset does.
    fn resume(&self, window: &[Fields], at: &SnapshotCursor, back: usize) -> Option<usize> {
        if back == 0 {
            return Some(0);
        }
        let spec = self.spec.spec;
        let tail: HashSet<&str> = at.tail.iter().map(String::as_str).collect();
        let id = |r: &Fields| {
            r.get("id")
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_owned()
        };
        if let Some(last) = &at.last {
            let passed = window
                .iter()
                .take_while(|r| match spec.sort_key(r) {
                    Some(key) => key > *last || (key == *last && tail.contains(id(r).as_str())),
                    None => false,
                })
                .count();
            // Nothing passed in the window although it starts before the offset: records
            // before the window vanished, and the place is further back.
            return (passed > 0 || back == at.offset).then_some(passed);
        }
        Some(
            window
                .iter()
                .rposition(|r| tail.contains(id(r).as_str()))
                .map_or(back.min(window.len()), |i| i + 1),
        )
    }

    /// Replaces list records by their details, for objects whose list is incomplete.
    async fn complete(&self, listed: Vec<Fields>) -> Result<Vec<Fields>, ConnectorError> {
        if !self.spec.spec.read_details {
            return Ok(listed);
        }
        let spec = self.spec.spec;
        let details: Vec<Option<Fields>> = futures::stream::iter(listed.into_iter().map(|r| {
            let id = r
                .get("id")
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_owned();
            async move { self.api.detail(spec, &id).await }
        }))
        .buffered(self.concurrency)
        .try_collect()
        .await?;
        // A record deleted between the list and its detail read is simply not in this page;
        // the pass's bookkeeping (and a later fetch) deals with it.
        Ok(details.into_iter().flatten().collect())
    }
}

#[async_trait]
impl Source for BottleSource {
    async fn read(&self, cursor: Option<&str>, limit: usize) -> Result<Page, ConnectorError> {
        let spec = self.spec.spec;
        let limit = limit.max(1);
        // A pass is numbered by when it starts (epoch ms), so numbers keep increasing even
        // when the cursor is reset (`ferry sync --full`) or the clock stands still.
        let now = u64::try_from(Utc::now().timestamp_millis()).unwrap_or_default();
        let mut at = match cursor.map(SnapshotCursor::parse).transpose()? {
            None => SnapshotCursor::start(now),
            Some(c) if c.done => SnapshotCursor::start(now.max(c.pass + 1)),
            Some(c) => c,
        };
        if at.segment >= spec.segments.len() {
            return Err(ConnectorError::fatal(format!(
                "{}: the stored cursor names list segment {}, which does not exist; run a full sync",
                self.what(),
                at.segment
            )));
        }
        let mut listed: Vec<Fields> = Vec::new();
        loop {
            let want = limit - listed.len();
            // Step back to find where the last page ended, unless at the segment's start.
            let mut back = if at.tail.is_empty() {
                0
            } else {
                at.offset.min(BACK)
            };
            let (start, window, resume) = loop {
                let start = at.offset - back;
                let window = self
                    .api
                    .list_page(spec, at.segment, &self.spec.filter, start, want + back)
                    .await
                    .map_err(|e| e.context(format!("reading {} (pass {})", spec.name, at.pass)))?;
                match self.resume(&window, &at, back) {
                    Some(resume) => break (start, window, resume),
                    // More records vanished before the position than we stepped back over.
                    None => back = (back * 4).min(at.offset),
                }
            };
            // The segment ends when the server had fewer records than asked for and this
            // page took all of them (after deletions, a window can hold more than `want`).
            let short = window.len() < want + back;
            let available = window.len().saturating_sub(resume);
            let fresh: Vec<Fields> = window.into_iter().skip(resume).take(want).collect();
            let exhausted = short && fresh.len() == available;
            at.offset = start + resume + fresh.len();
            if let Some(last) = fresh.last() {
                at.last = spec.sort_key(last);
            }
            for record in &fresh {
                if let Some(id) = record.get("id").and_then(|v| v.as_str()) {
                    at.tail.push(id.to_owned());
                }
            }
            let excess = at.tail.len().saturating_sub(TAIL);
            at.tail.drain(..excess);
            listed.extend(fresh);
            if exhausted {
                if at.segment + 1 < spec.segments.len() {
                    at.segment += 1;
                    at.offset = 0;
                    at.tail.clear();
                    at.last = None;
                } else {
                    at = SnapshotCursor {
                        done: true,
                        ..SnapshotCursor::start(at.pass)
                    };
                    break;
                }
            }
            if listed.len() >= limit {
                break;
            }
        }
        let more = !at.done;
        let records = self
            .complete(listed)
            .await?
            .into_iter()
            .map(|fields| self.record(fields))
            .collect::<Result<Vec<_>, _>>()?;
        tracing::debug!(
            system = %self.api.http.system(),
            object = spec.name,
            pass = at.pass,
            records = records.len(),
            more,
            "Snapshot page read."
        );
        Ok(Page {
            records,
            cursor: at.encode(),
            more,
            pass: Some(SnapshotPass {
                number: at.pass,
                complete: at.done,
            }),
        })
    }

    async fn fetch(&self, ids: &[String]) -> Result<Vec<Record>, ConnectorError> {
        let spec = self.spec.spec;
        futures::stream::iter(0..ids.len())
            .map(|i| async move {
                let id = &ids[i];
                match self.api.detail(spec, id).await? {
                    Some(fields) => self.record(fields),
                    None => Ok(Record {
                        deleted: true,
                        origin: None,
                        ..Record::new(id.clone(), Fields::new())
                    }),
                }
            })
            .buffered(self.concurrency)
            .try_collect()
            .await
    }
}
