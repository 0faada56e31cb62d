//! What a connector gives the suite: its system, and hands to change it directly.

use std::sync::Arc;

use async_trait::async_trait;
use ferry_kit::{ConnectorFactory, Outgoing, SinkContext};
use ferry_model::Record;
use serde_json::{Map, Value};

/// A namespace no other fixture uses, in this process or any other (`cf<hex>-`): for
/// [`Fixture::namespace`] on a shared system. Letters, digits and `-` only, so it is safe
/// in `like` patterns and URLs.
pub fn fresh_namespace() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let n = COUNT.fetch_add(1, Ordering::Relaxed);
    format!("cf{:x}x{n}x{nanos:x}-", std::process::id())
}

/// Records made in the system by [`Fixture::seed`]: `(source id, key)` in the order made.
pub type Seeded = Vec<(String, String)>;

/// How the suite reaches one connector's system. Each check starts from
/// [`Fixture::reset`], so checks are independent and may run in any order.
///
/// The records the suite works with have a business key and a `name` (text, which a rename
/// changes); a connector maps them to its own fields in the options it returns.
#[async_trait]
pub trait Fixture: Send + Sync {
    /// The factory under test.
    fn factory(&self) -> Arc<dyn ConnectorFactory>;
    /// The system's settings (`systems.<name>` without `kind`).
    fn settings(&self) -> Map<String, Value>;
    /// The same settings with credentials the system refuses; `None` when it has none (a
    /// folder, SQLite).
    fn refused_credentials(&self) -> Option<Map<String, Value>> {
        None
    }
    /// Every secret in [`Fixture::settings`] and [`Fixture::refused_credentials`]: none may
    /// appear in any error.
    fn secrets(&self) -> Vec<String> {
        Vec::new()
    }
    /// A flow's `source:` options reading the suite's object.
    fn source_options(&self) -> Map<String, Value>;
    /// A flow's `target:` options writing the suite's object.
    fn target_options(&self) -> Map<String, Value>;
    /// What the sink is told about the flow (entity, key field, fields written).
    fn sink_context(&self) -> SinkContext;
    /// The object's name as [`Connector::discover`](ferry_kit::Connector::discover) lists it.
    fn object(&self) -> String;
    /// Put before every business key and name the suite makes (`F001` becomes
    /// `<namespace>F001`), for a system other tests share: the fixture's source then reads
    /// only records in its namespace, `reset` empties only those, and the checks look only
    /// at them in what a sink scans back. Each check builds its own fixture, so a random
    /// namespace keeps parallel checks apart too. Empty (the default) for a system the suite
    /// has to itself.
    fn namespace(&self) -> String {
        String::new()
    }

    /// Empties the suite's object (or makes it), so a check starts from nothing.
    async fn reset(&self);
    /// Makes records in the system, as its users would, `(key, name)` each, all with the
    /// same modified time (ties are what break paging); returns them with their source ids.
    async fn seed(&self, records: &[(String, String)]) -> Seeded;
    /// Renames a record in the system, as a user would (its modified time moves on).
    async fn rename(&self, id: &str, name: &str);
    /// The `name` a source record carries, as the connector reads it.
    fn name_of(&self, record: &Record) -> Option<String> {
        record
            .fields
            .get("name")
            .and_then(Value::as_str)
            .map(str::to_owned)
    }
    /// The key a source record carries.
    fn key_of(&self, record: &Record) -> Option<String>;

    /// A record to write with key `key` and name `name`, in canonical fields.
    fn outgoing(&self, key: &str, name: &str) -> Outgoing {
        let mut fields = Map::new();
        let ctx = self.sink_context();
        fields.insert(ctx.key_field.clone(), Value::String(key.to_owned()));
        fields.insert("name".to_owned(), Value::String(name.to_owned()));
        Outgoing {
            key: key.to_owned(),
            target_id: None,
            fields,
        }
    }
    /// A record the system refuses for its data (a constraint, a required field); `None`
    /// when the system refuses nothing the suite can send.
    fn refused(&self) -> Option<Outgoing>;
    /// What the system's own message says about [`Fixture::refused`] (a part of it).
    fn refusal_says(&self) -> &str;

    /// Faults to inject between the connector and its system (an HTTP system behind a
    /// faulting proxy or a double); `None` for a database or a folder.
    fn faults(&self) -> Option<&dyn Faults> {
        None
    }
}

/// Fault injection for the `transient` and `session` checks, in the system's own terms.
#[async_trait]
pub trait Faults: Send + Sync {
    /// The next `count` requests fail with HTTP `status` (503, 502…).
    fn fail_next(&self, count: usize, status: u16);
    /// The next request is answered 429 with `Retry-After: seconds`.
    fn throttle_next(&self, seconds: u64);
    /// The next response is cut off mid-body (the connection drops).
    fn drop_next(&self);
    /// Every session or token the connector holds now expires, as the system does it;
    /// `false` when the system has no sessions (the `session` check then does not apply).
    async fn expire_sessions(&self) -> bool;
    /// How many of the faults set are still to act (0 once each has acted as often as it was
    /// set to): the checks use it to see that the faults really reached the connector.
    fn unfired(&self) -> usize;
}
