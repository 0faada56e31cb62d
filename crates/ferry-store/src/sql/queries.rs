//! The SQL text both backends run, written once with `$n` placeholders.
//!
//! PostgreSQL takes it as is. SQLite reads `$1` as a *named* parameter, so the SQLite store
//! rewrites `$n` to `?n` (numbered) before preparing: see `sqlite::numbered`. Where the two
//! backends differ (a list bound as one PostgreSQL array versus a prepared statement executed
//! once per element on SQLite; `SKIP LOCKED`), the differing tail is a macro argument and each
//! backend gets its own constant built from the same text.

/// Column lists as macros so they can be `concat!`ed into `&'static str` statements.
macro_rules! xref_columns {
    () => {
        "flow, source_id, key, target_id, read_hash, written_hash, source_version, updated_at"
    };
}
/// The xref columns read back: the written ones and the document state, which only
/// [`XREF_SET_STATE`] writes (so an upsert keeps it).
macro_rules! xref_read_columns {
    () => {
        concat!(xref_columns!(), ", state")
    };
}
macro_rules! ledger_columns {
    () => {
        "id, flow, source_id, key, run_id, at, trigger, outcome, attempt, target_id, \
         before_hash, after_hash, source_version, error_kind, error"
    };
}
macro_rules! dead_letter_columns {
    () => {
        "id, flow, source_id, key, payload, error_kind, error, attempts, state, created_at, \
         updated_at"
    };
}
macro_rules! queue_columns {
    () => {
        "id, flow, source_id, trigger, payload, attempts, available_at, last_error, dead_letter_id"
    };
}
macro_rules! run_columns {
    () => {
        "id, flow, trigger, started_at, finished_at, read, created, updated, unchanged, failed, \
         error, deleted, rejected, conflicts, not_found, idle_runs"
    };
}
macro_rules! xref_upsert_tail {
    () => {
        " ON CONFLICT (flow, source_id) DO UPDATE SET key = excluded.key, \
         target_id = excluded.target_id, read_hash = excluded.read_hash, \
         written_hash = excluded.written_hash, source_version = excluded.source_version, \
         updated_at = excluded.updated_at"
    };
}
macro_rules! ledger_insert_head {
    () => {
        "INSERT INTO ferry_ledger (flow, source_id, key, run_id, at, trigger, outcome, attempt, \
         target_id, before_hash, after_hash, source_version, error_kind, error) "
    };
}
macro_rules! dead_letter_insert_head {
    () => {
        "INSERT INTO ferry_dead_letters (flow, source_id, key, payload, error_kind, error, \
         attempts, state, created_at, updated_at) "
    };
}
/// One live dead letter per record (the partial unique index `ferry_dead_letters_live`): a
/// record that fails again updates its open or replayed dead letter — attempts added, the
/// newest error and payload, open again — instead of opening a second one.
macro_rules! dead_letter_upsert_tail {
    () => {
        " ON CONFLICT (flow, source_id) WHERE state IN ('open', 'replayed') DO UPDATE SET \
         key = COALESCE(excluded.key, ferry_dead_letters.key), payload = excluded.payload, \
         error_kind = excluded.error_kind, error = excluded.error, \
         attempts = ferry_dead_letters.attempts + excluded.attempts, state = 'open', \
         updated_at = excluded.updated_at"
    };
}
macro_rules! queue_insert_head {
    () => {
        "INSERT INTO ferry_queue (flow, source_id, trigger, payload, attempts, available_at, \
         dead_letter_id, enqueued_at) "
    };
}
/// Candidates: available, not leased, and the oldest item of their source id with no live
/// lease on any other item of that source id (per-key order). `$lock` ends the candidate query.
macro_rules! lease {
    ($lock:literal) => {
        concat!(
            "UPDATE ferry_queue SET lease_until = $3, lease_owner = $4 WHERE id IN (",
            "SELECT q.id FROM ferry_queue q WHERE q.flow = $1 AND q.available_at <= $2 ",
            "AND (q.lease_until IS NULL OR q.lease_until <= $2) ",
            "AND NOT EXISTS (SELECT 1 FROM ferry_queue o WHERE o.flow = q.flow ",
            "AND o.source_id = q.source_id AND o.id <> q.id ",
            "AND (o.id < q.id OR o.lease_until > $2)) ",
            "ORDER BY q.available_at, q.id LIMIT $5 ",
            $lock,
            ") RETURNING ",
            queue_columns!()
        )
    };
}
/// `$match` selects the source ids (bound as `$2`).
macro_rules! xrefs_of {
    ($match:literal) => {
        concat!(
            "SELECT ",
            xref_read_columns!(),
            " FROM ferry_xref WHERE flow = $1 AND ",
            $match
        )
    };
}
/// The live (open or replayed) dead letters of a flow (`$1`) among the source ids `$match`
/// selects (bound as `$2`); the condition on `state` is the partial index
/// `ferry_dead_letters_live`'s own, so the lookup uses it.
macro_rules! live_dead_letters_of {
    ($match:literal) => {
        concat!(
            "SELECT ",
            dead_letter_columns!(),
            " FROM ferry_dead_letters WHERE flow = $1 AND state IN ('open', 'replayed') AND ",
            $match
        )
    };
}
/// `$match` selects the delivered source ids (bound as `$2`).
macro_rules! resolve_delivered {
    ($match:literal) => {
        concat!(
            "UPDATE ferry_dead_letters SET state = 'resolved', updated_at = $3 ",
            "WHERE flow = $1 AND state IN ('open', 'replayed') AND ",
            $match
        )
    };
}
/// `$match` selects the acknowledged ids (bound as `$1`).
macro_rules! ack {
    ($match:literal) => {
        concat!("DELETE FROM ferry_queue WHERE ", $match)
    };
}
pub(crate) use {
    ack, dead_letter_insert_head, dead_letter_upsert_tail, lease, ledger_insert_head,
    live_dead_letters_of, queue_insert_head, resolve_delivered, xref_columns, xref_upsert_tail,
    xrefs_of,
};

// --- migrations -------------------------------------------------------------------------------

pub(crate) const META_CREATE: &str =
    "CREATE TABLE IF NOT EXISTS ferry_meta (schema_version BIGINT NOT NULL)";
pub(crate) const META_VERSION: &str = "SELECT MAX(schema_version) FROM ferry_meta";
pub(crate) const META_CLEAR: &str = "DELETE FROM ferry_meta";
pub(crate) const META_SET: &str = "INSERT INTO ferry_meta (schema_version) VALUES ($1)";

// --- cursors ------------------------------------------------------------------------------------

/// Claims a flow: its epoch goes up by one (1 for a flow never claimed); returns it.
pub(crate) const FLOW_CLAIM: &str = "INSERT INTO ferry_flow_epochs (flow, epoch, holder, \
     claimed_at) VALUES ($1, 1, $2, $3) ON CONFLICT (flow) DO UPDATE SET \
     epoch = ferry_flow_epochs.epoch + 1, holder = excluded.holder, \
     claimed_at = excluded.claimed_at RETURNING epoch";
/// A flow's epoch (no row: never claimed). `$lock` ends the query.
macro_rules! flow_epoch {
    ($lock:literal) => {
        concat!("SELECT epoch FROM ferry_flow_epochs WHERE flow = $1", $lock)
    };
}
pub(crate) use flow_epoch;

pub(crate) const CURSOR_GET: &str = "SELECT cursor FROM ferry_cursors WHERE flow = $1";
pub(crate) const CURSOR_RESET: &str =
    "UPDATE ferry_cursors SET cursor = NULL, updated_at = $2 WHERE flow = $1";
pub(crate) const CURSOR_SET: &str = "INSERT INTO ferry_cursors (flow, cursor, updated_at) \
     VALUES ($1, $2, $3) ON CONFLICT (flow) DO UPDATE SET cursor = excluded.cursor, \
     updated_at = excluded.updated_at";

// --- xref ---------------------------------------------------------------------------------------

pub(crate) const XREFS_BY_KEY_IN_FLOW: &str = concat!(
    "SELECT ",
    xref_read_columns!(),
    " FROM ferry_xref WHERE key = $1 AND flow = $2 ORDER BY flow, source_id"
);
/// Oldest first: callers that want one row per key keep the last.
pub(crate) const XREFS_BY_KEY_IN_FLOW_OLDEST_FIRST: &str = concat!(
    "SELECT ",
    xref_read_columns!(),
    " FROM ferry_xref WHERE key = $1 AND flow = $2 ORDER BY updated_at, source_id"
);
pub(crate) const XREFS_BY_KEY: &str = concat!(
    "SELECT ",
    xref_read_columns!(),
    " FROM ferry_xref WHERE key = $1 ORDER BY flow, source_id"
);
/// One xref row upsert (the multi-row form shares the head and the tail).
pub(crate) const XREF_UPSERT_ROW: &str = concat!(
    "INSERT INTO ferry_xref (",
    xref_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    xref_upsert_tail!()
);

/// The document state written for one record (`$3`); applied after the batch's xref upserts.
pub(crate) const XREF_SET_STATE: &str =
    "UPDATE ferry_xref SET state = $3 WHERE flow = $1 AND source_id = $2";

/// Snapshot polling: deletion candidates of a pass (`$2`), at most `$3`.
pub(crate) const XREF_UNSEEN: &str = "SELECT source_id FROM ferry_xref \
     WHERE flow = $1 AND seen_pass < $2 ORDER BY source_id LIMIT $3";
/// `$match` selects the source ids (bound as `$3`) read in pass `$2`.
macro_rules! mark_seen {
    ($match:literal) => {
        concat!(
            "UPDATE ferry_xref SET seen_pass = $2 WHERE flow = $1 AND ",
            $match
        )
    };
}
/// `$match` selects the source ids (bound as `$2`) found deleted.
macro_rules! mark_gone {
    ($match:literal) => {
        concat!(
            "UPDATE ferry_xref SET seen_pass = NULL WHERE flow = $1 AND ",
            $match
        )
    };
}
pub(crate) use {mark_gone, mark_seen};

// --- ledger -------------------------------------------------------------------------------------

pub(crate) const LEDGER_INSERT_ROW: &str = concat!(
    ledger_insert_head!(),
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
);
pub(crate) const LEDGER_OF_IN_FLOW: &str = concat!(
    "SELECT ",
    ledger_columns!(),
    " FROM ferry_ledger WHERE (key = $1 OR source_id = $1) AND flow = $2 ORDER BY id"
);
pub(crate) const LEDGER_OF: &str = concat!(
    "SELECT ",
    ledger_columns!(),
    " FROM ferry_ledger WHERE key = $1 OR source_id = $1 ORDER BY id"
);

/// The latest entries below id `$1` of flow `$2`, at most `$3`.
pub(crate) const LEDGER_RECENT_IN_FLOW: &str = concat!(
    "SELECT ",
    ledger_columns!(),
    " FROM ferry_ledger WHERE id < $1 AND flow = $2 ORDER BY id DESC LIMIT $3"
);
/// The latest entries below id `$1`, at most `$2`.
pub(crate) const LEDGER_RECENT: &str = concat!(
    "SELECT ",
    ledger_columns!(),
    " FROM ferry_ledger WHERE id < $1 ORDER BY id DESC LIMIT $2"
);

// --- dead letters -------------------------------------------------------------------------------

pub(crate) const DEAD_LETTER_UPSERT_ROW: &str = concat!(
    dead_letter_insert_head!(),
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    dead_letter_upsert_tail!()
);
pub(crate) const DEAD_LETTER_GET: &str = concat!(
    "SELECT ",
    dead_letter_columns!(),
    " FROM ferry_dead_letters WHERE id = $1"
);
pub(crate) const DEAD_LETTER_STATE: &str = "SELECT state FROM ferry_dead_letters WHERE id = $1";
pub(crate) const DEAD_LETTER_MARK_REPLAYED: &str = "UPDATE ferry_dead_letters \
     SET state = 'replayed', updated_at = $2 WHERE id = $1 AND state = 'open' \
     RETURNING flow, source_id";
pub(crate) const DEAD_LETTER_MARK_SKIPPED: &str = "UPDATE ferry_dead_letters \
     SET state = 'skipped', updated_at = $2 WHERE id = $1 AND state = 'open' \
     RETURNING flow, source_id, key, attempts, error_kind, error";
pub(crate) const SKIP_LEDGER_INSERT: &str = "INSERT INTO ferry_ledger (flow, source_id, key, \
     run_id, at, trigger, outcome, attempt, error_kind, error) \
     VALUES ($1, $2, $3, NULL, $4, $5, $6, $7, $8, $9)";

/// Dead letters in `states` states (bound as `$1…$states`), then the flow when `with_flow`,
/// then the limit; newest first.
pub(crate) fn dead_letters_listing(states: usize, with_flow: bool) -> String {
    use std::fmt::Write as _;
    let mut sql = String::from(concat!(
        "SELECT ",
        dead_letter_columns!(),
        " FROM ferry_dead_letters WHERE state IN ("
    ));
    for n in 1..=states {
        let sep = if n > 1 { ", " } else { "" };
        let _ = write!(sql, "{sep}${n}");
    }
    sql.push(')');
    let mut next = states + 1;
    if with_flow {
        let _ = write!(sql, " AND flow = ${next}");
        next += 1;
    }
    let _ = write!(sql, " ORDER BY id DESC LIMIT ${next}");
    sql
}

// --- queue --------------------------------------------------------------------------------------

/// One queue item, `$5` as both available and enqueued time; returns its id.
pub(crate) const QUEUE_INSERT_ROW: &str = concat!(
    queue_insert_head!(),
    "VALUES ($1, $2, $3, $4, 0, $5, $6, $5) RETURNING id"
);
pub(crate) const RETRY_LATER: &str = "UPDATE ferry_queue SET attempts = attempts + 1, \
     available_at = $2, last_error = $3, lease_until = NULL, lease_owner = NULL WHERE id = $1";
pub(crate) const LEASE_OWNERS: &str =
    "SELECT DISTINCT lease_owner FROM ferry_queue WHERE lease_owner IS NOT NULL";
pub(crate) const RELEASE_LEASES_OF: &str = "UPDATE ferry_queue SET lease_until = NULL, \
     lease_owner = NULL WHERE lease_owner = $1";
pub(crate) const RELEASE_LEASES: &str = "UPDATE ferry_queue SET lease_until = NULL, \
     lease_owner = NULL WHERE flow = $1 AND lease_owner = $2 AND lease_until IS NOT NULL";
pub(crate) const QUEUE_DEPTH_OF: &str = "SELECT COUNT(*) FROM ferry_queue WHERE flow = $1";
pub(crate) const QUEUE_DEPTH: &str = "SELECT COUNT(*) FROM ferry_queue";
/// When the flow's oldest waiting item was first enqueued (retries keep that time).
pub(crate) const QUEUE_OLDEST: &str = "SELECT MIN(enqueued_at) FROM ferry_queue WHERE flow = $1";

// --- runs and flow states -----------------------------------------------------------------------

pub(crate) const RUN_START: &str =
    "INSERT INTO ferry_runs (flow, trigger, started_at) VALUES ($1, $2, $3) RETURNING id";
pub(crate) const RUN_FINISH: &str = "UPDATE ferry_runs SET finished_at = $2, read = $3, \
     created = $4, updated = $5, unchanged = $6, failed = $7, error = $8, deleted = $9, \
     rejected = $10, conflicts = $11, not_found = $12 WHERE id = $1";
/// Run `$1`'s start, and the run of the same flow and trigger just before it (NULLs: none):
/// its id, start and how many idle runs it stands for (0: it did something, or still runs).
pub(crate) const RUN_AND_PREVIOUS_OF_ITS_KIND: &str = "SELECT r.started_at, p.id, \
     p.started_at, p.idle_runs FROM ferry_runs r LEFT JOIN ferry_runs p ON p.flow = r.flow \
     AND p.trigger = r.trigger AND p.id < r.id WHERE r.id = $1 ORDER BY p.id DESC LIMIT 1";
/// Deletes the idle runs' row `$1` that a newer idle run takes over.
pub(crate) const RUN_DELETE_IDLE: &str = "DELETE FROM ferry_runs WHERE id = $1 AND idle_runs > 0";
/// Run `$1` stands for `$2` idle runs, the first of which started at `$3`.
pub(crate) const RUN_SET_IDLE: &str =
    "UPDATE ferry_runs SET idle_runs = $2, started_at = $3 WHERE id = $1";
pub(crate) const FLOW_CURSORS: &str = "SELECT flow, cursor FROM ferry_cursors";
pub(crate) const FLOW_XREF_COUNTS: &str = "SELECT flow, COUNT(*) FROM ferry_xref GROUP BY flow";
pub(crate) const FLOW_QUEUE_COUNTS: &str = "SELECT flow, COUNT(*) FROM ferry_queue GROUP BY flow";
pub(crate) const FLOW_OPEN_DEAD_LETTERS: &str = "SELECT flow, \
     COUNT(CASE WHEN state = 'open' THEN 1 END) FROM ferry_dead_letters GROUP BY flow";
pub(crate) const FLOW_OPEN_CONFLICTS: &str =
    "SELECT flow, COUNT(*) FROM ferry_conflicts WHERE state = 'open' GROUP BY flow";
/// `not_owner` reports per flow since `$1`.
pub(crate) const FLOW_NOT_OWNER: &str = "SELECT flow, COUNT(*) FROM ferry_ledger \
     WHERE outcome = 'not_owner' AND at >= $1 GROUP BY flow";
pub(crate) const FLOW_LAST_RUNS: &str = concat!(
    "SELECT ",
    run_columns!(),
    " FROM ferry_runs WHERE id IN (SELECT MAX(id) FROM ferry_runs GROUP BY flow)"
);

// --- runs listing -------------------------------------------------------------------------------

pub(crate) const RUNS_OF: &str = concat!(
    "SELECT ",
    run_columns!(),
    " FROM ferry_runs WHERE flow = $1 ORDER BY id DESC LIMIT $2"
);
pub(crate) const RUNS: &str = concat!(
    "SELECT ",
    run_columns!(),
    " FROM ferry_runs ORDER BY id DESC LIMIT $1"
);

// --- server: tracked sync requests and webhook signatures ---------------------------------------

/// Forgets signatures whose timestamp can no longer pass the check (`$1` = now).
pub(crate) const SIGNATURES_PURGE: &str =
    "DELETE FROM ferry_webhook_signatures WHERE expires_at <= $1";
/// Remembers a signature; affects no row when it is already known.
pub(crate) const SIGNATURE_INSERT: &str = "INSERT INTO ferry_webhook_signatures \
     (system, signature, expires_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING";
/// The record's waiting read a repeated notice joins: the newest tracked item of that trigger,
/// reading the source (no payload), that no worker has leased yet, so its read starts after
/// the notice arrived (`$1` flow, `$2` source id, `$3` trigger).
pub(crate) const QUEUE_WAITING_READ: &str = "SELECT MAX(q.id) FROM ferry_queue q \
     WHERE q.flow = $1 AND q.source_id = $2 AND q.trigger = $3 AND q.payload IS NULL \
     AND q.lease_until IS NULL \
     AND EXISTS (SELECT 1 FROM ferry_sync_requests r WHERE r.id = q.id)";
/// Forgets delivery ids past their window (`$1` = now).
pub(crate) const DELIVERIES_PURGE: &str =
    "DELETE FROM ferry_webhook_deliveries WHERE expires_at <= $1";
/// A remembered delivery id: its fingerprint and tracking ids (JSON list).
pub(crate) const DELIVERY_GET: &str = "SELECT fingerprint, tracking_ids \
     FROM ferry_webhook_deliveries WHERE system = $1 AND delivery_id = $2";
/// Remembers a delivery id, its tracking ids still to come (`[]`); affects no row when it is
/// already known (on PostgreSQL, after waiting for a transaction remembering it at once).
pub(crate) const DELIVERY_INSERT: &str = "INSERT INTO ferry_webhook_deliveries \
     (system, delivery_id, fingerprint, tracking_ids, expires_at) VALUES ($1, $2, $3, '[]', $4) \
     ON CONFLICT DO NOTHING";
/// The tracking ids of a delivery just remembered (`$3`, a JSON list).
pub(crate) const DELIVERY_TRACKED: &str = "UPDATE ferry_webhook_deliveries \
     SET tracking_ids = $3 WHERE system = $1 AND delivery_id = $2";
pub(crate) const SYNC_REQUEST_INSERT: &str = "INSERT INTO ferry_sync_requests \
     (id, flow, source_id, trigger, requested_at) VALUES ($1, $2, $3, $4, $5)";
pub(crate) const SYNC_REQUEST_GET: &str = "SELECT id, flow, source_id, trigger, requested_at \
     FROM ferry_sync_requests WHERE id = $1";
pub(crate) const QUEUE_ITEM_GET: &str = concat!(
    "SELECT ",
    queue_columns!(),
    " FROM ferry_queue WHERE id = $1"
);
/// The newest ledger entry of a record (`$1` flow, `$2` source id) at or after `$3`.
pub(crate) const LEDGER_LATEST_SINCE: &str = concat!(
    "SELECT ",
    ledger_columns!(),
    " FROM ferry_ledger WHERE source_id = $2 AND flow = $1 AND at >= $3 ORDER BY id DESC LIMIT 1"
);
/// Tracked requests newest first with the time of the first ledger entry since each that left
/// the target up to date, and whether its queue item still waits. `$where` filters them and
/// ends with the limit.
macro_rules! request_latencies {
    ($where:literal) => {
        concat!(
            "SELECT r.id, r.flow, r.source_id, r.trigger, r.requested_at, ",
            "(SELECT MIN(l.at) FROM ferry_ledger l WHERE l.source_id = r.source_id ",
            "AND l.flow = r.flow AND l.at >= r.requested_at ",
            "AND l.outcome IN ('created', 'updated', 'unchanged', 'deleted')) AS done_at, ",
            "EXISTS (SELECT 1 FROM ferry_queue q WHERE q.id = r.id) AS queued ",
            "FROM ferry_sync_requests r ",
            $where
        )
    };
}
pub(crate) const REQUEST_LATENCIES_IN_FLOW: &str =
    request_latencies!("WHERE r.flow = $1 ORDER BY r.id DESC LIMIT $2");
pub(crate) const REQUEST_LATENCIES: &str = request_latencies!("ORDER BY r.id DESC LIMIT $1");
/// The newest dead letter of a record opened or updated at or after `$3`.
pub(crate) const DEAD_LETTER_LATEST_SINCE: &str = concat!(
    "SELECT ",
    dead_letter_columns!(),
    " FROM ferry_dead_letters WHERE flow = $1 AND source_id = $2 AND updated_at >= $3 \
     ORDER BY id DESC LIMIT 1"
);

// --- server: API keys and the audit log ---------------------------------------------------------

macro_rules! api_key_columns {
    () => {
        "id, name, role, token_hash, created_at, revoked_at"
    };
}
pub(crate) const API_KEY_INSERT: &str = concat!(
    "INSERT INTO ferry_api_keys (name, role, token_hash, created_at) VALUES ($1, $2, $3, $4) \
     RETURNING ",
    api_key_columns!()
);
pub(crate) const API_KEYS: &str = concat!(
    "SELECT ",
    api_key_columns!(),
    " FROM ferry_api_keys ORDER BY id"
);
pub(crate) const API_KEY_BY_HASH: &str = concat!(
    "SELECT ",
    api_key_columns!(),
    " FROM ferry_api_keys WHERE token_hash = $1"
);
pub(crate) const API_KEY_REVOKE: &str = concat!(
    "UPDATE ferry_api_keys SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1 RETURNING ",
    api_key_columns!()
);
macro_rules! audit_columns {
    () => {
        "id, at, key_id, key_name, role, action, target, source, outcome"
    };
}
pub(crate) const AUDIT_INSERT: &str = "INSERT INTO ferry_audit (at, key_id, key_name, role, \
     action, target, source, outcome) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id";
pub(crate) const AUDIT_LOG: &str = concat!(
    "SELECT ",
    audit_columns!(),
    " FROM ferry_audit WHERE id < $1 ORDER BY id DESC LIMIT $2"
);

// --- two-way sync: baselines and conflicts ------------------------------------------------------

pub(crate) const BASELINE_GET: &str =
    "SELECT key, fields FROM ferry_baselines WHERE pair = $1 AND key = $2";
pub(crate) const BASELINE_SET: &str = "INSERT INTO ferry_baselines (pair, key, fields, \
     updated_at) VALUES ($1, $2, $3, $4) ON CONFLICT (pair, key) DO UPDATE SET \
     fields = excluded.fields, updated_at = excluded.updated_at";
macro_rules! conflict_columns {
    () => {
        "id, pair, flow, key, source_id, target_id, fields, source_values, target_values, \
         base_values, source_at, target_at, state, pick, resolved_by, created_at, updated_at"
    };
}
/// Replaces the versions of the open conflict of a pair and key (`$1`, `$2`), if there is one.
pub(crate) const CONFLICT_REFRESH: &str = "UPDATE ferry_conflicts SET flow = $3, \
     source_id = $4, target_id = $5, fields = $6, source_values = $7, target_values = $8, \
     base_values = $9, source_at = $10, target_at = $11, updated_at = $12 \
     WHERE pair = $1 AND key = $2 AND state = 'open'";
pub(crate) const CONFLICT_INSERT: &str = "INSERT INTO ferry_conflicts (pair, key, flow, \
     source_id, target_id, fields, source_values, target_values, base_values, source_at, \
     target_at, state, created_at, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'open', $12, $12)";
pub(crate) const CONFLICT_GET: &str = concat!(
    "SELECT ",
    conflict_columns!(),
    " FROM ferry_conflicts WHERE id = $1"
);
pub(crate) const CONFLICT_RESOLVE: &str = "UPDATE ferry_conflicts SET state = 'resolved', \
     pick = $2, resolved_by = $3, updated_at = $4 WHERE id = $1 AND state = 'open'";
/// Conflicts, newest first: `$1` pair (NULL: all), `$2` state (NULL: all), `$3` limit.
pub(crate) const CONFLICTS_LISTING: &str = concat!(
    "SELECT ",
    conflict_columns!(),
    " FROM ferry_conflicts WHERE ($1 IS NULL OR pair = $1) AND ($2 IS NULL OR state = $2) \
     ORDER BY id DESC LIMIT $3"
);

// --- reconciliations ----------------------------------------------------------------------------

/// The columns of a reconciliation; `$report` is `report` or, for listings, a NULL in its place.
macro_rules! reconciliation_columns {
    ($report:literal) => {
        concat!(
            "id, flow, trigger, started_at, finished_at, clean, source_records, target_records, \
             matched, equal, differing, missing_in_target, missing_in_source, \
             duplicate_keys_source, duplicate_keys_target, unmapped, dead_lettered, ",
            $report,
            ", error"
        )
    };
}
pub(crate) const RECONCILIATION_START: &str = "INSERT INTO ferry_reconciliations \
     (flow, trigger, started_at) VALUES ($1, $2, $3) RETURNING id";
pub(crate) const RECONCILIATION_FINISH: &str = "UPDATE ferry_reconciliations SET \
     finished_at = $2, clean = $3, source_records = $4, target_records = $5, matched = $6, \
     equal = $7, differing = $8, missing_in_target = $9, missing_in_source = $10, \
     duplicate_keys_source = $11, duplicate_keys_target = $12, unmapped = $13, \
     dead_lettered = $14, report = $15, error = $16 WHERE id = $1";
pub(crate) const RECONCILIATIONS_OF: &str = concat!(
    "SELECT ",
    reconciliation_columns!("CAST(NULL AS TEXT) AS report"),
    " FROM ferry_reconciliations WHERE flow = $1 ORDER BY id DESC LIMIT $2"
);
pub(crate) const RECONCILIATIONS: &str = concat!(
    "SELECT ",
    reconciliation_columns!("CAST(NULL AS TEXT) AS report"),
    " FROM ferry_reconciliations ORDER BY id DESC LIMIT $1"
);
pub(crate) const RECONCILIATION_GET: &str = concat!(
    "SELECT ",
    reconciliation_columns!("report"),
    " FROM ferry_reconciliations WHERE id = $1"
);

// --- retention ----------------------------------------------------------------------------------

/// A prune batch: the next `$2` rows after id `$1` in id order, as their last id, the oldest
/// of their times that grow with the id (if none of them is old, no older row follows), and
/// how many there are.
macro_rules! prune_batch {
    ($table:literal, $walk:literal) => {
        concat!(
            "SELECT MAX(id), MIN(walk), COUNT(*) FROM (SELECT id, ",
            $walk,
            " AS walk FROM ",
            $table,
            " WHERE id > $1 ORDER BY id LIMIT $2) b"
        )
    };
}
/// Deletes the rows of a batch (`$1` < id <= `$2`) that `$expired` says are older than `$3`
/// and not needed any more.
macro_rules! prune_delete {
    ($table:literal, $expired:literal) => {
        concat!(
            "DELETE FROM ",
            $table,
            " WHERE id > $1 AND id <= $2 AND ",
            $expired
        )
    };
}

/// The two statements of a prune batch of one table: what the batch holds, and the delete.
pub(crate) struct PruneSql {
    pub batch: &'static str,
    pub delete: &'static str,
}

/// How each table is pruned (see [`crate::Retained`] for what is kept and why).
pub(crate) fn prune_sql(table: crate::Retained) -> PruneSql {
    use crate::Retained;
    match table {
        Retained::Runs => PruneSql {
            batch: prune_batch!("ferry_runs", "started_at"),
            // Never a flow's latest run.
            delete: prune_delete!(
                "ferry_runs",
                "COALESCE(finished_at, started_at) < $3 AND EXISTS (SELECT 1 FROM ferry_runs n \
                 WHERE n.flow = ferry_runs.flow AND n.id > ferry_runs.id)"
            ),
        },
        Retained::Ledger => PruneSql {
            batch: prune_batch!("ferry_ledger", "at"),
            delete: prune_delete!(
                "ferry_ledger",
                "at < $3 AND NOT EXISTS (SELECT 1 FROM ferry_dead_letters d \
                 WHERE d.flow = ferry_ledger.flow AND d.source_id = ferry_ledger.source_id \
                 AND d.state IN ('open', 'replayed'))"
            ),
        },
        Retained::DeadLetters => PruneSql {
            batch: prune_batch!("ferry_dead_letters", "created_at"),
            delete: prune_delete!(
                "ferry_dead_letters",
                "state IN ('resolved', 'skipped') AND updated_at < $3"
            ),
        },
        Retained::Audit => PruneSql {
            batch: prune_batch!("ferry_audit", "at"),
            delete: prune_delete!("ferry_audit", "at < $3"),
        },
        Retained::SyncRequests => PruneSql {
            batch: prune_batch!("ferry_sync_requests", "requested_at"),
            delete: prune_delete!(
                "ferry_sync_requests",
                "requested_at < $3 AND NOT EXISTS (SELECT 1 FROM ferry_queue q \
                 WHERE q.id = ferry_sync_requests.id)"
            ),
        },
    }
}
