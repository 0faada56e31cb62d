//! What `reconcile` found, in a stable shape: the JSON of `ferry reconcile --format json`, of
//! the API and of the store is this struct serialized (documented in docs/cli.md), and read
//! back from the store to be shown again. The helpers at the end give every rendering (the
//! CLI's table, CSV and HTML, the console) the same words.

use ferry_store::DeadLetterState;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::RunReport;

/// The result of reconciling one flow.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// The flow.
    pub flow: String,
    /// The canonical field holding the business key.
    pub key_field: String,
    /// The canonical fields compared: those the flow's mapping produces and the target holds.
    pub compared_fields: Vec<String>,
    /// Exact counts (details below are limited to `details_limit` per list).
    pub counts: Counts,
    /// No drift but known failures: every source record is in the target with equal fields
    /// or waits in the dead-letter ledger (`dead_lettered`), nothing is in the target without
    /// a source record, and no key is used twice.
    pub clean: bool,
    /// Source records whose target record has different field values.
    pub differing: Vec<Difference>,
    /// Source records with no target record.
    pub missing_in_target: Vec<Missing>,
    /// Target records with no source record.
    pub missing_in_source: Vec<Missing>,
    /// Business keys used by more than one record on one side.
    pub duplicate_keys: Vec<DuplicateKey>,
    /// Source records the mapping refused (they cannot be compared).
    pub unmapped: Vec<Unmapped>,
    /// Known failures: source records that differ, are missing in the target or were refused
    /// by the mapping, and have a live dead letter. Not drift: the operator learnt of each
    /// when it failed (`ferry dlq list`, the `dead_letters` alert).
    #[serde(default)]
    pub dead_lettered: Vec<DeadLettered>,
    /// Most entries kept per detail list.
    pub details_limit: usize,
    /// Some detail list was cut at `details_limit` (the counts are still exact).
    pub truncated: bool,
    /// What `--repair` did, when asked.
    pub repair: Option<Repair>,
    /// Records read from both sides per second.
    pub records_per_second: f64,
    /// Wall time of the comparison (repair excluded), in seconds.
    pub seconds: f64,
}

/// Exact counts (the store keeps them as they are: [`ferry_store::ReconcileCounts`]).
pub use ferry_store::ReconcileCounts as Counts;

/// A record whose fields differ.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Difference {
    /// Its business key.
    pub key: Option<String>,
    /// Its source id.
    pub source_id: String,
    /// Its target id.
    pub target_id: String,
    /// The fields that differ, in the order of `compared_fields`.
    pub fields: Vec<FieldDifference>,
}

/// One field's two values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldDifference {
    /// The canonical field.
    pub field: String,
    /// The source's value after mapping.
    pub source: Value,
    /// The target's value.
    pub target: Value,
}

/// A record found on one side only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Missing {
    /// Its business key.
    pub key: Option<String>,
    /// Its source id (for records missing in the target).
    pub source_id: Option<String>,
    /// Its target id (for records missing in the source; for records missing in the target,
    /// the id Ferry last wrote it under, if any).
    pub target_id: Option<String>,
}

/// A known failure: a source record whose disagreement with the target is explained by its
/// live dead letter (the write failed and waits for an operator).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLettered {
    /// Its business key.
    pub key: Option<String>,
    /// Its source id.
    pub source_id: String,
    /// The id Ferry last wrote it under in the target, if any.
    pub target_id: Option<String>,
    /// What the comparison found.
    pub finding: Finding,
    /// The dead letter (`ferry dlq show ID`).
    pub dead_letter_id: i64,
    /// `open` (waiting for an operator) or `replayed` (queued again).
    pub dead_letter_state: DeadLetterState,
    /// Why the record failed, as the dead letter says.
    pub error: String,
}

/// What a comparison found about a source record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Finding {
    /// The target record has different field values.
    Differing,
    /// The target has no record for it.
    MissingInTarget,
    /// The mapping refused it.
    Unmapped,
}

impl Finding {
    /// `differing`, `missing_in_target` or `unmapped`: the CSV's finding names.
    pub fn as_str(self) -> &'static str {
        match self {
            Finding::Differing => "differing",
            Finding::MissingInTarget => "missing_in_target",
            Finding::Unmapped => "unmapped",
        }
    }
}

/// Which side of a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// The flow's source.
    Source,
    /// The flow's target.
    Target,
}

/// A business key several records share.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DuplicateKey {
    /// Where.
    pub side: Side,
    /// The key.
    pub key: String,
    /// How many records carry it.
    pub count: u64,
}

/// A source record the mapping refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unmapped {
    /// Its source id.
    pub source_id: String,
    /// Why (naming flow, record and field).
    pub error: String,
}

/// What `--repair` and `--repair-deletes` did.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Repair {
    /// Source records queued (trigger `reconcile`): the differing and the missing in target,
    /// known failures excepted (their dead letters are replayed with `ferry dlq replay`).
    pub queued: u64,
    /// The queue run that worked them off through the normal pipeline.
    pub run: Option<RunReport>,
    /// Target records with no source record deleted or archived (`--repair-deletes`).
    pub deleted: u64,
    /// Those the target refused.
    pub delete_errors: u64,
    /// The first refusals' messages.
    pub errors: Vec<String>,
}

impl Report {
    /// The counts with their names, in the order every rendering shows them.
    pub fn summary(&self) -> Vec<(&'static str, u64)> {
        let c = &self.counts;
        vec![
            ("source records", c.source),
            ("target records", c.target),
            ("matched", c.matched),
            ("equal", c.equal),
            ("differing", c.differing),
            ("missing in target", c.missing_in_target),
            ("missing in source", c.missing_in_source),
            ("duplicate keys (source)", c.duplicate_keys_source),
            ("duplicate keys (target)", c.duplicate_keys_target),
            ("unmapped", c.unmapped),
            ("known failures (dead letters)", c.dead_lettered),
        ]
    }

    /// The verdict for a heading: `DRIFT FOUND`, `clean`, or, when the only disagreements
    /// are known failures, `no drift, known failures only`.
    pub fn verdict(&self) -> &'static str {
        match (self.clean, self.counts.dead_lettered) {
            (false, _) => "DRIFT FOUND",
            (true, 0) => "clean",
            (true, _) => "no drift, known failures only",
        }
    }

    /// The sentence every rendering shows when known failures were set apart from drift.
    pub fn known_failures(&self) -> Option<String> {
        match self.counts.dead_lettered {
            0 => None,
            n => Some(format!(
                "{n} known failure(s): record(s) waiting in the dead-letter ledger, counted \
                 apart from drift; see `ferry dlq list`, and `ferry dlq replay` once fixed."
            )),
        }
    }
}

impl DeadLettered {
    /// The CSV's `detail` and the tables' last column: the dead letter, its state and error.
    pub fn detail(&self) -> String {
        format!(
            "dead letter {} ({}): {}",
            self.dead_letter_id,
            self.dead_letter_state.as_str(),
            self.error
        )
    }
}

impl Side {
    /// `source` or `target`.
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Source => "source",
            Side::Target => "target",
        }
    }
}

impl Repair {
    /// One sentence on what the repair did.
    pub fn describe(&self) -> String {
        let mut line = format!(
            "Repair: {} record(s) queued with trigger `reconcile`",
            self.queued
        );
        if let Some(run) = &self.run {
            line.push_str(&format!(
                ", worked off: created {} updated {} unchanged {} failed {}",
                run.stats.created, run.stats.updated, run.stats.unchanged, run.stats.failed
            ));
            if let Some(e) = &run.error {
                line.push_str(&format!(" (stopped: {e})"));
            }
        }
        if self.deleted > 0 || self.delete_errors > 0 {
            line.push_str(&format!(
                "; {} target record(s) without a source record removed per `on_delete`, {} refused",
                self.deleted, self.delete_errors
            ));
        }
        line.push('.');
        line
    }
}

/// A compared value for people: text quoted (so `""` and surrounding spaces show), anything
/// else as JSON (`null`, `10.5`, `true`).
pub fn shown(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}
