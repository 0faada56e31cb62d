//! The SQL implementations of [`Store`](crate::Store): [`SqliteStore`] (rusqlite) and
//! [`PgStore`] (sqlx).
//!
//! # How the two backends share code
//!
//! The schema ([`MIGRATIONS`]) and the SQL text (`queries.rs`) are written once, with `$n`
//! placeholders and `INSERT … ON CONFLICT … DO UPDATE`, which both databases accept (the SQLite
//! store rewrites `$n` to the numbered `?n` before preparing). The row types and their
//! conversions below are shared too. What differs is how each backend drives its database:
//!
//! - **SQLite** (`sqlite.rs`) runs on rusqlite: one writer thread owns the write connection and
//!   executes whole operations (a [`Commit`](crate::Commit) is one `BEGIN IMMEDIATE` transaction
//!   of cached prepared statements executed once per row); reads run on a few `query_only`
//!   connections beside it (WAL lets them), via `spawn_blocking`. Every statement is a direct C
//!   call: no per-statement channel round trip as with sqlx's SQLite driver.
//! - **PostgreSQL** (`postgres.rs`) runs on sqlx with a connection pool, multi-row statements
//!   (one network round trip per chunk) and arrays bound as one parameter; leasing adds
//!   `FOR UPDATE SKIP LOCKED` so several processes share the queue.
//!
//! # Schema
//!
//! All tables are prefixed `ferry_` (`ferry_meta`, `ferry_cursors`, `ferry_xref`, `ferry_ledger`,
//! `ferry_dead_letters`, `ferry_queue`, `ferry_runs`; for the server `ferry_api_keys`,
//! `ferry_audit`, `ferry_webhook_signatures`, `ferry_webhook_deliveries`, `ferry_sync_requests`,
//! `ferry_reconciliations`; for two-way pairs `ferry_baselines`, `ferry_conflicts`), so Ferry
//! can share an existing
//! database; on PostgreSQL they live in the connection's current schema (set
//! `options=-csearch_path%3Dferry` in the URL to use a dedicated schema). Timestamps are
//! `BIGINT` epoch milliseconds, JSON is
//! `TEXT`, every integer is `BIGINT`. `ferry_meta.schema_version` records the applied migrations;
//! add a new entry to [`MIGRATIONS`] to change the schema.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::{
    Accepted, DeadLetter, DeadLetterState, LedgerEntry, Outcome, QueueItem, Result, Run, RunStats,
    Store, StoreError, Xref,
};

#[macro_use]
mod queries;
mod postgres;
mod sqlite;

pub use postgres::PgStore;
pub use sqlite::SqliteStore;

/// Opens the store at `url` and brings its schema up to date.
///
/// - `sqlite://path/to/ferry.db` (file and parent directory are created when missing),
///   `sqlite::memory:` for a private in-memory store (tests);
/// - `postgres://user@host/db` or `postgresql://…`.
pub async fn open(url: &str) -> Result<Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        let store = SqliteStore::open(url).await?;
        store.migrate().await?;
        Ok(Arc::new(store))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let store = PgStore::connect(url).await?;
        store.migrate().await?;
        Ok(Arc::new(store))
    } else {
        Err(StoreError::UnsupportedUrl(url.to_string()))
    }
}

/// A fresh token naming one store instance's queue leases, so `release_leases` ends only ours:
/// `host/pid-nanos`. The host and pid let a later process on the same machine tell that the
/// holder is gone ([`orphaned`]).
fn lease_owner() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{}/{}-{nanos:x}", host_name(), std::process::id())
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().replace('/', "_"))
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown-host".into())
}

/// Whether a lease owner (`host/pid-nanos`) is a process of this machine that no longer runs,
/// so its leases can be ended at once instead of when they expire. Anything else (another
/// machine, an unreadable owner, a platform without `/proc`) is presumed alive: its leases
/// expire on their own.
fn orphaned(owner: &str, me: &str) -> bool {
    let Some((host, rest)) = owner.split_once('/') else {
        return false;
    };
    let Some(pid) = rest
        .split_once('-')
        .and_then(|(pid, _)| pid.parse::<u32>().ok())
    else {
        return false;
    };
    if owner == me || host != host_name() || pid == std::process::id() {
        return false;
    }
    if !cfg!(target_os = "linux") {
        return false;
    }
    // Gone, or a zombie (dead, not yet reaped): `/proc/<pid>/stat`'s third field is `Z`.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, fields)| fields.starts_with('Z')),
    }
}

/// Checks the applied schema version against [`MIGRATIONS`]; returns the version.
fn check_version(current: Option<i64>) -> Result<usize> {
    let current = usize::try_from(current.unwrap_or(0))
        .map_err(|_| StoreError::Corrupt("negative schema version".into()))?;
    let latest = MIGRATIONS.len();
    if current > latest {
        return Err(StoreError::Corrupt(format!(
            "schema version {current} is newer than this Ferry knows ({latest})"
        )));
    }
    Ok(current)
}

/// The error for a dead letter that is missing (`state` `None`) or not open.
fn not_open(id: i64, state: Option<String>, action: &str) -> StoreError {
    StoreError::NotFound(match state {
        None => format!("dead letter {id} does not exist"),
        Some(state) => {
            format!("dead letter {id} is {state}; only an open dead letter can be {action}")
        }
    })
}

/// Schema migrations; `ferry_meta.schema_version` = number of entries applied.
/// `{id}` is replaced by the backend's auto-assigned `BIGINT` primary key column definition;
/// a step starting `{pg} ` runs on PostgreSQL only.
pub(crate) const MIGRATIONS: &[&[&str]] = &[
    &[
        "CREATE TABLE IF NOT EXISTS ferry_cursors (
        flow TEXT PRIMARY KEY,
        cursor TEXT,
        updated_at BIGINT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS ferry_xref (
        flow TEXT NOT NULL,
        source_id TEXT NOT NULL,
        key TEXT,
        target_id TEXT,
        read_hash TEXT,
        written_hash TEXT,
        source_version TEXT,
        updated_at BIGINT NOT NULL,
        PRIMARY KEY (flow, source_id))",
        "CREATE INDEX IF NOT EXISTS ferry_xref_key ON ferry_xref (key)",
        "CREATE TABLE IF NOT EXISTS ferry_ledger (
        id {id},
        flow TEXT NOT NULL,
        source_id TEXT NOT NULL,
        key TEXT,
        run_id BIGINT,
        at BIGINT NOT NULL,
        trigger TEXT NOT NULL,
        outcome TEXT NOT NULL,
        attempt BIGINT NOT NULL,
        target_id TEXT,
        before_hash TEXT,
        after_hash TEXT,
        source_version TEXT,
        error_kind TEXT,
        error TEXT)",
        "CREATE INDEX IF NOT EXISTS ferry_ledger_key ON ferry_ledger (key)",
        "CREATE INDEX IF NOT EXISTS ferry_ledger_source ON ferry_ledger (source_id, flow)",
        "CREATE TABLE IF NOT EXISTS ferry_dead_letters (
        id {id},
        flow TEXT NOT NULL,
        source_id TEXT NOT NULL,
        key TEXT,
        payload TEXT NOT NULL,
        error_kind TEXT NOT NULL,
        error TEXT NOT NULL,
        attempts BIGINT NOT NULL,
        state TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL)",
        "CREATE INDEX IF NOT EXISTS ferry_dead_letters_state ON ferry_dead_letters (flow, state)",
        "CREATE INDEX IF NOT EXISTS ferry_dead_letters_source ON ferry_dead_letters (flow, source_id)",
        "CREATE TABLE IF NOT EXISTS ferry_queue (
        id {id},
        flow TEXT NOT NULL,
        source_id TEXT NOT NULL,
        trigger TEXT NOT NULL,
        payload TEXT,
        attempts BIGINT NOT NULL DEFAULT 0,
        available_at BIGINT NOT NULL,
        lease_until BIGINT,
        lease_owner TEXT,
        last_error TEXT,
        dead_letter_id BIGINT,
        enqueued_at BIGINT NOT NULL)",
        "CREATE INDEX IF NOT EXISTS ferry_queue_available ON ferry_queue (flow, available_at)",
        "CREATE INDEX IF NOT EXISTS ferry_queue_source ON ferry_queue (flow, source_id, id)",
        "CREATE TABLE IF NOT EXISTS ferry_runs (
        id {id},
        flow TEXT NOT NULL,
        trigger TEXT NOT NULL,
        started_at BIGINT NOT NULL,
        finished_at BIGINT,
        read BIGINT NOT NULL DEFAULT 0,
        created BIGINT NOT NULL DEFAULT 0,
        updated BIGINT NOT NULL DEFAULT 0,
        unchanged BIGINT NOT NULL DEFAULT 0,
        failed BIGINT NOT NULL DEFAULT 0,
        error TEXT)",
        "CREATE INDEX IF NOT EXISTS ferry_runs_flow ON ferry_runs (flow, id)",
    ],
    &[
        // Snapshot polling: the last pass that read each record (NULL: none, or deleted since).
        "ALTER TABLE ferry_xref ADD COLUMN seen_pass BIGINT",
        "CREATE INDEX IF NOT EXISTS ferry_xref_seen ON ferry_xref (flow, seen_pass)",
        "ALTER TABLE ferry_runs ADD COLUMN deleted BIGINT NOT NULL DEFAULT 0",
    ],
    &[
        // The server (issue 4): API keys (hashed tokens), the audit log of operator actions,
        // webhook signatures seen (refused when replayed, forgotten once stale), and tracked
        // sync requests (the tracking id is the queue item's id, kept after the item is done).
        "CREATE TABLE IF NOT EXISTS ferry_api_keys (
        id {id},
        name TEXT NOT NULL,
        role TEXT NOT NULL,
        token_hash TEXT NOT NULL UNIQUE,
        created_at BIGINT NOT NULL,
        revoked_at BIGINT)",
        "CREATE TABLE IF NOT EXISTS ferry_audit (
        id {id},
        at BIGINT NOT NULL,
        key_id BIGINT,
        key_name TEXT,
        role TEXT,
        action TEXT NOT NULL,
        target TEXT NOT NULL,
        source TEXT,
        outcome TEXT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS ferry_webhook_signatures (
        system TEXT NOT NULL,
        signature TEXT NOT NULL,
        expires_at BIGINT NOT NULL,
        PRIMARY KEY (system, signature))",
        "CREATE INDEX IF NOT EXISTS ferry_webhook_signatures_expiry \
        ON ferry_webhook_signatures (expires_at)",
        "CREATE TABLE IF NOT EXISTS ferry_sync_requests (
        id BIGINT PRIMARY KEY,
        flow TEXT NOT NULL,
        source_id TEXT NOT NULL,
        trigger TEXT NOT NULL,
        requested_at BIGINT NOT NULL)",
        "CREATE INDEX IF NOT EXISTS ferry_sync_requests_at ON ferry_sync_requests (requested_at)",
    ],
    &[
        // Document state machines (issue 5): the state last written for each record, the
        // previous state of its next transition. NULL: none recorded.
        "ALTER TABLE ferry_xref ADD COLUMN state TEXT",
    ],
    &[
        // The console's recent ledger of a flow, and the per-record latency of its requests.
        "CREATE INDEX IF NOT EXISTS ferry_ledger_flow ON ferry_ledger (flow, id)",
        "CREATE INDEX IF NOT EXISTS ferry_sync_requests_flow ON ferry_sync_requests (flow, id)",
    ],
    &[
        // Two-way sync (issue 5): the values both systems of a pair last agreed on, per
        // business key; the review queue of conflicts; run counts of what was not propagated.
        "CREATE TABLE IF NOT EXISTS ferry_baselines (
        pair TEXT NOT NULL,
        key TEXT NOT NULL,
        fields TEXT NOT NULL,
        updated_at BIGINT NOT NULL,
        PRIMARY KEY (pair, key))",
        "CREATE TABLE IF NOT EXISTS ferry_conflicts (
        id {id},
        pair TEXT NOT NULL,
        flow TEXT NOT NULL,
        key TEXT NOT NULL,
        source_id TEXT,
        target_id TEXT,
        fields TEXT NOT NULL,
        source_values TEXT NOT NULL,
        target_values TEXT NOT NULL,
        base_values TEXT NOT NULL,
        source_at BIGINT,
        target_at BIGINT,
        state TEXT NOT NULL,
        pick TEXT,
        resolved_by TEXT,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL)",
        "CREATE INDEX IF NOT EXISTS ferry_conflicts_key ON ferry_conflicts (pair, key, state)",
        "CREATE INDEX IF NOT EXISTS ferry_conflicts_state ON ferry_conflicts (state, id)",
        "CREATE INDEX IF NOT EXISTS ferry_ledger_outcome ON ferry_ledger (outcome, at)",
        "ALTER TABLE ferry_runs ADD COLUMN rejected BIGINT NOT NULL DEFAULT 0",
        "ALTER TABLE ferry_runs ADD COLUMN conflicts BIGINT NOT NULL DEFAULT 0",
    ],
    &[
        // Reconciliations (`ferry reconcile`, the API, the console, the schedule): counts
        // (0 until finished), `clean` 1/0 (NULL while running or failed), the report as JSON.
        "CREATE TABLE IF NOT EXISTS ferry_reconciliations (
        id {id},
        flow TEXT NOT NULL,
        trigger TEXT NOT NULL,
        started_at BIGINT NOT NULL,
        finished_at BIGINT,
        clean BIGINT,
        source_records BIGINT NOT NULL DEFAULT 0,
        target_records BIGINT NOT NULL DEFAULT 0,
        matched BIGINT NOT NULL DEFAULT 0,
        equal BIGINT NOT NULL DEFAULT 0,
        differing BIGINT NOT NULL DEFAULT 0,
        missing_in_target BIGINT NOT NULL DEFAULT 0,
        missing_in_source BIGINT NOT NULL DEFAULT 0,
        duplicate_keys_source BIGINT NOT NULL DEFAULT 0,
        duplicate_keys_target BIGINT NOT NULL DEFAULT 0,
        unmapped BIGINT NOT NULL DEFAULT 0,
        report TEXT,
        error TEXT)",
        "CREATE INDEX IF NOT EXISTS ferry_reconciliations_flow ON ferry_reconciliations (flow, id)",
    ],
    &[
        // Fewer index entries per record written (bulk loads write one xref and one ledger
        // row per record): the snapshot index holds only snapshot sources' rows, and the
        // outcome index only the `not_owner` reports the status counts.
        "DROP INDEX IF EXISTS ferry_xref_seen",
        "CREATE INDEX IF NOT EXISTS ferry_xref_seen ON ferry_xref (flow, seen_pass) \
         WHERE seen_pass IS NOT NULL",
        "DROP INDEX IF EXISTS ferry_ledger_outcome",
        "CREATE INDEX IF NOT EXISTS ferry_ledger_not_owner ON ferry_ledger (at) \
         WHERE outcome = 'not_owner'",
    ],
    &[
        // PostgreSQL compares the ids and keys that every record's xref and ledger rows are
        // indexed by byte by byte, as SQLite does: under a database's default collation
        // (`en_US.UTF-8`, even `C.UTF-8` before PostgreSQL 17) each index comparison goes
        // through the locale, which made a bulk load's store writes measurably slower.
        "{pg} ALTER TABLE ferry_xref ALTER COLUMN flow TYPE TEXT COLLATE \"C\", \
         ALTER COLUMN source_id TYPE TEXT COLLATE \"C\", ALTER COLUMN key TYPE TEXT COLLATE \"C\"",
        "{pg} ALTER TABLE ferry_ledger ALTER COLUMN flow TYPE TEXT COLLATE \"C\", \
         ALTER COLUMN source_id TYPE TEXT COLLATE \"C\", ALTER COLUMN key TYPE TEXT COLLATE \"C\"",
        "{pg} ALTER TABLE ferry_queue ALTER COLUMN flow TYPE TEXT COLLATE \"C\", \
         ALTER COLUMN source_id TYPE TEXT COLLATE \"C\"",
        "{pg} ALTER TABLE ferry_dead_letters ALTER COLUMN flow TYPE TEXT COLLATE \"C\", \
         ALTER COLUMN source_id TYPE TEXT COLLATE \"C\", ALTER COLUMN key TYPE TEXT COLLATE \"C\"",
    ],
    &[
        // Fencing (issue 13): each flow's epoch, raised by every claim; a commit carrying an
        // older one is refused, so a dead or overtaken process cannot record a batch late.
        "CREATE TABLE IF NOT EXISTS ferry_flow_epochs (
        flow TEXT PRIMARY KEY,
        epoch BIGINT NOT NULL,
        holder TEXT,
        claimed_at BIGINT NOT NULL)",
        // One live (open or replayed) dead letter per record: fold the duplicates earlier
        // versions opened into the newest (attempts added, queue items pointed at it).
        "UPDATE ferry_dead_letters SET attempts = (SELECT SUM(o.attempts) \
         FROM ferry_dead_letters o WHERE o.flow = ferry_dead_letters.flow \
         AND o.source_id = ferry_dead_letters.source_id AND o.state IN ('open', 'replayed')) \
         WHERE state IN ('open', 'replayed') AND id = (SELECT MAX(o.id) \
         FROM ferry_dead_letters o WHERE o.flow = ferry_dead_letters.flow \
         AND o.source_id = ferry_dead_letters.source_id AND o.state IN ('open', 'replayed'))",
        "UPDATE ferry_queue SET dead_letter_id = (SELECT MAX(o.id) FROM ferry_dead_letters d \
         JOIN ferry_dead_letters o ON o.flow = d.flow AND o.source_id = d.source_id \
         AND o.state IN ('open', 'replayed') WHERE d.id = ferry_queue.dead_letter_id) \
         WHERE dead_letter_id IN (SELECT id FROM ferry_dead_letters \
         WHERE state IN ('open', 'replayed'))",
        "DELETE FROM ferry_dead_letters WHERE state IN ('open', 'replayed') AND id < \
         (SELECT MAX(o.id) FROM ferry_dead_letters o WHERE o.flow = ferry_dead_letters.flow \
         AND o.source_id = ferry_dead_letters.source_id AND o.state IN ('open', 'replayed'))",
        // Records asked for by id that the source does not have.
        "ALTER TABLE ferry_runs ADD COLUMN not_found BIGINT NOT NULL DEFAULT 0",
        "CREATE UNIQUE INDEX IF NOT EXISTS ferry_dead_letters_live \
         ON ferry_dead_letters (flow, source_id) WHERE state IN ('open', 'replayed')",
    ],
    &[
        // Webhook delivery ids (issue 13): a delivery sent again with the same id within the
        // window is answered with the first one's tracking ids (JSON list) and queues nothing;
        // the fingerprint of the records it named tells a reused id apart.
        "CREATE TABLE IF NOT EXISTS ferry_webhook_deliveries (
        system TEXT NOT NULL,
        delivery_id TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        tracking_ids TEXT NOT NULL,
        expires_at BIGINT NOT NULL,
        PRIMARY KEY (system, delivery_id))",
        "CREATE INDEX IF NOT EXISTS ferry_webhook_deliveries_expiry \
        ON ferry_webhook_deliveries (expires_at)",
    ],
    &[
        // Idle runs (issue 13): consecutive runs of a flow and trigger that did nothing share
        // one row, which counts them.
        "ALTER TABLE ferry_runs ADD COLUMN idle_runs BIGINT NOT NULL DEFAULT 0",
    ],
    &[
        // Known failures (issue 13): source records a reconciliation found missing or
        // different in the target, or unmappable, that wait in the dead-letter ledger; counted
        // apart from the drift nobody knows about.
        "ALTER TABLE ferry_reconciliations ADD COLUMN dead_lettered BIGINT NOT NULL DEFAULT 0",
    ],
];

/// Prefix of a migration step only PostgreSQL runs (SQLite has neither the syntax nor the
/// need: it compares text byte by byte already).
const PG_ONLY: &str = "{pg} ";

/// A migration step as `backend` runs it, `{id}` expanded; `None` when it is not for it.
fn migration_step(step: &str, postgres: bool, id: &str) -> Option<String> {
    match step.strip_prefix(PG_ONLY) {
        Some(pg) => postgres.then(|| pg.replace("{id}", id)),
        None => Some(step.replace("{id}", id)),
    }
}

// ---------------------------------------------------------------------------------------------
// Conversions shared by both backends.

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

fn to_time(ms: i64) -> Result<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms)
        .ok_or_else(|| StoreError::Corrupt(format!("timestamp {ms} out of range")))
}

fn to_u32(v: i64, what: &str) -> Result<u32> {
    u32::try_from(v).map_err(|_| StoreError::Corrupt(format!("{what} {v} out of range")))
}

fn to_u64(v: i64, what: &str) -> Result<u64> {
    u64::try_from(v).map_err(|_| StoreError::Corrupt(format!("{what} {v} out of range")))
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// The [`FlowState`](crate::FlowState) of `flow` in `states`, created empty when missing.
fn flow_entry(
    states: &mut std::collections::BTreeMap<String, crate::FlowState>,
    flow: String,
) -> &mut crate::FlowState {
    states
        .entry(flow.clone())
        .or_insert_with(|| crate::FlowState {
            flow,
            cursor: None,
            records: 0,
            queued: 0,
            dead_letters: 0,
            conflicts: 0,
            not_owner: 0,
            last_run: None,
        })
}

fn json_text(v: &Value) -> String {
    v.to_string()
}

/// What a backend's `remember_delivery` found, in the transaction of a sync request.
enum Remembered {
    /// A delivery not seen before (now remembered).
    New,
    /// A signature seen before: its records join their waiting reads.
    RepeatedSignature,
    /// A delivery id seen before: this is the answer, nothing is queued.
    Duplicate(Accepted),
}

/// The tracking ids of a remembered webhook delivery, as stored (a JSON list).
fn tracking_ids_text(ids: &[i64]) -> String {
    json_text(&serde_json::json!(ids))
}

/// The answer to a delivery id seen before, from its stored fingerprint and tracking ids.
fn duplicate(fingerprint: String, ids: &str) -> Result<Accepted> {
    let tracking_ids = serde_json::from_str(ids).map_err(|e| {
        StoreError::Corrupt(format!("tracking ids `{ids}` of a webhook delivery: {e}"))
    })?;
    Ok(Accepted::Duplicate {
        tracking_ids,
        fingerprint,
    })
}

fn parse_json(s: &str) -> Result<Value> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(format!("JSON payload: {e}")))
}

#[derive(sqlx::FromRow)]
struct XrefRow {
    flow: String,
    source_id: String,
    key: Option<String>,
    target_id: Option<String>,
    read_hash: Option<String>,
    written_hash: Option<String>,
    source_version: Option<String>,
    updated_at: i64,
    state: Option<String>,
}

impl XrefRow {
    fn into_xref(self) -> Result<Xref> {
        Ok(Xref {
            flow: self.flow,
            source_id: self.source_id,
            key: self.key,
            target_id: self.target_id,
            read_hash: self.read_hash,
            written_hash: self.written_hash,
            source_version: self.source_version,
            updated_at: to_time(self.updated_at)?,
            state: self.state,
        })
    }
}

#[derive(sqlx::FromRow)]
struct LedgerRow {
    id: i64,
    flow: String,
    source_id: String,
    key: Option<String>,
    run_id: Option<i64>,
    at: i64,
    trigger: String,
    outcome: String,
    attempt: i64,
    target_id: Option<String>,
    before_hash: Option<String>,
    after_hash: Option<String>,
    source_version: Option<String>,
    error_kind: Option<String>,
    error: Option<String>,
}

impl LedgerRow {
    fn into_entry(self) -> Result<LedgerEntry> {
        Ok(LedgerEntry {
            id: self.id,
            flow: self.flow,
            source_id: self.source_id,
            key: self.key,
            run_id: self.run_id,
            at: to_time(self.at)?,
            trigger: self.trigger,
            outcome: Outcome::parse(&self.outcome)
                .ok_or_else(|| StoreError::Corrupt(format!("ledger outcome `{}`", self.outcome)))?,
            attempt: to_u32(self.attempt, "attempt")?,
            target_id: self.target_id,
            before_hash: self.before_hash,
            after_hash: self.after_hash,
            source_version: self.source_version,
            error_kind: self.error_kind,
            error: self.error,
        })
    }
}

#[derive(sqlx::FromRow)]
struct DeadLetterRow {
    id: i64,
    flow: String,
    source_id: String,
    key: Option<String>,
    payload: String,
    error_kind: String,
    error: String,
    attempts: i64,
    state: String,
    created_at: i64,
    updated_at: i64,
}

impl DeadLetterRow {
    fn into_dead_letter(self) -> Result<DeadLetter> {
        Ok(DeadLetter {
            id: self.id,
            flow: self.flow,
            source_id: self.source_id,
            key: self.key,
            payload: parse_json(&self.payload)?,
            error_kind: self.error_kind,
            error: self.error,
            attempts: to_u32(self.attempts, "attempts")?,
            state: DeadLetterState::parse(&self.state).ok_or_else(|| {
                StoreError::Corrupt(format!("dead letter state `{}`", self.state))
            })?,
            created_at: to_time(self.created_at)?,
            updated_at: to_time(self.updated_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
struct QueueRow {
    id: i64,
    flow: String,
    source_id: String,
    trigger: String,
    payload: Option<String>,
    attempts: i64,
    available_at: i64,
    last_error: Option<String>,
    dead_letter_id: Option<i64>,
}

impl QueueRow {
    fn into_item(self) -> Result<QueueItem> {
        Ok(QueueItem {
            id: self.id,
            flow: self.flow,
            source_id: self.source_id,
            trigger: self.trigger,
            payload: self.payload.as_deref().map(parse_json).transpose()?,
            attempts: to_u32(self.attempts, "attempts")?,
            available_at: to_time(self.available_at)?,
            last_error: self.last_error,
            dead_letter_id: self.dead_letter_id,
        })
    }
}

#[derive(sqlx::FromRow)]
struct RunRow {
    id: i64,
    flow: String,
    trigger: String,
    started_at: i64,
    finished_at: Option<i64>,
    read: i64,
    created: i64,
    updated: i64,
    unchanged: i64,
    failed: i64,
    error: Option<String>,
    deleted: i64,
    rejected: i64,
    conflicts: i64,
    not_found: i64,
    idle_runs: i64,
}

impl RunRow {
    fn into_run(self) -> Result<Run> {
        Ok(Run {
            id: self.id,
            flow: self.flow,
            trigger: self.trigger,
            started_at: to_time(self.started_at)?,
            finished_at: self.finished_at.map(to_time).transpose()?,
            stats: RunStats {
                read: to_u64(self.read, "read")?,
                created: to_u64(self.created, "created")?,
                updated: to_u64(self.updated, "updated")?,
                unchanged: to_u64(self.unchanged, "unchanged")?,
                failed: to_u64(self.failed, "failed")?,
                deleted: to_u64(self.deleted, "deleted")?,
                rejected: to_u64(self.rejected, "rejected")?,
                conflicts: to_u64(self.conflicts, "conflicts")?,
                not_found: to_u64(self.not_found, "not_found")?,
            },
            error: self.error,
            idle_runs: to_u64(self.idle_runs, "idle_runs")?,
        })
    }
}

/// The run a finished idle run takes over (see [`Store::finish_run`]), from what
/// `RUN_AND_PREVIOUS_OF_ITS_KIND` found before it (id, start, idle runs it stands for; NULLs:
/// none): that run's id, start and count when it is a row of idle runs.
fn idle_predecessor(previous: (Option<i64>, Option<i64>, Option<i64>)) -> Option<(i64, i64, i64)> {
    match previous {
        (Some(id), Some(first_start), Some(idle)) if idle > 0 => Some((id, first_start, idle)),
        _ => None,
    }
}

/// What a prune batch holds (`prune_batch!`): its last id, the oldest time among its rows
/// and how many rows it has.
type PruneBatch = (Option<i64>, Option<i64>, i64);

/// What a prune batch of `size` rows reports, from what it held and the rows it deleted: the
/// walk goes on after it while it was full and held rows older than `before_ms`.
fn pruned(held: PruneBatch, size: u32, before_ms: i64, deleted: u64) -> crate::Pruned {
    let (last, oldest, count) = held;
    let full = count >= i64::from(size);
    crate::Pruned {
        deleted,
        next: last.filter(|_| full && oldest.is_some_and(|t| t < before_ms)),
    }
}

// ---------------------------------------------------------------------------------------------
// Two-way sync rows.

#[derive(sqlx::FromRow)]
struct ConflictRow {
    id: i64,
    pair: String,
    flow: String,
    key: String,
    source_id: Option<String>,
    target_id: Option<String>,
    fields: String,
    source_values: String,
    target_values: String,
    base_values: String,
    source_at: Option<i64>,
    target_at: Option<i64>,
    state: String,
    pick: Option<String>,
    resolved_by: Option<String>,
    created_at: i64,
    updated_at: i64,
}

fn parse_map(s: &str) -> Result<serde_json::Map<String, Value>> {
    match parse_json(s)? {
        Value::Object(m) => Ok(m),
        other => Err(StoreError::Corrupt(format!(
            "expected a JSON object, found {other}"
        ))),
    }
}

impl ConflictRow {
    fn into_conflict(self) -> Result<crate::Conflict> {
        let fields: Vec<String> = serde_json::from_str(&self.fields)
            .map_err(|e| StoreError::Corrupt(format!("conflict fields: {e}")))?;
        Ok(crate::Conflict {
            id: self.id,
            state: crate::ConflictState::parse(&self.state)
                .ok_or_else(|| StoreError::Corrupt(format!("conflict state `{}`", self.state)))?,
            found: crate::NewConflict {
                pair: self.pair,
                flow: self.flow,
                key: self.key,
                source_id: self.source_id,
                target_id: self.target_id,
                fields,
                source_values: parse_map(&self.source_values)?,
                target_values: parse_map(&self.target_values)?,
                base_values: parse_map(&self.base_values)?,
                source_at: self.source_at.map(to_time).transpose()?,
                target_at: self.target_at.map(to_time).transpose()?,
            },
            pick: self.pick,
            resolved_by: self.resolved_by,
            created_at: to_time(self.created_at)?,
            updated_at: to_time(self.updated_at)?,
        })
    }
}

/// The text columns of a conflict, as stored: fields, source, target and base values.
fn conflict_texts(c: &crate::NewConflict) -> [String; 4] {
    [
        serde_json::to_string(&c.fields).unwrap_or_else(|_| "[]".into()),
        Value::Object(c.source_values.clone()).to_string(),
        Value::Object(c.target_values.clone()).to_string(),
        Value::Object(c.base_values.clone()).to_string(),
    ]
}

// ---------------------------------------------------------------------------------------------
// Server rows (API keys, audit log, tracked sync requests).

#[derive(sqlx::FromRow)]
struct ApiKeyRow {
    id: i64,
    name: String,
    role: String,
    token_hash: String,
    created_at: i64,
    revoked_at: Option<i64>,
}

impl ApiKeyRow {
    fn into_key(self) -> Result<crate::ApiKey> {
        Ok(crate::ApiKey {
            id: self.id,
            name: self.name,
            role: self.role,
            token_hash: self.token_hash,
            created_at: to_time(self.created_at)?,
            revoked_at: self.revoked_at.map(to_time).transpose()?,
        })
    }
}

#[derive(sqlx::FromRow)]
struct AuditRow {
    id: i64,
    at: i64,
    key_id: Option<i64>,
    key_name: Option<String>,
    role: Option<String>,
    action: String,
    target: String,
    source: Option<String>,
    outcome: String,
}

impl AuditRow {
    fn into_entry(self) -> Result<crate::AuditEntry> {
        Ok(crate::AuditEntry {
            id: self.id,
            at: to_time(self.at)?,
            key_id: self.key_id,
            key_name: self.key_name,
            role: self.role,
            action: self.action,
            target: self.target,
            source: self.source,
            outcome: self.outcome,
        })
    }
}

#[derive(sqlx::FromRow)]
struct SyncRequestRow {
    id: i64,
    flow: String,
    source_id: String,
    trigger: String,
    requested_at: i64,
}

impl SyncRequestRow {
    fn into_request(self) -> Result<crate::SyncRequest> {
        Ok(crate::SyncRequest {
            id: self.id,
            flow: self.flow,
            source_id: self.source_id,
            trigger: self.trigger,
            requested_at: to_time(self.requested_at)?,
        })
    }
}

/// How far back `ferry status` counts `not_owner` reports.
const NOT_OWNER_WINDOW_MS: i64 = 24 * 3600 * 1000;

#[derive(sqlx::FromRow)]
struct RequestLatencyRow {
    id: i64,
    flow: String,
    source_id: String,
    trigger: String,
    requested_at: i64,
    done_at: Option<i64>,
    queued: bool,
}

impl RequestLatencyRow {
    fn into_latency(self) -> Result<crate::RequestLatency> {
        Ok(crate::RequestLatency {
            request: SyncRequestRow {
                id: self.id,
                flow: self.flow,
                source_id: self.source_id,
                trigger: self.trigger,
                requested_at: self.requested_at,
            }
            .into_request()?,
            done_at: self.done_at.map(to_time).transpose()?,
            queued: self.queued,
        })
    }
}

/// A listing's `before` bound (ledger, audit log): no bound is "older than the largest id".
fn id_before(before: Option<i64>) -> i64 {
    before.unwrap_or(i64::MAX)
}

// ---------------------------------------------------------------------------------------------
// Reconciliations.

#[derive(sqlx::FromRow)]
struct ReconciliationRow {
    id: i64,
    flow: String,
    trigger: String,
    started_at: i64,
    finished_at: Option<i64>,
    clean: Option<i64>,
    source_records: i64,
    target_records: i64,
    matched: i64,
    equal: i64,
    differing: i64,
    missing_in_target: i64,
    missing_in_source: i64,
    duplicate_keys_source: i64,
    duplicate_keys_target: i64,
    unmapped: i64,
    dead_lettered: i64,
    report: Option<String>,
    error: Option<String>,
}

impl ReconciliationRow {
    fn into_reconciliation(self) -> Result<crate::Reconciliation> {
        let counts = match self.clean {
            None => None,
            Some(_) => Some(crate::ReconcileCounts {
                source: to_u64(self.source_records, "source records")?,
                target: to_u64(self.target_records, "target records")?,
                matched: to_u64(self.matched, "matched")?,
                equal: to_u64(self.equal, "equal")?,
                differing: to_u64(self.differing, "differing")?,
                missing_in_target: to_u64(self.missing_in_target, "missing in target")?,
                missing_in_source: to_u64(self.missing_in_source, "missing in source")?,
                duplicate_keys_source: to_u64(self.duplicate_keys_source, "duplicate keys")?,
                duplicate_keys_target: to_u64(self.duplicate_keys_target, "duplicate keys")?,
                unmapped: to_u64(self.unmapped, "unmapped")?,
                dead_lettered: to_u64(self.dead_lettered, "dead lettered")?,
            }),
        };
        Ok(crate::Reconciliation {
            id: self.id,
            flow: self.flow,
            trigger: self.trigger,
            started_at: to_time(self.started_at)?,
            finished_at: self.finished_at.map(to_time).transpose()?,
            counts,
            clean: self.clean.map(|c| c != 0),
            report: self.report.as_deref().map(parse_json).transpose()?,
            error: self.error,
        })
    }
}

/// The values `RECONCILIATION_FINISH` binds after the id and the time: `clean`, the eleven
/// counts, the report text and the error.
struct ReconciliationValues {
    clean: Option<i64>,
    counts: [i64; 11],
    report: Option<String>,
    error: Option<String>,
}

impl ReconciliationValues {
    fn of(end: &crate::ReconciliationEnd) -> Self {
        match end {
            crate::ReconciliationEnd::Finished { counts: c, report } => Self {
                clean: Some(i64::from(c.clean())),
                counts: [
                    c.source,
                    c.target,
                    c.matched,
                    c.equal,
                    c.differing,
                    c.missing_in_target,
                    c.missing_in_source,
                    c.duplicate_keys_source,
                    c.duplicate_keys_target,
                    c.unmapped,
                    c.dead_lettered,
                ]
                .map(to_i64),
                report: Some(json_text(report)),
                error: None,
            },
            crate::ReconciliationEnd::Failed(error) => Self {
                clean: None,
                counts: [0; 11],
                report: None,
                error: Some(error.clone()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_is_orphaned_only_when_its_local_process_is_gone() {
        let me = lease_owner();
        let host = host_name();
        // A process that ran and was reaped: its pid names no process now.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        if cfg!(target_os = "linux") {
            assert!(orphaned(&format!("{host}/{dead}-1a2b"), &me));
        }
        // This process, another machine, and owners of an older or unknown form: left alone.
        assert!(!orphaned(&me, &me));
        assert!(!orphaned(&format!("{host}/{}-99", std::process::id()), &me));
        assert!(!orphaned(&format!("elsewhere-{host}/{dead}-1a2b"), &me));
        assert!(!orphaned(&format!("{dead}-1a2b"), &me));
        assert!(!orphaned("", &me));
    }
}
