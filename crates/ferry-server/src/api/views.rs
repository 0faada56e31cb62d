//! What the API shows: its own types (with OpenAPI schemas), built from the store's rows, so
//! the storage can change without changing the API and nothing internal leaks (a key's token
//! hash is never shown).

use chrono::{DateTime, Utc};
use ferry_store::{ApiKey, AuditEntry, DeadLetter, LedgerEntry, Run};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::mask::MaskRules;

/// One run of a flow.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunView {
    /// Run id.
    pub id: i64,
    /// The flow.
    pub flow: String,
    /// What started it (`poll`, `cron`, `manual`, `queue`…).
    pub trigger: String,
    /// Start time.
    pub started_at: DateTime<Utc>,
    /// End time; absent while running or when the process died.
    pub finished_at: Option<DateTime<Utc>>,
    /// Records read.
    pub read: u64,
    /// Records created in the target.
    pub created: u64,
    /// Records updated in the target.
    pub updated: u64,
    /// Records with nothing to write.
    pub unchanged: u64,
    /// Records that failed.
    pub failed: u64,
    /// Records found deleted at the source.
    pub deleted: u64,
    /// Two-way pairs: records with changes to fields their source does not own (not
    /// propagated).
    pub rejected: u64,
    /// Two-way pairs: records with a shared field changed on both sides.
    pub conflicts: u64,
    /// Records asked for by id that the source does not have.
    pub not_found: u64,
    /// Why it stopped early.
    pub error: Option<String>,
    /// How many consecutive idle runs (nothing read, written or failed) this row stands
    /// for, from `started_at` (the first's start) to `finished_at` (the last's end); 0 for a
    /// run that did something. Idle polls share one row instead of one row each.
    pub idle_runs: u64,
}

impl RunView {
    /// The view of a run, the values its error shows of masked fields masked (`mask`: the
    /// flow's rules).
    pub fn masked(r: Run, mask: &MaskRules) -> Self {
        let mut view = Self::from(r);
        view.error = view.error.map(|e| mask.message(&e));
        view
    }
}

impl From<Run> for RunView {
    fn from(r: Run) -> Self {
        Self {
            id: r.id,
            flow: r.flow,
            trigger: r.trigger,
            started_at: r.started_at,
            finished_at: r.finished_at,
            read: r.stats.read,
            created: r.stats.created,
            updated: r.stats.updated,
            unchanged: r.stats.unchanged,
            failed: r.stats.failed,
            deleted: r.stats.deleted,
            rejected: r.stats.rejected,
            conflicts: r.stats.conflicts,
            not_found: r.stats.not_found,
            error: r.error,
            idle_runs: r.idle_runs,
        }
    }
}

/// A flow and its state.
#[derive(Debug, Serialize, ToSchema)]
pub struct FlowView {
    /// Its name.
    pub name: String,
    /// The entity it carries (`customer`).
    pub entity: String,
    /// The source system.
    pub source: String,
    /// The target system.
    pub target: String,
    /// When it runs (`manual`, `poll 30s`, `cron …`).
    pub trigger: String,
    /// Configured but not running.
    pub disabled: bool,
    /// Where reading stands (connector-specific).
    pub cursor: Option<String>,
    /// Records in its cross-reference.
    pub records: u64,
    /// Queue items waiting.
    pub queued: u64,
    /// Open dead letters.
    pub dead_letters: u64,
    /// The two-way pair it belongs to.
    pub pair: Option<String>,
    /// Two-way pairs: open conflicts waiting for review (counted on the pair's first flow).
    pub conflicts: u64,
    /// Two-way pairs: changes to fields the source does not own, reported and not propagated
    /// in the last 24 hours (see the ledger's `not_owner` entries).
    pub not_owner: u64,
    /// The last run.
    pub last_run: Option<RunView>,
}

/// One ledger entry: one attempt on one record.
#[derive(Debug, Serialize, ToSchema)]
pub struct LedgerView {
    /// Entry id.
    pub id: i64,
    /// The flow.
    pub flow: String,
    /// The record's source id.
    pub source_id: String,
    /// The business key.
    pub key: Option<String>,
    /// The run.
    pub run_id: Option<i64>,
    /// When.
    pub at: DateTime<Utc>,
    /// What caused it.
    pub trigger: String,
    /// `created`, `updated`, `unchanged`, `failed`, `dead_lettered`, `skipped`, `deleted`,
    /// `not_owner` (two-way: a change to fields the source does not own, not propagated),
    /// `conflict` (two-way: a shared field changed on both sides).
    pub outcome: String,
    /// Attempt number.
    pub attempt: u32,
    /// The target id after the attempt.
    pub target_id: Option<String>,
    /// Written hash before.
    pub before_hash: Option<String>,
    /// Written hash after.
    pub after_hash: Option<String>,
    /// Source version read.
    pub source_version: Option<String>,
    /// Error kind, for failures.
    pub error_kind: Option<String>,
    /// Error message, for failures.
    pub error: Option<String>,
}

impl LedgerView {
    /// The view of a ledger entry with the `server.mask` rules applied: the business key when
    /// the flow's key field (`key_field`) is ruled, and the values the error message shows of
    /// ruled fields.
    pub fn masked(e: LedgerEntry, mask: &MaskRules, key_field: Option<&str>) -> Self {
        let mut view = Self::from(e);
        view.key = view.key.map(|k| mask.key(key_field, k));
        view.error = view.error.map(|m| mask.message(&m));
        view
    }
}

impl From<LedgerEntry> for LedgerView {
    fn from(e: LedgerEntry) -> Self {
        Self {
            id: e.id,
            flow: e.flow,
            source_id: e.source_id,
            key: e.key,
            run_id: e.run_id,
            at: e.at,
            trigger: e.trigger,
            outcome: e.outcome.as_str().to_owned(),
            attempt: e.attempt,
            target_id: e.target_id,
            before_hash: e.before_hash,
            after_hash: e.after_hash,
            source_version: e.source_version,
            error_kind: e.error_kind,
            error: e.error,
        }
    }
}

/// A record that failed for good.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeadLetterView {
    /// Dead letter id.
    pub id: i64,
    /// The flow.
    pub flow: String,
    /// The record's source id.
    pub source_id: String,
    /// The business key.
    pub key: Option<String>,
    /// The record as read, with masked fields masked.
    pub payload: Value,
    /// Error kind.
    pub error_kind: String,
    /// Error message (flow, record, field and reason).
    pub error: String,
    /// Attempts made.
    pub attempts: u32,
    /// `open`, `replayed`, `skipped`, `resolved`.
    pub state: String,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last state change.
    pub updated_at: DateTime<Utc>,
}

impl DeadLetterView {
    /// The view of a dead letter with the `server.mask` rules applied: its payload, its
    /// business key when the flow's key field (`key_field`) is ruled, and every value of a
    /// ruled field its error message shows.
    pub fn masked(d: DeadLetter, mask: &MaskRules, key_field: Option<&str>) -> Self {
        Self {
            id: d.id,
            flow: d.flow,
            source_id: d.source_id,
            key: d.key.map(|k| mask.key(key_field, k)),
            error: mask.message_with(&d.error, &d.payload),
            payload: mask.payload(&d.payload),
            error_kind: d.error_kind,
            attempts: d.attempts,
            state: d.state.as_str().to_owned(),
            created_at: d.created_at,
            updated_at: d.updated_at,
        }
    }
}

/// An API key (never its token or hash).
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyView {
    /// Key id.
    pub id: i64,
    /// Its name.
    pub name: String,
    /// `viewer`, `operator` or `admin`.
    pub role: String,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<ApiKey> for KeyView {
    fn from(k: ApiKey) -> Self {
        Self {
            id: k.id,
            name: k.name,
            role: k.role,
            created_at: k.created_at,
            revoked_at: k.revoked_at,
        }
    }
}

/// A key just created: the token is shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedKeyView {
    /// The key.
    pub key: KeyView,
    /// The token for `Authorization: Bearer`. Not stored: keep it now.
    pub token: String,
}

/// One audited operator action.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditView {
    /// Entry id.
    pub id: i64,
    /// When.
    pub at: DateTime<Utc>,
    /// The API key (absent: the command line).
    pub key_id: Option<i64>,
    /// The key's name.
    pub key_name: Option<String>,
    /// The key's role.
    pub role: Option<String>,
    /// What was done.
    pub action: String,
    /// On what.
    pub target: String,
    /// Client address, or `cli`.
    pub source: Option<String>,
    /// `ok`, or why it failed.
    pub outcome: String,
}

impl From<AuditEntry> for AuditView {
    fn from(a: AuditEntry) -> Self {
        Self {
            id: a.id,
            at: a.at,
            key_id: a.key_id,
            key_name: a.key_name,
            role: a.role,
            action: a.action,
            target: a.target,
            source: a.source,
            outcome: a.outcome,
        }
    }
}
