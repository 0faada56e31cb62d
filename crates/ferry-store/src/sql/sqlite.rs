//! SQLite (rusqlite): the embedded default.
//!
//! # Threads
//!
//! - **One writer thread** owns the read-write connection. Every write operation is a closure
//!   sent to it over a channel; it runs the whole operation (one `BEGIN IMMEDIATE` transaction)
//!   and answers on a `oneshot`. So a 1,000-record [`Commit`] is one hand-off, and its 2,000+
//!   statements are direct calls into SQLite on cached prepared statements.
//! - **Group commit**: sync requests (webhooks, the API's sync trigger) are a few rows each and
//!   come in bursts. Those waiting together share one transaction, each in its own savepoint
//!   (a failing one undoes only its own rows), and every caller is answered after the shared
//!   commit — one WAL commit for up to 256 requests instead of one each.
//! - **Reads** run under `spawn_blocking` on a connection checked out of a small pool of
//!   `query_only` connections (opened on demand, at most [`MAX_IDLE_READERS`] kept); WAL lets
//!   them read beside the writer. A private in-memory database has one connection only, so
//!   there reads run on the writer thread.
//!
//! # SQL
//!
//! The statements are the shared text of `queries.rs`. SQLite reads `$1` as a *named*
//! parameter whose index is its order of appearance, so [`numbered`] rewrites `$n` to `?n`
//! (the parameter numbered n) before preparing. Where PostgreSQL binds a whole list as one
//! array, SQLite executes the one-element form of the statement once per element.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, TransactionBehavior, params};
use serde_json::Value;
use tokio::sync::oneshot;

use super::queries::{self as q};
use super::{
    ApiKeyRow, AuditRow, ConflictRow, DeadLetterRow, LedgerRow, MIGRATIONS, NOT_OWNER_WINDOW_MS,
    PruneBatch, QueueRow, ReconciliationRow, ReconciliationValues, Remembered, RequestLatencyRow,
    RunRow, SyncRequestRow, XrefRow, check_version, conflict_texts, duplicate, flow_entry,
    id_before, idle_predecessor, json_text, lease_owner, migration_step, not_open, now_ms,
    parse_map, pruned, to_i64, to_time, to_u64, tracking_ids_text,
};
use crate::{
    Accepted, ApiKey, AuditEntry, Commit, Conflict, ConflictFilter, ConflictResolution, DbError,
    DeadLetter, DeadLetterFilter, DeadLetterState, DeliveryKey, FlowState, LedgerEntry, NewApiKey,
    NewAuditEntry, NewQueueItem, Outcome, Pruned, QueueItem, Reconciliation, ReconciliationEnd,
    RequestLatency, Result, Retained, Run, RunStats, SeenDelivery, Store, StoreError,
    SyncRequestState, Xref,
};

/// Auto-assigned `BIGINT` primary key (replaces `{id}` in [`MIGRATIONS`]).
const ID: &str = "INTEGER PRIMARY KEY AUTOINCREMENT";
const LEASE: &str = q::lease!("");
const XREF_OF: &str = q::xrefs_of!("source_id = $2");
const LIVE_DEAD_LETTER_OF: &str = q::live_dead_letters_of!("source_id = $2");
const XREF_OF_KEY: &str = q::XREFS_BY_KEY_IN_FLOW_OLDEST_FIRST;
const RESOLVE_DELIVERED: &str = q::resolve_delivered!("source_id = $2");
const ACK: &str = q::ack!("id = $1");
const MARK_SEEN: &str = q::mark_seen!("source_id = $3");
const MARK_GONE: &str = q::mark_gone!("source_id = $2");
/// SQLite's one writer serialises claims and commits: no row lock needed.
const FLOW_EPOCH: &str = q::flow_epoch!("");

/// How long a connection waits for another process's lock before failing with `SQLITE_BUSY`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Idle read connections kept open.
const MAX_IDLE_READERS: usize = 4;
/// Prepared statements cached per connection (every statement of this file fits).
const STATEMENT_CACHE: usize = 96;

/// Rewrites the `$n` placeholders of the shared SQL to SQLite's numbered `?n`.
///
/// The shared SQL has no `$` inside string literals, so every `$` followed by a digit is a
/// placeholder.
fn numbered(sql: &str) -> Cow<'_, str> {
    if !sql.contains('$') {
        return Cow::Borrowed(sql);
    }
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('?');
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// A cached prepared statement for the shared SQL text `sql`.
fn prepare<'c>(conn: &'c Connection, sql: &str) -> rusqlite::Result<rusqlite::CachedStatement<'c>> {
    conn.prepare_cached(&numbered(sql))
}

/// One operation for the writer thread.
enum Job {
    /// Runs on its own (its own transaction, or none).
    Alone(Box<dyn FnOnce(&mut Connection) + Send>),
    /// A small write that may share one transaction with the others waiting (group commit).
    Grouped(GroupedJob),
}

/// A grouped write: runs inside a savepoint of the group's transaction (or learns that the
/// transaction could not begin) and returns how to answer once the group's commit is known.
type GroupedJob =
    Box<dyn FnOnce(std::result::Result<&rusqlite::Transaction<'_>, &DbError>) -> Answer + Send>;

/// Sends a grouped write's answer, given the outcome of the group's commit.
type Answer = Box<dyn FnOnce(std::result::Result<(), &DbError>) + Send>;

/// The most grouped writes one transaction takes.
const MAX_GROUP: usize = 256;

/// A copy of a group's failure for each of its writes.
fn group_failure(e: &DbError) -> StoreError {
    StoreError::Database(DbError::GroupCommit {
        message: e.to_string(),
        transient: e.is_transient(),
    })
}

/// Where the database is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Location {
    File(PathBuf),
    /// A private in-memory database (tests): it lives in the writer's connection only.
    Memory,
}

/// Parses `sqlite://path`, `sqlite:path`, `sqlite::memory:` (a `?query` is ignored, except
/// `mode=memory`).
fn location(url: &str) -> Result<Location> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .ok_or_else(|| StoreError::UnsupportedUrl(url.to_string()))?;
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path.is_empty() && query.is_empty() {
        return Err(StoreError::UnsupportedUrl(url.to_string()));
    }
    if path.is_empty() || path == ":memory:" || query.split('&').any(|p| p == "mode=memory") {
        return Ok(Location::Memory);
    }
    Ok(Location::File(PathBuf::from(path)))
}

/// The SQLite store. See the module docs.
///
/// Build one with [`crate::open`] or [`SqliteStore::open`]. Cloning is cheap and shares the
/// writer thread and the read connections; the writer thread ends when the last clone is
/// dropped.
#[derive(Clone)]
pub struct SqliteStore {
    location: Location,
    writer: mpsc::Sender<Job>,
    readers: Arc<Mutex<Vec<Connection>>>,
    /// Identifies this store instance's queue leases, so `release_leases` ends only ours.
    owner: String,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("location", &self.location)
            .field("owner", &self.owner)
            .finish_non_exhaustive()
    }
}

/// Settings every connection gets.
fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(())
}

fn open_writer(location: &Location) -> Result<Connection> {
    let conn = match location {
        Location::Memory => Connection::open_in_memory()?,
        Location::File(path) => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
                && !dir.exists()
            {
                std::fs::create_dir_all(dir).map_err(DbError::Io)?;
            }
            Connection::open(path)?
        }
    };
    configure(&conn)?;
    if matches!(location, Location::File(_)) {
        // journal_mode answers with the mode now in force.
        let _mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    }
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    Ok(conn)
}

fn open_reader(path: &Path) -> Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    configure(&conn)?;
    conn.pragma_update(None, "query_only", true)?;
    Ok(conn)
}

/// The writer thread: runs jobs until the last store clone is dropped.
///
/// Grouped jobs (webhook and API sync requests: a few rows each, many at once) waiting
/// together share one transaction, each in its own savepoint, and are all answered after its
/// commit: one WAL commit for many requests instead of one each.
fn writer_loop(mut conn: Connection, jobs: mpsc::Receiver<Job>) {
    let mut next: Option<Job> = None;
    loop {
        let job = match next.take() {
            Some(job) => job,
            None => match jobs.recv() {
                Ok(job) => job,
                Err(_) => return,
            },
        };
        match job {
            Job::Alone(job) => {
                // A panicking job drops its reply sender (its caller gets an error) and its
                // open transaction (rolled back); the writer carries on.
                if catch_unwind(AssertUnwindSafe(|| job(&mut conn))).is_err() {
                    tracing::error!("state store: an SQLite write operation panicked");
                }
            }
            Job::Grouped(first) => {
                let mut group = vec![first];
                while group.len() < MAX_GROUP {
                    match jobs.try_recv() {
                        Ok(Job::Grouped(job)) => group.push(job),
                        Ok(other) => {
                            next = Some(other);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                run_group(&mut conn, group);
            }
        }
    }
}

/// Runs grouped jobs in one transaction and answers each after its commit.
fn run_group(conn: &mut Connection, group: Vec<GroupedJob>) {
    let tx = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(e) => {
            let e = DbError::Sqlite(e);
            for job in group {
                job(Err(&e))(Err(&e));
            }
            return;
        }
    };
    let mut answers = Vec::with_capacity(group.len());
    for job in group {
        match catch_unwind(AssertUnwindSafe(|| job(Ok(&tx)))) {
            Ok(answer) => answers.push(answer),
            Err(_) => {
                // The panicking job's caller gets an error from its dropped sender; the
                // savepoint state is unknown, so nothing of the group is kept.
                tracing::error!("state store: an SQLite write operation panicked");
                drop(tx);
                let e = DbError::WorkerLost;
                for answer in answers {
                    answer(Err(&e));
                }
                return;
            }
        }
    }
    match tx.commit() {
        Ok(()) => answers.into_iter().for_each(|answer| answer(Ok(()))),
        Err(e) => {
            let e = DbError::Sqlite(e);
            answers.into_iter().for_each(|answer| answer(Err(&e)));
        }
    }
}

impl SqliteStore {
    /// Opens a SQLite database (`sqlite://path/to/ferry.db`, `sqlite::memory:`), creating the
    /// file and its directory when missing, and starts its writer thread. Does not migrate:
    /// see [`crate::open`].
    pub async fn open(url: &str) -> Result<Self> {
        let location = location(url)?;
        // The writer first (it creates the file and sets WAL), then one reader, so the first
        // read does not pay for opening a connection.
        let (conn, reader) = {
            let location = location.clone();
            tokio::task::spawn_blocking(move || {
                let conn = open_writer(&location)?;
                let reader = match &location {
                    Location::File(path) => Some(open_reader(path)?),
                    Location::Memory => None,
                };
                Ok::<_, StoreError>((conn, reader))
            })
            .await
            .map_err(|_| DbError::WorkerLost)??
        };
        let (writer, jobs) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("ferry-sqlite-writer".into())
            .spawn(move || writer_loop(conn, jobs))
            .map_err(DbError::Io)?;
        Ok(SqliteStore {
            location,
            writer,
            readers: Arc::new(Mutex::new(reader.into_iter().collect())),
            owner: lease_owner(),
        })
    }

    /// Runs `f` on the writer thread.
    async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = Job::Alone(Box::new(move |conn| {
            let _ = reply.send(f(conn));
        }));
        self.writer.send(job).map_err(|_| DbError::WorkerLost)?;
        answer.await.map_err(|_| DbError::WorkerLost)?
    }

    /// Runs `f` in a savepoint of a transaction it may share with other small writes waiting
    /// at the same moment (group commit; see [`writer_loop`]). Answers after that transaction
    /// committed; when `f` fails, only its own writes are rolled back.
    async fn grouped<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Transaction<'_>) -> Result<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel::<Result<T>>();
        let job = Job::Grouped(Box::new(move |tx| -> Answer {
            let tx = match tx {
                Ok(tx) => tx,
                Err(e) => {
                    let _ = reply.send(Err(group_failure(e)));
                    return Box::new(|_| {});
                }
            };
            let saved = tx.execute_batch("SAVEPOINT ferry_grouped");
            let out = saved
                .map_err(StoreError::from)
                .and_then(|()| f(tx))
                .and_then(|v| {
                    tx.execute_batch("RELEASE ferry_grouped")?;
                    Ok(v)
                });
            match out {
                Ok(v) => Box::new(move |committed| {
                    let _ = reply.send(committed.map(|()| v).map_err(group_failure));
                }),
                Err(e) => {
                    // Undo this job's writes only; the group goes on.
                    let _ = tx.execute_batch("ROLLBACK TO ferry_grouped; RELEASE ferry_grouped");
                    let _ = reply.send(Err(e));
                    Box::new(|_| {})
                }
            }
        }));
        self.writer.send(job).map_err(|_| DbError::WorkerLost)?;
        answer.await.map_err(|_| DbError::WorkerLost)?
    }

    /// Runs `f` in one write transaction (`BEGIN IMMEDIATE`: take the write lock up front; a
    /// deferred transaction that reads first and writes later can fail with `SQLITE_BUSY` when
    /// it upgrades, whatever the busy timeout says). Commits when `f` succeeds; rolls back
    /// otherwise.
    async fn transaction<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Transaction<'_>) -> Result<T> + Send + 'static,
    {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let out = f(&tx)?;
            tx.commit()?;
            Ok(out)
        })
        .await
    }

    /// Runs `f` on a read connection.
    async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let Location::File(path) = &self.location else {
            return self.write(move |conn| f(conn)).await;
        };
        let path = path.clone();
        let readers = self.readers.clone();
        tokio::task::spawn_blocking(move || {
            let idle = readers.lock().unwrap_or_else(|e| e.into_inner()).pop();
            let conn = match idle {
                Some(conn) => conn,
                None => open_reader(&path)?,
            };
            let out = f(&conn);
            let mut idle = readers.lock().unwrap_or_else(|e| e.into_inner());
            if idle.len() < MAX_IDLE_READERS {
                idle.push(conn);
            }
            out
        })
        .await
        .map_err(|_| DbError::WorkerLost)?
    }
}

// --- rows -----------------------------------------------------------------------------------------

fn xref_row(r: &Row<'_>) -> rusqlite::Result<XrefRow> {
    Ok(XrefRow {
        flow: r.get(0)?,
        source_id: r.get(1)?,
        key: r.get(2)?,
        target_id: r.get(3)?,
        read_hash: r.get(4)?,
        written_hash: r.get(5)?,
        source_version: r.get(6)?,
        updated_at: r.get(7)?,
        state: r.get(8)?,
    })
}

fn ledger_row(r: &Row<'_>) -> rusqlite::Result<LedgerRow> {
    Ok(LedgerRow {
        id: r.get(0)?,
        flow: r.get(1)?,
        source_id: r.get(2)?,
        key: r.get(3)?,
        run_id: r.get(4)?,
        at: r.get(5)?,
        trigger: r.get(6)?,
        outcome: r.get(7)?,
        attempt: r.get(8)?,
        target_id: r.get(9)?,
        before_hash: r.get(10)?,
        after_hash: r.get(11)?,
        source_version: r.get(12)?,
        error_kind: r.get(13)?,
        error: r.get(14)?,
    })
}

fn dead_letter_row(r: &Row<'_>) -> rusqlite::Result<DeadLetterRow> {
    Ok(DeadLetterRow {
        id: r.get(0)?,
        flow: r.get(1)?,
        source_id: r.get(2)?,
        key: r.get(3)?,
        payload: r.get(4)?,
        error_kind: r.get(5)?,
        error: r.get(6)?,
        attempts: r.get(7)?,
        state: r.get(8)?,
        created_at: r.get(9)?,
        updated_at: r.get(10)?,
    })
}

fn queue_row(r: &Row<'_>) -> rusqlite::Result<QueueRow> {
    Ok(QueueRow {
        id: r.get(0)?,
        flow: r.get(1)?,
        source_id: r.get(2)?,
        trigger: r.get(3)?,
        payload: r.get(4)?,
        attempts: r.get(5)?,
        available_at: r.get(6)?,
        last_error: r.get(7)?,
        dead_letter_id: r.get(8)?,
    })
}

fn run_row(r: &Row<'_>) -> rusqlite::Result<RunRow> {
    Ok(RunRow {
        id: r.get(0)?,
        flow: r.get(1)?,
        trigger: r.get(2)?,
        started_at: r.get(3)?,
        finished_at: r.get(4)?,
        read: r.get(5)?,
        created: r.get(6)?,
        updated: r.get(7)?,
        unchanged: r.get(8)?,
        failed: r.get(9)?,
        error: r.get(10)?,
        deleted: r.get(11)?,
        rejected: r.get(12)?,
        conflicts: r.get(13)?,
        not_found: r.get(14)?,
        idle_runs: r.get(15)?,
    })
}

fn conflict_row(r: &Row<'_>) -> rusqlite::Result<ConflictRow> {
    Ok(ConflictRow {
        id: r.get(0)?,
        pair: r.get(1)?,
        flow: r.get(2)?,
        key: r.get(3)?,
        source_id: r.get(4)?,
        target_id: r.get(5)?,
        fields: r.get(6)?,
        source_values: r.get(7)?,
        target_values: r.get(8)?,
        base_values: r.get(9)?,
        source_at: r.get(10)?,
        target_at: r.get(11)?,
        state: r.get(12)?,
        pick: r.get(13)?,
        resolved_by: r.get(14)?,
        created_at: r.get(15)?,
        updated_at: r.get(16)?,
    })
}

/// Appends one ledger entry.
fn insert_ledger(tx: &Connection, flow: &str, e: &LedgerEntry) -> Result<()> {
    prepare(tx, q::LEDGER_INSERT_ROW)?.execute(params![
        flow,
        e.source_id,
        e.key,
        e.run_id,
        e.at.timestamp_millis(),
        e.trigger,
        e.outcome.as_str(),
        i64::from(e.attempt),
        e.target_id,
        e.before_hash,
        e.after_hash,
        e.source_version,
        e.error_kind,
        e.error
    ])?;
    Ok(())
}

/// Replaces a key's baseline.
fn set_baseline(tx: &Connection, b: &crate::BaselineUpdate, now: i64) -> Result<()> {
    prepare(tx, q::BASELINE_SET)?.execute(params![
        b.pair,
        b.key,
        Value::Object(b.fields.clone()).to_string(),
        now
    ])?;
    Ok(())
}

/// All rows of `sql` with `params`, mapped by `map`.
fn query_all<T, P: rusqlite::Params>(
    conn: &Connection,
    sql: &str,
    params: P,
    map: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
) -> Result<Vec<T>> {
    let mut stmt = prepare(conn, sql)?;
    let rows = stmt.query_map(params, map)?;
    Ok(rows.collect::<rusqlite::Result<Vec<T>>>()?)
}

/// The error for a dead letter that is missing or not open.
fn dead_letter_not_open(conn: &Connection, id: i64, action: &str) -> Result<StoreError> {
    let state: Option<String> = prepare(conn, q::DEAD_LETTER_STATE)?
        .query_row([id], |r| r.get(0))
        .optional()?;
    Ok(not_open(id, state, action))
}

/// Refuses a commit whose claim on the flow is not the flow's current one.
fn check_fence(tx: &Connection, flow: &str, epoch: Option<u64>) -> Result<()> {
    let Some(ours) = epoch else {
        return Ok(());
    };
    let current: Option<i64> = prepare(tx, FLOW_EPOCH)?
        .query_row([flow], |r| r.get(0))
        .optional()?;
    let current = to_u64(current.unwrap_or(0), "flow epoch")?;
    if current == ours {
        Ok(())
    } else {
        Err(StoreError::Fenced {
            flow: flow.to_owned(),
            ours,
            current,
        })
    }
}

/// Applies one [`Commit`] inside the caller's transaction (nothing when it is fenced off).
fn apply_commit(tx: &Connection, flow: &str, commit: &Commit) -> Result<()> {
    check_fence(tx, flow, commit.epoch)?;
    let now = now_ms();
    if let Some(cursor) = &commit.cursor {
        prepare(tx, q::CURSOR_SET)?.execute(params![flow, cursor, now])?;
    }
    if !commit.xrefs.is_empty() {
        // Executed in order, so the last update of a source id wins.
        let mut stmt = prepare(tx, q::XREF_UPSERT_ROW)?;
        for x in &commit.xrefs {
            stmt.execute(params![
                flow,
                x.source_id,
                x.key,
                x.target_id,
                x.read_hash,
                x.written_hash,
                x.source_version,
                now
            ])?;
        }
    }
    if !commit.states.is_empty() {
        // In order, so the last state of a source id wins.
        let mut stmt = prepare(tx, q::XREF_SET_STATE)?;
        for s in &commit.states {
            stmt.execute(params![flow, s.source_id, s.state])?;
        }
    }
    if let Some(seen) = &commit.seen {
        let mut stmt = prepare(tx, MARK_SEEN)?;
        for id in &seen.ids {
            stmt.execute(params![flow, to_i64(seen.pass), id])?;
        }
    }
    if !commit.gone.is_empty() {
        let mut stmt = prepare(tx, MARK_GONE)?;
        for id in &commit.gone {
            stmt.execute(params![flow, id])?;
        }
    }
    for e in &commit.ledger {
        insert_ledger(tx, flow, e)?;
    }
    // Before inserting this batch's dead letters: those are not delivered.
    if !commit.delivered.is_empty() {
        let mut stmt = prepare(tx, RESOLVE_DELIVERED)?;
        for source_id in &commit.delivered {
            stmt.execute(params![flow, source_id, now])?;
        }
    }
    if !commit.dead_letters.is_empty() {
        // In order, so the last failure of a record is the one its dead letter shows.
        let mut stmt = prepare(tx, q::DEAD_LETTER_UPSERT_ROW)?;
        for d in &commit.dead_letters {
            stmt.execute(params![
                flow,
                d.source_id,
                d.key,
                json_text(&d.payload),
                d.error_kind,
                d.error,
                i64::from(d.attempts),
                DeadLetterState::Open.as_str(),
                now,
                now
            ])?;
        }
    }
    if !commit.acked.is_empty() {
        let mut stmt = prepare(tx, ACK)?;
        for id in &commit.acked {
            stmt.execute([id])?;
        }
    }
    for b in &commit.baselines {
        set_baseline(tx, b, now)?;
    }
    for c in &commit.conflicts {
        let [fields, source, target, base] = conflict_texts(c);
        let source_at = c.source_at.map(|t| t.timestamp_millis());
        let target_at = c.target_at.map(|t| t.timestamp_millis());
        let refreshed = prepare(tx, q::CONFLICT_REFRESH)?.execute(params![
            c.pair,
            c.key,
            c.flow,
            c.source_id,
            c.target_id,
            fields,
            source,
            target,
            base,
            source_at,
            target_at,
            now
        ])?;
        if refreshed == 0 {
            prepare(tx, q::CONFLICT_INSERT)?.execute(params![
                c.pair,
                c.key,
                c.flow,
                c.source_id,
                c.target_id,
                fields,
                source,
                target,
                base,
                source_at,
                target_at,
                now
            ])?;
        }
    }
    Ok(())
}

/// Forgets expired deliveries of `d`'s kind, then remembers `d` unless it is known (see
/// [`Remembered`]).
fn remember_delivery(
    tx: &rusqlite::Transaction<'_>,
    d: &SeenDelivery,
    now: i64,
) -> Result<Remembered> {
    let expires_at = d.expires_at.timestamp_millis();
    match &d.key {
        DeliveryKey::Signature(signature) => {
            prepare(tx, q::SIGNATURES_PURGE)?.execute([now])?;
            let fresh = prepare(tx, q::SIGNATURE_INSERT)?
                .execute(params![d.system, signature, expires_at])?;
            Ok(if fresh == 0 {
                Remembered::RepeatedSignature
            } else {
                Remembered::New
            })
        }
        DeliveryKey::Id { id, fingerprint } => {
            prepare(tx, q::DELIVERIES_PURGE)?.execute([now])?;
            let fresh = prepare(tx, q::DELIVERY_INSERT)?.execute(params![
                d.system,
                id,
                fingerprint,
                expires_at
            ])?;
            if fresh == 1 {
                return Ok(Remembered::New);
            }
            let (fingerprint, ids): (String, String) = prepare(tx, q::DELIVERY_GET)?
                .query_row(params![d.system, id], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(Remembered::Duplicate(duplicate(fingerprint, &ids)?))
        }
    }
}

/// Queues `item` as a tracked request; returns its id (the tracking id).
fn enqueue_tracked(tx: &rusqlite::Transaction<'_>, item: &NewQueueItem, now: i64) -> Result<i64> {
    let id: i64 = prepare(tx, q::QUEUE_INSERT_ROW)?.query_row(
        params![
            item.flow,
            item.source_id,
            item.trigger,
            item.payload.as_ref().map(json_text),
            now,
            item.dead_letter_id
        ],
        |r| r.get(0),
    )?;
    prepare(tx, q::SYNC_REQUEST_INSERT)?.execute(params![
        id,
        item.flow,
        item.source_id,
        item.trigger,
        now
    ])?;
    Ok(id)
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    async fn migrate(&self) -> Result<()> {
        self.transaction(|tx| {
            tx.execute(q::META_CREATE, [])?;
            let current: Option<i64> = tx.query_row(q::META_VERSION, [], |r| r.get(0))?;
            let current = check_version(current)?;
            let latest = MIGRATIONS.len();
            if current < latest {
                for steps in &MIGRATIONS[current..] {
                    for step in steps.iter().filter_map(|s| migration_step(s, false, ID)) {
                        tx.execute(&step, [])?;
                    }
                }
                tx.execute(q::META_CLEAR, [])?;
                tx.execute(&numbered(q::META_SET), [latest as i64])?;
                tracing::info!(
                    backend = "sqlite",
                    from = current,
                    to = latest,
                    "state store schema migrated"
                );
            }
            Ok(())
        })
        .await
    }

    async fn cursor(&self, flow: &str) -> Result<Option<String>> {
        let flow = flow.to_owned();
        self.read(move |conn| {
            let cursor: Option<Option<String>> = prepare(conn, q::CURSOR_GET)?
                .query_row([flow], |r| r.get(0))
                .optional()?;
            Ok(cursor.flatten())
        })
        .await
    }

    async fn reset_cursor(&self, flow: &str) -> Result<()> {
        let flow = flow.to_owned();
        self.transaction(move |tx| {
            prepare(tx, q::CURSOR_RESET)?.execute(params![flow, now_ms()])?;
            Ok(())
        })
        .await
    }

    async fn xrefs(&self, flow: &str, source_ids: &[String]) -> Result<HashMap<String, Xref>> {
        if source_ids.is_empty() {
            return Ok(HashMap::new());
        }
        let flow = flow.to_owned();
        let source_ids = source_ids.to_vec();
        self.read(move |conn| {
            // One primary-key probe per id on one prepared statement.
            let mut map = HashMap::with_capacity(source_ids.len());
            let mut stmt = prepare(conn, XREF_OF)?;
            for id in &source_ids {
                if let Some(row) = stmt.query_row([&flow, id], xref_row).optional()? {
                    let xref = row.into_xref()?;
                    map.insert(xref.source_id.clone(), xref);
                }
            }
            Ok(map)
        })
        .await
    }

    async fn xrefs_by_keys(&self, flow: &str, keys: &[String]) -> Result<HashMap<String, Xref>> {
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        let flow = flow.to_owned();
        let keys = keys.to_vec();
        self.read(move |conn| {
            // One index probe per key on one prepared statement; oldest first, so the row
            // updated last wins.
            let mut map = HashMap::with_capacity(keys.len());
            let mut stmt = prepare(conn, XREF_OF_KEY)?;
            for key in &keys {
                let rows = stmt.query_map([key, &flow], xref_row)?;
                for row in rows {
                    let xref = row?.into_xref()?;
                    map.insert(key.clone(), xref);
                }
            }
            Ok(map)
        })
        .await
    }

    async fn xrefs_by_key(&self, flow: Option<&str>, key: &str) -> Result<Vec<Xref>> {
        let flow = flow.map(str::to_owned);
        let key = key.to_owned();
        self.read(move |conn| {
            let rows = match flow {
                Some(flow) => query_all(conn, q::XREFS_BY_KEY_IN_FLOW, [key, flow], xref_row)?,
                None => query_all(conn, q::XREFS_BY_KEY, [key], xref_row)?,
            };
            rows.into_iter().map(XrefRow::into_xref).collect()
        })
        .await
    }

    async fn claim_flow(&self, flow: &str) -> Result<u64> {
        let flow = flow.to_owned();
        let holder = lease_owner();
        self.write(move |conn| {
            let epoch: i64 = prepare(conn, q::FLOW_CLAIM)?
                .query_row(params![flow, holder, now_ms()], |r| r.get(0))?;
            to_u64(epoch, "flow epoch")
        })
        .await
    }

    async fn commit(&self, flow: &str, commit: &Commit) -> Result<()> {
        // The writer thread needs its own copy.
        let commit = commit.clone();
        let flow = flow.to_owned();
        self.transaction(move |tx| apply_commit(tx, &flow, &commit))
            .await
    }

    async fn unseen(&self, flow: &str, pass: u64, limit: usize) -> Result<Vec<String>> {
        let flow = flow.to_owned();
        self.read(move |conn| {
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            query_all(
                conn,
                q::XREF_UNSEEN,
                params![flow, to_i64(pass), limit],
                |r| r.get(0),
            )
        })
        .await
    }

    async fn enqueue(&self, items: &[NewQueueItem]) -> Result<Vec<i64>> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let items = items.to_vec();
        self.transaction(move |tx| {
            let now = now_ms();
            let mut stmt = prepare(tx, q::QUEUE_INSERT_ROW)?;
            let mut ids = Vec::with_capacity(items.len());
            for item in &items {
                let id: i64 = stmt.query_row(
                    params![
                        item.flow,
                        item.source_id,
                        item.trigger,
                        item.payload.as_ref().map(json_text),
                        now,
                        item.dead_letter_id
                    ],
                    |r| r.get(0),
                )?;
                ids.push(id);
            }
            Ok(ids)
        })
        .await
    }

    async fn lease(&self, flow: &str, max: usize, lease: Duration) -> Result<Vec<QueueItem>> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let flow = flow.to_owned();
        let owner = self.owner.clone();
        let rows = self
            .transaction(move |tx| {
                let now = now_ms();
                let until =
                    now.saturating_add(i64::try_from(lease.as_millis()).unwrap_or(i64::MAX));
                let max = i64::try_from(max).unwrap_or(i64::MAX);
                query_all(tx, LEASE, params![flow, now, until, owner, max], queue_row)
            })
            .await?;
        let mut items = rows
            .into_iter()
            .map(QueueRow::into_item)
            .collect::<Result<Vec<_>>>()?;
        items.sort_by_key(|i| (i.available_at, i.id));
        Ok(items)
    }

    async fn retry_later(&self, id: i64, at: DateTime<Utc>, error: &str) -> Result<()> {
        let error = error.to_owned();
        let done = self
            .transaction(move |tx| {
                Ok(prepare(tx, q::RETRY_LATER)?.execute(params![
                    id,
                    at.timestamp_millis(),
                    error
                ])?)
            })
            .await?;
        if done == 0 {
            return Err(StoreError::NotFound(format!(
                "queue item {id} does not exist"
            )));
        }
        Ok(())
    }

    async fn release_leases(&self, flow: &str) -> Result<u64> {
        let flow = flow.to_owned();
        let owner = self.owner.clone();
        let done = self
            .transaction(move |tx| {
                Ok(prepare(tx, q::RELEASE_LEASES)?.execute(params![flow, owner])?)
            })
            .await?;
        Ok(done as u64)
    }

    async fn release_orphaned_leases(&self) -> Result<u64> {
        let me = self.owner.clone();
        self.transaction(move |tx| {
            let owners = prepare(tx, q::LEASE_OWNERS)?
                .query_map([], |r| r.get::<_, String>(0))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let mut released = 0;
            for owner in owners.iter().filter(|o| super::orphaned(o, &me)) {
                released += prepare(tx, q::RELEASE_LEASES_OF)?.execute([owner])? as u64;
            }
            Ok(released)
        })
        .await
    }

    async fn queue_depth(&self, flow: Option<&str>) -> Result<u64> {
        let flow = flow.map(str::to_owned);
        let n: i64 = self
            .read(move |conn| {
                Ok(match flow {
                    Some(flow) => {
                        prepare(conn, q::QUEUE_DEPTH_OF)?.query_row([flow], |r| r.get(0))?
                    }
                    None => prepare(conn, q::QUEUE_DEPTH)?.query_row([], |r| r.get(0))?,
                })
            })
            .await?;
        to_u64(n, "queue depth")
    }

    async fn queue_oldest(&self, flow: &str) -> Result<Option<DateTime<Utc>>> {
        let flow = flow.to_owned();
        let ms: Option<i64> = self
            .read(move |conn| Ok(prepare(conn, q::QUEUE_OLDEST)?.query_row([flow], |r| r.get(0))?))
            .await?;
        ms.map(to_time).transpose()
    }

    async fn dead_letters(&self, filter: &DeadLetterFilter) -> Result<Vec<DeadLetter>> {
        let states: Vec<DeadLetterState> = if filter.states.is_empty() {
            vec![DeadLetterState::Open]
        } else {
            filter.states.clone()
        };
        let sql = q::dead_letters_listing(states.len(), filter.flow.is_some());
        let mut values: Vec<rusqlite::types::Value> = states
            .iter()
            .map(|s| rusqlite::types::Value::Text(s.as_str().to_owned()))
            .collect();
        if let Some(flow) = &filter.flow {
            values.push(rusqlite::types::Value::Text(flow.clone()));
        }
        values.push(rusqlite::types::Value::Integer(i64::from(
            filter.limit.unwrap_or(100),
        )));
        self.read(move |conn| {
            let rows = query_all(
                conn,
                &sql,
                rusqlite::params_from_iter(values),
                dead_letter_row,
            )?;
            rows.into_iter()
                .map(DeadLetterRow::into_dead_letter)
                .collect()
        })
        .await
    }

    async fn live_dead_letters(
        &self,
        flow: &str,
        source_ids: &[String],
    ) -> Result<HashMap<String, DeadLetter>> {
        if source_ids.is_empty() {
            return Ok(HashMap::new());
        }
        let flow = flow.to_owned();
        let source_ids = source_ids.to_vec();
        self.read(move |conn| {
            // One probe of the partial index `ferry_dead_letters_live` per id.
            let mut map = HashMap::new();
            let mut stmt = prepare(conn, LIVE_DEAD_LETTER_OF)?;
            for id in &source_ids {
                if let Some(row) = stmt.query_row([&flow, id], dead_letter_row).optional()? {
                    let dead_letter = row.into_dead_letter()?;
                    map.insert(dead_letter.source_id.clone(), dead_letter);
                }
            }
            Ok(map)
        })
        .await
    }

    async fn dead_letter(&self, id: i64) -> Result<Option<DeadLetter>> {
        self.read(move |conn| {
            let row = prepare(conn, q::DEAD_LETTER_GET)?
                .query_row([id], dead_letter_row)
                .optional()?;
            row.map(DeadLetterRow::into_dead_letter).transpose()
        })
        .await
    }

    async fn replay_dead_letter(
        &self,
        id: i64,
        trigger: &str,
        payload: Option<Value>,
    ) -> Result<i64> {
        let trigger = trigger.to_owned();
        self.transaction(move |tx| {
            let now = now_ms();
            let row: Option<(String, String)> = prepare(tx, q::DEAD_LETTER_MARK_REPLAYED)?
                .query_row(params![id, now], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            let Some((flow, source_id)) = row else {
                return Err(dead_letter_not_open(tx, id, "replayed")?);
            };
            let queue_id: i64 = prepare(tx, q::QUEUE_INSERT_ROW)?.query_row(
                params![
                    flow,
                    source_id,
                    trigger,
                    payload.as_ref().map(json_text),
                    now,
                    id
                ],
                |r| r.get(0),
            )?;
            Ok(queue_id)
        })
        .await
    }

    async fn skip_dead_letter(&self, id: i64, trigger: &str) -> Result<()> {
        let trigger = trigger.to_owned();
        self.transaction(move |tx| {
            let now = now_ms();
            #[allow(clippy::type_complexity)]
            let row: Option<(String, String, Option<String>, i64, String, String)> =
                prepare(tx, q::DEAD_LETTER_MARK_SKIPPED)?
                    .query_row(params![id, now], |r| {
                        Ok((
                            r.get(0)?,
                            r.get(1)?,
                            r.get(2)?,
                            r.get(3)?,
                            r.get(4)?,
                            r.get(5)?,
                        ))
                    })
                    .optional()?;
            let Some((flow, source_id, key, attempts, error_kind, error)) = row else {
                return Err(dead_letter_not_open(tx, id, "skipped")?);
            };
            prepare(tx, q::SKIP_LEDGER_INSERT)?.execute(params![
                flow,
                source_id,
                key,
                now,
                trigger,
                Outcome::Skipped.as_str(),
                attempts,
                error_kind,
                error
            ])?;
            Ok(())
        })
        .await
    }

    async fn baselines(
        &self,
        pair: &str,
        keys: &[String],
    ) -> Result<HashMap<String, serde_json::Map<String, Value>>> {
        let pair = pair.to_owned();
        let keys = keys.to_vec();
        self.read(move |conn| {
            let mut stmt = prepare(conn, q::BASELINE_GET)?;
            let mut out = HashMap::with_capacity(keys.len());
            for key in keys {
                let row: Option<(String, String)> = stmt
                    .query_row(params![pair, key], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()?;
                if let Some((key, fields)) = row {
                    out.insert(key, parse_map(&fields)?);
                }
            }
            Ok(out)
        })
        .await
    }

    async fn conflicts(&self, filter: &ConflictFilter) -> Result<Vec<Conflict>> {
        let pair = filter.pair.clone();
        let state = filter.state.map(|s| s.as_str());
        let limit = i64::from(filter.limit.unwrap_or(100));
        self.read(move |conn| {
            query_all(
                conn,
                q::CONFLICTS_LISTING,
                params![pair, state, limit],
                conflict_row,
            )?
            .into_iter()
            .map(ConflictRow::into_conflict)
            .collect()
        })
        .await
    }

    async fn conflict(&self, id: i64) -> Result<Option<Conflict>> {
        self.read(move |conn| {
            prepare(conn, q::CONFLICT_GET)?
                .query_row([id], conflict_row)
                .optional()?
                .map(ConflictRow::into_conflict)
                .transpose()
        })
        .await
    }

    async fn resolve_conflict(&self, id: i64, resolution: &ConflictResolution) -> Result<Conflict> {
        let resolution = resolution.clone();
        self.transaction(move |tx| {
            let now = now_ms();
            let done = prepare(tx, q::CONFLICT_RESOLVE)?.execute(params![
                id,
                resolution.pick,
                resolution.resolved_by,
                now
            ])?;
            let row = prepare(tx, q::CONFLICT_GET)?
                .query_row([id], conflict_row)
                .optional()?;
            let Some(row) = row else {
                return Err(StoreError::NotFound(format!(
                    "conflict {id} does not exist"
                )));
            };
            if done == 0 {
                return Err(StoreError::NotFound(format!(
                    "conflict {id} is {}; only an open conflict can be resolved",
                    row.state
                )));
            }
            set_baseline(tx, &resolution.baseline, now)?;
            insert_ledger(tx, &resolution.ledger.flow, &resolution.ledger)?;
            row.into_conflict()
        })
        .await
    }

    async fn ledger(&self, flow: Option<&str>, key_or_id: &str) -> Result<Vec<LedgerEntry>> {
        let flow = flow.map(str::to_owned);
        let key_or_id = key_or_id.to_owned();
        self.read(move |conn| {
            let rows = match flow {
                Some(flow) => query_all(conn, q::LEDGER_OF_IN_FLOW, [key_or_id, flow], ledger_row)?,
                None => query_all(conn, q::LEDGER_OF, [key_or_id], ledger_row)?,
            };
            rows.into_iter().map(LedgerRow::into_entry).collect()
        })
        .await
    }

    async fn recent_ledger(
        &self,
        flow: Option<&str>,
        limit: u32,
        before: Option<i64>,
    ) -> Result<Vec<LedgerEntry>> {
        let flow = flow.map(str::to_owned);
        let before = id_before(before);
        self.read(move |conn| {
            let rows = match flow {
                Some(flow) => query_all(
                    conn,
                    q::LEDGER_RECENT_IN_FLOW,
                    params![before, flow, limit],
                    ledger_row,
                )?,
                None => query_all(conn, q::LEDGER_RECENT, params![before, limit], ledger_row)?,
            };
            rows.into_iter().map(LedgerRow::into_entry).collect()
        })
        .await
    }

    async fn start_run(&self, flow: &str, trigger: &str) -> Result<i64> {
        let flow = flow.to_owned();
        let trigger = trigger.to_owned();
        self.transaction(move |tx| {
            Ok(prepare(tx, q::RUN_START)?
                .query_row(params![flow, trigger, now_ms()], |r| r.get(0))?)
        })
        .await
    }

    async fn finish_run(&self, run_id: i64, stats: &RunStats, error: Option<&str>) -> Result<()> {
        let stats = *stats;
        let idle = stats.is_idle() && error.is_none();
        let error = error.map(str::to_owned);
        let done = self
            .transaction(move |tx| {
                let done = prepare(tx, q::RUN_FINISH)?.execute(params![
                    run_id,
                    now_ms(),
                    to_i64(stats.read),
                    to_i64(stats.created),
                    to_i64(stats.updated),
                    to_i64(stats.unchanged),
                    to_i64(stats.failed),
                    error,
                    to_i64(stats.deleted),
                    to_i64(stats.rejected),
                    to_i64(stats.conflicts),
                    to_i64(stats.not_found)
                ])?;
                if done > 0 && idle {
                    fold_idle_run(tx, run_id)?;
                }
                Ok(done)
            })
            .await?;
        if done == 0 {
            return Err(StoreError::NotFound(format!("run {run_id} does not exist")));
        }
        Ok(())
    }

    async fn flow_states(&self) -> Result<Vec<FlowState>> {
        self.read(|conn| {
            // One read transaction: the counts are of one snapshot.
            conn.execute_batch("BEGIN")?;
            let out = flow_states(conn);
            let end = if out.is_ok() { "COMMIT" } else { "ROLLBACK" };
            conn.execute_batch(end)?;
            out
        })
        .await
    }

    async fn runs(&self, flow: Option<&str>, limit: u32) -> Result<Vec<Run>> {
        let flow = flow.map(str::to_owned);
        self.read(move |conn| {
            let rows = match flow {
                Some(flow) => query_all(conn, q::RUNS_OF, params![flow, limit], run_row)?,
                None => query_all(conn, q::RUNS, params![limit], run_row)?,
            };
            rows.into_iter().map(RunRow::into_run).collect()
        })
        .await
    }

    async fn prune(
        &self,
        table: Retained,
        before: DateTime<Utc>,
        after: i64,
        batch: u32,
    ) -> Result<Pruned> {
        let sql = q::prune_sql(table);
        let (before_ms, size) = (before.timestamp_millis(), batch.max(1));
        self.transaction(move |tx| {
            let held: PruneBatch = prepare(tx, sql.batch)?
                .query_row(params![after, size], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })?;
            let deleted = match held.0 {
                Some(last) => prepare(tx, sql.delete)?.execute(params![after, last, before_ms])?,
                None => 0,
            };
            Ok(pruned(held, size, before_ms, deleted as u64))
        })
        .await
    }

    async fn start_reconciliation(&self, flow: &str, trigger: &str) -> Result<i64> {
        let flow = flow.to_owned();
        let trigger = trigger.to_owned();
        self.transaction(move |tx| {
            Ok(prepare(tx, q::RECONCILIATION_START)?
                .query_row(params![flow, trigger, now_ms()], |r| r.get(0))?)
        })
        .await
    }

    async fn finish_reconciliation(&self, id: i64, end: &ReconciliationEnd) -> Result<()> {
        let v = ReconciliationValues::of(end);
        let done = self
            .transaction(move |tx| {
                let [a, b, c, d, e, f, g, h, i, j, k] = v.counts;
                Ok(prepare(tx, q::RECONCILIATION_FINISH)?.execute(params![
                    id,
                    now_ms(),
                    v.clean,
                    a,
                    b,
                    c,
                    d,
                    e,
                    f,
                    g,
                    h,
                    i,
                    j,
                    k,
                    v.report,
                    v.error
                ])?)
            })
            .await?;
        if done == 0 {
            return Err(StoreError::NotFound(format!(
                "reconciliation {id} does not exist"
            )));
        }
        Ok(())
    }

    async fn reconciliations(&self, flow: Option<&str>, limit: u32) -> Result<Vec<Reconciliation>> {
        let flow = flow.map(str::to_owned);
        self.read(move |conn| {
            let rows = match flow {
                Some(flow) => query_all(
                    conn,
                    q::RECONCILIATIONS_OF,
                    params![flow, limit],
                    reconciliation_row,
                )?,
                None => query_all(conn, q::RECONCILIATIONS, params![limit], reconciliation_row)?,
            };
            rows.into_iter()
                .map(ReconciliationRow::into_reconciliation)
                .collect()
        })
        .await
    }

    async fn reconciliation(&self, id: i64) -> Result<Option<Reconciliation>> {
        self.read(move |conn| {
            prepare(conn, q::RECONCILIATION_GET)?
                .query_row([id], reconciliation_row)
                .optional()?
                .map(ReconciliationRow::into_reconciliation)
                .transpose()
        })
        .await
    }

    async fn request_sync(
        &self,
        items: &[NewQueueItem],
        delivery: Option<&SeenDelivery>,
    ) -> Result<Accepted> {
        let items = items.to_vec();
        let delivery = delivery.cloned();
        // Many requests arrive at once (a CRM's burst of webhooks): group-committed.
        self.grouped(move |tx| {
            let now = now_ms();
            let repeated = match &delivery {
                Some(d) => match remember_delivery(tx, d, now)? {
                    Remembered::New => false,
                    Remembered::RepeatedSignature => true,
                    Remembered::Duplicate(dup) => return Ok(dup),
                },
                None => false,
            };
            let mut ids = Vec::with_capacity(items.len());
            for item in &items {
                let waiting = if repeated {
                    prepare(tx, q::QUEUE_WAITING_READ)?
                        .query_row(params![item.flow, item.source_id, item.trigger], |r| {
                            r.get::<_, Option<i64>>(0)
                        })?
                } else {
                    None
                };
                let id = match waiting {
                    Some(id) => id,
                    None => enqueue_tracked(tx, item, now)?,
                };
                ids.push(id);
            }
            if let Some(SeenDelivery {
                system,
                key: DeliveryKey::Id { id, .. },
                ..
            }) = &delivery
            {
                prepare(tx, q::DELIVERY_TRACKED)?.execute(params![
                    system,
                    id,
                    tracking_ids_text(&ids)
                ])?;
            }
            Ok(Accepted::Queued(ids))
        })
        .await
    }

    async fn sync_request(&self, id: i64) -> Result<Option<SyncRequestState>> {
        self.read(move |conn| {
            let Some(row) = prepare(conn, q::SYNC_REQUEST_GET)?
                .query_row([id], |r| {
                    Ok(SyncRequestRow {
                        id: r.get(0)?,
                        flow: r.get(1)?,
                        source_id: r.get(2)?,
                        trigger: r.get(3)?,
                        requested_at: r.get(4)?,
                    })
                })
                .optional()?
            else {
                return Ok(None);
            };
            let request = row.into_request()?;
            let since = request.requested_at.timestamp_millis();
            let queued = prepare(conn, q::QUEUE_ITEM_GET)?
                .query_row([id], queue_row)
                .optional()?
                .map(QueueRow::into_item)
                .transpose()?;
            let ledger = prepare(conn, q::LEDGER_LATEST_SINCE)?
                .query_row(params![request.flow, request.source_id, since], ledger_row)
                .optional()?
                .map(LedgerRow::into_entry)
                .transpose()?;
            let dead_letter = prepare(conn, q::DEAD_LETTER_LATEST_SINCE)?
                .query_row(
                    params![request.flow, request.source_id, since],
                    dead_letter_row,
                )
                .optional()?
                .map(DeadLetterRow::into_dead_letter)
                .transpose()?;
            Ok(Some(SyncRequestState {
                request,
                queued,
                ledger,
                dead_letter,
            }))
        })
        .await
    }

    async fn request_latencies(
        &self,
        flow: Option<&str>,
        limit: u32,
    ) -> Result<Vec<RequestLatency>> {
        let flow = flow.map(str::to_owned);
        self.read(move |conn| {
            let row = |r: &Row<'_>| {
                Ok(RequestLatencyRow {
                    id: r.get(0)?,
                    flow: r.get(1)?,
                    source_id: r.get(2)?,
                    trigger: r.get(3)?,
                    requested_at: r.get(4)?,
                    done_at: r.get(5)?,
                    queued: r.get(6)?,
                })
            };
            let rows = match flow {
                Some(flow) => query_all(
                    conn,
                    q::REQUEST_LATENCIES_IN_FLOW,
                    params![flow, limit],
                    row,
                )?,
                None => query_all(conn, q::REQUEST_LATENCIES, params![limit], row)?,
            };
            rows.into_iter()
                .map(RequestLatencyRow::into_latency)
                .collect()
        })
        .await
    }

    async fn create_api_key(&self, key: &NewApiKey) -> Result<ApiKey> {
        let key = key.clone();
        let row = self
            .transaction(move |tx| {
                Ok(prepare(tx, q::API_KEY_INSERT)?.query_row(
                    params![key.name, key.role, key.token_hash, now_ms()],
                    api_key_row,
                )?)
            })
            .await?;
        row.into_key()
    }

    async fn api_keys(&self) -> Result<Vec<ApiKey>> {
        self.read(|conn| {
            let rows = query_all(conn, q::API_KEYS, [], api_key_row)?;
            rows.into_iter().map(ApiKeyRow::into_key).collect()
        })
        .await
    }

    async fn api_key_by_hash(&self, token_hash: &str) -> Result<Option<ApiKey>> {
        let token_hash = token_hash.to_owned();
        self.read(move |conn| {
            prepare(conn, q::API_KEY_BY_HASH)?
                .query_row([token_hash], api_key_row)
                .optional()?
                .map(ApiKeyRow::into_key)
                .transpose()
        })
        .await
    }

    async fn revoke_api_key(&self, id: i64) -> Result<ApiKey> {
        let row = self
            .transaction(move |tx| {
                Ok(prepare(tx, q::API_KEY_REVOKE)?
                    .query_row(params![id, now_ms()], api_key_row)
                    .optional()?)
            })
            .await?;
        row.ok_or_else(|| StoreError::NotFound(format!("API key {id} does not exist")))?
            .into_key()
    }

    async fn record_audit(&self, entry: &NewAuditEntry) -> Result<i64> {
        let e = entry.clone();
        self.transaction(move |tx| {
            Ok(prepare(tx, q::AUDIT_INSERT)?.query_row(
                params![
                    now_ms(),
                    e.key_id,
                    e.key_name,
                    e.role,
                    e.action,
                    e.target,
                    e.source,
                    e.outcome
                ],
                |r| r.get(0),
            )?)
        })
        .await
    }

    async fn audit_log(&self, limit: u32, before: Option<i64>) -> Result<Vec<AuditEntry>> {
        self.read(move |conn| {
            let rows = query_all(conn, q::AUDIT_LOG, params![id_before(before), limit], |r| {
                Ok(AuditRow {
                    id: r.get(0)?,
                    at: r.get(1)?,
                    key_id: r.get(2)?,
                    key_name: r.get(3)?,
                    role: r.get(4)?,
                    action: r.get(5)?,
                    target: r.get(6)?,
                    source: r.get(7)?,
                    outcome: r.get(8)?,
                })
            })?;
            rows.into_iter().map(AuditRow::into_entry).collect()
        })
        .await
    }
}

fn reconciliation_row(r: &Row<'_>) -> rusqlite::Result<ReconciliationRow> {
    Ok(ReconciliationRow {
        id: r.get(0)?,
        flow: r.get(1)?,
        trigger: r.get(2)?,
        started_at: r.get(3)?,
        finished_at: r.get(4)?,
        clean: r.get(5)?,
        source_records: r.get(6)?,
        target_records: r.get(7)?,
        matched: r.get(8)?,
        equal: r.get(9)?,
        differing: r.get(10)?,
        missing_in_target: r.get(11)?,
        missing_in_source: r.get(12)?,
        duplicate_keys_source: r.get(13)?,
        duplicate_keys_target: r.get(14)?,
        unmapped: r.get(15)?,
        dead_lettered: r.get(16)?,
        report: r.get(17)?,
        error: r.get(18)?,
    })
}

fn api_key_row(r: &Row<'_>) -> rusqlite::Result<ApiKeyRow> {
    Ok(ApiKeyRow {
        id: r.get(0)?,
        name: r.get(1)?,
        role: r.get(2)?,
        token_hash: r.get(3)?,
        created_at: r.get(4)?,
        revoked_at: r.get(5)?,
    })
}

/// Folds finished idle run `run_id` into the idle runs' row just before it, if there is one
/// (see [`Store::finish_run`]).
fn fold_idle_run(tx: &Connection, run_id: i64) -> Result<()> {
    let (started_at, previous) =
        prepare(tx, q::RUN_AND_PREVIOUS_OF_ITS_KIND)?.query_row([run_id], |r| {
            let previous: (Option<i64>, Option<i64>, Option<i64>) =
                (r.get(1)?, r.get(2)?, r.get(3)?);
            Ok((r.get::<_, i64>(0)?, previous))
        })?;
    let (idle, since) = match idle_predecessor(previous) {
        Some((id, first_start, idle)) if prepare(tx, q::RUN_DELETE_IDLE)?.execute([id])? == 1 => {
            (idle + 1, first_start)
        }
        _ => (1, started_at),
    };
    prepare(tx, q::RUN_SET_IDLE)?.execute(params![run_id, idle, since])?;
    Ok(())
}

fn flow_states(conn: &Connection) -> Result<Vec<FlowState>> {
    let mut states = BTreeMap::new();
    let pair = |r: &Row<'_>| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?));
    for (flow, cursor) in query_all(conn, q::FLOW_CURSORS, [], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?))
    })? {
        flow_entry(&mut states, flow).cursor = cursor;
    }
    for (flow, n) in query_all(conn, q::FLOW_XREF_COUNTS, [], pair)? {
        flow_entry(&mut states, flow).records = to_u64(n, "xref count")?;
    }
    for (flow, n) in query_all(conn, q::FLOW_QUEUE_COUNTS, [], pair)? {
        flow_entry(&mut states, flow).queued = to_u64(n, "queue count")?;
    }
    for (flow, n) in query_all(conn, q::FLOW_OPEN_DEAD_LETTERS, [], pair)? {
        flow_entry(&mut states, flow).dead_letters = to_u64(n, "dead letter count")?;
    }
    for (flow, n) in query_all(conn, q::FLOW_OPEN_CONFLICTS, [], pair)? {
        flow_entry(&mut states, flow).conflicts = to_u64(n, "conflict count")?;
    }
    let since = now_ms() - NOT_OWNER_WINDOW_MS;
    for (flow, n) in query_all(conn, q::FLOW_NOT_OWNER, [since], pair)? {
        flow_entry(&mut states, flow).not_owner = to_u64(n, "not_owner count")?;
    }
    for row in query_all(conn, q::FLOW_LAST_RUNS, [], run_row)? {
        let run = row.into_run()?;
        let flow = run.flow.clone();
        flow_entry(&mut states, flow).last_run = Some(run);
    }
    Ok(states.into_values().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_numbered() {
        assert_eq!(
            numbered("UPDATE t SET a = $2 WHERE b = $1 AND c = $10"),
            "UPDATE t SET a = ?2 WHERE b = ?1 AND c = ?10"
        );
        assert!(matches!(numbered("SELECT 1"), Cow::Borrowed(_)));
    }

    #[test]
    fn urls() {
        assert_eq!(
            location("sqlite:///tmp/x/ferry.db").unwrap(),
            Location::File("/tmp/x/ferry.db".into())
        );
        assert_eq!(
            location("sqlite://ferry.db?mode=rwc").unwrap(),
            Location::File("ferry.db".into())
        );
        assert_eq!(
            location("sqlite:ferry.db").unwrap(),
            Location::File("ferry.db".into())
        );
        assert_eq!(location("sqlite::memory:").unwrap(), Location::Memory);
        assert_eq!(location("sqlite://:memory:").unwrap(), Location::Memory);
        assert!(location("sqlite://").is_err());
    }

    #[tokio::test]
    async fn in_memory_store_works() {
        let store = SqliteStore::open("sqlite::memory:").await.unwrap();
        store.migrate().await.unwrap();
        let commit = Commit {
            cursor: Some("c".into()),
            ..Default::default()
        };
        store.commit("f", &commit).await.unwrap();
        assert_eq!(store.cursor("f").await.unwrap().as_deref(), Some("c"));
        assert_eq!(store.flow_states().await.unwrap().len(), 1);
    }
}
