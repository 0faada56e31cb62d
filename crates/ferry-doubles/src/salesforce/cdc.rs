//! Change Data Capture (dossier §6): every write through the API appends a change event
//! (`ChangeEventHeader` + the changed fields, field *names* in `changedFields` as the CometD
//! transport delivers them) to one log with increasing replay ids. Events older than the
//! run's retention (72 h by the harness clock) are dropped; [`Cdc::drop_through`] drops
//! events at once, so a stored replay id becomes too old (the retention gap a connector
//! must backfill over). Delivery is the Streaming API (CometD long-polling, see
//! [`super::cometd`]); the gRPC Pub/Sub API is not served.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use tokio::sync::Notify;

use super::config::USER_ID;

/// One change event as stored and delivered.
#[derive(Clone, Debug, PartialEq)]
pub struct ChangeEvent {
    pub replay_id: i64,
    /// The object (`Account`); its channel is `/data/AccountChangeEvent`.
    pub entity: String,
    pub at: DateTime<Utc>,
    /// `ChangeEventHeader` and the field values.
    pub payload: Value,
}

impl ChangeEvent {
    /// Whether a subscription to `channel` receives this event.
    pub fn on(&self, channel: &str) -> bool {
        channel == "/data/ChangeEvents" || channel == format!("/data/{}ChangeEvent", self.entity)
    }
}

/// What one change says (the header's varying parts and the payload's fields).
pub struct Change<'a> {
    pub entity: &'a str,
    pub record_ids: Vec<String>,
    /// CREATE, UPDATE, DELETE, UNDELETE or a GAP_… type.
    pub change_type: &'a str,
    pub changed: Vec<String>,
    pub nulled: Vec<String>,
    pub fields: Map<String, Value>,
    pub origin: String,
    pub transaction_key: &'a str,
    pub sequence: u32,
}

#[derive(Default)]
struct Log {
    events: VecDeque<ChangeEvent>,
    /// The last replay id handed out.
    last: i64,
    /// Every event up to this replay id is gone.
    dropped_through: i64,
    commit: u64,
    /// CometD clients: their subscriptions and, per channel, the last replay id delivered.
    clients: HashMap<String, HashMap<String, i64>>,
}

/// The change event log and the CometD clients reading it.
#[derive(Default)]
pub struct Cdc {
    log: Mutex<Log>,
    arrived: Notify,
}

/// Why a subscription's replay id cannot be served.
pub struct TooOld;

impl Cdc {
    fn lock(&self) -> MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Appends the event of `change` stamped `at` and wakes waiting readers.
    pub fn publish(&self, change: Change<'_>, at: DateTime<Utc>) -> i64 {
        let mut log = self.lock();
        log.last += 1;
        log.commit += 1;
        let mut payload = change.fields;
        payload.insert(
            "ChangeEventHeader".into(),
            json!({
                "entityName": change.entity,
                "recordIds": change.record_ids,
                "changeType": change.change_type,
                "changeOrigin": change.origin,
                "transactionKey": change.transaction_key,
                "sequenceNumber": change.sequence,
                "commitTimestamp": at.timestamp_millis(),
                "commitNumber": 10_585_193_272_000_u64 + log.commit,
                "commitUser": USER_ID,
                "changedFields": change.changed,
                "nulledFields": change.nulled,
                "diffFields": [],
            }),
        );
        let event = ChangeEvent {
            replay_id: log.last,
            entity: change.entity.to_owned(),
            at,
            payload: Value::Object(payload),
        };
        log.events.push_back(event);
        drop(log);
        self.arrived.notify_waiters();
        self.lock().last
    }

    /// Every retained event, oldest first.
    pub fn events(&self) -> Vec<ChangeEvent> {
        self.lock().events.iter().cloned().collect()
    }

    /// Drops every event up to `replay_id` (inclusive), as retention would.
    pub fn drop_through(&self, replay_id: i64) {
        let mut log = self.lock();
        log.events.retain(|e| e.replay_id > replay_id);
        log.dropped_through = log.dropped_through.max(replay_id.min(log.last));
    }

    /// Drops events older than `retention` before `now`.
    pub fn expire(&self, now: DateTime<Utc>, retention: Duration) {
        let cutoff = now - chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::MAX);
        let last_old = self
            .lock()
            .events
            .iter()
            .take_while(|e| e.at < cutoff)
            .last()
            .map(|e| e.replay_id);
        if let Some(id) = last_old {
            self.drop_through(id);
        }
    }

    /// Forgets everything (a reset); replay ids start again.
    pub fn clear(&self) {
        *self.lock() = Log::default();
    }

    /// A new CometD client id.
    pub fn handshake(&self) -> String {
        let bytes: [u8; 12] = rand::random();
        let id: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        self.lock().clients.insert(id.clone(), HashMap::new());
        id
    }

    pub fn knows(&self, client: &str) -> bool {
        self.lock().clients.contains_key(client)
    }

    pub fn disconnect(&self, client: &str) {
        self.lock().clients.remove(client);
    }

    /// Subscribes `client` to `channel` from `replay` (-1 new events only, -2 every retained
    /// event, else events after that id, which must still be retained).
    pub fn subscribe(&self, client: &str, channel: &str, replay: i64) -> Result<(), TooOld> {
        let mut log = self.lock();
        let from = match replay {
            -1 => log.last,
            -2 => log.dropped_through,
            n if n < log.dropped_through || n > log.last || n < -2 => return Err(TooOld),
            n => n,
        };
        if let Some(subs) = log.clients.get_mut(client) {
            subs.insert(channel.to_owned(), from);
        }
        Ok(())
    }

    pub fn unsubscribe(&self, client: &str, channel: &str) {
        if let Some(subs) = self.lock().clients.get_mut(client) {
            subs.remove(channel);
        }
    }

    /// The events due to `client` on each of its channels, marked delivered.
    pub fn take(&self, client: &str) -> Vec<(String, ChangeEvent)> {
        let mut log = self.lock();
        let Log {
            events, clients, ..
        } = &mut *log;
        let Some(subs) = clients.get_mut(client) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (channel, last) in subs.iter_mut() {
            let from = *last;
            for e in events
                .iter()
                .filter(|e| e.replay_id > from && e.on(channel))
            {
                out.push((channel.clone(), e.clone()));
                *last = e.replay_id;
            }
        }
        out.sort_by_key(|(_, e)| e.replay_id);
        out
    }

    /// The events due to `client`; when there are none, waits for one up to `timeout` (the
    /// long poll of `/meta/connect`).
    pub async fn take_or_wait(
        &self,
        client: &str,
        timeout: Duration,
    ) -> Vec<(String, ChangeEvent)> {
        let notified = self.arrived.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let due = self.take(client);
        if !due.is_empty() {
            return due;
        }
        let _ = tokio::time::timeout(timeout, notified).await;
        self.take(client)
    }
}
