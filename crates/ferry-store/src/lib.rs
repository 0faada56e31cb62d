//! # ferry-store
//!
//! Everything Ferry must remember, behind one trait ([`Store`]) with two implementations that
//! pass the same test suite and share one schema and one SQL text: [`SqliteStore`] (the embedded
//! default: one file, WAL, on rusqlite with a dedicated writer thread) and [`PgStore`] (sqlx;
//! when several Ferry processes share the work).
//!
//! What it holds:
//! - **cursors**: where each flow's source reading stands;
//! - **xref**: (flow, source id) ↔ business key ↔ target id, with the hash of what we last read
//!   and last wrote, so re-runs and echoes write nothing;
//! - **ledger**: the append-only trail of every write attempt and its outcome;
//! - **dead letters**: records that failed for good, with payload and error, until an operator
//!   replays or skips them;
//! - **queue**: the durable queue of work items (sync this id, replay this dead letter), in the
//!   same database so that enqueue and state changes commit together;
//! - **runs**: one row per flow run with its counts, for `ferry status` (consecutive idle runs
//!   of a flow share one row);
//! - for two-way pairs: **baselines** (per pair and business key, the values both systems
//!   last agreed on, committed with the batch that wrote them) and the **conflicts** review
//!   queue;
//! - **reconciliations**: one row per `ferry reconcile` (CLI, API, console or schedule) with
//!   its counts and its report as JSON;
//! - for the server: **API keys** (SHA-256 of the token only), the **audit log** of operator
//!   actions, **webhook signatures** seen (until stale, to refuse replays) and **tracked sync
//!   requests** (the tracking id is the queue item id).
//!
//! History does not grow for ever: [`Store::prune`] deletes, in short batches, runs, ledger
//! entries, closed dead letters, audit entries and tracked requests older than the retention
//! `ferry run` is configured with (`store.retention`), keeping what is still needed (see
//! [`Retained`]).
//!
//! The engine's unit of durability is [`Commit`]: cursor, xref, ledger, dead letters and queue
//! acknowledgements of one batch land in one transaction or not at all.

use std::collections::HashMap;
use std::fmt::Debug;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

mod sql;

pub use sql::{PgStore, SqliteStore, open};

/// A store failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database could not be reached or refused the statement.
    #[error("state store: {0}")]
    Database(#[from] DbError),
    /// The store URL is not one we support.
    #[error("state store: unsupported URL `{0}` (use sqlite://path or postgres://…)")]
    UnsupportedUrl(String),
    /// A row that should exist does not.
    #[error("state store: {0}")]
    NotFound(String),
    /// A stored value could not be decoded.
    #[error("state store: corrupt value: {0}")]
    Corrupt(String),
    /// The flow was claimed by another process (or by this one again) after the claim this
    /// commit carries ([`Commit::epoch`]): nothing of the commit was recorded, so a stale
    /// writer — a dead process whose last statement PostgreSQL finished late, or a second
    /// process working the same flow — can never record a batch twice or move a newer cursor
    /// back.
    #[error(
        "state store: flow `{flow}` was claimed by another run since this one started (claim \
         {ours}, now {current}): this batch was not recorded and will be read again"
    )]
    Fenced {
        /// The flow.
        flow: String,
        /// The claim the commit carried.
        ours: u64,
        /// The flow's claim now (0: never claimed).
        current: u64,
    },
}

/// A database failure, by backend.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DbError {
    /// From PostgreSQL (sqlx).
    #[error(transparent)]
    Postgres(#[from] sqlx::Error),
    /// From SQLite (rusqlite).
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    /// From the file system (creating the database's directory, starting a thread).
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The SQLite writer thread or a blocking read task stopped before answering.
    #[error("the SQLite worker stopped before answering")]
    WorkerLost,
    /// The shared transaction of a group of small SQLite writes failed to begin or commit
    /// (every write of the group gets this, each with its own copy of the reason).
    #[error("the SQLite group commit failed: {message}")]
    GroupCommit {
        /// SQLite's reason.
        message: String,
        /// Whether SQLite's reason was transient (busy, locked, I/O).
        transient: bool,
    },
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        StoreError::Database(DbError::Postgres(e))
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Database(DbError::Sqlite(e))
    }
}

impl StoreError {
    /// Store errors are transient when the database is unreachable or busy.
    pub fn kind(&self) -> ferry_model::ErrorKind {
        match self {
            StoreError::Database(e) if e.is_transient() => ferry_model::ErrorKind::Retryable,
            // A stale version: retrying the same commit cannot succeed.
            StoreError::Fenced { .. } => ferry_model::ErrorKind::Conflict,
            _ => ferry_model::ErrorKind::Fatal,
        }
    }
}

impl DbError {
    /// Unreachable, busy or locked: worth another try.
    pub fn is_transient(&self) -> bool {
        match self {
            DbError::Postgres(e) => is_transient_pg(e),
            DbError::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => matches!(
                e.code,
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
            ),
            DbError::Sqlite(_) => false,
            DbError::Io(_) => true,
            DbError::WorkerLost => false,
            DbError::GroupCommit { transient, .. } => *transient,
        }
    }
}

fn is_transient_pg(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            code.starts_with("08") || code.starts_with("40") || code.starts_with("57P")
        }
        _ => false,
    }
}

/// The result type of store calls.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The cross-reference of one source record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Xref {
    /// The flow.
    pub flow: String,
    /// The record's id in the source system.
    pub source_id: String,
    /// The business key value (after mapping), if the record ever mapped.
    pub key: Option<String>,
    /// The record's id in the target system, once written.
    pub target_id: Option<String>,
    /// Hash of the source record's fields when last read.
    pub read_hash: Option<String>,
    /// Hash of the mapped payload last written to the target.
    pub written_hash: Option<String>,
    /// The source version (updated-at) last read.
    pub source_version: Option<String>,
    /// When this row last changed.
    pub updated_at: DateTime<Utc>,
    /// The document state (`states:` of the flow) last written to the target for this record;
    /// `None` when none was recorded. Set by [`Commit::states`], kept by xref upserts.
    pub state: Option<String>,
}

/// What happened to one record in one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Written for the first time.
    Created,
    /// Written over an earlier version.
    Updated,
    /// Nothing to write: the mapped payload equals what was last written.
    Unchanged,
    /// Failed; will be retried.
    Failed,
    /// Failed for good; now a dead letter.
    DeadLettered,
    /// An operator skipped the dead letter.
    Skipped,
    /// Deleted at the source.
    Deleted,
    /// Two-way sync: fields changed in the system that does not own them were not
    /// propagated (the error names them, for someone to fix at the source).
    NotOwner,
    /// Two-way sync: a shared field changed on both sides since the last sync (the error says
    /// how the pair's conflict policy settled it, or that it waits for review).
    Conflict,
    /// Asked for by id, but the source has no such record and Ferry never wrote one (had it,
    /// the flow's `on_delete` applies and the outcome is `deleted`).
    NotFound,
}

impl Outcome {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Created => "created",
            Outcome::Updated => "updated",
            Outcome::Unchanged => "unchanged",
            Outcome::Failed => "failed",
            Outcome::DeadLettered => "dead_lettered",
            Outcome::Skipped => "skipped",
            Outcome::Deleted => "deleted",
            Outcome::NotOwner => "not_owner",
            Outcome::Conflict => "conflict",
            Outcome::NotFound => "not_found",
        }
    }
    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "created" => Outcome::Created,
            "updated" => Outcome::Updated,
            "unchanged" => Outcome::Unchanged,
            "failed" => Outcome::Failed,
            "dead_lettered" => Outcome::DeadLettered,
            "skipped" => Outcome::Skipped,
            "deleted" => Outcome::Deleted,
            "not_owner" => Outcome::NotOwner,
            "conflict" => Outcome::Conflict,
            "not_found" => Outcome::NotFound,
            _ => return None,
        })
    }
}

/// One ledger entry: one attempt on one record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// Assigned by the store (0 before it is stored).
    pub id: i64,
    /// The flow.
    pub flow: String,
    /// The record's source id.
    pub source_id: String,
    /// The business key, when the record mapped.
    pub key: Option<String>,
    /// The run it belonged to, if any.
    pub run_id: Option<i64>,
    /// When.
    pub at: DateTime<Utc>,
    /// What caused it: `poll`, `cron`, `manual`, `sync --id`, `replay`, …
    pub trigger: String,
    /// The result.
    pub outcome: Outcome,
    /// Attempt number for this record (1 for the first try).
    pub attempt: u32,
    /// The target id after the attempt.
    pub target_id: Option<String>,
    /// The written hash before the attempt.
    pub before_hash: Option<String>,
    /// The written hash after the attempt.
    pub after_hash: Option<String>,
    /// The source version read.
    pub source_version: Option<String>,
    /// For failures: the error kind (`validation`, `retryable`, …).
    pub error_kind: Option<String>,
    /// For failures: the message.
    pub error: Option<String>,
}

/// A dead letter's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeadLetterState {
    /// Waiting for an operator.
    Open,
    /// Sent back to the queue; resolved when it succeeds.
    Replayed,
    /// An operator chose to drop it.
    Skipped,
    /// A later attempt delivered the record.
    Resolved,
}

impl DeadLetterState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            DeadLetterState::Open => "open",
            DeadLetterState::Replayed => "replayed",
            DeadLetterState::Skipped => "skipped",
            DeadLetterState::Resolved => "resolved",
        }
    }
    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "open" => DeadLetterState::Open,
            "replayed" => DeadLetterState::Replayed,
            "skipped" => DeadLetterState::Skipped,
            "resolved" => DeadLetterState::Resolved,
            _ => return None,
        })
    }
}

/// A record that failed for good.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// Assigned by the store.
    pub id: i64,
    /// The flow.
    pub flow: String,
    /// The record's source id.
    pub source_id: String,
    /// The business key, when known.
    pub key: Option<String>,
    /// The source record as read (a `ferry_model::Record` as JSON), so nothing is lost.
    pub payload: Value,
    /// The error kind.
    pub error_kind: String,
    /// The error message, naming flow, record, field and reason.
    pub error: String,
    /// Attempts made before giving up.
    pub attempts: u32,
    /// Its state.
    pub state: DeadLetterState,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When its state last changed.
    pub updated_at: DateTime<Utc>,
}

/// A dead letter to create.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewDeadLetter {
    /// The record's source id.
    pub source_id: String,
    /// The business key, when known.
    pub key: Option<String>,
    /// The source record as read.
    pub payload: Value,
    /// The error kind.
    pub error_kind: String,
    /// The error message.
    pub error: String,
    /// Attempts made.
    pub attempts: u32,
}

/// A queued unit of work: bring one source record to the target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueItem {
    /// Assigned by the store.
    pub id: i64,
    /// The flow.
    pub flow: String,
    /// The record's source id.
    pub source_id: String,
    /// What asked for it (`sync --id`, `replay`, `webhook`, `retry`).
    pub trigger: String,
    /// A record to use instead of fetching the source (an edited dead letter); usually null.
    pub payload: Option<Value>,
    /// Attempts made so far.
    pub attempts: u32,
    /// Earliest time to (re)try.
    pub available_at: DateTime<Utc>,
    /// The last error, when it was retried.
    pub last_error: Option<String>,
    /// The dead letter it replays, if any.
    pub dead_letter_id: Option<i64>,
}

/// A work item to enqueue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewQueueItem {
    /// The flow.
    pub flow: String,
    /// The record's source id.
    pub source_id: String,
    /// What asked for it.
    pub trigger: String,
    /// A record to use instead of fetching the source.
    pub payload: Option<Value>,
    /// The dead letter it replays, if any.
    pub dead_letter_id: Option<i64>,
}

/// An xref row to insert or replace (by flow + source id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct XrefUpdate {
    /// The record's source id.
    pub source_id: String,
    /// The business key.
    pub key: Option<String>,
    /// The target id.
    pub target_id: Option<String>,
    /// Hash of the source fields read.
    pub read_hash: Option<String>,
    /// Hash of the payload written.
    pub written_hash: Option<String>,
    /// Source version read.
    pub source_version: Option<String>,
    /// The engine found no xref row for this record (in the store or in the batches before),
    /// so the store may insert the row without looking for one first. A row there after all
    /// (another process wrote it meanwhile) is replaced as usual.
    pub new: bool,
}

/// Everything one batch changes, committed in one transaction.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Commit {
    /// The claim on the flow ([`Store::claim_flow`]) of the run that made this batch: the
    /// commit is refused with [`StoreError::Fenced`] when the flow has been claimed since.
    /// `None` commits unfenced (tools and tests that own the store alone).
    pub epoch: Option<u64>,
    /// The flow's new cursor (unchanged when `None`).
    pub cursor: Option<String>,
    /// xref rows to insert or replace.
    pub xrefs: Vec<XrefUpdate>,
    /// Ledger entries to append (their `id` is ignored).
    pub ledger: Vec<LedgerEntry>,
    /// Dead letters to record: one open dead letter per record, so a record that already
    /// has one (open, or replayed and failing again) gets it updated — attempts added, the
    /// newest error and payload kept, open again — instead of a second one.
    pub dead_letters: Vec<NewDeadLetter>,
    /// Queue items finished (deleted).
    pub acked: Vec<i64>,
    /// Source ids delivered in this batch: their open or replayed dead letters become resolved.
    pub delivered: Vec<String>,
    /// Snapshot polling: these source ids were read in this pass (applied after `xrefs`, so
    /// records first seen in this batch are marked too).
    pub seen: Option<SeenInPass>,
    /// Source ids found deleted at the source: no longer expected in later passes.
    pub gone: Vec<String>,
    /// Document states written to the target in this batch (applied after `xrefs`, so a
    /// record first written in this batch gets its state; the last one of a source id wins).
    pub states: Vec<StateWritten>,
    /// Two-way sync: the values both systems now agree on, per key (replacing what was kept).
    pub baselines: Vec<BaselineUpdate>,
    /// Two-way sync: conflicts for the review queue (one open conflict per pair and key: a
    /// newer one replaces the versions of the open one).
    pub conflicts: Vec<NewConflict>,
}

/// The document state written for one record (flows with a state machine).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateWritten {
    /// The record's source id.
    pub source_id: String,
    /// The state now in the target.
    pub state: String,
}

/// The canonical field values both systems of a two-way pair last agreed on for one business
/// key: a change is a field whose value differs from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BaselineUpdate {
    /// The pair (`pairs:` in the config).
    pub pair: String,
    /// The business key.
    pub key: String,
    /// Canonical field → value (replaces the stored map).
    pub fields: Map<String, Value>,
}

/// A conflict's state in the review queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConflictState {
    /// Waiting for an operator.
    Open,
    /// An operator picked a version; it was written.
    Resolved,
}

impl ConflictState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            ConflictState::Open => "open",
            ConflictState::Resolved => "resolved",
        }
    }
    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "open" => Some(ConflictState::Open),
            "resolved" => Some(ConflictState::Resolved),
            _ => None,
        }
    }
}

/// A conflict to put in the review queue. `source` and `target` are those of the pair's first
/// flow, whichever flow found it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewConflict {
    /// The pair.
    pub pair: String,
    /// The pair's first flow (its source and target name the two versions).
    pub flow: String,
    /// The business key.
    pub key: String,
    /// The record's id in the flow's source, when known.
    pub source_id: Option<String>,
    /// The record's id in the flow's target, when known.
    pub target_id: Option<String>,
    /// The fields in conflict.
    pub fields: Vec<String>,
    /// Their values in the flow's source.
    pub source_values: Map<String, Value>,
    /// Their values in the flow's target.
    pub target_values: Map<String, Value>,
    /// The source record's updated-at, when it has one.
    pub source_at: Option<DateTime<Utc>>,
    /// The target record's updated-at, when it has one.
    pub target_at: Option<DateTime<Utc>>,
    /// The values both sides last agreed on for these fields.
    pub base_values: Map<String, Value>,
}

/// A conflict in the review queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conflict {
    /// Assigned by the store.
    pub id: i64,
    /// Its state.
    pub state: ConflictState,
    /// What was found.
    #[serde(flatten)]
    pub found: NewConflict,
    /// The version an operator picked: `source` or `target`.
    pub pick: Option<String>,
    /// Who picked it (`cli`, `api key 3 (ops)`).
    pub resolved_by: Option<String>,
    /// When it was first found.
    pub created_at: DateTime<Utc>,
    /// When it last changed (found again, or resolved).
    pub updated_at: DateTime<Utc>,
}

/// Filters for listing conflicts.
#[derive(Debug, Clone, Default)]
pub struct ConflictFilter {
    /// Only this pair.
    pub pair: Option<String>,
    /// Only this state (`None`: every state).
    pub state: Option<ConflictState>,
    /// At most this many (default 100).
    pub limit: Option<u32>,
}

/// An operator's pick, written to the store once the picked values are in the other system.
#[derive(Debug, Clone, PartialEq)]
pub struct ConflictResolution {
    /// `source` or `target`.
    pub pick: String,
    /// Who picked.
    pub resolved_by: String,
    /// The pair's new agreed values for the key.
    pub baseline: BaselineUpdate,
    /// The ledger entry of the write (appended in the same transaction).
    pub ledger: LedgerEntry,
}

/// Source ids read in one pass of a snapshot-polled source.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeenInPass {
    /// The pass number (increasing).
    pub pass: u64,
    /// The ids read.
    pub ids: Vec<String>,
}

/// Counts of one run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunStats {
    /// Records read from the source.
    pub read: u64,
    /// Records created in the target.
    pub created: u64,
    /// Records updated in the target.
    pub updated: u64,
    /// Records skipped because nothing changed.
    pub unchanged: u64,
    /// Records that failed (dead-lettered or left for retry).
    pub failed: u64,
    /// Records found deleted at the source.
    #[serde(default)]
    pub deleted: u64,
    /// Two-way sync: records with changes to fields their source does not own (not
    /// propagated; see the ledger's `not_owner` entries).
    #[serde(default)]
    pub rejected: u64,
    /// Two-way sync: records with a shared field changed on both sides.
    #[serde(default)]
    pub conflicts: u64,
    /// Records asked for by id (`ferry sync --id`, `POST /sync`, a webhook, a replay) that the
    /// source does not have and Ferry never wrote.
    #[serde(default)]
    pub not_found: u64,
}

impl RunStats {
    /// Adds another run's counts.
    pub fn add(&mut self, other: &RunStats) {
        self.read += other.read;
        self.created += other.created;
        self.updated += other.updated;
        self.unchanged += other.unchanged;
        self.failed += other.failed;
        self.deleted += other.deleted;
        self.rejected += other.rejected;
        self.not_found += other.not_found;
        self.conflicts += other.conflicts;
    }
}

/// One run of a flow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    /// Assigned by the store.
    pub id: i64,
    /// The flow.
    pub flow: String,
    /// What started it.
    pub trigger: String,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it ended (`None` while running, or if the process died).
    pub finished_at: Option<DateTime<Utc>>,
    /// Its counts.
    pub stats: RunStats,
    /// Why it stopped early, if it did.
    pub error: Option<String>,
    /// How many idle runs this row stands for: runs of the flow with this trigger that read,
    /// wrote and failed nothing, one after the other, from `started_at` (the first one's
    /// start) to `finished_at` (the last one's end). 0 for a run that did something (or is
    /// still running). An idle run is folded into the row of the idle runs just before it
    /// instead of adding a row per poll (see [`Store::finish_run`]).
    #[serde(default)]
    pub idle_runs: u64,
}

impl RunStats {
    /// Nothing read, written or failed.
    pub fn is_idle(&self) -> bool {
        *self == RunStats::default()
    }
}

/// The history tables that retention applies to ([`Store::prune`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Retained {
    /// Runs, by when they finished (or started, for a run whose process died). Each flow's
    /// latest run is kept whatever its age: it is the flow's "last run".
    Runs,
    /// Ledger entries, by their time. Entries of a record with a live (open or replayed)
    /// dead letter are kept until it is closed: they are the record's story.
    Ledger,
    /// Dead letters that are closed (resolved or skipped), by when they closed. Open and
    /// replayed ones are never deleted.
    DeadLetters,
    /// The audit log of operator actions, by time.
    Audit,
    /// Tracked sync requests, by when they were accepted; a request whose queue item still
    /// waits is kept.
    SyncRequests,
}

impl Retained {
    /// Every table, in the order they are pruned.
    pub const ALL: [Retained; 5] = [
        Retained::Runs,
        Retained::Ledger,
        Retained::DeadLetters,
        Retained::Audit,
        Retained::SyncRequests,
    ];

    /// The name used in the config (`store.retention`) and in logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Retained::Runs => "runs",
            Retained::Ledger => "ledger",
            Retained::DeadLetters => "dead_letters",
            Retained::Audit => "audit",
            Retained::SyncRequests => "sync_requests",
        }
    }
}

/// What one [`Store::prune`] batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Rows deleted.
    pub deleted: u64,
    /// The id the next batch starts after; `None` when no row past this batch is old enough.
    pub next: Option<i64>,
}

/// Exact counts of one reconciliation (`ferry reconcile`): what each side holds and how they
/// differ, after mapping.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReconcileCounts {
    /// Source records read (deleted ones excluded).
    pub source: u64,
    /// Target records read.
    pub target: u64,
    /// Target records matched with a source record (by xref, else by business key).
    pub matched: u64,
    /// Matched records whose compared fields are all the same.
    pub equal: u64,
    /// Matched records with at least one different field.
    pub differing: u64,
    /// Source records with no target record (and no live dead letter).
    pub missing_in_target: u64,
    /// Target records with no source record.
    pub missing_in_source: u64,
    /// Keys used by several source records.
    pub duplicate_keys_source: u64,
    /// Keys used by several target records.
    pub duplicate_keys_target: u64,
    /// Source records the mapping refused (and no live dead letter names).
    pub unmapped: u64,
    /// Known failures: source records that would count as differing, missing in the target or
    /// unmapped, but whose failure waits in the dead-letter ledger (a live dead letter: open,
    /// or replayed and queued). The operator already knows of them, so they are not drift;
    /// they are counted here instead of in the three counts above.
    #[serde(default)]
    pub dead_lettered: u64,
}

impl ReconcileCounts {
    /// Whether nothing drifted that the dead-letter ledger does not already explain
    /// (`dead_lettered` records are known failures, not drift).
    pub fn clean(&self) -> bool {
        self.differing == 0
            && self.missing_in_target == 0
            && self.missing_in_source == 0
            && self.duplicate_keys_source == 0
            && self.duplicate_keys_target == 0
            && self.unmapped == 0
    }
}

/// One reconciliation of a flow, as the store keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reconciliation {
    /// Assigned by the store.
    pub id: i64,
    /// The flow.
    pub flow: String,
    /// What started it: `cli`, `api`, `console` or `schedule`.
    pub trigger: String,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it ended (`None` while running, or if the process running it died).
    pub finished_at: Option<DateTime<Utc>>,
    /// Its counts, when it finished with a report.
    pub counts: Option<ReconcileCounts>,
    /// Source and target agree (`None` while running or when it failed).
    pub clean: Option<bool>,
    /// The report (JSON, its detail lists bounded by the run's details limit). Only
    /// [`Store::reconciliation`] reads it; listings leave it out.
    pub report: Option<Value>,
    /// Why it could not finish.
    pub error: Option<String>,
}

/// How a reconciliation ended.
#[derive(Debug, Clone, PartialEq)]
pub enum ReconciliationEnd {
    /// It compared both sides: the counts and the whole report.
    Finished {
        /// The counts (`clean` follows from them).
        counts: ReconcileCounts,
        /// The report as JSON.
        report: Value,
    },
    /// It stopped with this error.
    Failed(String),
}

/// What the store knows of one flow, for `ferry status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlowState {
    /// The flow.
    pub flow: String,
    /// Its cursor.
    pub cursor: Option<String>,
    /// Records in its xref.
    pub records: u64,
    /// Queue items waiting.
    pub queued: u64,
    /// Open dead letters.
    pub dead_letters: u64,
    /// Open conflicts in the review queue (two-way pairs, counted on the pair's first flow).
    #[serde(default)]
    pub conflicts: u64,
    /// Two-way pairs: changes to fields the flow's source does not own, reported (not
    /// propagated) in the last 24 hours (`not_owner` ledger entries).
    #[serde(default)]
    pub not_owner: u64,
    /// The last run.
    pub last_run: Option<Run>,
}

/// Filters for listing dead letters.
#[derive(Debug, Clone, Default)]
pub struct DeadLetterFilter {
    /// Only this flow.
    pub flow: Option<String>,
    /// Only these states (default: open).
    pub states: Vec<DeadLetterState>,
    /// At most this many (default 100).
    pub limit: Option<u32>,
}

/// An API key as stored: never the token itself, only its SHA-256 hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKey {
    /// Assigned by the store.
    pub id: i64,
    /// What the operator called it (`ops`, `grafana`).
    pub name: String,
    /// The role name (`viewer`, `operator`, `admin`); the server gives it meaning.
    pub role: String,
    /// Hex SHA-256 of the token.
    pub token_hash: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was revoked; a revoked key authenticates nothing.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// An API key to create.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewApiKey {
    /// Its name.
    pub name: String,
    /// Its role name.
    pub role: String,
    /// Hex SHA-256 of the token (the token itself is shown once and never stored).
    pub token_hash: String,
}

/// One operator action, as the audit log keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Assigned by the store.
    pub id: i64,
    /// When.
    pub at: DateTime<Utc>,
    /// The API key that acted (`None`: the command line, working on the store directly).
    pub key_id: Option<i64>,
    /// That key's name at the time.
    pub key_name: Option<String>,
    /// That key's role at the time.
    pub role: Option<String>,
    /// What was done: `sync`, `dead_letter.replay`, `dead_letter.edit`, `dead_letter.skip`,
    /// `key.create`, `key.revoke`.
    pub action: String,
    /// What it was done to (`flow customers id 42`, `dead letter 7`, `key 3`).
    pub target: String,
    /// The client address (`203.0.113.7`), or `cli`.
    pub source: Option<String>,
    /// `ok`, or why it failed.
    pub outcome: String,
}

/// An audit entry to append (its time is the store's clock).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewAuditEntry {
    /// The API key that acted.
    pub key_id: Option<i64>,
    /// Its name.
    pub key_name: Option<String>,
    /// Its role.
    pub role: Option<String>,
    /// What was done.
    pub action: String,
    /// To what.
    pub target: String,
    /// From where.
    pub source: Option<String>,
    /// `ok`, or why it failed.
    pub outcome: String,
}

/// What makes a webhook delivery the same delivery, remembered until `expires_at` so that a
/// repeat is recognised (see [`Store::request_sync`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeenDelivery {
    /// The sending system.
    pub system: String,
    /// What identifies the delivery.
    pub key: DeliveryKey,
    /// When the delivery is forgotten (a repeat after that is a new delivery).
    pub expires_at: DateTime<Utc>,
}

/// How a webhook delivery is recognised when it comes again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeliveryKey {
    /// The id the sender gave the delivery, with a fingerprint of the records it names. A
    /// repeat queues nothing: it is answered [`Accepted::Duplicate`].
    Id {
        /// The sender's delivery id.
        id: String,
        /// Identifies what the delivery asked for, so a reused id can be told apart.
        fingerprint: String,
    },
    /// The signature (hex) of a delivery sent without an id. A repeat is never refused: a
    /// notice carries no data, so each of its records joins the read already waiting for it,
    /// or is queued again when none waits (the record may have changed since).
    Signature(String),
}

/// The answer to [`Store::request_sync`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Accepted {
    /// Queued; the tracking ids (= queue item ids), in the order of the items. For a repeated
    /// signature, an id may be that of a waiting read the record joined.
    Queued(Vec<i64>),
    /// The delivery id was accepted before and is still remembered: nothing was queued.
    Duplicate {
        /// The first delivery's tracking ids.
        tracking_ids: Vec<i64>,
        /// The first delivery's fingerprint.
        fingerprint: String,
    },
}

/// A tracked request to sync one record (API trigger or webhook notice).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncRequest {
    /// The tracking id: the id of the queue item it created.
    pub id: i64,
    /// The flow.
    pub flow: String,
    /// The record's source id.
    pub source_id: String,
    /// What asked for it (`api`, `webhook`).
    pub trigger: String,
    /// When it was accepted.
    pub requested_at: DateTime<Utc>,
}

/// What became of a tracked sync request: the raw facts, which the server turns into a state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncRequestState {
    /// The request.
    pub request: SyncRequest,
    /// Its queue item, while it waits or is retried.
    pub queued: Option<QueueItem>,
    /// The newest ledger entry of the record (same flow and source id) since the request.
    pub ledger: Option<LedgerEntry>,
    /// The record's dead letter if it was opened or updated since the request.
    pub dead_letter: Option<DeadLetter>,
}

/// A tracked sync request and when its record reached the target: the facts per-record
/// latency is computed from ([`Store::request_latencies`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestLatency {
    /// The request (its `requested_at` is when it was accepted and queued).
    pub request: SyncRequest,
    /// The time of the first ledger entry of the record since the request whose outcome
    /// leaves the target up to date (`created`, `updated`, `unchanged`, `deleted`): the
    /// engine stamps it after the target accepted the write. `None`: not (yet) delivered.
    pub done_at: Option<DateTime<Utc>>,
    /// Its queue item is still waiting (or being retried).
    pub queued: bool,
}

/// Ferry's state store. See the crate docs.
#[async_trait]
pub trait Store: Send + Sync + Debug {
    /// Creates or upgrades the schema. Idempotent.
    async fn migrate(&self) -> Result<()>;

    /// The flow's cursor.
    async fn cursor(&self, flow: &str) -> Result<Option<String>>;
    /// Forgets the flow's cursor (the next read starts from the beginning).
    async fn reset_cursor(&self, flow: &str) -> Result<()>;

    /// xref rows of these source ids (missing ids are absent from the map).
    async fn xrefs(&self, flow: &str, source_ids: &[String]) -> Result<HashMap<String, Xref>>;
    /// The xref row of each of these business keys in `flow` (missing keys are absent). When
    /// several source records share a key, the one updated last wins.
    async fn xrefs_by_keys(&self, flow: &str, keys: &[String]) -> Result<HashMap<String, Xref>>;
    /// xref rows whose business key is `key` (one per flow that knows it), across flows when
    /// `flow` is `None`.
    async fn xrefs_by_key(&self, flow: Option<&str>, key: &str) -> Result<Vec<Xref>>;

    /// Claims `flow` for the caller's runs: the flow's epoch goes up by one and is returned.
    /// Every commit carrying an older epoch is refused from then on ([`Commit::epoch`]). On
    /// PostgreSQL a commit holds the flow's epoch row shared until it ends, so a claim waits
    /// for a commit in flight (even one a dead process left running) and the cursor read
    /// after the claim already includes it; a commit that starts after the claim is refused.
    async fn claim_flow(&self, flow: &str) -> Result<u64>;

    /// Applies one batch atomically (refused whole when its epoch is stale).
    async fn commit(&self, flow: &str, commit: &Commit) -> Result<()>;
    /// Snapshot polling: up to `limit` source ids of `flow` seen in an earlier pass than
    /// `pass` and not since (candidates for deletion), in id order. Records never read by a
    /// snapshot pass, and records already found deleted, are not candidates.
    async fn unseen(&self, flow: &str, pass: u64, limit: usize) -> Result<Vec<String>>;

    /// Adds work items; returns their ids.
    async fn enqueue(&self, items: &[NewQueueItem]) -> Result<Vec<i64>>;
    /// Leases up to `max` available items of `flow` for `lease`, oldest first, never two of the
    /// same source id at once (per-key order) and never one leased by someone else.
    async fn lease(&self, flow: &str, max: usize, lease: Duration) -> Result<Vec<QueueItem>>;
    /// Gives a leased item back for a later try: attempts + 1, available at `at`.
    async fn retry_later(&self, id: i64, at: DateTime<Utc>, error: &str) -> Result<()>;
    /// Ends every lease held on `flow`'s items (used when shutting down: the work is requeued).
    async fn release_leases(&self, flow: &str) -> Result<u64>;
    /// Ends the leases of processes on this machine that are gone (killed or crashed while
    /// working a batch), so their items are worked at once rather than when the leases
    /// expire. Leases of other machines are left to expire. Returns the items released.
    async fn release_orphaned_leases(&self) -> Result<u64>;
    /// Items waiting (leased or not), for one flow or all.
    async fn queue_depth(&self, flow: Option<&str>) -> Result<u64>;
    /// When the oldest item waiting in `flow`'s queue was first enqueued (a retried item
    /// keeps its first time), or `None` when the queue is empty: how far behind the flow is.
    async fn queue_oldest(&self, flow: &str) -> Result<Option<DateTime<Utc>>>;

    /// Dead letters matching the filter, newest first.
    async fn dead_letters(&self, filter: &DeadLetterFilter) -> Result<Vec<DeadLetter>>;
    /// One dead letter.
    async fn dead_letter(&self, id: i64) -> Result<Option<DeadLetter>>;
    /// The live (open, or replayed and queued) dead letter of each of these source ids of
    /// `flow` that has one (a record has one at most), by source id: how reconciliation tells
    /// a known failure from drift.
    async fn live_dead_letters(
        &self,
        flow: &str,
        source_ids: &[String],
    ) -> Result<HashMap<String, DeadLetter>>;
    /// Marks an open dead letter replayed and enqueues it, in one transaction (with `payload`
    /// as the record to use, when an operator edited it). Returns the queue item id.
    async fn replay_dead_letter(
        &self,
        id: i64,
        trigger: &str,
        payload: Option<Value>,
    ) -> Result<i64>;
    /// Marks an open dead letter skipped and records it in the ledger.
    async fn skip_dead_letter(&self, id: i64, trigger: &str) -> Result<()>;

    /// Two-way sync: the agreed values of these keys in `pair` (missing keys are absent).
    async fn baselines(
        &self,
        pair: &str,
        keys: &[String],
    ) -> Result<HashMap<String, Map<String, Value>>>;
    /// Conflicts matching the filter, newest first.
    async fn conflicts(&self, filter: &ConflictFilter) -> Result<Vec<Conflict>>;
    /// One conflict.
    async fn conflict(&self, id: i64) -> Result<Option<Conflict>>;
    /// Marks an open conflict resolved with the operator's pick, replaces the key's baseline
    /// and appends the ledger entry, in one transaction. `NotFound` when the conflict does not
    /// exist or is not open.
    async fn resolve_conflict(&self, id: i64, resolution: &ConflictResolution) -> Result<Conflict>;

    /// Ledger entries of a business key or source id, oldest first (all flows when `None`).
    async fn ledger(&self, flow: Option<&str>, key_or_id: &str) -> Result<Vec<LedgerEntry>>;
    /// The latest ledger entries, newest first (one flow, or all when `None`): at most
    /// `limit`, with ids below `before` when given (the next page starts below the last id).
    async fn recent_ledger(
        &self,
        flow: Option<&str>,
        limit: u32,
        before: Option<i64>,
    ) -> Result<Vec<LedgerEntry>>;

    /// Records the start of a run; returns its id.
    async fn start_run(&self, flow: &str, trigger: &str) -> Result<i64>;
    /// Records the end of a run. An idle run ([`RunStats::is_idle`], no error) that follows
    /// idle runs of the same flow and trigger is folded into their row: that row is deleted
    /// and this one takes its start and its count plus one ([`Run::idle_runs`]), so polls
    /// that find nothing leave one row, newest id, however many there are.
    async fn finish_run(&self, run_id: i64, stats: &RunStats, error: Option<&str>) -> Result<()>;
    /// The state of each flow the store knows of (flows with no state are absent).
    async fn flow_states(&self) -> Result<Vec<FlowState>>;
    /// Runs of one flow (or all), newest first, at most `limit`.
    async fn runs(&self, flow: Option<&str>, limit: u32) -> Result<Vec<Run>>;

    /// Retention: looks at the next `batch` rows of `table` after id `after` (in id order)
    /// and deletes those older than `before` that nothing needs any more (see [`Retained`]
    /// for what is kept). One short transaction per call, so pruning never holds the store
    /// for long; call again from [`Pruned::next`] until it is `None`.
    async fn prune(
        &self,
        table: Retained,
        before: DateTime<Utc>,
        after: i64,
        batch: u32,
    ) -> Result<Pruned>;

    /// Records the start of a reconciliation of `flow`; returns its id.
    async fn start_reconciliation(&self, flow: &str, trigger: &str) -> Result<i64>;
    /// Records how a reconciliation ended.
    async fn finish_reconciliation(&self, id: i64, end: &ReconciliationEnd) -> Result<()>;
    /// Reconciliations of one flow (or all), newest first, at most `limit`, without their
    /// reports.
    async fn reconciliations(&self, flow: Option<&str>, limit: u32) -> Result<Vec<Reconciliation>>;
    /// One reconciliation with its report (`None`: no such id).
    async fn reconciliation(&self, id: i64) -> Result<Option<Reconciliation>>;

    /// Accepts requests to sync single records: in one transaction, remembers `delivery` (when
    /// given), enqueues the items and records them as tracked requests. A delivery seen before
    /// and not expired: with a [`DeliveryKey::Id`], nothing is queued and the answer is
    /// [`Accepted::Duplicate`]; with a [`DeliveryKey::Signature`], each item joins the record's
    /// waiting read (a tracked webhook item nobody has leased yet) when there is one, and is
    /// queued otherwise. Forgets expired deliveries on the way (old requests go with
    /// retention: [`Retained::SyncRequests`]).
    async fn request_sync(
        &self,
        items: &[NewQueueItem],
        delivery: Option<&SeenDelivery>,
    ) -> Result<Accepted>;
    /// A tracked request and what became of it (`None`: unknown or forgotten id).
    async fn sync_request(&self, id: i64) -> Result<Option<SyncRequestState>>;
    /// The latest tracked requests (one flow, or all when `None`), newest first, at most
    /// `limit`, each with the time its record was delivered, if it was.
    async fn request_latencies(
        &self,
        flow: Option<&str>,
        limit: u32,
    ) -> Result<Vec<RequestLatency>>;

    /// Stores a new API key.
    async fn create_api_key(&self, key: &NewApiKey) -> Result<ApiKey>;
    /// Every API key, revoked ones included, oldest first.
    async fn api_keys(&self) -> Result<Vec<ApiKey>>;
    /// The key whose token hashes to `token_hash` (revoked or not).
    async fn api_key_by_hash(&self, token_hash: &str) -> Result<Option<ApiKey>>;
    /// Revokes a key (revoking it again keeps the first time); returns it.
    async fn revoke_api_key(&self, id: i64) -> Result<ApiKey>;

    /// Appends an entry to the audit log; returns its id.
    async fn record_audit(&self, entry: &NewAuditEntry) -> Result<i64>;
    /// Audit entries, newest first: at most `limit`, older than id `before` when given.
    async fn audit_log(&self, limit: u32, before: Option<i64>) -> Result<Vec<AuditEntry>>;
}
