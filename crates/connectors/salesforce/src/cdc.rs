//! Change Data Capture: `changes: cdc`.
//!
//! Change events come over the Streaming API's CometD (Bayeux long-polling, `POST
//! /cometd/<version>`) on `/data/<Object>ChangeEvent` (`/data/<Name>__ChangeEvent` for a
//! custom `<Name>__c`). The cursor ([`CdcCursor`]) keeps the replay id of the last event
//! read and its commit time. A read:
//!
//! 1. reuses this source's CometD client when the server's position for it is the cursor's
//!    replay id; otherwise handshakes (the client id is kept in memory only) and subscribes
//!    from the cursor's replay id (`-2`, every retained event, when it has none);
//! 2. sends one `/meta/connect`, asking the server to answer within `cdc_wait` and giving
//!    up a little after that (a client cut off that way is not reused: its events may have
//!    been handed out);
//! 3. turns each event's `ChangeEventHeader.recordIds` into the records' current state with
//!    SOQL `Id IN (…)` (the event's own field values are not trusted as state: events may be
//!    partial, or superseded by a later one). A record whose last event is a `DELETE` (or
//!    that SOQL no longer finds) is a record with `deleted: true`;
//! 4. returns the replay id of the last event handled as the new cursor.
//!
//! **First read and gaps.** Without a cursor, a full SOQL keyset pass comes first, then CDC
//! from `-2` (every retained event: whatever changed during the pass is read again, which
//! the engine's hashes make cheap) — there is no way to learn the replay id current at the
//! start of the pass without an event, and a replay from `-2` covers it as long as the pass
//! took less than the retention (72 h). When the server refuses the stored replay id as no
//! longer retained (`400::The replayId {n} you provided was invalid…`), or sends a
//! `GAP_OVERFLOW` event, the source backfills: a SOQL keyset pass over `SystemModstamp >=
//! <commit time of the last event read − overlap>`, a page per read, then CDC again from
//! `-2`, skipping events committed before that same time (the backfill read those records
//! at a later state) — after a `GAP_OVERFLOW`, from that event's own replay id instead. The pass in progress is in the cursor, so a restart continues it.
//! A `changes: soql` cursor given to a `cdc` source is continued as such a pass.

use std::time::Duration;

use chrono::DateTime;
use ferry_kit::Page;
use ferry_kit::http::Call;
use ferry_kit::keyset::Keyset;
use ferry_kit::sink::gone;
use ferry_model::{ConnectorError, Record};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::api::clip;
use crate::source::{SalesforceSource, literal};

/// The CometD client of a source: its id and the last replay id the server handed it.
#[derive(Debug, Clone)]
pub struct Session {
    client: String,
    replay: Option<i64>,
}

/// The cursor of a `changes: cdc` source, as JSON.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CdcCursor {
    /// Format version (1).
    pub cdc: u32,
    /// The replay id of the last event read; none: subscribe with `-2`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay: Option<i64>,
    /// The commit time (epoch ms) of the last event read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<i64>,
    /// A SOQL pass in progress (the first one, or a backfill).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pass: Option<Pass>,
    /// While replaying from `-2` after a backfill: events committed before this (epoch ms)
    /// were covered by the backfill and are skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<i64>,
}

/// A SOQL keyset pass in progress.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Pass {
    /// The keyset cursor of the pass (none: from the start).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyset: Option<String>,
    /// A backfill over a gap (else the first pass).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub backfill: bool,
}

impl CdcCursor {
    fn decode(text: Option<&str>) -> Result<Self, ConnectorError> {
        let Some(text) = text else {
            return Ok(Self {
                cdc: 1,
                pass: Some(Pass::default()),
                ..Self::default()
            });
        };
        match serde_json::from_str::<Value>(text) {
            Ok(v) if v.get("cdc").is_some() => serde_json::from_value(v)
                .map_err(|e| ConnectorError::fatal(format!("unreadable CDC cursor: {e}"))),
            // A `changes: soql` cursor: continue it as the first pass.
            _ => Ok(Self {
                cdc: 1,
                pass: Some(Pass {
                    keyset: Some(text.to_owned()),
                    backfill: false,
                }),
                ..Self::default()
            }),
        }
    }

    fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// One change event as delivered.
#[derive(Debug)]
struct Event {
    replay: i64,
    at: Option<i64>,
    entity: String,
    ids: Vec<String>,
    change: String,
}

/// What a subscribe or connect came to.
enum Bayeux {
    Events(Vec<Event>),
    /// The server no longer knows the client: handshake again.
    Unknown,
    /// The replay id is no longer retained.
    Gap(String),
    /// The long poll ran past `cdc_wait` and was cut off.
    CutOff,
}

impl SalesforceSource {
    /// The CometD channel of the object.
    fn channel(&self) -> String {
        let object = &self.spec.object;
        match object.strip_suffix("__c") {
            Some(custom) => format!("/data/{custom}__ChangeEvent"),
            None => format!("/data/{object}ChangeEvent"),
        }
    }

    async fn bayeux(&self, messages: Value, what: &str) -> Result<Vec<Value>, ConnectorError> {
        let version = self.api.version.trim_start_matches('v');
        let call = Call::post(format!("/cometd/{version}"))
            .json(&messages)
            .label(format!("CometD {what}"));
        match self.api.json(call).await? {
            Value::Array(list) => Ok(list),
            other => Err(ConnectorError::fatal(format!(
                "{}: CometD {what} answered {}",
                self.api.http.system(),
                clip(&other.to_string(), 200)
            ))),
        }
    }

    /// The reply to `channel` among `replies`, failed or not.
    fn reply<'a>(&self, replies: &'a [Value], channel: &str) -> Result<&'a Value, ConnectorError> {
        replies
            .iter()
            .find(|m| m["channel"] == channel)
            .ok_or_else(|| {
                ConnectorError::transient(format!(
                    "{}: CometD answered without a `{channel}` reply",
                    self.api.http.system()
                ))
            })
    }

    fn failed(&self, reply: &Value, what: &str) -> Option<String> {
        if reply["successful"] == true {
            return None;
        }
        Some(format!(
            "{}: CometD {what} failed: {}",
            self.api.http.system(),
            reply["error"].as_str().unwrap_or("no error given")
        ))
    }

    /// A new client subscribed from `replay`.
    async fn subscribe(
        &self,
        replay: Option<i64>,
    ) -> Result<Result<Session, Bayeux>, ConnectorError> {
        let replies = self
            .bayeux(
                json!([{"channel": "/meta/handshake", "version": "1.0", "minimumVersion": "1.0",
                        "supportedConnectionTypes": ["long-polling"], "ext": {"replay": true}}]),
                "handshake",
            )
            .await?;
        let hello = self.reply(&replies, "/meta/handshake")?;
        if let Some(e) = self.failed(hello, "handshake") {
            return Err(ConnectorError::transient(e));
        }
        let client = hello["clientId"].as_str().unwrap_or_default().to_owned();
        let channel = self.channel();
        let from = replay.unwrap_or(-2);
        let replies = self
            .bayeux(
                json!([{"channel": "/meta/subscribe", "clientId": client, "subscription": channel,
                        "ext": {"replay": {&channel: from}}}]),
                "subscribe",
            )
            .await?;
        let reply = self.reply(&replies, "/meta/subscribe")?;
        if let Some(e) = self.failed(reply, &format!("subscribe to {channel}")) {
            let said = reply["error"].as_str().unwrap_or_default();
            if said.contains("replayId") {
                return Ok(Err(Bayeux::Gap(e)));
            }
            if said.starts_with("403::") {
                return Ok(Err(Bayeux::Unknown));
            }
            return Err(ConnectorError::fatal(format!(
                "{e} (is `{}` selected for Change Data Capture in Setup?)",
                self.spec.object
            )));
        }
        Ok(Ok(Session { client, replay }))
    }

    /// One long poll.
    async fn connect(&self, client: &str) -> Result<Bayeux, ConnectorError> {
        let wait = self.spec.cdc_wait;
        let call = self.bayeux(
            json!([{"channel": "/meta/connect", "clientId": client, "connectionType": "long-polling",
                    "advice": {"timeout": wait.as_millis() as u64}}]),
            "connect",
        );
        let replies = match tokio::time::timeout(wait + Duration::from_secs(2), call).await {
            Ok(replies) => replies?,
            Err(_) => return Ok(Bayeux::CutOff),
        };
        let reply = self.reply(&replies, "/meta/connect")?;
        if let Some(e) = self.failed(reply, "connect") {
            let said = reply["error"].as_str().unwrap_or_default();
            if said.starts_with("403::") || reply["advice"]["reconnect"] == "handshake" {
                return Ok(Bayeux::Unknown);
            }
            return Err(ConnectorError::transient(e));
        }
        let mut events = Vec::new();
        for m in &replies {
            let data = &m["data"];
            let Some(replay) = data["event"]["replayId"].as_i64() else {
                continue;
            };
            let header = &data["payload"]["ChangeEventHeader"];
            events.push(Event {
                replay,
                at: header["commitTimestamp"].as_i64(),
                entity: header["entityName"].as_str().unwrap_or_default().to_owned(),
                ids: header["recordIds"]
                    .as_array()
                    .map(|ids| {
                        ids.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_owned)
                            .collect()
                    })
                    .unwrap_or_default(),
                change: header["changeType"].as_str().unwrap_or_default().to_owned(),
            });
        }
        events.sort_by_key(|e| e.replay);
        Ok(Bayeux::Events(events))
    }

    fn take_session(&self) -> Option<Session> {
        self.session
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }

    fn keep_session(&self, session: Session) {
        *self.session.lock().unwrap_or_else(|p| p.into_inner()) = Some(session);
    }

    /// The cursor of a backfill from `at` (epoch ms) less the overlap.
    fn backfill(&self, at: Option<i64>) -> CdcCursor {
        let overlap = self.spec.overlap.as_millis() as i64;
        let since = at.map(|at| at - overlap);
        let keyset = since
            .and_then(DateTime::from_timestamp_millis)
            .map(|t| Keyset::<String, String>::end_at(literal(t), None).encode());
        CdcCursor {
            cdc: 1,
            replay: None,
            at,
            pass: Some(Pass {
                keyset,
                backfill: true,
            }),
            since,
        }
    }

    /// A page of the SOQL pass in `cursor`; when the pass is done, the cursor goes on by CDC.
    async fn read_pass(&self, cursor: CdcCursor, limit: usize) -> Result<Page, ConnectorError> {
        let pass = cursor.pass.clone().unwrap_or_default();
        let page = self.read_soql(pass.keyset.as_deref(), limit).await?;
        let mut next = cursor;
        next.pass = page.more.then(|| Pass {
            keyset: Some(page.cursor.clone()),
            backfill: pass.backfill,
        });
        Ok(Page {
            records: page.records,
            cursor: next.encode(),
            more: true,
            pass: None,
        })
    }

    pub(crate) async fn read_cdc(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page, ConnectorError> {
        let limit = limit.clamp(1, 50_000);
        let cursor = CdcCursor::decode(cursor)?;
        if cursor.pass.is_some() {
            return self.read_pass(cursor, limit).await;
        }
        let mut events = None;
        for _ in 0..2 {
            let session = match self.take_session() {
                Some(s) if s.replay == cursor.replay => s,
                _ => match self.subscribe(cursor.replay).await? {
                    Ok(s) => s,
                    Err(Bayeux::Gap(said)) => {
                        tracing::warn!(
                            system = self.api.http.system(),
                            object = %self.spec.object,
                            replay = ?cursor.replay,
                            "{said}; backfilling by SOQL"
                        );
                        return self.read_pass(self.backfill(cursor.at), limit).await;
                    }
                    Err(_) => continue,
                },
            };
            match self.connect(&session.client).await? {
                Bayeux::Events(list) => {
                    events = Some((session, list));
                    break;
                }
                // Nothing came in time; the client is not reused (the server may hand it
                // events no one reads).
                Bayeux::CutOff => break,
                _ => continue,
            }
        }
        let Some((mut session, events)) = events else {
            // Cut off, or two clients in a row were dropped: nothing read this time.
            return Ok(Page {
                records: Vec::new(),
                cursor: cursor.encode(),
                more: false,
                pass: None,
            });
        };
        let delivered = events.last().map(|e| e.replay);
        let mut next = cursor.clone();
        let mut latest: IndexMap<String, bool> = IndexMap::new();
        let mut truncated = false;
        let mut overflow = None;
        for e in events
            .into_iter()
            .filter(|e| cursor.replay.is_none_or(|r| e.replay > r))
        {
            let new_ids = e.ids.iter().filter(|id| !latest.contains_key(*id)).count();
            if new_ids > 0 && latest.len() + new_ids > limit && !latest.is_empty() {
                truncated = true;
                break;
            }
            next.replay = Some(e.replay);
            next.at = e.at.or(next.at);
            if !e.entity.eq_ignore_ascii_case(&self.spec.object) {
                continue;
            }
            if cursor.replay.is_none()
                && let (Some(since), Some(at)) = (cursor.since, e.at)
                && at < since
            {
                continue;
            }
            if e.change == "GAP_OVERFLOW" {
                overflow = Some((e.at.or(cursor.at), e.replay));
                break;
            }
            let deleted = matches!(e.change.as_str(), "DELETE" | "GAP_DELETE");
            for id in e.ids {
                latest.shift_remove(&id);
                latest.insert(id, deleted);
            }
        }
        if next.replay.is_some() {
            next.since = None;
        }
        if truncated || overflow.is_some() {
            // The server handed this client more than was used: a new one next time.
        } else {
            session.replay = delivered.or(session.replay);
            self.keep_session(session);
        }
        let wanted: Vec<String> = latest
            .iter()
            .filter(|(_, deleted)| !**deleted)
            .map(|(id, _)| id.clone())
            .collect();
        let mut fetched: IndexMap<String, Record> = self
            .fetch_current(&wanted)
            .await?
            .into_iter()
            .map(|r| (r.id.clone(), r))
            .collect();
        let records: Vec<Record> = latest
            .iter()
            .map(|(id, deleted)| match deleted {
                true => gone(id),
                false => fetched.shift_remove(id).unwrap_or_else(|| gone(id)),
            })
            .collect();
        if let Some((at, replay)) = overflow {
            tracing::warn!(
                system = self.api.http.system(),
                object = %self.spec.object,
                "a GAP_OVERFLOW change event; backfilling by SOQL"
            );
            // Resume after the overflow event itself (still retained), not from `-2`, which
            // would deliver it again.
            let mut backfill = self.backfill(at);
            backfill.replay = Some(replay);
            backfill.since = None;
            return Ok(Page {
                records,
                cursor: backfill.encode(),
                more: true,
                pass: None,
            });
        }
        Ok(Page {
            records,
            cursor: next.encode(),
            more: truncated,
            pass: None,
        })
    }

    /// The current state of `ids` (those SOQL no longer finds come back deleted).
    async fn fetch_current(&self, ids: &[String]) -> Result<Vec<Record>, ConnectorError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        ferry_kit::Source::fetch(self, ids).await
    }
}
