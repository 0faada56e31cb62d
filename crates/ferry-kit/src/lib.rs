//! # ferry-kit
//!
//! The connector kit: what every connector implements and what they share. A connector reads
//! changed records ([`Source`]), writes records by business key ([`Sink`]) and lists what a
//! live system holds ([`Connector::discover`]). The engine knows connectors only through these
//! traits and a [`Registry`] the binary fills; it does not depend on any connector, so a change
//! to one connector rebuilds that connector and the binary, nothing else. A connector knows
//! nothing of the store, the queue or mappings.
//!
//! Each connector is its own crate under `crates/connectors/<kind>/`, with the same shape:
//! `lib.rs` (docs, `mod` lines and the factory), `config.rs` (typed settings that validate
//! themselves), `source.rs`, `sink.rs`, `discover.rs`, `probe.rs`, tests beside them and a
//! `README.md`. `crates/ferry-connectors` lists the compiled-in kinds, one cargo feature each.
//! For `ferry check --live`, [`Connector::probe`], [`Source::probe`] and [`Sink::probe`] look
//! at the live system without changing it ([`probe`]); their defaults read one record, and a
//! connector that can name what is missing overrides them.
//!
//! A connector may also bring the system's own webhook format ([`inbound`]) and its own
//! change feed: a [`Source`] whose cursor is the system's replay id or sequence number (the
//! engine stores the cursor durably with each page, whatever it holds).
//!
//! Shared parts: [`settings`] (reading typed settings with exact key paths), [`keyset`]
//! (exact keyset paging by `(watermark, id)` and scan paging), [`probe`], and [`http`]: one
//! client per connected account, with its retries, rate limit, daily quota and credentials.
//!
//! ## Cursors
//!
//! A cursor is an opaque string that the source returns with each [`Page`] and the engine
//! stores; only the source interprets it. `None` means "from the beginning" (a full sync).
//! Reading must be exact at the edges: a source whose watermark can tie (many rows with the
//! same updated-at) pages by `(watermark, id)`, and one whose rows can commit late re-reads an
//! overlap window; the engine's read hashes make re-read rows cost no write.

use std::fmt::Debug;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use ferry_model::config::ConfigIssue;
use ferry_model::{ConnectorError, Entity, Record};
use serde_json::{Map, Value};

pub mod http;
pub mod inbound;
pub mod keyset;
pub mod probe;
pub mod registry;
pub mod settings;
pub mod sink;

pub use probe::{KnownFields, Probe, ProbeAt, ProbeIssue};
pub use registry::Registry;

/// What a factory needs besides the settings.
#[derive(Debug, Clone)]
pub struct BuildContext {
    /// The system's name under `systems:` (for messages).
    pub system: String,
    /// The folder relative paths in settings are resolved against (the config file's).
    pub base_dir: PathBuf,
}

impl BuildContext {
    /// A path from settings, resolved against [`BuildContext::base_dir`].
    pub fn resolve(&self, path: &str) -> PathBuf {
        let p = std::path::Path::new(path);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base_dir.join(p)
        }
    }
}

/// Settings problems, each at a key path relative to the settings map being validated.
pub type SettingsIssues = Vec<ConfigIssue>;

/// Makes connectors of one kind from their settings. Building does no I/O: connections open on
/// first use, so `ferry check` can validate a config offline.
pub trait ConnectorFactory: Send + Sync {
    /// The `kind:` that selects this connector.
    fn kind(&self) -> &'static str;
    /// One line for `ferry schema` and docs.
    fn summary(&self) -> &'static str;
    /// What connectors of this kind can do at best (`ferry connectors`, the conformance
    /// suite); a flow's options may narrow it ([`Sink::capabilities`]).
    fn capabilities(&self) -> Capabilities;
    /// JSON Schema of the system settings, and of the `source:` and `target:` options.
    fn schemas(&self) -> ConnectorSchemas;
    /// Validates the settings and builds the connector.
    fn build(
        &self,
        ctx: &BuildContext,
        settings: &Map<String, Value>,
    ) -> Result<Arc<dyn Connector>, SettingsIssues>;
}

/// What a kind of connector can do, declared by its factory. The conformance suite runs the
/// checks of each capability declared, so a declaration is a promise that is tested.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Capabilities {
    /// Reads records ([`Source::read`]).
    pub read: bool,
    /// Reads only what changed since a cursor (a watermark, a sequence, a replay id).
    pub incremental: bool,
    /// Finds changes by reading everything, pass after pass ([`SnapshotPass`]), which also
    /// finds hard deletes.
    pub snapshot: bool,
    /// Takes the system's own inbound notices (webhooks) in the system's format.
    pub webhook: bool,
    /// Upserts records by business key ([`Sink::upsert`]).
    pub write: bool,
    /// Deletes records ([`Sink::delete`]) or archives them ([`Sink::update`]).
    pub delete: bool,
    /// Reads targets back for reconciliation ([`Sink::scan`]).
    pub scan: bool,
}

impl Capabilities {
    /// The capabilities by name, in the order `ferry connectors` shows them.
    pub fn named(&self) -> [(&'static str, bool); 7] {
        [
            ("read", self.read),
            ("incremental", self.incremental),
            ("snapshot", self.snapshot),
            ("webhook", self.webhook),
            ("write", self.write),
            ("delete", self.delete),
            ("scan", self.scan),
        ]
    }
}

/// The JSON Schemas a connector publishes.
#[derive(Debug, Clone)]
pub struct ConnectorSchemas {
    /// Settings under `systems.<name>`.
    pub system: schemars::Schema,
    /// Options of a flow's `source:`.
    pub source: schemars::Schema,
    /// Options of a flow's `target:`.
    pub target: schemars::Schema,
}

/// What the sink must know about the flow it writes for.
#[derive(Debug, Clone)]
pub struct SinkContext {
    /// The entity written.
    pub entity: Entity,
    /// The canonical field holding the business key; the sink upserts on it.
    pub key_field: String,
    /// The canonical fields the flow's mapping makes (top level: no `lines`, no dotted
    /// paths). A sink whose target has many more fields than a flow writes (a Tryton model)
    /// reads back only these in [`Sink::scan`].
    pub fields: Vec<String>,
}

impl ConnectorSchemas {
    /// The schemas of a connector's three settings types: the system's, a `source:`'s and a
    /// `target:`'s.
    pub fn of<System, SourceOptions, TargetOptions>() -> Self
    where
        System: schemars::JsonSchema,
        SourceOptions: schemars::JsonSchema,
        TargetOptions: schemars::JsonSchema,
    {
        Self {
            system: schemars::schema_for!(System),
            source: schemars::schema_for!(SourceOptions),
            target: schemars::schema_for!(TargetOptions),
        }
    }
}

/// One configured system.
#[async_trait]
pub trait Connector: Send + Sync + Debug {
    /// Opens an object for reading, from a flow's `source:` options (without `system`).
    fn source(&self, options: &Map<String, Value>) -> Result<Arc<dyn Source>, SettingsIssues>;
    /// Opens an object for writing, from a flow's `target:` options (without `system`).
    fn sink(
        &self,
        options: &Map<String, Value>,
        ctx: &SinkContext,
    ) -> Result<Arc<dyn Sink>, SettingsIssues>;
    /// Lists the system's objects and their fields (to help write mappings).
    async fn discover(&self) -> Result<Vec<ObjectInfo>, ConnectorError>;
    /// Connects and logs in, changing nothing (`ferry check --live`): an error says the
    /// system cannot be reached or refuses the credentials. By default a [`discover`]
    /// proves it; a connector with a cheaper way overrides this.
    ///
    /// [`discover`]: Connector::discover
    async fn probe(&self) -> Result<(), ConnectorError> {
        self.discover().await.map(|_| ())
    }
    /// The system's own webhook format, when its settings enable one ([`inbound`]): the
    /// server then takes the system's notices at `POST /hooks/{system}` as the system sends
    /// them. `None` (the default): only Ferry's own signed notice format is taken.
    fn inbound(&self) -> Option<Arc<dyn inbound::Inbound>> {
        None
    }
}

/// A batch of changes read from a source.
#[derive(Debug, Clone, Default)]
pub struct Page {
    /// The records, in the order they must be applied.
    pub records: Vec<Record>,
    /// The cursor to pass to the next read; store it once these records are safe.
    pub cursor: String,
    /// More changes are waiting: read again at once. `false` means caught up.
    pub more: bool,
    /// Set by sources that find changes by reading the whole collection each time
    /// (snapshot-diff polling, for systems with no "modified since" filter): which pass this
    /// page belongs to, and whether it ends the pass. See [`SnapshotPass`].
    pub pass: Option<SnapshotPass>,
}

/// Where a page stands in a snapshot-diff poll.
///
/// A snapshot source pages through the whole collection, pass after pass, and keeps the pass
/// number and its position in the cursor, so a pass resumes where it stopped after a crash.
/// The engine skips records whose content hash has not changed since they were last read
/// (creates and updates cost one comparison), marks every id a pass reads, and when a pass
/// is `complete`, asks the source about each record an earlier pass saw and this one did not
/// ([`Source::fetch`]): those that are gone are deletes. State lives in the store, one page
/// at a time, so memory does not grow with the collection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SnapshotPass {
    /// The pass number: increases by one with each new pass, never reused.
    pub number: u64,
    /// This page is the pass's last: every record of the collection has been read.
    pub complete: bool,
}

/// Reads records from one object of a system.
#[async_trait]
pub trait Source: Send + Sync {
    /// Up to `limit` records changed after `cursor` (`None`: from the beginning).
    async fn read(&self, cursor: Option<&str>, limit: usize) -> Result<Page, ConnectorError>;
    /// The current state of these records. An id that no longer exists comes back as a
    /// record with `deleted: true`.
    async fn fetch(&self, ids: &[String]) -> Result<Vec<Record>, ConnectorError>;
    /// Whether the object and what the options name exist, changing nothing: no cursor is
    /// stored and nothing is moved or marked (`ferry check --live`). By default one record is
    /// read, which proves the object can be read; a connector that can say what exactly is
    /// missing (a column, a field) overrides this and lists the fields its records carry.
    async fn probe(&self) -> Probe {
        match self.read(None, 1).await {
            Ok(_) => Probe::default(),
            Err(e) => Probe::failed(&e),
        }
    }
}

/// One record to write.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    /// The business key's value.
    pub key: String,
    /// The target's id for this record, when a previous write told us.
    pub target_id: Option<String>,
    /// Canonical fields (the sink renames them to its columns).
    pub fields: Map<String, Value>,
}

/// A record written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// The target's id of the record.
    pub target_id: String,
}

/// A record to delete from the target: by its target id when known, else by business key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removal {
    /// The business key's value.
    pub key: String,
    /// The target's id for this record, when a previous write told us.
    pub target_id: Option<String>,
}

/// What a sink can do besides upserting. `ferry check` refuses a flow that asks for more
/// (`on_delete: delete` on a sink that cannot delete), so a run never finds out late.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SinkCapabilities {
    /// [`Sink::delete`] works.
    pub delete: bool,
    /// [`Sink::update`] works (`on_delete: archive`).
    pub update: bool,
    /// [`Sink::scan`] works (`ferry reconcile`).
    pub scan: bool,
    /// How long the target may go on saving a write after the process that sent it died.
    /// SAP Gateway, for one, finishes a `$batch` it has received: a restart that looks
    /// records up by key before then does not find them yet and creates them again. When a
    /// flow's previous run did not finish (its process died), the engine's first run of the
    /// flow waits this long before it reads. `None` (the default): the target saves nothing
    /// on its own once the caller has gone, or writes idempotently (upsert by key).
    pub settle_after_crash: Option<std::time::Duration>,
}

/// One page of a target object read back in canonical field names ([`Sink::scan`]).
#[derive(Debug, Clone, Default)]
pub struct TargetPage {
    /// The records, in a stable order (the target's key order).
    pub records: Vec<TargetRecord>,
    /// Pass to the next [`Sink::scan`].
    pub cursor: String,
    /// More records follow.
    pub more: bool,
    /// The canonical fields the target holds (the same on every page): only these can be
    /// compared with the source.
    pub fields: Vec<String>,
}

/// A record of the target object, in canonical field names.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetRecord {
    /// The id [`Written::target_id`] would name it by.
    pub target_id: String,
    /// Its business key's value (`None` when the key column is empty).
    pub key: Option<String>,
    /// Canonical field → value, typed like a source record's values (decimals as strings,
    /// dates `YYYY-MM-DD`, timestamps RFC 3339 UTC).
    pub fields: Map<String, Value>,
}

/// The error of a capability a connector does not have.
pub fn unsupported(what: &str) -> ConnectorError {
    ConnectorError::fatal(format!("this connector cannot {what} (not supported yet)"))
}

/// Writes records to one object of a system.
#[async_trait]
pub trait Sink: Send + Sync {
    /// Upserts the batch by business key. The outer error fails the whole batch (the system
    /// is down: retry it); the inner results say, per record and in order, whether it was
    /// written or refused. A sink that cannot tell which record was refused retries them one
    /// by one to find out.
    async fn upsert(
        &self,
        batch: &[Outgoing],
    ) -> Result<Vec<Result<Written, ConnectorError>>, ConnectorError>;

    /// What the other methods of this sink support.
    fn capabilities(&self) -> SinkCapabilities {
        SinkCapabilities::default()
    }

    /// Deletes these records (a record already gone counts as deleted). Errors as in
    /// [`Sink::upsert`].
    async fn delete(
        &self,
        batch: &[Removal],
    ) -> Result<Vec<Result<(), ConnectorError>>, ConnectorError> {
        let _ = batch;
        Err(unsupported("delete records"))
    }

    /// Writes these fields to records that exist, by target id or key; never creates one (a
    /// record not found is left alone and counts as done). Errors as in [`Sink::upsert`].
    async fn update(
        &self,
        batch: &[Outgoing],
    ) -> Result<Vec<Result<Written, ConnectorError>>, ConnectorError> {
        let _ = batch;
        Err(unsupported("update records without creating them"))
    }

    /// Reads the target object back in canonical field names, one page of up to `limit`
    /// records after `cursor` (`None`: from the beginning), for reconciliation.
    async fn scan(&self, cursor: Option<&str>, limit: usize) -> Result<TargetPage, ConnectorError> {
        let _ = (cursor, limit);
        Err(unsupported("read its target records back"))
    }

    /// Whether the object and what the options and the mapping's fields name exist, writing
    /// nothing (`ferry check --live`). By default a sink that can read its records back
    /// reads one, which proves the object exists; one that cannot is taken on trust. A
    /// connector that can say what exactly is missing overrides this.
    async fn probe(&self) -> Probe {
        if !self.capabilities().scan {
            return Probe::default();
        }
        match self.scan(None, 1).await {
            Ok(_) => Probe::default(),
            Err(e) => Probe::failed(&e),
        }
    }
}

/// An object found by [`Connector::discover`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct ObjectInfo {
    /// Table, sheet or endpoint name.
    pub name: String,
    /// Its fields.
    pub fields: Vec<FieldInfo>,
}

/// A field of a discovered object.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FieldInfo {
    /// Column or property name.
    pub name: String,
    /// The system's type name.
    pub ty: String,
    /// Whether it may be empty.
    pub nullable: bool,
}
